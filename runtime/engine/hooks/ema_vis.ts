import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { HOOKS, int } from '../../registry';
import type { Runner } from '../runner';
import { CheckpointDict, Hook, PRIORITIES } from './hook';

/** Options of EMAHook. */
export interface EMAHookOptions {
  /** The averaging model: only 'ExponentialMovingAverage' is supported. @default 'ExponentialMovingAverage' */
  ema_type?: string;
  /** Weight of the current parameters in each update: ema = (1 - momentum) * ema + momentum * param. @default 0.0002 */
  momentum?: number;
  /** Update the average every this many iterations. @default 1 */
  interval?: number;
  /** Average the buffers (BN statistics) too; otherwise they are copied from the model. @default False */
  update_buffers?: boolean;
  /** Load EMA weights strictly when resuming. @default True */
  strict_load?: boolean;
  /** Iteration before which the average just copies the model. @default 0 */
  begin_iter?: number;
  /** Epoch before which the average just copies the model. @default 0 */
  begin_epoch?: number;
  /** When the hook runs among the others. @default 'NORMAL' */
  priority?: string | number;
}

/** Numbers the averaged variables of each EMAHook (unique names without random draws). */
let emaHookInstances = 0;

/**
 * Keeps an exponential moving average of the model's parameters; validation, testing and the
 * saved `state_dict` use the averaged weights (the raw ones are kept in `ema_state_dict`).
 */
@HOOKS.registerModule()
export class EMAHook extends Hook {
  readonly momentum: number;
  readonly interval: number;
  readonly update_buffers: boolean;
  readonly begin_iter: number;
  readonly begin_epoch: number;
  private ema: Map<string, tf.Variable> = new Map();
  private steps = 0;

  constructor(options: EMAHookOptions = {}) {
    super();
    this.priority = PRIORITIES.NORMAL;
    const t = options.ema_type ?? 'ExponentialMovingAverage';
    if (t !== 'ExponentialMovingAverage') throw new MmclsError(`EMAHook: ema_type '${t}' is not supported; use 'ExponentialMovingAverage'`, { code: 'hook.bad-arg' });
    this.momentum = options.momentum ?? 0.0002;
    if (!(this.momentum > 0 && this.momentum < 1)) throw new MmclsError(`EMAHook: momentum must be in (0, 1), got ${this.momentum}`, { code: 'hook.bad-arg' });
    this.interval = options.interval ?? 1;
    this.update_buffers = options.update_buffers ?? false;
    this.begin_iter = options.begin_iter ?? 0;
    this.begin_epoch = options.begin_epoch ?? 0;
  }

  private tensors(runner: Runner): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = runner.model.namedParameters().map(([n, p]) => [n, p.variable]);
    if (this.update_buffers) for (const [n, b] of runner.model.namedBuffers()) if (b.variable.dtype === 'float32') out.push([n, b.variable]);
    return out;
  }

  override beforeRun(runner: Runner): void {
    // Unique variable names from a counter: drawing them from Math.random (the runner's seeded
    // generator) would shift every later random draw and break exact resumes.
    const id = ++emaHookInstances;
    for (const [n, v] of this.tensors(runner)) this.ema.set(n, tf.variable(v.clone(), false, `ema${id}/${n}`));
  }

  override afterTrainIter(runner: Runner): void {
    if ((runner.iter + 1) % this.interval !== 0) return;
    const started = runner.iter + 1 >= this.begin_iter && runner.epoch >= this.begin_epoch;
    const m = this.momentum;
    tf.tidy(() => {
      for (const [n, v] of this.tensors(runner)) {
        const e = this.ema.get(n);
        if (!e) continue;
        if (!started || this.steps === 0) e.assign(v);
        else e.assign(tf.add(tf.mul(e, 1 - m), tf.mul(v, m)));
      }
    });
    if (started) this.steps++;
  }

  /** Exchanges the model's weights and the averaged ones. */
  swap(runner: Runner): void {
    for (const [n, v] of this.tensors(runner)) {
      const e = this.ema.get(n);
      if (!e) continue;
      const tmp = v.clone();
      v.assign(e);
      e.assign(tmp);
      tmp.dispose();
    }
  }

  override beforeValEpoch(runner: Runner): void {
    this.swap(runner);
  }
  override afterValEpoch(runner: Runner): void {
    this.swap(runner);
  }
  override beforeTestEpoch(runner: Runner): void {
    // A test run without training has loaded the averaged weights already (the checkpoint's state_dict).
    if (runner.mode === 'train') this.swap(runner);
  }
  override afterTestEpoch(runner: Runner): void {
    if (runner.mode === 'train') this.swap(runner);
  }

  override async beforeSaveCheckpoint(runner: Runner, ckpt: CheckpointDict): Promise<void> {
    // state_dict gets the averaged weights (what testing uses), ema_state_dict the raw ones.
    this.swap(runner);
    let averaged: Awaited<ReturnType<Runner['model']['stateDictAsync']>>;
    try {
      averaged = await runner.model.stateDictAsync();
    } finally {
      this.swap(runner);
    }
    const raw: Record<string, unknown> = {};
    for (const [k, e] of ckpt.stateDict) {
      if (averaged.has(k) && this.ema.has(k)) {
        raw[`module.${k}`] = e;
        ckpt.stateDict.set(k, averaged.get(k)!);
      }
    }
    raw.steps = this.steps;
    ckpt.extra.ema_state_dict = raw;
  }

  override afterLoadCheckpoint(runner: Runner, ckpt: CheckpointDict): void {
    const raw = ckpt.extra.ema_state_dict as Record<string, { data: ArrayLike<number>; shape: number[]; dtype?: string }> | undefined;
    // The model holds the checkpoint's state_dict: the averaged weights. Copy them to the average...
    for (const [n, v] of this.tensors(runner)) this.ema.get(n)?.assign(v);
    if (!raw || !runner.resuming) return;
    // ...and, when resuming, put the raw weights back into the model.
    const entries = new Map<string, { data: Float32Array; shape: number[]; dtype?: string }>();
    for (const [k, e] of Object.entries(raw)) if (k.startsWith('module.') && e && typeof e === 'object') entries.set(k.slice(7), e as never);
    runner.model.loadStateDict(entries as never, { strict: false });
    if (typeof raw.steps === 'number') this.steps = raw.steps;
  }
}

