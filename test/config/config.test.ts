import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  analyzeConfig, clearConfigCache, dumpJson, dumpPython, isFloatAt, isTuple, loadConfig, parseCfgOptionValue, parsePython,
} from '../../runtime/config';
import type { ConfigDict, ConfigValue } from '../../runtime/config';
import { STAT_INTERVAL_MS } from '../../runtime/config/loader';
import { MmclsError } from '../../runtime/errors';

const FIX = path.join(__dirname, '..', 'fixtures', 'config');
const fx = (rel: string) => path.join(FIX, rel);

/** Loads and returns the error (fails the test when loading succeeds). */
function loadError(file: string, options = {}): MmclsError {
  try {
    loadConfig(file, options);
  } catch (e) {
    assert.ok(e instanceof MmclsError, `expected MmclsError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${file} loaded without error`);
}

const tmpDirs: string[] = [];
function tmpConfig(text: string, name = 'cfg.py'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-config-test-'));
  tmpDirs.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}
after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

/** JSON-ish view that keeps tuples and integral floats visible, for deepEqual. */
function view(v: ConfigValue, container?: object, key?: string | number): unknown {
  if (Array.isArray(v)) {
    const items = v.map((x, i) => view(x, v, i));
    return isTuple(v) ? { tuple: items } : items;
  }
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v)) o[k] = view(v[k], v, k);
    return o;
  }
  if (typeof v === 'number' && Number.isInteger(v) && container && key !== undefined && isFloatAt(container, key)) return { float: v };
  return v;
}
const T = (...items: unknown[]) => ({ tuple: items });
const F = (v: number) => ({ float: v });

describe('config: parser', () => {
  it('gives 1-based positions with exclusive ends', () => {
    const { module, errors } = parsePython("x = dict(a=1,\n         b='two')\n");
    assert.deepEqual(errors, []);
    const s = module.body[0];
    assert.equal(s.type, 'Assign');
    if (s.type !== 'Assign') return;
    assert.deepEqual([s.line, s.column, s.endLine, s.endColumn], [1, 1, 2, 18]);
    const call = s.value;
    assert.equal(call.type, 'Call');
    if (call.type !== 'Call') return;
    const b = call.args[1];
    assert.equal(b.name, 'b');
    assert.deepEqual(b.nameRange, { line: 2, column: 10, endLine: 2, endColumn: 11 });
    assert.deepEqual([b.value.line, b.value.column, b.value.endLine, b.value.endColumn], [2, 12, 2, 17]);
  });

  it('recovers at statement level and reports every error', () => {
    const src = fs.readFileSync(fx('misc/syntax_error.py'), 'utf8');
    const { module, errors } = parsePython(src);
    // The inner dict's '(' never closed (line 3, col 18), and `x = 1 +` on line 5.
    assert.deepEqual(errors.map((e) => [e.line, e.column]), [[3, 18], [5, 8]]);
    assert.match(errors[0].message, /'\(' was never closed/);
    const names = module.body.flatMap((s) => (s.type === 'Assign' && s.targets[0].type === 'Name' ? [s.targets[0].id] : []));
    assert.deepEqual(names, ['optimizer', 'y']);
  });

  it('reads CRLF files as Python does, and reports an unclosed bracket at the end once', () => {
    const c = loadConfig(tmpConfig("model = dict(\r\n\ttype='X',  # c\r\n\tdepth=50)\r\nz = '''a\r\nb'''\r\n"));
    assert.deepEqual(c.value, { model: { type: 'X', depth: 50 }, z: 'a\nb' });
    const r = parsePython('x = 1\n  y = 2\nz = (1,\n');
    assert.deepEqual(r.errors.map((e) => [e.line, e.column, e.message]), [[2, 1, 'unexpected indent'], [3, 5, "'(' was never closed"]]);
  });

  it('parses half-typed input without throwing', () => {
    for (const src of ['model = dict(', 'x = [1, 2', "s = 'abc", 'f"{', 'a = (', 'if x:', 'x = 1 if', '{{_base_.', 'x = """abc']) {
      const r = parsePython(src);
      assert.ok(r.errors.length > 0, src);
      for (const e of r.errors) assert.ok(e.line >= 1 && e.column >= 1, JSON.stringify(e));
    }
  });

  it('handles strings, numbers, f-strings and placeholders', () => {
    const { module, errors } = parsePython(
      "s = rb'x' if 0 else 'a' \"b\"\nn = [0x1F, 1_000, 1e-4, .5, 5.]\nf = f'{x!r:>{w}}{{lit}}'\nr = <<_base_.a[1].b>>\nt = {{ _base_.m.n }}\n",
    );
    assert.deepEqual(errors, []);
    const r = module.body[3];
    assert.ok(r.type === 'Assign' && r.value.type === 'BaseRef');
    if (r.type === 'Assign' && r.value.type === 'BaseRef') assert.deepEqual(r.value.path, ['a', 1, 'b']);
    const t = module.body[4];
    if (t.type === 'Assign' && t.value.type === 'BaseRef') assert.deepEqual(t.value.path, ['m', 'n']);
    else assert.fail('expected a base reference');
  });

  it('limits nesting depth with a syntax error instead of a crash', () => {
    const r = parsePython(`x = ${'('.repeat(1000)}1${')'.repeat(1000)}`);
    assert.ok(r.errors.length > 0);
    assert.match(r.errors[0].message, /nested/);
    const u = parsePython(`x = ${'-'.repeat(5000)}1`);
    assert.ok(u.errors.some((e) => /nested/.test(e.message)));
  });
});

