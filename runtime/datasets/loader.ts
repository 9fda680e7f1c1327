import * as path from 'path';
import { Worker } from 'worker_threads';
import { MmclsError } from '../errors';
import { DATASETS, DATA_SAMPLERS } from '../registry';
import { ClsDataSample } from '../structures';
import { IndexedDataset } from './base_dataset';
import { Image, isImage } from './image';
import { DefaultSampler, Sampler } from './samplers';
import { decodeValue } from './serialize';
import { Results } from './transforms/base';
import type { WorkerInit, WorkerTask } from './worker';
import './register';

/** A batch as MMEngine's `pseudo_collate` makes it: lists of the per-sample values. */
export interface ClsBatch {
  inputs: Image[];
  data_samples: ClsDataSample[];
  [key: string]: unknown[];
}

/** MMEngine's pseudo_collate: a list of dicts becomes a dict of lists (nothing is stacked). */
export function pseudoCollate(samples: Results[]): ClsBatch {
  const out: Record<string, unknown[]> = {};
  for (const s of samples) for (const [k, v] of Object.entries(s)) (out[k] ??= []).push(v);
  return out as ClsBatch;
}

/** A batch with the images stacked: `inputs` is one NHWC array (all images must share a shape). */
export interface StackedBatch {
  inputs: { data: Uint8Array | Float32Array; shape: [number, number, number, number] };
  data_samples: ClsDataSample[];
}

/** MMEngine's default_collate for classification: stacks images into one NHWC array. */
export function defaultCollate(samples: Results[]): StackedBatch {
  const imgs = samples.map((s) => s.inputs);
  if (!imgs.every(isImage)) throw new MmclsError('default_collate: every sample needs an "inputs" image', { code: 'data.collate' });
  const first = imgs[0] as Image;
  const float = imgs.some((i) => (i as Image).data instanceof Float32Array);
  const per = first.height * first.width * first.channels;
  const data = float ? new Float32Array(per * imgs.length) : new Uint8Array(per * imgs.length);
  imgs.forEach((im, i) => {
    const img = im as Image;
    if (img.height !== first.height || img.width !== first.width || img.channels !== first.channels) {
      throw new MmclsError(`default_collate: images of different shapes (${first.height}x${first.width}x${first.channels} and ${img.height}x${img.width}x${img.channels}); use pseudo_collate or resize in the pipeline`, {
        code: 'data.collate',
      });
    }
    data.set(img.data, i * per);
  });
  return { inputs: { data, shape: [imgs.length, first.height, first.width, first.channels] }, data_samples: samples.map((s) => s.data_samples as ClsDataSample) };
}

type CollateFn = (samples: Results[]) => unknown;
const COLLATE: Record<string, CollateFn> = { pseudo_collate: pseudoCollate, default_collate: defaultCollate };

/** Options of the data loader (the `train_dataloader` dict of a config). */
export interface DataLoaderOptions {
  /** The dataset: a config dict (needed for worker threads) or a dataset object. */
  dataset: Record<string, unknown> | IndexedDataset;
  /** Samples per batch. @default 1 */
  batch_size?: number;
  /** Worker threads that decode and augment; 0 works in the calling thread. @default 0 */
  num_workers?: number;
  /** Keep the worker threads between epochs. @default False */
  persistent_workers?: boolean;
  /** The sampler: a config dict (dict(type='DefaultSampler', shuffle=True)) or a sampler. @default dict(type='DefaultSampler', shuffle=False) */
  sampler?: Record<string, unknown> | Sampler;
  /** How samples become a batch: dict(type='pseudo_collate') or dict(type='default_collate'). @default dict(type='pseudo_collate') */
  collate_fn?: Record<string, unknown> | CollateFn;
  /** Drop the last incomplete batch. @default False */
  drop_last?: boolean;
  /** Seed of the per-sample augmentation; defaults to the sampler's seed. @default None */
  seed?: number | null;
  /** Batches each worker prepares ahead. @default 2 */
  prefetch_factor?: number;
  /** Accepted for compatibility (no effect). @default False */
  pin_memory?: boolean;
  /** Modules the workers must import to know custom datasets or transforms (custom_imports). @default [] */
  imports?: string[];
}

