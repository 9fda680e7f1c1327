import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier } from '../../runtime/models';
import { fillValues, filledStateDict, referenceInput } from '../../runtime/analysis/reference';
import { useTestBackend } from '../nn/helpers';

type M = number[][];
const erf = (x: number): number => {
  // Series / continued fraction accurate to ~1e-12 for the small range used here.
  let sum = x;
  let term = x;
  for (let n = 1; n < 60; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
};
const linear = (x: M, w: Float32Array, b: Float32Array, out: number): M =>
  x.map((r) => Array.from({ length: out }, (_, o) => r.reduce((s, v, i) => s + v * w[o * r.length + i], b[o])));
const layerNorm = (x: M, w: Float32Array, b: Float32Array, eps: number): M =>
  x.map((r) => {
    const m = r.reduce((a, v) => a + v, 0) / r.length;
    const v = r.reduce((a, u) => a + (u - m) ** 2, 0) / r.length;
    return r.map((u, i) => ((u - m) / Math.sqrt(v + eps)) * w[i] + b[i]);
  });

describe('VisionTransformer against a float64 definition (fill formula weights)', () => {
  before(useTestBackend);

  it('logits of a 2-layer ViT with hidden head agree to 1e-4 relative', async () => {
    const E = 8;
    const H = 2;
    const cfg = {
      type: 'ImageClassifier',
      backbone: { type: 'VisionTransformer', arch: { embed_dims: E, num_layers: 2, num_heads: H, feedforward_channels: 12 }, img_size: 8, patch_size: 4 },
      neck: null,
      head: { type: 'VisionTransformerClsHead', num_classes: 3, in_channels: E, hidden_dim: 5 },
    };
    const model = MODELS.build<ImageClassifier>(cfg);
    model.eval();
    const sd = await filledStateDict(model);
    model.loadStateDict(sd);
    const P = (k: string): Float32Array => fillValues(k, sd.get(k)!.shape);
    const x = referenceInput([1, 3, 8, 8]);
    const ours = (model.forwardTensor(x) as tf.Tensor).dataSync();

    const xin = Array.from({ length: 3 * 64 }, (_, j) => Math.fround(Math.sin(0.11 * j)));
    // Patch embedding: 4x4 patches, row-major over the 2x2 grid.
    const pw = P('backbone.patch_embed.projection.weight');
    const pb = P('backbone.patch_embed.projection.bias');
    let t: M = [Array.from(P('backbone.cls_token'))];
    for (let gy = 0; gy < 2; gy++) for (let gx = 0; gx < 2; gx++) {
      t.push(Array.from({ length: E }, (_, o) => {
        let s = pb[o];
        for (let c = 0; c < 3; c++) for (let u = 0; u < 4; u++) for (let v = 0; v < 4; v++) s += xin[c * 64 + (gy * 4 + u) * 8 + gx * 4 + v] * pw[((o * 3 + c) * 4 + u) * 4 + v];
        return s;
      }));
    }
    const pos = P('backbone.pos_embed');
    t = t.map((r, i) => r.map((v, c) => v + pos[i * E + c]));
    for (let l = 0; l < 2; l++) {
      const p = (k: string): Float32Array => P(`backbone.layers.${l}.${k}`);
      const h = layerNorm(t, p('ln1.weight'), p('ln1.bias'), 1e-6);
      const qkv = linear(h, p('attn.qkv.weight'), p('attn.qkv.bias'), 3 * E);
      const d = E / H;
      const ctx: M = t.map(() => new Array(E).fill(0));
      for (let hh = 0; hh < H; hh++) for (let i = 0; i < t.length; i++) {
        const logits = t.map((_, j) => { let s = 0; for (let k = 0; k < d; k++) s += qkv[i][hh * d + k] * qkv[j][E + hh * d + k]; return s / Math.sqrt(d); });
        const mx = Math.max(...logits); const e = logits.map((z) => Math.exp(z - mx)); const z = e.reduce((a, b) => a + b);
        for (let k = 0; k < d; k++) ctx[i][hh * d + k] = t.reduce((s, _, j) => s + (e[j] / z) * qkv[j][2 * E + hh * d + k], 0);
      }
      const att = linear(ctx, p('attn.proj.weight'), p('attn.proj.bias'), E);
      t = t.map((r, i) => r.map((v, c) => v + att[i][c]));
      const h2 = layerNorm(t, p('ln2.weight'), p('ln2.bias'), 1e-6);
      const f1 = linear(h2, p('ffn.layers.0.0.weight'), p('ffn.layers.0.0.bias'), 12).map((r) => r.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))));
      const f2 = linear(f1, p('ffn.layers.1.weight'), p('ffn.layers.1.bias'), E);
      t = t.map((r, i) => r.map((v, c) => v + f2[i][c]));
    }
    t = layerNorm(t, P('backbone.ln1.weight'), P('backbone.ln1.bias'), 1e-6);
    const hid = linear([t[0]], P('head.layers.pre_logits.weight'), P('head.layers.pre_logits.bias'), 5).map((r) => r.map(Math.tanh));
    const ref = linear(hid, P('head.layers.head.weight'), P('head.layers.head.bias'), 3)[0];
    const maxRef = Math.max(...ref.map(Math.abs));
    const diff = Math.max(...ref.map((v, i) => Math.abs(v - ours[i])));
    assert.ok(diff <= 1e-4 * maxRef, `max diff ${diff}, max ref ${maxRef}`);
  });
});
