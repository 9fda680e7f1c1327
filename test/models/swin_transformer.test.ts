import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import {
  ImageClassifier,
  PatchMerging,
  ShiftWindowMSA,
  SwinTransformer,
  WindowMSA,
  resizeRelativePositionBiasTable,
  roll2d,
  shiftWindowMask,
  windowPartition,
  windowRelativePositionIndex,
  windowReverse,
} from '../../runtime/models';
import { ClsDataSample } from '../../runtime/structures';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { Module, StateEntry } from '../../runtime/nn/module';
import { seq, useTestBackend } from '../nn/helpers';
import { Vec, attend, linear, naiveShiftWindow, relIndex, splitQkv } from './utils/naive_attention';

const REF = process.env.MMCLS_REFERENCE_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'reference', 'models');

function entries(obj: Record<string, [number[], ArrayLike<number>]>): Map<string, StateEntry> {
  return new Map(Object.entries(obj).map(([k, [shape, data]]) => [k, { shape, data: Float32Array.from(data) }]));
}

/** A module's state dict filled with deterministic values (integer buffers kept). */
function randomState(m: Module, seed: number, scale = 0.5): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  let s = seed;
  for (const { key, shape, tensor } of m.stateDictKeys()) {
    if (tensor.dtype === 'int32') {
      out.set(key, { shape, data: (tensor.variable.dataSync() as Int32Array).slice(), dtype: 'int64' });
      continue;
    }
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(key, { shape, data: seq(n, s++).map((v) => v * scale) });
  }
  return out;
}

function get(sd: Map<string, StateEntry>, key: string): Float32Array {
  return sd.get(key)!.data as Float32Array;
}

