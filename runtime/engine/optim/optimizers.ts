import * as tf from '@tensorflow/tfjs-core';
import { OPTIMIZERS } from '../../registry';
import { MmclsError } from '../../errors';
import { Optimizer, checkRange } from './optimizer';
import { GradMap, NamedParam, ParamGroup, ParamsInput, groupNumber } from './types';

type Items = Array<{ param: NamedParam; grad: tf.Tensor }>;

function betasOf(group: ParamGroup, who: string): [number, number] {
  const b = group.betas;
  if (!Array.isArray(b) || b.length !== 2 || typeof b[0] !== 'number' || typeof b[1] !== 'number') {
    throw new MmclsError(`${who}: betas must be a pair of numbers, got ${JSON.stringify(b)}`, { code: 'optim.invalid-arg' });
  }
  return [b[0], b[1]];
}

/** The options every optimizer takes: its parameters, which the optimizer-wrapper constructor supplies. */
export interface OptimizerBaseOptions {
  /**
   * Parameters or parameter groups to optimise. Supplied by the optimizer-wrapper constructor from
   * the model (and `paramwise_cfg`); not written in configs.
   * @injected
   */
  params?: ParamsInput;
}

/** Options of `SGD` (torch.optim.SGD). */
export interface SGDOptions extends OptimizerBaseOptions {
  /** Learning rate. */
  lr: number;
  /** Momentum factor. @default 0 */
  momentum?: number;
  /** Dampening for momentum. @default 0 */
  dampening?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
  /** Enables Nesterov momentum (needs momentum > 0 and dampening = 0). @default False */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent, optionally with momentum (torch.optim.SGD): with weight decay
 * `d = g + wd*p`; `buf = momentum*buf + (1-dampening)*d` (the first step `buf = d`);
 * `d = d + momentum*buf` for Nesterov, else `d = buf`; `p -= lr*d`.
 */
@OPTIMIZERS.registerModule()
export class SGD extends Optimizer {
  constructor(options: SGDOptions) {
    const d = {
      lr: options.lr,
      momentum: options.momentum ?? 0,
      dampening: options.dampening ?? 0,
      weight_decay: options.weight_decay ?? 0,
      nesterov: options.nesterov ?? false,
    };
    if (typeof d.lr !== 'number') throw new MmclsError('SGD: lr is required (e.g. optimizer=dict(type="SGD", lr=0.01))', { code: 'optim.invalid-arg' });
    checkRange('SGD', 'learning rate', d.lr, d.lr >= 0);
    checkRange('SGD', 'momentum', d.momentum, d.momentum >= 0);
    checkRange('SGD', 'weight_decay', d.weight_decay, d.weight_decay >= 0);
    if (d.nesterov && (d.momentum <= 0 || d.dampening !== 0)) {
      throw new MmclsError('SGD: Nesterov momentum requires a momentum and zero dampening', { code: 'optim.invalid-arg' });
    }
    super(options.params, d);
  }

  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const momentum = groupNumber(group, 'momentum');
    const dampening = groupNumber(group, 'dampening');
    const wd = groupNumber(group, 'weight_decay');
    const nesterov = Boolean(group.nesterov);
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        let dp: tf.Tensor = grad;
        if (wd !== 0) dp = tf.add(dp, tf.mul(p, wd));
        const state: { [k: string]: tf.Tensor } = {};
        if (momentum !== 0) {
          const prev = st.momentum_buffer;
          const buf = prev instanceof tf.Tensor ? tf.add(tf.mul(prev, momentum), tf.mul(dp, 1 - dampening)) : tf.clone(dp);
          state.momentum_buffer = buf;
          dp = nesterov ? tf.add(dp, tf.mul(buf, momentum)) : buf;
        }
        return { param: tf.sub(p, tf.mul(dp, lr)), state };
      });
    }
  }
}

