import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { Conformer, ConformerHead, FCUDown, FCUUp, ImageClassifier } from '../../runtime/models';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { StateEntry } from '../../runtime/nn/module';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

const CONFIGS = path.resolve(__dirname, '..', '..', 'configs');
const TINY = { embed_dims: 8, depths: 3, num_heads: 2, channel_ratio: 1 };

function fillState(keys: { key: string; shape: number[] }[], seed: number): Map<string, StateEntry> {
  const sd = new Map<string, StateEntry>();
  keys.forEach(({ key, shape }, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = seq(n, seed + i);
    // Keep variances positive.
    if (key.endsWith('running_var')) for (let j = 0; j < n; j++) v[j] = 1 + 0.5 * Math.abs(v[j]);
    sd.set(key, { data: v, shape });
  });
  return sd;
}

function layerNorm(row: number[], w: ArrayLike<number>, b: ArrayLike<number>, eps: number): number[] {
  const n = row.length;
  const mean = row.reduce((a, v) => a + v, 0) / n;
  const v = row.reduce((a, x) => a + (x - mean) ** 2, 0) / n;
  return row.map((x, i) => ((x - mean) / Math.sqrt(v + eps)) * w[i] + b[i]);
}

function gelu(x: number): number {
  // erf-based GELU through a high-precision erf approximation (Abramowitz-Stegun 7.1.26 is too coarse).
  const t = x / Math.SQRT2;
  let s = 0;
  let term = t;
  for (let k = 0; k < 60; k++) {
    s += term / (2 * k + 1);
    term *= (-t * t) / (k + 1);
  }
  return 0.5 * x * (1 + (2 / Math.sqrt(Math.PI)) * s);
}

