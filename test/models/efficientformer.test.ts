import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { AttentionWithBias, EfficientFormer, EfficientFormerClsHead, ImageClassifier, Meta4D, attentionBiasIdxs } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';
import { configFigures } from './config_figures';

function put(sd: Record<string, StateEntry>, k: string, shape: number[], seed: number): Float32Array {
  const d = seq(shape.reduce((a, b) => a * b, 1), seed);
  sd[k] = { data: d, shape };
  return d;
}

describe('EfficientFormer', function () {
  this.timeout(60000);
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224 (with the distillation head)', () => {
    // [arch, head channels, params (exact count), FLOPs G]; the zoo lists 12.28 (12.19 in the algorithm
    // table) / 31.41 / 82.23 M parameters and 1.30 / 3.74 (3.93 in the algorithm table) / 10.16 G FLOPs.
    // The metafile's 31406000 and 82229328 equal ours; its l1 figure 12278696 is ours less the stem
    // (3x3 convs 3->24->48 with biases and their BNs: 11232).
    const zoo: [string, number, number, number][] = [
      ['l1', 448, 12289928, 1.301], ['l3', 512, 31406000, 3.928], ['l7', 768, 82229328, 10.164],
    ];
    for (const [arch, c, params, flops] of zoo) {
      it(`EfficientFormer-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type: 'EfficientFormer', arch }, neck: { type: 'GlobalAveragePooling', dim: 1 },
          head: { type: 'EfficientFormerClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const r = analyzeComplexity(m, [3, 224, 224]);
        assert.equal(r.params, params);
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.001, `flops ${r.flops}`);
        if (arch === 'l1') {
          const stem = (m as unknown as { backbone: EfficientFormer }).backbone.patchEmbed.parameters().reduce((a, p) => a + p.numel, 0);
          assert.equal(stem, 11232);
          assert.equal(r.params - stem, 12278696);
        }
      });
    }
  });

  it('attention_bias_idxs: distinct |dy|,|dx| offsets numbered in order of first appearance (int64 buffer)', () => {
    const { idxs, numOffsets, n } = attentionBiasIdxs(2);
    // points (0,0),(0,1),(1,0),(1,1): offsets (0,0)=0,(0,1)=1,(1,0)=2,(1,1)=3
    assert.equal(n, 4);
    assert.equal(numOffsets, 4);
    assert.deepEqual(Array.from(idxs), [0, 1, 2, 3, 1, 0, 3, 2, 2, 3, 0, 1, 3, 2, 1, 0]);
    assert.equal(attentionBiasIdxs(7).numOffsets, 49);
    const a = new AttentionWithBias({ embed_dims: 16 });
    const keys = a.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys, [
      'attention_biases 8x49', 'attention_bias_idxs 49x49', 'qkv.weight 1536x16', 'qkv.bias 1536', 'proj.weight 16x1024', 'proj.bias 16',
    ]);
    const sd = a.stateDict();
    assert.equal(sd.get('attention_bias_idxs')!.dtype, 'int64');
    a.dispose();
  });

  it('state-dict keys of l1: stem ConvModules, the down-sampling at index 0, Flat without keys, Meta3D last, norm3 is LN', () => {
    const m = new EfficientFormer({ arch: 'l1' });
    const all = m.stateDictKeys().map((e) => e.key);
    assert.deepEqual(all.slice(0, 8), [
      'patch_embed.0.conv.weight', 'patch_embed.0.conv.bias', 'patch_embed.0.bn.weight', 'patch_embed.0.bn.bias',
      'patch_embed.0.bn.running_mean', 'patch_embed.0.bn.running_var', 'patch_embed.0.bn.num_batches_tracked', 'patch_embed.1.conv.weight',
    ]);
    const blk0 = all.filter((k) => k.startsWith('network.0.0.'));
    assert.deepEqual(blk0, [
      'network.0.0.mlp.fc1.weight', 'network.0.0.mlp.fc1.bias', 'network.0.0.mlp.fc2.weight', 'network.0.0.mlp.fc2.bias',
      ...['norm1', 'norm2'].flatMap((n) => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `network.0.0.mlp.${n}.${s}`)),
      'network.0.0.ls1.weight', 'network.0.0.ls2.weight',
    ]);
    assert.ok(all.includes('network.1.0.conv.weight') && all.includes('network.1.0.bn.running_var'));
    // stage 3 of l1: downsample, 3 Meta4D, Flat (index 4), Meta3D (index 5).
    assert.ok(all.includes('network.3.3.mlp.norm2.weight') && !all.some((k) => k.startsWith('network.3.4.')));
    const last = all.filter((k) => k.startsWith('network.3.5.'));
    assert.deepEqual(last, [
      'network.3.5.norm1.weight', 'network.3.5.norm1.bias', 'network.3.5.token_mixer.attention_biases', 'network.3.5.token_mixer.attention_bias_idxs',
      'network.3.5.token_mixer.qkv.weight', 'network.3.5.token_mixer.qkv.bias', 'network.3.5.token_mixer.proj.weight', 'network.3.5.token_mixer.proj.bias',
      'network.3.5.norm2.weight', 'network.3.5.norm2.bias', 'network.3.5.mlp.fc1.weight', 'network.3.5.mlp.fc1.bias',
      'network.3.5.mlp.fc2.weight', 'network.3.5.mlp.fc2.bias', 'network.3.5.ls1.weight', 'network.3.5.ls2.weight',
    ]);
    assert.deepEqual(all.slice(-2), ['norm3.weight', 'norm3.bias']);
    assert.equal(m.getChild('norm3')!.typeName, 'LayerNorm');
    m.dispose();
  });

  it('AttentionWithBias on 4 tokens (resolution 2) equals softmax(q k^T / sqrt(kd) + bias[idx]) v, projected (by hand)', () => {
    const C = 3, h = 2, kd = 2, d = 4, N = 4;
    const a = new AttentionWithBias({ embed_dims: C, num_heads: h, key_dim: kd, attn_ratio: 2, resolution: 2 });
    const sd: Record<string, StateEntry> = {};
    const ab = put(sd, 'attention_biases', [h, 4], 1);
    const { idxs } = attentionBiasIdxs(2);
    sd['attention_bias_idxs'] = { data: Int32Array.from(idxs), shape: [N, N], dtype: 'int64' } as StateEntry;
    const per = 2 * kd + d;
    const wq = put(sd, 'qkv.weight', [h * per, C], 2), bq = put(sd, 'qkv.bias', [h * per], 3);
    const wp = put(sd, 'proj.weight', [C, h * d], 4), bp = put(sd, 'proj.bias', [C], 5);
    a.loadStateDict(sd);
    const x = seq(N * C, 6);
    const qkv = Array.from({ length: N }, (_, n) => Array.from({ length: h * per }, (_, o) => bq[o] + [0, 1, 2].reduce((s, c) => s + wq[o * C + c] * x[n * C + c], 0)));
    const y = Array.from({ length: N }, () => new Array<number>(h * d).fill(0));
    for (let hh = 0; hh < h; hh++) {
      const q = (n: number, i: number): number => qkv[n][hh * per + i];
      const k = (n: number, i: number): number => qkv[n][hh * per + kd + i];
      const v = (n: number, i: number): number => qkv[n][hh * per + 2 * kd + i];
      for (let i = 0; i < N; i++) {
        const logits = Array.from({ length: N }, (_, j) => {
          let s = 0;
          for (let t = 0; t < kd; t++) s += q(i, t) * k(j, t);
          return s / Math.sqrt(kd) + ab[hh * 4 + idxs[i * N + j]];
        });
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const z = e.reduce((p, c) => p + c, 0);
        for (let t = 0; t < d; t++) y[i][hh * d + t] = e.reduce((s, ee, j) => s + (ee / z) * v(j, t), 0);
      }
    }
    const want = new Float32Array(N * C);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) want[n * C + c] = bp[c] + y[n].reduce((s, yy, j) => s + wp[c * h * d + j] * yy, 0);
    const got = tf.tidy(() => a.forward(tf.tensor3d(x, [1, N, C])).dataSync());
    assert.ok(maxAbsDiff(got, want) < 1e-4, `max diff ${maxAbsDiff(got, want)}`);
    assert.throws(() => a.forward(tf.zeros([1, 5, C])), /expected 4 tokens/);
    a.dispose();
  });

  it('Meta4D (eval): x + ls1*(avgpool(x) - x), then + ls2*BN(fc2(GELU(BN(fc1(.))))) (by hand, NCHW)', () => {
    const C = 2, H = 2, W = 3, hid = 8;
    const blk = new Meta4D({ dim: C });
    const sd: Record<string, StateEntry> = {};
    const ls1 = put(sd, 'ls1.weight', [C], 1), ls2 = put(sd, 'ls2.weight', [C], 2);
    const w1 = put(sd, 'mlp.fc1.weight', [hid, C, 1, 1], 3), c1 = put(sd, 'mlp.fc1.bias', [hid], 4);
    const w2 = put(sd, 'mlp.fc2.weight', [C, hid, 1, 1], 5), c2 = put(sd, 'mlp.fc2.bias', [C], 6);
    const bn = (n: string, ch: number, s: number): Float32Array[] => {
      const g = put(sd, `mlp.${n}.weight`, [ch], s), b = put(sd, `mlp.${n}.bias`, [ch], s + 1), m = put(sd, `mlp.${n}.running_mean`, [ch], s + 2);
      const v = Float32Array.from(seq(ch, s + 3), (e) => Math.abs(e) + 0.5);
      sd[`mlp.${n}.running_var`] = { data: v, shape: [ch] };
      sd[`mlp.${n}.num_batches_tracked`] = { data: new Int32Array([0]), shape: [], dtype: 'int64' };
      return [g, b, m, v];
    };
    const [g1, b1, m1, v1] = bn('norm1', hid, 10);
    const [g2, b2, m2, v2] = bn('norm2', C, 20);
    blk.loadStateDict(sd);
    blk.eval();
    const erf = (z: number): number => { let t = z, s = z; for (let n = 1; n < 80; n++) { t *= (-z * z) / n; s += t / (2 * n + 1); } return (2 / Math.sqrt(Math.PI)) * s; };
    const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));
    const x = seq(C * H * W, 7);
    const ix = (c: number, hh: number, ww: number): number => (c * H + hh) * W + ww;
    const y = new Float64Array(x);
    for (let c = 0; c < C; c++) for (let hh = 0; hh < H; hh++) for (let ww = 0; ww < W; ww++) {
      let s = 0, k = 0;
      for (let dh = -1; dh <= 1; dh++) for (let dw = -1; dw <= 1; dw++) {
        const a = hh + dh, b = ww + dw;
        if (a >= 0 && a < H && b >= 0 && b < W) { s += x[ix(c, a, b)]; k++; }
      }
      y[ix(c, hh, ww)] = x[ix(c, hh, ww)] + ls1[c] * (s / k - x[ix(c, hh, ww)]);
    }
    const out = new Float64Array(y);
    for (let hh = 0; hh < H; hh++) for (let ww = 0; ww < W; ww++) {
      const hidden = Array.from({ length: hid }, (_, j) => {
        const pre = c1[j] + Array.from({ length: C }, (_, c) => w1[j * C + c] * y[ix(c, hh, ww)]).reduce((a, b) => a + b, 0);
        return gelu(((pre - m1[j]) / Math.sqrt(v1[j] + 1e-5)) * g1[j] + b1[j]);
      });
      for (let c = 0; c < C; c++) {
        const pre = c2[c] + hidden.reduce((a, v, j) => a + w2[c * hid + j] * v, 0);
        out[ix(c, hh, ww)] += ls2[c] * (((pre - m2[c]) / Math.sqrt(v2[c] + 1e-5)) * g2[c] + b2[c]);
      }
    }
    const got = tf.tidy(() => nhwcToNchw(blk.forward(nchwToNhwc(x, [1, C, H, W]))));
    assert.ok(maxAbsDiff(got, out) < 1e-4, `max diff ${maxAbsDiff(got, out)}`);
    blk.dispose();
  });

  const tiny = { layers: [1, 1, 1, 2], embed_dims: [8, 8, 16, 16], downsamples: [false, true, true, true], vit_num: 1 };

  it('outputs (tokens [B, N, C] for PyTorch (B, C, N), or a map with reshape_last_feat), out_indices and frozen stages', () => {
    const x = tf.zeros([1, 224, 224, 3]);
    const m = new EfficientFormer({ arch: tiny, out_indices: [0, 2, -1] });
    m.eval();
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[1, 56, 56, 8], [1, 14, 14, 16], [1, 49, 16]]);
    assert.deepEqual(analyzeComplexity(m, [3, 224, 224]).outputShape, [[1, 8, 56, 56], [1, 16, 14, 14], [1, 16, 49]]);
    const r = new EfficientFormer({ arch: tiny, reshape_last_feat: true });
    r.eval();
    const ro = r.forward(x) as tf.Tensor[];
    assert.deepEqual(ro[0].shape, [1, 7, 7, 16]);
    assert.equal(r.getChild('norm3')!.typeName, 'GroupNorm');
    const f = new EfficientFormer({ arch: tiny, frozen_stages: 2, out_indices: [0, 1, 3] });
    f.train();
    assert.ok(f.patchEmbed.parameters().every((p) => !p.requiresGrad) && !f.patchEmbed.training);
    assert.ok(f.network.at(1).parameters().every((p) => !p.requiresGrad) && f.getChild('norm1')!.training === false);
    assert.ok(f.network.at(2).parameters().every((p) => p.requiresGrad) && f.getChild('norm3')!.training);
    const u = new EfficientFormer({ arch: tiny });
    assert.ok(u.parameters().every((p) => p.requiresGrad));
    assert.throws(() => new EfficientFormer({ arch: 'l2' as 'l1' }), /Unavailable arch/);
    assert.throws(() => new EfficientFormer({ arch: { layers: [1], embed_dims: [8] } as unknown as typeof tiny }), /must have/);
    tf.dispose([x, ...outs, ...ro]);
    [m, r, f, u].forEach((n) => n.dispose());
  });

  it('EfficientFormerClsHead: the mean of head and dist_head; loss only without distillation', () => {
    const h = new EfficientFormerClsHead({ num_classes: 3, in_channels: 2 });
    const sd: Record<string, StateEntry> = {};
    const w = put(sd, 'head.weight', [3, 2], 1), b = put(sd, 'head.bias', [3], 2);
    const wd = put(sd, 'dist_head.weight', [3, 2], 3), bd = put(sd, 'dist_head.bias', [3], 4);
    h.loadStateDict(sd);
    const f = [0.5, -1.5];
    const want = [0, 1, 2].map((o) => ((b[o] + w[o * 2] * f[0] + w[o * 2 + 1] * f[1]) + (bd[o] + wd[o * 2] * f[0] + wd[o * 2 + 1] * f[1])) / 2);
    const feat = tf.tensor2d([f]);
    const got = h.forward([feat]);
    assert.ok(maxAbsDiff(got.dataSync(), want) < 1e-6);
    assert.throws(() => h.loss([feat], [new ClsDataSample().set_gt_label(1)]), /distilled/);
    const nd = new EfficientFormerClsHead({ num_classes: 3, in_channels: 2, distillation: false });
    assert.deepEqual(nd.stateDictKeys().map((e) => e.key), ['head.weight', 'head.bias']);
    const l = nd.loss([feat], [new ClsDataSample().set_gt_label(1)]);
    assert.ok(Number.isFinite(l.loss.dataSync()[0]));
    tf.dispose([feat, got, ...Object.values(l)]);
    h.dispose();
    nd.dispose();
  });

  it('one training step of a tiny EfficientFormer gives every trainable parameter a finite, non-zero gradient', () => {
    checkGradients({ type: 'EfficientFormer', arch: tiny, drop_path_rate: 0 }, { type: 'GlobalAveragePooling', dim: 1 }, 16, 224);
  });

  describe('configs at 224x224', () => {
    const cases: [string, number, number][] = [['l1', 12.29, 1.301], ['l3', 31.41, 3.928], ['l7', 82.23, 10.164]];
    for (const [arch, params, flops] of cases) {
      it(`configs/efficientformer/efficientformer-${arch}_8xb128_in1k.py`, () => {
        const r = configFigures(`efficientformer/efficientformer-${arch}_8xb128_in1k.py`);
        assert.deepEqual(r.inputShape, [3, 224, 224]);
        assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.001, `flops ${r.flops}`);
      });
    }
  });
});
