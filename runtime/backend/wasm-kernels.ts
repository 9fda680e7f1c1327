/**
 * Kernels that training needs and `@tensorflow/tfjs-backend-wasm` 4.x lacks (or has only in a slow
 * scalar form), registered for the 'wasm' backend by `ensureWasmGradKernels()`.
 *
 * | kernel                              | how                                                       |
 * |-------------------------------------|-----------------------------------------------------------|
 * | Conv2DBackpropFilter                | one conv2d of x^T with dy^T as filter, dilation = stride    |
 * | Conv2DBackpropInput (replaces wasm) | small: matMul; stride 1: one conv2d; else one per phase     |
 * | DepthwiseConv2dNativeBackpropFilter | one depthwiseConv2d the same way                            |
 * | DepthwiseConv2dNativeBackpropInput  | one stride-1 depthwiseConv2d per stride phase              |
 * | UnsortedSegmentSum                  | a loop over the wasm heap (linear, no matMul)              |
 * | MaxPoolGrad (replaces wasm)         | a loop over the wasm heap (the built-in one is wrong)      |
 * | Einsum                              | fallback: copies to the cpu backend and runs its kernel    |
 * | MaxPool, AvgPool (wrap the built-in)| with dimRoundingMode: the built-in on explicit padding     |
 *
 * The built-in wasm Conv2DBackpropInput is a scalar loop, about 7x slower than the forward
 * conv2d on the same shapes; the replacement is about as fast as the forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelBackend, KernelConfig, NamedAttrMap, TensorInfo, backend_util } from '@tensorflow/tfjs-core';
import {
  conv2dBackpropFilterNHWC, conv2dBackpropInputNHWC, depthwiseBackpropFilterNHWC, depthwiseBackpropInputNHWC, explicitPoolPadding,
} from './conv-grad-ops';

type Shape4 = [number, number, number, number];
type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;

/** What the wasm backend object offers beyond KernelBackend (from tfjs-backend-wasm's BackendWasm). */
interface WasmBackendLike extends KernelBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * Runs `body` on tensors that wrap the kernel's inputs, with ops of the current backend. The
 * returned Tensor becomes the kernel's output (the engine accepts a Tensor from a kernel).
 * Each wrapped input holds its own reference on the backend data, released when the tidy ends.
 */
function opKernel(kernelName: string, body: (inputs: Record<string, tf.Tensor>, attrs: NamedAttrMap) => tf.Tensor): KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as KernelBackend;
      const out = tf.tidy(() => {
        const wrapped: Record<string, tf.Tensor> = {};
        for (const [name, info] of Object.entries(inputs)) {
          if (info == null) continue;
          be.incRef(info.dataId);
          wrapped[name] = tf.engine().makeTensorFromTensorInfo(info, be);
        }
        return body(wrapped, attrs ?? {});
      });
      return out as unknown as TensorInfo;
    },
  };
}

function toNHWC<T extends tf.Tensor>(t: T, dataFormat: unknown): T {
  return dataFormat === 'NCHW' ? tf.transpose(t, [0, 2, 3, 1]) as unknown as T : t;
}
function fromNHWC<T extends tf.Tensor>(t: T, dataFormat: unknown): T {
  return dataFormat === 'NCHW' ? tf.transpose(t, [0, 3, 1, 2]) as unknown as T : t;
}
function nhwcShape(shape: Shape4, dataFormat: unknown): Shape4 {
  return dataFormat === 'NCHW' ? [shape[0], shape[2], shape[3], shape[1]] : shape;
}

const conv2DBackpropFilter = opKernel('Conv2DBackpropFilter', (inp, attrs) => {
  const x = toNHWC(inp.x as tf.Tensor4D, attrs.dataFormat);
  const dy = toNHWC(inp.dy as tf.Tensor4D, attrs.dataFormat);
  return conv2dBackpropFilterNHWC(x, dy, attrs.filterShape as unknown as Shape4, attrs.strides as [number, number],
    attrs.pad as Pad, attrs.dimRoundingMode as Rounding);
});

