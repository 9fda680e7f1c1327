/**
 * Every feature of the config language server, over real stdio against the real server process.
 * The workspace is test/fixtures/server/ws with its `${name}` cursor markers taken out (the marker
 * positions are where the requests are made). Expected values come from the fixture text, the
 * MMClassification model zoo (ResNet-50: 25.56 M params, 4.12 GFLOPs) and hand computation.
 */
import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import type { CodeLens, CompletionItem, DocumentSymbol, FoldingRange, Hover, InlayHint, Location, SemanticTokens } from 'vscode-languageserver-protocol';
import type { MergedConfigResult } from '../../server/protocol';
import { LspClient, markers, REPO, uri } from './lsp-client';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'server', 'ws');

type Pos = { line: number; character: number };

/** Copies the fixture workspace into a temporary folder without markers; returns marker positions per file. */
function materialise(): { root: string; at: Record<string, Record<string, Pos>> } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-lsp-'));
  const at: Record<string, Record<string, Pos>> = {};
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const src = path.join(dir, e.name);
      const rel = path.relative(FIXTURES, src);
      const dst = path.join(root, rel);
      if (e.isDirectory()) {
        fs.mkdirSync(dst, { recursive: true });
        walk(src);
      } else {
        const m = markers(fs.readFileSync(src, 'utf8'));
        fs.writeFileSync(dst, m.text);
        at[rel.split(path.sep).join('/')] = m.at;
      }
    }
  };
  walk(FIXTURES);
  return { root, at };
}