describe('SwinTransformer: window helpers', () => {
  before(useTestBackend);

  it('relative position index of a 2x2 window, written out by hand', () => {
    assert.deepEqual(Array.from(windowRelativePositionIndex(2, 2)), [4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
  });

  it("relative position index equals MMCls's double-step sequence plus flip (3x2 window)", () => {
    const [wh, ww] = [3, 2];
    const seq1 = Array.from({ length: wh }, (_, i) => i * (2 * ww - 1));
    const coords = seq1.flatMap((a) => Array.from({ length: ww }, (_, j) => a + j)); // (1, N)
    const n = wh * ww;
    const expected: number[] = [];
    // rel = coords + coords.T, then flip(1).
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) expected.push(coords[a] + coords[n - 1 - b]);
    assert.deepEqual(Array.from(windowRelativePositionIndex(wh, ww)), expected);
  });

  it('window partition / reverse and the cyclic roll on a 4x4 map', () => {
    const x = tf.tensor4d(Array.from({ length: 16 }, (_, i) => i), [1, 4, 4, 1]);
    const w = windowPartition(x, 2);
    assert.deepEqual(w.shape, [4, 2, 2, 1]);
    assert.deepEqual(Array.from(w.dataSync()), [0, 1, 4, 5, 2, 3, 6, 7, 8, 9, 12, 13, 10, 11, 14, 15]);
    assert.deepEqual(Array.from(windowReverse(w, 4, 4, 2).dataSync()), Array.from(x.dataSync()));
    const y = tf.tensor4d(Array.from({ length: 9 }, (_, i) => i), [1, 3, 3, 1]);
    // torch.roll(y, (-1, -1), (1, 2)): out[i][j] = y[(i + 1) % 3][(j + 1) % 3].
    assert.deepEqual(Array.from(roll2d(y, -1).dataSync()), [4, 5, 3, 7, 8, 6, 1, 2, 0]);
    assert.deepEqual(Array.from(roll2d(roll2d(y, -1), 1).dataSync()), Array.from(y.dataSync()));
  });

  it('shifted-window mask of a 4x4 map (window 2, shift 1), by hand', () => {
    const m = shiftWindowMask(4, 4, 2, 1)!;
    assert.equal(m.length, 4 * 4 * 4);
    const win = (k: number): number[] => Array.from(m.slice(k * 16, (k + 1) * 16));
    const Z = 0;
    const X = -100;
    // Window (0,0): rows 0-1, cols 0-1 all in region 0.
    assert.deepEqual(win(0), Array(16).fill(0));
    // Window (0,1): columns 2 (region 1) and 3 (region 2) alternate; tokens 0,2 vs 1,3.
    assert.deepEqual(win(1), [Z, X, Z, X, X, Z, X, Z, Z, X, Z, X, X, Z, X, Z]);
    // Window (1,0): rows 2 and 3 differ; tokens 0,1 vs 2,3.
    assert.deepEqual(win(2), [Z, Z, X, X, Z, Z, X, X, X, X, Z, Z, X, X, Z, Z]);
    // Window (1,1): four regions, only the diagonal attends.
    assert.deepEqual(win(3), [Z, X, X, X, X, Z, X, X, X, X, Z, X, X, X, X, Z]);
    assert.equal(shiftWindowMask(4, 4, 2, 0), null);
  });
});

describe('SwinTransformer: attention against plain loops', () => {
  before(useTestBackend);

  function naiveWindowMsa(sd: Map<string, StateEntry>, pre: string, c: number, heads: number, ws: number, maskValue: number) {
    const table = get(sd, `${pre}relative_position_bias_table`);
    return (tokens: Vec[], labels: number[]): Vec[] => {
      const qkv = tokens.map((t) => linear(t, get(sd, `${pre}qkv.weight`), get(sd, `${pre}qkv.bias`), 3 * c));
      const { q, k, v } = splitQkv(qkv);
      const scale = (c / heads) ** -0.5;
      const y = attend({
        q,
        k,
        v,
        heads,
        score: (h, a, b, dot) => dot * scale + table[relIndex(a, b, ws, ws) * heads + h] + (labels[a] !== labels[b] ? maskValue : 0),
      });
      return y.map((t) => linear(t, get(sd, `${pre}proj.weight`), get(sd, `${pre}proj.bias`), c));
    };
  }

  function runShift(m: ShiftWindowMSA, x: Vec[][]): Vec[][] {
    const h = x.length;
    const w = x[0].length;
    const c = x[0][0].length;
    const t = tf.tensor3d(x.flat(2), [1, h * w, c]);
    const y = m.forward(t, [h, w]).dataSync();
    return Array.from({ length: h }, (_, i) => Array.from({ length: w }, (_, j) => Array.from(y.slice((i * w + j) * c, (i * w + j + 1) * c))));
  }

  const close = (a: Vec[][], b: Vec[][], tol = 1e-4): void => {
    const fa = a.flat(2);
    const fb = b.flat(2);
    assert.equal(fa.length, fb.length);
    let worst = 0;
    fa.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - fb[i]))));
    assert.ok(worst < tol, `max |diff| ${worst}`);
  };

  const mapOf = (h: number, w: number, c: number, s: number): Vec[][] => {
    const d = seq(h * w * c, s);
    return Array.from({ length: h }, (_, i) => Array.from({ length: w }, (_, j) => Array.from(d.slice((i * w + j) * c, (i * w + j + 1) * c))));
  };

  for (const [h, w, shift] of [[4, 4, 0], [4, 4, 1], [5, 3, 1], [6, 6, 1]] as [number, number, number][]) {
    it(`ShiftWindowMSA on a ${h}x${w} map, window 2${shift ? ', shifted' : ''} (padding, roll, -100 region mask, relative bias)`, () => {
      const c = 4;
      const heads = 2;
      const m = new ShiftWindowMSA({ embed_dims: c, num_heads: heads, window_size: 2, shift_size: shift });
      const sd = randomState(m, 11);
      m.loadStateDict(sd);
      m.eval();
      const x = mapOf(h, w, c, 5);
      const expected = naiveShiftWindow(x, 2, shift, naiveWindowMsa(sd, 'w_msa.', c, heads, 2, -100));
      close(runShift(m, x), expected);
    });
  }

  it('a map equal to the window is not shifted unless pad_small_map; a smaller one needs pad_small_map', () => {
    const c = 4;
    const plain = new ShiftWindowMSA({ embed_dims: c, num_heads: 1, window_size: 3, shift_size: 1 });
    const sd = randomState(plain, 3);
    plain.loadStateDict(sd);
    const x = mapOf(3, 3, c, 9);
    const noShift = naiveShiftWindow(x, 3, 0, naiveWindowMsa(sd, 'w_msa.', c, 1, 3, -100));
    close(runShift(plain, x), noShift);
    const padded = new ShiftWindowMSA({ embed_dims: c, num_heads: 1, window_size: 3, shift_size: 1, pad_small_map: true });
    padded.loadStateDict(sd);
    close(runShift(padded, x), naiveShiftWindow(x, 3, 1, naiveWindowMsa(sd, 'w_msa.', c, 1, 3, -100)));
    // 2x2 map, window 3: padded to 3x3 with pad_small_map; refused without it.
    const small = mapOf(2, 2, c, 4);
    close(runShift(padded, small), naiveShiftWindow(small, 3, 1, naiveWindowMsa(sd, 'w_msa.', c, 1, 3, -100)));
    assert.throws(() => runShift(plain, small), (e: unknown) => e instanceof MmclsError && /pad_small_map/.test(e.message));
  });

  it('WindowMSA scales q before q·k (qk_scale overrides head_dims ** -0.5)', () => {
    const m = new WindowMSA({ embed_dims: 4, num_heads: 2, window_size: [2, 2], qk_scale: 0.3 });
    const sd = randomState(m, 21);
    m.loadStateDict(sd);
    const x = mapOf(1, 4, 4, 2)[0];
    const qkv = x.map((t) => linear(t, get(sd, 'qkv.weight'), get(sd, 'qkv.bias'), 12));
    const { q, k, v } = splitQkv(qkv);
    const table = get(sd, 'relative_position_bias_table');
    const want = attend({ q, k, v, heads: 2, score: (hh, a, b, dot) => dot * 0.3 + table[relIndex(a, b, 2, 2) * 2 + hh] }).map((t) =>
      linear(t, get(sd, 'proj.weight'), get(sd, 'proj.bias'), 4),
    );
    const got = m.forward(tf.tensor3d(x.flat(), [1, 4, 4])).dataSync();
    want.flat().forEach((v2, i) => assert.ok(Math.abs(v2 - got[i]) < 1e-5));
  });
});

