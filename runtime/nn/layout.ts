import * as tf from '@tensorflow/tfjs-core';

/**
 * How a tensor stored here (TensorFlow.js layout) maps to PyTorch's layout. Conversion happens once,
 * when a state dict is read or written.
 * - `identity`: same layout (norm weights, biases, tokens, running stats).
 * - `conv2d`: HWIO here ([kh, kw, in/groups, out]) ↔ OIHW in PyTorch ([out, in/groups, kh, kw]).
 * - `depthwise2d`: [kh, kw, in, multiplier] here ↔ [in*multiplier, 1, kh, kw] in PyTorch.
 * - `linear`: [in, out] here ↔ [out, in] in PyTorch.
 */
export type Layout =
  | { kind: 'identity' }
  | { kind: 'conv2d' }
  | { kind: 'depthwise2d'; multiplier: number }
  | { kind: 'linear' };

export const IDENTITY: Layout = { kind: 'identity' };

/** PyTorch's shape of a tensor stored here in `layout` with shape `shape`. */
export function torchShapeOf(shape: readonly number[], layout: Layout): number[] {
  switch (layout.kind) {
    case 'identity':
      return [...shape];
    case 'conv2d': {
      const [kh, kw, ci, co] = shape;
      return [co, ci, kh, kw];
    }
    case 'depthwise2d': {
      const [kh, kw, ci, m] = shape;
      return [ci * m, 1, kh, kw];
    }
    case 'linear':
      return [shape[1], shape[0]];
  }
}

/** Converts a tensor in PyTorch layout (shape `torchShape`) to the layout used here. */
export function fromTorchLayout(t: tf.Tensor, layout: Layout): tf.Tensor {
  switch (layout.kind) {
    case 'identity':
      return t;
    case 'conv2d':
      return tf.transpose(t, [2, 3, 1, 0]);
    case 'depthwise2d': {
      const [o, , kh, kw] = t.shape;
      const m = layout.multiplier;
      return tf.transpose(tf.reshape(t, [o / m, m, kh, kw]), [2, 3, 0, 1]);
    }
    case 'linear':
      return tf.transpose(t, [1, 0]);
  }
}

/** Converts a tensor stored here to PyTorch's layout. */
export function toTorchLayout(t: tf.Tensor, layout: Layout): tf.Tensor {
  switch (layout.kind) {
    case 'identity':
      return t;
    case 'conv2d':
      return tf.transpose(t, [3, 2, 0, 1]);
    case 'depthwise2d': {
      const [kh, kw, ci, m] = t.shape;
      return tf.reshape(tf.transpose(t, [2, 3, 0, 1]), [ci * m, 1, kh, kw]);
    }
    case 'linear':
      return tf.transpose(t, [1, 0]);
  }
}

