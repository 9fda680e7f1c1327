/**
 * Which kernels training needs that tfjs-backend-wasm lacks.
 *
 *   npx tsx scripts/backend-kernel-coverage.ts
 *
 * Prints (1) kernels registered for 'cpu' but not built into 'wasm', (2) for every op of
 * test/backend/op-cases.ts, the kernels its forward and backward passes run (profiled on cpu,
 * where every kernel exists) that built-in wasm lacks, and (3) whether each op's forward and
 * backward now run on wasm, with the extra kernels of runtime/backend registered.
 */
import * as tf from '@tensorflow/tfjs-core';
import { WASM_EXTRA_KERNELS, initBackend } from '../runtime/backend';
import { OP_CASES } from '../test/backend/op-cases';
import { caseInputs, lossWeights } from '../test/backend/helpers';

async function kernelsOf(run: () => void): Promise<string[]> {
  const profile = await tf.profile(() => { run(); return [] as tf.Tensor[]; });
  return [...new Set(profile.kernelNames)];
}

function passes(c: (typeof OP_CASES)[number]): () => void {
  return () => tf.tidy(() => {
    const xs = caseInputs(c, 1).map((v, i) => tf.tensor(v, c.shapes[i]));
    const y = c.fn(...xs);
    const w = tf.tensor(lossWeights(y.shape, 2), y.shape);
    tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.fn(...a), w)))(xs).forEach((g) => g.dataSync());
  });
}

async function main(): Promise<void> {
  const added = new Set(WASM_EXTRA_KERNELS.filter((k) => !k.replacesBuiltin).map((k) => k.kernelName));
  const wasmNow = new Set(tf.getKernelsForBackend('wasm').map((k) => k.kernelName));
  const builtinWasm = new Set([...wasmNow].filter((k) => !added.has(k)));
  const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName).sort();
  const missing = cpu.filter((k) => !builtinWasm.has(k));
  console.log(`kernels registered for cpu but not built into wasm (${missing.length}): ${missing.join(' ')}`);
  console.log(`registered by runtime/backend for wasm: ${WASM_EXTRA_KERNELS.map((k) => `${k.kernelName} (${k.implementation}${k.replacesBuiltin ? ', replaces built-in' : ''})`).join(', ')}`);

  await initBackend('cpu');
  const reached = new Map<string, string[]>();
  for (const c of OP_CASES) {
    let kernels: string[] = [];
    try {
      kernels = await kernelsOf(passes(c));
    } catch (e) {
      console.log(`  FAIL on cpu ${c.name}: ${(e as Error).message.split('\n')[0]}`);
    }
    for (const k of kernels) {
      // Names ending in __op are customGrad scopes (logSoftmax, fused ops), not kernels.
      if (!builtinWasm.has(k) && !k.endsWith('__op')) reached.set(k, [...(reached.get(k) ?? []), c.name]);
    }
  }
  console.log('\nreached by forward+backward of the training ops and missing from built-in wasm:');
  for (const [k, ops] of [...reached].sort()) console.log(`  ${k.padEnd(38)} ${wasmNow.has(k) ? 'provided' : 'STILL MISSING'}  <- ${ops.join('; ')}`);

  await initBackend('wasm');
  let failed = 0;
  console.log('\nforward+backward on wasm:');
  for (const c of OP_CASES) {
    try {
      passes(c)();
    } catch (e) {
      failed++;
      console.log(`  FAIL ${c.name}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  console.log(`  ${OP_CASES.length - failed} of ${OP_CASES.length} ops run forward and backward on wasm`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => { console.error(e); process.exitCode = 1; });