describe('config: Python semantics', () => {
  const v = loadConfig(fx('misc/semantics.py')).value;
  const expected: Record<string, unknown> = {
    a: 3.5, b: 3, c: -4, d: 2, e: -2, f: 1.5, g: F(-4), h: 1024, i: 0.5, j: 2, k: 4, l: 0, m: 2.67, n: 0.12, o: 1200,
    p: '1.0', q: '1e-05', r: '1e+16', s: '0.30000000000000004', t: 2, u: 'ababab', v: [1, 2, 3], w: T(1, 2, 1, 2),
    x: true, y: false, z: true, aa: 3, ab: -3, ac: 0.0001, ad: 42, ae: 5, af: [0, 3, 6, 9], ag: F(6), ah: T(1, 9),
    ai: 2.5, aj: [3, 2, 1], ak: [T(1, 'a'), T(2, 'b')], al: [0, 4, 16], am: { x: 1, y: 2 },
    an: [T(0, 0), T(0, 1), T(1, 0), T(1, 1)], ao: 'b', ap: 'x', aq: 0, ar: true, as_: '1-3.14-x',
    at: "3.142|00042|  s|0.0001|2.5|3.5|u='ababab'", au: ['a', 'b', '', 'c'], av: 'x-y',
    aw: T([2, 3], [4, 3, 2, 1], 'llo'), ax: { a: 1, b: 2 }, ay: { a: 1, b: 2, c: 3 }, az: { a: 1, b: 2, c: 3 },
    ba: 1049, bb: F(1000), bc: 5.5, bd: 'abcdef\\n\t', be: 'multi\nline', bf: 3, bg: 3, bh: -4, bi: 5, bj: 512, bk: 1,
    bl: T(true, true), bm: [T(1, 'a'), T(2, 'b')], bn: 1, bo: 2, bp: 1, bq: [2, 3], br: 6, bs: [1, 2], bt: T(1, 2),
    bu: T('True', 'None', "[1, 'a']", '(1,)', "{'a': 1.0}"), bv: 'a-007-2.2', bw: F(3), bx: F(2), by: 2.5, bz: 1,
    ca: 'yes', cb: ['a', 'b'], cd: F(-0), ce: [F(1), 2, 3.5], cg: Infinity, ch: { b: 2, c: [2, 3] },
  };
  for (const [k, want] of Object.entries(expected)) {
    it(`${k}`, () => assert.deepEqual(view(v[k], v, k), want));
  }
  it('keeps module objects out and comprehension variables local', () => {
    assert.equal('copy' in v, false);
    assert.equal('tmp' in v, false); // del
    assert.equal(v.x, true); // `x` is also a comprehension variable in `cb`
  });
  it('keeps Python key order and non-string keys', () => {
    const text = dumpPython(v);
    assert.match(text, /^cc = \{'b': 1, 'a': 2, 1: 'int', '10': 'str'\}$/m);
    assert.match(text, /^cf = \{1, 2\}$/m);
    assert.match(text, /^cd = -0\.0$/m);
  });
});

