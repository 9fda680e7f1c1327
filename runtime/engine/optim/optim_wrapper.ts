import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { OPTIM_WRAPPERS, OPTIMIZERS } from '../../registry';
import { clipGradNormTensor, clipGradValue, parseNormType } from './clip_grad';
import { engineLog } from './logging';
import { Optimizer } from './optimizer';
import { GradMap, OptimizerStateDict, ParamGroup, StateValue } from './types';

/** `clip_grad` of an optimizer wrapper (`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_` arguments). */
export interface ClipGradConfig {
  /** `'norm'` (clip the total norm) or `'value'` (clamp each element). @default 'norm' */
  type?: 'norm' | 'value';
  /** Largest allowed total norm (type `'norm'`). */
  max_norm?: number;
  /** The p of the p-norm; `float('inf')` or `'inf'` for the largest absolute value. @default 2 */
  norm_type?: number | string;
  /** Largest allowed absolute value of a gradient element (type `'value'`). */
  clip_value?: number;
  /** Accepted for compatibility; non-finite norms are not an error. @default False */
  error_if_nonfinite?: boolean;
}

/** Options of `OptimWrapper`. */
export interface OptimWrapperOptions {
  /**
   * The optimizer to wrap: a built optimizer (what the optimizer-wrapper constructor passes) or
   * its config dict (then `params` must be inside it).
   */
  optimizer: Optimizer | { [key: string]: unknown };
  /** Accumulates gradients over this many iterations before each update (larger effective batch). @default 1 */
  accumulative_counts?: number;
  /** Gradient clipping, e.g. `dict(max_norm=35, norm_type=2)`; none when unset. @default None */
  clip_grad?: ClipGradConfig | null;
}

/** What a loss function given to `backward` / `updateParams` returns: the scalar loss to minimise. */
export type LossFn = () => tf.Scalar;

/**
 * The single-precision optimizer wrapper (MMEngine's `OptimWrapper`): it computes gradients of a
 * loss function with `tf.variableGrads`, accumulates them over `accumulative_counts` iterations
 * (the loss is divided by the number of iterations in the window, including a shorter last
 * window), clips them (`clip_grad`) and steps the optimizer.
 *
 * Per training iteration the runner calls `updateParams(lossFn)`; or, by hand,
 * `backward(lossFn)`, then `step()` and `zeroGrad()` when `shouldUpdate()`.
 */
@OPTIM_WRAPPERS.registerModule()
export class OptimWrapper {
  readonly optimizer: Optimizer;
  protected readonly accumulativeCounts: number;
  protected readonly clipGrad: ClipGradConfig | null;
  /** Accumulated gradients (owned by the wrapper until `zeroGrad`). */
  readonly grads: GradMap = new Map();
  protected innerCount = 0;
  protected maxCounts = -1;
  protected remainderCounts = -1;
  /** The total gradient norm before the last clipping, on the device until it is read. */
  protected lastGradNormTensor: tf.Scalar | undefined;
  private lastGradNormValue: number | undefined;

  /** The total gradient norm before the last clipping (`train/grad_norm` in MMEngine's logs); a synchronous read. */
  get lastGradNorm(): number | undefined {
    if (this.lastGradNormTensor) {
      this.lastGradNormValue = (this.lastGradNormTensor.dataSync() as Float32Array)[0];
      this.lastGradNormTensor.dispose();
      this.lastGradNormTensor = undefined;
    }
    return this.lastGradNormValue;
  }

  /**
   * The gradient norm of a clipping that has not been read yet, read asynchronously (every
   * backend, webgpu included); undefined when no clipping happened since the last read.
   */
  async readGradNorm(): Promise<number | undefined> {
    const t = this.lastGradNormTensor;
    if (!t) return undefined;
    this.lastGradNormTensor = undefined;
    try {
      this.lastGradNormValue = (await t.data() as Float32Array)[0];
    } finally {
      t.dispose();
    }
    return this.lastGradNormValue;
  }

  constructor(options: OptimWrapperOptions) {
    const opt = options.optimizer;
    if (opt instanceof Optimizer) this.optimizer = opt;
    else if (opt && typeof opt === 'object' && typeof (opt as { type?: unknown }).type === 'string') {
      this.optimizer = OPTIMIZERS.build<Optimizer>(opt);
    } else {
      throw new MmclsError('OptimWrapper: "optimizer" must be an optimizer or a dict(type=...)', { code: 'optim.invalid-arg' });
    }
    const acc = options.accumulative_counts ?? 1;
    if (!Number.isInteger(acc) || acc <= 0) {
      throw new MmclsError(`accumulative_counts must be a positive integer, got ${acc}`, { code: 'optim.invalid-arg' });
    }
    this.accumulativeCounts = acc;
    const clip = options.clip_grad ?? null;
    if (clip) {
      const type = clip.type ?? 'norm';
      if (type === 'norm') {
        if (typeof clip.max_norm !== 'number') {
          throw new MmclsError('clip_grad needs max_norm, e.g. clip_grad=dict(max_norm=35, norm_type=2)', { code: 'optim.invalid-arg' });
        }
        parseNormType(clip.norm_type ?? 2);
      } else if (type === 'value') {
        if (typeof clip.clip_value !== 'number') {
          throw new MmclsError("clip_grad with type='value' needs clip_value", { code: 'optim.invalid-arg' });
        }
      } else {
        throw new MmclsError(`clip_grad.type must be 'norm' or 'value', got ${JSON.stringify(type)}`, { code: 'optim.invalid-arg' });
      }
    }
    this.clipGrad = clip;
  }

