import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { DataLoader, DefaultSampler, InfiniteSampler, encodeJpeg, encodePng, Image, ClsBatch, StackedBatch } from '../../runtime/datasets';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';

describe('datasets/loader', function () {
  this.timeout(60000);
  let dir: string;
  let cfg: Record<string, unknown>;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-loader-'));
    const lines: string[] = [];
    for (let i = 0; i < 12; i++) {
      const w = 40 + i;
      const h = 30;
      const data = new Uint8Array(w * h * 3).map((_, k) => (k * (i + 3)) % 251);
      const file = `img${i}.${i % 2 ? 'jpg' : 'png'}`;
      const img: Image = { data, height: h, width: w, channels: 3 };
      fs.writeFileSync(path.join(dir, file), i % 2 ? await encodeJpeg(img) : await encodePng(img));
      lines.push(`${file} ${i % 3}`);
    }
    fs.writeFileSync(path.join(dir, 'ann.txt'), lines.join('\n'));
    cfg = {
      type: 'CustomDataset',
      ann_file: path.join(dir, 'ann.txt'),
      data_prefix: dir,
      pipeline: [
        { type: 'LoadImageFromFile' },
        { type: 'RandomResizedCrop', scale: 16 },
        { type: 'RandomFlip', prob: 0.5 },
        { type: 'ColorJitter', brightness: 0.4, contrast: 0.4, saturation: 0.4 },
        { type: 'PackClsInputs' },
      ],
    };
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function epochs(numWorkers: number, n: number, opts: Record<string, unknown> = {}): Promise<string[]> {
    const loader = new DataLoader({ dataset: cfg, batch_size: 5, num_workers: numWorkers, sampler: { type: 'DefaultSampler', shuffle: true, seed: 7 }, ...opts });
    const out: string[] = [];
    try {
      for (let e = 0; e < n; e++) {
        loader.set_epoch(e);
        for await (const b of loader) {
          const batch = b as ClsBatch;
          out.push(
            batch.inputs.map((img, k) => `${batch.data_samples[k].get('sample_idx')}:${batch.data_samples[k].gt_label?.label}:${img.height}x${img.width}:${Buffer.from(img.data).toString('base64')}`).join('|'),
          );
        }
      }
    } finally {
      await loader.close();
    }
    return out;
  }

  it('gives identical batches with 0, 1 and 2 workers, different ones per epoch', async () => {
    const w0 = await epochs(0, 2);
    assert.equal(w0.length, 6); // 12 samples, batch 5 -> 3 batches per epoch
    assert.deepEqual(await epochs(1, 2), w0);
    assert.deepEqual(await epochs(2, 2, { persistent_workers: true }), w0);
    assert.notDeepEqual(w0.slice(0, 3), w0.slice(3, 6));
  });

  it('covers every sample once per epoch with DefaultSampler; drop_last; labels arrive', async () => {
    const loader = new DataLoader({ dataset: cfg, batch_size: 5, drop_last: true, sampler: { type: 'DefaultSampler', shuffle: true, seed: 1 } });
    assert.equal(loader.length, 2);
    const seen: number[] = [];
    for await (const b of loader) for (const ds of (b as ClsBatch).data_samples) {
      seen.push(ds.get('sample_idx') as number);
      assert.equal(ds.gt_label?.label?.[0], (ds.get('sample_idx') as number) % 3);
    }
    assert.equal(seen.length, 10);
    assert.equal(new Set(seen).size, 10);
  });

  it('samplers: DefaultSampler is a seeded permutation per epoch; InfiniteSampler keeps going', () => {
    const s = new DefaultSampler({ dataset: { length: 10 }, shuffle: true, seed: 3 });
    const e0 = [...s];
    s.set_epoch(1);
    const e1 = [...s];
    assert.deepEqual([...e0].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(e0, e1);
    s.set_epoch(0);
    assert.deepEqual([...s], e0);
    assert.deepEqual([...new DefaultSampler({ dataset: { length: 4 }, shuffle: false })], [0, 1, 2, 3]);
    const inf = new InfiniteSampler({ dataset: { length: 3 }, seed: 0 });
    const it = inf[Symbol.iterator]();
    const first9 = Array.from({ length: 9 }, () => it.next().value as number);
    for (let k = 0; k < 9; k += 3) assert.deepEqual(first9.slice(k, k + 3).sort(), [0, 1, 2]);
  });

  it('default_collate stacks same-size images into NHWC', async () => {
    const loader = new DataLoader({ dataset: cfg, batch_size: 4, collate_fn: { type: 'default_collate' } });
    const it = loader[Symbol.asyncIterator]();
    const b = (await it.next()).value as StackedBatch;
    assert.deepEqual(b.inputs.shape, [4, 16, 16, 3]);
    assert.ok(b.data_samples[0] instanceof ClsDataSample);
    await it.return?.();
  });

  it('an error in a worker reaches the caller as the same MmclsError naming the file', async () => {
    fs.writeFileSync(path.join(dir, 'bad.txt'), 'img0.png 0\nmissing.png 1\n');
    const loader = new DataLoader({ dataset: { ...cfg, ann_file: path.join(dir, 'bad.txt') }, batch_size: 1, num_workers: 1 });
    await assert.rejects(
      (async () => {
        for await (const _ of loader) void _;
      })(),
      (e: unknown) => e instanceof MmclsError && /missing\.png/.test(e.message),
    );
    await loader.close();
  });
});
