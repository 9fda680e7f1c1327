import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, ShiftWindowMSA, SwinTransformerV2, WindowMSAV2, relativeCoordsTable, windowRelativePositionIndex } from '../../runtime/models';
import { ClsDataSample } from '../../runtime/structures';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { Module, StateEntry } from '../../runtime/nn/module';
import { seq, useTestBackend } from '../nn/helpers';
import { Vec, attend, linear, naiveShiftWindow, relIndex } from './utils/naive_attention';

function randomState(m: Module, seed: number, scale = 0.5): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  let s = seed;
  for (const { key, shape, tensor } of m.stateDictKeys()) {
    if (tensor.dtype === 'int32' || key.endsWith('relative_coords_table')) {
      out.set(key, { shape, data: (tensor.variable.dataSync() as Float32Array | Int32Array).slice(), dtype: tensor.dtype === 'int32' ? 'int64' : 'float32' });
      continue;
    }
    const n = shape.reduce((a, b) => a * b, 1);
    out.set(key, { shape, data: seq(n, s++).map((v) => v * scale) });
  }
  return out;
}

const get = (sd: Map<string, StateEntry>, k: string): Float32Array => sd.get(k)!.data as Float32Array;

/** Swin V2 window attention by loops: cosine similarity x clamped exp(logit scale) + 16 sigmoid(MLP(log coords)) + mask. */
function naiveWindowMsaV2(sd: Map<string, StateEntry>, pre: string, c: number, heads: number, ws: number, hidden: number, coords: Float32Array) {
  const w1 = get(sd, `${pre}cpb_mlp.0.weight`);
  const b1 = get(sd, `${pre}cpb_mlp.0.bias`);
  const w2 = get(sd, `${pre}cpb_mlp.2.weight`);
  const biasTable: Vec[] = [];
  for (let t = 0; t < coords.length / 2; t++) {
    const hid = linear([coords[2 * t], coords[2 * t + 1]], w1, b1, hidden).map((v) => Math.max(v, 0));
    biasTable.push(linear(hid, w2, null, heads));
  }
  const qb = get(sd, `${pre}q_bias`);
  const vb = get(sd, `${pre}v_bias`);
  const ls = get(sd, `${pre}logit_scale`);
  const norm = (v: Vec): Vec => {
    const n = Math.max(Math.sqrt(v.reduce((a, x) => a + x * x, 0)), 1e-12);
    return v.map((x) => x / n);
  };
  return (tokens: Vec[], labels: number[]): Vec[] => {
    const bias = [...qb, ...new Array(c).fill(0), ...vb];
    const qkv = tokens.map((t) => linear(t, get(sd, `${pre}qkv.weight`), bias, 3 * c));
    const q = qkv.map((t) => t.slice(0, c));
    const k = qkv.map((t) => t.slice(c, 2 * c));
    const v = qkv.map((t) => t.slice(2 * c));
    const y = attend({
      q,
      k,
      v,
      heads,
      score: (h, a, b, _dot, qa, kb) => {
        const qn = norm(qa);
        const kn = norm(kb);
        const cos = qn.reduce((s2, x, i) => s2 + x * kn[i], 0);
        const scale = Math.exp(Math.min(ls[h], Math.log(100)));
        const rb = 16 / (1 + Math.exp(-biasTable[relIndex(a, b, ws, ws)][h]));
        return cos * scale + rb + (labels[a] !== labels[b] ? -100 : 0);
      },
    });
    return y.map((t) => linear(t, get(sd, `${pre}proj.weight`), get(sd, `${pre}proj.bias`), c));
  };
}