interface PendingTask {
  resolve(samples: Results[]): void;
  reject(e: unknown): void;
}

class WorkerHandle {
  readonly worker: Worker;
  private readonly pending = new Map<number, PendingTask>();
  private dead: unknown;

  constructor(init: WorkerInit) {
    const file = path.join(__dirname, `worker${path.extname(__filename)}`);
    const execArgv = __filename.endsWith('.ts') ? ['--require', require.resolve('tsx/cjs')] : [];
    this.worker = new Worker(file, { workerData: init, execArgv });
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; samples?: unknown; error?: { message: string; code?: string; location?: Record<string, unknown>; mmcls: boolean; stack?: string } }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (!this.pending.size) this.worker.unref();
      if (msg.error) {
        const e = msg.error;
        p.reject(e.mmcls ? new MmclsError(e.message, { code: e.code, location: e.location }) : Object.assign(new Error(`in a data worker: ${e.message}`), { stack: e.stack }));
      } else {
        p.resolve(decodeValue(msg.samples) as Results[]);
      }
    });
    const fail = (e: unknown) => {
      this.dead = e;
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.pending.size) fail(new Error(`a data worker exited (code ${code}) with work pending`));
    });
  }

  run(task: WorkerTask): Promise<Results[]> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      this.pending.set(task.id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage(task);
    });
  }

  terminate(): Promise<number> {
    // An unref'd worker does not hold the event loop: without ref() the loop can empty before
    // 'exit' arrives, and Node.js ends the process with the caller still awaiting this promise.
    this.worker.ref();
    return this.worker.terminate();
  }
}

/**
 * Batches from a dataset, in sampler order. With `num_workers` > 0 worker threads run the pipeline;
 * the batches are the same whatever the number of workers: a sample's random numbers depend only
 * on (seed, epoch, its position in the epoch, its index).
 */
export class DataLoader implements AsyncIterable<unknown> {
  readonly dataset: IndexedDataset;
  readonly sampler: Sampler;
  readonly batch_size: number;
  readonly num_workers: number;
  readonly persistent_workers: boolean;
  readonly drop_last: boolean;
  readonly seed: number;
  readonly prefetch_factor: number;
  private readonly collate: CollateFn;
  private readonly datasetCfg: Record<string, unknown> | null;
  private readonly imports: string[];
  private workers: WorkerHandle[] = [];
  private epoch = 0;
  private taskId = 0;

  constructor(options: DataLoaderOptions) {
    const o = options;
    if (!o || !o.dataset) throw new MmclsError('data loader: "dataset" is required', { code: 'data.bad-arg' });
    const isObj = typeof (o.dataset as IndexedDataset).getItem === 'function';
    this.datasetCfg = isObj ? null : (o.dataset as Record<string, unknown>);
    this.dataset = isObj ? (o.dataset as IndexedDataset) : DATASETS.build<IndexedDataset>(o.dataset);
    this.batch_size = o.batch_size ?? 1;
    if (!Number.isInteger(this.batch_size) || this.batch_size < 1) throw new MmclsError(`batch_size must be a positive int, got ${o.batch_size}`, { code: 'data.bad-arg' });
    this.num_workers = o.num_workers ?? 0;
    if (!Number.isInteger(this.num_workers) || this.num_workers < 0) throw new MmclsError(`num_workers must be an int >= 0, got ${o.num_workers}`, { code: 'data.bad-arg' });
    if (this.num_workers > 0 && !this.datasetCfg) {
      process.emitWarning('num_workers > 0 needs the dataset as a config dict; loading in the main thread');
      this.num_workers = 0;
    }
    this.persistent_workers = o.persistent_workers ?? false;
    this.drop_last = o.drop_last ?? false;
    this.prefetch_factor = o.prefetch_factor ?? 2;
    const s = o.sampler ?? { type: 'DefaultSampler', shuffle: false };
    this.sampler = typeof (s as Sampler)[Symbol.iterator] === 'function' ? (s as Sampler) : DATA_SAMPLERS.build<Sampler>(s, { dataset: this.dataset });
    this.seed = o.seed ?? this.sampler.seed ?? 0;
    const c = o.collate_fn ?? { type: 'pseudo_collate' };
    if (typeof c === 'function') this.collate = c;
    else {
      const t = (c as Record<string, unknown>).type;
      if (typeof t !== 'string' || !COLLATE[t]) throw new MmclsError(`collate_fn type must be one of ${Object.keys(COLLATE).join(', ')}, got ${JSON.stringify(t)}`, { code: 'data.bad-arg' });
      this.collate = COLLATE[t];
    }
    this.imports = o.imports ?? [];
  }

