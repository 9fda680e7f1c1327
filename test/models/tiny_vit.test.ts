import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { ImageClassifier, TinyViT } from '../../runtime/models';
import { MBConvBlock, TinyViTAttention, TinyViTBlock, attentionBiasIndices } from '../../runtime/models/backbones/tiny_vit';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { loadConfig } from '../../runtime/config';
import { MODELS } from '../../runtime/registry';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

// The XCiT and TinyViT rows of the spec's model-zoo table (../shared/spec/model-zoo.tsv), copied so the
// test runs where the spec folder is not beside the clone.
const ZOO = path.resolve(__dirname, '../fixtures/models/model-zoo-xcit-tinyvit.tsv');
const CONFIGS = path.resolve(__dirname, '../../configs');

function zooRows(): Map<string, [number, number]> {
  const rows = new Map<string, [number, number]>();
  for (const line of fs.readFileSync(ZOO, 'utf8').split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'TinyViT') rows.set(f[2].replace(/\*$/, ''), [Number(f[3]), Number(f[4])]);
  }
  return rows;
}

/** A small TinyViT: 64x64 input, 16x16 patches; stage 1 in 4 windows, stage 2 padded to 6x6, stage 3 one window. */
const TINY = { arch: { channels: [8, 16, 24, 32], num_heads: [1, 2, 2, 4], depths: [1, 2, 1, 1] }, img_size: 64, window_size: [4, 4, 3, 2] };

const gelu = (v: number): number => {
  const erf = (z: number): number => {
    const t = 1 / (1 + 0.5 * Math.abs(z));
    const y = 1 - t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
    return z >= 0 ? y : -y;
  };
  return 0.5 * v * (1 + erf(v / Math.SQRT2));
};

