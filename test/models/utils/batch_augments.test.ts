import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { BATCH_AUGMENTS, CutMix, Mixup, RandomBatchAugment, ResizeMix, applyBatchAugments } from '../../../runtime/models/utils/batch_augments';
import { Rng } from '../../../runtime/datasets/rng';
import { ClsDataSample } from '../../../runtime/structures';
import { MmclsError } from '../../../runtime/errors';

/** N images of H x W x 1 whose pixel (n, y, x) is 100 * n + 10 * y + x. */
function batch(n: number, h: number, w: number): tf.Tensor4D {
  const d = new Float32Array(n * h * w);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) d[(i * h + y) * w + x] = 100 * i + 10 * y + x;
  return tf.tensor4d(d, [n, h, w, 1]);
}
const onehot = (labels: number[], k: number) => tf.tensor2d(labels.flatMap((l) => Array.from({ length: k }, (_, j) => (j === l ? 1 : 0))), [labels.length, k]);

describe('models/utils/batch_augments', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('applyBatchAugments mixes labels on the host exactly as call() mixes them on the device, with the same images', () => {
    for (const [name, cfg] of [['Mixup', { type: 'Mixup', alpha: 0.8 }], ['CutMix', { type: 'CutMix', alpha: 1.0 }], ['ResizeMix', { type: 'ResizeMix', alpha: 1.0 }]] as const) {
      const aug = new RandomBatchAugment({ augments: cfg as never });
      const x = batch(5, 6, 7);
      const labels = [3, 0, 2, 2, 1];
      const [dx, ds] = aug.call(x, onehot(labels, 4), new Rng(11));
      const samples = labels.map((l) => new ClsDataSample().set_gt_label(l));
      const hx = applyBatchAugments(aug, x, samples, 4, new Rng(11));
      assert.deepEqual(Array.from(hx.dataSync()), Array.from(dx.dataSync()), `${name}: images`);
      const want = ds.arraySync();
      samples.forEach((smp, i) => assert.deepEqual(Array.from(smp.gt_label!.score!), want[i], `${name}: scores of sample ${i}`));
      tf.dispose([x, dx, ds, hx]);
    }
  });

  it('Mixup mixes images and scores with one Beta-drawn ratio and a permutation', () => {
    const m = BATCH_AUGMENTS.build<Mixup>({ type: 'Mixup', alpha: 0.8 });
    const x = batch(4, 2, 3);
    const s = onehot([0, 1, 2, 3], 4);
    const [mx, ms] = m.call(x, s, new Rng(5));
    const { lam, index } = m.draw(4, new Rng(5));
    const xv = x.arraySync();
    const got = mx.arraySync();
    for (let i = 0; i < 4; i++) for (let y = 0; y < 2; y++) for (let k = 0; k < 3; k++) assert.ok(Math.abs(got[i][y][k][0] - (lam * xv[i][y][k][0] + (1 - lam) * xv[index[i]][y][k][0])) < 1e-3);
    const sv = ms.arraySync();
    for (let i = 0; i < 4; i++) {
      assert.ok(Math.abs(sv[i].reduce((a, b) => a + b, 0) - 1) < 1e-6);
      if (index[i] !== i) assert.ok(Math.abs(sv[i][i] - lam) < 1e-6 && Math.abs(sv[i][index[i]] - (1 - lam)) < 1e-6);
    }
    assert.throws(() => BATCH_AUGMENTS.build({ type: 'Mixup', alpha: 0 }), MmclsError);
  });

  it('Beta(alpha, alpha) ratios have mean 1/2 and variance 1 / (4 (2 alpha + 1))', () => {
    const m = new Mixup({ alpha: 0.5 });
    const rng = new Rng(1);
    const lams = Array.from({ length: 4000 }, () => m.draw(2, rng).lam);
    const mean = lams.reduce((a, b) => a + b, 0) / lams.length;
    const v = lams.reduce((a, b) => a + (b - mean) ** 2, 0) / lams.length;
    assert.ok(Math.abs(mean - 0.5) < 0.02, String(mean));
    assert.ok(Math.abs(v - 1 / (4 * 2)) < 0.01, String(v));
  });

  it('CutMix pastes the box from the shuffled image; lam is the kept area', () => {
    const c = new CutMix({ alpha: 1.0 });
    const x = batch(3, 8, 10);
    const [mx, ms] = c.call(x, onehot([0, 1, 2], 3), new Rng(2));
    const { lam, index, box } = c.draw(3, 8, 10, new Rng(2));
    const [y1, y2, x1, x2] = box;
    assert.ok(Math.abs(lam - (1 - ((y2 - y1) * (x2 - x1)) / 80)) < 1e-9);
    const got = mx.arraySync();
    for (let i = 0; i < 3; i++) for (let y = 0; y < 8; y++) for (let k = 0; k < 10; k++) {
      const inBox = y >= y1 && y < y2 && k >= x1 && k < x2;
      assert.equal(got[i][y][k][0], 100 * (inBox ? index[i] : i) + 10 * y + k);
    }
    const sv = ms.arraySync();
    for (let i = 0; i < 3; i++) if (index[i] !== i) assert.ok(Math.abs(sv[i][i] - lam) < 1e-6);
    const mm = new CutMix({ alpha: 1.0, cutmix_minmax: [0.2, 0.5] });
    for (let s = 0; s < 50; s++) {
      const { box: b } = mm.draw(2, 20, 20, new Rng(s));
      assert.ok(b[1] - b[0] >= 4 && b[1] - b[0] < 10 && b[3] - b[2] >= 4 && b[3] - b[2] < 10);
    }
  });

  it('ResizeMix pastes the whole shuffled image resized into the box', () => {
    const r = BATCH_AUGMENTS.build<ResizeMix>({ type: 'ResizeMix', alpha: 1.0 });
    const d = new Float32Array(2 * 12 * 12);
    d.fill(7, 0, 144);
    d.fill(200, 144);
    const x = tf.tensor4d(d, [2, 12, 12, 1]);
    const [mx] = r.call(x, onehot([0, 1], 2), new Rng(9));
    const { index, box, lam } = r.draw(2, 12, 12, new Rng(9));
    const [y1, y2, x1, x2] = box;
    const got = mx.arraySync();
    const fill = [7, 200];
    for (let i = 0; i < 2; i++) for (let y = 0; y < 12; y++) for (let k = 0; k < 12; k++) {
      const inBox = y >= y1 && y < y2 && k >= x1 && k < x2;
      assert.ok(Math.abs(got[i][y][k][0] - fill[inBox ? index[i] : i]) < 1e-4);
    }
    assert.ok(lam >= 0 && lam <= 1);
  });

  it('RandomBatchAugment picks by probs, the remainder leaves the batch alone', () => {
    const aug = new RandomBatchAugment({ augments: [{ type: 'Mixup', alpha: 0.8 }, { type: 'CutMix', alpha: 1.0 }], probs: [0.2, 0.3] });
    assert.equal(aug.augments.length, 3);
    const x = batch(2, 4, 4);
    const s = onehot([0, 1], 2);
    const rng = new Rng(3);
    let unchanged = 0;
    for (let i = 0; i < 400; i++) {
      const [mx, ms] = aug.call(x, s, rng);
      if (ms === s) unchanged++;
      else {
        if (mx !== x) mx.dispose();
        ms.dispose();
      }
    }
    assert.ok(unchanged > 160 && unchanged < 240, String(unchanged));
    assert.throws(() => new RandomBatchAugment({ augments: [{ type: 'Mixup', alpha: 1 }], probs: [0.5, 0.5] }), MmclsError);
  });

  it('applyBatchAugments makes one-hot scores from gt labels and writes the mixed gt_score back', () => {
    const samples = [0, 2].map((l) => new ClsDataSample().set_gt_label(l));
    const aug = new RandomBatchAugment({ augments: { type: 'Mixup', alpha: 1.0 } });
    const x = applyBatchAugments(aug, batch(2, 2, 2), samples, 3, new Rng(0));
    assert.deepEqual(x.shape, [2, 2, 2, 1]);
    for (const s of samples) {
      const sc = Array.from(s.gt_score!);
      assert.equal(sc.length, 3);
      assert.ok(Math.abs(sc.reduce((a, b) => a + b, 0) - 1) < 1e-6);
      assert.equal(sc[1], 0);
    }
    assert.throws(() => applyBatchAugments(aug, batch(1, 2, 2), [new ClsDataSample().set_gt_label(0)], null), /num_classes/);
  });
});
