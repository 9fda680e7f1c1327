/** Read-only text documents the extension shows (FLOPs tables): `mmcls-text:/<title>.txt`. */
import * as vscode from 'vscode';

export class TextDocs implements vscode.TextDocumentContentProvider {
  static readonly scheme = 'mmcls-text';
  private readonly texts = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.path) ?? '';
  }

  async show(title: string, text: string): Promise<vscode.TextEditor> {
    const uri = vscode.Uri.from({ scheme: TextDocs.scheme, path: `/${title.replace(/[\\/]/g, '_')}.txt` });
    this.texts.set(uri.path, text);
    this.emitter.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    return vscode.window.showTextDocument(doc, { viewColumn: vscode.ViewColumn.Beside, preview: true });
  }
}