/**
 * The filter [KH, KW, CI, CO] turned by 180 degrees and with its channels swapped ([KH, KW, CO, CI]),
 * in one JavaScript pass. (The wasm Reverse, Transpose and StridedSlice kernels take hundreds of
 * milliseconds on a 3x3x512x512 filter, far more than the convolution that follows.)
 */
function flipSwapFilter(filter: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, ci, co] = filter.shape;
  const src = filter.dataSync() as Float32Array;
  const dst = new Float32Array(src.length);
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const so = ((kh - 1 - a) * kw + (kw - 1 - b)) * ci * co;
      const d0 = (a * kw + b) * co * ci;
      for (let i = 0; i < ci; i++) {
        const si = so + i * co;
        for (let o = 0; o < co; o++) dst[d0 + o * ci + i] = src[si + o];
      }
    }
  }
  return tf.tensor4d(dst, [kh, kw, co, ci]);
}

/** Pads (positive) or crops (negative) one spatial axis (1: height, 2: width) of an NHWC tensor. */
function padOrCrop(t: tf.Tensor4D, axis: 1 | 2, before: number, after: number): tf.Tensor4D {
  if (before < 0 || after < 0) {
    const begin = [0, 0, 0, 0];
    const size = [...t.shape] as number[];
    begin[axis] = Math.max(0, -before);
    size[axis] = t.shape[axis] - Math.max(0, -before) - Math.max(0, -after);
    t = tf.slice(t, begin, size);
  }
  if (before > 0 || after > 0) {
    const p: [number, number][] = [[0, 0], [0, 0], [0, 0], [0, 0]];
    p[axis] = [Math.max(0, before), Math.max(0, after)];
    t = tf.pad(t, p);
  }
  return t;
}

/**
 * dL/dx of conv2d(x, W) (NHWC, dilation 1). Few output positions: a matrix product. Stride 1: dy,
 * padded, correlated with the flipped, channel-swapped filter in one XNNPACK convolution (the filter
 * rearranged once in JavaScript). Otherwise one convolution per stride phase.
 */
function conv2dBackpropInputWasm(inputShape: Shape4, dy: tf.Tensor4D, filter: tf.Tensor4D, strides: [number, number] | number,
  pad: Pad, rounding: Rounding): tf.Tensor4D {
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape as Shape4, strides, 1, pad as 'valid' | 'same' | number | backend_util.ExplicitPadding, rounding);
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inHeight: ih, inWidth: iw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const n = dy.shape[0];
  if (n * oh * ow <= MATMUL_MAX_POSITIONS) return backpropInputByMatMul(info, dy, filter);
  // Strided and large: one convolution per stride phase does 1/(sh*sw) of the work of a zero-spread dy.
  if (sh > 1 || sw > 1) return conv2dBackpropInputNHWC(inputShape, dy, filter, strides, pad, rounding);
  let d = dy;
  // dx[i] = sum_k d[i + top - k] W[k] = correlation of d, padded by KH-1-top before, with flip(W).
  const uh = (oh - 1) * sh + 1;
  const uw = (ow - 1) * sw + 1;
  d = padOrCrop(d, 1, kh - 1 - top, ih + kh - 1 - uh - (kh - 1 - top));
  d = padOrCrop(d, 2, kw - 1 - left, iw + kw - 1 - uw - (kw - 1 - left));
  return tf.conv2d(d, flipSwapFilter(filter), 1, 'valid');
}

/**
 * Up to this many output positions (N x OH x OW), dx is computed as a matrix product instead: the
 * convolution would spend far longer packing a new filter (XNNPACK packs each filter it has not
 * seen) than computing, which is what deep layers of small inputs and batches do.
 */
const MATMUL_MAX_POSITIONS = 32;

