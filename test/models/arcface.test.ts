import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ArcFaceClsHead } from '../../runtime/models';
import { StateEntry } from '../../runtime/nn/module';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

/** Cosines of rows x [N][D] against PyTorch-layout weight rows [C*k][D], best of k sub-centres per class. */
function cosines(x: number[][], w: Float32Array, c: number, k: number, d: number): number[][] {
  const norm = (v: number[]): number[] => {
    const l = Math.max(Math.hypot(...v), 1e-12);
    return v.map((e) => e / l);
  };
  return x.map((row) => {
    const xn = norm(row);
    return Array.from({ length: c }, (_, cls) => Math.max(...Array.from({ length: k }, (_, j) => {
      const wr = norm(Array.from(w.slice((cls * k + j) * d, (cls * k + j + 1) * d)));
      return xn.reduce((s, v, i) => s + v * wr[i], 0);
    })));
  });
}

function setWeight(head: ArcFaceClsHead, rows: number, d: number, seed: number): Float32Array {
  const w = seq(rows * d, seed);
  const st = new Map<string, StateEntry>([['norm_product.weight', { data: w, shape: [rows, d] }]]);
  head.loadStateDict(st);
  return w;
}

describe('ArcFaceClsHead', () => {
  before(useTestBackend);

  it('state dict: norm_product.weight only (margins are non-persistent), [num_classes * num_subcenters, in_channels]', () => {
    const head = MODELS.build<ArcFaceClsHead>({ type: 'ArcFaceClsHead', num_classes: 3997, in_channels: 2048, init_cfg: null });
    assert.deepEqual(head.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`), ['norm_product.weight 3997x2048']);
    assert.equal(head.numParameters(), 8185856); // the reference measurement's head of resnet50-arcface_8xb32_inshop
    const sub = new ArcFaceClsHead({ num_classes: 5, in_channels: 4, num_subcenters: 3 });
    assert.deepEqual(sub.stateDictKeys()[0].shape, [15, 4]);
  });

  it('inference: scale x cosine between the normalised feature and the normalised class weights', () => {
    const head = new ArcFaceClsHead({ num_classes: 3, in_channels: 4, scale: 10 });
    const w = setWeight(head, 3, 4, 2);
    const x = [[0.5, -1, 2, 0.25], [1, 1, -1, 0]];
    const out = head.forward([tf.tensor2d(x)]).dataSync();
    const expect = cosines(x, w, 3, 1, 4).flat().map((v) => 10 * v);
    assert.ok(maxAbsDiff(out, expect) < 1e-5);
  });

  it('sub-centres: the best of k cosines per class', () => {
    const head = new ArcFaceClsHead({ num_classes: 2, in_channels: 3, num_subcenters: 3, scale: 1 });
    const w = setWeight(head, 6, 3, 7);
    const x = [[0.3, -0.2, 0.9]];
    assert.ok(maxAbsDiff(head.forward([tf.tensor2d(x)]).dataSync(), cosines(x, w, 2, 3, 3).flat()) < 1e-5);
  });

  for (const easy of [false, true]) {
    it(`training logits: the target class gets cos(theta + m)${easy ? ' where cos > 0 (easy_margin)' : ', or cos - m sin(m) past the threshold'}`, () => {
      const m = 0.5;
      const head = new ArcFaceClsHead({ num_classes: 4, in_channels: 3, scale: 2, easy_margin: easy, margins: [m, m, m, 0.2] });
      const w = setWeight(head, 4, 3, 3);
      // The last sample points away from its class weight: cos = -1 lies below the threshold -cos(m).
      const x = [[1, 0.5, -0.5], [-1, 0.2, 0.3], [0.1, -0.9, 0.4], [-w[0], -w[1], -w[2]]];
      const cos = cosines(x, w, 4, 1, 3);
      const target = [0, 3, 2, 0];
      assert.ok(cos[3][0] < -Math.cos(m));
      const margins = [m, m, m, 0.2];
      const out = head.forward([tf.tensor2d(x)], tf.tensor1d(target, 'int32')).dataSync();
      const expect = cos.flatMap((row, n) => row.map((c, j) => {
        if (j !== target[n]) return 2 * c;
        const mm = margins[j];
        const phi = Math.cos(Math.acos(c) + mm);
        if (easy) return 2 * (c > 0 ? phi : c);
        return 2 * (c > -Math.cos(mm) ? phi : c - Math.sin(mm) * mm);
      }));
      assert.ok(maxAbsDiff(out, expect) < 1e-5, `max diff ${maxAbsDiff(out, expect)}`);
    });
  }

  it('margins from a .txt file (one per class); wrong lengths are refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arcface-'));
    const file = path.join(dir, 'margins.txt');
    fs.writeFileSync(file, '0.1\n0.2\n0.3\n');
    const head = new ArcFaceClsHead({ num_classes: 3, in_channels: 2, margins: file });
    assert.deepEqual(head.margins, [0.1, 0.2, 0.3].map(Math.fround));
    assert.throws(() => new ArcFaceClsHead({ num_classes: 2, in_channels: 2, margins: file }), /num_classes/);
    assert.throws(() => new ArcFaceClsHead({ num_classes: 2, in_channels: 2, margins: 'm.csv' }), /\.txt/);
    head.setMargins(0.4);
    assert.deepEqual(head.margins, [0.4, 0.4, 0.4].map(Math.fround));
    fs.rmSync(dir, { recursive: true });
  });

  it('one training step: the loss uses the margin logits; the weight gets a finite, non-zero gradient', () => {
    const head = new ArcFaceClsHead({ num_classes: 5, in_channels: 8 });
    const feats = tf.tensor2d(seq(2 * 8, 5), [2, 8]);
    const samples = [1, 4].map((l) => new ClsDataSample().set_gt_label(l));
    const vars = head.trainableVariables();
    assert.equal(vars.length, 1);
    const { value, grads } = tf.variableGrads(() => head.loss([feats], samples).loss as tf.Scalar, vars);
    // Cross-entropy of the margin logits computed here.
    const logits = head.forward([feats], tf.tensor1d([1, 4], 'int32')).arraySync() as number[][];
    const ce = logits.map((row, n) => {
      const mx = Math.max(...row);
      return Math.log(row.reduce((s, v) => s + Math.exp(v - mx), 0)) + mx - row[[1, 4][n]];
    });
    assert.ok(Math.abs(value.dataSync()[0] - (ce[0] + ce[1]) / 2) < 1e-4);
    const g = Object.values(grads)[0].dataSync();
    assert.ok(g.every(Number.isFinite) && g.some((e) => e !== 0));
  });
});
