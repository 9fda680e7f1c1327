import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, MViT, addDecomposedRelPos, einsumFlops, resizeDecomposedRelPos } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';

const TINY = { embed_dims: 8, num_layers: 3, num_heads: 1, downscale_indices: [1] };

describe('MViT', () => {
  before(useTestBackend);

  it('resize_decomposed_rel_pos picks rows (q_i * max(k/q, 1) - k_j * max(q/k, 1) + (k - 1) * max(q/k, 1))', () => {
    const table = tf.tensor2d(Array.from({ length: 7 * 2 }, (_, i) => i), [7, 2]);
    // q = 4, k = 2: k ratio 2 -> row i - 2 j + 2.
    const r = resizeDecomposedRelPos(table, 4, 2).arraySync();
    for (let i = 0; i < 4; i++) for (let j = 0; j < 2; j++) assert.deepEqual(r[i][j], [2 * (i - 2 * j + 2), 2 * (i - 2 * j + 2) + 1]);
    // q = 2, k = 4: q ratio 2 -> row 2 i - j + 3.
    const s = resizeDecomposedRelPos(table, 2, 4).arraySync();
    for (let i = 0; i < 2; i++) for (let j = 0; j < 4; j++) assert.deepEqual(s[i][j], [2 * (2 * i - j + 3), 2 * (2 * i - j + 3) + 1]);
    // A 3-row table for size 4 (7 rows needed) is interpolated linearly (align_corners=False): ends stay.
    const small = tf.tensor2d([0, 10, 20], [3, 1]);
    const t = resizeDecomposedRelPos(small, 4, 4).arraySync();
    assert.deepEqual(t[0][3], [0]);
    assert.deepEqual(t[3][0], [20]);
    tf.dispose([table, small]);
  });

  it('add_decomposed_rel_pos adds sum_c q[c] Rh[qh, kh, c] + sum_c q[c] Rw[qw, kw, c] to every attention entry', () => {
    const [bh, qh, qw, kh, kw, c] = [2, 2, 3, 2, 2, 4];
    const q = tf.tensor3d(seq(bh * qh * qw * c, 2), [bh, qh * qw, c]);
    const attn = tf.tensor3d(seq(bh * qh * qw * kh * kw, 3), [bh, qh * qw, kh * kw]);
    const relH = tf.tensor2d(seq((2 * qh - 1) * c, 4), [2 * qh - 1, c]);
    const relW = tf.tensor2d(seq((2 * qw - 1) * c, 5), [2 * qw - 1, c]);
    const ours = addDecomposedRelPos(attn, q, [qh, qw], [kh, kw], relH, relW).dataSync();
    const qd = q.dataSync();
    const ad = attn.dataSync();
    const rhd = relH.dataSync();
    const rwd = relW.dataSync();
    // Rows: height q=2, k=2 -> i - j + 1; width q=3, k=2 (k ratio 1.5) -> trunc(i - 1.5 j + 1.5).
    for (let b = 0; b < bh; b++) {
      for (let y = 0; y < qh; y++) {
        for (let x = 0; x < qw; x++) {
          for (let ky = 0; ky < kh; ky++) {
            for (let kx = 0; kx < kw; kx++) {
              const rowH = y - ky + 1;
              const rowW = Math.trunc(x - 1.5 * kx + 1.5);
              let v = ad[(b * qh * qw + y * qw + x) * kh * kw + ky * kw + kx];
              for (let ch = 0; ch < c; ch++) {
                const qv = qd[(b * qh * qw + y * qw + x) * c + ch];
                v += qv * rhd[rowH * c + ch] + qv * rwd[rowW * c + ch];
              }
              const got = ours[(b * qh * qw + y * qw + x) * kh * kw + ky * kw + kx];
              assert.ok(Math.abs(got - v) < 1e-5, `${got} vs ${v}`);
            }
          }
        }
      }
    }
    tf.dispose([q, attn, relH, relW]);
  });

  it("einsum FLOPs as fvcore reads them from numpy's einsum_path report (cost 2 x MACs printed as '%.3e', halved)", () => {
    // Block 0 of tiny: 56 x 56 queries, 96 channels, 14 key rows: 4214784 MACs, '8.430e+06' / 2.
    assert.equal(einsumFlops(56 * 56 * 96 * 14), 4215000);
    assert.equal(einsumFlops(1000), 1000);
    assert.equal(einsumFlops(12345), 12345);
    assert.equal(einsumFlops(123456), 123450);
  });

  // Model zoo (params M, FLOPs G). The FLOPs of base / large differ between the zoo's tables
  // (10.16 / 10.20, 43.87 / 42.10); the nearer figure of each is checked.
  const zoo: [string, number, number, number][] = [
    ['tiny', 768, 24.17, 4.70],
    ['small', 768, 34.87, 7.00],
    ['base', 768, 51.47, 10.16],
    ['large', 1152, 217.99, 43.87],
  ];
  for (const [arch, ch, params, flops] of zoo) {
    it(`${arch}: zoo parameters and FLOPs at 224x224`, () => {
      const m = MODELS.build<ImageClassifier>({
        type: 'ImageClassifier',
        backbone: { type: 'MViT', arch, ...(arch === 'large' ? { dim_mul_in_attention: false } : {}) },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: ch },
      }).eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.ok(Math.abs(r.params / 1e6 - params) < 0.006, `params ${r.params}`);
      assert.ok(Math.abs(r.flops / 1e9 - flops) < 0.006, `flops ${r.flops}`);
      m.dispose();
    });
  }

  it('out_scales: one normed map per scale, shapes [B, H, W, C] halving per downscale; norm keys', () => {
    const m = new MViT({ arch: TINY, img_size: 32, out_scales: [0, 1] });
    m.eval();
    const keys = [...m.stateDict().keys()];
    assert.ok(keys.includes('norm0.weight') && keys.includes('norm1.weight'));
    assert.ok(keys.includes('blocks.1.proj.weight') && !keys.includes('blocks.0.proj.weight'));
    assert.deepEqual(m.stateDict().get('blocks.0.attn.rel_pos_h')!.shape, [15, 8]);
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 3), [2, 32, 32, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[2, 8, 8, 8], [2, 4, 4, 16]]);
    assert.throws(() => new MViT({ arch: 'huge' }), MmclsError);
    assert.throws(() => new MViT({ arch: { embed_dims: 8 } as never }), MmclsError);
    tf.dispose([x, ...outs]);
    m.dispose();
  });

  it('use_abs_pos_embed adds pos_embed, resized for another input size', () => {
    const m = new MViT({ arch: TINY, img_size: 32, use_abs_pos_embed: true });
    m.eval();
    assert.deepEqual(m.stateDict().get('pos_embed')!.shape, [1, 64, 8]);
    const x = tf.zeros([1, 48, 48, 3]);
    const [out] = m.forward(x) as tf.Tensor[];
    assert.deepEqual(out.shape, [1, 6, 6, 16]);
    tf.dispose([x, out]);
    m.dispose();
  });

  it('one training step gives every parameter a finite, non-zero gradient', () => {
    checkGradients({ type: 'MViT', arch: TINY, img_size: 32, drop_path_rate: 0, use_abs_pos_embed: true }, { type: 'GlobalAveragePooling' }, 16, 32);
  });
});
