import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ConvNeXt, ConvNeXtBlock, ImageClassifier } from '../../runtime/models';
import { GRN } from '../../runtime/models/utils/grn';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { MmclsError } from '../../runtime/errors';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';

/** erf by its Taylor series (float64; |x| < 4 is all the tests need). */
function erf(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));

describe('ConvNeXt', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224 as the model zoo publishes them', () => {
    // [arch, head in_channels, params M, FLOPs G] for ConvNeXt (V1) and ConvNeXt V2 (use_grn, no layer scale).
    const v1: [string, number, number, number][] = [
      ['tiny', 768, 28.59, 4.46], ['small', 768, 50.22, 8.69], ['base', 1024, 88.59, 15.36], ['large', 1536, 197.77, 34.37], ['xlarge', 2048, 350.2, 60.93],
    ];
    const v2: [string, number, number, number][] = [
      ['atto', 320, 3.71, 0.55], ['femto', 384, 5.23, 0.78], ['pico', 512, 9.07, 1.37], ['nano', 640, 15.62, 2.45],
      ['tiny', 768, 28.64, 4.47], ['base', 1024, 88.72, 15.38], ['large', 1536, 197.96, 34.4], ['huge', 2816, 660.29, 115.0],
    ];
    const check = (backbone: Record<string, unknown>, inCh: number, params: number, flops: number): void => {
      const m = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone, head: { type: 'LinearClsHead', num_classes: 1000, in_channels: inCh } });
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.ok(Math.abs(r.params / 1e6 - params) <= 0.006, `params ${r.params}`);
      assert.ok(Math.abs(r.flops / 1e9 - flops) / flops <= 0.01, `flops ${r.flops}`);
    };
    for (const [arch, c, p, f] of v1) it(`ConvNeXt-${arch}`, () => check({ type: 'ConvNeXt', arch }, c, p, f));
    for (const [arch, c, p, f] of v2) it(`ConvNeXt-V2-${arch}`, () => check({ type: 'ConvNeXt', arch, use_grn: true, layer_scale_init_value: 0 }, c, p, f));
  });

  it('state-dict keys of a block: layer scale first, GRN after the second point-wise layer (V2)', () => {
    const keys = (o: Record<string, unknown>): string[] => new ConvNeXtBlock({ in_channels: 8, ...o }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys({}), [
      'gamma 8', 'depthwise_conv.weight 8x1x7x7', 'depthwise_conv.bias 8', 'norm.weight 8', 'norm.bias 8',
      'pointwise_conv1.weight 32x8', 'pointwise_conv1.bias 32', 'pointwise_conv2.weight 8x32', 'pointwise_conv2.bias 8',
    ]);
    assert.deepEqual(keys({ use_grn: true, layer_scale_init_value: 0, linear_pw_conv: false }), [
      'depthwise_conv.weight 8x1x7x7', 'depthwise_conv.bias 8', 'norm.weight 8', 'norm.bias 8',
      'pointwise_conv1.weight 32x8x1x1', 'pointwise_conv1.bias 32', 'pointwise_conv2.weight 8x32x1x1', 'pointwise_conv2.bias 8',
      'grn.gamma 32', 'grn.beta 32',
    ]);
  });

  it('a block computes dwconv 7x7, LayerNorm (eps 1e-6), linear, GELU, linear, layer scale, residual (by hand, NCHW)', () => {
    const C = 3;
    const H = 4;
    const W = 5;
    const M = 4 * C;
    const x = seq(C * H * W, 3);
    const dw = seq(C * 49, 4).map((v) => v * 0.3);
    const dwb = seq(C, 5).map((v) => v * 0.1);
    const lnw = seq(C, 6).map((v) => 1 + 0.2 * v);
    const lnb = seq(C, 7).map((v) => 0.1 * v);
    const w1 = seq(M * C, 8).map((v) => v * 0.5);
    const b1 = seq(M, 9).map((v) => v * 0.1);
    const w2 = seq(C * M, 10).map((v) => v * 0.3);
    const b2 = seq(C, 11).map((v) => v * 0.1);
    const gamma = seq(C, 12).map((v) => 0.5 + v);
    const state = (linear: boolean): Map<string, StateEntry> =>
      new Map<string, StateEntry>([
        ['gamma', { data: gamma, shape: [C] }],
        ['depthwise_conv.weight', { data: dw, shape: [C, 1, 7, 7] }],
        ['depthwise_conv.bias', { data: dwb, shape: [C] }],
        ['norm.weight', { data: lnw, shape: [C] }],
        ['norm.bias', { data: lnb, shape: [C] }],
        ['pointwise_conv1.weight', { data: w1, shape: linear ? [M, C] : [M, C, 1, 1] }],
        ['pointwise_conv1.bias', { data: b1, shape: [M] }],
        ['pointwise_conv2.weight', { data: w2, shape: linear ? [C, M] : [C, M, 1, 1] }],
        ['pointwise_conv2.bias', { data: b2, shape: [C] }],
      ]);
    // Reference in plain float64, NCHW.
    const expected = new Float32Array(C * H * W);
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const d = new Array<number>(C).fill(0);
        for (let c = 0; c < C; c++) {
          let s = dwb[c];
          for (let ki = 0; ki < 7; ki++) {
            for (let kj = 0; kj < 7; kj++) {
              const ii = i + ki - 3;
              const jj = j + kj - 3;
              if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += dw[c * 49 + ki * 7 + kj] * x[(c * H + ii) * W + jj];
            }
          }
          d[c] = s;
        }
        const mean = d.reduce((a, b) => a + b, 0) / C;
        const variance = d.reduce((a, b) => a + (b - mean) ** 2, 0) / C;
        const n = d.map((v, c) => ((v - mean) / Math.sqrt(variance + 1e-6)) * lnw[c] + lnb[c]);
        const h = Array.from({ length: M }, (_, m) => gelu(b1[m] + n.reduce((a, v, c) => a + w1[m * C + c] * v, 0)));
        for (let c = 0; c < C; c++) {
          const y = b2[c] + h.reduce((a, v, m) => a + w2[c * M + m] * v, 0);
          expected[(c * H + i) * W + j] = x[(c * H + i) * W + j] + gamma[c] * y;
        }
      }
    }
    for (const linear of [true, false]) {
      const block = new ConvNeXtBlock({ in_channels: C, linear_pw_conv: linear });
      block.loadStateDict(state(linear));
      block.eval();
      const got = tf.tidy(() => nhwcToNchw(block.forward(nchwToNhwc(x, [1, C, H, W]))));
      assert.ok(maxAbsDiff(got, expected) < 1e-5, `linear_pw_conv=${linear}: ${maxAbsDiff(got, expected)}`);
      block.dispose();
    }
  });

  it('GRN: gamma * (x * ||x||_HW / mean_C ||x||_HW) + beta + x (by hand)', () => {
    const [H, W, C] = [2, 3, 4];
    const x = seq(H * W * C, 21);
    const g = seq(C, 22);
    const b = seq(C, 23);
    const grn = new GRN(C);
    grn.loadStateDict(new Map<string, StateEntry>([['gamma', { data: g, shape: [C] }], ['beta', { data: b, shape: [C] }]]));
    const norms = Array.from({ length: C }, (_, c) => {
      let s = 0;
      for (let p = 0; p < H * W; p++) s += x[p * C + c] ** 2;
      return Math.sqrt(s);
    });
    const meanNorm = norms.reduce((a, v) => a + v, 0) / C;
    const expected = x.map((v, k) => g[k % C] * v * (norms[k % C] / (meanNorm + 1e-6)) + b[k % C] + v);
    const got = tf.tidy(() => grn.forward(tf.tensor4d(x, [1, H, W, C])).dataSync());
    assert.ok(maxAbsDiff(got, expected) < 1e-5);
  });

  it('final norm on the averaged map (gap_before_final_norm) or on the map; out_indices; shapes and FLOPs', () => {
    const arch = { depths: [1, 1], channels: [8, 16] };
    const gap = new ConvNeXt({ arch, out_indices: [0, 1], stem_patch_size: 2 });
    const raw = new ConvNeXt({ arch, out_indices: [0, 1], stem_patch_size: 2, gap_before_final_norm: false });
    raw.loadStateDict(gap.stateDict());
    gap.eval();
    raw.eval();
    assert.deepEqual(gap.stateDictKeys().map((e) => e.key).filter((k) => k.startsWith('norm')), ['norm0.weight', 'norm0.bias', 'norm1.weight', 'norm1.bias']);
    const x = tf.tensor4d(seq(2 * 8 * 8 * 3, 31), [2, 8, 8, 3]);
    const outs = gap.forward(x) as tf.Tensor[];
    const maps = raw.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((t) => t.shape), [[2, 8], [2, 16]]);
    assert.deepEqual(maps.map((t) => t.shape), [[2, 4, 4, 8], [2, 2, 2, 16]]);
    // The GAP output is LayerNorm(eps 1e-6, weight 1, bias 0 as initialised) of the stage output's spatial mean.
    const stage0 = tf.tidy(() => gap.stages.at(0).forward(gap.downsampleLayers.at(0).forward(x)).arraySync() as number[][][][]);
    const got0 = outs[0].arraySync() as number[][];
    for (let n = 0; n < 2; n++) {
      const avg = Array.from({ length: 8 }, (_, c) => stage0[n].flat().reduce((a, px) => a + px[c], 0) / 16);
      const mu = avg.reduce((a, v) => a + v, 0) / 8;
      const sd = Math.sqrt(avg.reduce((a, v) => a + (v - mu) ** 2, 0) / 8 + 1e-6);
      assert.ok(maxAbsDiff(got0[n], avg.map((v) => (v - mu) / sd)) < 1e-4);
    }
    const shapes = analyzeComplexity(gap, [3, 8, 8]);
    assert.deepEqual(shapes.outputShape, [[1, 8], [1, 16]]);
    // Stem conv 2x2/2 (3->8 at 4x4) + LN, one block at 4x4 (dw 7x7, LN, 8->32, 32->8), then 5 x C for norm0 on [8].
    const stage0Flops = 16 * 8 * 49 + 5 * 128 + 16 * 8 * 32 * 2;
    const row = (n: string): number => shapes.modules.find((m) => m.name === n)!.flops;
    assert.equal(row('downsample_layers.0'), 16 * 8 * 3 * 4 + 5 * 128);
    assert.equal(row('stages.0'), stage0Flops);
    assert.equal(row('norm0'), 5 * 8);
    assert.equal(row('stages'), row('stages.0') + row('stages.1'));
    tf.dispose([x, ...outs, ...maps]);
    gap.dispose();
    raw.dispose();
  });

  it('frozen_stages freezes the first downsample layers and stages (gradients and eval mode)', () => {
    const m = new ConvNeXt({ arch: { depths: [1, 1, 1], channels: [8, 16, 32] }, frozen_stages: 2 });
    m.train();
    for (const [name, p] of m.namedParameters()) {
      const frozen = /^(downsample_layers|stages)\.[01]\./.test(name);
      assert.equal(p.requiresGrad, !frozen, name);
    }
    assert.equal(m.stages.at(1).training, false);
    assert.equal(m.stages.at(2).training, true);
    assert.equal(m.outIndices.join(), '2');
  });

  it('rejects unknown arch names and malformed arch dicts', () => {
    assert.throws(() => new ConvNeXt({ arch: 'tinyy' as 'tiny' }), (e: unknown) => e instanceof MmclsError && /tinyy/.test(e.message) && /tiny/.test(e.message));
    assert.throws(() => new ConvNeXt({ arch: { depths: [1, 1], channels: [8] } }), MmclsError);
  });
});