describe('config: inheritance (_base_)', () => {
  const cfg = loadConfig(fx('chain/resnet/resnet18_8xb32-300e_in1k.py'));
  const v = cfg.value;

  it('merges dicts key by key and replaces lists and tuples', () => {
    assert.deepEqual(view(v.model), {
      type: 'ImageClassifier',
      backbone: { type: 'ResNet', depth: 34, num_stages: 4, out_indices: T(3), style: 'pytorch' },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 512, loss: { type: 'CrossEntropyLoss', loss_weight: F(1) }, topk: [1] },
      train_cfg: { augments: { type: 'CutMix', alpha: F(1) } },
    });
    assert.deepEqual(v.train_cfg, { by_epoch: true, max_epochs: 300, val_interval: 10 });
    assert.deepEqual(view(v.optim_wrapper), { optimizer: { type: 'SGD', lr: 0.4, momentum: 0.9, weight_decay: 0.0001 } });
    assert.equal((v.train_dataloader as ConfigDict).batch_size, 32);
    assert.equal(((v.train_dataloader as ConfigDict).dataset as ConfigDict).data_root, 'mydata/imagenet/train');
    assert.equal(((v.train_dataloader as ConfigDict).dataset as ConfigDict).ann_file, 'meta/train.txt');
    assert.equal((v.val_dataloader as ConfigDict).batch_size, 64);
  });

  it('_delete_=True replaces the base dict and disappears; with nothing to delete MMEngine keeps it', () => {
    assert.deepEqual(v.param_scheduler, { type: 'CosineAnnealingLR', by_epoch: true });
    assert.deepEqual(v.new_key, { _delete_: true, a: 1 });
    const d = loadConfig(fx('misc/delete.py')).value;
    assert.deepEqual(d.optim_wrapper, { optimizer: { type: 'AdamW', lr: 0.001 } });
    assert.deepEqual(d.val_cfg, {});
  });

  it('orders keys as MMEngine: bases in order, then new keys of the child', () => {
    assert.deepEqual(Object.keys(v), [
      'model', 'dataset_type', 'data_preprocessor', 'train_pipeline', 'test_pipeline', 'train_dataloader', 'val_dataloader',
      'val_evaluator', 'optim_wrapper', 'param_scheduler', 'train_cfg', 'val_cfg', 'auto_scale_lr', 'default_scope',
      'default_hooks', 'env_cfg', 'log_level', 'load_from', 'resume', 'custom_imports', 'work_dir', 'new_key',
    ]);
  });

  it('keeps custom_imports and default_scope as plain values; predefined variables name the file they are in', () => {
    assert.equal(v.default_scope, 'mmcls');
    assert.deepEqual(v.custom_imports, { imports: ['mmcls.engine.optimizers.my_optimizer'], allow_failed_imports: false });
    assert.equal(v.work_dir, './work_dirs/default_runtime');
  });

  it('lists every file read, the config first', () => {
    assert.deepEqual(cfg.files.map((f) => path.relative(fx('chain'), f)), [
      'resnet/resnet18_8xb32-300e_in1k.py', 'resnet/resnet18_8xb32_in1k.py', '_base_/models/resnet18.py',
      '_base_/datasets/imagenet_bs32.py', '_base_/schedules/imagenet_bs256.py', '_base_/default_runtime.py',
    ]);
    const info = cfg.fileInfo.get(cfg.filename);
    assert.ok(info);
    assert.deepEqual(info.bases.map((b) => path.basename(b.file)), ['resnet18_8xb32_in1k.py']);
    assert.deepEqual(info.values && Object.keys(info.values), ['model', 'train_cfg', 'param_scheduler', 'optim_wrapper', 'train_dataloader', 'val_dataloader', 'new_key']);
  });

  it('intermediate variables, _base_.x expressions and {{_base_.x}} / <<_base_.x>> references', () => {
    const p = loadConfig(fx('chain/resnet/resnet18_pipeline.py')).value;
    const pipeline = p.train_pipeline as ConfigDict[];
    assert.deepEqual(pipeline[2].hparams, { pad_val: [104, 116, 124] });
    assert.deepEqual(((p.train_dataloader as ConfigDict).dataset as ConfigDict).pipeline, pipeline);
    assert.equal(p.lr, 0.2);
    assert.equal(p.depth, 18);
    assert.deepEqual(view(p.flip), { type: 'RandomFlip', prob: 0.5, direction: 'horizontal' });
    assert.equal(p.flip_prob, 0.5);
    assert.equal(p.name, 'resnet18_ImageNet');
    assert.equal(p.scaled, 100.5);
    assert.deepEqual(p.bgr_mean, [103.53, 116.28, 123.675]);
  });

  it('references inside lists, strings, arithmetic and f-strings; environment and predefined variables', () => {
    const r = loadConfig(fx('refs/child.py'), { env: {} }).value;
    assert.deepEqual(r.train_pipeline, [
      { type: 'RandAugment', policies: [{ type: 'AutoContrast' }, { type: 'Equalize' }], num_policies: 2 },
      { type: 'Resize', scale: 224 },
    ]);
    assert.equal(r.doubled, 448);
    assert.equal(r.label, 'size_224');
    assert.equal(r.txt, '225');
    assert.deepEqual(r.first, { type: 'AutoContrast' });
    assert.ok(isTuple(r.attr));
    assert.deepEqual([...(r.attr as number[])], [1, 2, 3]);
    assert.equal(r.env_lr, 0.01);
    assert.equal(r.env_name, 'default_name');
    assert.equal(r.here, fx('refs').replace(/\\/g, '/'));
    assert.equal(r.work, 'base.py|.py|base');
    const e = loadConfig(fx('refs/child.py'), { env: { MMCLS_TEST_LR: '0.5', MMCLS_TEST_NAME: 'mine' } }).value;
    assert.equal(e.env_lr, 0.5);
    assert.equal(e.env_name, 'mine');
  });

  it('an environment placeholder without default and without the variable is an error at its position', () => {
    const f = tmpConfig('a = 1\nb = {{$MMCLS_SURELY_UNSET:}}\n');
    const e = loadError(f, { env: {} });
    assert.equal(e.code, 'config.env');
    assert.deepEqual([e.location.line, e.location.column], [2, 5]);
  });

  it('reports cycles with the chain of files', () => {
    const e = loadError(fx('cycle/a.py'));
    assert.equal(e.code, 'config.cycle');
    assert.match(e.message, /a\.py -> b\.py -> c\.py -> a\.py/);
    assert.equal(e.location.file, fx('cycle/c.py'));
    assert.deepEqual([e.location.line, e.location.column], [1, 10]);
  });

  it('rejects duplicate keys among bases with MMEngine\'s words and the two files', () => {
    const e = loadError(fx('dup/child.py'));
    assert.equal(e.code, 'config.duplicate-key');
    assert.match(e.message, /^Duplicate key is not allowed among bases\. Duplicate keys: \{'model'\}/);
    assert.match(e.message, /a\.py and b\.py/);
    assert.deepEqual([e.location.file, e.location.line, e.location.column], [fx('dup/child.py'), 2, 11]);
  });

  it('names a missing base at its entry in _base_', () => {
    const e = loadError(fx('dup/missing.py'));
    assert.equal(e.code, 'config.base-not-found');
    assert.deepEqual([e.location.line, e.location.column], [1, 21]);
  });

  it('dict-over-list without _delete_ is MMEngine\'s TypeError, at the child value', () => {
    const e = loadError(fx('misc/type_clash.py'));
    assert.equal(e.code, 'config.merge');
    assert.match(e.message, /cannot inherit from base because model is a dict in the child config but is of type list/);
    assert.deepEqual([e.location.line, e.location.column], [2, 9]);
  });

  it('rejects MMEngine\'s reserved keys', () => {
    const e = loadError(fx('misc/reserved.py'));
    assert.equal(e.code, 'config.reserved-key');
  });

  it('reports a syntax error at its position (first one thrown, all in analyzeConfig)', () => {
    const e = loadError(fx('misc/syntax_error.py'));
    assert.equal(e.code, 'config.syntax');
    assert.deepEqual([e.location.line, e.location.column], [3, 18]);
    const a = analyzeConfig(fx('misc/syntax_error.py'));
    assert.equal(a.config, undefined);
    assert.equal(a.fileInfo.get(fx('misc/syntax_error.py'))?.syntaxErrors.length, 2);
    assert.deepEqual(a.diagnostics.map((d) => [d.range.line, d.range.column, d.code]), [[3, 18, 'config.syntax'], [5, 8, 'config.syntax']]);
    // The statements that parsed are still evaluated, for the editor.
    assert.deepEqual(a.fileInfo.get(fx('misc/syntax_error.py'))?.values, { optimizer: { type: 'SGD', lr: 0.1 }, y: 2 });
  });

  it('analyzeConfig reports every failing statement, the first as the error', () => {
    const f = tmpConfig("a = 1\nb = undefined_name\nc = 2\nd = open('x')\ne = a + c\n");
    const r = analyzeConfig(f);
    assert.equal(r.error?.code, 'config.name-error');
    assert.deepEqual(r.diagnostics.map((d) => [d.range.line, d.range.column, d.code]), [[2, 5, 'config.name-error'], [4, 5, 'config.unsupported']]);
  });

  it('uses the readFile overlay for unsaved buffers', () => {
    const file = fx('chain/resnet/resnet18_8xb32-300e_in1k.py');
    const c = loadConfig(file, { readFile: (p) => (p === file ? "_base_ = './resnet18_8xb32_in1k.py'\nmodel = dict(backbone=dict(depth=50))\n" : undefined) });
    assert.equal(((c.value.model as ConfigDict).backbone as ConfigDict).depth, 50);
    assert.equal((c.value.train_cfg as ConfigDict).max_epochs, 100);
  });
});

