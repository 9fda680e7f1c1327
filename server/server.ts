/**
 * The protocol layer: LSP requests and notifications to the language service and back. Thin on
 * purpose; every handler is guarded so that a bug logs and answers nothing instead of ending the
 * server.
 */
import * as path from 'path';
import { fileURLToPath, pathToFileURL } from 'url';
import {
  CodeLens, CompletionItem, CompletionItemKind, Connection, Diagnostic, DiagnosticSeverity, DidChangeConfigurationNotification, DidChangeWatchedFilesNotification,
  DocumentSymbol, FileChangeType, InitializeParams, InitializeResult, InlayHint, Location, MarkupKind, ProposedFeatures,
  SemanticTokens, SemanticTokensBuilder, SemanticTokensRefreshRequest, SemanticTokensRequest, SymbolKind, TextDocuments, TextDocumentSyncKind, createConnection,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { FlopsTableArgs, MergedConfigRequest, SHOW_FLOPS_TABLE_COMMAND, ServerSettings } from './protocol';
import { LanguageService } from './service/service';
import { SEMANTIC_TOKEN_MODIFIERS, SEMANTIC_TOKEN_TYPES } from './service/types';
import type { CompletionKind, FileLocation, ServiceCodeLens, ServiceDiagnostic, ServiceSymbol, Span } from './service/types';

export { SEMANTIC_TOKEN_MODIFIERS, SEMANTIC_TOKEN_TYPES };

const COMPLETION_KINDS: Record<CompletionKind, CompletionItemKind> = {
  property: CompletionItemKind.Property,
  class: CompletionItemKind.Class,
  value: CompletionItemKind.Value,
  enum: CompletionItemKind.EnumMember,
  file: CompletionItemKind.File,
  folder: CompletionItemKind.Folder,
  keyword: CompletionItemKind.Keyword,
  variable: CompletionItemKind.Variable,
};

const SEVERITIES = { error: DiagnosticSeverity.Error, warning: DiagnosticSeverity.Warning, information: DiagnosticSeverity.Information, hint: DiagnosticSeverity.Hint };

export function uriToPath(uri: string): string | undefined {
  if (!uri.startsWith('file:')) return undefined;
  try {
    return path.resolve(fileURLToPath(uri));
  } catch {
    return undefined;
  }
}

export function pathToUri(file: string): string {
  return pathToFileURL(file).toString();
}

/** Starts the server on a connection (stdio when none is given). */
export function startServer(connection: Connection = createConnection(ProposedFeatures.all)): Connection {
  const documents = new TextDocuments(TextDocument);
  const service = new LanguageService({ log: (m) => connection.console.error(m) });
  let configurationCapability = false;
  let watchCapability = false;
  let semanticRefreshCapability = false;
  /** `mmcls.semanticHighlighting.enable`: false answers semantic-token requests with null (no tokens from this server). */
  let semanticHighlighting = true;
  let roots: string[] = [];
  const uris = new Map<string, string>();
  const uriOf = (file: string): string => uris.get(file) ?? pathToUri(file);

  /** Runs a handler; a thrown error is logged and the request gets the fallback answer. */
  function guard<A extends unknown[], R>(name: string, fallback: R, fn: (...args: A) => R): (...args: A) => R {
    return (...args: A): R => {
      try {
        return fn(...args);
      } catch (e) {
        connection.console.error(`mmcls: ${name} failed: ${(e as Error).stack ?? String(e)}`);
        return fallback;
      }
    };
  }

  const fileOf = (uri: string): string | undefined => {
    const f = uriToPath(uri);
    if (f) uris.set(f, uri);
    return f;
  };

  const loc = (l: FileLocation): Location => ({ uri: uriOf(l.file), range: l.span });

  connection.onInitialize((params: InitializeParams): InitializeResult => {
    configurationCapability = !!params.capabilities.workspace?.configuration;
    watchCapability = !!params.capabilities.workspace?.didChangeWatchedFiles?.dynamicRegistration;
    semanticRefreshCapability = !!params.capabilities.workspace?.semanticTokens?.refreshSupport;
    const folders = params.workspaceFolders?.map((f) => uriToPath(f.uri)).filter((f): f is string => !!f) ?? [];
    const rootUri = params.rootUri ? uriToPath(params.rootUri) : undefined;
    roots = folders.length ? folders : rootUri ? [rootUri] : params.rootPath ? [params.rootPath] : [];
    const init = params.initializationOptions as ServerSettings | undefined;
    if (init?.configGlobs) service.setConfigGlobs(init.configGlobs);
    if (typeof init?.semanticHighlighting?.enable === 'boolean') semanticHighlighting = init.semanticHighlighting.enable;
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        completionProvider: { triggerCharacters: ['.', "'", '"', '/', '(', ',', '=', ' '], resolveProvider: false },
        hoverProvider: true,
        definitionProvider: true,
        referencesProvider: true,
        codeLensProvider: { resolveProvider: true },
        inlayHintProvider: true,
        documentSymbolProvider: true,
        foldingRangeProvider: true,
        semanticTokensProvider: { legend: { tokenTypes: [...SEMANTIC_TOKEN_TYPES], tokenModifiers: [...SEMANTIC_TOKEN_MODIFIERS] }, full: true },
        executeCommandProvider: { commands: [] },
        workspace: { workspaceFolders: { supported: true } },
      },
      serverInfo: { name: 'mmcls-config-server', version: '0.1.0' },
    };
  });

  connection.onInitialized(() => {
    guard('index', undefined, () => {
      const t0 = Date.now();
      const n = service.indexWorkspace(roots);
      connection.console.info(`mmcls: indexed ${n} configs in ${Date.now() - t0} ms`);
    })();
    // Changes on disk (git checkout, another editor) re-check the configs that depend on the file.
    if (watchCapability) {
      void connection.client.register(DidChangeWatchedFilesNotification.type, { watchers: [{ globPattern: '**/*.{py,json}' }] }).catch(() => undefined);
    }
    if (configurationCapability) {
      void connection.client.register(DidChangeConfigurationNotification.type, undefined).catch(() => undefined);
      void pullSettings();
    }
  });

  /** Applies the `mmcls` settings; true when any was there. */
  function applySettings(s: ServerSettings | null | undefined): boolean {
    if (!s || typeof s !== 'object') return false;
    let any = false;
    if (Array.isArray(s.configGlobs)) {
      any = true;
      service.setConfigGlobs(s.configGlobs);
      guard('reindex', undefined, () => service.indexWorkspace())();
    }
    const enable = s.semanticHighlighting?.enable;
    if (typeof enable === 'boolean') {
      any = true;
      if (enable !== semanticHighlighting) {
        semanticHighlighting = enable;
        // The editor asks again for the tokens of its open files.
        if (semanticRefreshCapability) connection.sendRequest(SemanticTokensRefreshRequest.type).then(undefined, () => undefined);
      }
    }
    return any;
  }

  async function pullSettings(): Promise<void> {
    try {
      applySettings((await connection.workspace.getConfiguration('mmcls')) as ServerSettings | null);
    } catch {
      // The client has no settings for us.
    }
  }

  connection.onDidChangeConfiguration((change) => {
    const s = (change.settings as { mmcls?: ServerSettings } | undefined)?.mmcls;
    if (!applySettings(s) && configurationCapability) void pullSettings();
  });

  // ---------------------------------------------------------------- diagnostics, debounced

  const pending = new Map<string, NodeJS.Timeout>();
  const published = new Set<string>();

  const toDiagnostic = (d: ServiceDiagnostic): Diagnostic => ({
    range: d.span,
    severity: SEVERITIES[d.severity],
    code: d.code,
    source: 'mmcls',
    message: d.message,
    ...(d.related ? { relatedInformation: d.related.map((r) => ({ location: loc(r.location), message: r.message })) } : {}),
  });

  const publish = guard('diagnostics', undefined, (file: string) => {
    if (!service.isConfig(file)) return;
    const diags = service.diagnostics(file).map(toDiagnostic);
    const uri = uriOf(file);
    const doc = documents.get(uri);
    published.add(file);
    void connection.sendDiagnostics({ uri, ...(doc ? { version: doc.version } : {}), diagnostics: diags });
  });

  function schedule(file: string, delay: number): void {
    const t = pending.get(file);
    if (t) clearTimeout(t);
    pending.set(
      file,
      setTimeout(() => {
        // Two event-loop turns later: a request read in the same turn (a completion sent with the
        // keystroke) is answered first, the diagnostics right after.
        setImmediate(() =>
          setImmediate(() => {
            pending.delete(file);
            publish(file);
          }),
        );
      }, delay),
    );
  }

  /**
   * Configs that inherit a changed file are re-checked in the background: after a quiet spell
   * (typing restarts it), one per event-loop turn, so requests from the editor go first.
   */
  const background = new Set<string>();
  let backgroundTimer: NodeJS.Timeout | undefined;
  const BACKGROUND_QUIET_MS = 250;

  function drainBackground(): void {
    backgroundTimer = undefined;
    const next = background.values().next();
    if (next.done) return;
    background.delete(next.value);
    if (!pending.has(next.value)) publish(next.value);
    if (background.size) backgroundTimer = setTimeout(drainBackground, 0);
  }

  /** After `file` changed: itself soon, then every config inheriting it (open or not) in the background. */
  function recheck(file: string, delay: number): void {
    schedule(file, delay);
    const deps = guard('dependents', [] as string[], () => service.dependentsOf(file))();
    for (const d of deps.slice(0, 5000)) background.add(d);
    if (background.size) {
      if (backgroundTimer) clearTimeout(backgroundTimer);
      backgroundTimer = setTimeout(drainBackground, BACKGROUND_QUIET_MS);
    }
  }

  documents.onDidOpen(
    guard('open', undefined, (e) => {
      const f = fileOf(e.document.uri);
      if (!f) return;
      service.open(f, e.document.getText(), e.document.version);
      schedule(f, 0);
    }),
  );
  documents.onDidChangeContent(
    guard('change', undefined, (e) => {
      const f = fileOf(e.document.uri);
      if (!f) return;
      service.change(f, e.document.getText(), e.document.version);
      recheck(f, 30);
    }),
  );
  documents.onDidClose(
    guard('close', undefined, (e) => {
      const f = fileOf(e.document.uri);
      if (!f) return;
      service.close(f);
      recheck(f, 30);
    }),
  );
  connection.onDidChangeWatchedFiles(
    guard('watched files', undefined, (p) => {
      for (const c of p.changes) {
        const f = fileOf(c.uri);
        if (!f) continue;
        service.fileChanged(f, c.type === FileChangeType.Deleted);
        if (c.type === FileChangeType.Deleted && published.has(f)) {
          void connection.sendDiagnostics({ uri: c.uri, diagnostics: [] });
          published.delete(f);
        }
        recheck(f, 100);
      }
    }),
  );

  // ---------------------------------------------------------------- requests

  const configFile = (uri: string): string | undefined => {
    const f = fileOf(uri);
    return f && service.isConfig(f) ? f : undefined;
  };

  connection.onCompletion(
    guard('completion', [] as CompletionItem[], (p) => {
      const f = configFile(p.textDocument.uri);
      if (!f) return [];
      return service.completion(f, p.position).map((c) => {
        const item: CompletionItem = { label: c.label, kind: COMPLETION_KINDS[c.kind] };
        if (c.detail) item.detail = c.detail;
        if (c.documentation) item.documentation = { kind: MarkupKind.Markdown, value: c.documentation };
        if (c.sortText) item.sortText = c.sortText;
        if (c.filterText) item.filterText = c.filterText;
        const insert = c.insertText ?? c.label;
        if (c.replace) item.textEdit = { range: c.replace, newText: insert };
        else item.insertText = insert;
        return item;
      });
    }),
  );

  connection.onHover(
    guard('hover', null, (p) => {
      const f = configFile(p.textDocument.uri);
      if (!f) return null;
      const h = service.hover(f, p.position);
      return h ? { contents: { kind: MarkupKind.Markdown, value: h.markdown }, ...(h.span ? { range: h.span } : {}) } : null;
    }),
  );

  connection.onDefinition(
    guard('definition', [] as Location[], (p) => {
      const f = configFile(p.textDocument.uri);
      return f ? service.definition(f, p.position).map(loc) : [];
    }),
  );

  connection.onReferences(
    guard('references', [] as Location[], (p) => {
      const f = configFile(p.textDocument.uri);
      return f ? service.references(f).map(loc) : [];
    }),
  );

  const lensToLsp = (l: ServiceCodeLens): CodeLens => {
    const lens: CodeLens = { range: l.span, data: { kind: l.kind, file: l.file } };
    if (l.kind === 'usedBy' && l.title) {
      const locations = (l.files ?? []).map((f) => ({ uri: uriOf(f), range: { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } } }));
      lens.command = { title: l.title, command: 'editor.action.showReferences', arguments: [uriOf(l.file), l.span.start, locations] };
    } else if (l.title) {
      const args: FlopsTableArgs = { uri: uriOf(l.file), title: l.title, table: l.table ?? '' };
      lens.command = l.kind === 'flops' ? { title: l.title, command: SHOW_FLOPS_TABLE_COMMAND, arguments: [args] } : { title: l.title, command: '' };
    }
    return lens;
  };

  connection.onCodeLens(
    guard('code lens', [] as CodeLens[], (p) => {
      const f = configFile(p.textDocument.uri);
      return f ? service.codeLenses(f).map(lensToLsp) : [];
    }),
  );

  connection.onCodeLensResolve((lens) =>
    guard('code lens resolve', lens, (l: CodeLens) => {
      const data = l.data as { kind?: ServiceCodeLens['kind']; file?: string } | undefined;
      if (!data?.kind || !data.file) return l;
      const r = service.resolveCodeLens({ span: l.range as Span, kind: data.kind, file: data.file });
      return { ...lensToLsp(r), range: l.range };
    })(lens),
  );

  connection.languages.inlayHint.on(
    guard('inlay hints', [] as InlayHint[], (p) => {
      const f = configFile(p.textDocument.uri);
      if (!f) return [];
      const { start, end } = p.range;
      return service
        .inlayHints(f)
        .filter((h) => h.position.line >= start.line && h.position.line <= end.line)
        .map((h) => ({ position: h.position, label: h.label, paddingLeft: true, ...(h.tooltip ? { tooltip: h.tooltip } : {}) }));
    }),
  );

  const symbolKind = (k: ServiceSymbol['kind']): SymbolKind => (k === 'module' ? SymbolKind.Module : k === 'object' ? SymbolKind.Object : k === 'array' ? SymbolKind.Array : SymbolKind.Property);
  const toSymbol = (s: ServiceSymbol): DocumentSymbol => ({
    name: s.name || '?',
    ...(s.detail ? { detail: s.detail } : {}),
    kind: symbolKind(s.kind),
    range: s.span,
    selectionRange: s.selectionSpan,
    children: s.children.map(toSymbol),
  });

  connection.onDocumentSymbol(
    guard('symbols', [] as DocumentSymbol[], (p) => {
      const f = configFile(p.textDocument.uri);
      return f ? service.documentSymbols(f).map(toSymbol) : [];
    }),
  );

  connection.onFoldingRanges(
    guard('folding', [], (p) => {
      const f = configFile(p.textDocument.uri);
      return f ? service.foldingRanges(f) : [];
    }),
  );

  // null (not an empty list) when switched off or not a config, so that the editor uses another
  // provider's tokens for the file (VS Code takes the first provider that returns some).
  connection.onRequest(
    SemanticTokensRequest.type,
    guard('semantic tokens', null as SemanticTokens | null, (p) => {
      if (!semanticHighlighting) return null;
      const f = configFile(p.textDocument.uri);
      if (!f) return null;
      const b = new SemanticTokensBuilder();
      for (const t of service.semanticTokens(f)) b.push(t.line, t.character, t.length, SEMANTIC_TOKEN_TYPES.indexOf(t.type), 1 << SEMANTIC_TOKEN_MODIFIERS.indexOf(t.modifier));
      return b.build();
    }),
  );

  connection.onRequest(
    MergedConfigRequest,
    guard('merged config', null as never, (p) => {
      const f = fileOf(p.uri);
      if (!f) return { uri: p.uri, text: null, origins: [], files: [], error: 'not a file: URI' };
      return service.mergedConfig(f, uriOf);
    }),
  );

  documents.listen(connection);
  connection.listen();
  return connection;
}