describe('SwinTransformer: PatchMerging', () => {
  before(useTestBackend);

  it("unfolds 2x2 patches in nn.Unfold's channel order (c * 4 + ki * 2 + kj), norm before the reduction", () => {
    const m = new PatchMerging({ in_channels: 2, out_channels: 8, norm_cfg: null });
    const eye = Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? 1 : 0));
    m.loadStateDict(entries({ 'reduction.weight': [[8, 8], eye] }));
    // x[h][w][c] = 10 * (h * 2 + w) + c on a 2x2 map.
    const x = tf.tensor3d([0, 1, 10, 11, 20, 21, 30, 31], [1, 4, 2]);
    const { tokens, size } = m.forward(x, [2, 2]);
    assert.deepEqual(size, [1, 1]);
    assert.deepEqual(Array.from(tokens.dataSync()), [0, 10, 20, 30, 1, 11, 21, 31]);
    assert.deepEqual(m.stateDictKeys().map((e) => e.key), ['reduction.weight']);
    const withNorm = new PatchMerging({ in_channels: 2, out_channels: 4 });
    assert.deepEqual(withNorm.stateDictKeys().map((e) => `${e.key}:${e.shape}`), ['norm.weight:8', 'norm.bias:8', 'reduction.weight:4,8']);
  });

  it('pads an odd map at the bottom and right (corner) before merging', () => {
    const m = new PatchMerging({ in_channels: 1, out_channels: 4, norm_cfg: null });
    m.loadStateDict(entries({ 'reduction.weight': [[4, 4], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]] }));
    const x = tf.tensor3d(Array.from({ length: 9 }, (_, i) => i + 1), [1, 9, 1]);
    const { tokens, size } = m.forward(x, [3, 3]);
    assert.deepEqual(size, [2, 2]);
    // Patches of the 4x4 zero-padded map [[1,2,3,0],[4,5,6,0],[7,8,9,0],[0,0,0,0]].
    assert.deepEqual(Array.from(tokens.dataSync()), [1, 2, 4, 5, 3, 0, 6, 0, 7, 8, 0, 0, 9, 0, 0, 0]);
  });
});

