import * as tf from '@tensorflow/tfjs-core';
import { OpCase } from './op-cases';

/** mulberry32: a small seeded generator, so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Inputs for a case: uniform in its range, away from its kinks, or a shuffled spaced grid. */
export function caseInputs(c: OpCase, seed: number): Float32Array[] {
  const r = rng(seed);
  const [lo, hi] = c.range ?? [-1, 1];
  return c.shapes.map((shape) => {
    const n = size(shape);
    const v = new Float32Array(n);
    if (c.distinct) {
      // Values spaced 2/n apart: a central difference of 1e-3 never swaps the order of two.
      const idx = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      for (let i = 0; i < n; i++) v[i] = -1 + (2 * idx[i] + 1) / n;
    } else {
      for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * r();
    }
    if (c.kinks) {
      for (let i = 0; i < n; i++) {
        for (const k of c.kinks) {
          if (Math.abs(v[i] - k) < 0.05) v[i] = k + (v[i] >= k ? 0.05 : -0.05);
        }
      }
    }
    return v;
  });
}

/** Loss weights: the loss is sum(op(x) * w) for fixed w, so every output element matters. */
export function lossWeights(shape: number[], seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: size(shape) }, () => r() * 2 - 1);
}

/** Forward output and analytic gradients of sum(op(x) * w) on the current backend, as plain arrays. */
export function forwardAndGrads(c: OpCase, inputs: Float32Array[], seed = 7): { y: Float32Array; yShape: number[]; grads: Float32Array[] } {
  return tf.tidy(() => {
    const xs = inputs.map((v, i) => tf.tensor(v, c.shapes[i]));
    const y = c.fn(...xs);
    const w = tf.tensor(lossWeights(y.shape, seed), y.shape);
    const gs = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.fn(...a), w)))(xs);
    return { y: y.dataSync() as Float32Array, yShape: y.shape, grads: gs.map((g) => g.dataSync() as Float32Array) };
  });
}

/** Central differences of sum(op(x) * w) in float64 (the op itself runs in float32 on the current backend). */
export function numericalGrads(c: OpCase, inputs: Float32Array[], eps: number, seed = 7): Float64Array[] {
  const yShape = tf.tidy(() => c.fn(...inputs.map((v, i) => tf.tensor(v, c.shapes[i]))).shape);
  const w = lossWeights(yShape, seed);
  const loss = (vals: Float32Array[]): number => {
    const y = tf.tidy(() => c.fn(...vals.map((v, i) => tf.tensor(v, c.shapes[i]))).dataSync());
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * w[i];
    return s;
  };
  return inputs.map((v, k) => {
    const g = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const plus = inputs.map((u) => u.slice());
      const minus = inputs.map((u) => u.slice());
      plus[k][i] += eps;
      minus[k][i] -= eps;
      // The perturbation that float32 actually stored.
      const h = plus[k][i] - minus[k][i];
      g[i] = (loss(plus) - loss(minus)) / h;
    }
    return g;
  });
}

/** max |a - b| / max(max |b|, floor): one relative error per tensor. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let d = 0;
  let m = floor;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  if (a.length !== b.length) return Infinity;
  return d / m;
}
