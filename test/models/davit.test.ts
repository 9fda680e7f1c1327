import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { DaViT, ImageClassifier } from '../../runtime/models';
import { ChannelAttention, DaViTDownSample, DaViTShiftWindowMSA } from '../../runtime/models/backbones/davit';
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

const linear = (w: Float32Array, b: Float32Array | null, x: number[], cin: number): number[] =>
  Array.from({ length: w.length / cin }, (_, o) => (b ? b[o] : 0) + x.reduce((a, e, c) => a + w[o * cin + c] * e, 0));

const softmax = (v: number[]): number[] => {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

describe('DaViT', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224 as the model zoo publishes them', () => {
    const zoo: [string, number, number, number][] = [['t', 768, 28.36, 4.54], ['s', 768, 49.75, 8.8], ['b', 1024, 87.95, 15.51]];
    for (const [arch, c, params, flops] of zoo) {
      it(`DaViT-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier',
          backbone: { type: 'DaViT', arch, out_indices: [3] },
          neck: { type: 'GlobalAveragePooling' },
          head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const r = analyzeComplexity(m, [3, 224, 224]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.006, `params ${r.params}`);
        assert.ok(Math.abs(r.flops / 1e9 - flops) / flops <= 0.005, `flops ${r.flops}`);
      });
    }
  });

  // Window attention written out token by token: a token attends to the tokens of its (shifted)
  // window; with a shift, pairs from different regions get -100 added before the softmax.
  for (const shift of [0, 1]) {
    it(`window attention${shift ? ' with shifted windows and the region mask' : ''} (by hand, 4x6 map, window 2, 2 heads)`, () => {
      const [H, W, C, heads, ws] = [4, 6, 4, 2, 2];
      const d = C / heads;
      const attn = new DaViTShiftWindowMSA({ embed_dims: C, num_heads: heads, window_size: ws, shift_size: shift });
      attn.eval();
      const sd = attn.stateDict();
      const wqkv = sd.get('w_msa.qkv.weight')!.data as Float32Array;
      const bqkv = sd.get('w_msa.qkv.bias')!.data as Float32Array;
      const wp = sd.get('w_msa.proj.weight')!.data as Float32Array;
      const bp = sd.get('w_msa.proj.bias')!.data as Float32Array;
      const xs = seq(H * W * C, 5);
      const tok = (p: number): number[] => Array.from(xs.subarray(p * C, (p + 1) * C));
      const qkv = Array.from({ length: H * W }, (_, p) => linear(wqkv, bqkv, tok(p), C));
      const region = (i: number, size: number): number => (i < size - ws ? 0 : i < size - shift ? 1 : 2);
      const place = (p: number): { win: string; label: number } => {
        const i = (((Math.floor(p / W) - shift) % H) + H) % H;
        const j = (((p % W) - shift) % W + W) % W;
        return { win: `${Math.floor(i / ws)},${Math.floor(j / ws)}`, label: shift ? region(i, H) * 3 + region(j, W) : 0 };
      };
      const expected: number[] = [];
      for (let p = 0; p < H * W; p++) {
        const me = place(p);
        const keys = [...Array(H * W).keys()].filter((q) => place(q).win === me.win);
        const out: number[] = [];
        for (let h = 0; h < heads; h++) {
          const logits = keys.map((q) => {
            let s = 0;
            for (let c = 0; c < d; c++) s += qkv[p][h * d + c] * d ** -0.5 * qkv[q][C + h * d + c];
            return s + (place(q).label === me.label ? 0 : -100);
          });
          const a = softmax(logits);
          for (let c = 0; c < d; c++) out.push(keys.reduce((acc, q, k) => acc + a[k] * qkv[q][2 * C + h * d + c], 0));
        }
        expected.push(...linear(wp, bp, out, C));
      }
      const got = tf.tidy(() => attn.forward(tf.tensor3d(xs, [1, H * W, C]), [H, W]).dataSync());
      assert.ok(maxAbsDiff(got, expected) < 1e-5, String(maxAbsDiff(got, expected)));
    });
  }

  it('channel attention: softmax over channels of (k * scale)^T v, applied to q (by hand)', () => {
    const [N, C, heads] = [5, 4, 2];
    const d = C / heads;
    const ca = new ChannelAttention(C, heads, true);
    const sd = ca.stateDict();
    const xs = seq(N * C, 8);
    const qkv = Array.from({ length: N }, (_, n) => linear(sd.get('qkv.weight')!.data as Float32Array, sd.get('qkv.bias')!.data as Float32Array, Array.from(xs.subarray(n * C, (n + 1) * C)), C));
    const out = Array.from({ length: N }, () => new Array<number>(C).fill(0));
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < d; i++) {
        const a = softmax(Array.from({ length: d }, (_, j) => qkv.reduce((acc, row) => acc + row[C + h * d + i] * d ** -0.5 * row[2 * C + h * d + j], 0)));
        for (let n = 0; n < N; n++) out[n][h * d + i] = a.reduce((acc, w, j) => acc + w * qkv[n][h * d + j], 0);
      }
    }
    const expected = out.flatMap((row) => linear(sd.get('proj.weight')!.data as Float32Array, sd.get('proj.bias')!.data as Float32Array, row, C));
    const got = tf.tidy(() => ca.forward(tf.tensor3d(xs, [1, N, C])).dataSync());
    assert.ok(maxAbsDiff(got, expected) < 1e-5, String(maxAbsDiff(got, expected)));
  });

  it('maps smaller than the window need pad_small_map; the downsampling refuses an odd token count as MMCls does', () => {
    const small = new DaViT({ arch: { embed_dims: 8, depths: [1, 1], num_heads: [2, 2] }, out_indices: [1] });
    small.eval();
    assert.throws(() => analyzeComplexity(small, [3, 32, 32]), /smaller than the window size/);
    const padded = new DaViT({ arch: { embed_dims: 8, depths: [1, 1], num_heads: [2, 2] }, out_indices: [0, 1], pad_small_map: true });
    padded.eval();
    assert.deepEqual(analyzeComplexity(padded, [3, 32, 32]).outputShape, [[1, 8, 8, 8], [1, 16, 4, 4]]);
    const ds = new DaViTDownSample({ in_channels: 8, out_channels: 16, norm_cfg: { type: 'LN' } });
    assert.throws(() => ds.forward(tf.zeros([1, 9, 8]), [3, 3]), /wrong size/);
    const ok = ds.forward(tf.zeros([1, 16, 8]), [4, 4]);
    assert.deepEqual(ok.x.shape, [1, 4, 16]);
    assert.deepEqual(ok.hw, [2, 2]);
  });

  it('frozen_stages: the patch embedding and the first stages, and their output norms', () => {
    const m = new DaViT({ arch: { embed_dims: 8, depths: [1, 1, 1], num_heads: [2, 2, 2] }, window_size: 2, frozen_stages: 0, out_indices: [0, 2] });
    m.train();
    for (const [name, p] of m.namedParameters()) {
      const frozen = /^(patch_embed|stages\.0|norm0)\./.test(name);
      assert.equal(p.requiresGrad, !frozen, name);
    }
    assert.equal(m.stages.at(0).training, false);
    assert.equal(m.stages.at(1).training, true);
  });

  it('one training step through a small DaViT (spatial and channel blocks, downsampling) gives every parameter a gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      // No stochastic depth (DaViT's default is 0.1): a drop of both samples would zero a block's gradients.
      backbone: { type: 'DaViT', arch: { embed_dims: 8, depths: [1, 1], num_heads: [2, 2] }, window_size: 2, out_indices: [1], drop_path_rate: 0 },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
    });
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 7), [2, 32, 32, 3]);
    checkGradients(m, x);
    x.dispose();
    m.dispose();
  });
});
