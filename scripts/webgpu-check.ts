/**
 * The GPU machine check (run by scripts/gpu-check.sh): prints the WebGPU adapter, runs the webgpu
 * parity checks against cpu, then measures on webgpu
 *   - training images/s: ResNet_CIFAR-18 (GlobalAveragePooling, LinearClsHead 10), 32x32, batch 128,
 *     one SGD step (forward, backward, update) per iteration;
 *   - inference images/s: ResNet-50 (LinearClsHead 1000), 224x224, batch 32, eval mode.
 * Each timed iteration ends by reading the loss / logits back (the GPU queue is drained).
 * The last line is `RESULT {json}` for the shell script.
 *
 *   node webgpu-check.js [--device webgpu] [--skip-parity] [--train-batch 128] [--train-size 32]
 *     [--train-iters 20] [--infer-batch 32] [--infer-size 224] [--infer-iters 10] [--warmup 3]
 */
import * as tf from '@tensorflow/tfjs-core';
import { disposeWebGpu, initBackend } from '../runtime/backend';
import { MODELS } from '../runtime/registry';
import { ImageClassifier } from '../runtime/models';
// Registers every model component (the import above is type-only; a bundle has no autoload).
import '../runtime/models';
import { ClsDataSample } from '../runtime/structures';
import { layerParity, leNetParity, seq } from './webgpu-parity';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? Number(process.argv[i + 1]) : dflt;
}

async function trainRate(batch: number, size: number, iters: number, warmup: number): Promise<number> {
  const model = MODELS.build<ImageClassifier>({
    type: 'ImageClassifier', backbone: { type: 'ResNet_CIFAR', depth: 18 }, neck: { type: 'GlobalAveragePooling' },
    head: { type: 'LinearClsHead', num_classes: 10, in_channels: 512, loss: { type: 'CrossEntropyLoss', loss_weight: 1.0 } },
  });
  model.initWeights();
  model.train();
  const x = tf.tensor4d(seq(batch * size * size * 3, 7), [batch, size, size, 3]);
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  const vars = model.trainableVariables();
  const step = async (): Promise<number> => {
    const loss = tf.tidy(() => {
      const samples = labels.map((l) => new ClsDataSample().set_gt_label(l));
      const { value, grads } = tf.variableGrads(() => model.loss(x, samples).loss as tf.Scalar, vars);
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.01)));
      return value;
    });
    const l = (await loss.data())[0];
    loss.dispose();
    return l;
  };
  for (let i = 0; i < warmup; i++) await step();
  const t0 = performance.now();
  let last = 0;
  for (let i = 0; i < iters; i++) last = await step();
  const s = (performance.now() - t0) / 1000;
  if (!Number.isFinite(last)) throw new Error(`training diverged: loss ${last}`);
  tf.dispose(x);
  model.dispose();
  return (batch * iters) / s;
}

async function inferRate(batch: number, size: number, iters: number, warmup: number): Promise<number> {
  const model = MODELS.build<ImageClassifier>({
    type: 'ImageClassifier', backbone: { type: 'ResNet', depth: 50 }, neck: { type: 'GlobalAveragePooling' },
    head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 2048 },
  });
  model.initWeights();
  model.eval();
  const x = tf.tensor4d(seq(batch * size * size * 3, 11), [batch, size, size, 3]);
  const run = async (): Promise<void> => {
    const y = tf.tidy(() => model.forward(x, null, 'tensor') as tf.Tensor);
    await y.data();
    y.dispose();
  };
  for (let i = 0; i < warmup; i++) await run();
  const t0 = performance.now();
  for (let i = 0; i < iters; i++) await run();
  const s = (performance.now() - t0) / 1000;
  tf.dispose(x);
  model.dispose();
  return (batch * iters) / s;
}

async function main(): Promise<void> {
  const device = process.argv.includes('--device') ? process.argv[process.argv.indexOf('--device') + 1] : 'webgpu';
  const info = await initBackend(device);
  console.log(`backend: ${info.summary}`);
  if (info.adapter) {
    const a = info.adapter;
    console.log(`adapter: vendor=${a.vendor} architecture=${a.architecture} device=${a.device} description=${a.description} software=${a.isFallbackAdapter}`);
  }
  const result: Record<string, unknown> = { backend: info.summary, adapter: info.adapter ?? null };
  if (!process.argv.includes('--skip-parity')) {
    const t0 = performance.now();
    const errors = [...(await layerParity()), ...(await leNetParity()).errors];
    result.parity = errors.length === 0 ? 'pass' : 'FAIL';
    console.log(`parity with cpu: ${errors.length === 0 ? 'pass' : `${errors.length} mismatches`} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    for (const e of errors) console.log(`  ${e}`);
    await initBackend(device);
  }
  const warmup = arg('warmup', 3);
  const tb = arg('train-batch', 128);
  const ts = arg('train-size', 32);
  const train = await trainRate(tb, ts, arg('train-iters', 20), warmup);
  console.log(`train ResNet_CIFAR-18 ${ts}x${ts} batch ${tb}: ${train.toFixed(1)} images/s`);
  const ib = arg('infer-batch', 32);
  const is = arg('infer-size', 224);
  const infer = await inferRate(ib, is, arg('infer-iters', 10), warmup);
  console.log(`infer ResNet-50 ${is}x${is} batch ${ib}: ${infer.toFixed(1)} images/s`);
  Object.assign(result, { train_images_per_s: train, infer_images_per_s: infer, train_batch: tb, train_size: ts, infer_batch: ib, infer_size: is });
  console.log(`RESULT ${JSON.stringify(result)}`);
  disposeWebGpu();
  process.exitCode = result.parity === 'FAIL' ? 1 : 0;
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.stack ?? e.message : String(e));
  process.exit(1);
});
