import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend';
import { bilinearMatrix } from '../../runtime/backend/gradients';
import { OP_CASES, OpCase } from './op-cases';
import { caseInputs, forwardAndGrads, lossWeights, relErr, rng, size } from './helpers';

/** At most this many coordinates per input are checked numerically (2 forward passes each). */
const SAMPLES = 24;

/** Numerical gradient of sum(op(x) * w) at sampled coordinates: float32 forward on the current backend, float64 differences. */
function sampledNumerical(c: OpCase, inputs: Float32Array[], eps: number, seed: number): Array<{ k: number; i: number; g: number }> {
  const yShape = tf.tidy(() => c.fn(...inputs.map((v, i) => tf.tensor(v, c.shapes[i]))).shape);
  const w = lossWeights(yShape, 7);
  const loss = (vals: Float32Array[]): number => {
    const y = tf.tidy(() => c.fn(...vals.map((v, i) => tf.tensor(v, c.shapes[i]))).dataSync());
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * w[i];
    return s;
  };
  const r = rng(seed);
  const out: Array<{ k: number; i: number; g: number }> = [];
  inputs.forEach((v, k) => {
    const picks = v.length <= SAMPLES ? Array.from({ length: v.length }, (_, i) => i) : Array.from({ length: SAMPLES }, () => Math.floor(r() * v.length));
    for (const i of picks) {
      const plus = inputs.map((u) => u.slice());
      const minus = inputs.map((u) => u.slice());
      plus[k][i] += eps;
      minus[k][i] -= eps;
      out.push({ k, i, g: (loss(plus) - loss(minus)) / (plus[k][i] - minus[k][i]) });
    }
  });
  return out;
}

describe('backend: every training op, forward and backward, wasm vs cpu and vs numerical gradients', function () {
  this.timeout(120000);

  for (const c of OP_CASES) {
    it(c.name, async () => {
      const inputs = caseInputs(c, 11);
      await initBackend('cpu');
      const cpu = forwardAndGrads(c, inputs);
      await initBackend('wasm');
      const wasm = forwardAndGrads(c, inputs);

      assert.deepEqual(wasm.yShape, cpu.yShape);
      assert.ok(relErr(wasm.y, cpu.y) < 1e-5, `forward wasm vs cpu: ${relErr(wasm.y, cpu.y)}`);
      wasm.grads.forEach((g, k) => {
        assert.equal(g.length, size(c.shapes[k]), `gradient ${k} size`);
        assert.ok(relErr(g, cpu.grads[k]) < 1e-5, `gradient ${k} wasm vs cpu: ${relErr(g, cpu.grads[k])}`);
      });

      // Values of a `distinct` case are 2/n apart: the step must not reorder them.
      const n = Math.max(...c.shapes.map(size));
      const eps = c.distinct ? Math.min(1e-2, 0.5 / n) : 1e-2;
      const num = sampledNumerical(c, inputs, eps, 5);
      let worst = 0;
      for (let k = 0; k < inputs.length; k++) {
        const pts = num.filter((p) => p.k === k);
        const scale = Math.max(1e-2, ...Array.from(wasm.grads[k]).map(Math.abs));
        for (const p of pts) worst = Math.max(worst, Math.abs(wasm.grads[k][p.i] - p.g) / scale);
      }
      assert.ok(worst < 5e-3, `analytic vs numerical on wasm: relative error ${worst}`);
    });
  }

  it('resizeBilinear gradient: the transpose of the resize matrices in every mode, on wasm and cpu', async () => {
    // The forward op is linear: resize(x) == Ah x Aw^T; its gradient is Ah^T dy Aw.
    for (const [align, half] of [[false, false], [true, false], [false, true]] as const) {
      for (const be of ['wasm', 'cpu']) {
        await initBackend(be);
        const [h, w, oh, ow] = [3, 5, 7, 4];
        const x = tf.tensor4d(Float32Array.from({ length: h * w }, (_, i) => Math.sin(i + 1)), [1, h, w, 1]);
        const ah = bilinearMatrix(h, oh, align, half);
        const aw = bilinearMatrix(w, ow, align, half);
        const y = tf.image.resizeBilinear(x, [oh, ow], align, half).dataSync();
        const xv = x.dataSync();
        for (let r = 0; r < oh; r++) {
          for (let q = 0; q < ow; q++) {
            let s = 0;
            for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) s += ah[r * h + i] * aw[q * w + j] * xv[i * w + j];
            assert.ok(Math.abs(s - y[r * ow + q]) < 1e-5, `matrices reproduce the forward op (align ${align}, half ${half}, ${be})`);
          }
        }
        const dy = tf.tensor4d(Float32Array.from({ length: oh * ow }, (_, i) => Math.cos(i)), [1, oh, ow, 1]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeBilinear(t as tf.Tensor4D, [oh, ow], align, half), dy)))(x).dataSync();
        const dyv = dy.dataSync();
        for (let i = 0; i < h; i++) {
          for (let j = 0; j < w; j++) {
            let s = 0;
            for (let r = 0; r < oh; r++) for (let q = 0; q < ow; q++) s += ah[r * h + i] * aw[q * w + j] * dyv[r * ow + q];
            assert.ok(Math.abs(s - g[i * w + j]) < 1e-5, `gradient (align ${align}, half ${half}, ${be}) at ${i},${j}: ${g[i * w + j]} vs ${s}`);
          }
        }
        tf.dispose([x, dy]);
      }
    }
  });

  it('UnsortedSegmentSum on wasm: drops out-of-range ids, int32, 2-D ids, by hand', async () => {
    await initBackend('wasm');
    const x = tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, -1, 7], 'int32'), 3);
    assert.deepEqual(out.shape, [3, 2]);
    assert.deepEqual(Array.from(out.dataSync()), [3, 4, 0, 0, 6, 8]);
    const xi = tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32');
    const oi = tf.unsortedSegmentSum(xi, tf.tensor2d([[1, 1], [0, 1]], [2, 2], 'int32') as unknown as tf.Tensor1D, 2);
    assert.equal(oi.dtype, 'int32');
    assert.deepEqual(Array.from(oi.dataSync()), [3, 7]);
    tf.dispose([x, out, xi, oi]);
  });

  it('Einsum on wasm (through the cpu kernel) equals matMul', async () => {
    await initBackend('wasm');
    const a = tf.tensor3d(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), [2, 3, 4]);
    const b = tf.tensor3d(Float32Array.from({ length: 40 }, (_, i) => Math.cos(i)), [2, 4, 5]);
    assert.ok(relErr(tf.einsum('bij,bjk->bik', a, b).dataSync(), tf.matMul(a, b).dataSync()) < 1e-6);
    tf.dispose([a, b]);
  });
});
