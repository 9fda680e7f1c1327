import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';
import { ClsDataPreprocessor, CrossEntropyLoss, ImageClassifier, LabelSmoothLoss, FocalLoss, AsymmetricLoss } from '../../runtime/models';
import { seq, useTestBackend } from '../nn/helpers';

function logSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

describe('losses: values by hand', () => {
  before(useTestBackend);
  const S = [[1, 2, 3], [0.5, -1, 2]];
  const scores = (): tf.Tensor => tf.tensor2d(S);

  it('CrossEntropyLoss: softmax, class_weight with avg_factor, reductions', () => {
    const lbl = tf.tensor1d([2, 0], 'int32');
    const per = S.map((r, i) => -logSoftmax(r)[[2, 0][i]]);
    assert.ok(Math.abs(new CrossEntropyLoss().forward(scores(), lbl).dataSync()[0] - (per[0] + per[1]) / 2) < 1e-6);
    const cw = [0.5, 1, 2];
    const weighted = per[0] * cw[2] + per[1] * cw[0];
    const l = new CrossEntropyLoss({ class_weight: cw, loss_weight: 3 }).forward(scores(), lbl, { avgFactor: 2 }).dataSync()[0];
    assert.ok(Math.abs(l - (3 * weighted) / 2) < 1e-5);
    const none = new CrossEntropyLoss({ reduction: 'none' }).forward(scores(), lbl).dataSync();
    assert.ok(Math.abs(none[0] - per[0]) < 1e-6 && Math.abs(none[1] - per[1]) < 1e-6);
    assert.ok(Math.abs(new CrossEntropyLoss({ reduction: 'sum' }).forward(scores(), lbl).dataSync()[0] - (per[0] + per[1])) < 1e-5);
    assert.throws(() => new CrossEntropyLoss({ use_sigmoid: true, use_soft: true }), MmclsError);
  });

  it('CrossEntropyLoss use_sigmoid: BCE summed over classes, divided by avg_factor', () => {
    const t = [[0, 1, 1], [1, 0, 0]];
    let sum = 0;
    S.forEach((r, i) => r.forEach((x, j) => { sum += -(t[i][j] * Math.log(sigmoid(x)) + (1 - t[i][j]) * Math.log(1 - sigmoid(x))); }));
    const l = new CrossEntropyLoss({ use_sigmoid: true }).forward(scores(), tf.tensor2d(t), { avgFactor: 2 }).dataSync()[0];
    assert.ok(Math.abs(l - sum / 2) < 1e-5);
  });

  it('LabelSmoothLoss original and classy_vision', () => {
    const lbl = tf.tensor1d([2, 0], 'int32');
    const smooth = (eps: number, c: number): number => {
      let total = 0;
      S.forEach((r, i) => {
        const ls = logSoftmax(r);
        ls.forEach((v, j) => { total += -((j === [2, 0][i] ? 1 - eps : 0) + eps / c) * v; });
      });
      return total / 2;
    };
    assert.ok(Math.abs(new LabelSmoothLoss({ label_smooth_val: 0.1 }).forward(scores(), lbl, { avgFactor: 2 }).dataSync()[0] - smooth(0.1, 3)) < 1e-5);
    assert.ok(Math.abs(new LabelSmoothLoss({ label_smooth_val: 0.2, mode: 'classy_vision' }).forward(scores(), lbl, { avgFactor: 2 }).dataSync()[0] - smooth(0.2 / 1.2, 3)) < 1e-5);
    assert.throws(() => new LabelSmoothLoss({ label_smooth_val: 1.5 }), MmclsError);
    assert.throws(() => new LabelSmoothLoss({ label_smooth_val: 0.1, mode: 'other' as 'original' }), MmclsError);
  });

  it('FocalLoss and AsymmetricLoss follow their formulas', () => {
    const t = [[0, 1, 1], [1, 0, 0]];
    let focal = 0;
    let asl = 0;
    S.forEach((r, i) => r.forEach((x, j) => {
      const p = sigmoid(x); const y = t[i][j];
      const pt = (1 - p) * y + p * (1 - y);
      const bce = -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
      focal += bce * (0.25 * y + 0.75 * (1 - y)) * pt ** 2;
      const pa = y ? p : Math.min(1 - p + 0.05, 1);
      asl += -Math.log(Math.max(pa, 1e-8)) * (1 - pa) ** (y ? 0 : 4);
    }));
    assert.ok(Math.abs(new FocalLoss().forward(scores(), tf.tensor2d(t), { avgFactor: 2 }).dataSync()[0] - focal / 2) < 1e-6);
    assert.ok(Math.abs(new AsymmetricLoss().forward(scores(), tf.tensor2d(t), { avgFactor: 2 }).dataSync()[0] - asl / 2) < 1e-6);
  });
});

function lenetCfg(): Record<string, unknown> {
  return { type: 'ImageClassifier', backbone: { type: 'LeNet5', num_classes: 10 }, neck: null, head: { type: 'ClsHead', loss: { type: 'CrossEntropyLoss', loss_weight: 1.0 }, cal_acc: true } };
}

function samples(labels: number[]): ClsDataSample[] {
  return labels.map((l) => new ClsDataSample().set_gt_label(l));
}

