import { MmclsError } from '../../errors';
import { PARAM_SCHEDULERS } from '../../registry';
import { engineLog } from '../optim/logging';

/** MMEngine's `INF`: the default `end` of a scheduler built outside a runner. */
export const INF = 1_000_000_000;

/** A parameter group as schedulers see it: hyper-parameters by PyTorch name. */
export type SchedulerGroup = { [key: string]: unknown };

/**
 * What a scheduler adjusts: an optimizer or optimizer wrapper (anything with `paramGroups` and
 * `defaults`). Supplied by the runner as `optimizer`.
 */
export interface SchedulerTarget {
  paramGroups: SchedulerGroup[];
  defaults: { [key: string]: unknown };
}

/** Options every parameter scheduler has (MMEngine's `_ParamScheduler`). */
export interface SchedulerBaseOptions {
  /**
   * The optimizer (wrapper) whose parameter groups are scheduled. Supplied by the runner; not written in configs.
   * @injected
   */
  optimizer?: SchedulerTarget;
  /** Step at which the scheduler starts updating (in epochs when `by_epoch`, else iterations). @default 0 */
  begin?: number;
  /** Step at which it stops (exclusive). The runner's default is `max_epochs` / `max_iters`. @default INF */
  end?: number;
  /** The index of the last step, for resuming without a state dict. @default -1 */
  last_step?: number;
  /** Whether `begin`, `end` and the schedule count epochs (True) or iterations (False). @default True */
  by_epoch?: boolean;
  /** Logs the value at each update. @default False */
  verbose?: boolean;
  /** For an epoch-based scheduler: convert it to update every iteration (units stay epochs in the config). @default False */
  convert_to_iter_based?: boolean;
}

/** Options of the generic schedulers that name the hyper-parameter they schedule. */
export interface ParamNameOption {
  /** The hyper-parameter to schedule, e.g. `'lr'`, `'momentum'`, `'weight_decay'`. */
  param_name: string;
}

export type SchedulerState = { [key: string]: unknown };

/**
 * What the runner holds for each `param_scheduler` entry: `ParamScheduler` subclasses and the
 * ReduceOnPlateau schedulers (which also take validation metrics when `need_val_args`).
 */
export interface ParamSchedulerLike {
  readonly by_epoch: boolean;
  readonly need_val_args?: boolean;
  /** After a training epoch/iteration: no argument. After validation (need_val_args only): the metrics. */
  step(metrics?: { [name: string]: unknown }): void;
  getLastValue(): number[];
  stateDict(): SchedulerState;
  loadStateDict(state: SchedulerState): void;
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && !Number.isNaN(v);
}

/**
 * The base of parameter schedulers (MMEngine's `_ParamScheduler`). Built once (which applies the
 * value for step 0) and then `step()`ped after every epoch (`by_epoch`) or iteration. Within
 * `[begin, end)` each step calls the chainable `getValue()` that derives the new value from the
 * current one in the group, so overlapping schedulers compose in config order. Field names are
 * MMEngine's so that `stateDict()` has MMEngine's keys.
 */
export abstract class ParamScheduler implements ParamSchedulerLike {
  readonly optimizer: SchedulerTarget;
  param_name: string;
  begin: number;
  end: number;
  by_epoch: boolean;
  verbose: boolean;
  base_values: number[];
  last_step: number;
  _global_step = -1;
  _last_value: number[] = [];

  /** Keys of the options that are counted in epochs (scaled by `convert_to_iter_based`). */
  static readonly epochScaledKeys: readonly string[] = [];

