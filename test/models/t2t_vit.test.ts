import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { T2TTransformerLayer, T2T_ViT, Unfold, getSinusoidEncoding } from '../../runtime/models';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { StateEntry } from '../../runtime/nn/module';
import { MmclsError } from '../../runtime/errors';
import { checkGradients } from './gradient_step';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

const CONFIGS = path.resolve(__dirname, '..', '..', 'configs');

function layerNorm(row: number[], w: ArrayLike<number>, b: ArrayLike<number>, eps: number): number[] {
  const n = row.length;
  const mean = row.reduce((a, v) => a + v, 0) / n;
  const v = row.reduce((a, x) => a + (x - mean) ** 2, 0) / n;
  return row.map((x, i) => ((x - mean) / Math.sqrt(v + eps)) * w[i] + b[i]);
}

/** y = x W^T (+ b), W row-major [out, in]. */
function linear(x: number[], w: ArrayLike<number>, out: number, b?: ArrayLike<number>): number[] {
  const n = x.length;
  const y: number[] = [];
  for (let o = 0; o < out; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < n; i++) s += w[o * n + i] * x[i];
    y.push(s);
  }
  return y;
}

describe('T2T_ViT', () => {
  before(useTestBackend);

  describe('configs: parameters equal the model zoo, FLOPs the measured MMClassification count', () => {
    // [config, params (zoo, M), FLOPs (zoo, G)]. The zoo's FLOPs come from MMCV's older counter, which
    // counts linear layers and 2 flops per layer-norm element but not the attention matmuls; the
    // full fvcore count of t2t-vit-t-14 (6105124160) is the one measured on MMClassification 1.0.0rc6.
    const zoo: [string, number, number][] = [
      ['t2t-vit-t-14_8xb64_in1k', 21.47, 4.34],
      ['t2t-vit-t-19_8xb64_in1k', 39.08, 7.8],
      ['t2t-vit-t-24_8xb64_in1k', 64.0, 12.69],
    ];
    for (const [name, params, flops] of zoo) {
      it(name, () => {
        const cfg = loadConfig(path.join(CONFIGS, 't2t_vit', `${name}.py`)).value as Record<string, unknown>;
        const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), name);
        assert.equal(Math.round(result.params / 1e4) / 100, params);
        const older = result.byOperator.linear + 0.4 * result.byOperator.layer_norm;
        assert.equal(Math.round(older / 1e7) / 100, flops);
        if (name === 't2t-vit-t-14_8xb64_in1k') {
          assert.equal(result.params, 21465422);
          assert.equal(result.flops, 6105124160);
        }
      });
    }
  });

  it('state-dict keys: cls_token, the sinusoid pos_embed buffer, then tokens_to_token, encoder, norm', () => {
    const m = new T2T_ViT({ img_size: 32, embed_dims: 12, num_layers: 1, t2t_cfg: { token_dims: 4 }, layer_cfgs: { num_heads: 2 } });
    assert.deepEqual(
      m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`),
      [
        'cls_token 1x1x12', 'pos_embed 1x5x12',
        'tokens_to_token.attention1.ln1.weight 147', 'tokens_to_token.attention1.ln1.bias 147',
        'tokens_to_token.attention1.attn.qkv.weight 12x147', 'tokens_to_token.attention1.attn.proj.weight 4x4', 'tokens_to_token.attention1.attn.proj.bias 4',
        'tokens_to_token.attention1.ln2.weight 4', 'tokens_to_token.attention1.ln2.bias 4',
        'tokens_to_token.attention1.ffn.layers.0.0.weight 4x4', 'tokens_to_token.attention1.ffn.layers.0.0.bias 4',
        'tokens_to_token.attention1.ffn.layers.1.weight 4x4', 'tokens_to_token.attention1.ffn.layers.1.bias 4',
        'tokens_to_token.attention2.ln1.weight 36', 'tokens_to_token.attention2.ln1.bias 36',
        'tokens_to_token.attention2.attn.qkv.weight 12x36', 'tokens_to_token.attention2.attn.proj.weight 4x4', 'tokens_to_token.attention2.attn.proj.bias 4',
        'tokens_to_token.attention2.ln2.weight 4', 'tokens_to_token.attention2.ln2.bias 4',
        'tokens_to_token.attention2.ffn.layers.0.0.weight 4x4', 'tokens_to_token.attention2.ffn.layers.0.0.bias 4',
        'tokens_to_token.attention2.ffn.layers.1.weight 4x4', 'tokens_to_token.attention2.ffn.layers.1.bias 4',
        'tokens_to_token.project.weight 12x36', 'tokens_to_token.project.bias 12',
        'encoder.0.ln1.weight 12', 'encoder.0.ln1.bias 12', 'encoder.0.attn.qkv.weight 36x12', 'encoder.0.attn.proj.weight 12x12', 'encoder.0.attn.proj.bias 12',
        'encoder.0.ln2.weight 12', 'encoder.0.ln2.bias 12', 'encoder.0.ffn.layers.0.0.weight 36x12', 'encoder.0.ffn.layers.0.0.bias 36',
        'encoder.0.ffn.layers.1.weight 12x36', 'encoder.0.ffn.layers.1.bias 12', 'norm.weight 12', 'norm.bias 12',
      ],
    );
    // pos_embed is a buffer (not a parameter); the parameters are everything else.
    assert.ok(!m.namedParameters().some(([n]) => n === 'pos_embed'));
    m.dispose();
  });

  it('pos_embed is the sinusoid table: sin on even, cos on odd dimensions of pos / 10000^(2*(i//2)/d)', () => {
    const t = getSinusoidEncoding(3, 4);
    const expected = [
      0, 1, 0, 1,
      Math.sin(1), Math.cos(1), Math.sin(1 / 100), Math.cos(1 / 100),
      Math.sin(2), Math.cos(2), Math.sin(2 / 100), Math.cos(2 / 100),
    ];
    assert.ok(maxAbsDiff(t, expected) < 1e-7);
    const m = new T2T_ViT({ img_size: 32, embed_dims: 4, num_layers: 1, t2t_cfg: { token_dims: 4 }, layer_cfgs: { num_heads: 2 } });
    assert.ok(maxAbsDiff(m.posEmbed.variable.dataSync(), getSinusoidEncoding(5, 4)) === 0);
    m.dispose();
  });

  it('Unfold matches nn.Unfold (feature c*k*k + ki*k + kj, zero padding) transposed to [B, L, C*k*k]', () => {
    const [c, h, w] = [2, 5, 6];
    const data = seq(c * h * w, 3); // NCHW
    const x = tf.tidy(() => tf.transpose(tf.tensor4d(data, [1, c, h, w]), [0, 2, 3, 1]));
    const u = new Unfold({ kernel_size: 3, stride: 2, padding: 1 });
    const y = u.forward(x);
    const [oh, ow] = [3, 3];
    assert.deepEqual(u.outSize(h, w), [oh, ow]);
    assert.deepEqual(y.shape, [1, oh * ow, c * 9]);
    const expected: number[] = [];
    for (let l = 0; l < oh * ow; l++) {
      const [oy, ox] = [Math.floor(l / ow), l % ow];
      for (let ch = 0; ch < c; ch++) for (let ki = 0; ki < 3; ki++) for (let kj = 0; kj < 3; kj++) {
        const [iy, ix] = [oy * 2 - 1 + ki, ox * 2 - 1 + kj];
        expected.push(iy < 0 || iy >= h || ix < 0 || ix >= w ? 0 : data[(ch * h + iy) * w + ix]);
      }
    }
    assert.ok(maxAbsDiff(y.dataSync(), expected) === 0);
    tf.dispose([x, y]);
  });

  it('T2TTransformerLayer with input_dims: the attention scale is input_dims**-0.5 and v replaces the shortcut', () => {
    const [n, din, e] = [3, 8, 4];
    const layer = new T2TTransformerLayer({ input_dims: din, embed_dims: e, num_heads: 1, feedforward_channels: 4 });
    layer.eval();
    const sd = new Map<string, StateEntry>();
    layer.stateDictKeys().forEach(({ key, shape }, i) => {
      const k = shape.reduce((a, b) => a * b, 1);
      // The FFN's last layer is zeroed: the FFN then adds nothing, leaving the attention part to check.
      sd.set(key, { data: key.startsWith('ffn.layers.1') ? new Float32Array(k) : seq(k, 11 + i), shape });
    });
    layer.loadStateDict(sd);
    const xd = seq(n * din, 5);
    const x = tf.tensor3d(xd, [1, n, din]);
    const y = layer.forward(x);
    const g = (k: string): Float32Array => sd.get(k)!.data as Float32Array;
    const rows = [0, 1, 2].map((t) => layerNorm(Array.from(xd.slice(t * din, (t + 1) * din)), g('ln1.weight'), g('ln1.bias'), 1e-5));
    const qkv = rows.map((r) => linear(r, g('attn.qkv.weight'), 3 * e));
    const scale = din ** -0.5;
    const expected: number[] = [];
    for (let i = 0; i < n; i++) {
      const logits = qkv.map((kv) => scale * [0, 1, 2, 3].reduce((s, d) => s + qkv[i][d] * kv[e + d], 0));
      const mx = Math.max(...logits);
      const ex = logits.map((l) => Math.exp(l - mx));
      const z = ex.reduce((a, b) => a + b, 0);
      const o = [0, 1, 2, 3].map((d) => qkv.reduce((s, kv, j) => s + (ex[j] / z) * kv[2 * e + d], 0));
      const p = linear(o, g('attn.proj.weight'), e, g('attn.proj.bias'));
      expected.push(...p.map((v, d) => v + qkv[i][2 * e + d]));
    }
    assert.deepEqual(y.shape, [1, n, e]);
    assert.ok(maxAbsDiff(y.dataSync(), expected) < 1e-5);
    tf.dispose([x, y]);
    layer.dispose();
  });

  it('outputs [patch_token, cls_token] per out_index; img_size // 16 patches; output_cls_token needs the cls token', () => {
    const m = new T2T_ViT({ img_size: 32, embed_dims: 8, num_layers: 2, out_indices: [0, -1], t2t_cfg: { token_dims: 4 }, layer_cfgs: { num_heads: 2 } });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(32 * 32 * 3, 2), [1, 32, 32, 3]);
    const outs = m.forward(x) as unknown as tf.Tensor[][];
    assert.equal(outs.length, 2);
    assert.deepEqual(outs[1][0].shape, [1, 2, 2, 8]);
    assert.deepEqual(outs[1][1].shape, [1, 8]);
    assert.throws(() => new T2T_ViT({ with_cls_token: false }), MmclsError);
    assert.throws(() => new T2T_ViT({ t2t_cfg: { use_performer: true } }), MmclsError);
    tf.dispose([x, ...outs.flat()]);
    m.dispose();
  });

  it('a checkpoint pos_embed made for another grid is interpolated on load (MMCls _prepare_pos_embed)', () => {
    const m = new T2T_ViT({ img_size: 32, embed_dims: 4, num_layers: 1, t2t_cfg: { token_dims: 4 }, layer_cfgs: { num_heads: 2 } });
    const sd = new Map<string, StateEntry>();
    m.stateDictKeys().forEach(({ key, shape }, i) => sd.set(key, { data: seq(shape.reduce((a, b) => a * b, 1), 30 + i), shape }));
    // A 4x4 grid (img_size 64) plus the class token: constant per channel, so any interpolation keeps it.
    const big = new Float32Array(17 * 4);
    for (let t = 0; t < 17; t++) for (let c = 0; c < 4; c++) big[t * 4 + c] = t === 0 ? 9 : c + 1;
    sd.set('pos_embed', { data: big, shape: [1, 17, 4] });
    const report = m.loadStateDict(sd);
    assert.equal(report.mismatched.length, 0);
    const got = Array.from(m.posEmbed.variable.dataSync());
    assert.deepEqual(m.posEmbed.variable.shape, [1, 5, 4]);
    assert.ok(maxAbsDiff(got, [9, 9, 9, 9, ...[0, 1, 2, 3].flatMap(() => [1, 2, 3, 4])]) < 1e-5);
    m.dispose();
  });

  it('one training step of a tiny T2T-ViT gives every parameter a finite, non-zero gradient', () => {
    checkGradients(
      { type: 'T2T_ViT', img_size: 32, embed_dims: 8, num_layers: 2, output_cls_token: false, drop_path_rate: 0, t2t_cfg: { token_dims: 4 }, layer_cfgs: { num_heads: 2 } },
      { type: 'GlobalAveragePooling' },
      8,
      32,
    );
  });
});
