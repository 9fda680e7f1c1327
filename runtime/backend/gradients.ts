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
import { dilateFilter, explicitPoolPadding, pair, undilateFilter } from './conv-grad-ops';

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

/** The [outSize, inSize] 0/1 matrix of tfjs's nearest-neighbour resize along one axis (the cpu kernel's arithmetic). */
export function nearestMatrix(inSize: number, outSize: number, alignCorners: boolean, halfPixelCenters: boolean): Float32Array {
  const effIn = alignCorners && outSize > 1 ? inSize - 1 : inSize;
  const effOut = alignCorners && outSize > 1 ? outSize - 1 : outSize;
  const ratio = effIn / effOut;
  const m = new Float32Array(outSize * inSize);
  for (let r = 0; r < outSize; r++) {
    const src = halfPixelCenters ? ratio * (r + 0.5) : ratio * r;
    let i = Math.min(inSize - 1, alignCorners ? Math.round(src) : Math.floor(src));
    if (halfPixelCenters) i = Math.max(0, i);
    m[r * inSize + i] = 1;
  }
  return m;
}

/**
 * dX = Ah^T dY Aw for a resize Y = Ah X Aw^T (per image and channel): two matMuls.
 * Used for both resize modes because tfjs 4.x's gradient kernels are wrong: ResizeBilinearGrad
 * ignores `halfPixelCenters` (PyTorch's `align_corners=False`) on every backend, and the cpu
 * ResizeBilinearGrad / ResizeNearestNeighborGrad mix up height and width for non-square images.
 */
function resizeGrad(kernelName: string, matrix: typeof bilinearMatrix): GradConfig {
  return {
    kernelName,
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
          const ahT = tf.transpose(tf.tensor2d(matrix(h, oh, align, half), [oh, h]));
          const awT = tf.transpose(tf.tensor2d(matrix(w, ow, align, half), [ow, w]));
          const rows = tf.matMul(ahT, tf.reshape(tf.transpose(g, [1, 0, 2, 3]), [oh, n * ow * c])); // [h, n*ow*c]
          const cols = tf.transpose(tf.reshape(rows, [h, n, ow, c]), [2, 1, 0, 3]); // [ow, n, h, c]
          const both = tf.matMul(awT, tf.reshape(cols, [ow, n * h * c])); // [w, n*h*c]
          return tf.transpose(tf.reshape(both, [w, n, h, c]), [1, 2, 0, 3]);
        }),
      };
    },
  };
}

/**
 * tfjs's avgPool divides each window by the number of its elements inside the image (TF's
 * SAME semantics), but AvgPoolGrad divides by the full window size on every backend, so the
 * gradient of a padded average pool is wrong at the borders. dy is rescaled by
 * windowSize / validCount before the built-in kernel spreads it.
 */
const avgPoolGrad: GradConfig = {
  kernelName: 'AvgPool',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return {
      x: () => tf.tidy(() => {
        const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as {
          filterSize: [number, number] | number; strides: [number, number] | number; pad: 'valid' | 'same' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil';
        };
        const x4 = x as tf.Tensor4D;
        const info = tf.backend_util.computePool2DInfo(x4.shape, filterSize, strides, 1, pad, dimRoundingMode);
        const valid = (o: number, stride: number, before: number, k: number, size: number) =>
          Math.min(size, o * stride - before + k) - Math.max(0, o * stride - before);
        const k = info.filterHeight * info.filterWidth;
        const scale = new Float32Array(info.outHeight * info.outWidth);
        let partial = false;
        for (let oy = 0; oy < info.outHeight; oy++) {
          const ch = valid(oy, info.strideHeight, info.padInfo.top, info.filterHeight, info.inHeight);
          for (let ox = 0; ox < info.outWidth; ox++) {
            const cw = valid(ox, info.strideWidth, info.padInfo.left, info.filterWidth, info.inWidth);
            scale[oy * info.outWidth + ox] = k / Math.max(1, ch * cw);
            if (ch * cw !== k) partial = true;
          }
        }
        const g = dy as tf.Tensor4D;
        const scaled = partial ? tf.mul(g, tf.tensor4d(scale, [1, info.outHeight, info.outWidth, 1])) : g;
        // AvgPoolGrad kernels ignore dimRoundingMode: give them the equivalent explicit padding.
        const kernelPad = dimRoundingMode != null && typeof pad === 'number' ? explicitPoolPadding(x4.shape, filterSize, strides, pad, dimRoundingMode) : pad;
        return tf.engine().runKernel('AvgPoolGrad', { dy: scaled, input: x4 }, { filterSize, strides, pad: kernelPad } as unknown as NamedAttrMap) as tf.Tensor;
      }),
    };
  },
};

