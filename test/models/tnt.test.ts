import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { PixelEmbed, TNT, TorchMultiheadAttention } from '../../runtime/models';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { StateEntry } from '../../runtime/nn/module';
import { MmclsError } from '../../runtime/errors';
import { checkGradients } from './gradient_step';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

const CONFIGS = path.resolve(__dirname, '..', '..', 'configs');

function fillState(keys: { key: string; shape: number[] }[], seed: number): Map<string, StateEntry> {
  const sd = new Map<string, StateEntry>();
  keys.forEach(({ key, shape }, i) => sd.set(key, { data: seq(shape.reduce((a, b) => a * b, 1), seed + i), shape }));
  return sd;
}

describe('TNT', () => {
  before(useTestBackend);

  it('config tnt-s-p16_16xb64_in1k: parameters as the zoo and the measured FLOPs; the zoo FLOPs leave out the attention projections', () => {
    const cfg = loadConfig(path.join(CONFIGS, 'tnt', 'tnt-s-p16_16xb64_in1k.py')).value as Record<string, unknown>;
    const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), 'tnt');
    // Measured on MMClassification 1.0.0rc6 (fvcore conventions).
    assert.equal(result.params, 23755336);
    assert.equal(result.flops, 5240247168);
    // The zoo's 3.36G comes from MMCV's older counter: it hooks nn.Linear by exact type, so the
    // attention's packed in_proj (a functional call) and out_proj (a Linear subclass) count nothing,
    // nor do the bmm's; layer norms count 2 per element.
    const inProj = 12 * (196 * 16 * 24 * 72 + 197 * 384 * 1152);
    const outProj = 12 * (196 * 16 * 24 * 24 + 197 * 384 * 384);
    const older = result.byOperator.linear - inProj - outProj + result.byOperator.conv + 0.4 * result.byOperator.layer_norm;
    assert.equal(Math.round(older / 1e7) / 100, 3.36);
    assert.equal(Math.round(result.params / 1e4) / 100, 23.76);
  });

  it('state-dict keys: tokens and positions first, PyTorch nn.MultiheadAttention names, no in_proj_bias without qkv_bias', () => {
    const arch = { embed_dims_outer: 8, embed_dims_inner: 4, num_layers: 1, num_heads_outer: 2, num_heads_inner: 2 };
    const m = new TNT({ arch, img_size: 16, patch_size: 8 });
    assert.deepEqual(
      m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`),
      [
        'cls_token 1x1x8', 'patch_pos 1x5x8', 'pixel_pos 1x4x2x2', 'pixel_embed.proj.weight 4x3x7x7', 'pixel_embed.proj.bias 4',
        'norm1_proj.weight 16', 'norm1_proj.bias 16', 'projection.weight 8x16', 'projection.bias 8', 'norm2_proj.weight 8', 'norm2_proj.bias 8',
        'layers.0.inner_block.norm_attn.weight 4', 'layers.0.inner_block.norm_attn.bias 4', 'layers.0.inner_block.attn.attn.in_proj_weight 12x4',
        'layers.0.inner_block.attn.attn.out_proj.weight 4x4', 'layers.0.inner_block.attn.attn.out_proj.bias 4',
        'layers.0.inner_block.norm_ffn.weight 4', 'layers.0.inner_block.norm_ffn.bias 4',
        'layers.0.inner_block.ffn.layers.0.0.weight 16x4', 'layers.0.inner_block.ffn.layers.0.0.bias 16',
        'layers.0.inner_block.ffn.layers.1.weight 4x16', 'layers.0.inner_block.ffn.layers.1.bias 4',
        'layers.0.norm_proj.weight 4', 'layers.0.norm_proj.bias 4', 'layers.0.projection.weight 8x16', 'layers.0.projection.bias 8',
        'layers.0.outer_block.norm_attn.weight 8', 'layers.0.outer_block.norm_attn.bias 8', 'layers.0.outer_block.attn.attn.in_proj_weight 24x8',
        'layers.0.outer_block.attn.attn.out_proj.weight 8x8', 'layers.0.outer_block.attn.attn.out_proj.bias 8',
        'layers.0.outer_block.norm_ffn.weight 8', 'layers.0.outer_block.norm_ffn.bias 8',
        'layers.0.outer_block.ffn.layers.0.0.weight 32x8', 'layers.0.outer_block.ffn.layers.0.0.bias 32',
        'layers.0.outer_block.ffn.layers.1.weight 8x32', 'layers.0.outer_block.ffn.layers.1.bias 8',
        'norm.weight 8', 'norm.bias 8',
      ],
    );
    const withBias = new TNT({ arch, img_size: 16, patch_size: 8, qkv_bias: true });
    assert.ok(withBias.stateDictKeys().some((e) => e.key === 'layers.0.outer_block.attn.attn.in_proj_bias'));
    assert.throws(() => new TNT({ arch: 'x' }), MmclsError);
    assert.throws(() => new TNT({ arch: { ...arch, extra: 1 } as never }), MmclsError);
    m.dispose();
    withBias.dispose();
  });

  it('nn.MultiheadAttention: packed q, k, v rows of in_proj_weight, softmax(q k^T / sqrt(head_dims)) v, out_proj', () => {
    const [n, e, h] = [3, 4, 2];
    const d = e / h;
    const a = new TorchMultiheadAttention({ embed_dim: e, num_heads: h });
    const sd = fillState(a.stateDictKeys(), 3);
    a.loadStateDict(sd);
    const xd = seq(n * e, 8);
    const x = tf.tensor3d(xd, [1, n, e]);
    const y = a.forward(x);
    const w = sd.get('in_proj_weight')!.data as Float32Array; // [3e, e]
    const bi = sd.get('in_proj_bias')!.data as Float32Array;
    const proj = (t: number, row: number): number => {
      let s = bi[row];
      for (let i = 0; i < e; i++) s += w[row * e + i] * xd[t * e + i];
      return s;
    };
    const att: number[][] = []; // [n][e] attention output before out_proj
    for (let t = 0; t < n; t++) {
      const row = new Array<number>(e).fill(0);
      for (let hh = 0; hh < h; hh++) {
        const logits = [0, 1, 2].map((s) => {
          let v = 0;
          for (let c = 0; c < d; c++) v += proj(t, hh * d + c) * proj(s, e + hh * d + c);
          return v / Math.sqrt(d);
        });
        const mx = Math.max(...logits);
        const ex = logits.map((l) => Math.exp(l - mx));
        const z = ex.reduce((p, q) => p + q, 0);
        for (let c = 0; c < d; c++) row[hh * d + c] = [0, 1, 2].reduce((acc, s) => acc + (ex[s] / z) * proj(s, 2 * e + hh * d + c), 0);
      }
      att.push(row);
    }
    const ow = sd.get('out_proj.weight')!.data as Float32Array;
    const ob = sd.get('out_proj.bias')!.data as Float32Array;
    const expected = att.flatMap((r) => [0, 1, 2, 3].map((o) => ob[o] + r.reduce((s, v, i) => s + ow[o * e + i] * v, 0)));
    assert.ok(maxAbsDiff(y.dataSync(), expected) < 1e-5);
    tf.dispose([x, y]);
    a.dispose();
  });

  it('PixelEmbed: the 7x7/4 convolution cut into patch cells (pixel p = ki*kw + kj) plus pixel_pos[c, ki, kj]', () => {
    const pe = new PixelEmbed({ img_size: 16, patch_size: 8, in_channels: 1, embed_dims_inner: 2, stride: 4 });
    const sd = fillState(pe.stateDictKeys(), 21);
    pe.loadStateDict(sd);
    const img = seq(16 * 16, 4);
    const x = tf.tensor4d(img, [1, 16, 16, 1]);
    const pos = seq(2 * 2 * 2, 6); // [1, C=2, 2, 2]
    const y = pe.forward(x, tf.tensor4d(pos, [1, 2, 2, 2]));
    assert.deepEqual(y.shape, [4, 4, 2]);
    const w = sd.get('proj.weight')!.data as Float32Array; // [2, 1, 7, 7]
    const b = sd.get('proj.bias')!.data as Float32Array;
    const conv = (c: number, oy: number, ox: number): number => {
      let s = b[c];
      for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) {
        const [iy, ix] = [oy * 4 - 3 + i, ox * 4 - 3 + j];
        if (iy >= 0 && iy < 16 && ix >= 0 && ix < 16) s += w[c * 49 + i * 7 + j] * img[iy * 16 + ix];
      }
      return s;
    };
    const expected: number[] = [];
    for (let py = 0; py < 2; py++) for (let px = 0; px < 2; px++) {
      for (let ki = 0; ki < 2; ki++) for (let kj = 0; kj < 2; kj++) {
        for (let c = 0; c < 2; c++) expected.push(conv(c, py * 2 + ki, px * 2 + kj) + pos[(c * 2 + ki) * 2 + kj]);
      }
    }
    assert.ok(maxAbsDiff(y.dataSync(), expected) < 1e-5);
    assert.throws(() => pe.forward(tf.zeros([1, 8, 8, 1]), tf.zeros([1, 2, 2, 2])), MmclsError);
    tf.dispose([x, y]);
    pe.dispose();
  });

  it('returns only the class token after the final layer norm (weight 1, bias 0 after init: mean 0)', () => {
    const arch = { embed_dims_outer: 8, embed_dims_inner: 4, num_layers: 2, num_heads_outer: 2, num_heads_inner: 2 };
    const m = new TNT({ arch, img_size: 16, patch_size: 8 });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(16 * 16 * 3, 5), [1, 16, 16, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.equal(outs.length, 1);
    assert.deepEqual(outs[0].shape, [1, 8]);
    // Layer norm output with weight 1 and bias 0: mean 0, variance ~1.
    const v = Array.from(outs[0].dataSync());
    assert.ok(Math.abs(v.reduce((a, b) => a + b, 0) / 8) < 1e-5);
    tf.dispose([x, ...outs]);
    m.dispose();
  });

  it('one training step of a tiny TNT gives every parameter a finite, non-zero gradient', () => {
    checkGradients(
      { type: 'TNT', arch: { embed_dims_outer: 8, embed_dims_inner: 4, num_layers: 2, num_heads_outer: 2, num_heads_inner: 2 }, img_size: 16, patch_size: 8, qkv_bias: true, drop_path_rate: 0 },
      null,
      8,
      16,
    );
  });
});
