import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import {
  ConditionalPositionEncoding,
  GlobalSubsampledAttention,
  ImageClassifier,
  LocallyGroupedSelfAttention,
  PCPVT,
  SVT,
  lsaMask,
} from '../../runtime/models';
import { ClsDataSample } from '../../runtime/structures';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { Module, StateEntry } from '../../runtime/nn/module';
import { seq, useTestBackend } from '../nn/helpers';
import { Vec, attend, layerNorm, linear, splitQkv } from './utils/naive_attention';

function randomState(m: Module, seed: number, scale = 0.5): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  let s = seed;
  for (const { key, shape } of m.stateDictKeys()) {
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(key, { shape, data: seq(n, s++).map((v) => v * scale) });
  }
  return out;
}
const get = (sd: Map<string, StateEntry>, k: string): Float32Array => sd.get(k)!.data as Float32Array;
const tiny = { embed_dims: [8, 16], depths: [2, 2], num_heads: [1, 2], patch_sizes: [4, 2], strides: [4, 2], mlp_ratios: [2, 2], sr_ratios: [2, 1] };

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('Twins: attention layers against plain loops', () => {
  before(useTestBackend);

  it("LSA mask: MMCls's mask[:, -pad_b:] marks every row when pad_b is 0, so only maps padded on both sides are masked", () => {
    const X = -1000;
    const m = lsaMask(4, 4, 2, 1, 1)!;
    // 3x3 map padded to 4x4: row 3 and column 3 are padding.
    assert.deepEqual(Array.from(m.slice(0, 16)), Array(16).fill(0));
    assert.deepEqual(Array.from(m.slice(16, 32)), [0, X, 0, X, X, 0, X, 0, 0, X, 0, X, X, 0, X, 0]);
    assert.deepEqual(Array.from(m.slice(48, 64)), [0, X, X, X, X, 0, 0, 0, X, 0, 0, 0, X, 0, 0, 0]);
    assert.equal(lsaMask(4, 4, 2, 0, 1), null);
    assert.equal(lsaMask(4, 4, 2, 1, 0), null);
    assert.equal(lsaMask(4, 4, 2, 0, 0), null);
  });

  for (const [h, w] of [[3, 3], [4, 3], [4, 4]] as [number, number][]) {
    it(`LocallyGroupedSelfAttention on a ${h}x${w} map, window 2 (zero padding, MMCls mask, crop, projection)`, () => {
      const c = 4;
      const heads = 2;
      const ws = 2;
      const m = new LocallyGroupedSelfAttention({ embed_dims: c, num_heads: heads, qkv_bias: true, window_size: ws });
      const sd = randomState(m, 3);
      m.loadStateDict(sd);
      const x = seq(h * w * c, 6);
      const hp = Math.ceil(h / ws) * ws;
      const wp = Math.ceil(w / ws) * ws;
      const padB = hp - h;
      const padR = wp - w;
      // Python: mask[:, -pad_b:, :] = 1; mask[:, :, -pad_r:] = 1 (a -0 start is the whole axis).
      const marked = (y: number, xx: number): boolean => y >= (padB ? hp - padB : 0) || xx >= (padR ? wp - padR : 0);
      const tok = (y: number, xx: number): Vec => (y < h && xx < w ? Array.from(x.slice((y * w + xx) * c, (y * w + xx + 1) * c)) : new Array(c).fill(0));
      const out: Vec[] = new Array(h * w);
      for (let gy = 0; gy < hp / ws; gy++) {
        for (let gx = 0; gx < wp / ws; gx++) {
          const coords: [number, number][] = [];
          for (let a = 0; a < ws * ws; a++) coords.push([gy * ws + Math.floor(a / ws), gx * ws + (a % ws)]);
          const qkv = coords.map(([y, xx]) => linear(tok(y, xx), get(sd, 'qkv.weight'), get(sd, 'qkv.bias'), 3 * c));
          const { q, k, v } = splitQkv(qkv);
          const scale = (c / heads) ** -0.5;
          const y2 = attend({
            q,
            k,
            v,
            heads,
            score: (_h, a, b, dot) => dot * scale + (marked(...coords[a]) !== marked(...coords[b]) ? -1000 : 0),
          });
          coords.forEach(([y, xx], a) => {
            if (y < h && xx < w) out[y * w + xx] = linear(y2[a], get(sd, 'proj.weight'), get(sd, 'proj.bias'), c);
          });
        }
      }
      const got = m.forward(tf.tensor3d(x, [1, h * w, c]), [h, w]).dataSync();
      assert.ok(maxDiff(got, out.flat()) < 1e-4);
    });
  }

  it('GlobalSubsampledAttention with sr_ratio 2: keys and values from the 2x2-strided convolution and its norm', () => {
    const c = 4;
    const heads = 2;
    const [h, w] = [4, 4];
    const m = new GlobalSubsampledAttention({ embed_dims: c, num_heads: heads, sr_ratio: 2 });
    assert.deepEqual(
      m.stateDictKeys().map((e) => e.key),
      ['proj.weight', 'proj.bias', 'q.weight', 'q.bias', 'kv.weight', 'kv.bias', 'sr.weight', 'sr.bias', 'norm.weight', 'norm.bias'],
    );
    const sd = randomState(m, 8);
    m.loadStateDict(sd);
    const x = seq(h * w * c, 2);
    const tok = (i: number): Vec => Array.from(x.slice(i * c, (i + 1) * c));
    const q = Array.from({ length: h * w }, (_, i) => linear(tok(i), get(sd, 'q.weight'), get(sd, 'q.bias'), c));
    const srW = get(sd, 'sr.weight'); // [out, in, 2, 2]
    const srB = get(sd, 'sr.bias');
    const reduced: Vec[] = [];
    for (let oy = 0; oy < 2; oy++) {
      for (let ox = 0; ox < 2; ox++) {
        const o: Vec = [];
        for (let co = 0; co < c; co++) {
          let s = srB[co];
          for (let ci = 0; ci < c; ci++) {
            for (let ky = 0; ky < 2; ky++) for (let kx = 0; kx < 2; kx++) s += srW[((co * c + ci) * 2 + ky) * 2 + kx] * x[((oy * 2 + ky) * w + ox * 2 + kx) * c + ci];
          }
          o.push(s);
        }
        reduced.push(layerNorm(o, get(sd, 'norm.weight'), get(sd, 'norm.bias')));
      }
    }
    const kv = reduced.map((t) => linear(t, get(sd, 'kv.weight'), get(sd, 'kv.bias'), 2 * c));
    const scale = (c / heads) ** -0.5;
    const y = attend({ q, k: kv.map((t) => t.slice(0, c)), v: kv.map((t) => t.slice(c)), heads, score: (_h, _a, _b, dot) => dot * scale });
    const want = y.map((t) => linear(t, get(sd, 'proj.weight'), get(sd, 'proj.bias'), c)).flat();
    const got = m.forward(tf.tensor3d(x, [1, h * w, c]), [h, w]).dataSync();
    assert.ok(maxDiff(got, want) < 1e-4);
  });

  it('conditional position encoding: depth-wise 3x3 convolution plus the tokens, by hand', () => {
    const pe = new ConditionalPositionEncoding({ in_channels: 1, embed_dims: 1 });
    pe.loadStateDict(new Map([
      ['proj.weight', { shape: [1, 1, 3, 3], data: new Float32Array(9).fill(1) }],
      ['proj.bias', { shape: [1], data: new Float32Array([0.5]) }],
    ]));
    const y = pe.forward(tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 9, 1]), [3, 3]).dataSync();
    // Corner (0,0): 1+2+4+5 + 0.5 + 1; centre: 45 + 0.5 + 5.
    assert.equal(y[0], 13.5);
    assert.equal(y[4], 50.5);
    assert.equal(y[8], 5 + 6 + 8 + 9 + 0.5 + 9);
  });
});