/** Options of `Adam` (torch.optim.Adam). */
export interface AdamOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square. @default (0.9, 0.999) */
  betas?: [number, number];
  /** Term added to the denominator for numerical stability. @default 1e-08 */
  eps?: number;
  /** Weight decay (L2 penalty, added to the gradient). @default 0 */
  weight_decay?: number;
  /** Uses the AMSGrad variant (the maximum of past squared-gradient averages). @default False */
  amsgrad?: boolean;
}

function adamDefaults(who: string, options: AdamOptions, wdDefault: number): Record<string, unknown> {
  const d = {
    lr: options.lr ?? 0.001,
    betas: options.betas ? [...options.betas] : [0.9, 0.999],
    eps: options.eps ?? 1e-8,
    weight_decay: options.weight_decay ?? wdDefault,
    amsgrad: options.amsgrad ?? false,
  };
  checkRange(who, 'learning rate', d.lr, d.lr >= 0);
  checkRange(who, 'epsilon value', d.eps, d.eps >= 0);
  checkRange(who, 'beta parameter at index 0', d.betas[0], d.betas[0] >= 0 && d.betas[0] < 1);
  checkRange(who, 'beta parameter at index 1', d.betas[1], d.betas[1] >= 0 && d.betas[1] < 1);
  checkRange(who, 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
  return d;
}

/** The Adam step shared by Adam and AdamW; `decoupled` selects AdamW's decay `p *= 1 - lr*wd`. */
export abstract class AdamBase extends Optimizer {
  protected abstract readonly decoupled: boolean;

  protected updateGroup(group: ParamGroup, items: Items): void {
    const decoupled = this.decoupled;
    const who = this.constructor.name;
    const lr = groupNumber(group, 'lr');
    const [beta1, beta2] = betasOf(group, who);
    const eps = groupNumber(group, 'eps');
    const wd = groupNumber(group, 'weight_decay');
    const amsgrad = Boolean(group.amsgrad);
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        const step = (typeof st.step === 'number' ? st.step : 0) + 1;
        st.step = step;
        let pv: tf.Tensor = p;
        let g: tf.Tensor = grad;
        if (wd !== 0) {
          if (decoupled) pv = tf.mul(pv, 1 - lr * wd);
          else g = tf.add(g, tf.mul(pv, wd));
        }
        const m0 = st.exp_avg instanceof tf.Tensor ? st.exp_avg : tf.zerosLike(p);
        const v0 = st.exp_avg_sq instanceof tf.Tensor ? st.exp_avg_sq : tf.zerosLike(p);
        const m = tf.add(tf.mul(m0, beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(v0, beta2), tf.mul(tf.mul(g, g), 1 - beta2));
        const bc1 = 1 - Math.pow(beta1, step);
        const bc2 = 1 - Math.pow(beta2, step);
        const stepSize = lr / bc1;
        const bc2Sqrt = Math.sqrt(bc2);
        const state: { [k: string]: tf.Tensor } = { exp_avg: m, exp_avg_sq: v };
        let denomBase: tf.Tensor = v;
        if (amsgrad) {
          const vmax0 = st.max_exp_avg_sq instanceof tf.Tensor ? st.max_exp_avg_sq : tf.zerosLike(p);
          const vmax = tf.maximum(vmax0, v);
          state.max_exp_avg_sq = vmax;
          denomBase = vmax;
        }
        const denom = tf.add(tf.div(tf.sqrt(denomBase), bc2Sqrt), eps);
        return { param: tf.sub(pv, tf.mul(tf.div(m, denom), stepSize)), state };
      });
    }
  }
}

/**
 * Adam (torch.optim.Adam): `g += wd*p`; `m = b1*m + (1-b1)*g`; `v = b2*v + (1-b2)*g²`;
 * `p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)` (AMSGrad uses the running maximum of v).
 */
@OPTIMIZERS.registerModule()
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(options: AdamOptions) {
    super(options.params, adamDefaults('Adam', options, 0));
  }
}

/** Options of `AdamW` (torch.optim.AdamW). */
export interface AdamWOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square. @default (0.9, 0.999) */
  betas?: [number, number];
  /** Term added to the denominator for numerical stability. @default 1e-08 */
  eps?: number;
  /** Decoupled weight decay coefficient (`p *= 1 - lr*weight_decay`). @default 0.01 */
  weight_decay?: number;
  /** Uses the AMSGrad variant. @default False */
  amsgrad?: boolean;
}

