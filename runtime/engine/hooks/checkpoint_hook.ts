import * as fs from 'fs';
import * as path from 'path';
import { MmclsError } from '../../errors';
import { HOOKS } from '../../registry';
import type { Runner } from '../runner';
import { Hook, PRIORITIES } from './hook';

/** Options of CheckpointHook. */
export interface CheckpointHookOptions {
  /** Save every this many epochs (by_epoch) or iterations; -1 never (except the last, with save_last). @default -1 */
  interval?: number;
  /** Count `interval` in epochs (True) or iterations (False). @default True */
  by_epoch?: boolean;
  /** Include the optimizer state (needed to resume). @default True */
  save_optimizer?: boolean;
  /** Include the parameter schedulers' state (needed to resume). @default True */
  save_param_scheduler?: boolean;
  /** Folder for the checkpoints (default: the work_dir; otherwise out_dir/<name of the work_dir>). @default None */
  out_dir?: string | null;
  /** Keep only the latest this many periodic checkpoints (-1: keep all). @default -1 */
  max_keep_ckpts?: number;
  /** Save a checkpoint after the last epoch or iteration even when `interval` does not fall on it. @default True */
  save_last?: boolean;
  /** Metric(s) that decide the best checkpoint, e.g. 'accuracy/top1'; 'auto' takes the first metric. @default None */
  save_best?: string | string[] | null;
  /** 'greater' or 'less' is better for save_best (default: inferred from the metric's name). @default None */
  rule?: 'greater' | 'less' | Array<'greater' | 'less'> | null;
  /** Extra metric names for which greater is better. @default None */
  greater_keys?: string[] | null;
  /** Extra metric names for which less is better. @default None */
  less_keys?: string[] | null;
  /** Name of the periodic checkpoints: `{}` is replaced by the epoch or iteration. @default None */
  filename_tmpl?: string | null;
  /** When the hook runs among the others. @default 'VERY_LOW' */
  priority?: string | number;
  /** Accepted for compatibility with MMEngine (no effect). @default None */
  file_client_args?: { [key: string]: unknown } | null;
}

const GREATER_KEYS = ['acc', 'top', 'AR@', 'auc', 'precision', 'mAP', 'mDice', 'mIoU', 'mAcc', 'aAcc', 'recall', 'f1'];
const LESS_KEYS = ['loss'];

/**
 * Saves checkpoints (`epoch_N.safetensors` / `iter_N.safetensors`, the `last_checkpoint` file
 * naming the newest), keeps at most `max_keep_ckpts`, and the best one by `save_best`
 * (`best_accuracy_top1_epoch_N.safetensors`).
 */
@HOOKS.registerModule()
export class CheckpointHook extends Hook {
  readonly interval: number;
  readonly by_epoch: boolean;
  readonly save_optimizer: boolean;
  readonly save_param_scheduler: boolean;
  readonly out_dir: string | null;
  readonly max_keep_ckpts: number;
  readonly save_last: boolean;
  readonly filename_tmpl: string;
  private saveBest: string[];
  private rules: Array<'greater' | 'less' | null>;
  private readonly greaterKeys: string[];
  private readonly lessKeys: string[];
  private dir = '';
  private kept: string[] = [];

  constructor(options: CheckpointHookOptions = {}) {
    super();
    this.priority = PRIORITIES.VERY_LOW;
    this.interval = options.interval ?? -1;
    this.by_epoch = options.by_epoch ?? true;
    this.save_optimizer = options.save_optimizer ?? true;
    this.save_param_scheduler = options.save_param_scheduler ?? true;
    this.out_dir = options.out_dir ?? null;
    this.max_keep_ckpts = options.max_keep_ckpts ?? -1;
    this.save_last = options.save_last ?? true;
    this.filename_tmpl = options.filename_tmpl ?? (this.by_epoch ? 'epoch_{}.safetensors' : 'iter_{}.safetensors');
    const sb = options.save_best ?? null;
    this.saveBest = sb === null ? [] : Array.isArray(sb) ? [...sb] : [sb];
    if (this.saveBest.includes('auto') && this.saveBest.length > 1) {
      throw new MmclsError("CheckpointHook: save_best='auto' cannot be combined with other metrics", { code: 'hook.bad-arg' });
    }
    const r = options.rule ?? null;
    const rules = r === null ? this.saveBest.map(() => null) : Array.isArray(r) ? r : this.saveBest.map(() => r);
    if (rules.length !== this.saveBest.length) {
      throw new MmclsError(`CheckpointHook: ${rules.length} rules for ${this.saveBest.length} save_best metrics`, { code: 'hook.bad-arg' });
    }
    for (const x of rules) {
      if (x !== null && x !== 'greater' && x !== 'less') throw new MmclsError(`CheckpointHook: rule must be 'greater' or 'less', got ${JSON.stringify(x)}`, { code: 'hook.bad-arg' });
    }
    this.rules = rules;
    this.greaterKeys = [...GREATER_KEYS, ...(options.greater_keys ?? [])];
    this.lessKeys = [...LESS_KEYS, ...(options.less_keys ?? [])];
  }

