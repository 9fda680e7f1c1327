/**
 * conv2d forward + backward throughput, wasm against cpu, and the replaced wasm kernels against
 * the built-in ones, on ResNet-like shapes. Prints rates and ratios measured in the same run.
 *
 *   npx tsx scripts/bench-backend.ts [--quick]
 */
import * as tf from '@tensorflow/tfjs-core';
import { builtinWasmKernel, initBackend } from '../runtime/backend';

interface Shape { name: string; x: [number, number, number, number]; k: number; co: number; s: number }

const quick = process.argv.includes('--quick');
// Batch 2: the cpu backend needs seconds per step on these already.
const SHAPES: Shape[] = [
  { name: 'stem 7x7/2 3->64 @64', x: [2, 64, 64, 3], k: 7, co: 64, s: 2 },
  { name: '3x3/1 64->64 @32', x: [2, 32, 32, 64], k: 3, co: 64, s: 1 },
  { name: '3x3/2 64->128 @32', x: [2, 32, 32, 64], k: 3, co: 128, s: 2 },
  { name: '1x1/1 256->64 @16', x: [2, 16, 16, 256], k: 1, co: 64, s: 1 },
];

function timeIt(f: () => void, minMs: number): number {
  f(); // warm-up
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs || n < 2) { f(); n++; }
  return (performance.now() - t0) / n;
}

function step(x: tf.Tensor4D, w: tf.Tensor4D, s: number): void {
  tf.tidy(() => {
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, 'same')))([x, w]);
    gx.dataSync();
    gw.dataSync();
  });
}

function backpropInput(x: tf.Tensor4D, w: tf.Tensor4D, s: number): void {
  tf.tidy(() => {
    const y = tf.conv2d(x, w, s, 'same');
    tf.conv2dTranspose(y, w, x.shape, s, 'same').dataSync();
  });
}

async function main(): Promise<void> {
  const ms = quick ? 300 : 1500;
  console.log(`conv2d forward+backward (dx and dW), ms per step; ratio = cpu / wasm (higher: wasm faster)`);
  for (const sh of SHAPES) {
    const flops = 3 * 2 * sh.x[0] * (sh.x[1] / sh.s) * (sh.x[2] / sh.s) * sh.k * sh.k * sh.x[3] * sh.co;
    const res: Record<string, number> = {};
    for (const be of ['wasm', 'cpu']) {
      await initBackend(be);
      const x = tf.randomNormal(sh.x) as tf.Tensor4D;
      const w = tf.randomNormal([sh.k, sh.k, sh.x[3], sh.co]) as tf.Tensor4D;
      res[be] = timeIt(() => step(x, w, sh.s), be === 'cpu' ? ms / 2 : ms);
      if (be === 'wasm') {
        const builtin = builtinWasmKernel('Conv2DBackpropInput');
        const ours = tf.getKernel('Conv2DBackpropInput', 'wasm');
        res.oursInput = timeIt(() => backpropInput(x, w, sh.s), ms / 2);
        if (builtin !== undefined) {
          tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
          tf.registerKernel(builtin);
          builtin.setupFunc?.(tf.backend()); // it was unregistered before the backend set kernels up
          res.builtinInput = timeIt(() => backpropInput(x, w, sh.s), ms / 2);
          tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
          tf.registerKernel(ours);
        }
      }
      tf.dispose([x, w]);
    }
    console.log(`${sh.name.padEnd(24)} wasm ${res.wasm.toFixed(1).padStart(7)} ms (${(flops / res.wasm / 1e6).toFixed(2)} GFLOP/s)` +
      `  cpu ${res.cpu.toFixed(1).padStart(8)} ms  ratio ${(res.cpu / res.wasm).toFixed(1)}x` +
      (res.builtinInput ? `  | conv fwd+dx: built-in wasm dx ${res.builtinInput.toFixed(1)} ms, ours ${res.oursInput.toFixed(1)} ms (${(res.builtinInput / res.oursInput).toFixed(1)}x)` : ''));
  }
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