  constructor(options: SchedulerBaseOptions & ParamNameOption) {
    const optimizer = options.optimizer as SchedulerTarget;
    if (!optimizer || !Array.isArray(optimizer.paramGroups)) {
      throw new MmclsError(`${this.constructor.name}: "optimizer" must be an optimizer or optimizer wrapper`, {
        code: 'scheduler.invalid-arg',
      });
    }
    this.optimizer = optimizer;
    this.param_name = options.param_name;
    const begin = options.begin ?? 0;
    const end = options.end ?? INF;
    if (end <= begin) {
      throw new MmclsError(`${this.constructor.name}: end should be larger than begin, but got begin=${begin}, end=${end}`, {
        code: 'scheduler.invalid-arg',
      });
    }
    this.begin = begin;
    this.end = end;
    this.by_epoch = options.by_epoch ?? true;
    this.verbose = options.verbose ?? false;
    const lastStep = options.last_step ?? -1;
    if (!Number.isInteger(lastStep) || lastStep < -1) {
      throw new MmclsError(`${this.constructor.name}: last_step must be an integer >= -1, got ${lastStep}`, { code: 'scheduler.invalid-arg' });
    }
    const key = `initial_${this.param_name}`;
    this.optimizer.paramGroups.forEach((group, i) => {
      if (lastStep === -1) {
        if (!(key in group)) {
          if (!isNum(group[this.param_name])) {
            throw new MmclsError(
              `${this.constructor.name}: parameter group ${i} has no "${this.param_name}" to schedule`,
              { code: 'scheduler.no-param' },
            );
          }
          group[key] = group[this.param_name];
        }
      } else if (!(key in group)) {
        throw new MmclsError(`param '${key}' is not specified in param_groups[${i}] when resuming an optimizer`, {
          code: 'scheduler.resume',
        });
      }
    });
    this.base_values = this.optimizer.paramGroups.map((g) => g[key] as number);
    this.last_step = lastStep;
  }

  /** Current values of the scheduled hyper-parameter, one per group. */
  protected current(): number[] {
    return this.optimizer.paramGroups.map((g) => g[this.param_name] as number);
  }

  /** The chainable form: the next values from the current ones (MMEngine's `_get_value`). */
  protected abstract getValue(): number[];

  /** Advances one epoch or iteration and writes the value into the groups when in `[begin, end)`. */
  step(): void {
    this._global_step += 1;
    if (this.begin <= this._global_step && this._global_step < this.end) {
      this.last_step += 1;
      const values = this.getValue();
      this.optimizer.paramGroups.forEach((group, i) => {
        group[this.param_name] = values[i];
        if (this.verbose) engineLog('info', `Adjusting parameter value of group ${i} to ${values[i].toExponential(4)}.`);
      });
    }
    this._last_value = this.current();
  }

  /** The value of each group after the last step. */
  getLastValue(): number[] {
    return this._last_value;
  }

  /** Every field except the optimizer, with MMEngine's names (plain JSON). */
  stateDict(): SchedulerState {
    const out: SchedulerState = {};
    for (const [k, v] of Object.entries(this)) {
      if (k === 'optimizer' || typeof v === 'function') continue;
      out[k] = JSON.parse(JSON.stringify(v === Infinity ? null : v));
    }
    return out;
  }

  /** Restores the fields `stateDict()` wrote (MMEngine's `__dict__.update`). */
  loadStateDict(state: SchedulerState): void {
    for (const [k, v] of Object.entries(state)) {
      if (k === 'optimizer' || !(k in this)) continue;
      (this as unknown as Record<string, unknown>)[k] = v;
    }
  }
}