/** dx by `dy [P, CO] x W^T [CO, KH*KW*CI]` (no filter copy), then each of the KH*KW columns added at its offset. */
function backpropInputByMatMul(info: backend_util.Conv2DInfo, dy: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor4D {
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inHeight: ih, inWidth: iw, filterHeight: kh, filterWidth: kw } = info;
  const { top, left } = info.padInfo;
  const [n, , , co] = dy.shape;
  const ci = filter.shape[2];
  const cols = tf.reshape(tf.matMul(tf.reshape(dy, [n * oh * ow, co]), tf.reshape(filter, [kh * kw * ci, co]), false, true), [n, oh, ow, kh * kw * ci]);
  const hp = Math.max((oh - 1) * sh + kh, top + ih);
  const wp = Math.max((ow - 1) * sw + kw, left + iw);
  let acc: tf.Tensor4D | null = null;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      let part = tf.slice(cols, [0, 0, 0, (a * kw + b) * ci], [n, oh, ow, ci]) as tf.Tensor4D;
      if (sh > 1 || sw > 1) {
        part = tf.reshape(tf.pad(tf.reshape(part, [n, oh, 1, ow, 1, ci]), [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]), [n, oh * sh, ow * sw, ci]);
        part = tf.slice(part, [0, 0, 0, 0], [n, (oh - 1) * sh + 1, (ow - 1) * sw + 1, ci]);
      }
      const [, ph, pw] = part.shape;
      part = tf.pad(part, [[0, 0], [a, hp - a - ph], [b, wp - b - pw], [0, 0]]);
      acc = acc ? (tf.add(acc, part) as tf.Tensor4D) : part;
    }
  }
  return tf.slice(acc!, [0, top, left, 0], [n, ih, iw, ci]);
}

const conv2DBackpropInput = opKernel('Conv2DBackpropInput', (inp, attrs) => {
  const dy = toNHWC(inp.dy as tf.Tensor4D, attrs.dataFormat);
  const shape = nhwcShape(attrs.inputShape as unknown as Shape4, attrs.dataFormat);
  const dx = conv2dBackpropInputWasm(shape, dy, inp.filter as tf.Tensor4D, attrs.strides as [number, number],
    attrs.pad as Pad, attrs.dimRoundingMode as Rounding);
  return fromNHWC(dx, attrs.dataFormat);
});

const depthwiseBackpropFilter = opKernel('DepthwiseConv2dNativeBackpropFilter', (inp, attrs) =>
  depthwiseBackpropFilterNHWC(inp.x as tf.Tensor4D, inp.dy as tf.Tensor4D, attrs.filterShape as unknown as Shape4,
    attrs.strides as [number, number], (attrs.dilations ?? 1) as [number, number], attrs.pad as Pad, attrs.dimRoundingMode as Rounding));

const depthwiseBackpropInput = opKernel('DepthwiseConv2dNativeBackpropInput', (inp, attrs) =>
  depthwiseBackpropInputNHWC(attrs.inputShape as unknown as Shape4, inp.dy as tf.Tensor4D, inp.filter as tf.Tensor4D,
    attrs.strides as [number, number], (attrs.dilations ?? 1) as [number, number], attrs.pad as Pad, attrs.dimRoundingMode as Rounding));

/** TensorFlow semantics: ids outside [0, numSegments) are dropped. Float32 and int32. */
const unsortedSegmentSum: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const be = backend as WasmBackendLike;
    const x = inputs.x as TensorInfo;
    const ids = inputs.segmentIds as TensorInfo;
    const numSegments = (attrs as NamedAttrMap).numSegments as number;
    const idShape = ids.shape;
    const inner = x.shape.slice(idShape.length).reduce((a, b) => a * b, 1);
    const outShape = [numSegments, ...x.shape.slice(idShape.length)];
    const dtype = x.dtype === 'int32' ? 'int32' : 'float32';
    const out = be.makeOutput(outShape, dtype);
    const xv = be.readSync(x.dataId) as Float32Array | Int32Array;
    const iv = be.readSync(ids.dataId) as Int32Array | Float32Array;
    const ov = be.typedArrayFromHeap(out);
    ov.fill(0);
    for (let i = 0; i < iv.length; i++) {
      const s = iv[i];
      if (s < 0 || s >= numSegments) continue;
      const src = i * inner;
      const dst = s * inner;
      for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
    }
    return out;
  },
};

