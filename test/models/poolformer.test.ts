import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, PoolFormer, PoolFormerBlock } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';
import { configFigures } from './config_figures';

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

describe('PoolFormer', () => {
  before(useTestBackend);

  describe('presets: parameters as the model zoo publishes them, FLOPs at 224x224', () => {
    // [arch, params M (zoo), FLOPs G of MMEngine's counter in eval mode (the official repository's MACs:
    // 1.8, 3.4, 5.0, 8.8, 11.6); the zoo lists 1.87, 3.51, 5.15, 8.96, 11.80].
    const zoo: [string, number, number, number][] = [
      ['s12', 512, 11.92, 1.822], ['s24', 512, 21.39, 3.412], ['s36', 512, 30.86, 5.003], ['m36', 768, 56.17, 8.801], ['m48', 768, 73.47, 11.590],
    ];
    for (const [arch, c, params, flops] of zoo) {
      it(`PoolFormer-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type: 'PoolFormer', arch }, neck: { type: 'GlobalAveragePooling' },
          head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const r = analyzeComplexity(m, [3, 224, 224]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.005, `params ${r.params}`);
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.001, `flops ${r.flops}`);
      });
    }
  });

  it('state-dict keys: layer scales first in a block, network indices with the down-samplings, norm6', () => {
    const keys = new PoolFormerBlock({ dim: 8 }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys, [
      'layer_scale_1 8', 'layer_scale_2 8', 'norm1.weight 8', 'norm1.bias 8', 'norm2.weight 8', 'norm2.bias 8',
      'mlp.fc1.weight 32x8x1x1', 'mlp.fc1.bias 32', 'mlp.fc2.weight 8x32x1x1', 'mlp.fc2.bias 8',
    ]);
    const m = new PoolFormer({ arch: 's12' });
    const all = m.stateDictKeys().map((e) => e.key);
    assert.equal(all[0], 'patch_embed.proj.weight');
    assert.ok(all.includes('network.1.proj.weight') && all.includes('network.6.1.mlp.fc2.bias'));
    assert.deepEqual(all.slice(-2), ['norm6.weight', 'norm6.bias']);
    assert.deepEqual(m.stateDictKeys().find((e) => e.key === 'network.5.proj.weight')!.shape, [512, 320, 3, 3]);
    // Every odd out index is a down-sampling output with the next stage's channels.
    const n = new PoolFormer({ arch: 's12', out_indices: [0, 1, 2, 3, 4, 5, 6] });
    assert.deepEqual(n.stateDictKeys().filter((e) => /^norm\d\.weight$/.test(e.key)).map((e) => e.shape[0]), [64, 128, 128, 320, 320, 512, 512]);
  });

  it('a block computes GroupNorm(1 group), 3x3 average pooling without the padding minus its input, layer scale, 1x1 MLP with GELU (by hand, NCHW)', () => {
    const C = 2, H = 3, W = 4, hid = 8;
    const blk = new PoolFormerBlock({ dim: C, mlp_ratio: 4, layer_scale_init_value: 0.5 });
    const sd: Record<string, StateEntry> = {};
    const put = (k: string, shape: number[], seed: number): Float32Array => {
      const d = seq(shape.reduce((a, b) => a * b, 1), seed);
      sd[k] = { data: d, shape };
      return d;
    };
    const ls1 = put('layer_scale_1', [C], 1), ls2 = put('layer_scale_2', [C], 2);
    const g1 = put('norm1.weight', [C], 3), b1 = put('norm1.bias', [C], 4);
    const g2 = put('norm2.weight', [C], 5), b2 = put('norm2.bias', [C], 6);
    const w1 = put('mlp.fc1.weight', [hid, C, 1, 1], 7), c1 = put('mlp.fc1.bias', [hid], 8);
    const w2 = put('mlp.fc2.weight', [C, hid, 1, 1], 9), c2 = put('mlp.fc2.bias', [C], 10);
    blk.loadStateDict(sd);
    blk.eval();
    const x = seq(C * H * W, 11);
    const ix = (c: number, h: number, w: number): number => (c * H + h) * W + w;
    const gn = (v: Float32Array, g: Float32Array, b: Float32Array): Float64Array => {
      let mean = 0;
      for (const e of v) mean += e;
      mean /= v.length;
      let vr = 0;
      for (const e of v) vr += (e - mean) ** 2;
      vr /= v.length;
      const out = new Float64Array(v.length);
      for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) out[c * H * W + i] = ((v[c * H * W + i] - mean) / Math.sqrt(vr + 1e-5)) * g[c] + b[c];
      return out;
    };
    const n1 = gn(x, g1, b1);
    const y = new Float32Array(x);
    for (let c = 0; c < C; c++) {
      for (let h = 0; h < H; h++) {
        for (let w = 0; w < W; w++) {
          let s = 0, k = 0;
          for (let dh = -1; dh <= 1; dh++) for (let dw = -1; dw <= 1; dw++) {
            const hh = h + dh, ww = w + dw;
            if (hh >= 0 && hh < H && ww >= 0 && ww < W) { s += n1[ix(c, hh, ww)]; k++; }
          }
          y[ix(c, h, w)] = x[ix(c, h, w)] + ls1[c] * (s / k - n1[ix(c, h, w)]);
        }
      }
    }
    const n2 = gn(y, g2, b2);
    const out = new Float32Array(y);
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      const hidden = Array.from({ length: hid }, (_, j) => gelu(c1[j] + Array.from({ length: C }, (_, c) => w1[j * C + c] * n2[ix(c, h, w)]).reduce((a, b) => a + b, 0)));
      for (let c = 0; c < C; c++) out[ix(c, h, w)] += ls2[c] * (c2[c] + hidden.reduce((a, v, j) => a + w2[c * hid + j] * v, 0));
    }
    const got = tf.tidy(() => nhwcToNchw(blk.forward(nchwToNhwc(x, [1, C, H, W]))));
    assert.ok(maxAbsDiff(got, out) < 1e-5, `max diff ${maxAbsDiff(got, out)}`);
    blk.dispose();
  });

  it('outputs, out_indices and frozen stages (the input patch embedding is frozen from frozen_stages=0, as in MMCls)', () => {
    const arch = { layers: [1, 1, 1, 1], embed_dims: [8, 16, 24, 32] };
    const m = new PoolFormer({ arch, out_indices: [0, 3, -1] });
    const x = tf.zeros([1, 32, 32, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[1, 8, 8, 8], [1, 2, 2, 24], [1, 1, 1, 32]]);
    assert.deepEqual(m.outIndices, [0, 3, 6]);
    assert.equal(m.patchEmbed.proj.weight.requiresGrad, false);
    assert.ok(m.network.at(0).parameters().every((p) => p.requiresGrad));
    const f = new PoolFormer({ arch, frozen_stages: 2, out_indices: [0, 6] });
    f.train();
    assert.ok(f.network.at(0).parameters().every((p) => !p.requiresGrad) && f.network.at(1).parameters().every((p) => !p.requiresGrad));
    assert.ok(f.network.at(2).parameters().every((p) => p.requiresGrad));
    assert.equal(f.getChild('norm0')!.parameters()[0].requiresGrad, false);
    assert.equal(f.getChild('norm0')!.training, false);
    assert.throws(() => new PoolFormer({ arch: 'x' as 's12' }), /Unavailable arch/);
    tf.dispose([x, ...outs]);
    m.dispose();
  });

  it('one training step of a tiny PoolFormer gives every trainable parameter a finite, non-zero gradient', () => {
    checkGradients({ type: 'PoolFormer', arch: { layers: [1, 1, 1, 1], embed_dims: [8, 16, 24, 32] }}, { type: 'GlobalAveragePooling' }, 32, 32);
  });

  describe('configs: the zoo parameter counts at 224x224', () => {
    const cases: [string, number, number][] = [
      ['s12', 11.92, 1.822], ['s24', 21.39, 3.412], ['s36', 30.86, 5.003], ['m36', 56.17, 8.801], ['m48', 73.47, 11.590],
    ];
    for (const [arch, params, flops] of cases) {
      it(`configs/poolformer/poolformer-${arch}_32xb128_in1k.py`, () => {
        const r = configFigures(`poolformer/poolformer-${arch}_32xb128_in1k.py`);
        assert.deepEqual(r.inputShape, [3, 224, 224]);
        assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.001, `flops ${r.flops}`);
      });
    }
  });
});