describe('config: caching between loads', () => {
  it('a config that changes a base value gets the right result, and the base stays intact for others', () => {
    const base = tmpConfig("model = dict(a=1, b=[1, 2])\n", 'base.py');
    const dir = path.dirname(base);
    const child = path.join(dir, 'child.py');
    fs.writeFileSync(child, "_base_ = './base.py'\n_base_.model['a'] = 5\n_base_.model.b.append(3)\nx = _base_.model['a']\n");
    assert.deepEqual(loadConfig(base).value, { model: { a: 1, b: [1, 2] } });
    for (let i = 0; i < 2; i++) {
      // MMEngine runs the child on the very dict of its bases, so the change shows in the result.
      assert.deepEqual(loadConfig(child).value, { model: { a: 5, b: [1, 2, 3] }, x: 5 });
      assert.deepEqual(loadConfig(base).value, { model: { a: 1, b: [1, 2] } });
    }
  });

  it('sees a base file change on disk', () => {
    const base = tmpConfig('depth = 18\n', 'base.py');
    const child = path.join(path.dirname(base), 'child.py');
    fs.writeFileSync(child, "_base_ = './base.py'\nx = depth_ = 1\n");
    assert.equal(loadConfig(child).value.depth, 18);
    fs.writeFileSync(base, 'depth = 101\n');
    const t = new Date(Date.now() + 5000);
    fs.utimesSync(base, t, t);
    // Files are checked on disk at most every STAT_INTERVAL_MS; clearing the file's cache entry
    // (what the language server does on a change notification) makes the change show at once...
    clearConfigCache(base);
    assert.equal(loadConfig(child).value.depth, 101);
    // ...and without it, it shows once the interval has passed.
    fs.writeFileSync(base, 'depth = 152\n');
    const t2 = new Date(Date.now() + 10000);
    fs.utimesSync(base, t2, t2);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, STAT_INTERVAL_MS + 20);
    assert.equal(loadConfig(child).value.depth, 152);
  });
});

