/**
 * Fixes for `@tensorflow/tfjs-backend-webgpu` 4.22 in Node.js, registered for 'webgpu' by
 * `ensureWebGpuKernels()` once the backend's kernels are loaded.
 *
 * | kernel | built-in webgpu | ours |
 * |---|---|---|
 * | PadV2, rank > 4 | invalid WGSL (`vec5` indexed): the shader fails to compile, the whole command buffer is dropped and unrelated results read as zeros | one concat of constant blocks per padded axis (rank <= 4: the built-in) |
 * | AddN, more inputs than the device's storage buffers per shader stage allow (8 by default: 7 inputs + the output) | the pipeline is invalid, its command buffer is dropped with a validation message, and the sum (and later unrelated results) read wrong | sums of at most that many inputs, then a sum of those (fewer inputs: the built-in) |
 * | readSync (dataSync, arraySync, moving a tensor off webgpu) | needs OffscreenCanvas (browsers only): ReferenceError | a clear error saying to use `await tensor.data()` |
 */
import * as tf from '@tensorflow/tfjs-core';
import { KernelBackend, KernelConfig, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

let registered = false;

/** Registers the fixes above (idempotent; only after the webgpu kernels are loaded). */
export function ensureWebGpuKernels(backendCtor: { prototype: object }): void {
  if (registered) return;
  registered = true;
  const builtinPad = tf.getKernel('PadV2', 'webgpu');
  if (builtinPad) {
    tf.unregisterKernel('PadV2', 'webgpu');
    const config: KernelConfig = {
      kernelName: 'PadV2',
      backendName: 'webgpu',
      kernelFunc: (args) => {
        const { inputs, backend, attrs } = args;
        const x = inputs.x as TensorInfo;
        if (x.shape.length <= 4) return builtinPad.kernelFunc(args);
        const { paddings, constantValue } = (attrs ?? {}) as NamedAttrMap & { paddings: Array<[number, number]>; constantValue: number };
        const be = backend as KernelBackend;
        const out = tf.tidy(() => {
          be.incRef(x.dataId);
          let t = tf.engine().makeTensorFromTensorInfo(x, be);
          paddings.forEach(([before, after], axis) => {
            if (before === 0 && after === 0) return;
            const parts: tf.Tensor[] = [];
            if (before > 0) parts.push(tf.fill(t.shape.map((d, i) => (i === axis ? before : d)), constantValue, x.dtype as 'float32'));
            parts.push(t);
            if (after > 0) parts.push(tf.fill(t.shape.map((d, i) => (i === axis ? after : d)), constantValue, x.dtype as 'float32'));
            t = tf.concat(parts, axis);
          });
          // A fresh tensor even when nothing was padded (the engine owns the kernel's output).
          return tf.clone(t);
        });
        return out as unknown as TensorInfo;
      },
    };
    tf.registerKernel(config);
  }
  const builtinAddN = tf.getKernel('AddN', 'webgpu');
  if (builtinAddN) {
    tf.unregisterKernel('AddN', 'webgpu');
    tf.registerKernel({
      kernelName: 'AddN',
      backendName: 'webgpu',
      kernelFunc: (args) => {
        const tensors = args.inputs as unknown as TensorInfo[];
        const be = args.backend as KernelBackend & { device?: { limits?: { maxStorageBuffersPerShaderStage?: number } } };
        const maxInputs = Math.max(2, (be.device?.limits?.maxStorageBuffersPerShaderStage ?? 8) - 1);
        if (tensors.length <= maxInputs) return builtinAddN.kernelFunc(args);
        return tf.tidy(() => {
          let level = tensors.map((t) => {
            be.incRef(t.dataId);
            return tf.engine().makeTensorFromTensorInfo(t, be);
          });
          while (level.length > 1) {
            const next: tf.Tensor[] = [];
            for (let i = 0; i < level.length; i += maxInputs) {
              const chunk = level.slice(i, i + maxInputs);
              next.push(chunk.length === 1 ? chunk[0] : tf.addN(chunk));
            }
            level = next;
          }
          return tf.clone(level[0]);
        }) as unknown as TensorInfo;
      },
    });
  }
  const proto = backendCtor.prototype as { readSync?: (dataId: object) => unknown; tensorMap?: unknown };
  const builtinReadSync = proto.readSync;
  if (builtinReadSync) {
    proto.readSync = function readSync(this: { tensorMap: { get(id: object): { values?: unknown; dtype: string } } }, dataId: object): unknown {
      const data = this.tensorMap.get(dataId);
      if (data.values != null || data.dtype === 'string' || typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') {
        return builtinReadSync.call(this, dataId);
      }
      throw new Error('webgpu in Node.js cannot read GPU data synchronously (dataSync, arraySync, bufferSync, or a tensor moved to another backend): use `await tensor.data()` instead');
    };
  }
}