describe('language server over stdio', function () {
  this.timeout(120_000);
  let ws: { root: string; at: Record<string, Record<string, Pos>> };
  let client: LspClient;
  let legend: unknown;
  const file = (rel: string) => path.join(ws.root, 'configs', rel);
  const pos = (rel: string, name: string): Pos => {
    const p = ws.at[`configs/${rel}`]?.[name];
    if (!p) throw new Error(`no marker ${name} in ${rel}`);
    return p;
  };
  const td = (rel: string) => ({ textDocument: { uri: uri(file(rel)) } });
  const diagsOf = async (rel: string) => (await client.open(file(rel))).diagnostics;
  const at = (d: { range: { start: Pos } }, p: Pos) => d.range.start.line === p.line && d.range.start.character === p.character;

  before(async () => {
    ws = materialise();
    client = new LspClient(ws.root);
    const init = (await client.initialize(ws.root, { configGlobs: ['experiments/**/*.py'] })) as { capabilities: Record<string, unknown> };
    assert.ok(init.capabilities.completionProvider);
    assert.ok(init.capabilities.inlayHintProvider);
    legend = (init.capabilities.semanticTokensProvider as { legend: unknown }).legend;
  });

  after(async () => {
    await client.stop();
    fs.rmSync(ws.root, { recursive: true, force: true });
  });

  describe('diagnostics', () => {
    it('a good config (RandAugment policies with magnitude_key/range, MMCls types not implemented) has no errors or warnings', async () => {
      const d = await diagsOf('demo/good.py');
      assert.deepEqual(d.filter((x) => x.severity === 1 || x.severity === 2), [], JSON.stringify(d));
    });

    it('misspelt argument with did-you-mean, bad enum value, not-implemented type as information', async () => {
      const d = await diagsOf('demo/bad_args.py');
      const dpth = d.find((x) => x.code === 'registry.unknown-arg');
      assert.ok(dpth && at(dpth, pos('bad_args.py'.replace(/^/, 'demo/'), 'dpth')), JSON.stringify(d));
      assert.equal(dpth.severity, 1);
      assert.match(dpth.message, /"dpth".*did you mean "depth"/);
      const style = d.find((x) => x.code === 'registry.bad-value');
      assert.ok(style && at(style, pos('demo/bad_args.py', 'style')), JSON.stringify(d));
      assert.match(style.message, /'pytorch', 'caffe'.*did you mean 'pytorch'/);
      const info = d.find((x) => x.code === 'registry.not-implemented');
      assert.ok(info && at(info, pos('demo/bad_args.py', 'notImpl')), JSON.stringify(d));
      assert.equal(info.severity, 3);
    });

    it('a head type given as backbone, a misspelt type, and arguments inherited from the base that the new type lacks', async () => {
      const d = await diagsOf('demo/wrong_slot.py');
      const cat = d.find((x) => x.code === 'registry.wrong-category');
      assert.ok(cat && at(cat, pos('demo/wrong_slot.py', 'headAsBackbone')), JSON.stringify(d));
      assert.match(cat.message, /LinearClsHead is a head.*expects a backbone/);
      const inherited = d.filter((x) => x.code === 'registry.unknown-arg' && /inherited from \.\.\/_base_\/models\/resnet50\.py/.test(x.message));
      assert.deepEqual(inherited.map((x) => /"(\w+)"/.exec(x.message)?.[1]).sort(), ['depth', 'num_stages', 'out_indices', 'style']);
      const typo = d.find((x) => x.code === 'registry.unknown-type');
      assert.ok(typo && at(typo, pos('demo/wrong_slot.py', 'misspelt')), JSON.stringify(d));
      assert.match(typo.message, /Did you mean "GlobalAveragePooling"/);
    });

    it('required arguments missing after the merge', async () => {
      const d = await diagsOf('demo/missing.py');
      const m = d.find((x) => x.code === 'registry.missing-arg' && /"depth"/.test(x.message));
      assert.ok(m, JSON.stringify(d));
      assert.ok(at(m, pos('demo/missing.py', 'resnetNoDepth')));
    });

    it('shape mismatches: head in_channels against the backbone, num_classes against the dataset classes', async () => {
      const d = await diagsOf('demo/shapes.py');
      const ch = d.find((x) => x.code === 'mmcls.in-channels-mismatch');
      assert.ok(ch && at(ch, pos('demo/shapes.py', 'inChannels')), JSON.stringify(d));
      assert.match(ch.message, /1024.*2048/);
      const nc = d.find((x) => x.code === 'mmcls.num-classes-mismatch');
      assert.ok(nc && at(nc, pos('demo/shapes.py', 'numClassesKey')), JSON.stringify(d));
      assert.match(nc.message, /num_classes is 10.*5 classes/);
    });

    describe('head in_channels against the runtime shape inference', () => {
      /** Writes configs/shapes/NAME.py and returns its diagnostics. */
      const check = async (name: string, text: string) => {
        const f = file(`shapes/${name}.py`);
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, text);
        return { text, d: (await client.open(f, text)).diagnostics };
      };
      const keyAt = (text: string, key: string): Pos => {
        const i = text.indexOf(key);
        const before = text.slice(0, i).split('\n');
        return { line: before.length - 1, character: before[before.length - 1].length };
      };
      const shapeCodes = (d: { code?: unknown }[]) => d.filter((x) => String(x.code).startsWith('mmcls.')).map((x) => x.code);

      it('VisionTransformer (DeiT-small: 384-dimensional tokens) with VisionTransformerClsHead', async () => {
        const { text, d } = await check('vit', `model = dict(
    type='ImageClassifier',
    backbone=dict(type='VisionTransformer', arch='deit-small', img_size=224, patch_size=16),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=768))
`);
        const m = d.find((x) => x.code === 'mmcls.in-channels-mismatch');
        assert.ok(m && at(m, keyAt(text, 'in_channels')), JSON.stringify(d));
        assert.match(m.message, /in_channels is 768, but the backbone \(VisionTransformer, arch 'deit-small'\) gives 384 channels.*Set in_channels=384\./);
      });

      it('MobileNetV2 widened 1.4x (last layer 1280 x 1.4 = 1792 channels), and 0.5x keeps 1280', async () => {
        const wide = await check('mbv2_wide', `model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=1.4),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=1280))
`);
        const m = wide.d.find((x) => x.code === 'mmcls.in-channels-mismatch');
        assert.ok(m, JSON.stringify(wide.d));
        assert.match(m.message, /gives 1792 channels \(features of shape \[1, 1792\] for a 3×224×224 input\)/);
        const narrow = await check('mbv2_narrow', wide.text.replace('1.4', '0.5'));
        assert.deepEqual(shapeCodes(narrow.d), []);
      });

      it('LeNet-5 without its classifier (C5: 120 feature maps) on one-channel input', async () => {
        const { d } = await check('lenet', `model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(mean=[33.46], std=[78.87], num_classes=10),
    backbone=dict(type='LeNet5', num_classes=-1),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=84))
`);
        const m = d.find((x) => x.code === 'mmcls.in-channels-mismatch');
        assert.ok(m, JSON.stringify(d));
        assert.match(m.message, /gives 120 channels.*1×224×224 input/);
      });

      it('a feature map without a pooling neck (ResNet-18 at 224: [1, 512, 7, 7])', async () => {
        const { text, d } = await check('nopool', `model = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=512))
`);
        assert.deepEqual(shapeCodes(d), ['mmcls.head-input-not-pooled'], JSON.stringify(d));
        assert.ok(at(d.find((x) => x.code === 'mmcls.head-input-not-pooled')!, keyAt(text, 'in_channels')));
        assert.match(d[0].message, /\[1, 512, 7, 7\].*Add neck=dict\(type='GlobalAveragePooling'\) \(in_channels would then be 512\)/);
      });

      it('right channels give nothing (ResNeXt-50, SEResNet-50, ResNet-50 with several out_indices: 2048)', async () => {
        for (const [name, backbone] of [
          ['resnext', "type='ResNeXt', depth=50"],
          ['seresnet', "type='SEResNet', depth=50"],
          ['multi_out', "type='ResNet', depth=50, out_indices=(1, 2, 3)"],
        ]) {
          const { d } = await check(name, `model = dict(
    type='ImageClassifier',
    backbone=dict(${backbone}),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=2048))
`);
          assert.deepEqual(d.filter((x) => x.severity === 1 || x.severity === 2), [], `${name}: ${JSON.stringify(d)}`);
        }
      });

      it('silent where shapes cannot be inferred (a backbone type the runtime does not have)', async () => {
        const { d } = await check('unknown', `model = dict(
    type='ImageClassifier',
    backbone=dict(type='MyBackbone', depth=50),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=5))
`);
        assert.ok(d.some((x) => x.code === 'registry.unknown-type'), JSON.stringify(d));
        assert.deepEqual(shapeCodes(d), []);
      });
    });

    it('unresolved _base_, cycles, duplicate keys among bases, errors inside a base', async () => {
      const mb = await diagsOf('demo/missing_base.py');
      assert.ok(mb.some((x) => x.code === 'config.base-not-found' && at(x, pos('demo/missing_base.py', 'missingBase'))), JSON.stringify(mb));
      const cy = await diagsOf('demo/cycle_a.py');
      assert.ok(cy.some((x) => x.code === 'config.cycle'), JSON.stringify(cy));
      const dup = await diagsOf('demo/dup.py');
      const dd = dup.find((x) => x.code === 'config.duplicate-key');
      assert.ok(dd && at(dd, pos('demo/dup.py', 'dup')), JSON.stringify(dup));
      assert.match(dd.message, /'model'/);
      const bb = await diagsOf('demo/bad_in_base.py');
      const b = bb.find((x) => x.code === 'config.syntax');
      assert.ok(b && at(b, pos('demo/bad_in_base.py', 'badBase')), JSON.stringify(bb));
      assert.match(b.message, /in base \.\.\/_base_\/datasets\/bad_base\.py:2/);
    });

    it('syntax errors, unsupported constructs, bad base references, _delete_ with nothing to delete', async () => {
      const sy = await diagsOf('demo/syntax.py');
      assert.ok(sy.some((x) => x.code === 'config.syntax' && x.range.start.line === 1), JSON.stringify(sy));
      const un = await diagsOf('demo/unsupported.py');
      assert.ok(un.some((x) => x.code === 'config.unsupported' && x.range.start.line === 0 && /import copy/.test(x.message)), JSON.stringify(un));
      assert.ok(un.some((x) => x.code === 'config.name-error' && at(x, pos('demo/unsupported.py', 'unsupported'))), JSON.stringify(un));
      const br = await diagsOf('demo/badref.py');
      const ref = br.find((x) => /modle/.test(x.message));
      assert.ok(ref && ref.range.start.line === pos('demo/badref.py', 'badRef').line, JSON.stringify(br));
      const de = await diagsOf('demo/delete.py');
      const del = de.filter((x) => x.code === 'config.delete-nothing');
      assert.equal(del.length, 1, JSON.stringify(de));
      assert.ok(at(del[0], pos('demo/delete.py', 'deleteKey')));
      assert.ok(!de.some((x) => x.code === 'registry.unknown-arg'), JSON.stringify(de));
    });

    it('re-checks a config that is not open when its base changes', async () => {
      const base = file('_base_/models/resnet50.py');
      const dependent = uri(file('demo/dependent.py'));
      const before = fs.readFileSync(base, 'utf8');
      await client.open(base);
      // dependent.py (never opened) sets in_channels=2048: right for ResNet-50, wrong for ResNet-18.
      let wait = client.waitDiagnostics(dependent);
      void client.change(base, before.replace('depth=50', 'depth=18'));
      let d = await wait;
      assert.deepEqual(d.diagnostics.map((x) => x.code), ['mmcls.in-channels-mismatch'], JSON.stringify(d));
      assert.match(d.diagnostics[0].message, /gives 512 channels/);
      wait = client.waitDiagnostics(dependent);
      void client.change(base, before);
      d = await wait;
      assert.deepEqual(d.diagnostics, []);
    });
  });

  describe('which files are configs', () => {
    it('a .py matching mmcls.configGlobs, and one outside configs/ that assigns _base_', async () => {
      const p = path.join(ws.root, 'experiments', 'plain.py');
      const d = (await client.open(p)).diagnostics;
      const u = d.find((x) => x.code === 'registry.unknown-arg');
      assert.ok(u, JSON.stringify(d));
      assert.deepEqual(u.range.start, ws.at['experiments/plain.py'].plainDpth);
      const o = path.join(ws.root, 'other', 'uses_base.py');
      assert.deepEqual((await client.open(o)).diagnostics, []);
      const hints = await client.request<InlayHint[]>('textDocument/inlayHint', { textDocument: { uri: uri(o) }, range: { start: { line: 0, character: 0 }, end: { line: 9, character: 0 } } });
      assert.deepEqual(hints.map((h) => h.label), [
        "# keeps type='LinearClsHead', in_channels=2048, loss=dict(type='CrossEntro..., topk=(1, 5)",
        '# was 1000 in ../configs/_base_/models/resnet50.py',
      ]);
    });

    it('a base changed on disk (didChangeWatchedFiles) re-checks the configs inheriting it', async () => {
      const base = file('_base_/models/disk_base.py');
      const dep = uri(file('demo/disk_dependent.py'));
      fs.writeFileSync(base, fs.readFileSync(base, 'utf8').replace('depth=18', 'depth=50'));
      const wait = client.waitDiagnostics(dep);
      await client.conn.sendNotification('workspace/didChangeWatchedFiles', { changes: [{ uri: uri(base), type: 2 }] });
      const d = await wait;
      assert.deepEqual(d.diagnostics.map((x) => x.code), ['mmcls.in-channels-mismatch'], JSON.stringify(d));
      assert.match(d.diagnostics[0].message, /in_channels is 512.*gives 2048/);
    });
  });

  describe('completion', () => {
    const labels = (items: CompletionItem[]) => items.map((i) => i.label);
    const complete = async (rel: string, name: string) => {
      await client.open(file(rel));
      return client.request<CompletionItem[]>('textDocument/completion', { ...td(rel), position: pos(rel, name) });
    };

    it('argument names of the type in effect, with inherited values as detail', async () => {
      const items = await complete('demo/completion.py', 'backboneArg');
      const l = labels(items);
      for (const k of ['depth', 'style', 'frozen_stages', 'out_indices', 'norm_eval']) assert.ok(l.includes(k), `${k} in ${l.join(',')}`);
      const outIdx = items.find((i) => i.label === 'out_indices');
      assert.match(String(outIdx?.detail), /\(3, ?\)|\[3\]/);
      assert.ok(!l.includes('num_classes'));
    });

    it('type values filtered by slot: backbones at model.backbone, losses at model.head.loss', async () => {
      const bb = labels(await complete('demo/completion.py', 'backboneType'));
      assert.ok(bb.includes('ResNet') && bb.includes('VisionTransformer'));
      assert.ok(!bb.includes('LinearClsHead') && !bb.includes('CrossEntropyLoss'));
      const loss = labels(await complete('demo/completion.py', 'lossType'));
      assert.ok(loss.includes('CrossEntropyLoss') && loss.includes('LabelSmoothLoss'));
      assert.ok(!loss.includes('ResNet'));
    });

    it('enum values, top-level keys, _base_ paths, names after {{_base_.', async () => {
      assert.deepEqual(labels(await complete('demo/completion.py', 'styleEnum')).sort(), ['caffe', 'pytorch']);
      const top = await complete('demo/completion.py', 'topLevel');
      const tl = labels(top);
      for (const k of ['train_dataloader', 'param_scheduler', 'train_cfg', 'default_hooks']) assert.ok(tl.includes(k), k);
      assert.ok(top.find((i) => i.label === 'optim_wrapper')?.detail?.includes('inherited'));
      const paths = labels(await complete('demo/completion.py', 'basePath'));
      assert.ok(paths.includes('models/') && paths.includes('schedules/') && paths.includes('default_runtime.py'), paths.join(','));
      const refs = labels(await complete('demo/completion.py', 'baseRef'));
      assert.deepEqual(refs, ['type', 'backbone', 'neck', 'head']);
    });

    it('half-typed text: arguments of a type typed a moment ago, in a file that never loaded', async () => {
      const f = file('demo/halftyped.py');
      const text = "_base_ = '../_base_/models/resnet50.py'\nmodel = dict(backbone=dict(type='ResNet', de";
      fs.writeFileSync(f, text);
      await client.open(f, text);
      const items = await client.request<CompletionItem[]>('textDocument/completion', { textDocument: { uri: uri(f) }, position: { line: 1, character: 45 } });
      assert.ok(labels(items).includes('depth'), labels(items).join(','));
    });
  });

  describe('hover, definition, references', () => {
    it('hover on a key: merged value, the file that set it and what it replaced, and the option docs', async () => {
      await client.open(file('demo/good.py'));
      const h = await client.request<Hover>('textDocument/hover', { ...td('demo/good.py'), position: pos('demo/good.py', 'numClasses') });
      const md = (h.contents as { value: string }).value;
      assert.match(md, /model\.head\.num_classes/);
      assert.match(md, /num_classes = 10/);
      assert.match(md, /set in `\.\/good\.py:8`/);
      assert.match(md, /replaces `1000` from `\.\.\/_base_\/models\/resnet50\.py:13`/);
      assert.match(md, /LinearClsHead\.num_classes/);
    });

    it('hover on a type string shows the schema docs; on a base reference its value', async () => {
      await client.open(file('demo/completion.py'));
      const h = await client.request<Hover>('textDocument/hover', { ...td('demo/completion.py'), position: pos('demo/completion.py', 'backboneType') });
      assert.match((h.contents as { value: string }).value, /\*\*ResNet\*\* \(MODELS, backbone\)[\s\S]*depth/);
      await client.open(file('demo/badref.py'));
      const r = await client.request<Hover>('textDocument/hover', { ...td('demo/badref.py'), position: pos('demo/badref.py', 'refHover') });
      assert.match((r.contents as { value: string }).value, /depth = 50/);
    });

    it('definition: _base_ path to the file, key to the value it replaces, type to its source', async () => {
      await client.open(file('demo/good.py'));
      const base = await client.request<Location[]>('textDocument/definition', { ...td('demo/good.py'), position: pos('demo/good.py', 'baseModel') });
      assert.equal(base[0].uri, uri(file('_base_/models/resnet50.py')));
      const key = await client.request<Location[]>('textDocument/definition', { ...td('demo/good.py'), position: pos('demo/good.py', 'numClasses') });
      assert.equal(key[0].uri, uri(file('_base_/models/resnet50.py')));
      assert.equal(key[0].range.start.line, 12);
      await client.open(file('demo/completion.py'));
      const ty = await client.request<Location[]>('textDocument/definition', { ...td('demo/completion.py'), position: pos('demo/completion.py', 'backboneType') });
      assert.ok(ty[0].uri.endsWith('/runtime/models/backbones/resnet.ts'), JSON.stringify(ty));
      const src = fs.readFileSync(new URL(ty[0].uri), 'utf8').split('\n')[ty[0].range.start.line];
      assert.match(src, /class ResNet\b/);
    });

    it('references of a base file: the configs that inherit it; a "used by N" lens', async () => {
      const base = file('_base_/datasets/tiny.py');
      await client.open(base);
      const refs = await client.request<Location[]>('textDocument/references', { textDocument: { uri: uri(base) }, position: { line: 0, character: 0 }, context: { includeDeclaration: false } });
      const names = refs.map((r) => path.basename(new URL(r.uri).pathname)).sort();
      assert.deepEqual(names, ['flops.py', 'good.py', 'sched.py', 'shapes.py']);
      const lenses = await client.request<CodeLens[]>('textDocument/codeLens', { textDocument: { uri: uri(base) } });
      assert.ok(lenses.some((l) => l.command?.title === 'used by 4 configs'), JSON.stringify(lenses));
    });
  });

  describe('merged preview and lenses', () => {
    it('inlay hints: what a value replaced, and the inherited keys a partly written dict keeps', async () => {
      await client.open(file('demo/good.py'));
      const hints = await client.request<InlayHint[]>('textDocument/inlayHint', { ...td('demo/good.py'), range: { start: { line: 0, character: 0 }, end: { line: 50, character: 0 } } });
      const was = hints.find((h) => h.label === '# was 1000 in ../_base_/models/resnet50.py');
      assert.ok(was, JSON.stringify(hints));
      assert.deepEqual(was.position, pos('demo/good.py', 'numClassesEnd'));
      assert.ok(hints.some((h) => typeof h.label === 'string' && h.label.startsWith("# keeps type='ResNet', depth=50")), JSON.stringify(hints));
    });

    it('mmcls/mergedConfig: Python text of the whole config with each line\'s origin, updated as the user types', async () => {
      const f = file('demo/good.py');
      await client.open(f);
      const r = await client.request<MergedConfigResult>('mmcls/mergedConfig', { uri: uri(f) });
      assert.ok(r.text);
      const lines = r.text.split('\n');
      const i = lines.findIndex((l) => /^\s+num_classes=10,$/.test(l));
      assert.ok(i >= 0, r.text);
      assert.equal(r.origins[i]?.uri, uri(f));
      assert.deepEqual(r.origins[i]?.overrode.map((o) => o.value), ['1000']);
      const j = lines.findIndex((l) => /^\s+in_channels=2048,$/.test(l));
      assert.equal(r.origins[j]?.uri, uri(file('_base_/models/resnet50.py')));
      assert.equal(r.origins[j]?.line, 13);
      const text = fs.readFileSync(f, 'utf8').replace('num_classes=10', 'num_classes=7');
      await client.change(f, text);
      const r2 = await client.request<MergedConfigResult>('mmcls/mergedConfig', { uri: uri(f) });
      assert.ok(r2.text?.includes('num_classes=7,'));
      await client.change(f, fs.readFileSync(f, 'utf8'));
    });

    it('FLOPs lens above model = dict(...): ResNet-50 as in the MMClassification model zoo, table as the command argument', async () => {
      await client.open(file('demo/flops.py'));
      const lenses = await client.request<CodeLens[]>('textDocument/codeLens', td('demo/flops.py'));
      const fl = lenses.find((l) => (l.data as { kind: string }).kind === 'flops');
      assert.ok(fl, JSON.stringify(lenses));
      assert.equal(fl.command, undefined);
      const r = await client.request<CodeLens>('codeLens/resolve', fl);
      // Real MMClassification 1.0.0rc6 (get_flops, fvcore) measures 4,109,464,576 FLOPs and 25,557,032 params for this model.
      assert.equal(r.command?.title, 'ResNet-50 · 25.56 M params · 4.11 GFLOPs @ 3×224×224');
      assert.equal(r.command?.command, 'mmcls.showFlopsTable');
      const table = (r.command?.arguments?.[0] as { table: string }).table;
      assert.match(table, /Flops: 4\.1\d*G/);
      assert.match(table, /\| backbone\.layer1/);
      // The lens agrees with `mmcls flops` on the same config.
      const cli = execFileSync(process.execPath, ['--import', 'tsx', '-e', `require(${JSON.stringify(path.join(REPO, 'runtime/cli/main.ts'))}).main(['flops', ${JSON.stringify(file('demo/flops.py'))}, '--format', 'json']).then((c) => { process.exitCode = c; })`], { encoding: 'utf8', cwd: REPO });
      const j = JSON.parse(cli.trim().split('\n').pop() as string) as { flops: number; params: number };
      assert.equal(r.command?.title, `ResNet-50 · ${(j.params / 1e6).toFixed(2)} M params · ${(j.flops / 1e9).toFixed(2)} GFLOPs @ 3×224×224`);
      await client.open(file('demo/good.py'));
      const g = await client.request<CodeLens[]>('textDocument/codeLens', td('demo/good.py'));
      assert.deepEqual(g.find((l) => (l.data as { kind: string }).kind === 'flops')?.range.start, pos('demo/good.py', 'modelKey'));
    });

    it('LR lens on param_scheduler: the MultiStepLR steps', async () => {
      await client.open(file('demo/sched.py'));
      const lenses = await client.request<CodeLens[]>('textDocument/codeLens', td('demo/sched.py'));
      const lr = lenses.find((l) => (l.data as { kind: string }).kind === 'lr');
      assert.ok(lr);
      assert.deepEqual(lr.range.start, pos('demo/sched.py', 'paramScheduler'));
      const r = await client.request<CodeLens>('codeLens/resolve', lr);
      assert.equal(r.command?.title, 'LR 0.1 → 0.01 @ep30 → 0.001 @ep60 → 0.0001 @ep90 · 100 epochs');
    });

    describe('LR lens: the real iterations per epoch', () => {
      const schedule = `optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
train_cfg = dict(by_epoch=True, max_epochs=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=32),
    dict(type='MultiStepLR', by_epoch=True, milestones=[3], gamma=0.1),
]
`;
      const lensTitle = async (name: string, text: string): Promise<string | undefined> => {
        const f = file(`lr/${name}.py`);
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, text);
        await client.open(f, text);
        const lenses = await client.request<CodeLens[]>('textDocument/codeLens', { textDocument: { uri: uri(f) } });
        const lr = lenses.find((l) => (l.data as { kind: string }).kind === 'lr');
        assert.ok(lr, JSON.stringify(lenses));
        return (await client.request<CodeLens>('codeLens/resolve', lr)).command?.title;
      };

      it('from the IDX header of the training labels (Fashion-MNIST format, 1000 images, batch 64: 16 iterations)', async () => {
        const dir = path.join(ws.root, 'data', 'fmnist');
        fs.mkdirSync(dir, { recursive: true });
        const idx = Buffer.alloc(8 + 1000);
        idx.writeUInt32BE(0x00000801, 0);
        idx.writeUInt32BE(1000, 4);
        fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte.gz'), zlib.gzipSync(idx));
        // MMEngine's LinearLR: factor 0.5 + 0.5 * t / (end - begin - 1) at iteration t, so epoch 1
        // (t = 16) has 0.1 * (0.5 + 0.5 * 16 / 31) = 0.0758; the warm-up is over by epoch 2 (t = 32).
        const title = await lensTitle('fmnist', `${schedule}train_dataloader = dict(batch_size=64, dataset=dict(type='FashionMNIST', data_prefix='data/fmnist'))\n`);
        assert.equal(title, 'LR 0.05 → 0.0758 @ep1 → 0.1 @ep2 → 0.01 @ep3 · 5 epochs × 16 it/epoch');
      });

      it('from a class-folder layout (5 images, batch 2: 3 iterations)', async () => {
        const root = path.join(ws.root, 'data', 'folders');
        for (const [cls, n] of [['cat', 3], ['dog', 2]] as const) {
          fs.mkdirSync(path.join(root, cls), { recursive: true });
          for (let i = 0; i < n; i++) fs.writeFileSync(path.join(root, cls, `${i}.png`), '');
          fs.writeFileSync(path.join(root, cls, 'notes.txt'), '');
        }
        const title = await lensTitle('folders', `optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1))
train_cfg = dict(by_epoch=True, max_epochs=4)
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[2], gamma=0.1)
train_dataloader = dict(batch_size=2, dataset=dict(type='CustomDataset', data_prefix='data/folders'))
`);
        assert.equal(title, 'LR 0.1 → 0.01 @ep2 · 4 epochs × 3 it/epoch');
      });

      it('unknown train set size with a scheduler counted in iterations: says so, shows no epoch values', async () => {
        const title = await lensTitle('unknown', `${schedule}train_dataloader = dict(batch_size=64, dataset=dict(type='CustomDataset', data_prefix='data/nowhere'))\n`);
        assert.equal(title, 'LR 0.1 (optimizer) · LinearLR counts iterations and the train set size is unknown · 5 epochs');
      });
    });
  });

  describe('outline, folding, highlighting', () => {
    it('document symbols: top-level keys with nested dicts', async () => {
      await client.open(file('demo/good.py'));
      const syms = await client.request<DocumentSymbol[]>('textDocument/documentSymbol', td('demo/good.py'));
      assert.deepEqual(syms.map((s) => s.name), ['_base_', 'model', 'train_dataloader']);
      const model = syms[1];
      assert.deepEqual(model.children?.map((c) => c.name), ['backbone', 'head']);
      assert.deepEqual(model.children?.[1].children?.map((c) => c.name), ['num_classes']);
    });

    it('folding ranges for multi-line brackets', async () => {
      const f = await client.request<FoldingRange[]>('textDocument/foldingRange', td('demo/good.py'));
      assert.ok(f.some((r) => r.startLine === 0 && r.endLine === 2), JSON.stringify(f));
      assert.ok(f.some((r) => r.startLine === 5 && r.endLine === 7), JSON.stringify(f));
    });

    /** (line, character, length, type, modifiers) of encoded semantic tokens. */
    const decode = (t: SemanticTokens): [number, number, number, number, number][] => {
      const toks: [number, number, number, number, number][] = [];
      let line = 0;
      let ch = 0;
      for (let i = 0; i < t.data.length; i += 5) {
        line += t.data[i];
        ch = t.data[i] === 0 ? ch + t.data[i + 1] : t.data[i + 1];
        toks.push([line, ch, t.data[i + 2], t.data[i + 3], t.data[i + 4]]);
      }
      return toks;
    };

    it('semantic tokens: the legend, base references split as the grammar splits them, _base_ paths', async () => {
      assert.deepEqual(legend, { tokenTypes: ['class', 'keyword', 'namespace', 'property'], tokenModifiers: ['registryType', 'baseReference', 'basePath'] });
      await client.open(file('demo/badref.py'));
      const t = await client.request<SemanticTokens>('textDocument/semanticTokens/full', td('demo/badref.py'));
      // _base_ = '../_base_/models/resnet50.py'       the path with its quotes: namespace.basePath
      // head_cfg = {{_base_.modle.head}}               _base_: keyword.baseReference, .modle.head: property.baseReference
      // depth = {{_base_.model.backbone.depth}}
      assert.deepEqual(decode(t), [
        [0, 9, 30, 2, 4],
        [1, 13, 6, 1, 2],
        [1, 19, 11, 3, 2],
        [2, 10, 6, 1, 2],
        [2, 16, 21, 3, 2],
      ]);
    });

    it('semantic tokens: the name of every type string, without its quotes (class.registryType)', async () => {
      const f = file('_base_/models/resnet50.py');
      const text = fs.readFileSync(f, 'utf8');
      await client.open(f);
      const t = await client.request<SemanticTokens>('textDocument/semanticTokens/full', { textDocument: { uri: uri(f) } });
      const expected: [number, number, number, number, number][] = [];
      text.split('\n').forEach((l, line) => {
        for (const m of l.matchAll(/type='(\w+)'/g)) expected.push([line, (m.index ?? 0) + 6, m[1].length, 0, 1]);
      });
      assert.equal(expected.length, 5);
      assert.deepEqual(decode(t), expected);
    });

    it('mmcls.semanticHighlighting.enable: off answers null, on again sends a refresh and tokens', async () => {
      const c2 = new LspClient(ws.root);
      try {
        await c2.initialize(ws.root, { semanticHighlighting: { enable: false } }, { semanticTokens: { refreshSupport: true } });
        await c2.open(file('demo/badref.py'));
        assert.equal(await c2.request<SemanticTokens | null>('textDocument/semanticTokens/full', td('demo/badref.py')), null);
        await c2.conn.sendNotification('workspace/didChangeConfiguration', { settings: { mmcls: { semanticHighlighting: { enable: true } } } });
        const t = await c2.request<SemanticTokens | null>('textDocument/semanticTokens/full', td('demo/badref.py'));
        assert.equal(t?.data.length, 25);
        assert.equal(c2.semanticRefreshes, 1);
        await c2.conn.sendNotification('workspace/didChangeConfiguration', { settings: { mmcls: { semanticHighlighting: { enable: false } } } });
        assert.equal(await c2.request<SemanticTokens | null>('textDocument/semanticTokens/full', td('demo/badref.py')), null);
        assert.equal(c2.semanticRefreshes, 2);
      } finally {
        await c2.stop();
      }
    });

    it('no semantic tokens (null) for a Python file that is not a config', async () => {
      const p = path.join(ws.root, 'other', 'script.py');
      fs.writeFileSync(p, "x = dict(type='ResNet')\n");
      await client.conn.sendNotification('textDocument/didOpen', { textDocument: { uri: uri(p), languageId: 'python', version: 1, text: fs.readFileSync(p, 'utf8') } });
      assert.equal(await client.request<SemanticTokens | null>('textDocument/semanticTokens/full', { textDocument: { uri: uri(p) } }), null);
    });
  });

  it('the server is still alive and logged no internal failures', () => {
    assert.equal(client.exited, false);
    assert.ok(!client.logs.join('').includes('failed:'), client.logs.join(''));
  });
});