describe('config: source map', () => {
  const cfg = loadConfig(fx('chain/resnet/resnet18_8xb32-300e_in1k.py'));
  const child = fx('chain/resnet/resnet18_8xb32-300e_in1k.py');
  const model = fx('chain/_base_/models/resnet18.py');

  it('points each key path at the value that won, and lists what it overrode', () => {
    const depth = cfg.sourceMap.get('model.backbone.depth');
    assert.ok(depth);
    assert.equal(depth.file, child);
    assert.deepEqual(depth.range, { line: 5, column: 25, endLine: 5, endColumn: 27 });
    assert.deepEqual(depth.keyRange, { line: 5, column: 19, endLine: 5, endColumn: 24 });
    assert.equal(depth.overridden.length, 1);
    assert.equal(depth.overridden[0].file, model);
    assert.equal(depth.overridden[0].value, 18);
    assert.deepEqual(depth.overridden[0].range, { line: 6, column: 15, endLine: 6, endColumn: 17 });
  });

  it('keeps base positions for keys the child did not touch, and reaches into lists', () => {
    const style = cfg.sourceMap.get('model.backbone.style');
    assert.equal(style?.file, model);
    assert.equal(style?.overridden.length, 0);
    const scale = cfg.sourceMap.get('train_dataloader.dataset.pipeline.1.scale');
    assert.ok(scale);
    assert.equal(scale.file, fx('chain/_base_/datasets/imagenet_bs32.py'));
    assert.equal(scale.range.line, 10);
  });

  it('records values set by --cfg-options', () => {
    const c = loadConfig(fx('chain/resnet/resnet18_8xb32-300e_in1k.py'), { cfgOptions: ['model.backbone.depth=101', 'train_dataloader.dataset.pipeline.2.prob=0.0'] });
    const d = c.sourceMap.get('model.backbone.depth');
    assert.equal(d?.file, '--cfg-options');
    assert.deepEqual(d?.overridden.map((o) => o.value), [18, 34]);
    const p = c.sourceMap.get('train_dataloader.dataset.pipeline.2.prob');
    assert.equal(p?.file, '--cfg-options');
    assert.equal(p?.range.line, 2);
  });
});

