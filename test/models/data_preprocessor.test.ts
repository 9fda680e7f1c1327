import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';
import { ClsDataPreprocessor, ImageClassifier } from '../../runtime/models';
import { NeckSequence } from '../../runtime/models/classifiers/image';
import { BatchAugment, CutMix, Mixup, RandomBatchAugment, seedBatchAugments } from '../../runtime/models/utils/batch_augments';
import { Rng } from '../../runtime/datasets/rng';
import { Image } from '../../runtime/datasets/image';
import { seq, useTestBackend } from '../nn/helpers';

const samples = (labels: (number | number[])[]): ClsDataSample[] => labels.map((l) => new ClsDataSample().set_gt_label(l));
const close = (a: number, b: number, tol = 1e-4): boolean => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

/** An HWC uint8 image whose pixel (y, x, c) is 10 * y + 3 * x + c + base. */
function image(h: number, w: number, c: number, base = 0): Image {
  const data = new Uint8Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) data[(y * w + x) * c + k] = 10 * y + 3 * x + k + base;
  return { data, height: h, width: w, channels: c };
}
const pix = (h: number, w: number, c: number, y: number, x: number, k: number, base = 0) => 10 * y + 3 * x + k + base;

/** log-softmax cross-entropy with soft targets, mean over the batch, computed in plain numbers. */
function softCe(logits: number[][], targets: number[][]): number {
  let total = 0;
  logits.forEach((row, i) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    row.forEach((v, j) => (total -= targets[i][j] * (v - lse)));
  });
  return total / logits.length;
}

