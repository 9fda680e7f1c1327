import { strict as assert } from 'assert';
import { contentSecurityPolicy, escapeHtml, webviewHtml } from '../../client/core/html';
import { MERGED_SCHEME, lineLinks, mergeErrorText, mergedUriFor, sourceOfMerged } from '../../client/core/merged';

describe('client/merged: preview addresses and origin links', () => {
  it('round-trips the source URI through the preview URI', () => {
    const p = mergedUriFor('file:///w/configs/a%20b.py', '/w/configs/a b.py');
    assert.deepEqual(p, { scheme: MERGED_SCHEME, path: '/w/configs/a b.py.merged.py', query: 'file:///w/configs/a%20b.py' });
    assert.equal(sourceOfMerged(p), 'file:///w/configs/a%20b.py');
    assert.equal(sourceOfMerged({ scheme: 'file', path: '/x', query: 'file:///y' }), undefined);
  });

  it('links each key to where it was set, naming what it overrode', () => {
    const text = "model = dict(\n    type='ImageClassifier',\n    backbone=dict(type='ResNet', depth=50),\n    'lr': 0.1,\n)";
    const o = (keyPath: string, line: number, overrode: { uri: string; line: number; value: string }[] = []) => ({ keyPath, uri: 'file:///w/configs/_base_/models/r.py', line, character: 4, overrode });
    const links = lineLinks(text, [o('model', 0), o('model.type', 1), o('model.backbone', 2, [{ uri: 'file:///w/b.py', line: 9, value: "dict(type='X')" }]), o('lr', 3), null]);
    assert.deepEqual(links.map((l) => [l.line, text.split('\n')[l.line].slice(l.start, l.end)]), [[0, 'model'], [1, 'type'], [2, 'backbone'], [3, "'lr'"]]);
    assert.equal(links[1].tooltip, 'model.type: r.py:2');
    assert.equal(links[2].tooltip, "model.backbone: r.py:3 (overrides dict(type='X') in b.py:10)");
    assert.deepEqual(links[0].target, { uri: 'file:///w/configs/_base_/models/r.py', line: 0, character: 4 });
    assert.equal(mergeErrorText('/a.py', 'line 1\nline 2'), '# The config /a.py cannot be merged:\n#\n#   line 1\n#   line 2\n');
  });
});

describe('client/html: webview pages', () => {
  it('allow only the webview\'s own resources and nonce scripts', () => {
    const csp = contentSecurityPolicy('vscode-webview://abc', 'N0NCE');
    assert.equal(csp, "default-src 'none'; img-src vscode-webview://abc data: blob:; style-src vscode-webview://abc 'nonce-N0NCE'; font-src vscode-webview://abc; script-src 'nonce-N0NCE'");
    const html = webviewHtml({ cspSource: 'vscode-webview://abc', title: 'A <b>', scripts: ['https://x/s.js?a=1&b=2'], styles: ['s.css'], body: '<div id="x"></div>' }, 'N0NCE');
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;/);
    assert.match(html, /<script nonce="N0NCE" src="https:\/\/x\/s.js\?a=1&amp;b=2"><\/script>/);
    assert.match(html, /<title>A &lt;b&gt;<\/title>/);
    assert.equal(escapeHtml(`<"'&>`), '&lt;&quot;&#39;&amp;&gt;');
  });
});