describe('config: --cfg-options', () => {
  it('parses values as MMEngine DictAction does', () => {
    const cases: [string, unknown][] = [
      ['1', 1], ['0.5', 0.5], ['0.0', F(0)], ['1e-3', 0.001], ['True', true], ['false', false], ['None', null], ['none', 'none'],
      ['abc', 'abc'], ['(1,3)', T(1, 3)], ['[a,b]', ['a', 'b']], ['[(1,2),(3,4)]', [T(1, 2), T(3, 4)]], ['1,2,3', [1, 2, 3]],
      ['"(1, 3)"', T(1, 3)], ["'[a, b]'", ['a', 'b']], ['[]', []], ['()', T()], ['[1,[2,(3,4)]]', [1, [2, T(3, 4)]]],
    ];
    for (const [text, want] of cases) {
      const v = parseCfgOptionValue(text);
      const holder = { v: null as unknown };
      const c = loadConfig(tmpConfig('x = 0\n'), { cfgOptions: [`x=${text}`] });
      holder.v = view(c.value.x, c.value, 'x');
      assert.deepEqual(holder.v, want, text);
      assert.ok(v !== undefined);
    }
  });

  it('sets nested keys, list items and new keys, and dumps them', () => {
    const c = loadConfig(fx('chain/resnet/resnet18_8xb32_in1k.py'), {
      cfgOptions: ['model.backbone.norm_eval=False', 'train_dataloader.dataset.pipeline.2.prob=0.0', 'val_evaluator.topk=(1,3)', 'optim_wrapper.optimizer.lr=1', 'work_dir=/tmp/x'],
    });
    const v = c.value;
    assert.equal(((v.model as ConfigDict).backbone as ConfigDict).norm_eval, false);
    const pipe = ((v.train_dataloader as ConfigDict).dataset as ConfigDict).pipeline as ConfigDict[];
    assert.deepEqual(view(pipe[2]), { type: 'RandomFlip', prob: F(0), direction: 'horizontal' });
    // The intermediate variable is a separate copy in MMEngine too (the dataloader's list is not the variable's).
    assert.equal((v.train_pipeline as ConfigDict[])[2].prob, 0.5);
    assert.deepEqual(view((v.val_evaluator as ConfigDict).topk), T(1, 3));
    assert.equal(((v.optim_wrapper as ConfigDict).optimizer as ConfigDict).lr, 1);
    assert.equal(v.work_dir, '/tmp/x');
    assert.match(dumpPython(v), /dict\(type='RandomFlip', prob=0\.0, direction='horizontal'\)/);
  });

  it('creates missing nested keys, and a repeated key keeps its first place with the last value', () => {
    const c = loadConfig(tmpConfig('x = 0\n'), { cfgOptions: ['a.b.c=1', 'z=1', 'a.b.d=[1,2]', 'z=2'] });
    assert.deepEqual(c.value, { x: 0, a: { b: { c: 1, d: [1, 2] } }, z: 2 });
    assert.deepEqual(Object.keys(c.value), ['x', 'a', 'z']);
  });

  it('rejects an index past the end of a list and malformed options', () => {
    const f = fx('chain/resnet/resnet18_8xb32_in1k.py');
    let e = loadError(f, { cfgOptions: ['train_pipeline.9.prob=0'] });
    assert.equal(e.code, 'config.cfg-options');
    assert.match(e.message, /Index 9 exceeds the length of list/);
    e = loadError(f, { cfgOptions: ['novalue'] });
    assert.equal(e.code, 'config.cfg-options');
    e = loadError(f, { cfgOptions: ['x=[1,2'] });
    assert.match(e.message, /Imbalanced brackets/);
  });
});

describe('config: dumps', () => {
  const files = [
    'misc/semantics.py', 'chain/resnet/resnet18_8xb32-300e_in1k.py', 'chain/resnet/resnet18_pipeline.py', 'refs/child.py', 'misc/delete.py',
  ];
  for (const rel of files) {
    it(`${rel}: dumpPython re-reads to the same config`, () => {
      const c = loadConfig(fx(rel), { env: {} });
      const text = dumpPython(c.value);
      const again = loadConfig(tmpConfig(text), { env: {} });
      assert.deepEqual(view(again.value), view(c.value));
      assert.equal(dumpPython(again.value), text);
      assert.equal(dumpJson(again.value), dumpJson(c.value));
    });
  }

  it('writes MMEngine pretty_text style', () => {
    const c = loadConfig(tmpConfig("model = dict(type='X', out_indices=(3, ), lr=1.0, names={'a-b': 1}, l=[dict(a=1), dict(b=None)])\n"));
    assert.equal(
      dumpPython(c.value),
      "model = dict(\n    type='X',\n    out_indices=(3, ),\n    lr=1.0,\n    names={'a-b': 1},\n    l=[dict(a=1), dict(b=None)])\n",
    );
  });

  it('writes JSON with tuples as arrays and floats with a decimal point', () => {
    const c = loadConfig(tmpConfig("a = (1, 2.0)\nb = dict(x=None, y=True, z='s')\nc = 1e-4\n"));
    assert.equal(dumpJson(c.value), '{"a": [1, 2.0], "b": {"x": null, "y": true, "z": "s"}, "c": 0.0001}');
    assert.deepEqual(JSON.parse(dumpJson(c.value)), { a: [1, 2], b: { x: null, y: true, z: 's' }, c: 0.0001 });
  });
});

