/**
 * Gradients that TensorFlow.js registers incompletely, replaced for every backend
 * (`scripts/backend-kernel-coverage.ts` runs every training op forward and backward).
 *
 * tfjs-core 4.x refuses the gradient of a dilated conv2d / depthwiseConv2d ("dilation rates
 * greater than 1 are not yet supported in gradients"), which MMClassification needs for
 * `dilations=(1, 1, 2, 4)` ResNets. A convolution with dilation d equals one with dilation 1
 * and a filter with d-1 zeros between its taps (same padding arithmetic: tfjs pads from the
 * effective filter size), so the backward pass runs the undilated backward kernels on that
 * filter and keeps every d-th tap of the filter gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GradConfig, NamedAttrMap } from '@tensorflow/tfjs-core';
import { dilateFilter, pair, undilateFilter } from './conv-grad-ops';

function run(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: NamedAttrMap): tf.Tensor4D {
  return tf.engine().runKernel(kernelName, inputs as tf.NamedTensorMap, attrs) as tf.Tensor4D;
}

const conv2DGrad: GradConfig = {
  kernelName: 'Conv2D',
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dataFormat, dimRoundingMode } = attrs;
    const [dh, dw] = pair(attrs.dilations as number | [number, number] | undefined);
    const common = { strides, pad, dataFormat, dimRoundingMode } as NamedAttrMap;
    return {
      x: () => run('Conv2DBackpropInput', { dy: dy as tf.Tensor, filter: dilateFilter(filter, dh, dw) },
        { ...common, inputShape: x.shape }),
      filter: () => {
        const fd = dilateFilter(filter, dh, dw);
        const g = run('Conv2DBackpropFilter', { x, dy: dy as tf.Tensor }, { ...common, filterShape: fd.shape });
        return undilateFilter(g, dh, dw);
      },
    };
  },
};

const depthwiseGrad: GradConfig = {
  kernelName: 'DepthwiseConv2dNative',
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dimRoundingMode } = attrs;
    const [dh, dw] = pair(attrs.dilations as number | [number, number] | undefined);
    const common = { strides, pad, dimRoundingMode, dilations: [1, 1] } as NamedAttrMap;
    return {
      x: () => run('DepthwiseConv2dNativeBackpropInput', { dy: dy as tf.Tensor, filter: dilateFilter(filter, dh, dw) },
        { ...common, inputShape: x.shape }),
      filter: () => {
        const fd = dilateFilter(filter, dh, dw);
        const g = run('DepthwiseConv2dNativeBackpropFilter', { x, dy: dy as tf.Tensor }, { ...common, filterShape: fd.shape });
        return undilateFilter(g, dh, dw);
      },
    };
  },
};

/** Sums a gradient over the axes its input was broadcast along, back to the input's shape. */
function reduceTo(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const axes = tf.broadcast_util.getReductionAxes(shape, g.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, shape);
}

/**
 * tfjs-core's BatchMatMul gradient forgets batch broadcasting: for a [2,3,4,5] x [1,3,5,2]
 * product it returns a [2,3,5,2] gradient for b, and the tape rejects it. The built-in
 * gradient is kept and its results are summed over the broadcast batch axes.
 */
function batchMatMulGrad(): GradConfig | undefined {
  const base = tf.getGradient('BatchMatMul');
  if (base === undefined) return undefined;
  return {
    ...base,
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const g = base.gradFunc(dy, saved, attrs);
      return { a: () => reduceTo(g.a(), a.shape), b: () => reduceTo(g.b(), b.shape) };
    },
  };
}

/**
 * tfjs-core has no StridedSlice gradient. The slice picks, per dimension, the indices
 * begin, begin + stride, ... (strides may be negative); dy is scattered back to those
 * positions with unsortedSegmentSum, which every backend has (wasm: see wasm-kernels.ts).
 */
const stridedSliceGrad: GradConfig = {
  kernelName: 'StridedSlice',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return {
      x: () => {
        const a = attrs as unknown as { begin: number[]; end: number[]; strides: number[]; beginMask: number; endMask: number; ellipsisMask: number; newAxisMask: number; shrinkAxisMask: number };
        const info = tf.slice_util.sliceInfo(x.shape, a.begin, a.end, a.strides, a.beginMask, a.endMask, a.ellipsisMask, a.newAxisMask, a.shrinkAxisMask);
        let flat = [0];
        for (let d = 0; d < x.shape.length; d++) {
          const picks: number[] = [];
          const st = info.strides[d] ?? 1;
          for (let i = info.begin[d] ?? 0; st > 0 ? i < (info.end[d] ?? x.shape[d]) : i > (info.end[d] ?? -1); i += st) picks.push(i);
          const next: number[] = [];
          for (const f of flat) for (const p of picks) next.push(f * x.shape[d] + p);
          flat = next;
        }
        const g = dy as tf.Tensor;
        return tf.reshape(tf.unsortedSegmentSum(tf.reshape(g, [g.size]), tf.tensor1d(flat, 'int32'), x.size), x.shape);
      },
    };
  },
};

/**
 * The [outSize, inSize] matrix of tfjs's bilinear resize along one axis (the same arithmetic
 * as the cpu kernel: source = ratio * (i + 0.5) - 0.5 with half-pixel centres, else ratio * i;
 * weight 1 - frac on the floor, frac on the ceiling, both clamped into the image).
 */