/**
 * The built-in wasm MaxPoolGrad sends gradients to the wrong pixels (compare with the cpu
 * backend or numerical gradients: test/backend/op-grads.test.ts). This one follows the cpu
 * kernel: each output's gradient goes to the first maximum of its window, read on the heap.
 */
const maxPoolGrad: KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const be = backend as WasmBackendLike;
    const dy = inputs.dy as TensorInfo;
    const x = inputs.input as TensorInfo;
    const a = attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: Pad; dimRoundingMode?: Rounding };
    const info = backend_util.computePool2DInfo(x.shape as Shape4, a.filterSize, a.strides, 1, a.pad as 'valid' | 'same' | number, a.dimRoundingMode);
    const dx = be.makeOutput(x.shape, 'float32');
    const xv = be.readSync(x.dataId) as Float32Array;
    const dyv = be.readSync(dy.dataId) as Float32Array;
    const out = be.typedArrayFromHeap(dx) as Float32Array;
    out.fill(0);
    const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    let o = 0;
    for (let b = 0; b < batchSize; b++) {
      const xb = b * inHeight * inWidth * c;
      for (let oy = 0; oy < outHeight; oy++) {
        const y0 = Math.max(0, oy * strideHeight - top);
        const y1 = Math.min(inHeight, oy * strideHeight - top + filterHeight);
        for (let ox = 0; ox < outWidth; ox++) {
          const x0 = Math.max(0, ox * strideWidth - left);
          const x1 = Math.min(inWidth, ox * strideWidth - left + filterWidth);
          for (let ch = 0; ch < c; ch++, o++) {
            let best = -Infinity;
            let at = -1;
            for (let yy = y0; yy < y1; yy++) {
              for (let xx = x0; xx < x1; xx++) {
                const idx = xb + (yy * inWidth + xx) * c + ch;
                const v = xv[idx];
                if (v > best || at < 0) { best = v; at = idx; }
              }
            }
            if (at >= 0) out[at] += dyv[o];
          }
        }
      }
    }
    return dx;
  },
};

/**
 * The built-in wasm MaxPool / AvgPool size their output with the rounding mode but let XNNPACK
 * fill only the floor-rounded part: with `dimRoundingMode: 'ceil'` the extra row and column hold
 * whatever the memory held before. With a rounding mode the pooling runs on the equivalent
 * explicit padding instead (windows are clipped to the image, as on cpu).
 */
function poolWithExplicitPadding(kernelName: 'MaxPool' | 'AvgPool'): KernelConfig | undefined {
  const builtin = tf.getKernel(kernelName, 'wasm');
  if (builtin === undefined) return undefined;
  return {
    ...builtin,
    kernelFunc: (args) => {
      const a = args.attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: Pad; dimRoundingMode?: Rounding };
      if (a.dimRoundingMode == null || typeof a.pad === 'string') return builtin.kernelFunc(args);
      const x = args.inputs.x as TensorInfo;
      const pad = explicitPoolPadding(x.shape as Shape4, a.filterSize, a.strides, a.pad, a.dimRoundingMode);
      return builtin.kernelFunc({ ...args, attrs: { ...args.attrs, pad, dimRoundingMode: undefined } as unknown as NamedAttrMap });
    },
  };
}

/**
 * Runs the cpu backend's kernel on copies of the inputs and copies the outputs back: correct,
 * not fast. Only for kernels that training rarely runs.
 */