describe('ClsDataPreprocessor', () => {
  before(useTestBackend);
  after(() => seedBatchAugments(null));

  it('to_rgb, mean/std and padding of differently sized images, by hand', () => {
    const mean = [1, 2, 3];
    const std = [2, 4, 8];
    const dp = new ClsDataPreprocessor({ mean, std, to_rgb: true, pad_size_divisor: 4, pad_value: -7 });
    // 2x3 and 5x2 images: batch 5x3, padded to 8x4.
    const a = image(2, 3, 3, 0);
    const b = image(5, 2, 3, 100);
    for (const inputs of [[a, b], [tf.tensor3d(a.data, [2, 3, 3], 'int32'), tf.tensor3d(b.data, [5, 2, 3], 'int32')]] as (Image[] | tf.Tensor[])[]) {
      const out = dp.forward({ inputs }).inputs;
      assert.deepEqual(out.shape, [2, 8, 4, 3]);
      const v = out.arraySync() as number[][][][];
      for (const [n, img, base] of [[0, a, 0], [1, b, 100]] as [number, Image, number][]) {
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 4; x++) {
            for (let k = 0; k < 3; k++) {
              const inside = y < img.height && x < img.width;
              // output channel k is input channel 2 - k (BGR -> RGB), normalised with mean[k], std[k]
              const want = inside ? (pix(img.height, img.width, 3, y, x, 2 - k, base) - mean[k]) / std[k] : -7;
              assert.ok(close(v[n][y][x][k], want), `n=${n} y=${y} x=${x} k=${k}: ${v[n][y][x][k]} != ${want}`);
            }
          }
        }
      }
      out.dispose();
    }
  });

  it('a stacked NHWC batch: to_rgb only for 3 channels, 1-value mean for grey images, pad to divisor', () => {
    const grey = new ClsDataPreprocessor({ mean: [10], std: [5], to_rgb: true, pad_size_divisor: 3, pad_value: 1 });
    const x = tf.tensor4d([10, 20, 30, 40], [1, 2, 2, 1]);
    const v = grey.forward({ inputs: x }).inputs.arraySync() as number[][][][];
    assert.deepEqual(v[0].map((r) => r.map((p) => p[0])), [[0, 2, 1], [4, 6, 1], [1, 1, 1]]);
    assert.throws(() => new ClsDataPreprocessor({ mean: [1, 2], std: [1, 1] }).forward({ inputs: tf.zeros([1, 2, 2, 3]) }), MmclsError);
    assert.throws(() => new ClsDataPreprocessor({ mean: [1, 2, 3] }), MmclsError);
    assert.throws(() => new ClsDataPreprocessor({ pad_size_divisor: 0 }), MmclsError);
  });

  it('to_onehot writes gt_score (several ones for multi-label); num_classes is required', () => {
    const dp = new ClsDataPreprocessor({ to_onehot: true, num_classes: 4 });
    const s = dp.forward({ inputs: tf.zeros([2, 1, 1, 1]), data_samples: samples([2, [0, 3]]) }).data_samples!;
    assert.deepEqual(Array.from(s[0].gt_score!), [0, 0, 1, 0]);
    assert.deepEqual(Array.from(s[1].gt_score!), [1, 0, 0, 1]);
    // Without to_onehot the samples keep their labels only.
    const plain = new ClsDataPreprocessor({ num_classes: 4 }).forward({ inputs: tf.zeros([1, 1, 1, 1]), data_samples: samples([1]) }).data_samples!;
    assert.equal(plain[0].gt_score, undefined);
    assert.throws(() => new ClsDataPreprocessor({ to_onehot: true }).forward({ inputs: tf.zeros([1, 1, 1, 1]), data_samples: samples([1]) }), MmclsError);
    assert.throws(() => dp.forward({ inputs: tf.zeros([1, 1, 1, 1]), data_samples: samples([4]) }), /outside \[0, 4\)/);
  });

  it('ImageClassifier passes train_cfg.augments to its preprocessor, which turns on to_onehot', () => {
    const model = MODELS.build<ImageClassifier>({ ...lenetCfg(), train_cfg: { augments: { type: 'Mixup', alpha: 0.8 } }, data_preprocessor: { num_classes: 10 } });
    const dp = model.dataPreprocessor;
    assert.ok(dp.batchAugments && dp.toOnehot);
    assert.ok(dp.batchAugments.augments[0] instanceof Mixup);
    // Validation (training=false) gets one-hot scores but no mixing.
    const x = tf.tensor4d(seq(2 * 32 * 32, 4), [2, 32, 32, 1]);
    const pre = model.preprocess({ inputs: x, data_samples: samples([3, 5]) }, false);
    assert.deepEqual(Array.from(pre.inputs.dataSync()), Array.from(x.dataSync()));
    assert.deepEqual(Array.from(pre.data_samples![0].gt_score!), [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert.throws(() => MODELS.build({ ...lenetCfg(), train_cfg: { augments: null } }), MmclsError);
  });

  it('Mixup with a fixed seed: mixed inputs and targets reach the loss (mode "loss")', () => {
    const model = MODELS.build<ImageClassifier>({ ...lenetCfg(), train_cfg: { augments: [{ type: 'Mixup', alpha: 0.8 }] }, data_preprocessor: { num_classes: 10 } });
    model.initWeights();
    const n = 4;
    const x = tf.tensor4d(seq(n * 32 * 32, 9), [n, 32, 32, 1]);
    // Larger weights: logits far from uniform, so soft and hard targets give different losses.
    for (const v of model.trainableVariables()) v.assign(tf.mul(v, 6));
    const labels = [1, 7, 7, 0];
    seedBatchAugments(123);
    const pre = model.preprocess({ inputs: x, data_samples: samples(labels) }, true);
    // The same draws by hand: RandomBatchAugment picks one of one augment, then Mixup draws.
    const rng = new Rng(123, 0xba7c4);
    rng.randint(0, 1);
    const { lam, index } = new Mixup({ alpha: 0.8 }).draw(n, rng);
    assert.ok(lam > 0 && lam < 1 && index.some((j, i) => j !== i), `lam ${lam} index ${index}`);
    const xs = x.arraySync() as number[][][][];
    const got = pre.inputs.arraySync() as number[][][][];
    for (let i = 0; i < n; i++) for (let y = 0; y < 32; y += 5) for (let k = 0; k < 32; k += 3) assert.ok(close(got[i][y][k][0], lam * xs[i][y][k][0] + (1 - lam) * xs[index[i]][y][k][0]));
    const targets = labels.map((l, i) => Array.from({ length: 10 }, (_, c) => lam * (c === l ? 1 : 0) + (1 - lam) * (c === labels[index[i]] ? 1 : 0)));
    pre.data_samples!.forEach((s, i) => s.gt_score!.forEach((v, c) => assert.ok(close(v, targets[i][c]), `sample ${i} class ${c}`)));
    const loss = (model.forward(pre.inputs, pre.data_samples, 'loss') as Record<string, tf.Tensor>).loss.dataSync()[0];
    const logits = (model.forward(pre.inputs, null, 'tensor') as tf.Tensor).arraySync() as number[][];
    assert.ok(close(loss, softCe(logits, targets)), `${loss} vs ${softCe(logits, targets)}`);
    // A hard-label loss differs: the soft targets are what the head used.
    const hard = softCe(logits, labels.map((l) => Array.from({ length: 10 }, (_, c) => (c === l ? 1 : 0))));
    assert.ok(Math.abs(loss - hard) > 1e-3, `soft ${loss} vs hard ${hard}`);
  });

  it('CutMix with a fixed seed: the pasted box and the area-corrected targets (mode "loss", LabelSmoothLoss)', () => {
    const cfg = { ...lenetCfg(), head: { type: 'ClsHead', loss: { type: 'LabelSmoothLoss', label_smooth_val: 0.1, mode: 'original' } } };
    const model = MODELS.build<ImageClassifier>({ ...cfg, train_cfg: { augments: [{ type: 'CutMix', alpha: 1.0 }] }, data_preprocessor: { num_classes: 10 } });
    model.initWeights();
    const n = 3;
    const x = tf.tensor4d(seq(n * 32 * 32, 11), [n, 32, 32, 1]);
    const labels = [4, 2, 9];
    seedBatchAugments(7);
    const pre = model.preprocess({ inputs: x, data_samples: samples(labels) }, true);
    const rng = new Rng(7, 0xba7c4);
    rng.randint(0, 1);
    const { lam, index, box } = new CutMix({ alpha: 1.0 }).draw(n, 32, 32, rng);
    const [y1, y2, x1, x2] = box;
    assert.ok(y2 > y1 && x2 > x1, `box ${box}`);
    assert.ok(close(lam, 1 - ((y2 - y1) * (x2 - x1)) / (32 * 32)));
    const xs = x.arraySync() as number[][][][];
    const got = pre.inputs.arraySync() as number[][][][];
    for (let i = 0; i < n; i++) {
      for (let y = 0; y < 32; y++) {
        for (let k = 0; k < 32; k++) {
          const src = y >= y1 && y < y2 && k >= x1 && k < x2 ? index[i] : i;
          assert.equal(got[i][y][k][0], xs[src][y][k][0]);
        }
      }
    }
    const mixed = labels.map((l, i) => Array.from({ length: 10 }, (_, c) => lam * (c === l ? 1 : 0) + (1 - lam) * (c === labels[index[i]] ? 1 : 0)));
    const smoothed = mixed.map((row) => row.map((v) => v * 0.9 + 0.1 / 10));
    const loss = (model.forward(pre.inputs, pre.data_samples, 'loss') as Record<string, tf.Tensor>).loss.dataSync()[0];
    const logits = (model.forward(pre.inputs, null, 'tensor') as tf.Tensor).arraySync() as number[][];
    assert.ok(close(loss, softCe(logits, smoothed)), `${loss} vs ${softCe(logits, smoothed)}`);
  });

  it('probs: each augment is chosen with its probability, the rest leaves the batch unchanged', () => {
    const counts = [0, 0, 0];
    const counter = (i: number): BatchAugment => ({
      call: (inputs, scores) => {
        counts[i]++;
        return [inputs, scores];
      },
    });
    const aug = new RandomBatchAugment({ augments: [counter(0), counter(1)], probs: [0.3, 0.5] });
    const x = tf.zeros([1, 1, 1, 1]) as tf.Tensor4D;
    const s = tf.zeros([1, 2]) as tf.Tensor2D;
    const rng = new Rng(42);
    const N = 4000;
    for (let t = 0; t < N; t++) {
      const before = counts[0] + counts[1];
      aug.call(x, s, rng);
      if (counts[0] + counts[1] === before) counts[2]++;
    }
    // 4 standard deviations of a binomial count: fails for a wrong distribution, not by chance.
    [0.3, 0.5, 0.2].forEach((p, i) => assert.ok(Math.abs(counts[i] - N * p) < 4 * Math.sqrt(N * p * (1 - p)), `augment ${i}: ${counts[i]} of ${N}, expected ${N * p}`));
    // Without probs one augment is always chosen, uniformly.
    counts.fill(0);
    const uniform = new RandomBatchAugment({ augments: [counter(0), counter(1)] });
    for (let t = 0; t < 2000; t++) uniform.call(x, s, rng);
    assert.equal(counts[0] + counts[1], 2000);
    assert.ok(Math.abs(counts[0] - 1000) < 4 * Math.sqrt(500));
    assert.throws(() => new RandomBatchAugment({ augments: [counter(0)], probs: [0.5, 0.5] }), MmclsError);
    assert.throws(() => new RandomBatchAugment({ augments: [counter(0), counter(1)], probs: [0.7, 0.5] }), MmclsError);
  });

  it('probs through the preprocessor: unchanged batches keep their one-hot scores', () => {
    const dp = new ClsDataPreprocessor({ num_classes: 3, batch_augments: { augments: [{ type: 'Mixup', alpha: 1.0 }], probs: 0.25 } });
    seedBatchAugments(5);
    let mixedCount = 0;
    const N = 400;
    for (let t = 0; t < N; t++) {
      const out = dp.forward({ inputs: tf.tensor4d([0, 1], [2, 1, 1, 1]), data_samples: samples([0, 2]) }, true);
      const s = out.data_samples![0].gt_score!;
      if (s[0] !== 1) mixedCount++;
      else assert.deepEqual(Array.from(s), [1, 0, 0]);
      out.inputs.dispose();
    }
    // P(mixed) = 0.25 * P(the permutation moves sample 0) = 0.25 * 0.5.
    const p = 0.125;
    assert.ok(Math.abs(mixedCount - N * p) < 4 * Math.sqrt(N * p * (1 - p)), `${mixedCount} of ${N}`);
  });

  it('without seedBatchAugments the draws follow Math.random (the seeded runner generator)', () => {
    seedBatchAugments(null);
    const dp = new ClsDataPreprocessor({ num_classes: 2, batch_augments: { augments: { type: 'Mixup', alpha: 0.5 } } });
    const run = (): number[] => {
      const orig = Math.random;
      const r = new Rng(99);
      Math.random = () => r.random();
      try {
        return Array.from({ length: 3 }, () => dp.forward({ inputs: tf.tensor4d([0, 1], [2, 1, 1, 1]), data_samples: samples([0, 1]) }, true).data_samples![0].gt_score![0]);
      } finally {
        Math.random = orig;
      }
    };
    assert.deepEqual(run(), run());
  });
});

