import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { XCiT } from '../../runtime/models';
import { ClassAttentionBlock, LPI, XCA, XCiTClassAttention, XCiTPositionalEncodingFourier } from '../../runtime/models/backbones/xcit';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';
import { configFigures } from './config_figures';
import { checkGradients } from './gradient_step';

// The XCiT and TinyViT rows of the spec's model-zoo table (../shared/spec/model-zoo.tsv), copied so the
// test runs where the spec folder is not beside the clone.
const ZOO = path.resolve(__dirname, '../fixtures/models/model-zoo-xcit-tinyvit.tsv');

/** Params (M) and FLOPs (G) of the zoo's XCiT rows, by model name. */
function zooRows(): Map<string, [number, number]> {
  const rows = new Map<string, [number, number]>();
  for (const line of fs.readFileSync(ZOO, 'utf8').split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'XCiT') rows.set(f[2].replace(/\*$/, ''), [Number(f[3]), Number(f[4])]);
  }
  return rows;
}

const TINY = { embed_dims: 16, depth: 2, num_heads: 2, patch_size: 8 } as const;

const gelu = (v: number): number => {
  // erf by Abramowitz-Stegun 7.1.26 is too coarse; use a series-free high-precision erf.
  const erf = (z: number): number => {
    const t = 1 / (1 + 0.5 * Math.abs(z));
    const y =
      1 -
      t *
        Math.exp(
          -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
        );
    return z >= 0 ? y : -y;
  };
  return 0.5 * v * (1 + erf(v / Math.SQRT2));
};