/** Options of VisualizationHook. */
export interface VisualizationHookOptions {
  /** Draw predictions at all (switched on by `test --show-dir` / `--show`). @default False */
  enable?: boolean;
  /** Draw every this many samples. @default 5000 */
  interval?: int;
  /** Show the images in a window (not available here: the images are saved instead). @default False */
  show?: boolean;
  /** Seconds each window is shown. @default 0.0 */
  wait_time?: number;
  /** Folder for the drawn images (relative to the run folder unless absolute). @default None */
  out_dir?: string | null;
  /** When the hook runs among the others. @default 'NORMAL' */
  priority?: string | number;
  /** Accepted for compatibility with MMEngine (no effect). @default None */
  file_client_args?: { [key: string]: unknown } | null;
}


/**
 * Saves test (and validation) images with their predictions: `out_dir/<index>_<name>.png` plus
 * `out_dir/predictions.tsv` listing each file's ground truth, prediction and score.
 */
@HOOKS.registerModule()
export class VisualizationHook extends Hook {
  readonly enable: boolean;
  readonly interval: number;
  readonly show: boolean;
  readonly wait_time: number;
  out_dir: string | null;
  private seen = 0;
  private rows: string[] = [];

  constructor(options: VisualizationHookOptions = {}) {
    super();
    this.priority = PRIORITIES.NORMAL;
    this.enable = options.enable ?? false;
    this.interval = options.interval ?? 5000;
    this.show = options.show ?? false;
    this.wait_time = options.wait_time ?? 0;
    this.out_dir = options.out_dir ?? null;
  }

  override beforeTestEpoch(runner: Runner): void {
    this.seen = 0;
    this.rows = ['file\tgt_label\tpred_label\tpred_class\tpred_score'];
    if (this.enable && this.show) runner.logger.warning('VisualizationHook: --show has no window here; the images are saved to the show folder instead.');
  }

  override async afterTestIter(runner: Runner, _batchIdx: number, batch: unknown, outputs: unknown[]): Promise<void> {
    if (!this.enable) return;
    const dir = this.out_dir ? path.resolve(runner.logDir, this.out_dir) : path.join(runner.logDir, 'vis_image');
    fs.mkdirSync(dir, { recursive: true });
    const inputs = (batch as { inputs?: unknown[] }).inputs ?? [];
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { encodePng } = require('../../datasets/imageio') as typeof import('../../datasets/imageio');
    const classes = runner.datasetMeta?.classes as string[] | undefined;
    for (let i = 0; i < outputs.length; i++) {
      const idx = this.seen++;
      if (idx % this.interval !== 0) continue;
      const s = outputs[i] as { pred_label?: { label?: ArrayLike<number>; score?: ArrayLike<number> }; gt_label?: { label?: ArrayLike<number> }; metainfo?: Record<string, unknown> };
      const img = inputs[i] as { data: Uint8Array | Float32Array; height: number; width: number; channels: number } | undefined;
      if (!img || !img.data) continue;
      const pred = s.pred_label?.label?.[0] ?? -1;
      const score = pred >= 0 ? s.pred_label?.score?.[pred] ?? NaN : NaN;
      const gt = s.gt_label?.label?.[0] ?? -1;
      const src = typeof s.metainfo?.img_path === 'string' ? path.parse(s.metainfo.img_path as string).name : `sample`;
      const name = `${String(idx).padStart(6, '0')}_${src}.png`;
      const u8 = img.data instanceof Uint8Array ? img.data : Uint8Array.from(img.data, (x) => Math.max(0, Math.min(255, Math.round(x))));
      fs.writeFileSync(path.join(dir, name), await encodePng({ ...img, data: u8 }));
      this.rows.push(`${name}\t${gt}\t${pred}\t${classes?.[pred] ?? ''}\t${Number.isFinite(score) ? score.toFixed(4) : ''}`);
    }
    fs.writeFileSync(path.join(dir, 'predictions.tsv'), `${this.rows.join('\n')}\n`);
  }
}
