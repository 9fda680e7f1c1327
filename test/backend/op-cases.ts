/**
 * The ops that training a CNN / ViT classifier runs, each as a small case: input shapes and a
 * function of float inputs. Used by the wasm-vs-cpu and numerical gradient tests and by
 * `scripts/backend-kernel-coverage.ts` (which kernels do their forward and backward passes run).
 */
import * as tf from '@tensorflow/tfjs-core';

export interface OpCase {
  name: string;
  /** Shapes of the float inputs the gradient is taken with respect to. */
  shapes: number[][];
  fn: (...xs: tf.Tensor[]) => tf.Tensor;
  /** Inputs drawn from [lo, hi) instead of [-1, 1), e.g. positive for log / sqrt. */
  range?: [number, number];
  /** Keep inputs at least this far from these points (kinks of relu, relu6, ...). */
  kinks?: number[];
  /** Ops with ties (max pooling, max) get inputs that are a shuffled spaced grid. */
  distinct?: boolean;
}

const x4 = [2, 6, 7, 3];
const gelu = (x: tf.Tensor) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
const geluTanh = (x: tf.Tensor) =>
  tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3)))))));

export const OP_CASES: OpCase[] = [
  // Convolutions: strides, padding same / valid / explicit, dilation, batch > 1.
  { name: 'conv2d s1 same', shapes: [x4, [3, 3, 3, 4]], fn: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same') },
  { name: 'conv2d s2 same', shapes: [x4, [3, 3, 3, 4]], fn: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same') },
  { name: 'conv2d s2 valid 1x1', shapes: [x4, [1, 1, 3, 5]], fn: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'valid') },
  { name: 'conv2d s[2,3] explicit', shapes: [x4, [3, 2, 3, 2]], fn: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [2, 3], [[0, 0], [1, 2], [0, 1], [0, 0]]) },
  { name: 'conv2d 7x7 s2 pad 3', shapes: [[1, 9, 9, 2], [7, 7, 2, 3]], fn: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, [[0, 0], [3, 3], [3, 3], [0, 0]]) },
  { name: 'conv2d dilation 2 same', shapes: [x4, [3, 3, 3, 2]], fn: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2) },
  { name: 'conv2d dilation [2,3] explicit', shapes: [[1, 9, 10, 2], [3, 2, 2, 2]], fn: (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, [[0, 0], [2, 2], [1, 0], [0, 0]], 'NHWC', [2, 3]) },
  { name: 'depthwise s1 same', shapes: [x4, [3, 3, 3, 1]], fn: (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same') },
  { name: 'depthwise s2 same mult 2', shapes: [x4, [3, 3, 3, 2]], fn: (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same') },
  { name: 'depthwise s2 valid', shapes: [x4, [2, 3, 3, 1]], fn: (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'valid') },
  { name: 'depthwise explicit', shapes: [x4, [3, 3, 3, 1]], fn: (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, [[0, 0], [0, 2], [1, 1], [0, 0]]) },
  { name: 'depthwise dilation 2', shapes: [x4, [3, 3, 3, 1]], fn: (x, w) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2) },
  {
    name: 'grouped conv (2 groups) via split+concat', shapes: [[2, 5, 5, 4], [3, 3, 2, 6]],
    fn: (x, w) => {
      const xs = tf.split(x, 2, 3) as tf.Tensor4D[];
      const ws = tf.split(w, 2, 3) as tf.Tensor4D[];
      return tf.concat([tf.conv2d(xs[0], ws[0], 1, 'same'), tf.conv2d(xs[1], ws[1], 1, 'same')], 3);
    },
  },
  { name: 'fused conv2d bias relu', shapes: [x4, [3, 3, 3, 4], [4]], fn: (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: 1, pad: 'same', activation: 'relu' }) },
  { name: 'conv2dTranspose s2', shapes: [[1, 3, 4, 4], [3, 3, 2, 4]], fn: (y, w) => tf.conv2dTranspose(y as tf.Tensor4D, w as tf.Tensor4D, [1, 6, 8, 2], 2, 'same') },
  // Dense and attention.
  { name: 'matMul', shapes: [[3, 5], [5, 4]], fn: (a, b) => tf.matMul(a, b) },
  { name: 'matMul transposed', shapes: [[5, 3], [4, 5]], fn: (a, b) => tf.matMul(a, b, true, true) },
  { name: 'batchMatMul broadcast', shapes: [[2, 3, 4, 5], [1, 3, 5, 2]], fn: (a, b) => tf.matMul(a, b) },
  { name: 'fused matMul bias', shapes: [[3, 5], [5, 4], [4]], fn: (a, b, c) => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias: c }) },
  {
    name: 'attention softmax(QK^T)V', shapes: [[2, 3, 4, 8], [2, 3, 4, 8], [2, 3, 4, 8]],
    fn: (q, k, v) => tf.matMul(tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(8))), v),
  },
  { name: 'einsum', shapes: [[2, 3, 4], [2, 4, 5]], fn: (a, b) => tf.einsum('bij,bjk->bik', a, b) },
  // Pooling and resizing.
  { name: 'maxPool 3x3 s2 same', shapes: [x4], fn: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'), distinct: true },
  { name: 'maxPool 2x2 s2 valid', shapes: [x4], fn: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'), distinct: true },
  { name: 'avgPool 3x3 s2 same', shapes: [x4], fn: (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same') },
  { name: 'avgPool 2x2 s1 valid', shapes: [x4], fn: (x) => tf.avgPool(x as tf.Tensor4D, 2, 1, 'valid') },
  { name: 'avgPool 3x3 s1 same', shapes: [x4], fn: (x) => tf.avgPool(x as tf.Tensor4D, 3, 1, 'same') },
  { name: 'avgPool 3x3 s2 pad 1 ceil', shapes: [[2, 6, 7, 2]], fn: (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 1, 'ceil') },
  { name: 'maxPool 3x3 s1 same', shapes: [x4], fn: (x) => tf.maxPool(x as tf.Tensor4D, 3, 1, 'same'), distinct: true },
  { name: 'maxPool 3x3 s2 pad 1 ceil', shapes: [[2, 6, 7, 2]], fn: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 1, 'ceil'), distinct: true },
  { name: 'maxPool 3x3 s2 pad 1 (ResNet stem)', shapes: [[2, 8, 7, 2]], fn: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 1), distinct: true },
  { name: 'global avg pool (mean HW)', shapes: [x4], fn: (x) => tf.mean(x, [1, 2]) },
  { name: 'resizeBilinear', shapes: [[2, 3, 4, 2]], fn: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [5, 7]) },
  { name: 'resizeBilinear alignCorners', shapes: [[1, 3, 4, 2]], fn: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [6, 5], true) },
  { name: 'resizeBilinear halfPixel', shapes: [[1, 4, 4, 2]], fn: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [7, 6], false, true) },
  { name: 'resizeNearestNeighbor', shapes: [[2, 3, 4, 2]], fn: (x) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [6, 8]) },
  { name: 'resizeNearestNeighbor alignCorners down', shapes: [[1, 6, 5, 2]], fn: (x) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [4, 3], true) },
  { name: 'resizeNearestNeighbor halfPixel', shapes: [[1, 3, 5, 2]], fn: (x) => tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [7, 4], false, true) },
  { name: 'resizeBilinear halfPixel down', shapes: [[1, 7, 6, 2]], fn: (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [3, 4], false, true) },
  // Activations.
  { name: 'relu', shapes: [[4, 6]], fn: (x) => tf.relu(x), kinks: [0] },
  { name: 'relu6', shapes: [[4, 6]], fn: (x) => tf.relu6(tf.mul(x, 8)), kinks: [0, 0.75] },
  { name: 'leakyRelu', shapes: [[4, 6]], fn: (x) => tf.leakyRelu(x, 0.1), kinks: [0] },
  { name: 'elu', shapes: [[4, 6]], fn: (x) => tf.elu(x), kinks: [0] },
  { name: 'gelu (erf)', shapes: [[4, 6]], fn: gelu },
  { name: 'gelu (tanh)', shapes: [[4, 6]], fn: geluTanh },
  { name: 'sigmoid', shapes: [[4, 6]], fn: (x) => tf.sigmoid(x) },
  { name: 'tanh', shapes: [[4, 6]], fn: (x) => tf.tanh(x) },
  { name: 'softplus', shapes: [[4, 6]], fn: (x) => tf.softplus(x) },
  { name: 'hardswish', shapes: [[4, 6]], fn: (x) => tf.div(tf.mul(x, tf.relu6(tf.add(tf.mul(x, 4), 3))), 6), kinks: [-0.75, 0.75] },
  { name: 'softmax', shapes: [[3, 7]], fn: (x) => tf.softmax(x) },
  { name: 'logSoftmax', shapes: [[3, 7]], fn: (x) => tf.logSoftmax(x) },
  // Normalisation.
  { name: 'batchNorm 4D', shapes: [x4, [3], [3], [3], [3]], fn: (x, m, v, o, s) => tf.batchNorm(x, m, tf.add(tf.abs(v), 0.5), o, s, 1e-5) },
  { name: 'batchNorm 2D', shapes: [[5, 3], [3], [3], [3], [3]], fn: (x, m, v, o, s) => tf.batchNorm(x, m, tf.add(tf.abs(v), 0.5), o, s, 1e-5) },
  {
    name: 'batch statistics (moments) BN', shapes: [x4, [3], [3]],
    fn: (x, g, b) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), g), b);
    },
  },
  {
    name: 'layerNorm', shapes: [[2, 4, 6], [6], [6]],
    fn: (x, g, b) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-6))), g), b);
    },
  },
  {
    name: 'groupNorm', shapes: [[2, 3, 3, 4], [4], [4]],
    fn: (x, g, b) => {
      const r = tf.reshape(x, [2, 3, 3, 2, 2]);
      const { mean, variance } = tf.moments(r, [1, 2, 4], true);
      const n = tf.reshape(tf.div(tf.sub(r, mean), tf.sqrt(tf.add(variance, 1e-5))), [2, 3, 3, 4]);
      return tf.add(tf.mul(n, g), b);
    },
  },
  // Reductions and elementwise.
  { name: 'sum axis', shapes: [[3, 4, 5]], fn: (x) => tf.sum(x, 1) },
  { name: 'mean keepDims', shapes: [[3, 4, 5]], fn: (x) => tf.mean(x, [0, 2], true) },
  { name: 'max axis', shapes: [[3, 4, 5]], fn: (x) => tf.max(x, 2), distinct: true },
  { name: 'min axis', shapes: [[3, 4, 5]], fn: (x) => tf.min(x, 0), distinct: true },
  { name: 'logSumExp', shapes: [[3, 5]], fn: (x) => tf.logSumExp(x, 1) },
  { name: 'add/sub/mul/div broadcast', shapes: [[2, 3, 4], [4], [3, 1]], fn: (a, b, c) => tf.div(tf.mul(tf.sub(tf.add(a, b), c), a), tf.add(tf.square(c), 1)) },
  { name: 'exp/log/sqrt/rsqrt/pow', shapes: [[3, 4]], fn: (x) => tf.add(tf.add(tf.exp(x), tf.log(x)), tf.add(tf.sqrt(x), tf.add(tf.rsqrt(x), tf.pow(x, 1.5)))), range: [0.5, 2] },
  { name: 'abs/neg/square/squaredDifference', shapes: [[3, 4], [3, 4]], fn: (a, b) => tf.add(tf.abs(a), tf.add(tf.neg(tf.square(a)), tf.squaredDifference(a, b))), kinks: [0] },
  { name: 'maximum/minimum/clipByValue', shapes: [[3, 4], [3, 4]], fn: (a, b) => tf.add(tf.maximum(a, b), tf.add(tf.minimum(a, tf.mul(b, 0.5)), tf.clipByValue(a, -0.5, 0.5))), distinct: true, kinks: [-0.5, 0.5] },
  { name: 'where (select)', shapes: [[3, 4], [3, 4]], fn: (a, b) => tf.where(tf.greater(a, 0), a, tf.mul(b, 2)), kinks: [0] },
  { name: 'cumsum', shapes: [[3, 5]], fn: (x) => tf.cumsum(x, 1) },
  // Shape ops.
  { name: 'reshape/transpose', shapes: [[2, 3, 4]], fn: (x) => tf.transpose(tf.reshape(x, [4, 6]), [1, 0]) },
  { name: 'slice/stridedSlice', shapes: [[4, 6, 3]], fn: (x) => tf.add(tf.slice(x, [1, 0, 1], [2, 3, 2]), tf.stridedSlice(x, [0, 0, 0], [4, 6, 2], [2, 2, 1])) },
  { name: 'concat/stack/unstack/split', shapes: [[2, 3], [2, 3]], fn: (a, b) => tf.add(tf.concat([a, b], 1), tf.concat(tf.unstack(tf.stack([b, a], 0)).concat(tf.split(a, [1, 2], 1).reverse()).slice(0, 2), 1)) },
  { name: 'pad/mirrorPad', shapes: [[2, 3, 3, 2]], fn: (x) => tf.add(tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]), tf.mirrorPad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], 'reflect')) },
  { name: 'mirrorPad symmetric', shapes: [[2, 4, 3, 2]], fn: (x) => tf.mirrorPad(x as tf.Tensor4D, [[0, 0], [3, 0], [1, 3], [0, 0]], 'symmetric') },
  { name: 'tile/expandDims/squeeze', shapes: [[2, 3]], fn: (x) => tf.tile(tf.expandDims(tf.squeeze(tf.expandDims(x, 0)), 1), [1, 2, 2]) },
  { name: 'gather axis 0 (embedding)', shapes: [[5, 3]], fn: (x) => tf.gather(x, tf.tensor1d([4, 0, 4, 2], 'int32'), 0) },
  { name: 'gather axis 1', shapes: [[2, 5, 3]], fn: (x) => tf.gather(x, tf.tensor1d([1, 1, 3], 'int32'), 1) },
  { name: 'reverse', shapes: [[2, 3, 4]], fn: (x) => tf.reverse(x, [1, 2]) },
  // Losses.
  {
    name: 'softmax cross entropy (one-hot)', shapes: [[4, 5]],
    fn: (x) => tf.neg(tf.mean(tf.sum(tf.mul(tf.oneHot(tf.tensor1d([0, 3, 4, 1], 'int32'), 5), tf.logSoftmax(x)), 1))),
  },
  {
    name: 'sigmoid BCE', shapes: [[4, 5]],
    fn: (x) => tf.losses.sigmoidCrossEntropy(tf.tensor2d([[1, 0, 0, 1, 0], [0, 0, 1, 0, 1], [1, 1, 0, 0, 0], [0, 1, 0, 1, 1]]), x),
  },
];