  get paramGroups(): ParamGroup[] {
    return this.optimizer.paramGroups;
  }

  get defaults(): Record<string, unknown> {
    return this.optimizer.defaults;
  }

  /** How many `backward` calls have happened (MMEngine's `inner_count`). */
  get count(): number {
    return this.innerCount;
  }

  /** The variables that get gradients: trainable parameters of all groups, in order. */
  trainableVariables(): tf.Variable[] {
    const out: tf.Variable[] = [];
    for (const g of this.paramGroups) for (const p of g.params) if (p.variable.trainable) out.push(p.variable);
    return out;
  }

  /**
   * MMEngine's `initialize_count_status`: called by the train loop with the iteration it starts
   * at (non-zero when resuming) and the total number of iterations, so that the last, possibly
   * shorter, accumulation window scales its loss correctly.
   */
  initializeCountStatus(initCounts: number, maxCounts: number, hasBatchNorm = false): void {
    this.innerCount = initCounts;
    this.maxCounts = maxCounts;
    if (this.innerCount % this.accumulativeCounts !== 0) {
      engineLog(
        'warning',
        'Resumed iteration number is not divisible by accumulative_counts in OptimWrapper, ' +
          'which means the gradient of some iterations is lost and the result may be influenced slightly.',
      );
    }
    if (hasBatchNorm && this.accumulativeCounts > 1) {
      engineLog('warning', 'Gradient accumulation may slightly decrease performance because the model has BatchNorm layers.');
    }
    this.remainderCounts = this.maxCounts % this.accumulativeCounts;
  }

  /** The factor the loss of the current iteration is divided by (MMEngine's `scale_loss`). */
  lossFactor(): number {
    if (this.accumulativeCounts === 1) return 1;
    if (this.maxCounts === -1) return this.accumulativeCounts;
    if (this.innerCount < this.maxCounts - this.remainderCounts) return this.accumulativeCounts;
    const f = this.remainderCounts;
    if (f <= 0) throw new Error('loss_factor should be larger than zero');
    return f;
  }

  /** True after the `backward` that completes an accumulation window (or the last iteration). */
  shouldUpdate(): boolean {
    return this.innerCount % this.accumulativeCounts === 0 || this.innerCount === this.maxCounts;
  }

  /**
   * Computes the gradients of `lossFn()` (divided by the accumulation factor) and adds them to
   * the accumulated gradients. Returns the unscaled loss; the caller disposes it.
   */
  backward(lossFn: LossFn): tf.Scalar {
    const factor = this.lossFactor();
    const vars = this.trainableVariables();
    if (vars.length === 0) {
      throw new MmclsError('the optimizer has no trainable parameters', { code: 'optim.empty-params' });
    }
    let raw: tf.Scalar | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const loss = lossFn();
      if (factor === 1) return loss;
      raw = tf.keep(loss);
      return tf.div(loss, factor) as tf.Scalar;
    }, vars);
    const byName = new Map<string, tf.Variable>();
    for (const v of vars) byName.set(v.name, v);
    for (const [name, g] of Object.entries(grads)) {
      const v = byName.get(name);
      if (!v || !g) {
        g?.dispose();
        continue;
      }
      const prev = this.grads.get(v);
      if (prev) {
        this.grads.set(v, tf.add(prev, g));
        prev.dispose();
        g.dispose();
      } else {
        this.grads.set(v, g);
      }
    }
    this.innerCount += 1;
    if (raw !== null) {
      value.dispose();
      return raw;
    }
    return value;
  }

  /** Clips the accumulated gradients (if configured) and applies the optimizer. */
  step(): void {
    if (this.clipGrad && this.grads.size > 0) {
      if ((this.clipGrad.type ?? 'norm') === 'norm') {
        this.lastGradNormTensor?.dispose();
        this.lastGradNormTensor = clipGradNormTensor(this.grads, this.clipGrad.max_norm as number, this.clipGrad.norm_type ?? 2);
      } else {
        clipGradValue(this.grads, this.clipGrad.clip_value as number);
      }
    }
    this.optimizer.step(this.grads);
  }

  /** Drops the accumulated gradients. */
  zeroGrad(): void {
    for (const g of this.grads.values()) g.dispose();
    this.grads.clear();
    this.optimizer.zeroGrad();
  }

  /**
   * One training iteration's update (MMEngine's `update_params`): backward, and at the end of an
   * accumulation window step and zero the gradients. Returns the unscaled loss (caller disposes).
   */
  updateParams(lossFn: LossFn): tf.Scalar {
    const loss = this.backward(lossFn);
    if (this.shouldUpdate()) {
      this.step();
      this.zeroGrad();
    }
    return loss;
  }

  /** Learning rates of all groups: `{lr: [...]}` as MMEngine logs them. */
  getLr(): { lr: number[] } {
    return { lr: this.paramGroups.map((g) => g.lr) };
  }

  /** Momentum of all groups (`betas[0]` for Adam-style optimizers, 0 when there is none). */
  getMomentum(): { momentum: number[] } {
    return {
      momentum: this.paramGroups.map((g) => {
        if (typeof g.momentum === 'number') return g.momentum;
        if (Array.isArray(g.betas) && typeof g.betas[0] === 'number') return g.betas[0];
        return 0;
      }),
    };
  }

  stateDict(): OptimizerStateDict {
    return this.optimizer.stateDict();
  }

  /** {@link stateDict} after reading the optimizer state back asynchronously (every backend, webgpu included). */
  async stateDictAsync(): Promise<OptimizerStateDict> {
    await this.optimizer.prefetchState();
    return this.stateDict();
  }

  loadStateDict(sd: OptimizerStateDict): void {
    this.optimizer.loadStateDict(sd);
  }

  /** Frees gradients and optimizer state. */
  dispose(): void {
    this.lastGradNormTensor?.dispose();
    this.lastGradNormTensor = undefined;
    this.zeroGrad();
    this.optimizer.dispose();
  }
}