  /** Batches per epoch (Infinity with an infinite sampler). */
  get length(): number {
    const n = this.sampler.length;
    if (!Number.isFinite(n)) return Infinity;
    return this.drop_last ? Math.floor(n / this.batch_size) : Math.ceil(n / this.batch_size);
  }

  set_epoch(epoch: number): void {
    this.epoch = epoch;
    this.sampler.set_epoch(epoch);
  }

  private *batches(): Generator<{ index: number; position: number }[]> {
    let batch: { index: number; position: number }[] = [];
    let position = 0;
    for (const index of this.sampler) {
      batch.push({ index, position: position++ });
      if (batch.length === this.batch_size) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length && !this.drop_last) yield batch;
  }

  private startWorkers(): void {
    if (this.workers.length || this.num_workers === 0) return;
    for (let i = 0; i < this.num_workers; i++) this.workers.push(new WorkerHandle({ datasetCfg: this.datasetCfg!, imports: this.imports }));
  }

  /** Stops the worker threads (persistent ones included). */
  async close(): Promise<void> {
    const ws = this.workers;
    this.workers = [];
    await Promise.all(ws.map((w) => w.terminate()));
  }

  async *[Symbol.asyncIterator](): AsyncIterator<unknown> {
    const epoch = this.epoch;
    const seed = this.seed;
    if (this.num_workers === 0) {
      for (const batch of this.batches()) {
        const samples = await Promise.all(batch.map((it) => this.dataset.getItem(it.index, { seed, epoch, position: it.position })));
        yield this.collate(samples);
      }
      return;
    }
    this.startWorkers();
    const gen = this.batches();
    const inflight: Promise<Results[]>[] = [];
    let next = 0;
    const maxInflight = this.num_workers * Math.max(1, this.prefetch_factor);
    const submit = (): boolean => {
      const r = gen.next();
      if (r.done) return false;
      const w = this.workers[next++ % this.workers.length];
      const p = w.run({ id: this.taskId++, items: r.value, seed, epoch });
      p.catch(() => undefined); // reported when awaited, in order
      inflight.push(p);
      return true;
    };
    try {
      while (inflight.length < maxInflight && submit());
      while (inflight.length) {
        const samples = await inflight.shift()!;
        submit();
        yield this.collate(samples);
      }
    } finally {
      if (!this.persistent_workers) await this.close();
    }
  }
}

/** Builds a DataLoader from a `*_dataloader` config dict. */
export function buildDataLoader(cfg: DataLoaderOptions, defaults: { seed?: number } = {}): DataLoader {
  const sampler = cfg.sampler && typeof (cfg.sampler as Sampler)[Symbol.iterator] !== 'function' ? { seed: defaults.seed, ...(cfg.sampler as Record<string, unknown>) } : cfg.sampler;
  return new DataLoader({ ...cfg, sampler, seed: cfg.seed ?? defaults.seed });
}

export { DefaultSampler };