describe('config: hostile input', () => {
  const marker = path.join(os.tmpdir(), `mmcls-pwned-${process.pid}`);
  const cases: [string, string, number, number, string][] = [
    // [source, expected code, line, column, message pattern]
    [`import os\nos.system('touch ${marker}')\n`, 'config.unsupported', 1, 8, "import of 'os'"],
    [`x = 1\nfrom os import system\n`, 'config.unsupported', 2, 1, 'from os import'],
    [`x = __import__('os').system('touch ${marker}')\n`, 'config.unsupported', 1, 5, '__import__'],
    [`x = open('${marker}', 'w')\n`, 'config.unsupported', 1, 5, "'open' is not available"],
    [`x = eval('1')\n`, 'config.unsupported', 1, 5, "'eval'"],
    [`x = exec('1')\n`, 'config.unsupported', 1, 5, "'exec'"],
    [`x = getattr(1, 'real')\n`, 'config.unsupported', 1, 5, "'getattr'"],
    [`x = ().__class__.__bases__[0].__subclasses__()\n`, 'config.unsupported', 1, 8, '__class__'],
    [`y = 'a'\nx = y.__len__()\n`, 'config.unsupported', 2, 7, '__len__'],
    [`f = lambda: 1\n`, 'config.unsupported', 1, 5, 'lambda'],
    [`def f():\n    return 1\n`, 'config.unsupported', 1, 1, "'def'"],
    [`class A:\n    pass\n`, 'config.unsupported', 1, 1, "'class'"],
    [`while True:\n    pass\n`, 'config.unsupported', 1, 1, "'while'"],
    [`x = 1\ny = 'a' * 10**10\n`, 'config.limit', 2, 5, 'too large'],
    [`x = [0] * 10**9\n`, 'config.limit', 1, 5, 'too large'],
    [`x = list(range(10**12))\n`, 'config.limit', 1, 5, 'too large'],
    [`x = range(10**12)\n`, 'config.limit', 0, 0, 'too large'],
    [`x = 10**10**10\n`, 'config.limit', 1, 5, 'integer too large'],
    [`x = [i for i in range(10**6) for j in range(10**6)]\n`, 'config.limit', 1, 0, 'evaluation stopped'],
    [`x = 'a' * 10**6\ny = x + x\n`, 'config.limit', 2, 5, 'too large'],
    [`x = f'{1:1000000000}'\n`, 'config.limit', 1, 8, 'too large'],
    [`x = '-'.join(['a' * 10**6] * 1000)\n`, 'config.limit', 1, 5, 'too large'],
    [`a = [1]\na.append(a)\nb = str(a)\n`, 'config.limit', 3, 5, 'refers to itself'],
    [`x = ${'1+'.repeat(20000)}1\n`, 'config.limit', 1, 5, 'nested'],
    [`b = list(range(10**6))\nx = [i in b for i in range(10**4)]\n`, 'config.limit', 2, 0, 'evaluation stopped'],
    [`s = 'a' * 10**5\nx = [str([s]) for i in range(10**4)]\n`, 'config.limit', 2, 0, 'evaluation stopped'],
    [`b = list(range(10**6))\nx = [sorted(b) for i in range(100)]\n`, 'config.limit', 2, 0, 'evaluation stopped'],
  ];
  for (const [src, code, line, column, pattern] of cases) {
    it(`${src.split('\n')[0].slice(0, 60)}${src.length > 60 ? '…' : ''}`, () => {
      const file = tmpConfig(src);
      const e = loadError(file);
      assert.equal(e.code, code, e.format());
      assert.ok(e.message.includes(pattern), `${e.message} should mention ${pattern}`);
      assert.equal(e.location.file, file);
      // Work limits stop wherever the budget runs out inside the line: check the line only.
      if (line > 0 && column > 0) assert.deepEqual([e.location.line, e.location.column], [line, column], e.format());
      else if (line > 0) assert.equal(e.location.line, line, e.format());
      assert.equal(fs.existsSync(marker), false);
    });
  }
});

