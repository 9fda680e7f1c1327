/**
 * Memory over a long training run: LeNet5 (batch 8, 32x32x1) trained with SGD through
 * tf.variableGrads for N iterations on a device, printing tf.memory() every `every` iterations.
 * The number of tensors and the bytes held must stay flat after the first iteration.
 *
 *   node dist/scripts/webgpu-memory.js [--device webgpu] [--iters 1000] [--every 100]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, disposeWebGpu } from '../runtime/backend';
import { MODELS } from '../runtime/registry';
import { ImageClassifier } from '../runtime/models';
// Registers every model component (the import above is type-only; a bundle has no autoload).
import '../runtime/models';
import { ClsDataSample } from '../runtime/structures';

export interface MemorySample {
  iteration: number;
  numTensors: number;
  numDataBuffers: number;
  numBytes: number;
  /** webgpu: bytes in GPU buffers in use, and allocated (pooled). */
  numBytesInGPU?: number;
  numBytesInGPUAllocated?: number;
  loss: number;
}

function seq(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Trains LeNet5 for `iterations` steps on the current backend; calls `onSample` after the
 * iterations listed by `sampleAt`. Everything it creates is disposed before it returns.
 */
export async function trainLeNet(iterations: number, sampleAt: (it: number) => boolean, onSample: (s: MemorySample) => void): Promise<void> {
  const model = MODELS.build<ImageClassifier>({
    type: 'ImageClassifier', backbone: { type: 'LeNet5', num_classes: 10 }, neck: null,
    head: { type: 'ClsHead', loss: { type: 'CrossEntropyLoss', loss_weight: 1.0 } },
  });
  model.initWeights();
  model.train();
  const x = tf.tensor4d(seq(8 * 32 * 32, 3), [8, 32, 32, 1]);
  const labels = [0, 1, 2, 3, 4, 5, 6, 7];
  const vars = model.trainableVariables();
  const momentum = vars.map((v) => tf.tidy(() => tf.variable(tf.zerosLike(v), false)));
  try {
    for (let it = 1; it <= iterations; it++) {
      const loss = tf.tidy(() => {
        const samples = labels.map((l) => new ClsDataSample().set_gt_label(l));
        const { value, grads } = tf.variableGrads(() => model.loss(x, samples).loss as tf.Scalar, vars);
        vars.forEach((v, i) => {
          momentum[i].assign(tf.add(tf.mul(momentum[i], 0.9), grads[v.name]));
          v.assign(tf.sub(v, tf.mul(momentum[i], 0.01)));
        });
        return value;
      });
      if (sampleAt(it)) {
        const l = (await loss.data())[0];
        loss.dispose();
        const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesAllocatedInGPU?: number };
        onSample({
          iteration: it, numTensors: m.numTensors, numDataBuffers: m.numDataBuffers, numBytes: m.numBytes,
          numBytesInGPU: m.numBytesInGPU, numBytesInGPUAllocated: m.numBytesAllocatedInGPU, loss: l,
        });
      } else {
        loss.dispose();
      }
    }
  } finally {
    tf.dispose([x, ...momentum]);
    model.dispose();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (name: string, dflt: string): string => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  };
  const device = opt('device', 'webgpu');
  const iters = Number(opt('iters', '1000'));
  const every = Number(opt('every', '100'));
  const info = await initBackend(device);
  console.log(`backend: ${info.summary}`);
  const before = tf.memory();
  console.log(`before: numTensors ${before.numTensors}, numBytes ${before.numBytes}`);
  const rows: MemorySample[] = [];
  const t0 = Date.now();
  await trainLeNet(iters, (it) => it === 1 || it % every === 0, (s) => {
    rows.push(s);
    const gpu = s.numBytesInGPU !== undefined ? `  numBytesInGPU ${s.numBytesInGPU}  numBytesInGPUAllocated ${s.numBytesInGPUAllocated}` : '';
    console.log(`iter ${String(s.iteration).padStart(5)}  loss ${s.loss.toFixed(4)}  numTensors ${s.numTensors}  numDataBuffers ${s.numDataBuffers}  numBytes ${s.numBytes}${gpu}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  });
  const after = tf.memory();
  console.log(`after dispose: numTensors ${after.numTensors}, numBytes ${after.numBytes}`);
  const first = rows[0];
  const last = rows[rows.length - 1];
  const grew = last.numTensors - first.numTensors;
  console.log(`numTensors growth from iteration ${first.iteration} to ${last.iteration}: ${grew}; numBytes growth: ${last.numBytes - first.numBytes}` +
    (last.numBytesInGPUAllocated !== undefined ? `; GPU bytes allocated growth: ${last.numBytesInGPUAllocated - (first.numBytesInGPUAllocated ?? 0)}` : ''));
  disposeWebGpu();
  process.exitCode = grew === 0 && after.numTensors === before.numTensors ? 0 : 1;
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
