import * as tf from '@tensorflow/tfjs-core';
import { initBackend, probeWebGpuAdapter } from '../../runtime/backend';

/**
 * Whether the webgpu tests run, and why not. They run under `npm run test:webgpu`
 * (MMCLS_TEST_WEBGPU=1) when Dawn finds an adapter (a GPU, or Mesa's lavapipe in CI).
 * Under plain `npm test` they are skipped: CI runs them once, through test:webgpu.
 */
export async function webGpuSkipReason(): Promise<string | undefined> {
  if (process.env.MMCLS_TEST_WEBGPU !== '1') return 'webgpu tests run with `npm run test:webgpu` (MMCLS_TEST_WEBGPU=1)';
  const probe = await probeWebGpuAdapter();
  if (!probe.ok) return `webgpu tests skipped: ${probe.reason}`;
  return undefined;
}

/** Mocha `before` hook body: skips the suite (printing why) or starts webgpu once to log the adapter. */
export async function requireWebGpu(ctx: Mocha.Context): Promise<void> {
  const why = await webGpuSkipReason();
  if (why !== undefined) {
    // eslint-disable-next-line no-console
    console.log(`      ${why}`);
    ctx.skip();
  }
  const info = await initBackend('webgpu');
  if (!loggedAdapter) {
    // eslint-disable-next-line no-console
    console.log(`      adapter: ${info.adapter?.summary ?? 'unknown'}`);
    loggedAdapter = true;
  }
}
let loggedAdapter = false;

/** Deterministic pseudo-random numbers in [-1, 1) (the same generator as test/nn). */
export function seq(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Compares two arrays: max |a - b| <= rtol * max|ref| + atol. Returns a message on failure.
 */
export function compare(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, rtol = 1e-4, atol = 1e-6): string | undefined {
  if (got.length !== ref.length) return `${what}: ${got.length} values vs ${ref.length}`;
  let maxRef = 0;
  let maxDiff = 0;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(got[i]) && got[i] !== ref[i]) return `${what}[${i}]: ${got[i]} vs ${ref[i]}`;
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    const d = Math.abs(got[i] - ref[i]);
    if (d > maxDiff) { maxDiff = d; at = i; }
  }
  if (maxDiff > rtol * maxRef + atol) {
    return `${what}: max |webgpu - cpu| = ${maxDiff.toExponential(2)} at [${at}] (${got[at]} vs ${ref[at]}), max |cpu| = ${maxRef.toExponential(2)}, relative ${(maxDiff / Math.max(maxRef, 1e-30)).toExponential(2)} > ${rtol}`;
  }
  return undefined;
}

/** Reads a tensor asynchronously (webgpu's synchronous read is slow and warns). */
export async function values(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data());
}