/** AdamW (torch.optim.AdamW): Adam with decoupled weight decay, `p *= 1 - lr*wd` before the Adam step. */
@OPTIMIZERS.registerModule()
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(options: AdamWOptions) {
    super(options.params, adamDefaults('AdamW', options, 0.01));
  }
}

/** Options of `RMSprop` (torch.optim.RMSprop). */
export interface RMSpropOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.01 */
  lr?: number;
  /** Smoothing constant of the squared-gradient average. @default 0.99 */
  alpha?: number;
  /** Term added to the denominator for numerical stability. @default 1e-08 */
  eps?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
  /** Momentum factor. @default 0 */
  momentum?: number;
  /** Normalises by the estimated variance of the gradient instead of its second moment. @default False */
  centered?: boolean;
}

/**
 * RMSprop (torch.optim.RMSprop): `s = alpha*s + (1-alpha)*g²`; centered: `avg = sqrt(s - ḡ²) + eps`
 * else `sqrt(s) + eps`; with momentum `buf = momentum*buf + g/avg; p -= lr*buf`, else `p -= lr*g/avg`.
 */
@OPTIMIZERS.registerModule()
export class RMSprop extends Optimizer {
  constructor(options: RMSpropOptions) {
    const d = {
      lr: options.lr ?? 0.01,
      alpha: options.alpha ?? 0.99,
      eps: options.eps ?? 1e-8,
      weight_decay: options.weight_decay ?? 0,
      momentum: options.momentum ?? 0,
      centered: options.centered ?? false,
    };
    checkRange('RMSprop', 'learning rate', d.lr, d.lr >= 0);
    checkRange('RMSprop', 'epsilon value', d.eps, d.eps >= 0);
    checkRange('RMSprop', 'momentum value', d.momentum, d.momentum >= 0);
    checkRange('RMSprop', 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
    checkRange('RMSprop', 'alpha value', d.alpha, d.alpha >= 0);
    super(options.params, d);
  }

  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const alpha = groupNumber(group, 'alpha');
    const eps = groupNumber(group, 'eps');
    const wd = groupNumber(group, 'weight_decay');
    const momentum = groupNumber(group, 'momentum');
    const centered = Boolean(group.centered);
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        st.step = (typeof st.step === 'number' ? st.step : 0) + 1;
        let g: tf.Tensor = grad;
        if (wd !== 0) g = tf.add(g, tf.mul(p, wd));
        const s0 = st.square_avg instanceof tf.Tensor ? st.square_avg : tf.zerosLike(p);
        const s = tf.add(tf.mul(s0, alpha), tf.mul(tf.mul(g, g), 1 - alpha));
        const state: { [k: string]: tf.Tensor } = { square_avg: s };
        let avg: tf.Tensor;
        if (centered) {
          const ga0 = st.grad_avg instanceof tf.Tensor ? st.grad_avg : tf.zerosLike(p);
          const ga = tf.add(tf.mul(ga0, alpha), tf.mul(g, 1 - alpha));
          state.grad_avg = ga;
          avg = tf.add(tf.sqrt(tf.sub(s, tf.mul(ga, ga))), eps);
        } else {
          avg = tf.add(tf.sqrt(s), eps);
        }
        if (momentum > 0) {
          const b0 = st.momentum_buffer instanceof tf.Tensor ? st.momentum_buffer : tf.zerosLike(p);
          const buf = tf.add(tf.mul(b0, momentum), tf.div(g, avg));
          state.momentum_buffer = buf;
          return { param: tf.sub(p, tf.mul(buf, lr)), state };
        }
        return { param: tf.sub(p, tf.mul(tf.div(g, avg), lr)), state };
      });
    }
  }
}

