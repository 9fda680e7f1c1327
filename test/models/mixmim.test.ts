import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, MixMIMBlock, MixMIMTransformer, MixMIMWindowAttention } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { filledStateDict } from '../../runtime/analysis/reference';
import { MmclsError } from '../../runtime/errors';
import { seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';

const TINY = { embed_dims: 8, depths: [1, 1], num_heads: [2, 4] };

/** Softmax attention of one head written out: scores q.k * scale + bias, optional -1e30 between groups. */
function handWindowAttention(
  x: Float32Array, n: number, c: number, heads: number,
  sd: Map<string, { data: ArrayLike<number> }>, groups: number[] | null,
): Float64Array {
  const get = (k: string): ArrayLike<number> => sd.get(k)!.data;
  const wq = get('qkv.weight');
  const bq = get('qkv.bias');
  const table = get('relative_position_bias_table');
  const index = get('relative_position_index');
  const wp = get('proj.weight');
  const bp = get('proj.bias');
  const d = c / heads;
  const qkv = new Float64Array(n * 3 * c);
  for (let t = 0; t < n; t++) for (let o = 0; o < 3 * c; o++) {
    let s = bq[o];
    for (let i = 0; i < c; i++) s += wq[o * c + i] * x[t * c + i];
    qkv[t * 3 * c + o] = s;
  }
  const y = new Float64Array(n * c);
  for (let h = 0; h < heads; h++) {
    for (let a = 0; a < n; a++) {
      const sc = new Float64Array(n);
      for (let b = 0; b < n; b++) {
        let s = 0;
        for (let e = 0; e < d; e++) s += qkv[a * 3 * c + h * d + e] * qkv[b * 3 * c + c + h * d + e];
        s = s * d ** -0.5 + table[Number(index[a * n + b]) * heads + h];
        if (groups && groups[a] !== groups[b]) s -= 1e30;
        sc[b] = s;
      }
      const mx = Math.max(...sc);
      let z = 0;
      for (let b = 0; b < n; b++) z += (sc[b] = Math.exp(sc[b] - mx));
      for (let e = 0; e < d; e++) {
        let s = 0;
        for (let b = 0; b < n; b++) s += (sc[b] / z) * qkv[b * 3 * c + 2 * c + h * d + e];
        y[a * c + h * d + e] = s;
      }
    }
  }
  const out = new Float64Array(n * c);
  for (let t = 0; t < n; t++) for (let o = 0; o < c; o++) {
    let s = bp[o];
    for (let i = 0; i < c; i++) s += wp[o * c + i] * y[t * c + i];
    out[t * c + o] = s;
  }
  return out;
}

function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let r = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    r = Math.max(r, Math.abs(b[i]));
  }
  return m / r;
}

describe('MixMIMTransformer', () => {
  before(useTestBackend);

  it('MixMIMWindowAttention matches hand-written window attention, with and without the token-group mask', async () => {
    const attn = new MixMIMWindowAttention({ embed_dims: 8, window_size: [2, 2], num_heads: 2 });
    attn.loadStateDict(await filledStateDict(attn), { strict: true });
    attn.eval();
    const sd = attn.stateDict() as unknown as Map<string, { data: ArrayLike<number> }>;
    const data = seq(4 * 8, 5);
    const x = tf.tensor3d(data, [1, 4, 8]);
    const plain = attn.forward(x).dataSync();
    assert.ok(maxRel(plain, handWindowAttention(data, 4, 8, 2, sd, null)) < 1e-5);
    const groups = [1, 0, 0, 1];
    const mask = tf.tensor3d(groups, [1, 4, 1]);
    const masked = attn.forward(x, mask).dataSync();
    assert.ok(maxRel(masked, handWindowAttention(data, 4, 8, 2, sd, groups)) < 1e-5);
    tf.dispose([x, mask]);
    attn.dispose();
  });

  it('MixMIMBlock attends within non-shifted windows: a change in one window leaves the others alone', () => {
    const blk = new MixMIMBlock({ embed_dims: 8, input_resolution: [4, 4], num_heads: 2, window_size: 2 });
    blk.initWeights();
    blk.eval();
    const data = seq(16 * 8, 7);
    const x = tf.tensor3d(data, [1, 16, 8]);
    const changed = Float32Array.from(data);
    for (let i = 0; i < 8; i++) changed[i] += 0.3 * (i - 3.5); // token (0, 0), window 0 (not a constant shift, which LN removes)
    const a = blk.forward(x).arraySync() as number[][][];
    const x2 = tf.tensor3d(changed, [1, 16, 8]);
    const b = blk.forward(x2).arraySync() as number[][][];
    for (let t = 0; t < 16; t++) {
      const inWindow0 = Math.floor(t / 4) < 2 && t % 4 < 2;
      const diff = Math.max(...a[0][t].map((v, i) => Math.abs(v - b[0][t][i])));
      if (inWindow0) assert.ok(diff > 1e-4, `token ${t} should change`);
      else assert.equal(diff, 0, `token ${t} changed`);
    }
    // The window shrinks to the resolution when that is smaller.
    assert.equal(new MixMIMBlock({ embed_dims: 8, input_resolution: [4, 4], num_heads: 2, window_size: 7 }).windowSize, 4);
    tf.dispose([x, x2]);
    blk.dispose();
  });

  it('base: 88.34M parameters (absolute_pos_embed not trainable), 16.35G FLOPs (zoo); large builds with MMCls key order', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'MixMIMTransformer', arch: 'B' },
      head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 1024 },
    }).eval();
    const r = analyzeComplexity(m, [3, 224, 224]);
    assert.ok(Math.abs(r.params / 1e6 - 88.34) < 0.006, `params ${r.params}`);
    assert.ok(Math.abs(r.flops / 1e9 - 16.35) < 0.006, `flops ${r.flops}`);
    assert.equal(m.numParameters() - m.numParameters(true), 3136 * 128);
    m.dispose();
    const large = new MixMIMTransformer({ arch: 'l' });
    const keys = large.stateDictKeys().map((e) => e.key);
    large.dispose();
    assert.deepEqual(keys.slice(0, 3), ['absolute_pos_embed', 'patch_embed.projection.weight', 'patch_embed.projection.bias']);
    assert.ok(keys.includes('layers.2.blocks.17.attn.relative_position_index'));
    assert.throws(() => new MixMIMTransformer({ arch: 'small' }), MmclsError);
  });

  it('outputs the pooled, normalised [B, C] feature; rejects other input sizes', () => {
    const m = new MixMIMTransformer({ arch: TINY, img_size: 32, window_size: [4, 4] });
    m.eval();
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 2), [2, 32, 32, 3]);
    const [out] = m.forward(x) as tf.Tensor[];
    assert.deepEqual(out.shape, [2, 16]);
    const y = tf.zeros([1, 64, 64, 3]);
    assert.throws(() => m.forward(y), MmclsError);
    tf.dispose([x, y, out]);
    m.dispose();
  });

  it('one training step gives every trainable parameter a finite, non-zero gradient', () => {
    checkGradients({ type: 'MixMIMTransformer', arch: TINY, img_size: 32, window_size: [4, 4], drop_path_rate: 0 }, null, 16, 32);
  });
});
