import { MmclsError } from '../../errors';
import { PARAM_SCHEDULERS } from '../../registry';
import type { int } from '../../registry';
import { engineLog } from '../optim/logging';
import { INF, ParamNameOption, ParamSchedulerLike, SchedulerBaseOptions, SchedulerState, SchedulerTarget } from './param_scheduler';

/** Options of the ReduceOnPlateau schedule. */
export interface ReduceOnPlateauScheduleOptions extends Omit<SchedulerBaseOptions, 'convert_to_iter_based'> {
  /** The validation metric watched (`'accuracy/top1'`, `'loss'`, ...). @default 'loss' */
  monitor?: string;
  /** `'less'`: lower is better; `'greater'`: higher is better. @default 'less' */
  rule?: 'less' | 'greater';
  /** Factor the value is multiplied by when the metric stops improving (< 1). @default 0.1 */
  factor?: number;
  /** Validations without improvement tolerated before reducing. @default 10 */
  patience?: int;
  /** Smallest change that counts as an improvement. @default 0.0001 */
  threshold?: number;
  /** `'rel'` (relative to the best) or `'abs'` threshold. @default 'rel' */
  threshold_rule?: 'rel' | 'abs';
  /** Validations to wait after a reduction before counting again. @default 0 */
  cooldown?: int;
  /** Lower bound of the value (one number, or one per parameter group). @default 0.0 */
  min_value?: number | number[];
  /** Reductions smaller than this are skipped. @default 1e-08 */
  eps?: number;
}

/** Options of `ReduceOnPlateauParamScheduler`. */
export interface ReduceOnPlateauParamSchedulerOptions extends ReduceOnPlateauScheduleOptions, ParamNameOption {}

/**
 * Reduces the parameter by `factor` when the monitored validation metric has not improved for
 * `patience` validations (MMEngine's ReduceOnPlateau). Training steps only count; the runner calls
 * `step(metrics)` after each validation.
 */
@PARAM_SCHEDULERS.registerModule()
export class ReduceOnPlateauParamScheduler implements ParamSchedulerLike {
  /** The runner passes validation metrics to schedulers that set this. */
  static readonly needValArgs = true;
  readonly need_val_args = true;
  readonly optimizer: SchedulerTarget;
  param_name: string;
  begin: number;
  end: number;
  by_epoch: boolean;
  verbose: boolean;
  last_step: number;
  _global_step = 0;
  _last_value: number[];
  factor: number;
  default_min_values: number[];
  min_values: number[];
  patience: number;
  cooldown: number;
  cooldown_counter = 0;
  threshold: number;
  threshold_rule: 'rel' | 'abs';
  rule: 'less' | 'greater';
  eps: number;
  monitor: string;
  best: number;
  num_bad_epochs = 0;

