import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, VisionTransformer } from '../../runtime/models';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { StateEntry } from '../../runtime/nn/module';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

const CONFIGS = path.resolve(__dirname, '..', '..', 'configs');

/** CLIP's fine-tuned ViTs are MMCls's VisionTransformer with pre_norm=True (configs/clip/). */
describe('CLIP ViT (VisionTransformer with pre_norm)', () => {
  before(useTestBackend);

  describe('configs: parameters as the model zoo publishes them; FLOPs', () => {
    // [config, zoo params M, zoo FLOPs G, tokens per image incl. the class token]
    const zoo: [string, number, number, number][] = [
      ['vit-base-p32_pt-64xb64_in1k', 88.22, 4.36, 50],
      ['vit-base-p32_pt-64xb64_in1k-384px', 88.22, 12.66, 145],
      ['vit-base-p32_pt-64xb64_in1k-448px', 88.22, 17.2, 197],
      ['vit-base-p16_pt-64xb64_in1k', 86.57, 16.86, 197],
      ['vit-base-p16_pt-64xb64_in1k-384px', 86.57, 49.37, 577],
    ];
    for (const [name, params, flops, n] of zoo) {
      it(name, () => {
        const cfg = loadConfig(path.join(CONFIGS, 'clip', `${name}.py`)).value as Record<string, unknown>;
        const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), name);
        assert.ok(Math.abs(result.params / 1e6 - params) <= 0.006, `params ${result.params}`);
        // The zoo's CLIP FLOPs were measured without the two attention matmuls (q·k and attn·v,
        // 2 x 12 layers x 12 heads x N² x 64); we count them as fvcore does for every other ViT.
        const attnMatmuls = 2 * 12 * 12 * n * n * 64;
        assert.ok(result.flops > attnMatmuls);
        assert.ok(Math.abs((result.flops - attnMatmuls) / 1e9 - flops) / flops <= 0.005, `flops ${result.flops}`);
      });
    }
  });

  it('pre_norm: no patch-projection bias, a LayerNorm (pre_norm) on the tokens before the layers', () => {
    const arch = { embed_dims: 6, num_layers: 1, num_heads: 2, feedforward_channels: 8 };
    const m = new VisionTransformer({ arch, img_size: 8, patch_size: 4, pre_norm: true });
    const keys = m.stateDictKeys().map((e) => e.key);
    assert.ok(!keys.includes('patch_embed.projection.bias'));
    assert.deepEqual(keys.slice(-4), ['pre_norm.weight', 'pre_norm.bias', 'ln1.weight', 'ln1.bias']);
    // Identity layers (zero output projections): the class-token output is ln1(pre_norm(cls + pos[0])).
    m.eval();
    const sd = new Map<string, StateEntry>();
    m.stateDictKeys().forEach(({ key, shape }, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      sd.set(key, { data: /attn\.proj\.|ffn\.layers\.1\./.test(key) ? new Float32Array(n) : seq(n, 50 + i), shape });
    });
    m.loadStateDict(sd);
    const ln = (row: number[], w: ArrayLike<number>, b: ArrayLike<number>): number[] => {
      const mean = row.reduce((a, v) => a + v, 0) / row.length;
      const v = row.reduce((a, x) => a + (x - mean) ** 2, 0) / row.length;
      return row.map((x, i) => ((x - mean) / Math.sqrt(v + 1e-6)) * w[i] + b[i]);
    };
    const cls = Array.from(sd.get('cls_token')!.data as Float32Array, (v, i) => v + (sd.get('pos_embed')!.data as Float32Array)[i]);
    const expected = ln(ln(cls, sd.get('pre_norm.weight')!.data as Float32Array, sd.get('pre_norm.bias')!.data as Float32Array), sd.get('ln1.weight')!.data as Float32Array, sd.get('ln1.bias')!.data as Float32Array);
    const x = tf.tensor4d(seq(8 * 8 * 3, 2), [1, 8, 8, 3]);
    const [[, c]] = m.forward(x) as tf.Tensor[][];
    assert.ok(maxAbsDiff(c.dataSync(), expected) < 1e-5);
    tf.dispose([x, c]);
    m.dispose();
  });

  it('one training step of a tiny pre_norm ViT gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'VisionTransformer', arch: { embed_dims: 16, num_layers: 2, num_heads: 2, feedforward_channels: 32 }, img_size: 16, patch_size: 8, pre_norm: true },
      head: { type: 'VisionTransformerClsHead', num_classes: 5, in_channels: 16, init_cfg: { type: 'TruncNormal', layer: 'Linear', std: 0.02 } },
    });
    m.initWeights();
    m.train();
    const x = tf.tensor4d(seq(2 * 16 * 16 * 3, 7), [2, 16, 16, 3]);
    const samples = [0, 3].map((l) => new ClsDataSample().set_gt_label(l));
    const vars = m.trainableVariables();
    const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(m.loss(x, samples))) as tf.Scalar, vars);
    assert.ok(Number.isFinite(value.dataSync()[0]));
    const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
    assert.ok([...names.values()].includes('backbone.pre_norm.weight'));
    for (const [v, g] of Object.entries(grads)) {
      const d = g.dataSync();
      assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${names.get(v)}`);
      assert.ok(d.some((e) => e !== 0), `zero gradient of ${names.get(v)}`);
    }
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });
});
