/**
 * A minimal LSP client for the tests: spawns the real server process and talks JSON-RPC over its
 * stdio with vscode-languageserver-protocol, as an editor does.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import {
  createProtocolConnection, Diagnostic, InitializeRequest, InitializedNotification, ProtocolConnection, PublishDiagnosticsNotification,
  PublishDiagnosticsParams, DidOpenTextDocumentNotification, DidChangeTextDocumentNotification,
  ExitNotification, ShutdownRequest, LogMessageNotification,
} from 'vscode-languageserver-protocol';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver-protocol/node';

/** The repository root (found upwards from here, so that the compiled copy in dist/ finds it too). */
export const REPO = ((): string => {
  let d = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'bin', 'mmcls'))) return d;
    d = path.dirname(d);
  }
  return path.resolve(__dirname, '..', '..');
})();

/** Whether the compiled CLI has the `lsp` command (`npm run build` has run). */
export function distHasLsp(): boolean {
  return fs.existsSync(path.join(REPO, 'dist', 'runtime', 'cli', 'commands', 'lsp.js')) && fs.existsSync(path.join(REPO, 'dist', 'server', 'server.js'));
}

/**
 * How to start the server: `bin/mmcls lsp --stdio` from the compiled dist (`fromDist`, or
 * MMCLS_LSP_FROM_DIST=1, when built), else the TypeScript sources through tsx (always current).
 */
export function serverCommand(fromDist = process.env.MMCLS_LSP_FROM_DIST === '1'): { cmd: string; args: string[] } {
  if (fromDist && distHasLsp()) return { cmd: process.execPath, args: [path.join(REPO, 'bin', 'mmcls'), 'lsp', '--stdio'] };
  return { cmd: process.execPath, args: ['--require', require.resolve('tsx/cjs'), path.join(REPO, 'server', 'main.ts'), '--stdio'] };
}

export const uri = (file: string): string => pathToFileURL(file).toString();

export class LspClient {
  readonly proc: ChildProcess;
  readonly conn: ProtocolConnection;
  readonly logs: string[] = [];
  exited = false;
  exitCode: number | null = null;
  private readonly diagWaiters: { uri: string; version?: number; resolve: (p: PublishDiagnosticsParams) => void }[] = [];
  readonly lastDiagnostics = new Map<string, PublishDiagnosticsParams>();
  private versions = new Map<string, number>();
  private texts = new Map<string, string>();
  /** workspace/semanticTokens/refresh requests received from the server. */
  semanticRefreshes = 0;

  constructor(cwd = REPO, fromDist?: boolean) {
    const { cmd, args } = serverCommand(fromDist);
    this.proc = spawn(cmd, args, { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr?.on('data', (d: Buffer) => this.logs.push(d.toString()));
    this.proc.on('exit', (code) => {
      this.exited = true;
      this.exitCode = code;
    });
    this.conn = createProtocolConnection(new StreamMessageReader(this.proc.stdout!), new StreamMessageWriter(this.proc.stdin!));
    this.conn.onNotification(PublishDiagnosticsNotification.type, (p) => {
      this.lastDiagnostics.set(p.uri, p);
      for (let i = this.diagWaiters.length - 1; i >= 0; i--) {
        const w = this.diagWaiters[i];
        if (w.uri === p.uri && (w.version === undefined || p.version === undefined || p.version >= w.version)) {
          this.diagWaiters.splice(i, 1);
          w.resolve(p);
        }
      }
    });
    this.conn.onNotification(LogMessageNotification.type, (p) => this.logs.push(p.message));
    this.conn.onRequest('client/registerCapability', () => null);
    this.conn.onRequest('workspace/configuration', () => [null]);
    this.conn.onRequest('workspace/semanticTokens/refresh', () => {
      this.semanticRefreshes++;
      return null;
    });
    this.conn.listen();
  }

  /** `workspace` is merged into the client's workspace capabilities (e.g. `{ semanticTokens: { refreshSupport: true } }`). */
  async initialize(root: string, initializationOptions?: unknown, workspace: Record<string, unknown> = {}): Promise<unknown> {
    const r = await this.conn.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: uri(root),
      workspaceFolders: [{ uri: uri(root), name: path.basename(root) }],
      capabilities: {
        textDocument: {
          completion: { completionItem: { snippetSupport: false, documentationFormat: ['markdown'] } },
          hover: { contentFormat: ['markdown'] },
          publishDiagnostics: { relatedInformation: true, versionSupport: true },
          codeLens: {},
          inlayHint: {},
          documentSymbol: { hierarchicalDocumentSymbolSupport: true },
        },
        workspace: { configuration: false, ...workspace },
      },
      initializationOptions,
    });
    await this.conn.sendNotification(InitializedNotification.type, {});
    return r;
  }