describe('ImageClassifier', () => {
  before(useTestBackend);

  it('forward modes tensor / loss / predict, extract_feat stages, bad mode', () => {
    const model = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'ResNet_CIFAR', depth: 18 }, neck: { type: 'GlobalAveragePooling' }, head: { type: 'LinearClsHead', num_classes: 5, in_channels: 512, cal_acc: true, topk: [1, 3] } });
    model.initWeights();
    model.eval();
    assert.deepEqual(model.namedChildren().map(([n]) => n), ['data_preprocessor', 'backbone', 'neck', 'head']);
    const x = tf.tensor4d(seq(2 * 8 * 8 * 3), [2, 8, 8, 3]);
    const logits = model.forward(x, null, 'tensor') as tf.Tensor;
    assert.deepEqual(logits.shape, [2, 5]);
    const feats = model.extractFeat(x, 'backbone') as tf.Tensor[];
    assert.deepEqual(feats[0].shape, [2, 1, 1, 512]);
    assert.deepEqual((model.extractFeat(x, 'neck') as tf.Tensor[])[0].shape, [2, 512]);
    const losses = model.forward(x, samples([1, 4]), 'loss') as Record<string, tf.Tensor>;
    assert.deepEqual(Object.keys(losses).sort(), ['accuracy_top-1', 'accuracy_top-3', 'loss']);
    const preds = model.forward(x, samples([1, 4]), 'predict') as ClsDataSample[];
    assert.equal(preds.length, 2);
    const l = logits.dataSync();
    for (let i = 0; i < 2; i++) {
      const row = Array.from(l.slice(i * 5, i * 5 + 5));
      const score = preds[i].pred_score!;
      assert.ok(Math.abs(score.reduce((a, v) => a + v, 0) - 1) < 1e-5);
      assert.equal(preds[i].pred_label!.label![0], row.indexOf(Math.max(...row)));
      assert.deepEqual(preds[i].gt_label!.label, [[1, 4][i]]);
    }
    assert.throws(() => model.forward(x, null, 'bad' as 'tensor'), MmclsError);
  });

  it('ClsDataPreprocessor normalises, swaps BGR to RGB and pads to a divisor', () => {
    const dp = new ClsDataPreprocessor({ mean: [1, 2, 3], std: [2, 4, 8], to_rgb: true, pad_size_divisor: 4 });
    const img = tf.tensor3d([10, 20, 30, 40, 50, 60], [1, 2, 3]);
    const { inputs } = dp.forward({ inputs: [img] });
    assert.deepEqual(inputs.shape, [1, 4, 4, 3]);
    const v = inputs.arraySync() as number[][][][];
    assert.deepEqual(v[0][0][0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 8]);
    assert.deepEqual(v[0][0][1], [(60 - 1) / 2, (50 - 2) / 4, (40 - 3) / 8]);
    assert.deepEqual(v[0][3][3], [0, 0, 0]);
    assert.throws(() => new ClsDataPreprocessor({ mean: [1, 2, 3] }), MmclsError);
  });

  it('frozen_stages and norm_eval of ResNet', () => {
    const model = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'ResNet', depth: 18, frozen_stages: 1, norm_eval: true }, neck: { type: 'GlobalAveragePooling' }, head: { type: 'LinearClsHead', num_classes: 3, in_channels: 512 } });
    model.train();
    const frozen = model.namedParameters().filter(([, p]) => !p.requiresGrad).map(([n]) => n);
    assert.ok(frozen.includes('backbone.conv1.weight') && frozen.includes('backbone.layer1.1.bn2.bias'));
    assert.ok(!frozen.some((n) => n.startsWith('backbone.layer2')));
    assert.ok(model.namedModules().filter(([n]) => n.endsWith('bn1')).every(([, m]) => !m.training));
    assert.ok(model.getSubmodule('backbone.layer2')!.training);
  });

  it('zero_init_residual zeroes the last norm of every residual branch', () => {
    const bb = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'ResNet', depth: 50, num_stages: 1, strides: [1], dilations: [1], out_indices: [0] } }).backbone;
    bb.initWeights();
    const sd = bb.stateDict(); // only 1 stage: small
    for (const k of ['layer1.0.bn3.weight', 'layer1.2.bn3.weight']) assert.ok((sd.get(k)!.data as Float32Array).every((v) => v === 0), k);
    assert.ok((sd.get('layer1.0.bn2.weight')!.data as Float32Array).every((v) => v === 1));
  });
});

describe('training: the loss falls over 20 SGD steps on a fixed batch', () => {
  before(useTestBackend);

  function train(model: ImageClassifier, x: tf.Tensor, labels: number[], lr: number): number[] {
    model.train();
    const vars = model.trainableVariables();
    const history: number[] = [];
    for (let step = 0; step < 20; step++) {
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => model.loss(x, samples(labels)).loss as tf.Scalar, vars);
        history.push(value.dataSync()[0]);
        for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], lr)));
      });
    }
    return history;
  }

  it('LeNet5', () => {
    const model = MODELS.build<ImageClassifier>(lenetCfg());
    model.initWeights();
    const x = tf.tensor4d(seq(8 * 32 * 32, 3), [8, 32, 32, 1]);
    const h = train(model, x, [0, 1, 2, 3, 4, 5, 6, 7], 0.5);
    assert.ok(h.every(Number.isFinite));
    assert.ok(h[19] < 0.5 * h[0], `loss ${h[0]} -> ${h[19]}`);
  });

  it('ResNet_CIFAR-18', () => {
    const model = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'ResNet_CIFAR', depth: 18 }, neck: { type: 'GlobalAveragePooling' }, head: { type: 'LinearClsHead', num_classes: 10, in_channels: 512 } });
    model.initWeights();
    // Small images keep this fast; the network is the full 18-layer CIFAR ResNet.
    const x = tf.tensor4d(seq(2 * 8 * 8 * 3, 5), [2, 8, 8, 3]);
    const h = train(model, x, [3, 1], 0.05);
    assert.ok(h.every(Number.isFinite));
    assert.ok(h[19] < 0.5 * h[0], `loss ${h[0]} -> ${h[19]}`);
    // Batch norm statistics were updated in training.
    assert.equal(Number(model.stateDict().get('backbone.bn1.num_batches_tracked')!.data[0]), 20);
  });
});