describe('SwinTransformer: structure, counts and options', () => {
  before(useTestBackend);

  it('swin-tiny: state-dict keys, shapes and order, parameters and FLOPs per module equal the reference measurement', function () {
    const file = path.join(REF, 'swin-tiny_16xb64_in1k.json');
    if (!fs.existsSync(file)) this.skip();
    const ref = JSON.parse(fs.readFileSync(file, 'utf8'));
    const model = MODELS.build<Module>(ref.model_cfg);
    model.eval();
    const keys = model.stateDictKeys();
    assert.deepEqual(
      keys.map((k) => `${k.key}:${k.shape}`),
      ref.state_dict.map(([k, s]: [string, number[]]) => `${k}:${s}`),
    );
    for (const [k] of ref.fill_untouched as [string, string][]) {
      const t = keys.find((e) => e.key === k)!.tensor;
      assert.equal(t.dtype, 'int32');
    }
    assert.equal(model.numParameters(), ref.num_params);
    const cx = analyzeComplexity(model, [3, 224, 224]);
    assert.equal(cx.flops, ref.flops_total);
    assert.equal(cx.byOperator.matmul, ref.complexity.flops_by_operator.matmul);
    for (const row of cx.modules) {
      const r = ref.complexity.per_module[row.name];
      if (!r) continue;
      assert.deepEqual([row.flops, row.params, row.activations], r, row.name);
    }
    model.dispose();
  });

  // Zoo figures (parameters in M). The zoo's FLOPs were counted by MMCV 0.x's hook counter: no
  // attention matmuls and layer norm at 2 per element; fvcore (the reference, and this tool) counts
  // both, so both are checked: the total equals the formula, and the 0.x-style sum the zoo figure.
  const zoo: [string, Record<string, unknown>, number, number, number][] = [
    ['tiny', { arch: 'tiny' }, 224, 28.29, 4.36],
    ['small', { arch: 'small' }, 224, 49.61, 8.52],
    ['base', { arch: 'base' }, 224, 87.77, 15.14],
    ['base 384px (window 12)', { arch: 'base', img_size: 384, stage_cfgs: { block_cfgs: { window_size: 12 } } }, 384, 87.9, 44.49],
    ['large', { arch: 'large' }, 224, 196.53, 34.04],
    ['large 384px (window 12)', { arch: 'large', img_size: 384, stage_cfgs: { block_cfgs: { window_size: 12 } } }, 384, 196.74, 100.04],
  ];
  for (const [name, bb, size, params, flops] of zoo) {
    it(`${name}: ${params}M parameters and ${flops}G (MMCV 0.x counting) as in the model zoo`, () => {
      const arch = String(bb.arch);
      const c = { tiny: 768, small: 768, base: 1024, large: 1536 }[arch]!;
      const m = MODELS.build<Module>({
        type: 'ImageClassifier',
        backbone: { type: 'SwinTransformer', ...bb },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
      });
      m.eval();
      assert.equal(Number((m.numParameters() / 1e6).toFixed(2)), params);
      const o = analyzeComplexity(m, [3, size, size]).byOperator;
      const old = o.conv + o.linear + 0.4 * o.layer_norm + o.adaptive_avg_pool2d;
      assert.ok(Math.abs(old / 1e9 - flops) <= 0.005 * flops, `${old / 1e9} vs ${flops}`);
    });
  }

  it('FLOPs by hand for one stage-0 block of swin-tiny (fvcore: linear, matmul, layer norm)', () => {
    const m = MODELS.build<SwinTransformer>({ type: 'SwinTransformer', arch: 'tiny' });
    const cx = analyzeComplexity(m, [3, 224, 224], { maxDepth: 5 });
    const row = cx.modules.find((r) => r.name === 'stages.0.blocks.0')!;
    const l = 56 * 56;
    const c = 96;
    const linearF = l * c * 3 * c + l * c * c + 2 * l * c * 4 * c;
    const matmul = 2 * 64 * 3 * 49 * 49 * 32;
    const ln = 2 * 5 * l * c;
    assert.equal(row.flops, linearF + matmul + ln);
  });

  it('out_indices, out_after_downsample and the stage norms', () => {
    const arch = { embed_dims: 8, depths: [1, 1, 1], num_heads: [1, 2, 4] };
    const m = new SwinTransformer({ arch, img_size: 32, window_size: 2, out_indices: [0, 1, -1] });
    assert.deepEqual(m.outIndices, [0, 1, 2]);
    const names = m.namedChildren().map(([n]) => n);
    assert.deepEqual(names, ['patch_embed', 'drop_after_pos', 'stages', 'norm0', 'norm1', 'norm2']);
    m.eval();
    const outs = m.forward(tf.zeros([1, 32, 32, 3])) as tf.Tensor[];
    assert.deepEqual(outs.map((t) => t.shape), [[1, 8, 8, 8], [1, 4, 4, 16], [1, 2, 2, 32]]);
    const after = new SwinTransformer({ arch, img_size: 32, window_size: 2, out_indices: [0, 1, 2], out_after_downsample: true });
    after.eval();
    const outs2 = after.forward(tf.zeros([1, 32, 32, 3])) as tf.Tensor[];
    assert.deepEqual(outs2.map((t) => t.shape), [[1, 4, 4, 16], [1, 2, 2, 32], [1, 2, 2, 32]]);
    assert.deepEqual(after.numFeatures, [16, 32, 32]);
    assert.throws(() => new SwinTransformer({ arch: 'huge' as 'tiny' }), MmclsError);
  });

  it('frozen_stages freezes the patch embedding, the stages up to it and their norms', () => {
    const arch = { embed_dims: 8, depths: [1, 1], num_heads: [1, 2] };
    const m = new SwinTransformer({ arch, img_size: 16, window_size: 2, out_indices: [0, 1], frozen_stages: 0 });
    m.train();
    const frozen = m.namedParameters().filter(([, p]) => !p.requiresGrad).map(([n]) => n);
    assert.ok(frozen.length > 0);
    for (const n of frozen) assert.ok(/^(patch_embed|stages\.0|norm0)\./.test(n), n);
    for (const [n, p] of m.namedParameters()) if (/^(patch_embed|stages\.0|norm0)\./.test(n)) assert.equal(p.requiresGrad, false, n);
    assert.equal(m.patchEmbed.training, false);
    assert.equal(m.stages.at(1).training, true);
  });

  it('loading a window-7 checkpoint into a window-12 model interpolates the bias tables (cubic polynomials exactly)', () => {
    const arch = { embed_dims: 4, depths: [1], num_heads: [1] };
    const src = new SwinTransformer({ arch, img_size: 28, out_indices: [0] });
    const dst = new SwinTransformer({ arch, img_size: 48, window_size: 12, out_indices: [0] });
    const sd = randomState(src, 1);
    // Table entry (i, j) of a 13x13 offset grid = a cubic in the geometric offsets MMCls places there.
    const gp = (r: number, n: number): number => (1 - r ** n) / (1 - r);
    let lo = 1.01;
    let hi = 1.5;
    let q = 0;
    while (hi - lo > 1e-6) {
      q = (lo + hi) / 2;
      if (gp(q, 6) > 11) hi = q;
      else lo = q;
    }
    const dis: number[] = [];
    let cur = 1;
    for (let i = 0; i < 6; i++) {
      dis.push(cur);
      cur += q ** (i + 1);
    }
    const xs = [...dis.map((d) => -d).reverse(), 0, ...dis];
    const f = (y: number, x: number): number => 0.5 + 0.1 * x - 0.02 * y + 0.003 * x * y + 1e-4 * x ** 3;
    const table = new Float32Array(169);
    for (let i = 0; i < 13; i++) for (let j = 0; j < 13; j++) table[i * 13 + j] = f(xs[i], xs[j]);
    const key = 'stages.0.blocks.0.attn.w_msa.relative_position_bias_table';
    sd.set(key, { shape: [169, 1], data: table });
    // MMCls drops the checkpoint's index buffer (it is rebuilt for the new window), so a strict
    // load reports it missing, as PyTorch's would.
    const report = dst.loadStateDict(sd, { strict: false });
    assert.equal(report.mismatched.length, 0);
    assert.deepEqual(report.missing, ['stages.0.blocks.0.attn.w_msa.relative_position_index']);
    const got = dst.stateDict().get(key)!;
    assert.deepEqual(got.shape, [529, 1]);
    for (let i = 0; i < 23; i++) {
      for (let j = 0; j < 23; j++) {
        const want = f(Math.max(Math.min(i - 11, xs[12]), xs[0]), Math.max(Math.min(j - 11, xs[12]), xs[0]));
        assert.ok(Math.abs((got.data as Float32Array)[i * 23 + j] - want) < 1e-4, `${i},${j}`);
      }
    }
    // The index buffer is rebuilt, not loaded.
    assert.deepEqual(
      Array.from(dst.stateDict().get('stages.0.blocks.0.attn.w_msa.relative_position_index')!.data as Int32Array),
      Array.from(windowRelativePositionIndex(12, 12)),
    );
    // A constant table stays constant.
    const ones = resizeRelativePositionBiasTable(13, 23, new Float32Array(169 * 2).fill(0.25), 2);
    assert.ok(ones.every((v) => Math.abs(v - 0.25) < 1e-6));
  });

  it("bias-table resampling equals scipy's bicubic grid spline (the interp2d MMCls calls), 13x13 to 23x23", () => {
    const fx = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'models', 'swin_bias_table_resize.json'), 'utf8'));
    const got = resizeRelativePositionBiasTable(fx.src, fx.dst, Float32Array.from(fx.table), fx.heads);
    assert.equal(got.length, fx.expected.length);
    let worst = 0;
    fx.expected.forEach((v: number, i: number) => (worst = Math.max(worst, Math.abs(v - got[i]))));
    assert.ok(worst < 1e-6, `max |diff| ${worst}`);
  });

  it('an absolute position embedding of another grid is interpolated when loading', () => {
    const arch = { embed_dims: 4, depths: [1], num_heads: [1] };
    const src = new SwinTransformer({ arch, img_size: 16, window_size: 2, use_abs_pos_embed: true, out_indices: [0] });
    const dst = new SwinTransformer({ arch, img_size: 32, window_size: 2, use_abs_pos_embed: true, out_indices: [0] });
    const sd = randomState(src, 4);
    sd.set('absolute_pos_embed', { shape: [1, 16, 4], data: new Float32Array(64).fill(0.5) });
    dst.loadStateDict(sd);
    const pe = dst.stateDict().get('absolute_pos_embed')!;
    assert.deepEqual(pe.shape, [1, 64, 4]);
    assert.ok((pe.data as Float32Array).every((v) => Math.abs(v - 0.5) < 1e-5));
  });

  it('one training step of a tiny Swin gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'SwinTransformer', arch: { embed_dims: 8, depths: [2, 2], num_heads: [2, 4] }, window_size: 4, img_size: 36, out_indices: [1], use_abs_pos_embed: true, drop_path_rate: 0 },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
    });
    m.initWeights();
    m.train();
    const x = tf.tensor4d(seq(2 * 36 * 36 * 3, 7), [2, 36, 36, 3]);
    const vars = m.trainableVariables();
    const { value, grads } = tf.variableGrads(
      () => tf.addN(Object.values(m.loss(x, [0, 3].map((l) => new ClsDataSample().set_gt_label(l))))) as tf.Scalar,
      vars,
    );
    assert.ok(Number.isFinite(value.dataSync()[0]));
    assert.equal(Object.keys(grads).length, vars.length);
    const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
    for (const [v, g] of Object.entries(grads)) {
      const d = g.dataSync();
      assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${names.get(v)}`);
      assert.ok(d.some((e) => e !== 0), `zero gradient of ${names.get(v)}`);
    }
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });
});