describe('XCiT', () => {
  before(useTestBackend);

  describe('the 28 configs: parameters and FLOPs as the model zoo publishes them (both checkpoints of each)', function () {
    this.timeout(120000);
    const zoo = zooRows();
    const dir = path.resolve(__dirname, '../../configs/xcit');
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.py')).sort();
    it('one config per architecture, patch size and resolution', () => assert.equal(files.length, 28));
    for (const file of files) {
      it(file, () => {
        const m = /^xcit-(.+)_8xb128_in1k(-384px)?\.py$/.exec(file)!;
        const { params, flops } = configFigures(`xcit/${file}`);
        for (const kind of ['3rdparty', '3rdparty-dist']) {
          if (kind === '3rdparty' && m[2]) continue; // the 384px checkpoints are distilled only
          const [p, f] = zoo.get(`xcit-${m[1]}_${kind}_in1k${m[2] ?? ''}`)!;
          assert.ok(Math.abs(params / 1e6 - p) <= 0.005 + 1e-9, `params ${params}`);
          assert.ok(Math.abs(flops / 1e9 - f) <= 0.005 + 1e-9, `flops ${flops}`);
        }
      });
    }
    it('the zoo has 42 XCiT checkpoints', () => assert.equal([...zoo.keys()].length, 42));
  });

  it('state dict: cls_token first, the conv patch embedding with batch norms (num_batches_tracked included), blocks in MMCls order', () => {
    const m = new XCiT({ ...TINY, cls_attn_layers: 1 });
    const keys = m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 8), [
      'cls_token 1x1x16',
      'patch_embed.proj.0.conv.weight 4x3x3x3',
      'patch_embed.proj.0.bn.weight 4',
      'patch_embed.proj.0.bn.bias 4',
      'patch_embed.proj.0.bn.running_mean 4',
      'patch_embed.proj.0.bn.running_var 4',
      'patch_embed.proj.0.bn.num_batches_tracked ',
      'patch_embed.proj.1.conv.weight 8x4x3x3',
    ]);
    // The last conv of the stem has a batch norm too and no bias.
    assert.ok(keys.includes('patch_embed.proj.2.bn.weight 16') && !keys.some((k) => k.startsWith('patch_embed.proj.2.conv.bias')));
    const block = keys.filter((k) => k.startsWith('xca_layers.0.')).map((k) => k.slice('xca_layers.0.'.length));
    assert.deepEqual(block, [
      'gamma1 16', 'gamma3 16', 'gamma2 16', 'norm1.weight 16', 'norm1.bias 16', 'attn.temperature 2x1x1',
      'attn.qkv.weight 48x16', 'attn.qkv.bias 48', 'attn.proj.weight 16x16', 'attn.proj.bias 16', 'norm3.weight 16', 'norm3.bias 16',
      'local_mp.conv1.conv.weight 16x1x3x3', 'local_mp.conv1.conv.bias 16', 'local_mp.conv1.bn.weight 16', 'local_mp.conv1.bn.bias 16',
      'local_mp.conv1.bn.running_mean 16', 'local_mp.conv1.bn.running_var 16', 'local_mp.conv1.bn.num_batches_tracked ',
      'local_mp.conv2.conv.weight 16x1x3x3', 'local_mp.conv2.conv.bias 16', 'norm2.weight 16', 'norm2.bias 16',
      'ffn.layers.0.0.weight 64x16', 'ffn.layers.0.0.bias 64', 'ffn.layers.1.weight 16x64', 'ffn.layers.1.bias 16',
    ]);
    const ca = keys.filter((k) => k.startsWith('ca_layers.0.')).map((k) => k.slice('ca_layers.0.'.length).split(' ')[0]);
    assert.deepEqual(ca.slice(0, 6), ['gamma1', 'gamma2', 'norm1.weight', 'norm1.bias', 'attn.q.weight', 'attn.q.bias']);
    assert.ok(keys.includes('pos_embed.token_projection.conv.weight 16x64x1x1'));
    assert.deepEqual(keys.slice(-2), ['norm.weight 16', 'norm.bias 16']);
    const nb = m.stateDictKeys().find((e) => e.key.endsWith('num_batches_tracked'))!;
    assert.equal(nb.kind, 'buffer');
    assert.equal(nb.tensor.dtype, 'int32');
    // Without layer scale the class-attention blocks have no gammas; the XCA blocks always have them.
    const noLs = new XCiT({ ...TINY, layer_scale_init_value: 0, cls_attn_layers: 1 }).stateDictKeys().map((e) => e.key);
    assert.ok(!noLs.includes('ca_layers.0.gamma1') && noLs.includes('xca_layers.0.gamma1'));
  });

  it('XCA: per head softmax(temperature * q_n k_n^T) v over channels, q and k normalised along the tokens (by hand)', () => {
    const [N, C, h] = [5, 4, 2];
    const d = C / h;
    const att = new XCA({ dim: C, num_heads: h, qkv_bias: true });
    const xs = seq(N * C, 9);
    const sd = att.stateDict();
    const temp = [1.5, 0.5];
    sd.set('temperature', { data: new Float32Array(temp), shape: [h, 1, 1] });
    att.loadStateDict(sd);
    const wq = sd.get('qkv.weight')!.data as Float32Array;
    const bq = sd.get('qkv.bias')!.data as Float32Array;
    const wp = sd.get('proj.weight')!.data as Float32Array;
    const bp = sd.get('proj.bias')!.data as Float32Array;
    const qkv = Array.from({ length: N }, (_, n) => Array.from({ length: 3 * C }, (_, o) => bq[o] + Array.from({ length: C }, (_, c) => wq[o * C + c] * xs[n * C + c]).reduce((a, b) => a + b, 0)));
    const out = Array.from({ length: N }, () => new Array<number>(C).fill(0));
    for (let hh = 0; hh < h; hh++) {
      const get = (part: number, i: number): number[] => qkv.map((row) => row[part * C + hh * d + i]);
      const norm = (v: number[]): number[] => {
        const l = Math.sqrt(v.reduce((a, e) => a + e * e, 0));
        return v.map((e) => e / Math.max(l, 1e-12));
      };
      const q = Array.from({ length: d }, (_, i) => norm(get(0, i)));
      const k = Array.from({ length: d }, (_, i) => norm(get(1, i)));
      const v = Array.from({ length: d }, (_, i) => get(2, i));
      for (let i = 0; i < d; i++) {
        const logits = Array.from({ length: d }, (_, j) => temp[hh] * q[i].reduce((a, e, n) => a + e * k[j][n], 0));
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const s = e.reduce((a, b) => a + b, 0);
        for (let n = 0; n < N; n++) out[n][hh * d + i] = e.reduce((a, w, j) => a + (w / s) * v[j][n], 0);
      }
    }
    const expected = out.flatMap((row) => Array.from({ length: C }, (_, o) => bp[o] + row.reduce((a, e, c) => a + wp[o * C + c] * e, 0)));
    att.eval();
    const got = tf.tidy(() => att.forward(tf.tensor3d(xs, [1, N, C])).dataSync());
    assert.ok(maxAbsDiff(got, expected) < 1e-5, String(maxAbsDiff(got, expected)));
  });

  it('class attention: only the class token queries, scaled by head_dims ** -0.5 (by hand)', () => {
    const [N, C, h] = [4, 4, 2];
    const d = C / h;
    const att = new XCiTClassAttention({ dim: C, num_heads: h, qkv_bias: true });
    const xs = seq(N * C, 5);
    const sd = att.stateDict();
    const lin = (name: string, row: ArrayLike<number>): number[] => {
      const w = sd.get(`${name}.weight`)!.data as Float32Array;
      const b = sd.get(`${name}.bias`)!.data as Float32Array;
      return Array.from({ length: C }, (_, o) => b[o] + Array.from({ length: C }, (_, c) => w[o * C + c] * row[c]).reduce((a, e) => a + e, 0));
    };
    const tokens = Array.from({ length: N }, (_, n) => Array.from(xs.slice(n * C, (n + 1) * C)));
    const q = lin('q', tokens[0]);
    const k = tokens.map((t) => lin('k', t));
    const v = tokens.map((t) => lin('v', t));
    const y = new Array<number>(C).fill(0);
    for (let hh = 0; hh < h; hh++) {
      const logits = k.map((kn) => Array.from({ length: d }, (_, i) => q[hh * d + i] * d ** -0.5 * kn[hh * d + i]).reduce((a, e) => a + e, 0));
      const mx = Math.max(...logits);
      const e = logits.map((l) => Math.exp(l - mx));
      const s = e.reduce((a, b) => a + b, 0);
      for (let i = 0; i < d; i++) y[hh * d + i] = e.reduce((a, w, n) => a + (w / s) * v[n][hh * d + i], 0);
    }
    const expected = lin('proj', y);
    att.eval();
    const out = tf.tidy(() => att.forward(tf.tensor3d(xs, [1, N, C])));
    assert.deepEqual(out.shape, [1, 1, C]);
    assert.ok(maxAbsDiff(out.dataSync(), expected) < 1e-5);
    out.dispose();
  });

  it('class-attention block: patch tokens come out as 2 (x + gamma1 LN(x)); the class token through attention and FFN', () => {
    const [N, C] = [3, 4];
    const blk = new ClassAttentionBlock({ dim: C, num_heads: 2, layer_scale_init_value: 0.5 });
    blk.initWeights();
    blk.eval();
    const xs = seq(N * C, 3);
    const x = tf.tensor3d(xs, [1, N, C]);
    const out = tf.tidy(() => blk.forward(x).dataSync());
    const ln = (row: number[]): number[] => {
      const mu = row.reduce((a, e) => a + e, 0) / row.length;
      const vr = row.reduce((a, e) => a + (e - mu) ** 2, 0) / row.length;
      return row.map((e) => (e - mu) / Math.sqrt(vr + 1e-6));
    };
    for (let n = 1; n < N; n++) {
      const row = Array.from(xs.slice(n * C, (n + 1) * C));
      const nr = ln(row);
      const expected = row.map((e, c) => 2 * (e + 0.5 * nr[c]));
      assert.ok(maxAbsDiff(out.slice(n * C, (n + 1) * C), expected) < 1e-5, `token ${n}`);
    }
    // The class token: cls' = x0 + 0.5 attn(LN(x)); out = LN(cls') + 0.5 FFN(LN(cls')).
    const cls1 = tf.tidy(() => tf.add(tf.slice(x, [0, 0, 0], [1, 1, C]), tf.mul(0.5, blk.attn.forward(blk.norm1.forward(x)))).dataSync());
    const n2 = ln(Array.from(cls1));
    const ffn = tf.tidy(() => blk.ffn.forward(tf.tensor3d(n2, [1, 1, C])).dataSync());
    assert.ok(maxAbsDiff(out.slice(0, C), n2.map((e, c) => e + 0.5 * ffn[c])) < 1e-5);
    // tokens_norm: the patch tokens are normalised too.
    const all = new ClassAttentionBlock({ dim: C, num_heads: 2, tokens_norm: true });
    all.eval();
    const o2 = tf.tidy(() => all.forward(x).dataSync());
    const row = Array.from(xs.slice(C, 2 * C));
    const nr = ln(row);
    assert.ok(maxAbsDiff(o2.slice(C, 2 * C), ln(row.map((e, c) => e + nr[c])).map((e) => 2 * e)) < 1e-4);
    x.dispose();
  });

  it('LPI: depth-wise conv, GELU, batch norm, depth-wise conv on the patch grid (by hand)', () => {
    const [H, W, C] = [3, 3, 2];
    const lpi = new LPI({ in_features: C });
    const sd = lpi.stateDict();
    sd.set('conv1.bn.running_mean', { data: new Float32Array([0.1, -0.2]), shape: [C] });
    sd.set('conv1.bn.running_var', { data: new Float32Array([1.5, 0.5]), shape: [C] });
    sd.set('conv1.bn.weight', { data: new Float32Array([0.7, 1.3]), shape: [C] });
    sd.set('conv1.bn.bias', { data: new Float32Array([0.05, -0.1]), shape: [C] });
    lpi.loadStateDict(sd);
    lpi.eval();
    const xs = seq(H * W * C, 4);
    const dw = (inp: (i: number, j: number, c: number) => number, name: string): number[][][] => {
      const w = sd.get(`${name}.weight`)!.data as Float32Array; // [C, 1, 3, 3]
      const b = sd.get(`${name}.bias`)!.data as Float32Array;
      return Array.from({ length: H }, (_, i) => Array.from({ length: W }, (_, j) => Array.from({ length: C }, (_, c) => {
        let s = b[c];
        for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) {
          const ii = i + di;
          const jj = j + dj;
          if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += w[c * 9 + (di + 1) * 3 + (dj + 1)] * inp(ii, jj, c);
        }
        return s;
      })));
    };
    const mean = [0.1, -0.2];
    const vr = [1.5, 0.5];
    const g = [0.7, 1.3];
    const bt = [0.05, -0.1];
    const a = dw((i, j, c) => xs[(i * W + j) * C + c], 'conv1.conv');
    const bn = a.map((r) => r.map((p) => p.map((v, c) => ((gelu(v) - mean[c]) / Math.sqrt(vr[c] + 1e-5)) * g[c] + bt[c])));
    const expected = dw((i, j, c) => bn[i][j][c], 'conv2.conv').flat(2);
    const got = tf.tidy(() => lpi.forward(tf.tensor3d(xs, [1, H * W, C]), H, W).dataSync());
    assert.ok(maxAbsDiff(got, expected) < 1e-4, String(maxAbsDiff(got, expected)));
  });

  it('Fourier position encoding: the shared features projected by token_projection', () => {
    const pe = new XCiTPositionalEncodingFourier({ dim: 3 });
    const f = pe.features(2, 3);
    const t = 10000 ** ((2 * Math.floor(5 / 2)) / 32);
    // row feature k=5 (cos) at (i=1, j=2); column feature k=4 (sin)
    assert.ok(Math.abs(f[(1 * 3 + 2) * 64 + 5] - Math.cos(((2 / (2 + 1e-6)) * 2 * Math.PI) / t)) < 1e-5);
    assert.ok(Math.abs(f[(1 * 3 + 2) * 64 + 32 + 4] - Math.sin(((3 / (3 + 1e-6)) * 2 * Math.PI) / 10000 ** (4 / 32))) < 1e-5);
    const sd = pe.stateDict();
    const w = sd.get('token_projection.conv.weight')!.data as Float32Array; // [3, 64, 1, 1]
    const b = sd.get('token_projection.conv.bias')!.data as Float32Array;
    const got = tf.tidy(() => pe.forward(2, 2, 3).dataSync());
    assert.equal(got.length, 2 * 6 * 3);
    for (const [p, o] of [[0, 0], [4, 2], [5, 1]]) {
      let s = b[o];
      for (let k = 0; k < 64; k++) s += w[o * 64 + k] * f[p * 64 + k];
      assert.ok(Math.abs(got[p * 3 + o] - s) < 1e-4 && Math.abs(got[18 + p * 3 + o] - s) < 1e-4);
    }
  });

  it('outputs: cls_token [B, C] by default; featmap / avg_featmap / raw; out_indices over XCA then class-attention layers', () => {
    const shapes = (o: Record<string, unknown>): unknown => {
      const m = new XCiT({ ...TINY, ...o });
      m.eval();
      return analyzeComplexity(m, [3, 32, 32]).outputShape;
    };
    assert.deepEqual(shapes({}), [[1, 16]]);
    assert.deepEqual(shapes({ out_type: 'featmap', out_indices: [0, 3] }), [[1, 16, 4, 4], [1, 16, 4, 4]]);
    assert.deepEqual(shapes({ out_type: 'avg_featmap', out_indices: [1] }), [[1, 16]]);
    assert.deepEqual(shapes({ out_type: 'raw', out_indices: [1, -1] }), [[1, 16, 16], [1, 17, 16]]);
    assert.throws(() => shapes({ out_indices: [0] }), /Cannot output cls_token/);
    assert.throws(() => new XCiT({ ...TINY, out_indices: [-5] }), /Invalid out_indices/);
    assert.throws(() => new XCiT({ ...TINY, patch_size: 4 }), /patch size must be 16 or 8/);
    assert.throws(() => new XCiT({ ...TINY, img_size: 100 }), /should divide/);
    assert.throws(() => new XCiT({ ...TINY, frozen_stages: 6 }), /frozen_stages/);
    // The real forward agrees with the shape pass.
    const m = new XCiT({ ...TINY, out_type: 'featmap', out_indices: [0, 3] });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(2 * 16 * 24 * 3, 2), [2, 16, 24, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((t) => t.shape), [[2, 2, 3, 16], [2, 2, 3, 16]]);
    const cls = new XCiT(TINY);
    cls.initWeights();
    cls.eval();
    const [c] = cls.forward(x) as tf.Tensor[];
    assert.deepEqual(c.shape, [2, 16]);
    assert.ok(c.dataSync().every(Number.isFinite));
    tf.dispose([x, ...outs, c]);
  });

  it('frozen_stages: 0 the stem; k also the first k - 1 layers; all layers also the final norm (MMCls semantics)', () => {
    const frozenNames = (k: number): string[] => {
      const m = new XCiT({ ...TINY, frozen_stages: k });
      m.train();
      return m.namedParameters().filter(([, p]) => !p.requiresGrad).map(([n]) => n.split('.').slice(0, 2).join('.'));
    };
    assert.deepEqual([...new Set(frozenNames(0))], ['patch_embed.proj', 'pos_embed.token_projection']);
    assert.deepEqual([...new Set(frozenNames(2))], ['patch_embed.proj', 'pos_embed.token_projection', 'xca_layers.0']);
    assert.deepEqual([...new Set(frozenNames(3))], ['cls_token', 'patch_embed.proj', 'pos_embed.token_projection', 'xca_layers.0', 'xca_layers.1']);
    assert.deepEqual([...new Set(frozenNames(4))], ['cls_token', 'patch_embed.proj', 'pos_embed.token_projection', 'xca_layers.0', 'xca_layers.1', 'ca_layers.0', 'norm.weight', 'norm.bias']);
    const m = new XCiT({ ...TINY, frozen_stages: 2 });
    m.train();
    assert.equal(m.patchEmbed.training, false);
    assert.equal(m.xcaLayers.at(0).training, false);
    assert.equal(m.xcaLayers.at(1).training, true);
  });

  it('init: cls_token N(0, 0.02), linear layers truncated normal (std 1 in [-2, 2], as the default init_cfg says), XCA temperature 1, layer scales at their initial value', () => {
    const m = new XCiT({ ...TINY, embed_dims: 64, layer_scale_init_value: 1e-5 });
    m.initWeights();
    const sd = m.stateDict();
    const cls = sd.get('cls_token')!.data as Float32Array;
    assert.ok(cls.some((v) => v !== 0) && cls.every((v) => Math.abs(v) < 0.15));
    const w = sd.get('xca_layers.0.ffn.layers.0.0.weight')!.data as Float32Array;
    // MMEngine's TruncNormal defaults: std 1 cut at +-2.
    assert.ok(w.every((v) => Math.abs(v) <= 2 + 1e-6));
    const sdv = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    assert.ok(sdv > 0.75 && sdv < 0.95, String(sdv));
    assert.deepEqual(Array.from(sd.get('xca_layers.0.attn.temperature')!.data as Float32Array), [1, 1]);
    assert.ok((sd.get('xca_layers.1.gamma3')!.data as Float32Array).every((v) => Math.abs(v - 1e-5) < 1e-12));
    assert.ok((sd.get('ca_layers.0.gamma2')!.data as Float32Array).every((v) => Math.abs(v - 1e-5) < 1e-12));
    m.dispose();
  });

  it('one training step through a small XCiT (conv stem, XCA, LPI, class attention) gives every parameter a gradient', function () {
    this.timeout(60000);
    checkGradients({ type: 'XCiT', ...TINY, drop_path_rate: 0, tokens_norm: true }, null, 16, 16);
    checkGradients({ type: 'XCiT', ...TINY, patch_size: 16, drop_path_rate: 0 }, null, 16, 32);
  });
});
