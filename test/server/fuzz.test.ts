/**
 * Random edits to realistic configs (copied from configs/), each followed by every kind of
 * request: the server must answer all of them and stay up, whatever half-typed text it sees.
 * Seeded, so a failure replays; bounded, so it runs in seconds.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { LspClient, REPO, uri } from './lsp-client';

const SOURCES = [
  'configs/resnet/resnet50_8xb32_in1k.py',
  'configs/_base_/models/resnet50.py',
  'configs/_base_/datasets/imagenet_bs32.py',
  'configs/_base_/schedules/imagenet_bs256.py',
  'configs/_base_/default_runtime.py',
  'configs/_base_/datasets/imagenet_bs64_pil_resize_autoaug.py',
  'configs/_base_/models/resnet18_cifar.py',
];

const SNIPPETS = [
  'dict(', ')', '(', '[', ']', '{', '}', "'", '"', ',', '=', ':', '\n', '  ', '#', 'type=', "type='Res", '{{_base_.', '<<_base_.model.', '}}',
  '_base_ = ', "'../_base_/", 'depth=', '_delete_=True, ', 'model', 'backbone=dict(type=', '1e-3', '-', '*', 'lambda', 'def f():\n', '"""',
  "f'{x}", '\\', 'None', 'True', '0x', '[i for i in range(3)]', 'import os\n', 'norm_cfg=dict(type=', '.', 'policies=[dict(type=', '\t',
];

/** Mulberry32: a small seeded generator. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function posAt(text: string, offset: number): { line: number; character: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return { line, character: offset - (before.lastIndexOf('\n') + 1) };
}

describe('language server fuzz: random edits never take it down', function () {
  this.timeout(300_000);
  const EDITS = Number(process.env.MMCLS_LSP_FUZZ_EDITS ?? 60);

  it(`answers every request through ${EDITS} random edits`, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-lsp-fuzz-'));
    for (const rel of SOURCES) {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.copyFileSync(path.join(REPO, rel), path.join(root, rel));
    }
    const client = new LspClient(root);
    try {
      await client.initialize(root);
      const rand = rng(20261128);
      const files = SOURCES.slice(0, 4).map((r) => path.join(root, r));
      const texts = new Map<string, string>();
      for (const f of files) {
        texts.set(f, fs.readFileSync(f, 'utf8'));
        await client.open(f);
      }
      let answered = 0;
      for (let i = 0; i < EDITS; i++) {
        const f = files[Math.floor(rand() * files.length)];
        const text = texts.get(f) as string;
        const a = Math.floor(rand() * (text.length + 1));
        const del = rand() < 0.4 ? Math.floor(rand() * 12) : 0;
        const b = Math.min(text.length, a + del);
        const ins = rand() < 0.8 ? SNIPPETS[Math.floor(rand() * SNIPPETS.length)] : '';
        client.edit(f, { start: posAt(text, a), end: posAt(text, b) }, ins);
        const next = text.slice(0, a) + ins + text.slice(b);
        texts.set(f, next);
        const p = posAt(next, Math.min(next.length, a + ins.length));
        const td = { textDocument: { uri: uri(f) } };
        const reqs: Promise<unknown>[] = [
          client.request('textDocument/completion', { ...td, position: p }),
          client.request('textDocument/hover', { ...td, position: p }),
          client.request('textDocument/definition', { ...td, position: p }),
          client.request('textDocument/documentSymbol', td),
          client.request('textDocument/foldingRange', td),
          client.request('textDocument/semanticTokens/full', td),
          client.request('textDocument/inlayHint', { ...td, range: { start: { line: 0, character: 0 }, end: { line: 9999, character: 0 } } }),
          client.request('mmcls/mergedConfig', { uri: uri(f) }),
        ];
        if (i % 10 === 0) {
          reqs.push(
            client.request<{ data?: { kind: string } }[]>('textDocument/codeLens', td).then((lenses) =>
              Promise.all((lenses ?? []).filter((l) => l.data?.kind === 'lr').map((l) => client.request('codeLens/resolve', l))),
            ),
          );
          reqs.push(client.request('textDocument/references', { ...td, position: p, context: { includeDeclaration: false } }));
        }
        const results = await Promise.all(reqs.map((r) => r.then(() => true)));
        answered += results.length;
        assert.equal(client.exited, false, `the server exited after edit ${i}:\n${client.logs.join('')}`);
      }
      // Diagnostics still come for the latest version of every file.
      for (const f of files) {
        const d = await client.change(f, texts.get(f) as string);
        assert.ok(Array.isArray(d.diagnostics));
      }
      assert.ok(answered >= EDITS * 8);
      const failures = client.logs.join('').split('\n').filter((l) => /failed:/.test(l));
      assert.deepEqual(failures, [], client.logs.join(''));
    } finally {
      await client.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
