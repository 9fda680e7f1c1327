import { strict as assert } from 'assert';
import '../../runtime/evaluation';
import {
  Accuracy,
  AveragePrecision,
  ConfusionMatrix,
  Evaluator,
  MultiLabelMetric,
  SingleLabelMetric,
  buildEvaluator,
  topkIndices,
} from '../../runtime/evaluation';
import { setEngineLogger } from '../../runtime/engine/optim/logging';
import { METRICS } from '../../runtime/registry';
import { ClsDataSample } from '../../runtime/structures';

// Expected values are counted by hand (see the comments); percent as MMClassification reports them.

function near(actual: unknown, expected: number | number[], what: string, tol = 1e-9): void {
  const a = Array.isArray(expected) ? (actual as number[]) : [actual as number];
  const e = Array.isArray(expected) ? expected : [expected];
  assert.equal(a.length, e.length, what);
  e.forEach((x, i) => assert.ok(Math.abs(a[i] - x) <= tol * Math.max(1, Math.abs(x)), `${what}[${i}]: got ${a[i]}, expected ${x}`));
}

function nearAll(actual: Record<string, unknown>, expected: Record<string, number | number[]>): void {
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) near(actual[k], v, k, 1e-6);
}

// Six samples, three classes. top-1 predictions 0,1,2,1,2,1; targets 0,2,2,0,1,1.
const SCORES = [
  [0.7, 0.2, 0.1],
  [0.2, 0.5, 0.3],
  [0.1, 0.3, 0.6],
  [0.4, 0.45, 0.15],
  [0.25, 0.35, 0.4],
  [0.05, 0.9, 0.05],
];
const TARGET = [0, 2, 2, 0, 1, 1];
// The layout of ClsDataSample.toDict() (mmcls 1.0): pred_label.score, gt_label.label.
const SAMPLES = SCORES.map((s, i) => ({ pred_label: { score: Float32Array.from(s) }, gt_label: { label: [TARGET[i]] } }));

function run(metric: unknown, samples: unknown[] = SAMPLES, batch = 4): Record<string, unknown> {
  const ev = new Evaluator({ metrics: metric as Record<string, unknown> });
  for (let i = 0; i < samples.length; i += batch) ev.process(samples.slice(i, i + batch));
  return ev.evaluate(samples.length);
}