  /** Sends didOpen and resolves with the diagnostics published for it. */
  open(file: string, text?: string): Promise<PublishDiagnosticsParams> {
    const t = text ?? fs.readFileSync(file, 'utf8');
    const u = uri(file);
    this.versions.set(u, 1);
    this.texts.set(u, t);
    const p = this.waitDiagnostics(u, 1);
    void this.conn.sendNotification(DidOpenTextDocumentNotification.type, { textDocument: { uri: u, languageId: 'python', version: 1, text: t } });
    return p;
  }

  /** Replaces the whole text (a full-document change) and resolves with the diagnostics of that version. */
  change(file: string, text: string): Promise<PublishDiagnosticsParams> {
    const u = uri(file);
    const v = (this.versions.get(u) ?? 1) + 1;
    this.versions.set(u, v);
    this.texts.set(u, text);
    const p = this.waitDiagnostics(u, v);
    void this.conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri: u, version: v }, contentChanges: [{ text }] });
    return p;
  }

  /** An incremental change (what editors send while typing). */
  edit(file: string, range: { start: { line: number; character: number }; end: { line: number; character: number } }, newText: string): void {
    const u = uri(file);
    const v = (this.versions.get(u) ?? 1) + 1;
    this.versions.set(u, v);
    void this.conn.sendNotification(DidChangeTextDocumentNotification.type, { textDocument: { uri: u, version: v }, contentChanges: [{ range, text: newText }] });
  }

  waitDiagnostics(u: string, version?: number, timeoutMs = 30000): Promise<PublishDiagnosticsParams> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no diagnostics for ${u} (version ${version}) within ${timeoutMs} ms; server log:\n${this.logs.join('')}`)), timeoutMs);
      this.diagWaiters.push({
        uri: u,
        ...(version !== undefined ? { version } : {}),
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
      });
    });
  }

  request<R>(method: string, params: unknown): Promise<R> {
    return this.conn.sendRequest(method, params) as Promise<R>;
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      try {
        await Promise.race([this.conn.sendRequest(ShutdownRequest.type), new Promise((r) => setTimeout(r, 3000))]);
        await this.conn.sendNotification(ExitNotification.type);
      } catch {
        // already gone
      }
      // A loaded machine may take a while to end the process after `exit`: wait for it before killing.
      for (let waited = 0; !this.exited && waited < 10_000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!this.exited) this.proc.kill();
    }
    this.conn.dispose();
  }
}

/** Text with cursor markers `|name|` removed, and the position of each marker. */
export function markers(textWithMarkers: string): { text: string; at: Record<string, { line: number; character: number }> } {
  const at: Record<string, { line: number; character: number }> = {};
  let text = '';
  const re = /\$\{(\w+)\}/g;
  let last = 0;
  for (const m of textWithMarkers.matchAll(re)) {
    text += textWithMarkers.slice(last, m.index);
    last = (m.index ?? 0) + m[0].length;
    const lines = text.split('\n');
    at[m[1]] = { line: lines.length - 1, character: lines[lines.length - 1].length };
  }
  text += textWithMarkers.slice(last);
  return { text, at };
}

export type { Diagnostic };
