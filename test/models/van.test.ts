import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, VAN, VANBlock } from '../../runtime/models';
import { LKA } from '../../runtime/models/backbones/van';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { _BatchNorm } from '../../runtime/nn/norm';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';

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

const vanClassifier = (arch: unknown, inChannels: number, backbone: Record<string, unknown> = {}): ImageClassifier =>
  MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone: { type: 'VAN', arch, ...backbone },
    neck: { type: 'GlobalAveragePooling' },
    head: { type: 'LinearClsHead', num_classes: 1000, in_channels: inChannels },
  });

describe('VAN', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224 against the model zoo', () => {
    // The zoo's FLOPs come from an older counter that also counted element-wise operations (about
    // 1% more); MMEngine's measurement of van-tiny is 867875456.
    const zoo: [string, number, number, number][] = [
      ['tiny', 256, 4.11, 0.88], ['small', 512, 13.86, 2.52], ['base', 512, 26.58, 5.03], ['large', 512, 44.77, 8.99],
    ];
    for (const [arch, c, params, flops] of zoo) {
      it(`VAN-${arch}`, () => {
        const m = vanClassifier(arch, c);
        m.eval();
        const r = analyzeComplexity(m, [3, 224, 224]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.006, `params ${r.params}`);
        const rel = (flops - r.flops / 1e9) / flops;
        assert.ok(rel >= 0 && rel <= 0.015, `flops ${r.flops}`);
      });
    }
    it('VAN-tiny FLOPs equal the MMEngine measurement; the short names are the same presets', () => {
      const m = vanClassifier('t', 256);
      m.eval();
      assert.equal(analyzeComplexity(m, [3, 224, 224]).flops, 867875456);
      assert.throws(() => new VAN({ arch: 'huge' as never }), /not in default archs/);
      assert.throws(() => new VAN({ arch: { embed_dims: [8], depths: [1] } as never }), /embed_dims/);
    });
  });

  it('block keys: the two layer scales first, then norm1, attn (proj_1, LKA, proj_2), norm2, mlp', () => {
    const keys = new VANBlock({ embed_dims: 4, ffn_ratio: 2 }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.filter((k) => !/running|num_batches/.test(k)), [
      'layer_scale_1 4', 'layer_scale_2 4', 'norm1.weight 4', 'norm1.bias 4',
      'attn.proj_1.weight 4x4x1x1', 'attn.proj_1.bias 4',
      'attn.spatial_gating_unit.DW_conv.weight 4x1x5x5', 'attn.spatial_gating_unit.DW_conv.bias 4',
      'attn.spatial_gating_unit.DW_D_conv.weight 4x1x7x7', 'attn.spatial_gating_unit.DW_D_conv.bias 4',
      'attn.spatial_gating_unit.conv1.weight 4x4x1x1', 'attn.spatial_gating_unit.conv1.bias 4',
      'attn.proj_2.weight 4x4x1x1', 'attn.proj_2.bias 4', 'norm2.weight 4', 'norm2.bias 4',
      'mlp.fc1.weight 8x4x1x1', 'mlp.fc1.bias 8', 'mlp.dwconv.weight 8x1x3x3', 'mlp.dwconv.bias 8', 'mlp.fc2.weight 4x8x1x1', 'mlp.fc2.bias 4',
    ]);
    assert.ok(!new VANBlock({ embed_dims: 4, layer_scale_init_value: 0 }).stateDictKeys().some((e) => e.key.startsWith('layer_scale')));
  });

  it('LKA: x * conv1(dw7x7 dilation 3 (dw5x5 (x))) (by hand, one channel)', () => {
    const [H, W] = [11, 12];
    const x = seq(H * W, 3);
    const w5 = seq(25, 4);
    const b5 = 0.1;
    const w7 = seq(49, 5);
    const b7 = -0.2;
    const pw = 0.7;
    const pb = 0.05;
    const lka = new LKA(1);
    lka.loadStateDict(new Map<string, StateEntry>([
      ['DW_conv.weight', { data: w5, shape: [1, 1, 5, 5] }], ['DW_conv.bias', { data: [b5], shape: [1] }],
      ['DW_D_conv.weight', { data: w7, shape: [1, 1, 7, 7] }], ['DW_D_conv.bias', { data: [b7], shape: [1] }],
      ['conv1.weight', { data: [pw], shape: [1, 1, 1, 1] }], ['conv1.bias', { data: [pb], shape: [1] }],
    ]));
    const conv = (src: ArrayLike<number>, w: ArrayLike<number>, b: number, k: number, pad: number, dil: number): number[] => {
      const out: number[] = [];
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          let s = b;
          for (let a = 0; a < k; a++) {
            for (let c = 0; c < k; c++) {
              const ii = i - pad + a * dil;
              const jj = j - pad + c * dil;
              if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += w[a * k + c] * src[ii * W + jj];
            }
          }
          out.push(s);
        }
      }
      return out;
    };
    const attn = conv(conv(x, w5, b5, 5, 2, 1), w7, b7, 7, 9, 3).map((v) => pw * v + pb);
    const expected = attn.map((v, i) => v * x[i]);
    const got = tf.tidy(() => nhwcToNchw(lka.forward(nchwToNhwc(x, [1, 1, H, W]))));
    assert.ok(maxAbsDiff(got, expected) < 1e-4, String(maxAbsDiff(got, expected)));
  });

  it('out_indices, patch embedding strides (4, 2, 2, 2) and a LayerNorm after every stage', () => {
    const m = new VAN({ arch: 'tiny', out_indices: [0, 1, 2, 3] });
    m.eval();
    const r = analyzeComplexity(m, [3, 64, 64]);
    assert.deepEqual(r.outputShape, [[1, 32, 16, 16], [1, 64, 8, 8], [1, 160, 4, 4], [1, 256, 2, 2]]);
    // The norm of each stage: LayerNorm over the tokens, 5 FLOPs per element.
    assert.equal(r.modules.find((e) => e.name === 'norm1')!.flops, 5 * 32 * 16 * 16);
  });

  it('frozen_stages freezes patch_embed, blocks and norm of the first stages; norm_eval keeps BN in eval', () => {
    const m = new VAN({ arch: { embed_dims: [4, 8, 8, 8], depths: [1, 1, 1, 1], ffn_ratios: [2, 2, 2, 2] }, frozen_stages: 1, norm_eval: true });
    m.train();
    for (const [name, p] of m.namedParameters()) {
      const frozen = /^(patch_embed|blocks|norm)[12]\./.test(name);
      assert.equal(p.requiresGrad, !frozen, name);
    }
    m.apply((mod) => {
      if (mod instanceof _BatchNorm) assert.equal(mod.training, false);
    });
    const free = new VAN({ arch: { embed_dims: [4, 8, 8, 8], depths: [1, 1, 1, 1], ffn_ratios: [2, 2, 2, 2] } });
    free.train();
    assert.ok(free.parameters().every((p) => p.requiresGrad));
    assert.equal((free.getSubmodule('blocks1.0.norm1') as _BatchNorm).training, true);
  });

  it('one training step through a two-stage VAN gives every parameter a gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'VAN', arch: { embed_dims: [8, 16], depths: [1, 1], ffn_ratios: [2, 2] }, patch_sizes: [7, 3], out_indices: [1] },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
    });
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 7), [2, 32, 32, 3]);
    checkGradients(m, x);
    x.dispose();
    m.dispose();
  });
});
