import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { EdgeNeXt, ImageClassifier } from '../../runtime/models';
import { SDTAEncoder } from '../../runtime/models/backbones/edgenext';
import { ChannelMultiheadAttention } from '../../runtime/models/utils/channel_multihead_attention';
import { PositionEncodingFourier } from '../../runtime/models/utils/position_encoding_fourier';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

/** One training step: every trainable parameter gets a finite, non-zero gradient. */
function checkGradients(m: ImageClassifier, x: tf.Tensor4D): void {
  m.initWeights();
  m.train();
  const samples = [0, 3].map((l) => new ClsDataSample().set_gt_label(l));
  const vars = m.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(m.loss(x, samples))) as tf.Scalar, vars);
  assert.ok(Number.isFinite(value.dataSync()[0]));
  assert.equal(Object.keys(grads).length, vars.length);
  const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
  for (const [v, g] of Object.entries(grads)) {
    const d = g.dataSync();
    assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${names.get(v)}`);
    assert.ok(d.some((e) => e !== 0), `zero gradient of ${names.get(v)}`);
  }
  tf.dispose([value, ...Object.values(grads)]);
}

const TINY = { channels: [8, 16, 24, 32], depths: [1, 2, 1, 2], num_heads: [2, 2, 2, 2] };

describe('EdgeNeXt', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 256x256 as the model zoo publishes them', () => {
    const zoo: [string, number, number, number][] = [
      ['xxsmall', 168, 1.33, 0.261], ['xsmall', 192, 2.34, 0.538], ['small', 304, 5.59, 1.26], ['base', 584, 18.51, 3.84],
    ];
    for (const [arch, c, params, flops] of zoo) {
      it(`EdgeNeXt-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier',
          backbone: { type: 'EdgeNeXt', arch, out_indices: [3], gap_before_final_norm: true },
          head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const r = analyzeComplexity(m, [3, 256, 256]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.006, `params ${r.params}`);
        assert.ok(Math.abs(r.flops / 1e9 - flops) / flops <= 0.005, `flops ${r.flops}`);
      });
    }
  });

  it('SDTA: channel groups of ceil(C / scales), scales - 1 depth-wise convs, keys with the layer scales first', () => {
    const b = new SDTAEncoder({ in_channel: 88, scales: 3, num_heads: 4, use_pos_emb: false });
    assert.equal(b.convChannels, 30);
    assert.equal(b.numConvs, 2);
    const keys = b.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 6), ['gamma_csa 88', 'gamma 88', 'conv_modules.0.weight 30x1x3x3', 'conv_modules.0.bias 30', 'conv_modules.1.weight 30x1x3x3', 'conv_modules.1.bias 30']);
    assert.ok(keys.includes('csa.scale 4x1x1') && keys.includes('csa.qkv.bias 264'));
    const withPos = new SDTAEncoder({ in_channel: 48, scales: 2, num_heads: 4 });
    assert.ok(withPos.stateDictKeys().some((e) => e.key === 'pos_embed.proj.weight' && e.shape.join('x') === '48x64x1x1'));
    // One output channel per input channel: the split, the cascade and the concatenation keep C.
    const x = tf.tensor4d(seq(2 * 3 * 5 * 88, 2), [2, 3, 5, 88]);
    b.eval();
    const y = b.forward(x);
    assert.deepEqual(y.shape, [2, 3, 5, 88]);
    tf.dispose([x, y]);
  });

  it('Fourier position encoding: sin/cos of the normalised row and column index over 10000^(2 floor(k/2) / 32)', () => {
    const pe = new PositionEncodingFourier({ embed_dims: 8 });
    const [H, W] = [3, 4];
    const f = pe.features(H, W);
    for (const [i, j, k] of [[0, 0, 0], [2, 3, 1], [1, 2, 6], [2, 0, 31]]) {
      const y = ((i + 1) / (H + 1e-6)) * 2 * Math.PI;
      const x = ((j + 1) / (W + 1e-6)) * 2 * Math.PI;
      const t = 10000 ** ((2 * Math.floor(k / 2)) / 32);
      const trig = k % 2 === 0 ? Math.sin : Math.cos;
      const base = (i * W + j) * 64;
      assert.ok(Math.abs(f[base + k] - trig(y / t)) < 1e-5, `row feature ${k}`);
      assert.ok(Math.abs(f[base + 32 + k] - trig(x / t)) < 1e-5, `column feature ${k}`);
    }
  });

  it('channel attention: per head softmax(scale * q_n k_n^T) v over channels, q and k normalised along the tokens (by hand)', () => {
    const [B, N, C, h] = [1, 5, 4, 2];
    const d = C / h;
    const att = new ChannelMultiheadAttention({ embed_dims: C, num_heads: h, qkv_bias: true });
    const xs = seq(B * N * C, 9);
    const sd = att.stateDict();
    const scale = [1.5, 0.5];
    sd.set('scale', { data: new Float32Array(scale), shape: [h, 1, 1] });
    att.loadStateDict(sd);
    const wq = sd.get('qkv.weight')!.data as Float32Array; // [3C, C]
    const bq = sd.get('qkv.bias')!.data as Float32Array;
    const wp = sd.get('proj.weight')!.data as Float32Array; // [C, C]
    const bp = sd.get('proj.bias')!.data as Float32Array;
    const qkv = Array.from({ length: N }, (_, n) => Array.from({ length: 3 * C }, (_, o) => bq[o] + Array.from({ length: C }, (_, c) => wq[o * C + c] * xs[n * C + c]).reduce((a, b) => a + b, 0)));
    const out = Array.from({ length: N }, () => new Array<number>(C).fill(0));
    for (let hh = 0; hh < h; hh++) {
      // q[i][n]: channel i of the head over the tokens
      const get = (part: number, i: number): number[] => qkv.map((row) => row[part * C + hh * d + i]);
      const norm = (v: number[]): number[] => {
        const l = Math.sqrt(v.reduce((a, e) => a + e * e, 0));
        return v.map((e) => e / Math.max(l, 1e-12));
      };
      const q = Array.from({ length: d }, (_, i) => norm(get(0, i)));
      const k = Array.from({ length: d }, (_, i) => norm(get(1, i)));
      const v = Array.from({ length: d }, (_, i) => get(2, i));
      for (let i = 0; i < d; i++) {
        const logits = Array.from({ length: d }, (_, j) => scale[hh] * q[i].reduce((a, e, n) => a + e * k[j][n], 0));
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const s = e.reduce((a, b) => a + b, 0);
        for (let n = 0; n < N; n++) out[n][hh * d + i] = e.reduce((a, w, j) => a + (w / s) * v[j][n], 0);
      }
    }
    const expected = out.flatMap((row) => Array.from({ length: C }, (_, o) => bp[o] + row.reduce((a, e, c) => a + wp[o * C + c] * e, 0)));
    att.eval();
    const got = tf.tidy(() => att.forward(tf.tensor3d(xs, [B, N, C])).dataSync());
    assert.ok(maxAbsDiff(got, expected) < 1e-5, String(maxAbsDiff(got, expected)));
  });

  it('outputs: GAP then LN gives [N, C]; without GAP the LN2d map; negative out_indices count from 4', () => {
    const gap = new EdgeNeXt({ arch: TINY, out_indices: [-1, 1] });
    gap.eval();
    assert.deepEqual(gap.outIndices, [3, 1]);
    assert.deepEqual(analyzeComplexity(gap, [3, 64, 64]).outputShape, [[1, 16], [1, 32]]);
    assert.equal(gap.getSubmodule('norm3')!.typeName, 'LayerNorm');
    const maps = new EdgeNeXt({ arch: TINY, out_indices: [0, 3], gap_before_final_norm: false });
    maps.eval();
    assert.deepEqual(analyzeComplexity(maps, [3, 64, 64]).outputShape, [[1, 8, 16, 16], [1, 32, 2, 2]]);
    assert.equal(maps.getSubmodule('norm0')!.typeName, 'LayerNorm2d');
    assert.throws(() => new EdgeNeXt({ arch: 'tiny' as never }), /not in default archs/);
  });

  it('frozen_stages freezes the first downsample layers and stages', () => {
    const m = new EdgeNeXt({ arch: TINY, frozen_stages: 2 });
    m.train();
    for (const [name, p] of m.namedParameters()) {
      const frozen = /^(downsample_layers|stages)\.[01]\./.test(name);
      assert.equal(p.requiresGrad, !frozen, name);
    }
    assert.equal(m.stages.at(1).training, false);
    assert.equal(m.stages.at(2).training, true);
  });

  it('one training step through a small EdgeNeXt (ConvNeXt blocks, SDTA with position encoding) gives every parameter a gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'EdgeNeXt', arch: TINY, out_indices: [3], use_pos_embd_global: true },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 32 },
    });
    const x = tf.tensor4d(seq(2 * 64 * 64 * 3, 7), [2, 64, 64, 3]);
    checkGradients(m, x);
    x.dispose();
    m.dispose();
  });
});
