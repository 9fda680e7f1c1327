/**
 * "Show merged config": a read-only virtual document beside the editor with the config after
 * `_base_` inheritance (from the language server's `mmcls/mergedConfig`, which reads the unsaved
 * buffers), refreshed as the config or any of its bases changes; each line links to where its value
 * was written.
 */
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { MergedConfigRequest, MergedConfigResult } from '../server/protocol';
import { MERGED_SCHEME, lineLinks, mergeErrorText, mergedUriFor, sourceOfMerged } from './core/merged';
import type { Ext } from './extension';

export class MergedConfigFeature implements vscode.TextDocumentContentProvider, vscode.DocumentLinkProvider, vscode.HoverProvider, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;
  private readonly results = new Map<string, MergedConfigResult>();
  private readonly disposables: vscode.Disposable[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly client: () => LanguageClient | undefined, private readonly ext: Ext) {
    this.disposables.push(
      vscode.workspace.registerTextDocumentContentProvider(MERGED_SCHEME, this),
      vscode.languages.registerDocumentLinkProvider({ scheme: MERGED_SCHEME }, this),
      vscode.languages.registerHoverProvider({ scheme: MERGED_SCHEME }, this),
      vscode.workspace.onDidChangeTextDocument((e) => this.sourceChanged(e.document.uri)),
      vscode.workspace.onDidSaveTextDocument((d) => this.sourceChanged(d.uri)),
    );
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.emitter.dispose();
  }

  private open(): vscode.Uri[] {
    return vscode.workspace.textDocuments.filter((d) => d.uri.scheme === MERGED_SCHEME && !d.isClosed).map((d) => d.uri);
  }

  /** An edit in the config or one of its bases: refresh the previews that read it (debounced). */
  private sourceChanged(uri: vscode.Uri): void {
    if (uri.scheme !== 'file' || !vscode.workspace.getConfiguration('mmcls').get<boolean>('mergedConfig.followEdits', true)) return;
    const previews = this.open().filter((p) => {
      const r = this.results.get(p.toString());
      return !r || r.files.some((f) => f === uri.fsPath || f === uri.toString()) || sourceOfMerged(p) === uri.toString();
    });
    if (!previews.length) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => previews.forEach((p) => this.emitter.fire(p)), 300);
  }

  async show(config: string | undefined): Promise<void> {
    if (!config) {
      void vscode.window.showWarningMessage('Open a config file first.');
      return;
    }
    const src = vscode.Uri.file(config);
    const parts = mergedUriFor(src.toString(), src.path);
    const uri = vscode.Uri.from(parts);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const source = sourceOfMerged(uri);
    if (!source) return '';
    const c = this.client();
    if (!c) return '# The config language server is off (mmcls.languageServer.enable): no merged view.\n';
    try {
      const r = await c.sendRequest(MergedConfigRequest, { uri: source });
      this.results.set(uri.toString(), r);
      if (r.text === null) return mergeErrorText(vscode.Uri.parse(source).fsPath, r.error ?? 'unknown error');
      const head = r.error ? `# Showing the last version that merged: ${r.error.split('\n')[0]}\n` : '';
      if (head) this.results.set(uri.toString(), { ...r, origins: [null, ...r.origins] });
      return head + r.text;
    } catch (e) {
      this.ext.log.appendLine(`mmcls/mergedConfig failed: ${(e as Error).message}`);
      return mergeErrorText(vscode.Uri.parse(source).fsPath, (e as Error).message);
    }
  }

  provideDocumentLinks(doc: vscode.TextDocument): vscode.DocumentLink[] {
    const r = this.results.get(doc.uri.toString());
    if (!r || r.text === null) return [];
    return lineLinks(doc.getText(), r.origins).map((l) => {
      const target = vscode.Uri.parse(l.target.uri).with({ fragment: `L${l.target.line + 1},${l.target.character + 1}` });
      const link = new vscode.DocumentLink(new vscode.Range(l.line, l.start, l.line, l.end), target);
      link.tooltip = l.tooltip;
      return link;
    });
  }

  provideHover(doc: vscode.TextDocument, pos: vscode.Position): vscode.Hover | undefined {
    const r = this.results.get(doc.uri.toString());
    const o = r?.origins[pos.line];
    if (!o) return undefined;
    const md = new vscode.MarkdownString();
    const at = (uri: string, line: number) => `[${vscode.workspace.asRelativePath(vscode.Uri.parse(uri))}:${line + 1}](${vscode.Uri.parse(uri).with({ fragment: `L${line + 1}` }).toString()})`;
    md.appendMarkdown(`\`${o.keyPath}\` — set in ${at(o.uri, o.line)}`);
    for (const p of o.overrode) md.appendMarkdown(`\n\noverrides \`${p.value}\` from ${at(p.uri, p.line)}`);
    return new vscode.Hover(md);
  }
}
