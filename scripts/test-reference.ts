/**
 * Reference parity: `npm run test:reference` (after `npm run build`).
 * For every JSON in $MMCLS_REFERENCE_DIR (default ../shared/reference/models next to the repository)
 * whose model types are implemented: build, fill, forward, compare keys/shapes, parameter counts,
 * FLOPs and logits. One line per model, then `reference parity: P passed, F failed, S skipped`.
 * Exit status 1 if any model failed. `--device cpu|wasm|auto` picks the backend (default auto);
 * further arguments restrict the run to files whose name contains one of them.
 */
import * as fs from 'fs';
import * as path from 'path';
import { initBackend } from '../runtime/backend';
import '../runtime/models';
import { checkReferenceModel, formatParityLine, readReference, referenceFiles } from '../runtime/analysis/reference';

function repoRoot(): string {
  // dist/scripts/test-reference.js or scripts/test-reference.ts: the root holds package.json.
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  let device = process.env.MMCLS_DEVICE ?? 'auto';
  const filters: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--device') device = args[++i];
    else filters.push(args[i]);
  }
  const dir = process.env.MMCLS_REFERENCE_DIR ?? path.resolve(repoRoot(), '..', 'shared', 'reference', 'models');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    process.stderr.write(`test-reference: ${dir} is not a folder; set MMCLS_REFERENCE_DIR to the reference models folder\n`);
    return 2;
  }
  const info = await initBackend(device);
  process.stdout.write(`reference folder: ${dir}; backend: ${info.summary}\n`);
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const file of referenceFiles(dir)) {
    const name = path.basename(file, '.json');
    if (filters.length && !filters.some((f) => name.includes(f))) continue;
    let line: string;
    try {
      const r = await checkReferenceModel(readReference(file), name);
      if (r.status === 'pass') passed++;
      else if (r.status === 'fail') failed++;
      else skipped++;
      line = formatParityLine(r);
    } catch (e) {
      failed++;
      line = `FAIL ${name}: ${(e as Error).message}`;
    }
    process.stdout.write(`${line}\n`);
  }
  process.stdout.write(`reference parity: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`test-reference: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  },
);