  constructor(options: ReduceOnPlateauParamSchedulerOptions) {
    const optimizer = options.optimizer as SchedulerTarget;
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) {
      throw new MmclsError('ReduceOnPlateau: "optimizer" must be an optimizer or optimizer wrapper', { code: 'scheduler.invalid-arg' });
    }
    this.optimizer = optimizer;
    this.param_name = options.param_name;
    this.begin = options.begin ?? 0;
    this.end = options.end ?? INF;
    if (this.end <= this.begin) {
      throw new MmclsError(`end should be larger than begin, but got begin=${this.begin}, end=${this.end}`, { code: 'scheduler.invalid-arg' });
    }
    this.by_epoch = options.by_epoch ?? true;
    this.verbose = options.verbose ?? false;
    this.last_step = options.last_step ?? -1;
    const key = `initial_${this.param_name}`;
    optimizer.paramGroups.forEach((g, i) => {
      if (this.last_step === -1) {
        if (!(key in g)) g[key] = g[this.param_name];
      } else if (!(key in g)) {
        throw new MmclsError(`param '${key}' is not specified in param_groups[${i}] when resuming an optimizer`, { code: 'scheduler.resume' });
      }
    });
    this.factor = options.factor ?? 0.1;
    if (this.factor >= 1.0) throw new MmclsError('Factor should be < 1.0.', { code: 'scheduler.invalid-arg' });
    const n = optimizer.paramGroups.length;
    const mv = options.min_value ?? 0.0;
    if (Array.isArray(mv)) {
      if (mv.length !== n) throw new MmclsError(`expected ${n} min_value, got ${mv.length}`, { code: 'scheduler.invalid-arg' });
      this.default_min_values = [...mv];
    } else {
      this.default_min_values = new Array<number>(n).fill(mv);
    }
    this.min_values = [...this.default_min_values];
    this.patience = options.patience ?? 10;
    this.cooldown = options.cooldown ?? 0;
    this.threshold = options.threshold ?? 1e-4;
    this.eps = options.eps ?? 1e-8;
    this.monitor = options.monitor ?? 'loss';
    const rule = options.rule ?? 'less';
    const thresholdRule = options.threshold_rule ?? 'rel';
    if (rule !== 'less' && rule !== 'greater') throw new MmclsError(`mode ${rule} is unknown!`, { code: 'scheduler.invalid-arg' });
    if (thresholdRule !== 'rel' && thresholdRule !== 'abs') {
      throw new MmclsError(`threshold mode ${thresholdRule} is unknown!`, { code: 'scheduler.invalid-arg' });
    }
    this.rule = rule;
    this.threshold_rule = thresholdRule;
    this.best = rule === 'less' ? Infinity : -Infinity;
    this._last_value = optimizer.paramGroups.map((g) => g[this.param_name] as number);
  }

  private isBetter(a: number, best: number): boolean {
    if (this.rule === 'less') return this.threshold_rule === 'rel' ? a < best * (1 - this.threshold) : a < best - this.threshold;
    return this.threshold_rule === 'rel' ? a > best * (this.threshold + 1) : a > best + this.threshold;
  }

  /** Without metrics (after a training epoch/iteration) only counts; with metrics (after validation) may reduce. */
  step(metrics?: { [name: string]: unknown }): void {
    if (metrics === undefined) {
      this._global_step += 1;
      return;
    }
    if (this.begin <= this._global_step && this._global_step < this.end) {
      this.last_step += 1;
      const metric = metrics[this.monitor];
      if (typeof metric !== 'number') {
        throw new MmclsError(
          `ReduceOnPlateau: monitor "${this.monitor}" is not among the validation metrics (${Object.keys(metrics).join(', ')})`,
          { code: 'scheduler.monitor' },
        );
      }
      if (this.isBetter(metric, this.best)) {
        this.best = metric;
        this.num_bad_epochs = 0;
      } else {
        this.num_bad_epochs += 1;
      }
      if (this.cooldown_counter > 0) {
        this.cooldown_counter -= 1;
        this.num_bad_epochs = 0;
      }
      if (this.num_bad_epochs > this.patience) {
        this.optimizer.paramGroups.forEach((g, i) => {
          const cur = g[this.param_name] as number;
          const v = Math.max(cur * this.factor, this.min_values[i]);
          if (cur - v > this.eps) {
            g[this.param_name] = v;
            if (this.verbose) engineLog('info', `Adjusting parameter value of group ${i} to ${v.toExponential(4)}.`);
          }
        });
        this.cooldown_counter = this.cooldown;
        this.num_bad_epochs = 0;
      }
    }
    this._last_value = this.optimizer.paramGroups.map((g) => g[this.param_name] as number);
  }

  getLastValue(): number[] {
    return this._last_value;
  }

  stateDict(): SchedulerState {
    const out: SchedulerState = {};
    for (const [k, v] of Object.entries(this)) {
      if (k === 'optimizer') continue;
      out[k] = v === Infinity ? 'inf' : v === -Infinity ? '-inf' : JSON.parse(JSON.stringify(v));
    }
    return out;
  }

  loadStateDict(state: SchedulerState): void {
    for (const [k, v] of Object.entries(state)) {
      if (k === 'optimizer' || k === 'need_val_args' || !(k in this)) continue;
      (this as unknown as Record<string, unknown>)[k] = v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v;
    }
  }
}

/** Options of `ReduceOnPlateauLR`. */
export interface ReduceOnPlateauLROptions extends ReduceOnPlateauScheduleOptions {}

/** Reduces the learning rate when a validation metric stops improving. */
@PARAM_SCHEDULERS.registerModule()
export class ReduceOnPlateauLR extends ReduceOnPlateauParamScheduler {
  constructor(options: ReduceOnPlateauLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `ReduceOnPlateauMomentum`. */
export interface ReduceOnPlateauMomentumOptions extends ReduceOnPlateauScheduleOptions {}

/** Reduces the momentum when a validation metric stops improving. */
@PARAM_SCHEDULERS.registerModule()
export class ReduceOnPlateauMomentum extends ReduceOnPlateauParamScheduler {
  constructor(options: ReduceOnPlateauMomentumOptions) {
    const opt = options.optimizer as SchedulerTarget | undefined;
    if (opt && opt.defaults && !('momentum' in opt.defaults)) {
      if (!('betas' in opt.defaults)) {
        throw new MmclsError('optimizer must support momentum when using momentum scheduler', { code: 'scheduler.no-param' });
      }
      for (const g of opt.paramGroups) if (Array.isArray(g.betas)) g.momentum = g.betas[0];
    }
    super({ ...options, param_name: 'momentum' });
  }
  override step(metrics?: { [name: string]: unknown }): void {
    super.step(metrics);
    if ('momentum' in this.optimizer.defaults || !('betas' in this.optimizer.defaults)) return;
    for (const g of this.optimizer.paramGroups) if (Array.isArray(g.betas)) g.betas = [g.momentum, g.betas[1]];
  }
}