/** Options of `Adagrad` (torch.optim.Adagrad). */
export interface AdagradOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.01 */
  lr?: number;
  /** Learning-rate decay: the step uses `lr / (1 + (t-1)*lr_decay)`. @default 0 */
  lr_decay?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
  /** Starting value of the squared-gradient sums. @default 0 */
  initial_accumulator_value?: number;
  /** Term added to the denominator for numerical stability. @default 1e-10 */
  eps?: number;
}

/** Adagrad (torch.optim.Adagrad): `sum += g²`; `p -= lr/(1+(t-1)*lr_decay) * g / (sqrt(sum) + eps)`. */
@OPTIMIZERS.registerModule()
export class Adagrad extends Optimizer {
  constructor(options: AdagradOptions) {
    const d = {
      lr: options.lr ?? 0.01,
      lr_decay: options.lr_decay ?? 0,
      weight_decay: options.weight_decay ?? 0,
      initial_accumulator_value: options.initial_accumulator_value ?? 0,
      eps: options.eps ?? 1e-10,
    };
    checkRange('Adagrad', 'learning rate', d.lr, d.lr >= 0);
    checkRange('Adagrad', 'lr_decay value', d.lr_decay, d.lr_decay >= 0);
    checkRange('Adagrad', 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
    checkRange('Adagrad', 'initial_accumulator_value value', d.initial_accumulator_value, d.initial_accumulator_value >= 0);
    checkRange('Adagrad', 'epsilon value', d.eps, d.eps >= 0);
    super(options.params, d);
    // PyTorch creates the state (step 0, sum = initial value) in the constructor.
    for (const g of this.paramGroups) {
      const init = groupNumber(g, 'initial_accumulator_value');
      for (const p of g.params) {
        const st = this.getState(p.variable);
        st.step = 0;
        st.sum = tf.fill(p.variable.shape, init, 'float32');
      }
    }
  }

  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const lrDecay = groupNumber(group, 'lr_decay');
    const wd = groupNumber(group, 'weight_decay');
    const eps = groupNumber(group, 'eps');
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        const step = (typeof st.step === 'number' ? st.step : 0) + 1;
        st.step = step;
        let g: tf.Tensor = grad;
        if (wd !== 0) g = tf.add(g, tf.mul(p, wd));
        const clr = lr / (1 + (step - 1) * lrDecay);
        const s0 = st.sum instanceof tf.Tensor ? st.sum : tf.zerosLike(p);
        const sum = tf.add(s0, tf.mul(g, g));
        const std = tf.add(tf.sqrt(sum), eps);
        return { param: tf.sub(p, tf.mul(tf.div(g, std), clr)), state: { sum } };
      });
    }
  }
}

/** Options of `Lamb` (MMClassification's Lamb, as in timm). */
export interface LambOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** Whether to bias-correct the moment estimates. @default True */
  bias_correction?: boolean;
  /** Coefficients of the running averages of the gradient and its square. @default (0.9, 0.999) */
  betas?: [number, number];
  /** Term added to the denominator for numerical stability. @default 1e-06 */
  eps?: number;
  /** Weight decay, added to the update (decoupled). @default 0.01 */
  weight_decay?: number;
  /** Whether the first moment averages the gradient with `1 - beta1` (else adds it whole). @default True */
  grad_averaging?: boolean;
  /** Gradients are divided by `global_norm / max_grad_norm` when the global norm exceeds it. @default 1.0 */
  max_grad_norm?: number | null;
  /** Clips the trust ratio to at most 1 (LAMBC). @default False */
  trust_clip?: boolean;
  /** Applies the trust ratio also to parameters without weight decay. @default False */
  always_adapt?: boolean;
}

/**
 * LAMB (Large Batch Optimization for Deep Learning), as MMClassification ships it (from timm):
 * gradients are scaled by the global gradient norm, Adam-style moments give the update, weight
 * decay is added to it, and the layer-wise trust ratio `||p|| / ||update||` scales it.
 */
@OPTIMIZERS.registerModule()
export class Lamb extends Optimizer {
  private clipDivisor: tf.Scalar | null = null;