describe('SwinTransformerV2', () => {
  before(useTestBackend);

  it('log-spaced coordinates table of a 2x2 window, by hand (and with a pre-training window of 3)', () => {
    const a = Math.log2(9) / 3; // offset ±1 -> ±8 -> log2(9) / log2(8)
    const t = Array.from(relativeCoordsTable(2, 2));
    const exp = [-a, -a, -a, 0, -a, a, 0, -a, 0, 0, 0, a, a, -a, a, 0, a, a];
    exp.forEach((v, i) => assert.ok(Math.abs(t[i] - v) < 1e-6, `${i}: ${t[i]} vs ${v}`));
    const b = Math.log2(5) / 3; // ±1 / (3 - 1) * 8 = ±4
    const p = Array.from(relativeCoordsTable(2, 2, [3, 3]));
    assert.ok(Math.abs(p[0] + b) < 1e-6 && Math.abs(p[17] - b) < 1e-6);
  });

  for (const [h, w, shift] of [[4, 4, 1], [5, 3, 1], [4, 4, 0]] as [number, number, number][]) {
    it(`WindowMSAV2 in shifted windows on a ${h}x${w} map${shift ? '' : ' (no shift)'} equals the loop computation (logit scale clamped at log 100)`, () => {
      const c = 4;
      const heads = 2;
      const m = new ShiftWindowMSA({ embed_dims: c, num_heads: heads, window_size: 2, shift_size: shift, window_msa: 'WindowMSAV2', cpb_mlp_hidden_dims: 8 });
      const sd = randomState(m, 31);
      // One head's logit scale above the clamp: exp(log 200) is clamped to 100.
      sd.set('w_msa.logit_scale', { shape: [2, 1, 1], data: new Float32Array([Math.log(200), Math.log(10)]) });
      m.loadStateDict(sd);
      m.eval();
      const d = seq(h * w * c, 8);
      const x: Vec[][] = Array.from({ length: h }, (_, i) => Array.from({ length: w }, (_, j) => Array.from(d.slice((i * w + j) * c, (i * w + j + 1) * c))));
      const want = naiveShiftWindow(x, 2, shift, naiveWindowMsaV2(sd, 'w_msa.', c, heads, 2, 8, relativeCoordsTable(2, 2))).flat(2);
      const got = m.forward(tf.tensor3d(d, [1, h * w, c]), [h, w]).dataSync();
      let worst = 0;
      want.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]))));
      assert.ok(worst < 1e-4, `max |diff| ${worst}`);
    });
  }

  it('state-dict keys in MMCls order: logit scale, q/v biases, coordinate and index buffers, bias MLP, qkv without bias; post-norm PatchMerging first in stages 1+', () => {
    const m = new SwinTransformerV2({ arch: { embed_dims: 8, depths: [1, 1], num_heads: [1, 2], extra_norm_every_n_blocks: 0 }, img_size: 16, window_size: 2, out_indices: [1] });
    const keys = m.stateDictKeys().map((e) => `${e.key}:${e.shape}`);
    const w = 'stages.0.blocks.0.attn.w_msa';
    assert.deepEqual(keys.slice(0, 4), ['patch_embed.projection.weight:8,3,4,4', 'patch_embed.projection.bias:8', 'patch_embed.norm.weight:8', 'patch_embed.norm.bias:8']);
    assert.deepEqual(keys.slice(4, 15), [
      `${w}.logit_scale:1,1,1`,
      `${w}.q_bias:8`,
      `${w}.v_bias:8`,
      `${w}.relative_coords_table:1,3,3,2`,
      `${w}.relative_position_index:4,4`,
      `${w}.cpb_mlp.0.weight:512,2`,
      `${w}.cpb_mlp.0.bias:512`,
      `${w}.cpb_mlp.2.weight:1,512`,
      `${w}.qkv.weight:24,8`,
      `${w}.proj.weight:8,8`,
      `${w}.proj.bias:8`,
    ]);
    assert.deepEqual(keys.slice(15, 17), ['stages.0.blocks.0.norm1.weight:8', 'stages.0.blocks.0.norm1.bias:8']);
    const s1 = keys.findIndex((k) => k.startsWith('stages.1.'));
    assert.deepEqual(keys.slice(s1, s1 + 3), ['stages.1.downsample.reduction.weight:16,32', 'stages.1.downsample.norm.weight:16', 'stages.1.downsample.norm.bias:16']);
    assert.equal(keys[keys.length - 1], 'norm1.bias:16');
    const idx = m.stateDictKeys().find((e) => e.key === `${w}.relative_position_index`)!;
    assert.deepEqual(Array.from(idx.tensor.variable.dataSync()), Array.from(windowRelativePositionIndex(2, 2)));
    // Replacing stage_cfgs replaces its default too (MMCls 1.0.0rc6): the merging norm goes back before the reduction.
    const pre = new SwinTransformerV2({ arch: { embed_dims: 8, depths: [1, 1], num_heads: [1, 2], extra_norm_every_n_blocks: 0 }, img_size: 16, window_size: 2, out_indices: [1], stage_cfgs: {} });
    assert.ok(pre.stateDictKeys().some((e) => e.key === 'stages.1.downsample.norm.weight' && e.shape[0] === 32));
    // Extra norms every n blocks (huge / giant).
    const extra = new SwinTransformerV2({ arch: { embed_dims: 8, depths: [4], num_heads: [1], extra_norm_every_n_blocks: 2 }, img_size: 16, window_size: 2, out_indices: [0] });
    assert.deepEqual(
      extra.stateDictKeys().filter((e) => e.key.includes('norm3.weight')).map((e) => e.key),
      ['stages.0.blocks.1.norm3.weight', 'stages.0.blocks.3.norm3.weight'],
    );
  });

  it('a post-norm block: x + norm1(attn(x)), then + norm2(ffn(.)) (no pre-norm)', () => {
    const m = new SwinTransformerV2({ arch: { embed_dims: 4, depths: [1], num_heads: [1], extra_norm_every_n_blocks: 0 }, img_size: 8, window_size: 2, out_indices: [0], norm_cfg: null });
    const sd = randomState(m, 5);
    m.loadStateDict(sd);
    m.eval();
    const block = m.stages.at(0).blocks.at(0);
    const x = tf.tensor3d(seq(16, 3), [1, 4, 4]);
    const a = block.attn.forward(x, [2, 2]);
    const y1 = tf.add(x, block.norm1.forward(a));
    const want = tf.add(y1, block.norm2.forward(block.ffn.forward(y1)));
    const got = block.forward(x, [2, 2]);
    const d = tf.max(tf.abs(tf.sub(want, got))).dataSync()[0];
    assert.ok(d < 1e-6);
  });

  // Zoo (MMCV 0.x counting: qkv goes through F.linear, which its module hooks never see; no matmuls;
  // layer norm 2 per element). Parameters in M.
  const zoo: [string, Record<string, unknown>, number, number, number, number][] = [
    ['tiny w8', { arch: 'tiny' }, 256, 768, 28.35, 4.35],
    ['tiny w16', { arch: 'tiny', window_size: [16, 16, 16, 8] }, 256, 768, 28.35, 4.4],
    ['small w8', { arch: 'small' }, 256, 768, 49.73, 8.45],
    ['small w16', { arch: 'small', window_size: [16, 16, 16, 8] }, 256, 768, 49.73, 8.57],
    ['base w8', { arch: 'base' }, 256, 1024, 87.92, 14.99],
    ['base w16 (21k pre-trained w12)', { arch: 'base', window_size: [16, 16, 16, 8], pretrained_window_sizes: [12, 12, 12, 6] }, 256, 1024, 87.92, 15.14],
    ['base w24 384px', { arch: 'base', img_size: 384, window_size: [24, 24, 24, 12], pretrained_window_sizes: [12, 12, 12, 6] }, 384, 1024, 87.92, 34.07],
    // The zoo lists 196.75M for the ImageNet-1k large models and 196.74M for the same network in its
    // ImageNet-21k row; the count here is 196,739,932.
    ['large w16', { arch: 'large', window_size: [16, 16, 16, 8], pretrained_window_sizes: [12, 12, 12, 6] }, 256, 1536, 196.74, 33.86],
    ['large w24 384px', { arch: 'large', img_size: 384, window_size: [24, 24, 24, 12], pretrained_window_sizes: [12, 12, 12, 6] }, 384, 1536, 196.74, 76.2],
  ];
  for (const [name, bb, size, c, params, flops] of zoo) {
    it(`${name}: ${params}M parameters, ${flops}G in MMCV 0.x counting`, () => {
      const m = MODELS.build<Module>({
        type: 'ImageClassifier',
        backbone: { type: 'SwinTransformerV2', img_size: 256, ...bb },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
      });
      m.eval();
      assert.equal(Number((m.numParameters() / 1e6).toFixed(2)), params);
      const cx = analyzeComplexity(m, [3, size, size], { maxDepth: 8 });
      const qkv = cx.modules.filter((r) => r.name.endsWith('w_msa.qkv')).reduce((a, r) => a + r.flops, 0);
      const o = cx.byOperator;
      const old = o.conv + o.linear - qkv + 0.4 * o.layer_norm + o.adaptive_avg_pool2d;
      assert.ok(Math.abs(old / 1e9 - flops) <= 0.005 * flops, `${old / 1e9} vs ${flops}`);
    });
  }

  it('loading keeps coordinate/index buffers of the same window and drops those of another (they are rebuilt)', () => {
    const arch = { embed_dims: 4, depths: [1], num_heads: [1], extra_norm_every_n_blocks: 0 };
    const small = new SwinTransformerV2({ arch, img_size: 8, window_size: 2, out_indices: [0] });
    const big = new SwinTransformerV2({ arch, img_size: 12, window_size: 3, out_indices: [0] });
    const sd = randomState(small, 2);
    const key = 'stages.0.blocks.0.attn.w_msa.relative_coords_table';
    sd.set(key, { shape: [1, 3, 3, 2], data: new Float32Array(18).fill(7) });
    small.loadStateDict(sd);
    assert.ok((small.stateDict().get(key)!.data as Float32Array).every((v) => v === 7));
    const r = big.loadStateDict(sd, { strict: false });
    assert.deepEqual(r.mismatched, []);
    assert.deepEqual(r.missing.sort(), [key, 'stages.0.blocks.0.attn.w_msa.relative_position_index']);
    const kept = Array.from(big.stateDict().get(key)!.data as Float32Array);
    assert.deepEqual(kept, Array.from(relativeCoordsTable(3, 3)));
  });

  it('one training step of a tiny Swin V2 gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: {
        type: 'SwinTransformerV2',
        arch: { embed_dims: 8, depths: [2, 2], num_heads: [2, 4], extra_norm_every_n_blocks: 2 },
        window_size: [4, 2],
        pretrained_window_sizes: [3, 0],
        img_size: 32,
        out_indices: [1],
        // Stochastic depth could drop a whole branch for both samples and zero its gradients.
        drop_path_rate: 0,
      },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
    });
    m.initWeights();
    m.train();
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 7), [2, 32, 32, 3]);
    const vars = m.trainableVariables();
    const { value, grads } = tf.variableGrads(
      () => tf.addN(Object.values(m.loss(x, [0, 3].map((l) => new ClsDataSample().set_gt_label(l))))) as tf.Scalar,
      vars,
    );
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

  it('WindowMSAV2 without qkv_bias has no q/v biases', () => {
    const w = new WindowMSAV2({ embed_dims: 4, num_heads: 2, window_size: [2, 2], qkv_bias: false });
    assert.ok(!w.stateDictKeys().some((e) => /_bias$/.test(e.key)));
  });
});