describe('config: print-config CLI', function () {
  this.timeout(120_000);
  const root = path.join(__dirname, '..', '..');
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const mainJs = path.join(root, 'dist', 'runtime', 'cli', 'commands', 'print-config.js');
  const run = (args: string[]) => {
    // The real entry point, bin/mmcls, runs the compiled CLI; compile it when this test runs alone.
    const sources = [path.join(root, 'runtime', 'cli', 'commands', 'print-config.ts'), ...fs.readdirSync(path.join(root, 'runtime', 'config')).map((f) => path.join(root, 'runtime', 'config', f))];
    const newest = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
    if (!fs.existsSync(mainJs) || fs.statSync(mainJs).mtimeMs < newest) {
      spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { encoding: 'utf8' });
    }
    return spawnSync(path.join(root, 'bin', 'mmcls'), args, { encoding: 'utf8', cwd: root });
  };

  it('prints a re-readable Python config', () => {
    const r = run(['print-config', fx('chain/resnet/resnet18_8xb32_in1k.py'), '--cfg-options', 'model.backbone.depth=50']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^# Config: /);
    const again = loadConfig(tmpConfig(r.stdout));
    assert.equal(((again.value.model as ConfigDict).backbone as ConfigDict).depth, 50);
    assert.deepEqual(view(again.value), view(loadConfig(fx('chain/resnet/resnet18_8xb32_in1k.py'), { cfgOptions: ['model.backbone.depth=50'] }).value));
  });

  it('prints one JSON line per config, errors included, and exits 1 when one failed', () => {
    const r = run(['print-config', fx('chain/resnet/resnet18_8xb32_in1k.py'), fx('cycle/a.py'), fx('refs/base.py'), '--format', 'json']);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, '');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.equal(lines[0].file, fx('chain/resnet/resnet18_8xb32_in1k.py'));
    assert.deepEqual(lines[0].config.val_evaluator, { type: 'Accuracy', topk: [1, 5] });
    assert.equal(lines[1].file, fx('cycle/a.py'));
    assert.equal(lines[1].error.file, fx('cycle/c.py'));
    assert.equal(lines[1].error.line, 1);
    assert.equal(lines[1].error.column, 10);
    assert.match(lines[1].error.message, /circular/);
    assert.equal(lines[2].config.size, 224);
  });

  it('prints user errors without a stack trace', () => {
    const r = run(['print-config', fx('misc/syntax_error.py')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /syntax_error\.py:3:18: SyntaxError/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});

describe('config: expressions that start with a primary (parser fast path)', () => {
  it('keeps precedence and associativity when an operator follows the first operand', () => {
    const c = loadConfig(
      tmpConfig(
        [
          'd = dict(k=2)',
          'a = d["k"] + 3 * 4',          // 14
          'b = [2][0] ** 3 ** 2',        // 2 ** 9 = 512
          'c = -2 ** 2',                 // -(2 ** 2) = -4
          'e = (1, 2)[1] == 2 and 3 in [3] and 4 not in [5]',
          'f = 10 - 2 - 3',              // 5
          'g = 1 if d else 2',
          'h = not d["k"]',
          'i = d is not None',
          'j = "ab" "cd" * 2',           // implicit concatenation first: 'abcdabcd'
          'k = dict(x=1 < 2 < 3, y=7 // 2 % 3)',
          'l = 2 << 1 | 1 & 3 ^ 4',      // (2 << 1) | ((1 & 3) ^ 4) = 4 | 5 = 5
          'm = {1: 2}[1] * 5, 6',
        ].join('\n') + '\n',
      ),
    );
    const v = c.value;
    assert.equal(v.a, 14);
    assert.equal(v.b, 512);
    assert.equal(v.c, -4);
    assert.equal(v.e, true);
    assert.equal(v.f, 5);
    assert.equal(v.g, 1);
    assert.equal(v.h, false);
    assert.equal(v.i, true);
    assert.equal(v.j, 'abcdabcd');
    assert.deepEqual(v.k, { x: true, y: 0 });
    assert.equal(v.l, 5);
    assert.ok(isTuple(v.m));
    assert.deepEqual([...(v.m as ConfigValue[])], [10, 6]);
  });

  it('reports the same errors as before for a broken operand', () => {
    const r = analyzeConfig(tmpConfig('a = dict(x=1) +\nb = [1, 2\n'));
    assert.ok(r.error);
    assert.equal(r.error.code, 'config.syntax');
  });
});