  override beforeTrain(runner: Runner): void {
    this.dir = this.out_dir ? path.join(this.out_dir, path.basename(runner.workDir)) : runner.workDir;
    fs.mkdirSync(this.dir, { recursive: true });
  }

  private inferRule(key: string): 'greater' | 'less' {
    if (this.greaterKeys.some((k) => key.includes(k))) return 'greater';
    if (this.lessKeys.some((k) => key.includes(k))) return 'less';
    throw new MmclsError(`CheckpointHook: cannot tell whether a greater or a smaller ${key} is better; set rule='greater' or rule='less'`, { code: 'hook.bad-arg' });
  }

  private async save(runner: Runner, endOfEpochCount: number): Promise<void> {
    const n = this.by_epoch ? endOfEpochCount : runner.iter + 1;
    const file = this.filename_tmpl.replace('{}', String(n));
    runner.logger.info(`Saving checkpoint at ${n} ${this.by_epoch ? 'epochs' : 'iterations'}`);
    const p = await runner.saveCheckpoint(this.dir, file, {
      epoch: endOfEpochCount,
      // After an epoch the runner has counted its iterations; after an iteration not yet.
      iter: this.by_epoch ? runner.iter : runner.iter + 1,
      saveOptimizer: this.save_optimizer,
      saveParamScheduler: this.save_param_scheduler,
    });
    if (this.max_keep_ckpts > 0) {
      this.kept = this.kept.filter((k) => k !== p);
      this.kept.push(p);
      while (this.kept.length > this.max_keep_ckpts) {
        const old = this.kept.shift()!;
        fs.rmSync(old, { force: true });
      }
    }
  }

  override async afterTrainEpoch(runner: Runner): Promise<void> {
    if (!this.by_epoch) return;
    if (this.everyNEpochs(runner, this.interval) || (this.save_last && this.isLastTrainEpoch(runner))) {
      await this.save(runner, runner.epoch + 1);
    }
  }

  override async afterTrainIter(runner: Runner): Promise<void> {
    if (this.by_epoch) return;
    if (this.everyNTrainIters(runner, this.interval) || (this.save_last && this.isLastTrainIter(runner))) {
      await this.save(runner, runner.epoch);
    }
  }

  override async afterValEpoch(runner: Runner, metrics: Record<string, unknown>): Promise<void> {
    if (!this.saveBest.length || !Object.keys(metrics).length) return;
    if (this.saveBest[0] === 'auto') this.saveBest = [Object.keys(metrics)[0]];
    for (let i = 0; i < this.saveBest.length; i++) {
      const key = this.saveBest[i];
      const value = metrics[key];
      if (typeof value !== 'number') {
        throw new MmclsError(`CheckpointHook: save_best='${key}' is not among the evaluation results (${Object.keys(metrics).join(', ')})`, { code: 'hook.bad-arg' });
      }
      const rule = (this.rules[i] ??= this.inferRule(key));
      const infoKey = this.saveBest.length === 1 ? 'best_score' : `best_score_${key}`;
      const ckptKey = this.saveBest.length === 1 ? 'best_ckpt' : `best_ckpt_${key}`;
      const best = runner.messageHub.getInfo<number>(infoKey);
      const better = best === undefined || (rule === 'greater' ? value > best : value < best);
      if (!better) continue;
      const prev = runner.messageHub.getInfo<string>(ckptKey);
      if (prev) fs.rmSync(prev, { force: true });
      runner.messageHub.updateInfo(infoKey, value);
      const n = this.by_epoch ? runner.epoch : runner.iter;
      const file = `best_${key.replace(/\//g, '_')}_${this.by_epoch ? 'epoch' : 'iter'}_${n}.safetensors`;
      const p = await runner.saveCheckpoint(this.dir, file, { epoch: runner.epoch, iter: runner.iter, saveOptimizer: false, saveParamScheduler: false, updateLast: false, best: true });
      runner.messageHub.updateInfo(ckptKey, p);
      runner.logger.info(`The best checkpoint with ${value.toFixed(4)} ${key} at ${n} ${this.by_epoch ? 'epoch' : 'iter'} is saved to ${file}.`);
    }
  }
}

/** The newest checkpoint of a work_dir: the one its `last_checkpoint` file names (MMEngine's find_latest_checkpoint). */
export function findLatestCheckpoint(workDir: string): string | null {
  const f = path.join(workDir, 'last_checkpoint');
  if (fs.existsSync(f)) {
    const p = fs.readFileSync(f, 'utf8').trim();
    if (p && fs.existsSync(p)) return p;
    if (p && fs.existsSync(path.join(workDir, path.basename(p)))) return path.join(workDir, path.basename(p));
  }
  // No (valid) last_checkpoint: the newest periodic checkpoint by modification time.
  if (!fs.existsSync(workDir)) return null;
  const files = fs
    .readdirSync(workDir)
    .filter((n) => /^(epoch|iter)_\d+\.(safetensors|pth)$/.test(n))
    .map((n) => ({ n, t: fs.statSync(path.join(workDir, n)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  return files.length ? path.join(workDir, files[0].n) : null;
}
