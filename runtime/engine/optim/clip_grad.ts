import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { GradMap } from './types';

/**
 * `torch.nn.utils.clip_grad_norm_` on a gradient map: the total norm of all gradients together
 * (`norm_type` p, or `Infinity`/`'inf'` for the largest absolute value); when it exceeds
 * `maxNorm`, every gradient is multiplied by `maxNorm / (total + 1e-6)`. The gradients in `grads`
 * are replaced (old tensors disposed). Returns the total norm before clipping as a scalar tensor
 * (the caller disposes it): nothing is read back from the device, so the step never waits for
 * the GPU and runs on backends without synchronous reads (webgpu in Node.js).
 */
export function clipGradNormTensor(grads: GradMap, maxNorm: number, normType: number | string = 2): tf.Scalar {
  const p = parseNormType(normType);
  const entries = [...grads.entries()];
  if (entries.length === 0) return tf.scalar(0);
  const total = tf.tidy(() => {
    if (p === Infinity) {
      return tf.max(tf.stack(entries.map(([, g]) => tf.max(tf.abs(g))))) as tf.Scalar;
    }
    const sums = entries.map(([, g]) => tf.sum(tf.pow(tf.abs(g), p)));
    return tf.pow(tf.addN(sums), 1 / p) as tf.Scalar;
  });
  // min(maxNorm / (total + 1e-6), 1): multiplying by exactly 1 leaves a gradient unchanged, as
  // torch's `if clip_coef < 1` does.
  const coef = tf.tidy(() => tf.minimum(tf.div(maxNorm, tf.add(total, 1e-6)), 1));
  for (const [v, g] of entries) {
    grads.set(v, tf.mul(g, coef));
    g.dispose();
  }
  coef.dispose();
  return total;
}

/** `torch.nn.utils.clip_grad_value_`: clamps every gradient element to `[-clipValue, clipValue]`. */
export function clipGradValue(grads: GradMap, clipValue: number): void {
  for (const [v, g] of [...grads.entries()]) {
    grads.set(v, tf.tidy(() => tf.clipByValue(g, -clipValue, clipValue)));
    g.dispose();
  }
}

export function parseNormType(normType: number | string): number {
  if (normType === 'inf' || normType === Infinity) return Infinity;
  const n = typeof normType === 'string' ? Number(normType) : normType;
  if (!Number.isFinite(n) || n <= 0) {
    throw new MmclsError(`clip_grad.norm_type must be a positive number or 'inf', got ${JSON.stringify(normType)}`, {
      code: 'optim.invalid-arg',
    });
  }
  return n;
}