export function bilinearMatrix(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const m = new Float32Array(outSize * inSize);
  for (let r = 0; r < outSize; r++) {
    const src = halfPixelCenters ? ratio * (r + 0.5) - 0.5 : ratio * r;
    const lo = Math.max(0, Math.floor(src));
    const frac = src - lo;
    const hi = Math.min(inSize - 1, Math.ceil(src));
    m[r * inSize + lo] += 1 - frac;
    m[r * inSize + hi] += frac;
  }
  return m;
}

/**
 * The ResizeBilinearGrad kernels of tfjs 4.x ignore `halfPixelCenters` (the mode that matches
 * PyTorch's `align_corners=False`), and the cpu one returns a [N, W, H, C] gradient for an
 * [N, H, W, C] image. Bilinear resizing is linear, Y = Ah X Aw^T per image and channel, so
 * dX = Ah^T dY Aw: two matMuls with the resize matrices, exact in every mode.
 */
const resizeBilinearGrad: GradConfig = {
  kernelName: 'ResizeBilinear',
  inputsToSave: ['images'],
  gradFunc: (dy, saved, attrs) => {
    const [images] = saved;
    return {
      images: () => tf.tidy(() => {
        const g = dy as tf.Tensor4D;
        const [n, h, w, c] = images.shape as [number, number, number, number];
        const [, oh, ow] = g.shape;
        const align = Boolean(attrs.alignCorners);
        const half = Boolean(attrs.halfPixelCenters);
        const ahT = tf.transpose(tf.tensor2d(bilinearMatrix(h, oh, align, half), [oh, h]));
        const awT = tf.transpose(tf.tensor2d(bilinearMatrix(w, ow, align, half), [ow, w]));
        const rows = tf.matMul(ahT, tf.reshape(tf.transpose(g, [1, 0, 2, 3]), [oh, n * ow * c])); // [h, n*ow*c]
        const cols = tf.transpose(tf.reshape(rows, [h, n, ow, c]), [2, 1, 0, 3]); // [ow, n, h, c]
        const both = tf.matMul(awT, tf.reshape(cols, [ow, n * h * c])); // [w, n*h*c]
        const dx = tf.transpose(tf.reshape(both, [w, n, h, c]), [1, 2, 0, 3]);
        return dx;
      }),
    };
  },
};

/**
 * tfjs-core has no Einsum gradient. For two operands the gradient of one is an einsum of dy
 * and the other (`ab,bc->ac`: dA = einsum('ac,bc->ab', dY, B)), valid when each index of the
 * operand appears in the output or in the other operand; otherwise it needs broadcasting,
 * which einsum cannot express, and the error says to write the op with matMul instead.
 */
const einsumGrad: GradConfig = {
  kernelName: 'Einsum',
  saveAllInputs: true,
  gradFunc: (dy, saved, attrs) => {
    const eq = String(attrs.equation).replace(/\s+/g, '');
    const [lhs, out] = eq.split('->');
    const terms = lhs.split(',');
    if (terms.length !== 2 || out === undefined) {
      throw new Error(`The gradient of einsum('${eq}') is only defined for two operands with an explicit output; use matMul / sum instead.`);
    }
    const grad = (k: 0 | 1) => () => {
      const other = terms[1 - k];
      for (const ch of terms[k]) {
        if (!out.includes(ch) && !other.includes(ch)) {
          throw new Error(`The gradient of einsum('${eq}') needs broadcasting over '${ch}'; use matMul / sum instead.`);
        }
      }
      return tf.einsum(`${out},${other}->${terms[k]}`, dy as tf.Tensor, saved[1 - k]);
    };
    return { 0: grad(0), 1: grad(1) };
  },
};

/** Comparisons and logical ops have no gradient in tfjs-core, which stops tf.grad through tf.where(x > 0, ...). */
const ZERO_GRAD_KERNELS = ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'LogicalNot', 'All', 'Any'];

function zeroGrad(kernelName: string): GradConfig {
  const names = kernelName === 'LogicalNot' || kernelName === 'All' || kernelName === 'Any' ? ['x'] : ['a', 'b'];
  return {
    kernelName,
    inputsToSave: names,
    gradFunc: (_dy, saved) => {
      const out: Record<string, () => tf.Tensor> = {};
      names.forEach((n, i) => { out[n] = () => tf.zerosLike(saved[i]); });
      return out;
    },
  };
}

let registered = false;

/**
 * Replaces the Conv2D and DepthwiseConv2dNative gradients with ones that accept dilations, and
 * makes the BatchMatMul gradient reduce over broadcast batch axes (idempotent).
 */
export function ensureDilatedConvGradients(): void {
  if (registered) return;
  // registerGradient replaces an existing entry; the umbrella package must have loaded first.
  for (const g of [conv2DGrad, depthwiseGrad]) tf.registerGradient(g);
  tf.registerGradient(resizeBilinearGrad);
  if (tf.getGradient('Einsum') === undefined) tf.registerGradient(einsumGrad);
  if (tf.getGradient('StridedSlice') === undefined) tf.registerGradient(stridedSliceGrad);
  for (const k of ZERO_GRAD_KERNELS) if (tf.getGradient(k) === undefined) tf.registerGradient(zeroGrad(k));
  const bmm = batchMatMulGrad();
  if (bmm !== undefined) tf.registerGradient(bmm);
  registered = true;
}