describe('Twins: PCPVT and SVT', () => {
  before(useTestBackend);

  it('PCPVT state-dict order: patch embeddings, stages (proj, q, kv, sr, norm in GSA), position encodings, stage norms', () => {
    const m = new PCPVT({ arch: tiny, qkv_bias: true, norm_after_stage: [false, true], out_indices: [1] });
    const keys = m.stateDictKeys().map((e) => `${e.key}:${e.shape}`);
    assert.deepEqual(keys.slice(0, 4), ['patch_embeds.0.projection.weight:8,3,4,4', 'patch_embeds.0.projection.bias:8', 'patch_embeds.0.norm.weight:8', 'patch_embeds.0.norm.bias:8']);
    const s0 = keys.findIndex((k) => k.startsWith('stages.0.0.'));
    assert.ok(keys.slice(0, s0).every((k) => k.startsWith('patch_embeds.')));
    assert.deepEqual(keys.slice(s0, s0 + 12), [
      'stages.0.0.norm1.weight:8',
      'stages.0.0.norm1.bias:8',
      'stages.0.0.attn.proj.weight:8,8',
      'stages.0.0.attn.proj.bias:8',
      'stages.0.0.attn.q.weight:8,8',
      'stages.0.0.attn.q.bias:8',
      'stages.0.0.attn.kv.weight:16,8',
      'stages.0.0.attn.kv.bias:16',
      'stages.0.0.attn.sr.weight:8,8,2,2',
      'stages.0.0.attn.sr.bias:8',
      'stages.0.0.attn.norm.weight:8',
      'stages.0.0.attn.norm.bias:8',
    ]);
    const pe = keys.findIndex((k) => k.startsWith('position_encodings.'));
    assert.ok(keys.slice(s0, pe).every((k) => k.startsWith('stages.')));
    assert.deepEqual(keys.slice(pe), [
      'position_encodings.0.proj.weight:8,1,3,3',
      'position_encodings.0.proj.bias:8',
      'position_encodings.1.proj.weight:16,1,3,3',
      'position_encodings.1.proj.bias:16',
      'norm_after_stage1.weight:16',
      'norm_after_stage1.bias:16',
    ]);
    assert.throws(() => new PCPVT({ arch: tiny, norm_after_stage: [true] }), MmclsError);
    assert.throws(() => new PCPVT({ arch: { ...tiny, depths: [1] } }), MmclsError);
  });

  it('SVT: locally-grouped attention in the even layers of a stage, global sub-sampled in the odd ones', () => {
    const m = new SVT({ arch: { ...tiny, window_sizes: [2, 2] }, out_indices: [0, 1] });
    const keys = new Set(m.stateDictKeys().map((e) => e.key));
    assert.ok(keys.has('stages.0.0.attn.qkv.weight') && !keys.has('stages.0.0.attn.qkv.bias'));
    assert.ok(keys.has('stages.0.1.attn.q.weight') && keys.has('stages.0.1.attn.sr.weight'));
    assert.ok(keys.has('stages.1.0.attn.qkv.weight') && keys.has('stages.1.1.attn.kv.weight') && !keys.has('stages.1.1.attn.sr.weight'));
    m.eval();
    const outs = m.forward(tf.zeros([1, 24, 24, 3])) as tf.Tensor[];
    assert.deepEqual(outs.map((t) => t.shape), [[1, 6, 6, 8], [1, 3, 3, 16]]);
    assert.deepEqual(analyzeComplexity(m, [3, 24, 24]).outputShape, [[1, 8, 6, 6], [1, 16, 3, 3]]);
  });

  // Zoo figures; its FLOPs are MMCV 0.x's (no attention matmuls, layer norm 2 per element).
  const zoo: [string, string, number, number, number][] = [
    ['PCPVT', 'small', 512, 24.11, 3.67],
    ['PCPVT', 'base', 512, 43.83, 6.45],
    ['PCPVT', 'large', 512, 60.99, 9.51],
    ['SVT', 'small', 512, 24.06, 2.82],
    ['SVT', 'base', 768, 56.07, 8.35],
    ['SVT', 'large', 1024, 99.27, 14.82],
  ];
  for (const [type, arch, c, params, flops] of zoo) {
    it(`${type}-${arch}: ${params}M parameters, ${flops}G in MMCV 0.x counting`, () => {
      const m = MODELS.build<Module>({
        type: 'ImageClassifier',
        backbone: { type, arch, qkv_bias: true, norm_after_stage: [false, false, false, true] },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
      });
      m.eval();
      assert.equal(Number((m.numParameters() / 1e6).toFixed(2)), params);
      const o = analyzeComplexity(m, [3, 224, 224]).byOperator;
      const old = o.conv + o.linear + 0.4 * o.layer_norm + o.adaptive_avg_pool2d;
      assert.ok(Math.abs(old / 1e9 - flops) <= 0.005 * flops, `${old / 1e9} vs ${flops}`);
    });
  }

  it('default initialisation without init_cfg: truncated-normal linear layers with zero bias, unit norms, He-normal convolutions', () => {
    const m = new PCPVT({ arch: { ...tiny, embed_dims: [32, 64] }, qkv_bias: true, out_indices: [1] });
    m.initWeights();
    const sd = m.stateDict();
    for (const [k, e] of sd) {
      const d = e.data as Float32Array;
      if (/(norm\d?|norm_after_stage\d)\.weight$/.test(k)) assert.ok(d.every((v) => v === 1), k);
      if (k.endsWith('.bias')) assert.ok(d.every((v) => v === 0), k);
    }
    const std = (d: Float32Array): number => Math.sqrt(d.reduce((a, v) => a + v * v, 0) / d.length);
    // Patch projection: fan_out = 4 * 4 * 32; depth-wise position encoding: 3 * 3 * 64 / 64.
    const pj = std(sd.get('patch_embeds.0.projection.weight')!.data as Float32Array);
    assert.ok(Math.abs(pj - Math.sqrt(2 / 512)) < 0.15 * Math.sqrt(2 / 512), `${pj}`);
    const peStd = std(sd.get('position_encodings.1.proj.weight')!.data as Float32Array);
    assert.ok(Math.abs(peStd - Math.sqrt(2 / 9)) < 0.15 * Math.sqrt(2 / 9), `${peStd}`);
    const lin = std(sd.get('stages.1.0.ffn.layers.0.0.weight')!.data as Float32Array);
    assert.ok(Math.abs(lin - 0.02) < 0.004, `${lin}`);
  });

  for (const type of ['PCPVT', 'SVT']) {
    it(`one training step of a tiny ${type} gives every parameter a finite, non-zero gradient`, () => {
      const arch = type === 'SVT' ? { ...tiny, window_sizes: [2, 2] } : tiny;
      const m = MODELS.build<ImageClassifier>({
        type: 'ImageClassifier',
        backbone: { type, arch, qkv_bias: true, drop_path_rate: 0, norm_after_stage: [false, true], out_indices: [1] },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
      });
      m.initWeights();
      m.train();
      const x = tf.tensor4d(seq(2 * 28 * 28 * 3, 7), [2, 28, 28, 3]);
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
  }
});