function viaCpu(kernelName: string): KernelConfig | undefined {
  const cpuKernel = tf.getKernel(kernelName, 'cpu');
  if (cpuKernel === undefined) return undefined;
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const be = backend as WasmBackendLike;
      const cpu = tf.findBackend('cpu');
      if (cpu === null) throw new Error(`${kernelName} on wasm needs the cpu backend, which is not registered`);
      // Einsum takes its operands as an array: keep the container's kind.
      const cpuInputs: Record<string, TensorInfo> = Array.isArray(inputs) ? [] as unknown as Record<string, TensorInfo> : {};
      const created: TensorInfo[] = [];
      for (const [name, info] of Object.entries(inputs)) {
        if (info == null) continue;
        const values = be.readSync(info.dataId) as backend_util.BackendValues;
        const dataId = cpu.write(values, info.shape, info.dtype);
        cpuInputs[name] = { dataId, shape: info.shape, dtype: info.dtype };
        created.push(cpuInputs[name]);
      }
      const result = cpuKernel.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs });
      const outs = Array.isArray(result) ? result : [result];
      const copied = outs.map((o) => {
        const values = cpu.readSync(o.dataId) as Float32Array | Int32Array | Uint8Array;
        const w = be.makeOutput(o.shape, o.dtype);
        be.typedArrayFromHeap(w).set(values);
        return w;
      });
      for (const t of [...created, ...outs]) cpu.disposeData(t.dataId, true);
      return Array.isArray(result) ? copied : copied[0];
    },
  };
}

/** The kernels this module registers for 'wasm', with how each is implemented. */
export const WASM_EXTRA_KERNELS: ReadonlyArray<{ kernelName: string; implementation: 'ops' | 'heap-loop' | 'cpu-fallback'; replacesBuiltin: boolean }> = [
  { kernelName: 'Conv2DBackpropFilter', implementation: 'ops', replacesBuiltin: false },
  { kernelName: 'Conv2DBackpropInput', implementation: 'ops', replacesBuiltin: true },
  { kernelName: 'DepthwiseConv2dNativeBackpropFilter', implementation: 'ops', replacesBuiltin: false },
  { kernelName: 'DepthwiseConv2dNativeBackpropInput', implementation: 'ops', replacesBuiltin: false },
  { kernelName: 'UnsortedSegmentSum', implementation: 'heap-loop', replacesBuiltin: false },
  { kernelName: 'MaxPoolGrad', implementation: 'heap-loop', replacesBuiltin: true },
  { kernelName: 'Einsum', implementation: 'cpu-fallback', replacesBuiltin: false },
  { kernelName: 'MaxPool', implementation: 'ops', replacesBuiltin: true },
  { kernelName: 'AvgPool', implementation: 'ops', replacesBuiltin: true },
];

let registered = false;
const replacedBuiltins = new Map<string, KernelConfig>();

/** The built-in wasm kernel that `ensureWasmGradKernels()` replaced, for benchmarks and comparisons. */
export function builtinWasmKernel(kernelName: string): KernelConfig | undefined {
  return replacedBuiltins.get(kernelName);
}

/**
 * Registers the kernels of `WASM_EXTRA_KERNELS` for the 'wasm' backend (idempotent). Call it
 * before training on wasm; `initBackend()` does. Safe to call whether or not wasm is active.
 */
export function ensureWasmGradKernels(): void {
  if (registered) return;
  const configs: KernelConfig[] = [conv2DBackpropFilter, conv2DBackpropInput, depthwiseBackpropFilter, depthwiseBackpropInput, unsortedSegmentSum, maxPoolGrad];
  for (const k of ['MaxPool', 'AvgPool'] as const) {
    const c = poolWithExplicitPadding(k);
    if (c !== undefined) configs.push(c);
  }
  const einsum = viaCpu('Einsum');
  if (einsum !== undefined) configs.push(einsum);
  for (const config of configs) {
    const existing = tf.getKernel(config.kernelName, 'wasm');
    if (existing !== undefined) {
      replacedBuiltins.set(config.kernelName, existing);
      tf.unregisterKernel(config.kernelName, 'wasm');
    }
    tf.registerKernel(config);
  }
  registered = true;
}