describe('TinyViT', () => {
  before(useTestBackend);

  describe('configs: parameters as the model zoo; FLOPs as the zoo once batch norms are counted as in training mode', function () {
    this.timeout(120000);
    const zoo = zooRows();
    const cases: [string, string][] = [
      ['tinyvit-5m_8xb256_in1k.py', 'tinyvit-5m_3rdparty_in1k'],
      ['tinyvit-5m-distill_8xb256_in1k.py', 'tinyvit-5m_in21k-distill-pre_3rdparty_in1k'],
      ['tinyvit-11m_8xb256_in1k.py', 'tinyvit-11m_3rdparty_in1k'],
      ['tinyvit-11m-distill_8xb256_in1k.py', 'tinyvit-11m_in21k-distill-pre_3rdparty_in1k'],
      ['tinyvit-21m_8xb256_in1k.py', 'tinyvit-21m_3rdparty_in1k'],
      ['tinyvit-21m-distill_8xb256_in1k.py', 'tinyvit-21m_in21k-distill-pre_3rdparty_in1k'],
      ['tinyvit-21m-distill_8xb256_in1k-384px.py', 'tinyvit-21m_in21k-distill-pre_3rdparty_in1k-384px'],
      ['tinyvit-21m-distill_8xb256_in1k-512px.py', 'tinyvit-21m_in21k-distill-pre_3rdparty_in1k-512px'],
    ];
    it('every zoo checkpoint has a config', () => assert.deepEqual([...zoo.keys()].sort(), cases.map((c) => c[1]).sort()));
    for (const [file, name] of cases) {
      it(`${file} (${name})`, () => {
        const cfg = loadConfig(path.join(CONFIGS, 'tinyvit', file)).value as Record<string, unknown>;
        const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
        const [p, f] = zoo.get(name)!;
        assert.ok(Math.abs(result.params / 1e6 - p) <= 0.005 + 1e-9, `params ${result.params}`);
        // Eval-mode batch norm is 2 FLOPs per element (what we count); the zoo's figures match 5
        // per element, fvcore's count for batch norm in training mode, for all five sizes.
        const bn = result.byOperator.batch_norm;
        assert.ok(Math.abs((result.flops + 1.5 * bn) / 1e9 - f) <= 0.005 + 1e-9, `flops ${result.flops} + 1.5 x ${bn}`);
        assert.ok(result.flops / 1e9 < f - 0.005, 'the eval-mode count is below the zoo figure');
      });
    }
  });

  it('state dict: MMCls names and order; attention_biases per offset; the index buffer is not saved (non-persistent)', () => {
    const m = new TinyViT(TINY);
    const keys = m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 7), [
      'patch_embed.seq.0.conv2d.weight 4x3x3x3',
      'patch_embed.seq.0.bn2d.weight 4',
      'patch_embed.seq.0.bn2d.bias 4',
      'patch_embed.seq.0.bn2d.running_mean 4',
      'patch_embed.seq.0.bn2d.running_var 4',
      'patch_embed.seq.0.bn2d.num_batches_tracked ',
      'patch_embed.seq.2.conv2d.weight 8x4x3x3',
    ]);
    const mb = keys.filter((k) => k.startsWith('stages.0.blocks.0.')).map((k) => k.split(' ')[0].slice('stages.0.blocks.0.'.length));
    assert.deepEqual(mb.filter((k) => k.endsWith('weight')), ['conv1.conv2d.weight', 'conv1.bn2d.weight', 'conv2.conv2d.weight', 'conv2.bn2d.weight', 'conv3.conv2d.weight', 'conv3.bn2d.weight']);
    assert.ok(keys.includes('stages.0.downsample.conv2.conv2d.weight 16x1x3x3'));
    const blk = keys.filter((k) => k.startsWith('stages.1.blocks.0.')).map((k) => k.slice('stages.1.blocks.0.'.length));
    assert.deepEqual(blk, [
      'attn.attention_biases 2x16', 'attn.norm.weight 16', 'attn.norm.bias 16', 'attn.qkv.weight 48x16', 'attn.qkv.bias 48',
      'attn.proj.weight 16x16', 'attn.proj.bias 16', 'mlp.norm.weight 16', 'mlp.norm.bias 16', 'mlp.fc1.weight 64x16', 'mlp.fc1.bias 64',
      'mlp.fc2.weight 16x64', 'mlp.fc2.bias 16', 'local_conv.conv2d.weight 16x1x3x3', 'local_conv.bn2d.weight 16', 'local_conv.bn2d.bias 16',
      'local_conv.bn2d.running_mean 16', 'local_conv.bn2d.running_var 16', 'local_conv.bn2d.num_batches_tracked ',
    ]);
    assert.ok(keys.includes('stages.2.blocks.0.attn.attention_biases 2x9'));
    assert.ok(!keys.some((k) => k.startsWith('stages.3.downsample')));
    assert.deepEqual(keys.slice(-2), ['norm3.weight 32', 'norm3.bias 32']);
    assert.ok(!keys.some((k) => k.includes('attention_bias_idxs')));
    // Type names as MMCls's classes (FLOPs tables, init_cfg layer matching).
    assert.deepEqual([m.patchEmbed, m.stages.at(0), m.stages.at(1), m.stages.at(0).downsample!].map((x) => x.typeName), ['PatchEmbed', 'ConvStage', 'BasicStage', 'PatchMerging']);
    const attn = (m.stages.at(1).blocks.at(0) as TinyViTBlock).attn;
    assert.equal(attn.attentionBiasIdxs.torchDtype, 'int64');
    assert.equal(attn.attentionBiasIdxs.dtype, 'int32');
    assert.deepEqual(attn.attentionBiasIdxs.shape, [16, 16]);
  });

  it('attention bias indices: offsets (|di|, |dj|) numbered in order of first appearance', () => {
    const { idxs, numOffsets } = attentionBiasIndices(2, 2);
    assert.equal(numOffsets, 4);
    assert.deepEqual(Array.from(idxs), [0, 1, 2, 3, 1, 0, 3, 2, 2, 3, 0, 1, 3, 2, 1, 0]);
    const w = attentionBiasIndices(1, 3);
    assert.equal(w.numOffsets, 3);
    assert.deepEqual(Array.from(w.idxs), [0, 1, 2, 1, 0, 1, 2, 1, 0]);
    assert.equal(attentionBiasIndices(7, 7).numOffsets, 49);
  });

  it('attention: LayerNorm, per-head [q | k | v] split of qkv, scaled scores plus the offset biases (by hand)', () => {
    const [N, C, h, kd] = [3, 4, 2, 2];
    const att = new TinyViTAttention({ dim: C, key_dim: kd, num_heads: h, attn_ratio: 1, resolution: [1, 3] });
    const sd = att.stateDict();
    const biases = [0.3, -0.2, 0.5, 0.1, 0.4, -0.6];
    sd.set('attention_biases', { data: new Float32Array(biases), shape: [h, 3] });
    sd.set('norm.weight', { data: new Float32Array([1.1, 0.9, 1.2, 0.8]), shape: [C] });
    sd.set('norm.bias', { data: new Float32Array([0.1, -0.1, 0.05, 0]), shape: [C] });
    att.loadStateDict(sd);
    const xs = seq(N * C, 6);
    const lnw = [1.1, 0.9, 1.2, 0.8];
    const lnb = [0.1, -0.1, 0.05, 0];
    const wq = sd.get('qkv.weight')!.data as Float32Array;
    const bq = sd.get('qkv.bias')!.data as Float32Array;
    const wp = sd.get('proj.weight')!.data as Float32Array;
    const bp = sd.get('proj.bias')!.data as Float32Array;
    const tokens = Array.from({ length: N }, (_, n) => {
      const row = Array.from(xs.slice(n * C, (n + 1) * C));
      const mu = row.reduce((a, e) => a + e, 0) / C;
      const vr = row.reduce((a, e) => a + (e - mu) ** 2, 0) / C;
      const nr = row.map((e, c) => ((e - mu) / Math.sqrt(vr + 1e-5)) * lnw[c] + lnb[c]);
      return Array.from({ length: 3 * C }, (_, o) => bq[o] + nr.reduce((a, e, c) => a + wq[o * C + c] * e, 0));
    });
    const idx = [0, 1, 2, 1, 0, 1, 2, 1, 0];
    const y = Array.from({ length: N }, () => new Array<number>(C).fill(0));
    for (let hh = 0; hh < h; hh++) {
      const base = hh * 3 * kd; // per head: q (kd), k (kd), v (kd)
      for (let i = 0; i < N; i++) {
        const logits = Array.from({ length: N }, (_, j) => {
          let s = 0;
          for (let c = 0; c < kd; c++) s += tokens[i][base + c] * tokens[j][base + kd + c];
          return s * kd ** -0.5 + biases[hh * 3 + idx[i * N + j]];
        });
        const mx = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let c = 0; c < kd; c++) y[i][hh * kd + c] = e.reduce((a, w, j) => a + (w / sum) * tokens[j][base + 2 * kd + c], 0);
      }
    }
    const expected = y.flatMap((row) => Array.from({ length: C }, (_, o) => bp[o] + row.reduce((a, e, c) => a + wp[o * C + c] * e, 0)));
    att.eval();
    const got = tf.tidy(() => att.forward(tf.tensor3d(xs, [1, N, C])).dataSync());
    assert.ok(maxAbsDiff(got, expected) < 1e-5, String(maxAbsDiff(got, expected)));
  });

  it('block: zero-padded windows through the attention, cropped back; local conv without residual; MLP with residual', () => {
    const [H, W, C] = [3, 3, 4];
    const blk = new TinyViTBlock({ in_channels: C, resolution: [H, W], num_heads: 2, window_size: 2 });
    blk.initWeights();
    const sd = blk.stateDict();
    sd.set('attn.attention_biases', { data: new Float32Array(seq(2 * 4, 3)), shape: [2, 4] });
    blk.loadStateDict(sd);
    blk.eval();
    const xs = seq(H * W * C, 8);
    const x = tf.tensor3d(xs, [1, H * W, C]);
    const got = tf.tidy(() => blk.forward(x).dataSync());
    const expected = tf.tidy(() => {
      // Pad the 3x3 grid to 4x4 with zeros; windows in row-major order of 2x2 tokens.
      const grid = tf.pad(tf.reshape(x, [1, H, W, C]), [[0, 0], [0, 1], [0, 1], [0, 0]]);
      const out = tf.buffer([1, 4, 4, C], 'float32');
      for (const [wi, wj] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
        const win = tf.reshape(tf.slice(grid, [0, 2 * wi, 2 * wj, 0], [1, 2, 2, C]), [1, 4, C]);
        const a = blk.attn.forward(win).arraySync() as number[][][];
        for (let t = 0; t < 4; t++) for (let c = 0; c < C; c++) out.set(a[0][t][c], 0, 2 * wi + Math.floor(t / 2), 2 * wj + (t % 2), c);
      }
      const attn = tf.reshape(tf.slice(out.toTensor(), [0, 0, 0, 0], [1, H, W, C]), [1, H * W, C]);
      const z = tf.reshape(blk.localConv.forward(tf.reshape(tf.add(x, attn), [1, H, W, C])), [1, H * W, C]);
      return tf.add(z, blk.mlp.forward(z)).dataSync();
    });
    assert.ok(maxAbsDiff(got, expected) < 1e-5, String(maxAbsDiff(got, expected)));
    assert.throws(() => blk.forward(tf.zeros([1, 4, C])), /wrong size/);
    x.dispose();
  });

  it('MBConv: the last batch norm starts at weight 0, so a fresh block is GELU(x)', () => {
    const b = new MBConvBlock({ in_channels: 4, out_channels: 4, expand_ratio: 4, drop_path: 0 });
    b.initWeights();
    b.eval();
    assert.ok((b.conv3.bn2d.weight!.variable.dataSync() as Float32Array).every((v) => v === 0));
    assert.ok((b.conv1.bn2d.weight!.variable.dataSync() as Float32Array).every((v) => v === 1));
    const xs = seq(2 * 3 * 3 * 4, 5);
    const got = tf.tidy(() => b.forward(tf.tensor4d(xs, [2, 3, 3, 4])).dataSync());
    assert.ok(maxAbsDiff(got, Array.from(xs, gelu)) < 1e-5);
  });

  it('outputs: GAP + LN gives [N, C]; without GAP the normed maps [N, C, H, W] after each stage (out_channels)', () => {
    const gap = new TinyViT({ ...TINY, out_indices: [-1, 1] });
    gap.eval();
    assert.deepEqual(gap.outIndices, [3, 1]);
    assert.deepEqual(analyzeComplexity(gap, [3, 64, 64]).outputShape, [[1, 24], [1, 32]]);
    const maps = new TinyViT({ ...TINY, out_indices: [0, 1, 2, 3], gap_before_final_norm: false });
    maps.initWeights();
    maps.eval();
    assert.deepEqual(analyzeComplexity(maps, [3, 64, 64]).outputShape, [[1, 16, 8, 8], [1, 24, 4, 4], [1, 32, 2, 2], [1, 32, 2, 2]]);
    const x = tf.tensor4d(seq(2 * 64 * 64 * 3, 3), [2, 64, 64, 3]);
    const outs = maps.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((t) => t.shape), [[2, 8, 8, 16], [2, 4, 4, 24], [2, 2, 2, 32], [2, 2, 2, 32]]);
    assert.ok(outs.every((t) => t.dataSync().every(Number.isFinite)));
    assert.throws(() => maps.forward(tf.zeros([1, 32, 32, 3])), /wrong size/);
    assert.throws(() => new TinyViT({ arch: '7m' as never }), /Unavaiable arch/);
    tf.dispose([x, ...outs]);
  });

  it('frozen_stages freezes whole stages (not the stem)', () => {
    const m = new TinyViT({ ...TINY, frozen_stages: 2 });
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^stages\.[01]\./.test(name), name);
    assert.equal(m.stages.at(1).training, false);
    assert.equal(m.stages.at(2).training, true);
    assert.equal(m.patchEmbed.training, true);
  });

  it('drop path grows linearly over the blocks (torch.linspace(0, rate, total))', () => {
    const m = new TinyViT({ ...TINY, drop_path_rate: 0.4 });
    const rates = m.stages.toArray().flatMap((s) => s.blocks.toArray().map((b) => {
      const dp = (b as TinyViTBlock | MBConvBlock).dropPath as { dropProb?: number };
      return dp.dropProb ?? 0;
    }));
    assert.ok(maxAbsDiff(rates, [0, 0.1, 0.2, 0.3, 0.4]) < 1e-6);
  });

  it('one training step through a small TinyViT (MBConv, padded windows, patch merging) gives every parameter a gradient', function () {
    this.timeout(60000);
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'TinyViT', ...TINY, drop_path_rate: 0 },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 32 },
    });
    m.initWeights();
    // The MBConv output norms start at weight 0, which blocks the gradient of everything before them
    // in the block; give them the weight a trained model has.
    m.apply((mod) => {
      if (mod instanceof MBConvBlock) tf.tidy(() => mod.conv3.bn2d.weight!.assign(tf.ones([mod.conv3.bn2d.numFeatures])));
    });
    m.train();
    const x = tf.tensor4d(seq(2 * 64 * 64 * 3, 7), [2, 64, 64, 3]);
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
