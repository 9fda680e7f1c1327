/**
 * `npm run bench:data`: images per second of the data pipeline
 * LoadImageFromFile -> RandomResizedCrop(224) -> RandomFlip -> PackClsInputs over generated
 * 500x375 JPEGs, with 0, 1 and 2 worker threads, and the ratios to 0 workers measured in the same
 * run. Usage: node dist/scripts/bench-data.js [--images N] [--batch B] [--workers 0,1,2]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DataLoader, encodeJpeg, Image } from '../runtime/datasets';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

async function makeImages(dir: string, n: number): Promise<void> {
  const w = 500;
  const h = 375;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(w * h * 3);
    // smooth gradients plus some texture, so the JPEGs are of a realistic size
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = (y * w + x) * 3;
        data[o] = (x + i * 7) & 255;
        data[o + 1] = (y * 2 + i) & 255;
        data[o + 2] = ((x ^ y) + i * 13) & 255;
      }
    }
    const img: Image = { data, height: h, width: w, channels: 3 };
    const file = `img_${i}.jpg`;
    fs.writeFileSync(path.join(dir, file), await encodeJpeg(img, 90));
    lines.push(`${file} ${i % 10}`);
  }
  fs.writeFileSync(path.join(dir, 'ann.txt'), lines.join('\n'));
}

async function main(): Promise<void> {
  const n = Number(arg('images', '256'));
  const batch = Number(arg('batch', '32'));
  const workers = arg('workers', '0,1,2').split(',').map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-bench-data-'));
  try {
    process.stdout.write(`generating ${n} JPEG images of 500x375 in ${dir} ...\n`);
    await makeImages(dir, n);
    const dataset = {
      type: 'CustomDataset',
      ann_file: path.join(dir, 'ann.txt'),
      data_prefix: dir,
      pipeline: [{ type: 'LoadImageFromFile' }, { type: 'RandomResizedCrop', scale: 224 }, { type: 'RandomFlip', prob: 0.5, direction: 'horizontal' }, { type: 'PackClsInputs' }],
    };
    process.stdout.write(`pipeline: LoadImageFromFile, RandomResizedCrop(224), RandomFlip(0.5), PackClsInputs; batch ${batch}; ${os.cpus().length} CPUs\n`);
    const rates: { workers: number; rate: number; first: number }[] = [];
    for (const w of workers) {
      const loader = new DataLoader({ dataset, batch_size: batch, num_workers: w, persistent_workers: true, sampler: { type: 'DefaultSampler', shuffle: true, seed: 0 } });
      // epoch 0 warms up (worker start, JIT); epoch 1 is timed
      const t0 = performance.now();
      loader.set_epoch(0);
      for await (const _ of loader) void _;
      const first = performance.now() - t0;
      loader.set_epoch(1);
      const t1 = performance.now();
      let count = 0;
      for await (const b of loader) count += (b as { inputs: unknown[] }).inputs.length;
      const secs = (performance.now() - t1) / 1000;
      await loader.close();
      rates.push({ workers: w, rate: count / secs, first: first / 1000 });
    }
    const base = rates[0].rate;
    process.stdout.write('\nworkers  images/s  ratio-to-first  (warm-up epoch incl. start, s)\n');
    for (const r of rates) process.stdout.write(`${String(r.workers).padStart(7)}  ${r.rate.toFixed(1).padStart(8)}  ${(r.rate / base).toFixed(2).padStart(14)}  (${r.first.toFixed(2)})\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
  process.exitCode = 1;
});