describe('ImageClassifier neck lists', () => {
  before(useTestBackend);

  it('a list of necks is built as a sequence: keys neck.0.*, applied in order', () => {
    const model = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'ResNet_CIFAR', depth: 18, num_stages: 1, strides: [1], dilations: [1], out_indices: [0] },
      neck: [{ type: 'GeneralizedMeanPooling', p: 1 }],
      head: { type: 'LinearClsHead', num_classes: 3, in_channels: 64 },
    });
    assert.ok(model.neck instanceof NeckSequence);
    assert.ok(model.stateDict().has('neck.0.p'));
    model.initWeights();
    model.eval();
    const x = tf.tensor4d(seq(2 * 4 * 4 * 3, 2), [2, 4, 4, 3]);
    const feat = (model.extractFeat(x, 'backbone') as tf.Tensor[])[0];
    const gap = tf.mean(feat, [1, 2]).dataSync();
    const got = (model.extractFeat(x, 'neck') as tf.Tensor[])[0].dataSync();
    assert.equal(got.length, gap.length);
    got.forEach((v, i) => assert.ok(close(v, gap[i], 1e-3)));
    // Order: a doubling neck then a negating one.
    const scale = (f: number) => ({ forward: (t: tf.Tensor[] | tf.Tensor) => (Array.isArray(t) ? t : [t]).map((u) => tf.mul(u, f)) });
    const seqNeck = new NeckSequence([scale(2) as never, scale(-1) as never]);
    assert.deepEqual(Array.from((seqNeck.forward([tf.tensor1d([1, 3])])[0] as tf.Tensor).dataSync()), [-2, -6]);
  });
});

function lenetCfg(): Record<string, unknown> {
  return { type: 'ImageClassifier', backbone: { type: 'LeNet5', num_classes: 10 }, neck: null, head: { type: 'ClsHead', loss: { type: 'CrossEntropyLoss', loss_weight: 1.0 } } };
}