describe('Conformer', () => {
  before(useTestBackend);

  describe('configs: parameters as the model zoo; FLOPs by fvcore conventions', () => {
    // [config, params (zoo, M), FLOPs (zoo, G)]. The zoo's FLOPs come from MMCV's older counter, which
    // does not see the attention matmuls (q @ k^T, attn @ v) but counts activations, pooling and conv
    // biases: without the matmuls ours are 0.01 to 0.03G below the zoo figure.
    const zoo: [string, number, number][] = [
      ['conformer-tiny-p16_8xb128_in1k', 23.52, 4.9],
      ['conformer-small-p16_8xb128_in1k', 37.67, 10.31],
      ['conformer-small-p32_8xb128_in1k', 38.85, 7.09],
      ['conformer-base-p16_8xb128_in1k', 83.29, 22.89],
    ];
    for (const [name, params, flops] of zoo) {
      it(name, () => {
        const cfg = loadConfig(path.join(CONFIGS, 'conformer', `${name}.py`)).value as Record<string, unknown>;
        const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), name);
        assert.equal(Math.round(result.params / 1e4) / 100, params);
        const gap = flops * 1e9 - (result.flops - result.byOperator.matmul);
        assert.ok(gap >= 0 && gap < 0.03e9, `${name}: zoo ${flops}G, ours without matmuls ${(result.flops - result.byOperator.matmul) / 1e9}G`);
        if (name === 'conformer-tiny-p16_8xb128_in1k') {
          // Measured on MMClassification 1.0.0rc6.
          assert.equal(result.params, 23524704);
          assert.equal(result.flops, 5249667712);
        }
      });
    }
  });

  it('module layout: cls_token, stem, conv_1, trans_patch_conv, trans_1, conv_trans_i, trans_norm; the last fusion block downsamples', () => {
    const m = new Conformer({ arch: TINY, base_channels: 16 });
    const keys = m.stateDictKeys().map((e) => e.key);
    assert.equal(keys[0], 'cls_token');
    const tops = [...new Set(keys.map((k) => k.split('.')[0]))];
    assert.deepEqual(tops, ['cls_token', 'conv1', 'bn1', 'conv_1', 'trans_patch_conv', 'trans_1', 'conv_trans_2', 'conv_trans_3', 'trans_norm']);
    assert.ok(keys.includes('bn1.num_batches_tracked'));
    assert.ok(keys.includes('conv_trans_3.fusion_block.residual_conv.weight'), 'last fusion block has a strided residual conv');
    assert.ok(!keys.includes('conv_trans_2.fusion_block.residual_conv.weight'));
    assert.ok(keys.includes('conv_trans_2.cnn_block.residual_conv.weight'), 'first block of a stage changes channels');
    assert.deepEqual(
      keys.filter((k) => k.startsWith('conv_trans_2.squeeze_block') || k.startsWith('conv_trans_2.expand_block')),
      [
        'conv_trans_2.squeeze_block.conv_project.weight', 'conv_trans_2.squeeze_block.conv_project.bias',
        'conv_trans_2.squeeze_block.ln.weight', 'conv_trans_2.squeeze_block.ln.bias',
        'conv_trans_2.expand_block.conv_project.weight', 'conv_trans_2.expand_block.conv_project.bias',
        'conv_trans_2.expand_block.bn.weight', 'conv_trans_2.expand_block.bn.bias', 'conv_trans_2.expand_block.bn.running_mean',
        'conv_trans_2.expand_block.bn.running_var', 'conv_trans_2.expand_block.bn.num_batches_tracked',
      ],
    );
    assert.ok(!new Conformer({ arch: TINY, base_channels: 16, with_cls_token: false }).stateDictKeys().some((e) => e.key === 'cls_token'));
    assert.throws(() => new Conformer({ patch_size: 8 }), MmclsError);
    assert.throws(() => new Conformer({ arch: 'huge' }), MmclsError);
    m.dispose();
  });

  it('init: Conv2d kaiming (fan_out), norms 1/0, and every conv block starts with bn3.weight = 0', () => {
    const m = new Conformer({ arch: TINY, base_channels: 16 });
    m.initWeights();
    const w = (k: string): Float32Array => m.getSubmodule(k.split('.').slice(0, -1).join('.'))!.getParameter(k.split('.').pop()!)!.variable.dataSync() as Float32Array;
    assert.ok(Array.from(w('conv_trans_2.fusion_block.bn3.weight')).every((v) => v === 0));
    assert.ok(Array.from(w('conv_1.bn3.weight')).every((v) => v === 0));
    assert.ok(Array.from(w('conv_1.bn2.weight')).every((v) => v === 1));
    assert.ok(Array.from(w('trans_norm.weight')).every((v) => v === 1));
    // kaiming_normal_(fan_out, relu): std = sqrt(2 / (out * k * k)) = sqrt(2 / (64 * 49)) for the stem.
    const c = w('conv1.weight');
    const std = Math.sqrt(c.reduce((a, v) => a + v * v, 0) / c.length);
    assert.ok(Math.abs(std - Math.sqrt(2 / (64 * 49))) < 0.1 * Math.sqrt(2 / (64 * 49)), `stem std ${std}`);
    m.dispose();
  });

  it('FCUDown: 1x1 conv, average pooling, LN (eps 1e-6), GELU, after the class token of the transformer input', () => {
    const d = new FCUDown({ in_channels: 2, out_channels: 3, down_stride: 2 });
    const sd = fillState(d.stateDictKeys(), 40);
    d.loadStateDict(sd);
    const xd = seq(4 * 4 * 2, 9); // NHWC [1, 4, 4, 2]
    const xt = tf.tensor3d(seq(5 * 3, 10), [1, 5, 3]);
    const y = d.forward(tf.tensor4d(xd, [1, 4, 4, 2]), xt);
    assert.deepEqual(y.shape, [1, 5, 3]);
    const g = (k: string): Float32Array => sd.get(k)!.data as Float32Array;
    const [cw, cb, lw, lb] = [g('conv_project.weight'), g('conv_project.bias'), g('ln.weight'), g('ln.bias')];
    const expected: number[] = Array.from(xt.dataSync().slice(0, 3));
    for (let py = 0; py < 2; py++) for (let px = 0; px < 2; px++) {
      const tok: number[] = [];
      for (let o = 0; o < 3; o++) {
        let s = 0;
        for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
          const base = ((py * 2 + i) * 4 + px * 2 + j) * 2;
          s += cb[o] + cw[o * 2] * xd[base] + cw[o * 2 + 1] * xd[base + 1];
        }
        tok.push(s / 4);
      }
      expected.push(...layerNorm(tok, lw, lb, 1e-6).map(gelu));
    }
    assert.ok(maxAbsDiff(y.dataSync(), expected) < 1e-5);
    d.dispose();
  });

  it('FCUUp: drops the class token, 1x1 conv + BN + ReLU, then nearest upsampling by up_stride', () => {
    const u = new FCUUp({ in_channels: 3, out_channels: 2, up_stride: 2 });
    u.eval();
    const sd = fillState(u.stateDictKeys(), 50);
    u.loadStateDict(sd);
    const xd = seq(5 * 3, 11);
    const y = u.forward(tf.tensor3d(xd, [1, 5, 3]), 2, 2);
    assert.deepEqual(y.shape, [1, 4, 4, 2]);
    const g = (k: string): Float32Array => sd.get(k)!.data as Float32Array;
    const cell = (t: number, o: number): number => {
      let s = g('conv_project.bias')[o];
      for (let i = 0; i < 3; i++) s += g('conv_project.weight')[o * 3 + i] * xd[(t + 1) * 3 + i];
      const bn = ((s - g('bn.running_mean')[o]) / Math.sqrt(g('bn.running_var')[o] + 1e-6)) * g('bn.weight')[o] + g('bn.bias')[o];
      return Math.max(bn, 0);
    };
    const expected: number[] = [];
    for (let yy = 0; yy < 4; yy++) for (let xx = 0; xx < 4; xx++) for (let o = 0; o < 2; o++) {
      expected.push(cell(Math.floor(yy / 2) * 2 + Math.floor(xx / 2), o));
    }
    assert.ok(maxAbsDiff(y.dataSync(), expected) < 1e-5);
    u.dispose();
  });

  it('outputs [pooled conv feature, normalised class token] per out_index; ConformerHead scores both, predicts their sum, sums both losses', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'Conformer', arch: TINY, base_channels: 16, out_indices: [2, -1] },
      head: { type: 'ConformerHead', num_classes: 3, in_channels: [64, 8] },
    });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 3), [2, 32, 32, 3]);
    const feats = m.extractFeat(x) as unknown as tf.Tensor[][];
    assert.equal(feats.length, 2);
    assert.deepEqual(feats[0][0].shape, [2, 32]);
    assert.deepEqual(feats[1][0].shape, [2, 64]);
    assert.deepEqual(feats[1][1].shape, [2, 8]);
    const head = m.head as ConformerHead;
    const [sc, st] = head.forwardPair(feats as never);
    assert.deepEqual(sc.shape, [2, 3]);
    const sum = Array.from(tf.add(sc, st).dataSync());
    const preds = m.predict(x);
    for (let i = 0; i < 2; i++) {
      const row = sum.slice(i * 3, i * 3 + 3);
      const mx = Math.max(...row);
      const z = row.reduce((a, v) => a + Math.exp(v - mx), 0);
      assert.ok(maxAbsDiff(preds[i].pred_score!, row.map((v) => Math.exp(v - mx) / z)) < 1e-5);
    }
    // Cross-entropy of each branch, averaged over the batch, then added.
    const labels = [2, 0];
    const ce = (s: tf.Tensor): number => {
      const d = Array.from(s.dataSync());
      let tot = 0;
      for (let i = 0; i < 2; i++) {
        const row = d.slice(i * 3, i * 3 + 3);
        const mx = Math.max(...row);
        tot += Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0)) + mx - row[labels[i]];
      }
      return tot / 2;
    };
    const loss = m.loss(x, labels.map((l) => new ClsDataSample().set_gt_label(l))).loss.dataSync()[0];
    assert.ok(Math.abs(loss - (ce(sc) + ce(st))) < 1e-5);
    tf.dispose([x, sc, st]);
    m.dispose();
  });

  it('without a class token the transformer feature is the mean of the normalised patch tokens', () => {
    const m = new Conformer({ arch: TINY, base_channels: 16, with_cls_token: false });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(32 * 32 * 3, 4), [1, 32, 32, 3]);
    const [out] = m.forward(x) as unknown as tf.Tensor[][];
    assert.deepEqual(out[0].shape, [1, 64]);
    assert.deepEqual(out[1].shape, [1, 8]);
    // trans_norm has weight 1 and bias 0 after init: every token has mean 0 over channels, so their mean has too.
    assert.ok(Math.abs(Array.from(out[1].dataSync()).reduce((a, b) => a + b, 0)) < 1e-4);
    tf.dispose([x, ...out]);
    m.dispose();
  });

  it('one training step of a tiny Conformer gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'Conformer', arch: TINY, base_channels: 16, drop_path_rate: 0 },
      head: { type: 'ConformerHead', num_classes: 5, in_channels: [64, 8] },
    });
    // No initWeights: Conformer's init zeroes every bn3 weight, which would (correctly) leave conv3 without a gradient.
    m.train();
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 7), [2, 32, 32, 3]);
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