/** `begin` and `end` in iterations, as `build_iter_from_epoch` converts them. */
export function convertRange<T extends { begin?: number; end?: number }>(o: T, epochLength: number): T {
  const out = { ...o };
  out.begin = Math.trunc((o.begin ?? 0) * epochLength);
  if (o.end !== undefined && o.end !== INF) out.end = Math.trunc(o.end * epochLength);
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Options of the Step schedule (shared by `StepParamScheduler` and its LR / momentum forms). */
export interface StepScheduleOptions extends SchedulerBaseOptions {
  /** Period of decay, in steps (epochs when `by_epoch`). */
  step_size: number;
  /** Multiplicative factor of decay. @default 0.1 */
  gamma?: number;
}

/** Options of `StepParamScheduler`. */
export interface StepParamSchedulerOptions extends StepScheduleOptions, ParamNameOption {}

/** Decays the parameter by `gamma` every `step_size` steps. */
@PARAM_SCHEDULERS.registerModule()
export class StepParamScheduler extends ParamScheduler {
  static override readonly epochScaledKeys = ['step_size'];
  step_size: number;
  gamma: number;
  constructor(options: StepParamSchedulerOptions) {
    super(options);
    this.step_size = options.step_size;
    this.gamma = options.gamma ?? 0.1;
    if (!(this.step_size > 0)) throw new MmclsError(`step_size must be positive, got ${options.step_size}`, { code: 'scheduler.invalid-arg' });
    this.step();
  }
  protected getValue(): number[] {
    if (this.last_step === 0 || this.last_step % this.step_size !== 0) return this.current();
    return this.current().map((v) => v * this.gamma);
  }
}

/** Options of the MultiStep schedule (shared by `MultiStepParamScheduler` and its LR / momentum forms). */
export interface MultiStepScheduleOptions extends SchedulerBaseOptions {
  /** Steps (counted from `begin`) at which the parameter is multiplied by `gamma`. */
  milestones: number[];
  /** Multiplicative factor of decay. @default 0.1 */
  gamma?: number;
}

/** Options of `MultiStepParamScheduler`. */
export interface MultiStepParamSchedulerOptions extends MultiStepScheduleOptions, ParamNameOption {}

/** Decays the parameter by `gamma` at each milestone. */
@PARAM_SCHEDULERS.registerModule()
export class MultiStepParamScheduler extends ParamScheduler {
  static override readonly epochScaledKeys = ['milestones'];
  /** Milestone → how many times it is listed (Python's `Counter`). */
  milestones: { [step: string]: number };
  gamma: number;
  constructor(options: MultiStepParamSchedulerOptions) {
    super(options);
    if (!Array.isArray(options.milestones)) {
      throw new MmclsError('milestones must be a list of steps', { code: 'scheduler.invalid-arg' });
    }
    this.milestones = {};
    for (const m of options.milestones) this.milestones[String(m)] = (this.milestones[String(m)] ?? 0) + 1;
    this.gamma = options.gamma ?? 0.1;
    this.step();
  }
  protected getValue(): number[] {
    const n = this.milestones[String(this.last_step)];
    if (!n) return this.current();
    return this.current().map((v) => v * Math.pow(this.gamma, n));
  }
}

/** Options of the Constant schedule (shared by `ConstantParamScheduler` and its LR / momentum forms). */
export interface ConstantScheduleOptions extends SchedulerBaseOptions {
  /** Multiplies the parameter until `end` (between 0 and 1). @default 0.3333333333333333 */
  factor?: number;
}

/** Options of `ConstantParamScheduler`. */
export interface ConstantParamSchedulerOptions extends ConstantScheduleOptions, ParamNameOption {}

/** Multiplies the parameter by a constant `factor` from `begin` until `end`. */
@PARAM_SCHEDULERS.registerModule()
export class ConstantParamScheduler extends ParamScheduler {
  factor: number;
  total_iters: number;
  constructor(options: ConstantParamSchedulerOptions) {
    super(options);
    const factor = options.factor ?? 1.0 / 3;
    if (factor > 1.0 || factor < 0) {
      throw new MmclsError('Constant multiplicative factor should between 0 and 1.', { code: 'scheduler.invalid-arg' });
    }
    this.factor = factor;
    this.total_iters = this.end - this.begin - 1;
    this.step();
  }
  protected getValue(): number[] {
    if (this.last_step === 0) return this.current().map((v) => v * this.factor);
    if (this.last_step > this.total_iters || this.last_step !== this.total_iters) return this.current();
    return this.current().map((v) => v * (1.0 / this.factor));
  }
}

/** Options of the Exponential schedule (shared by `ExponentialParamScheduler` and its LR / momentum forms). */
export interface ExponentialScheduleOptions extends SchedulerBaseOptions {
  /** Multiplicative factor of decay per step. */
  gamma: number;
}

/** Options of `ExponentialParamScheduler`. */
export interface ExponentialParamSchedulerOptions extends ExponentialScheduleOptions, ParamNameOption {}

/** Multiplies the parameter by `gamma` every step. */
@PARAM_SCHEDULERS.registerModule()
export class ExponentialParamScheduler extends ParamScheduler {
  gamma: number;
  constructor(options: ExponentialParamSchedulerOptions) {
    super(options);
    this.gamma = options.gamma;
    if (typeof this.gamma !== 'number') throw new MmclsError('gamma is required', { code: 'scheduler.invalid-arg' });
    this.step();
  }
  protected getValue(): number[] {
    if (this.last_step === 0) return this.current();
    return this.current().map((v) => v * this.gamma);
  }
}

/** Options of the CosineAnnealing schedule (shared by `CosineAnnealingParamScheduler` and its LR / momentum forms). */
export interface CosineAnnealingScheduleOptions extends SchedulerBaseOptions {
  /** Steps of a half cosine period; `end - begin` when unset. @default None */
  T_max?: number | null;
  /** Smallest value (0 when neither it nor `eta_min_ratio` is set). @default None */
  eta_min?: number | null;
  /** Smallest value as a ratio of the starting value (instead of `eta_min`). @default None */
  eta_min_ratio?: number | null;
}

/** Options of `CosineAnnealingParamScheduler`. */
export interface CosineAnnealingParamSchedulerOptions extends CosineAnnealingScheduleOptions, ParamNameOption {}

/**
 * Cosine annealing from the starting value to `eta_min` over `T_max` steps (SGDR without
 * restarts), in MMEngine's recursive (chainable) form.
 */
@PARAM_SCHEDULERS.registerModule()
export class CosineAnnealingParamScheduler extends ParamScheduler {
  static override readonly epochScaledKeys = ['T_max'];
  T_max: number;
  eta_min: number | null;
  eta_min_ratio: number | null;
  constructor(options: CosineAnnealingParamSchedulerOptions) {
    super(options);
    let etaMin = options.eta_min ?? null;
    const ratio = options.eta_min_ratio ?? null;
    if (etaMin === null && ratio === null) etaMin = 0;
    if ((etaMin === null) === (ratio === null)) {
      throw new MmclsError('Either `eta_min` or `eta_min_ratio should be specified', { code: 'scheduler.invalid-arg' });
    }
    this.T_max = options.T_max || this.end - this.begin;
    this.eta_min = etaMin;
    this.eta_min_ratio = ratio;
    this.step();
  }
  private etaMinFor(base: number): number {
    return this.eta_min_ratio === null ? (this.eta_min as number) : base * this.eta_min_ratio;
  }
  protected getValue(): number[] {
    const cur = this.current();
    if (this.last_step === 0) return cur;
    const T = this.T_max;
    if ((((this.last_step - 1 - T) % (2 * T)) + 2 * T) % (2 * T) === 0) {
      return cur.map((v, i) => {
        const base = this.base_values[i];
        return v + ((base - this.etaMinFor(base)) * (1 - Math.cos(Math.PI / T))) / 2;
      });
    }
    return cur.map((v, i) => {
      const etaMin = this.etaMinFor(this.base_values[i]);
      return ((1 + Math.cos((Math.PI * this.last_step) / T)) / (1 + Math.cos((Math.PI * (this.last_step - 1)) / T))) * (v - etaMin) + etaMin;
    });
  }
}

/** Options of the Linear schedule (shared by `LinearParamScheduler` and its LR / momentum forms). */
export interface LinearScheduleOptions extends SchedulerBaseOptions {
  /** Factor applied at the first step, between 0 and 1. @default 0.3333333333333333 */
  start_factor?: number;
  /** Factor reached at the last step (`end - 1`), between 0 and 1. @default 1.0 */
  end_factor?: number;
}

/** Options of `LinearParamScheduler`. */
export interface LinearParamSchedulerOptions extends LinearScheduleOptions, ParamNameOption {}

/** Changes the parameter's factor linearly from `start_factor` to `end_factor` over `[begin, end)` (warm-up). */
@PARAM_SCHEDULERS.registerModule()
export class LinearParamScheduler extends ParamScheduler {
  start_factor: number;
  end_factor: number;
  total_iters: number;
  constructor(options: LinearParamSchedulerOptions) {
    super(options);
    const s = options.start_factor ?? 1.0 / 3;
    const e = options.end_factor ?? 1.0;
    if (s > 1.0 || s < 0) throw new MmclsError('Starting multiplicative factor should between 0 and 1.', { code: 'scheduler.invalid-arg' });
    if (e > 1.0 || e < 0) throw new MmclsError('Ending multiplicative factor should between 0 and 1.', { code: 'scheduler.invalid-arg' });
    this.start_factor = s;
    this.end_factor = e;
    this.total_iters = this.end - this.begin - 1;
    this.step();
  }
  protected getValue(): number[] {
    if (this.last_step === 0) return this.current().map((v) => v * this.start_factor);
    const d = this.end_factor - this.start_factor;
    return this.current().map((v) => v * (1 + d / (this.total_iters * this.start_factor + (this.last_step - 1) * d)));
  }
}

/** Options of the Poly schedule (shared by `PolyParamScheduler` and its LR / momentum forms). */
export interface PolyScheduleOptions extends SchedulerBaseOptions {
  /** Value reached at the end. @default 0 */
  eta_min?: number;
  /** Power of the polynomial. @default 1.0 */
  power?: number;
}

/** Options of `PolyParamScheduler`. */
export interface PolyParamSchedulerOptions extends PolyScheduleOptions, ParamNameOption {}

/** Polynomial decay of the parameter to `eta_min` at `end - 1`. */
@PARAM_SCHEDULERS.registerModule()
export class PolyParamScheduler extends ParamScheduler {
  eta_min: number;
  power: number;
  total_iters: number;
  constructor(options: PolyParamSchedulerOptions) {
    super(options);
    this.eta_min = options.eta_min ?? 0;
    this.power = options.power ?? 1.0;
    this.total_iters = this.end - this.begin - 1;
    this.step();
  }
  protected getValue(): number[] {
    if (this.last_step === 0) return this.current();
    const f = Math.pow(1 - 1 / (this.total_iters - this.last_step + 1), this.power);
    return this.current().map((v) => (v - this.eta_min) * f + this.eta_min);
  }
}

/** Options of the OneCycle schedule (shared by `OneCycleParamScheduler` and its LR / momentum forms). */
export interface OneCycleScheduleOptions extends SchedulerBaseOptions {
  /** Largest value of the cycle (one number, or one per parameter group). @default 0 */
  eta_max?: number | number[];
  /** Steps in the cycle; `end - begin` when unset. @default None */
  total_steps?: number | null;
  /** Fraction of the cycle spent increasing the value. @default 0.3 */
  pct_start?: number;
  /** `'cos'` or `'linear'` annealing. @default 'cos' */
  anneal_strategy?: 'cos' | 'linear';
  /** The starting value is `eta_max / div_factor`. @default 25.0 */
  div_factor?: number;
  /** The final value is the starting value `/ final_div_factor`. @default 10000.0 */
  final_div_factor?: number;
  /** Three phases (up, down to the start, then to the minimum) as in the original paper. @default False */
  three_phase?: boolean;
}

/** Options of `OneCycleParamScheduler`. */
export interface OneCycleParamSchedulerOptions extends OneCycleScheduleOptions, ParamNameOption {}

interface Phase {
  end_step: number;
  start: string;
  end: string;
}

/** The 1cycle policy (Super-Convergence): up to `eta_max`, then down far below the start. Not chainable. */
@PARAM_SCHEDULERS.registerModule()
export class OneCycleParamScheduler extends ParamScheduler {
  static override readonly epochScaledKeys = ['total_steps'];
  eta_max: number | number[];
  div_factor: number;
  final_div_factor: number;
  total_steps: number;
  anneal_strategy: 'cos' | 'linear';
  _schedule_phases: Phase[];
  constructor(options: OneCycleParamSchedulerOptions) {
    if (options.param_name !== 'lr') {
      throw new MmclsError(`OneCycle only works for learning rate updating, but got param_name as ${options.param_name}`, {
        code: 'scheduler.invalid-arg',
      });
    }
    super(options);
    const lastStep = options.last_step ?? -1;
    this.eta_max = options.eta_max ?? 0;
    this.div_factor = options.div_factor ?? 25;
    this.final_div_factor = options.final_div_factor ?? 1e4;
    const total = options.total_steps ?? null;
    if (total !== null) {
      if (!(total > 0) || !Number.isInteger(total)) {
        throw new MmclsError(`Expected positive integer total_steps, but got ${total}`, { code: 'scheduler.invalid-arg' });
      }
      this.total_steps = total;
    } else {
      this.total_steps = this.end - this.begin;
    }
    const pct = options.pct_start ?? 0.3;
    if (pct < 0 || pct > 1) throw new MmclsError(`Expected float between 0 and 1 pct_start, but got ${pct}`, { code: 'scheduler.invalid-arg' });
    const strat = options.anneal_strategy ?? 'cos';
    if (strat !== 'cos' && strat !== 'linear') {
      throw new MmclsError(`anneal_strategy must by one of "cos" or "linear", instead got ${strat}`, { code: 'scheduler.invalid-arg' });
    }
    this.anneal_strategy = strat;
    const n = this.param_name;
    this._schedule_phases = options.three_phase
      ? [
          { end_step: pct * this.total_steps - 1, start: `initial_${n}`, end: `max_${n}` },
          { end_step: 2 * pct * this.total_steps - 2, start: `max_${n}`, end: `initial_${n}` },
          { end_step: this.total_steps - 1, start: `initial_${n}`, end: `min_${n}` },
        ]
      : [
          { end_step: pct * this.total_steps - 1, start: `initial_${n}`, end: `max_${n}` },
          { end_step: this.total_steps - 1, start: `max_${n}`, end: `min_${n}` },
        ];
    const groups = this.optimizer.paramGroups;
    let maxValues: number[];
    if (Array.isArray(this.eta_max)) {
      if (this.eta_max.length !== groups.length) {
        throw new MmclsError(`expected ${groups.length} values for max_${n}, got ${this.eta_max.length}`, { code: 'scheduler.invalid-arg' });
      }
      maxValues = this.eta_max;
    } else {
      maxValues = groups.map(() => this.eta_max as number);
    }
    if (lastStep === -1) {
      groups.forEach((g, i) => {
        g[`initial_${n}`] = maxValues[i] / this.div_factor;
        g[`max_${n}`] = maxValues[i];
        g[`min_${n}`] = (g[`initial_${n}`] as number) / this.final_div_factor;
      });
      this.base_values = groups.map((g) => g[`initial_${n}`] as number);
    }
    this.step();
  }

  private anneal(start: number, end: number, pct: number): number {
    if (this.anneal_strategy === 'cos') return end + ((start - end) / 2.0) * (Math.cos(Math.PI * pct) + 1);
    return (end - start) * pct + start;
  }

  protected getValue(): number[] {
    const stepNum = this.last_step;
    if (stepNum > this.total_steps) {
      throw new MmclsError(`Tried to step ${stepNum + 1} times. The specified number of total steps is ${this.total_steps}`, {
        code: 'scheduler.overrun',
      });
    }
    return this.optimizer.paramGroups.map((g) => {
      let startStep = 0;
      const phases = this._schedule_phases;
      for (let i = 0; i < phases.length; i++) {
        const endStep = phases[i].end_step;
        if (stepNum <= endStep || i === phases.length - 1) {
          const pct = (stepNum - startStep) / (endStep - startStep);
          return this.anneal(g[phases[i].start] as number, g[phases[i].end] as number, pct);
        }
        startStep = phases[i].end_step;
      }
      return g[this.param_name] as number;
    });
  }
}

/** Options of the CosineRestart schedule (shared by `CosineRestartParamScheduler` and its LR / momentum forms). */
export interface CosineRestartScheduleOptions extends SchedulerBaseOptions {
  /** Length of each cosine cycle, in steps. */
  periods: number[];
  /** The peak of each cycle as a fraction of the starting value. @default (1, ) */
  restart_weights?: number[];
  /** Smallest value. @default None */
  eta_min?: number | null;
  /** Smallest value as a ratio of the starting value. @default None */
  eta_min_ratio?: number | null;
}

/** Options of `CosineRestartParamScheduler`. */
export interface CosineRestartParamSchedulerOptions extends CosineRestartScheduleOptions, ParamNameOption {}

/** Cosine annealing with restarts: one cosine cycle per entry of `periods`, each restarting at `base * restart_weight`. */
@PARAM_SCHEDULERS.registerModule()
export class CosineRestartParamScheduler extends ParamScheduler {
  static override readonly epochScaledKeys = ['periods'];
  periods: number[];
  restart_weights: number[];
  eta_min: number | null;
  eta_min_ratio: number | null;
  cumulative_periods: number[];
  constructor(options: CosineRestartParamSchedulerOptions) {
    super(options);
    const etaMin = options.eta_min ?? null;
    const ratio = options.eta_min_ratio ?? null;
    if ((etaMin === null) === (ratio === null)) {
      throw new MmclsError('CosineRestart: set exactly one of eta_min and eta_min_ratio', { code: 'scheduler.invalid-arg' });
    }
    this.periods = [...options.periods];
    this.restart_weights = [...(options.restart_weights ?? [1])];
    if (this.periods.length !== this.restart_weights.length) {
      throw new MmclsError('periods and restart_weights should have the same length.', { code: 'scheduler.invalid-arg' });
    }
    this.eta_min = etaMin;
    this.eta_min_ratio = ratio;
    let acc = 0;
    this.cumulative_periods = this.periods.map((p) => (acc += p));
    this.step();
  }
  protected getValue(): number[] {
    const idx = this.cumulative_periods.findIndex((p) => this.last_step < p);
    if (idx < 0) return this.current();
    const weight = this.restart_weights[idx];
    const nearest = idx === 0 ? 0 : this.cumulative_periods[idx - 1];
    const period = this.periods[idx];
    const step = this.last_step - nearest;
    return this.current().map((v, i) => {
      const base = this.base_values[i];
      const etaMax = base * weight;
      const etaMin = this.eta_min_ratio === null ? (this.eta_min as number) : base * this.eta_min_ratio;
      if (step === 0) return etaMax;
      return ((1 + Math.cos((Math.PI * step) / period)) / (1 + Math.cos((Math.PI * (step - 1)) / period))) * (v - etaMin) + etaMin;
    });
  }
}
