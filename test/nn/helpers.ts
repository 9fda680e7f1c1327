import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend';

/** The backend the model tests run on (wasm: the embedded default, and the fastest here). */
export async function useTestBackend(): Promise<void> {
  await initBackend(process.env.MMCLS_TEST_DEVICE ?? 'wasm');
}

/** Deterministic pseudo-random numbers in [-1, 1) (no global RNG state). */
export function seq(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Index into a row-major array of shape `shape`. */
export function at(shape: number[], idx: number[]): number {
  let k = 0;
  for (let i = 0; i < shape.length; i++) k = k * shape[i] + idx[i];
  return k;
}

/** NCHW data (row-major) to an NHWC tensor. */
export function nchwToNhwc(data: Float32Array, shape: [number, number, number, number]): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(data, shape), [0, 2, 3, 1]) as tf.Tensor4D);
}

/** An NHWC tensor to NCHW row-major data. */
export function nhwcToNchw(t: tf.Tensor): Float32Array {
  return tf.tidy(() => tf.transpose(t, [0, 3, 1, 2])).dataSync() as Float32Array;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