describe('metrics (MMClassification result keys and values)', () => {
  let restore: ReturnType<typeof setEngineLogger>;
  before(() => {
    restore = setEngineLogger(() => {});
  });
  after(() => setEngineLogger(restore));

  it('Accuracy: top-k and thresholds', () => {
    // top1: samples 0, 2, 5 → 50 %. top2: every target is in the best two → 100 %.
    nearAll(run({ type: 'Accuracy', topk: [1, 2] }), { 'accuracy/top1': 50, 'accuracy/top2': 100 });
    // With thr 0.5 only the hits scored above 0.5 count: samples 0 (0.7), 2 (0.6), 5 (0.9).
    nearAll(run({ type: 'Accuracy', topk: [1, 2], thrs: [0.0, 0.5, null] }), {
      'accuracy/top1_thr-0.00': 50,
      'accuracy/top1_thr-0.50': 50,
      'accuracy/top1_no-thr': 50,
      'accuracy/top2_thr-0.00': 100,
      'accuracy/top2_thr-0.50': 50,
      'accuracy/top2_no-thr': 100,
    });
    // Labels only: 1 of 4 right (MMCls docstring example [0, 2, 1, 3] vs [0, 1, 2, 3] → 50).
    near(Accuracy.calculate([0, 2, 1, 3], [0, 1, 2, 3]), 50, 'labels');
    assert.throws(() => run({ type: 'Accuracy', topk: 5 }), /Top-5 accuracy is unavailable.*val_evaluator/);
  });

  it('SingleLabelMetric: macro, micro, classwise, thresholds, support', () => {
    // Per class (tp/pred/gt): c0 1/1/2 → P 100 R 50; c1 1/3/2 → P 33.3 R 50; c2 1/2/2 → P 50 R 50.
    const f1 = (p: number, r: number) => (2 * p * r) / (p + r);
    nearAll(run({ type: 'SingleLabelMetric', items: ['precision', 'recall', 'f1-score', 'support'] }), {
      'single-label/precision': (100 + 100 / 3 + 50) / 3,
      'single-label/recall': 50,
      'single-label/f1-score': (f1(100, 50) + f1(100 / 3, 50) + 50) / 3,
      'single-label/support': 6,
    });
    nearAll(run({ type: 'SingleLabelMetric', average: 'micro' }), {
      'single-label/precision_micro': 50,
      'single-label/recall_micro': 50,
      'single-label/f1-score_micro': 50,
    });
    nearAll(run({ type: 'SingleLabelMetric', average: null, items: ['precision', 'support'] }), {
      'single-label/precision_classwise': [100, 100 / 3, 50],
      'single-label/support_classwise': [2, 2, 2],
    });
    // thr 0.5 keeps the top-1 of samples 0, 2, 5 only: each class 1 right of 1 predicted, 2 targets.
    nearAll(run({ type: 'SingleLabelMetric', thrs: [0.0, 0.5], items: ['precision', 'recall'] }), {
      'single-label/precision_thr-0.00': (100 + 100 / 3 + 50) / 3,
      'single-label/recall_thr-0.00': 50,
      'single-label/precision_thr-0.50': 100,
      'single-label/recall_thr-0.50': 50,
    });
    // MMCls docstring: ([0, 1, 1, 3], [0, 2, 1, 3], num_classes=4) → (62.5, 75, 66.6667, 4).
    const r = SingleLabelMetric.calculate([0, 1, 1, 3], [0, 2, 1, 3], [0], 'macro', 4) as number[];
    near(r, [62.5, 75, 200 / 3, 4], 'calculate labels');
    // pred_label only: num_classes from the metric.
    const labelled = TARGET.map((t, i) => ({ pred_label: { label: [[0, 1, 2, 1, 2, 1][i]] }, gt_label: { label: [t] } }));
    nearAll(run({ type: 'SingleLabelMetric', num_classes: 3, items: ['recall'] }, labelled), { 'single-label/recall': 50 });
    assert.throws(() => run({ type: 'SingleLabelMetric' }, labelled), /num_classes/);
    assert.throws(() => METRICS.build({ type: 'SingleLabelMetric', items: ['acc'] }), /not supported|must be a list of/);
  });

  it('ConfusionMatrix: rows are targets, columns predictions', () => {
    assert.deepEqual(ConfusionMatrix.calculate([0, 1, 1, 3], [0, 2, 1, 3], 4), [
      [1, 0, 0, 0],
      [0, 1, 0, 0],
      [0, 1, 0, 0],
      [0, 0, 0, 1],
    ]);
    const r = run({ type: 'ConfusionMatrix' });
    assert.deepEqual(r['confusion_matrix/result'], [
      [1, 1, 0],
      [0, 1, 1],
      [0, 1, 1],
    ]);
  });

  // The MMCls docstring example of AveragePrecision / MultiLabelMetric.
  const MP = [
    [0.9, 0.8, 0.3, 0.2],
    [0.1, 0.2, 0.2, 0.1],
    [0.7, 0.5, 0.9, 0.3],
    [0.8, 0.1, 0.1, 0.2],
  ];
  const MT = [
    [1, 1, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [1, 0, 0, 0],
  ];
  const MSAMPLES = MP.map((p, i) => ({ pred_score: p, gt_score: MT[i] }));

  it('AveragePrecision: mAP and classwise', () => {
    // class 0: positives ranked 1, 2 → 1; class 1: ranked 1, 3 → (1 + 2/3)/2; class 2: 1; class 3: none → 0.
    near(AveragePrecision.calculate(MP, MT), (100 + (100 * 5) / 6 + 100 + 0) / 4, 'mAP');
    nearAll(run({ type: 'AveragePrecision' }, MSAMPLES), { 'multi-label/mAP': 70.83333333333333 });
    nearAll(run({ type: 'AveragePrecision', average: null }, MSAMPLES), { 'multi-label/AP_classwise': [100, 250 / 3, 100, 0] });
  });

  it('MultiLabelMetric: thr 0.5 (default), other thr, topk, micro, classwise, both', () => {
    // thr 0.5: c0 tp2/pred3/gt2, c1 1/2/2, c2 1/1/1, c3 0/0/0.
    const f1 = (p: number, r: number) => (p + r ? (2 * p * r) / (p + r) : 0);
    nearAll(run({ type: 'MultiLabelMetric' }, MSAMPLES), {
      'multi-label/precision': (200 / 3 + 50 + 100 + 0) / 4,
      'multi-label/recall': (100 + 50 + 100 + 0) / 4,
      'multi-label/f1-score': (f1(200 / 3, 100) + 50 + 100 + 0) / 4,
    });
    nearAll(run({ type: 'MultiLabelMetric', average: 'micro', items: ['precision', 'recall', 'f1-score', 'support'] }, MSAMPLES), {
      'multi-label/precision_micro': 400 / 6,
      'multi-label/recall_micro': 80,
      'multi-label/f1-score_micro': f1(400 / 6, 80),
      'multi-label/support_micro': 5,
    });
    // top-1: 0, 1 (tie 0.2/0.2 → lower index), 2, 0.
    nearAll(run({ type: 'MultiLabelMetric', topk: 1 }, MSAMPLES), {
      'multi-label/precision_top1': 75,
      'multi-label/recall_top1': 62.5,
      'multi-label/f1-score_top1': (100 + f1(100, 50) + 100) / 4,
    });
    // thr 0.85: positives r0c0 (0.9), r2c2 (0.9).
    nearAll(run({ type: 'MultiLabelMetric', thr: 0.85, average: null, items: ['precision'] }, MSAMPLES), {
      'multi-label/precision_thr-0.85_classwise': [100, 0, 100, 0],
    });
    const both = run({ type: 'MultiLabelMetric', average: 'both', items: ['precision'] }, MSAMPLES);
    nearAll(both, { 'multi-label/precision': (200 / 3 + 150) / 4, 'multi-label/precision_micro': 400 / 6 });
    // Index-form labels.
    const r = MultiLabelMetric.calculate([[0], [1, 2]], [[0, 1], [2]], { pred_indices: true, target_indices: true, num_classes: 3, average: 'micro' });
    // tp: (0,0) and (1,2); 3 predicted, 3 targets.
    near(r as number[], [200 / 3, 200 / 3, 200 / 3, 3], 'indices');
  });

  it('VOCAveragePrecision / VOCMultiLabelMetric: difficult labels', () => {
    // Class 1 of sample 0 is only a difficult object.
    const samples = [
      { pred_score: [0.9, 0.6], gt_label: [0], gt_label_difficult: [1] },
      { pred_score: [0.2, 0.3], gt_label: [1] },
      { pred_score: [0.1, 0.5], gt_label: [0], metainfo: { gt_label_difficult: [] } },
    ];
    // class 0: ranks 1 (pos), 2 (neg), 3 (pos) → (1 + 2/3)/2. class 1 by score: s0 0.6, s2 0.5 (neg), s1 0.3 (pos).
    const c0 = (1 + 2 / 3) / 2;
    nearAll(run({ type: 'VOCAveragePrecision' }, samples), { 'multi-label/mAP': ((c0 + 1 / 2) / 2) * 100 });
    nearAll(run({ type: 'VOCAveragePrecision', difficult_as_positive: false }, samples), { 'multi-label/mAP': ((c0 + 1 / 3) / 2) * 100 });
    nearAll(run({ type: 'VOCAveragePrecision', difficult_as_positive: true }, samples), { 'multi-label/mAP': ((c0 + c0) / 2) * 100 });
    // thr 0.5: class 1 predicted for s0 (ignored when difficult) and s2 (wrong).
    nearAll(run({ type: 'VOCMultiLabelMetric', average: null, items: ['precision'] }, samples), {
      'multi-label/precision_classwise': [100, 0],
    });
    nearAll(run({ type: 'VOCMultiLabelMetric', average: null, items: ['precision'], difficult_as_positive: true }, samples), {
      'multi-label/precision_classwise': [100, 50],
    });
  });

  it('Evaluator: several metrics, name conflicts, size truncation, prefixes, buildEvaluator forms', () => {
    const ev = buildEvaluator([{ type: 'Accuracy', topk: [1, 2] }, { type: 'SingleLabelMetric', items: ['recall'] }]);
    ev.process(SAMPLES);
    nearAll(ev.evaluate(6), { 'accuracy/top1': 50, 'accuracy/top2': 100, 'single-label/recall': 50 });
    // Results are cleared after evaluate; size keeps the first samples only (padding of the last batch).
    ev.process([...SAMPLES, SAMPLES[1]]);
    near(ev.evaluate(6)['accuracy/top1'], 50, 'truncated');
    const dup = buildEvaluator([{ type: 'Accuracy' }, { type: 'Accuracy', topk: 1 }]);
    dup.process(SAMPLES);
    assert.throws(() => dup.evaluate(6), /same metric name accuracy\/top1/);
    const pre = buildEvaluator({ type: 'Accuracy', prefix: 'val' });
    nearAll(pre.offlineEvaluate(SAMPLES, undefined, 4), { 'val/top1': 50 });
    const viaRegistry = buildEvaluator({ metrics: [{ type: 'Accuracy' }] });
    assert.ok(viaRegistry instanceof Evaluator);
    // Flat sample layout and tensor-like values.
    const flat = SCORES.map((s, i) => ({ pred_score: { dataSync: () => Float32Array.from(s) }, gt_label: TARGET[i] }));
    nearAll(run({ type: 'Accuracy' }, flat), { 'accuracy/top1': 50 });
  });
});

describe('topkIndices', () => {
  it('agrees with a full stable sort, ties included', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let t = 0; t < 500; t++) {
      const n = 1 + Math.floor(rnd() * 40);
      const row = Array.from({ length: n }, () => Math.floor(rnd() * 6) / 5);
      const k = 1 + Math.floor(rnd() * n);
      const ref = row
        .map((_, i) => i)
        .sort((a, b) => (row[b] !== row[a] ? row[b] - row[a] : a - b))
        .slice(0, k);
      assert.deepEqual(topkIndices(row, k), ref, JSON.stringify({ row, k }));
    }
  });
});

describe('metrics read ClsDataSample', () => {
  it('instances and their toJSON() form', () => {
    const samples = SCORES.map((s, i) => new ClsDataSample().set_gt_label(TARGET[i]).set_pred_score(s));
    nearAll(run({ type: 'Accuracy', topk: [1, 2] }, samples), { 'accuracy/top1': 50, 'accuracy/top2': 100 });
    nearAll(run({ type: 'Accuracy' }, samples.map((s) => s.toJSON())), { 'accuracy/top1': 50 });
    const labelsOnly = TARGET.map((t, i) => new ClsDataSample({ metainfo: { num_classes: 3 } }).set_gt_label(t).set_pred_label([0, 1, 2, 1, 2, 1][i]));
    nearAll(run({ type: 'SingleLabelMetric', items: ['recall'] }, labelsOnly), { 'single-label/recall': 50 });
    const multi = [new ClsDataSample({ metainfo: { gt_label_difficult: [1] } }).set_gt_label([0]).set_pred_score([0.9, 0.6])];
    nearAll(run({ type: 'VOCAveragePrecision', average: null }, multi), { 'multi-label/AP_classwise': [100, 0] });
  });
});
