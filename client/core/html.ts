/**
 * The HTML shell of the extension's webviews: a strict content security policy (only the
 * extension's own scripts and styles, with a nonce; images from the webview's resource roots and
 * data: URLs), theme colours through VS Code's CSS variables, no remote content.
 */
import { randomBytes } from 'crypto';

export interface WebviewPage {
  /** `webview.cspSource`. */
  cspSource: string;
  title: string;
  /** Script URIs (`webview.asWebviewUri`). */
  scripts: string[];
  styles: string[];
  body: string;
}

export function makeNonce(): string {
  return randomBytes(16).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data: blob:`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function webviewHtml(p: WebviewPage, nonce = makeNonce()): string {
  const styles = p.styles.map((s) => `<link rel="stylesheet" href="${escapeHtml(s)}">`).join('\n');
  const scripts = p.scripts.map((s) => `<script nonce="${nonce}" src="${escapeHtml(s)}"></script>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(p.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(p.title)}</title>
${styles}
</head>
<body>
${p.body}
${scripts}
</body>
</html>`;
}