/** tfjs-core's MaxPool gradient drops `dimRoundingMode`, so dy and the window grid disagree with 'ceil'. */
const maxPoolGrad: GradConfig = {
  kernelName: 'MaxPool',
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [x, y] = saved;
    const { filterSize, strides, pad, dimRoundingMode } = attrs;
    return {
      x: () => tf.engine().runKernel('MaxPoolGrad', { dy: dy as tf.Tensor, input: x, output: y },
        { filterSize, strides, pad, dimRoundingMode } as NamedAttrMap) as tf.Tensor,
    };
  },
};

function sliceAxis(t: tf.Tensor, axis: number, start: number, len: number): tf.Tensor {
  const begin = t.shape.map((_, i) => (i === axis ? start : 0));
  const size = t.shape.map((d, i) => (i === axis ? len : d));
  return tf.slice(t, begin, size);
}

function padAxis(t: tf.Tensor, axis: number, before: number, after: number): tf.Tensor {
  return tf.pad(t, t.shape.map((_, i) => (i === axis ? [before, after] : [0, 0])) as Array<[number, number]>);
}

/**
 * tfjs-core's MirrorPad gradient only slices out the centre of dy and drops the gradient of the
 * mirrored border copies. Each padded axis folds its reversed borders back onto the rows they
 * copy (offset 1 for 'reflect', 0 for 'symmetric').
 */
const mirrorPadGrad: GradConfig = {
  kernelName: 'MirrorPad',
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const [x] = saved;
    return {
      x: () => tf.tidy(() => {
        const paddings = attrs.paddings as Array<[number, number]>;
        const off = attrs.mode === 'reflect' ? 1 : 0;
        let g = dy as tf.Tensor;
        paddings.forEach(([b, a], axis) => {
          if (b === 0 && a === 0) return;
          const n = x.shape[axis];
          let acc = sliceAxis(g, axis, b, n);
          if (b > 0) acc = tf.add(acc, padAxis(tf.reverse(sliceAxis(g, axis, 0, b), axis), axis, off, n - off - b));
          if (a > 0) acc = tf.add(acc, padAxis(tf.reverse(sliceAxis(g, axis, b + n, a), axis), axis, n - off - a, off));
          g = acc;
        });
        return g;
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
  tf.registerGradient(resizeGrad('ResizeBilinear', bilinearMatrix));
  tf.registerGradient(resizeGrad('ResizeNearestNeighbor', nearestMatrix));
  tf.registerGradient(avgPoolGrad);
  tf.registerGradient(maxPoolGrad);
  tf.registerGradient(mirrorPadGrad);
  if (tf.getGradient('Einsum') === undefined) tf.registerGradient(einsumGrad);
  if (tf.getGradient('StridedSlice') === undefined) tf.registerGradient(stridedSliceGrad);
  for (const k of ZERO_GRAD_KERNELS) if (tf.getGradient(k) === undefined) tf.registerGradient(zeroGrad(k));
  const bmm = batchMatMulGrad();
  if (bmm !== undefined) tf.registerGradient(bmm);
  registered = true;
}