  constructor(options: LambOptions) {
    const d = {
      lr: options.lr ?? 1e-3,
      bias_correction: options.bias_correction ?? true,
      betas: options.betas ? [...options.betas] : [0.9, 0.999],
      eps: options.eps ?? 1e-6,
      weight_decay: options.weight_decay ?? 0.01,
      grad_averaging: options.grad_averaging ?? true,
      max_grad_norm: options.max_grad_norm === undefined ? 1.0 : options.max_grad_norm,
      trust_clip: options.trust_clip ?? false,
      always_adapt: options.always_adapt ?? false,
    };
    checkRange('Lamb', 'learning rate', d.lr, d.lr >= 0);
    checkRange('Lamb', 'epsilon value', d.eps, d.eps >= 0);
    checkRange('Lamb', 'beta parameter at index 0', d.betas[0], d.betas[0] >= 0 && d.betas[0] < 1);
    checkRange('Lamb', 'beta parameter at index 1', d.betas[1], d.betas[1] >= 0 && d.betas[1] < 1);
    super(options.params, d);
  }

  protected override beforeStep(grads: GradMap): void {
    const maxNorm = this.defaults.max_grad_norm;
    const gs: tf.Tensor[] = [];
    for (const g of this.paramGroups) for (const p of g.params) {
      const t = grads.get(p.variable);
      if (t) gs.push(t);
    }
    if (typeof maxNorm !== 'number' || gs.length === 0) {
      this.clipDivisor = null;
      return;
    }
    this.clipDivisor = tf.tidy(() => {
      let sq: tf.Tensor = tf.scalar(0);
      for (const g of gs) sq = tf.add(sq, tf.sum(tf.square(g)));
      const norm = tf.sqrt(sq);
      return tf.where(tf.greater(norm, maxNorm), tf.div(norm, maxNorm), tf.scalar(1)) as tf.Scalar;
    });
  }

  protected override afterStep(): void {
    this.clipDivisor?.dispose();
    this.clipDivisor = null;
  }

  protected updateGroup(group: ParamGroup, items: Items): void {
    const [beta1, beta2] = betasOf(group, 'Lamb');
    const gradAveraging = Boolean(group.grad_averaging);
    const beta3 = gradAveraging ? 1 - beta1 : 1.0;
    const step = (typeof group.step === 'number' ? group.step : 0) + 1;
    group.step = step;
    const bc1 = group.bias_correction ? 1 - Math.pow(beta1, step) : 1.0;
    const bc2 = group.bias_correction ? 1 - Math.pow(beta2, step) : 1.0;
    const eps = groupNumber(group, 'eps');
    const wd = groupNumber(group, 'weight_decay');
    const lr = groupNumber(group, 'lr');
    const adapt = wd !== 0 || Boolean(group.always_adapt);
    const trustClip = Boolean(group.trust_clip);
    const divisor = this.clipDivisor;
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        const g = divisor ? tf.div(grad, divisor) : grad;
        const m0 = st.exp_avg instanceof tf.Tensor ? st.exp_avg : tf.zerosLike(p);
        const v0 = st.exp_avg_sq instanceof tf.Tensor ? st.exp_avg_sq : tf.zerosLike(p);
        const m = tf.add(tf.mul(m0, beta1), tf.mul(g, beta3));
        const v = tf.add(tf.mul(v0, beta2), tf.mul(tf.mul(g, g), 1 - beta2));
        const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(bc2)), eps);
        let upd: tf.Tensor = tf.div(tf.div(m, bc1), denom);
        if (wd !== 0) upd = tf.add(upd, tf.mul(p, wd));
        if (adapt) {
          const wNorm = tf.norm(p);
          const gNorm = tf.norm(upd);
          const one = tf.scalar(1);
          let trust: tf.Tensor = tf.where(
            tf.greater(wNorm, 0),
            tf.where(tf.greater(gNorm, 0), tf.div(wNorm, gNorm), one),
            one,
          );
          if (trustClip) trust = tf.minimum(trust, one);
          upd = tf.mul(upd, trust);
        }
        return { param: tf.sub(p, tf.mul(upd, lr)), state: { exp_avg: m, exp_avg_sq: v } };
      });
    }
  }
}