/** Options of `AmpOptimWrapper`. */
export interface AmpOptimWrapperOptions extends OptimWrapperOptions {
  /** Loss scaling: `'dynamic'`, a fixed number, or a dict of GradScaler arguments. @default 'dynamic' */
  loss_scale?: 'dynamic' | number | { [key: string]: number };
  /** The low-precision dtype (`'float16'` or `'bfloat16'`). @default None */
  dtype?: 'float16' | 'bfloat16' | null;
}

/**
 * Whether mixed precision can run on a TensorFlow.js backend. TensorFlow.js tensors have no
 * float16/bfloat16 dtype on any backend, so the answer is always no, with the reason.
 */
export function mixedPrecisionSupport(backend: string = tf.getBackend() ?? 'unknown'): { supported: boolean; reason: string } {
  return {
    supported: false,
    reason: `the TensorFlow.js '${backend}' backend has no float16 tensors`,
  };
}

/**
 * The mixed-precision optimizer wrapper (MMEngine's `AmpOptimWrapper`, `--amp`). Where the backend
 * cannot compute in float16 (every TensorFlow.js backend today) it says so once at start and
 * trains in float32 exactly like `OptimWrapper`; `amp` tells callers which happened.
 */
@OPTIM_WRAPPERS.registerModule()
export class AmpOptimWrapper extends OptimWrapper {
  /** Whether mixed precision is in use, and if not, why. */
  readonly amp: { active: boolean; reason: string; dtype: string };
  private readonly lossScale: AmpOptimWrapperOptions['loss_scale'];

  constructor(options: AmpOptimWrapperOptions) {
    super(options);
    this.lossScale = options.loss_scale ?? 'dynamic';
    const dtype = options.dtype ?? 'float16';
    if (dtype !== 'float16' && dtype !== 'bfloat16') {
      throw new MmclsError(`AmpOptimWrapper: dtype must be 'float16' or 'bfloat16', got ${JSON.stringify(dtype)}`, {
        code: 'optim.invalid-arg',
      });
    }
    const support = mixedPrecisionSupport();
    this.amp = { active: support.supported, reason: support.reason, dtype: support.supported ? dtype : 'float32' };
    if (!support.supported) {
      engineLog('warning', `AmpOptimWrapper: mixed precision is not available (${support.reason}); training in float32.`);
    }
  }

  /** Adds `loss_scaler` as MMEngine does, so checkpoints keep the same keys. */
  override stateDict(): OptimizerStateDict {
    const sd = super.stateDict();
    const scale = typeof this.lossScale === 'number' ? this.lossScale : 65536.0;
    const scaler: { [key: string]: StateValue } = {
      scale,
      growth_factor: 2.0,
      backoff_factor: 0.5,
      growth_interval: 2000,
      _growth_tracker: 0,
    };
    return { ...sd, loss_scaler: scaler };
  }

  override loadStateDict(sd: OptimizerStateDict): void {
    const { loss_scaler: _ignored, ...rest } = sd;
    super.loadStateDict(rest as OptimizerStateDict);
  }
}
