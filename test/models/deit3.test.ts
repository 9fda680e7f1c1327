import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { DeiT3, ImageClassifier } from '../../runtime/models';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { StateEntry } from '../../runtime/nn/module';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

const CONFIGS = path.resolve(__dirname, '..', '..', 'configs');

/** LayerNorm over the last axis (float64), as a reference. */
function layerNorm(row: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, eps: number): number[] {
  const n = row.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += row[i];
  mean /= n;
  let v = 0;
  for (let i = 0; i < n; i++) v += (row[i] - mean) ** 2;
  v /= n;
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(((row[i] - mean) / Math.sqrt(v + eps)) * w[i] + b[i]);
  return out;
}

/** Every entry of a model's state dict set to `seq` values, with some tensors zeroed. */
function stateWith(m: DeiT3, zero: (key: string) => boolean): Map<string, StateEntry> {
  const sd = new Map<string, StateEntry>();
  m.stateDictKeys().forEach(({ key, shape }, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    sd.set(key, { data: zero(key) ? new Float32Array(n) : seq(n, 100 + i), shape });
  });
  return sd;
}

describe('DeiT3', () => {
  before(useTestBackend);

  describe('configs: parameters and FLOPs equal the DeiT3 metafile of MMClassification', () => {
    // [config, params, FLOPs] as the metafile publishes them (exact counts).
    const zoo: [string, number, number][] = [
      ['deit3-small-p16_64xb64_in1k', 22059496, 4607954304],
      ['deit3-small-p16_64xb64_in1k-384px', 22205416, 15517663104],
      ['deit3-medium-p16_64xb64_in1k', 38849512, 8003064320],
      ['deit3-base-p16_64xb64_in1k', 86585320, 17581972224],
      ['deit3-base-p16_64xb32_in1k-384px', 86877160, 55538974464],
      ['deit3-large-p16_64xb64_in1k', 304374760, 61603111936],
      ['deit3-large-p16_64xb16_in1k-384px', 304763880, 191210034176],
      ['deit3-huge-p14_64xb32_in1k', 632126440, 167400741120],
    ];
    for (const [name, params, flops] of zoo) {
      it(name, () => {
        const cfg = loadConfig(path.join(CONFIGS, 'deit3', `${name}.py`)).value as Record<string, unknown>;
        const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), name);
        assert.equal(result.params, params);
        assert.equal(result.flops, flops);
      });
    }
  });

  it('state-dict keys: pos_embed covers the patches only, LayerScale gamma1/gamma2 in every layer', () => {
    const m = new DeiT3({ arch: { embed_dims: 8, num_layers: 1, num_heads: 2, feedforward_channels: 16 }, img_size: 8, patch_size: 4 });
    assert.deepEqual(
      m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`),
      [
        'cls_token 1x1x8', 'pos_embed 1x4x8', 'patch_embed.projection.weight 8x3x4x4', 'patch_embed.projection.bias 8',
        'layers.0.ln1.weight 8', 'layers.0.ln1.bias 8', 'layers.0.attn.qkv.weight 24x8', 'layers.0.attn.qkv.bias 24',
        'layers.0.attn.proj.weight 8x8', 'layers.0.attn.proj.bias 8', 'layers.0.attn.gamma1.weight 8',
        'layers.0.ln2.weight 8', 'layers.0.ln2.bias 8', 'layers.0.ffn.layers.0.0.weight 16x8', 'layers.0.ffn.layers.0.0.bias 16',
        'layers.0.ffn.layers.1.weight 8x16', 'layers.0.ffn.layers.1.bias 8', 'layers.0.ffn.gamma2.weight 8',
        'ln1.weight 8', 'ln1.bias 8',
      ],
    );
    // Layer scale starts at 1e-5; use_layer_scale=False drops it.
    m.initWeights();
    const g = m.getSubmodule('layers.0.attn.gamma1')!.getParameter('weight')!.variable.dataSync();
    assert.ok(Array.from(g).every((v) => Math.abs(v - 1e-5) < 1e-12));
    const plain = new DeiT3({ arch: { embed_dims: 8, num_layers: 1, num_heads: 2, feedforward_channels: 16 }, img_size: 8, patch_size: 4, use_layer_scale: false });
    assert.ok(!plain.stateDictKeys().some((e) => e.key.includes('gamma')));
    m.dispose();
  });

  it('the class token joins after the position embedding (identity layers: outputs are LN(cls) and LN(patch + pos))', () => {
    // Zero output projections make every layer the identity; the final LN is then all that acts.
    const m = new DeiT3({ arch: { embed_dims: 6, num_layers: 1, num_heads: 2, feedforward_channels: 8 }, img_size: 8, patch_size: 4, output_cls_token: true });
    m.eval();
    const sd = stateWith(m, (k) => /attn\.proj\.|ffn\.layers\.1\./.test(k));
    m.loadStateDict(sd);
    const x = tf.tensor4d(seq(1 * 8 * 8 * 3, 9), [1, 8, 8, 3]);
    const [out] = m.forward(x) as tf.Tensor[][];
    const [patch, cls] = out as unknown as tf.Tensor[];
    assert.deepEqual(patch.shape, [1, 2, 2, 6]);
    assert.deepEqual(cls.shape, [1, 6]);
    const w = sd.get('ln1.weight')!.data as Float32Array;
    const b = sd.get('ln1.bias')!.data as Float32Array;
    const clsToken = sd.get('cls_token')!.data as Float32Array;
    assert.ok(maxAbsDiff(cls.dataSync(), layerNorm(clsToken, w, b, 1e-6)) < 1e-5, 'cls output is LN(cls_token): no position embedding on it');
    // Patch p: conv of the input patch plus pos_embed[p].
    const conv = sd.get('patch_embed.projection.weight')!.data as Float32Array; // [6, 3, 4, 4]
    const cb = sd.get('patch_embed.projection.bias')!.data as Float32Array;
    const pos = sd.get('pos_embed')!.data as Float32Array; // [1, 4, 6]
    const xd = x.dataSync();
    const expected: number[] = [];
    for (let p = 0; p < 4; p++) {
      const py = Math.floor(p / 2);
      const px = p % 2;
      const tok: number[] = [];
      for (let o = 0; o < 6; o++) {
        let s = cb[o];
        for (let c = 0; c < 3; c++) for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
          s += conv[((o * 3 + c) * 4 + i) * 4 + j] * xd[((py * 4 + i) * 8 + px * 4 + j) * 3 + c];
        }
        tok.push(s + pos[p * 6 + o]);
      }
      expected.push(...layerNorm(tok, w, b, 1e-6));
    }
    assert.ok(maxAbsDiff(patch.dataSync(), expected) < 1e-4);
    tf.dispose([x, patch, cls]);
    m.dispose();
  });

  it('other input sizes interpolate the patch position embedding; with_cls_token=False drops the token', () => {
    const m = new DeiT3({ arch: { embed_dims: 8, num_layers: 2, num_heads: 2, feedforward_channels: 16 }, img_size: 8, patch_size: 4, with_cls_token: false, output_cls_token: false });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(1 * 12 * 12 * 3, 3), [1, 12, 12, 3]);
    const [y] = m.forward(x) as tf.Tensor[];
    assert.deepEqual(y.shape, [1, 3, 3, 8]);
    assert.deepEqual(m.inferShape([1, 3, 12, 12], { enter() {}, exit() {}, add() {} }), [[1, 8, 3, 3]]);
    tf.dispose([x, y]);
    m.dispose();
    assert.throws(() => new DeiT3({ with_cls_token: false }), MmclsError);
    assert.throws(() => new DeiT3({ arch: 'tiny' as 'small' }), /Arch tiny is not in default archs/);
  });

  it('a checkpoint made for another input size: pos_embed (patches only) is interpolated on loading', () => {
    const arch = { embed_dims: 4, num_layers: 1, num_heads: 2, feedforward_channels: 8 };
    const small = new DeiT3({ arch, img_size: 8, patch_size: 4 });
    const sd = stateWith(small, () => false);
    const big = new DeiT3({ arch, img_size: 16, patch_size: 4 });
    big.loadStateDict(sd);
    const pos = big.posEmbed.variable.dataSync();
    assert.equal(pos.length, 16 * 4);
    // 2x2 -> 4x4 bicubic: a constant grid stays constant, so check with one.
    const flat = new DeiT3({ arch, img_size: 8, patch_size: 4 });
    const sd2 = stateWith(flat, () => false);
    sd2.set('pos_embed', { data: new Float32Array(16).fill(0.5), shape: [1, 4, 4] });
    big.loadStateDict(sd2);
    assert.ok(Array.from(big.posEmbed.variable.dataSync()).every((v) => Math.abs(v - 0.5) < 1e-6));
    [small, big, flat].forEach((m) => m.dispose());
  });

  it('one training step of a tiny DeiT3 classifier gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'DeiT3', arch: { embed_dims: 16, num_layers: 2, num_heads: 2, feedforward_channels: 32 }, img_size: 16, patch_size: 8 },
      // The head's default init (zero weights, as in MMCls) would block every backbone gradient of a first step.
      head: { type: 'VisionTransformerClsHead', num_classes: 5, in_channels: 16, init_cfg: { type: 'TruncNormal', layer: 'Linear', std: 0.02 } },
    });
    m.initWeights();
    m.train();
    const x = tf.tensor4d(seq(2 * 16 * 16 * 3, 7), [2, 16, 16, 3]);
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
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });
});
