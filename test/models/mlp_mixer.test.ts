import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, MixerBlock, MlpMixer } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';
import { configFigures } from './config_figures';

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

describe('MlpMixer', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224', () => {
    // Zoo: Mixer-B/16 59.88M 12.61G, Mixer-L/16 208.2M 44.57G. Those FLOPs count LayerNorm 2 per element (MMCV's
    // counter); MMEngine's counts 5, which gives 12.620G and 44.596G (the linear and conv parts are equal).
    const zoo: [string, number, number, number, number][] = [['b', 768, 59.88, 12.6198, 12.61], ['l', 1024, 208.2, 44.5958, 44.57]];
    for (const [arch, c, params, flops, zooFlops] of zoo) {
      it(`Mixer-${arch.toUpperCase()}/16`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type: 'MlpMixer', arch, patch_size: 16 }, neck: { type: 'GlobalAveragePooling', dim: 1 },
          head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const r = analyzeComplexity(m, [3, 224, 224]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.005, `params ${r.params}`);
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.0001, `flops ${r.flops}`);
        // With LayerNorm at 2 per element and the conv bias counted (MMCV), the zoo figure comes out.
        const ln = r.byOperator.layer_norm;
        const mmcv = (r.flops - ln + (2 / 5) * ln + 196 * c) / 1e9;
        assert.ok(Math.abs(mmcv - zooFlops) <= 0.005, `mmcv-style ${mmcv}`);
      });
    }
  });

  it('state-dict keys: token_mix / channel_mix FFNs, ln1/ln2 per block (build_norm_layer names), the final ln1', () => {
    const keys = new MixerBlock({ num_tokens: 4, embed_dims: 6, tokens_mlp_dims: 3, channels_mlp_dims: 8 }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys, [
      'ln1.weight 6', 'ln1.bias 6', 'token_mix.layers.0.0.weight 3x4', 'token_mix.layers.0.0.bias 3', 'token_mix.layers.1.weight 4x3', 'token_mix.layers.1.bias 4',
      'ln2.weight 6', 'ln2.bias 6', 'channel_mix.layers.0.0.weight 8x6', 'channel_mix.layers.0.0.bias 8', 'channel_mix.layers.1.weight 6x8', 'channel_mix.layers.1.bias 6',
    ]);
    const m = new MlpMixer({ arch: 's', img_size: 64, patch_size: 16 });
    const all = m.stateDictKeys().map((e) => e.key);
    assert.deepEqual(all.slice(0, 2), ['patch_embed.projection.weight', 'patch_embed.projection.bias']);
    assert.deepEqual(all.slice(-2), ['ln1.weight', 'ln1.bias']);
    assert.equal(all.filter((k) => k.endsWith('token_mix.layers.0.0.weight')).length, 8);
    assert.deepEqual(m.stateDictKeys().find((e) => e.key === 'layers.0.token_mix.layers.0.0.weight')!.shape, [256, 16]);
  });

  it('a block computes token mixing over the transposed LayerNorm output and channel mixing, with residuals (by hand)', () => {
    const L = 3, C = 4, T = 2, F = 5;
    const blk = new MixerBlock({ num_tokens: L, embed_dims: C, tokens_mlp_dims: T, channels_mlp_dims: F });
    const sd: Record<string, StateEntry> = {};
    const put = (key: string, shape: number[], seed: number): Float32Array => {
      const d = seq(shape.reduce((a, b) => a * b, 1), seed);
      sd[key] = { data: d, shape };
      return d;
    };
    const g1 = put('ln1.weight', [C], 1), b1 = put('ln1.bias', [C], 2);
    const t1 = put('token_mix.layers.0.0.weight', [T, L], 3), tb1 = put('token_mix.layers.0.0.bias', [T], 4);
    const t2 = put('token_mix.layers.1.weight', [L, T], 5), tb2 = put('token_mix.layers.1.bias', [L], 6);
    const g2 = put('ln2.weight', [C], 7), b2 = put('ln2.bias', [C], 8);
    const c1 = put('channel_mix.layers.0.0.weight', [F, C], 9), cb1 = put('channel_mix.layers.0.0.bias', [F], 10);
    const c2 = put('channel_mix.layers.1.weight', [C, F], 11), cb2 = put('channel_mix.layers.1.bias', [C], 12);
    blk.loadStateDict(sd);
    blk.eval();
    const x = seq(L * C, 13);
    const ln = (v: ArrayLike<number>, g: ArrayLike<number>, b: ArrayLike<number>): number[] => {
      const o: number[] = [];
      for (let l = 0; l < L; l++) {
        const row = Array.from({ length: C }, (_, c) => v[l * C + c]);
        const m = row.reduce((a, e) => a + e, 0) / C;
        const vr = row.reduce((a, e) => a + (e - m) ** 2, 0) / C;
        row.forEach((e, c) => o.push(((e - m) / Math.sqrt(vr + 1e-5)) * g[c] + b[c]));
      }
      return o;
    };
    const n1 = ln(x, g1, b1);
    const y = Array.from(x);
    for (let c = 0; c < C; c++) {
      const hid = Array.from({ length: T }, (_, t) => gelu(tb1[t] + Array.from({ length: L }, (_, l) => t1[t * L + l] * n1[l * C + c]).reduce((a, e) => a + e, 0)));
      for (let l = 0; l < L; l++) y[l * C + c] += tb2[l] + hid.reduce((a, h, t) => a + t2[l * T + t] * h, 0);
    }
    const n2 = ln(y, g2, b2);
    const out = [...y];
    for (let l = 0; l < L; l++) {
      const hid = Array.from({ length: F }, (_, f) => gelu(cb1[f] + Array.from({ length: C }, (_, c) => c1[f * C + c] * n2[l * C + c]).reduce((a, e) => a + e, 0)));
      for (let c = 0; c < C; c++) out[l * C + c] += cb2[c] + hid.reduce((a, h, f) => a + c2[c * F + f] * h, 0);
    }
    const got = tf.tidy(() => blk.forward(tf.tensor3d(x, [1, L, C])).dataSync());
    assert.ok(maxAbsDiff(got, out) < 1e-5, `max diff ${maxAbsDiff(got, out)}`);
    blk.dispose();
  });

  it('outputs [N, L, C] after the final norm, out_indices, fixed input size, init of the FFNs', () => {
    const arch = { embed_dims: 8, num_layers: 3, tokens_mlp_dims: 4, channels_mlp_dims: 16 };
    const m = new MlpMixer({ arch, img_size: 32, patch_size: 8, out_indices: [0, -1] });
    assert.deepEqual(m.outIndices, [0, 2]);
    const x = tf.zeros([2, 32, 32, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[2, 16, 8], [2, 16, 8]]);
    const bad = tf.zeros([1, 16, 16, 3]);
    assert.throws(() => m.forward(bad), /doesn't support dynamic input shape/);
    assert.throws(() => new MlpMixer({ arch, img_size: 32, patch_size: 8, out_indices: [3] }), /Invalid out_indices/);
    assert.throws(() => new MlpMixer({ arch: { embed_dims: 8 } as typeof arch }), /Custom arch needs/);
    m.initWeights();
    const blk = m.layers.at(0);
    const b = blk.tokenMix.stateDictKeys().find((e) => e.key === 'layers.0.0.bias')!.tensor.variable.dataSync();
    assert.ok(b.every((v) => Math.abs(v) < 1e-5) && b.some((v) => v !== 0), 'N(0, 1e-6) biases');
    const w = blk.channelMix.stateDictKeys().find((e) => e.key === 'layers.0.0.weight')!.tensor.variable.dataSync();
    const bound = Math.sqrt(6 / (8 + 16));
    assert.ok(w.every((v) => Math.abs(v) <= bound) && Math.max(...w.map(Math.abs)) > 0.5 * bound, 'xavier-uniform weights');
    tf.dispose([x, bad, ...outs]);
  });

  it('one training step of a tiny MLP-Mixer gives every parameter a finite, non-zero gradient', () => {
    checkGradients(
      { type: 'MlpMixer', arch: { embed_dims: 8, num_layers: 2, tokens_mlp_dims: 4, channels_mlp_dims: 16 }, img_size: 32, patch_size: 8},
      { type: 'GlobalAveragePooling', dim: 1 }, 8, 32,
    );
  });

  describe('configs: the zoo parameter counts at 224x224', () => {
    for (const [name, params, flops] of [['base', 59.88, 12.6198], ['large', 208.2, 44.5958]] as [string, number, number][]) {
      it(`configs/mlp_mixer/mlp-mixer-${name}-p16_64xb64_in1k.py`, () => {
        const r = configFigures(`mlp_mixer/mlp-mixer-${name}-p16_64xb64_in1k.py`);
        assert.deepEqual(r.inputShape, [3, 224, 224]);
        assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.0001, `flops ${r.flops}`);
      });
    }
  });
});
