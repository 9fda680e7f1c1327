import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { OPTIMIZERS } from '../../registry';
import { Optimizer, checkRange } from './optimizer';
import { OptimizerBaseOptions } from './optimizers';
import { NamedParam, ParamGroup, groupNumber } from './types';

type Items = Array<{ param: NamedParam; grad: tf.Tensor }>;

function betas(group: ParamGroup, who: string): [number, number] {
  const b = group.betas;
  if (!Array.isArray(b) || b.length !== 2 || typeof b[0] !== 'number' || typeof b[1] !== 'number') {
    throw new MmclsError(`${who}: betas must be a pair of numbers, got ${JSON.stringify(b)}`, { code: 'optim.invalid-arg' });
  }
  return [b[0], b[1]];
}

function tensorState(st: { [k: string]: tf.Tensor | number }, key: string, like: tf.Tensor): tf.Tensor {
  const v = st[key];
  return v instanceof tf.Tensor ? v : tf.zerosLike(like);
}

/** Options of `Adadelta` (torch.optim.Adadelta). */
export interface AdadeltaOptions extends OptimizerBaseOptions {
  /** Coefficient that scales the delta before it is applied. @default 1.0 */
  lr?: number;
  /** Coefficient of the running averages of squared gradients and squared updates. @default 0.9 */
  rho?: number;
  /** Term added inside the square roots for numerical stability. @default 1e-06 */
  eps?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
}

/** Adadelta (torch.optim.Adadelta): `delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g`, `p -= lr*delta`. */
@OPTIMIZERS.registerModule()
export class Adadelta extends Optimizer {
  constructor(options: AdadeltaOptions) {
    const d = { lr: options.lr ?? 1.0, rho: options.rho ?? 0.9, eps: options.eps ?? 1e-6, weight_decay: options.weight_decay ?? 0 };
    checkRange('Adadelta', 'learning rate', d.lr, d.lr >= 0);
    checkRange('Adadelta', 'rho value', d.rho, d.rho >= 0 && d.rho <= 1);
    checkRange('Adadelta', 'epsilon value', d.eps, d.eps >= 0);
    checkRange('Adadelta', 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
    super(options.params, d);
  }
  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const rho = groupNumber(group, 'rho');
    const eps = groupNumber(group, 'eps');
    const wd = groupNumber(group, 'weight_decay');
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        st.step = (typeof st.step === 'number' ? st.step : 0) + 1;
        const g = wd !== 0 ? tf.add(grad, tf.mul(p, wd)) : grad;
        const sq = tf.add(tf.mul(tensorState(st, 'square_avg', p), rho), tf.mul(tf.square(g), 1 - rho));
        const std = tf.sqrt(tf.add(sq, eps));
        const acc0 = tensorState(st, 'acc_delta', p);
        const delta = tf.mul(tf.div(tf.sqrt(tf.add(acc0, eps)), std), g);
        const acc = tf.add(tf.mul(acc0, rho), tf.mul(tf.square(delta), 1 - rho));
        return { param: tf.sub(p, tf.mul(delta, lr)), state: { square_avg: sq, acc_delta: acc } };
      });
    }
  }
}

/** Options of `Adamax` (torch.optim.Adamax). */
export interface AdamaxOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.002 */
  lr?: number;
  /** Coefficients of the running average of the gradient and of the infinity norm. @default (0.9, 0.999) */
  betas?: [number, number];
  /** Term added to the denominator for numerical stability. @default 1e-08 */
  eps?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
}

/** Adamax (torch.optim.Adamax): Adam with the infinity norm, `u = max(b2*u, |g| + eps)`, `p -= lr/(1-b1^t) * m/u`. */
@OPTIMIZERS.registerModule()
export class Adamax extends Optimizer {
  constructor(options: AdamaxOptions) {
    const d = {
      lr: options.lr ?? 2e-3,
      betas: options.betas ? [...options.betas] : [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weight_decay: options.weight_decay ?? 0,
    };
    checkRange('Adamax', 'learning rate', d.lr, d.lr >= 0);
    checkRange('Adamax', 'epsilon value', d.eps, d.eps >= 0);
    checkRange('Adamax', 'beta parameter at index 0', d.betas[0], d.betas[0] >= 0 && d.betas[0] < 1);
    checkRange('Adamax', 'beta parameter at index 1', d.betas[1], d.betas[1] >= 0 && d.betas[1] < 1);
    checkRange('Adamax', 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
    super(options.params, d);
  }
  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const [b1, b2] = betas(group, 'Adamax');
    const eps = groupNumber(group, 'eps');
    const wd = groupNumber(group, 'weight_decay');
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        const step = (typeof st.step === 'number' ? st.step : 0) + 1;
        st.step = step;
        const g = wd !== 0 ? tf.add(grad, tf.mul(p, wd)) : grad;
        const m = tf.add(tf.mul(tensorState(st, 'exp_avg', p), b1), tf.mul(g, 1 - b1));
        const u = tf.maximum(tf.mul(tensorState(st, 'exp_inf', p), b2), tf.add(tf.abs(g), eps));
        const clr = lr / (1 - Math.pow(b1, step));
        return { param: tf.sub(p, tf.mul(tf.div(m, u), clr)), state: { exp_avg: m, exp_inf: u } };
      });
    }
  }
}

/** Options of `NAdam` (torch.optim.NAdam). */
export interface NAdamOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.002 */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square. @default (0.9, 0.999) */
  betas?: [number, number];
  /** Term added to the denominator for numerical stability. @default 1e-08 */
  eps?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
  /** Momentum decay (the momentum schedule `mu_t = b1*(1 - 0.5*0.96^(t*momentum_decay))`). @default 0.004 */
  momentum_decay?: number;
}

/** NAdam (torch.optim.NAdam): Adam with Nesterov momentum and a momentum schedule. */
@OPTIMIZERS.registerModule()
export class NAdam extends Optimizer {
  constructor(options: NAdamOptions) {
    const d = {
      lr: options.lr ?? 2e-3,
      betas: options.betas ? [...options.betas] : [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weight_decay: options.weight_decay ?? 0,
      momentum_decay: options.momentum_decay ?? 4e-3,
    };
    checkRange('NAdam', 'learning rate', d.lr, d.lr >= 0);
    checkRange('NAdam', 'epsilon value', d.eps, d.eps >= 0);
    checkRange('NAdam', 'beta parameter at index 0', d.betas[0], d.betas[0] >= 0 && d.betas[0] < 1);
    checkRange('NAdam', 'beta parameter at index 1', d.betas[1], d.betas[1] >= 0 && d.betas[1] < 1);
    checkRange('NAdam', 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
    checkRange('NAdam', 'momentum_decay value', d.momentum_decay, d.momentum_decay >= 0);
    super(options.params, d);
  }
  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const [b1, b2] = betas(group, 'NAdam');
    const eps = groupNumber(group, 'eps');
    const wd = groupNumber(group, 'weight_decay');
    const md = groupNumber(group, 'momentum_decay');
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        const step = (typeof st.step === 'number' ? st.step : 0) + 1;
        st.step = step;
        const bc2 = 1 - Math.pow(b2, step);
        const g = wd !== 0 ? tf.add(grad, tf.mul(p, wd)) : grad;
        const mu = b1 * (1 - 0.5 * Math.pow(0.96, step * md));
        const muNext = b1 * (1 - 0.5 * Math.pow(0.96, (step + 1) * md));
        const muProduct = (typeof st.mu_product === 'number' ? st.mu_product : 1.0) * mu;
        st.mu_product = muProduct;
        const muProductNext = muProduct * muNext;
        const m = tf.add(tf.mul(tensorState(st, 'exp_avg', p), b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(tensorState(st, 'exp_avg_sq', p), b2), tf.mul(tf.square(g), 1 - b2));
        const denom = tf.add(tf.sqrt(tf.div(v, bc2)), eps);
        let np = tf.sub(p, tf.mul(tf.div(g, denom), (lr * (1 - mu)) / (1 - muProduct)));
        np = tf.sub(np, tf.mul(tf.div(m, denom), (lr * muNext) / (1 - muProductNext)));
        return { param: np, state: { exp_avg: m, exp_avg_sq: v } };
      });
    }
  }
}

/** Options of `RAdam` (torch.optim.RAdam). */
export interface RAdamOptions extends OptimizerBaseOptions {
  /** Learning rate. @default 0.001 */
  lr?: number;
  /** Coefficients of the running averages of the gradient and its square. @default (0.9, 0.999) */
  betas?: [number, number];
  /** Term added to the denominator for numerical stability. @default 1e-08 */
  eps?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
}

/** RAdam (torch.optim.RAdam): Adam with the variance rectification term; plain momentum SGD while the SMA length is at most 5. */
@OPTIMIZERS.registerModule()
export class RAdam extends Optimizer {
  constructor(options: RAdamOptions) {
    const d = {
      lr: options.lr ?? 1e-3,
      betas: options.betas ? [...options.betas] : [0.9, 0.999],
      eps: options.eps ?? 1e-8,
      weight_decay: options.weight_decay ?? 0,
    };
    checkRange('RAdam', 'learning rate', d.lr, d.lr >= 0);
    checkRange('RAdam', 'epsilon value', d.eps, d.eps >= 0);
    checkRange('RAdam', 'beta parameter at index 0', d.betas[0], d.betas[0] >= 0 && d.betas[0] < 1);
    checkRange('RAdam', 'beta parameter at index 1', d.betas[1], d.betas[1] >= 0 && d.betas[1] < 1);
    checkRange('RAdam', 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
    super(options.params, d);
  }
  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const [b1, b2] = betas(group, 'RAdam');
    const eps = groupNumber(group, 'eps');
    const wd = groupNumber(group, 'weight_decay');
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        const step = (typeof st.step === 'number' ? st.step : 0) + 1;
        st.step = step;
        const g = wd !== 0 ? tf.add(grad, tf.mul(p, wd)) : grad;
        const m = tf.add(tf.mul(tensorState(st, 'exp_avg', p), b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(tensorState(st, 'exp_avg_sq', p), b2), tf.mul(tf.square(g), 1 - b2));
        const bc1 = 1 - Math.pow(b1, step);
        const bc2 = 1 - Math.pow(b2, step);
        const mHat = tf.div(m, bc1);
        const rhoInf = 2 / (1 - b2) - 1;
        const rhoT = rhoInf - (2 * step * Math.pow(b2, step)) / bc2;
        let upd: tf.Tensor;
        if (rhoT > 5) {
          const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
          const adaptive = tf.div(Math.sqrt(bc2), tf.add(tf.sqrt(v), eps));
          upd = tf.mul(tf.mul(mHat, adaptive), lr * rect);
        } else {
          upd = tf.mul(mHat, lr);
        }
        return { param: tf.sub(p, upd), state: { exp_avg: m, exp_avg_sq: v } };
      });
    }
  }
}

/** Options of `LARS` (MMClassification's LARS, from MMSelfSup). */
export interface LARSOptions extends OptimizerBaseOptions {
  /** Base learning rate. */
  lr: number;
  /** Momentum factor. @default 0 */
  momentum?: number;
  /** Weight decay (L2 penalty). @default 0 */
  weight_decay?: number;
  /** Dampening for momentum. @default 0 */
  dampening?: number;
  /** LARS coefficient (trust ratio scale). @default 0.001 */
  eta?: number;
  /** Enables Nesterov momentum. @default False */
  nesterov?: boolean;
  /** Added to the denominator of the local learning rate. @default 1e-08 */
  eps?: number;
}

/**
 * LARS (Large Batch Training of Convolutional Networks): each parameter's step is scaled by
 * `eta * ||p|| / (||g|| + wd*||p|| + eps)` (1 when either norm is 0, or for groups with
 * `lars_exclude=True`), then SGD with momentum.
 */
@OPTIMIZERS.registerModule()
export class LARS extends Optimizer {
  readonly eps: number;
  constructor(options: LARSOptions) {
    const d = {
      lr: options.lr,
      momentum: options.momentum ?? 0,
      dampening: options.dampening ?? 0,
      weight_decay: options.weight_decay ?? 0,
      nesterov: options.nesterov ?? false,
      eta: options.eta ?? 0.001,
    };
    if (typeof d.lr !== 'number') throw new MmclsError('LARS: lr is required', { code: 'optim.invalid-arg' });
    checkRange('LARS', 'learning rate', d.lr, d.lr >= 0);
    checkRange('LARS', 'momentum value', d.momentum, d.momentum >= 0);
    checkRange('LARS', 'weight_decay value', d.weight_decay, d.weight_decay >= 0);
    checkRange('LARS', 'LARS coefficient', d.eta, d.eta >= 0);
    if (d.nesterov && (d.momentum <= 0 || d.dampening !== 0)) {
      throw new MmclsError('LARS: Nesterov momentum requires a momentum and zero dampening', { code: 'optim.invalid-arg' });
    }
    super(options.params, d);
    this.eps = options.eps ?? 1e-8;
  }
  protected updateGroup(group: ParamGroup, items: Items): void {
    const lr = groupNumber(group, 'lr');
    const momentum = groupNumber(group, 'momentum');
    const dampening = groupNumber(group, 'dampening');
    const wd = groupNumber(group, 'weight_decay');
    const eta = groupNumber(group, 'eta');
    const nesterov = Boolean(group.nesterov);
    const exclude = Boolean(group.lars_exclude);
    const eps = this.eps;
    for (const { param, grad } of items) {
      const p = param.variable;
      this.update(p, (st) => {
        let localLr: tf.Tensor | number = 1;
        if (!exclude) {
          const wn = tf.norm(p);
          const gn = tf.norm(grad);
          const ok = tf.logicalAnd(tf.notEqual(wn, 0), tf.notEqual(gn, 0));
          const ratio = tf.div(tf.mul(wn, eta), tf.add(tf.add(gn, tf.mul(wn, wd)), eps));
          localLr = tf.where(ok, ratio, tf.onesLike(ratio));
        }
        let dp: tf.Tensor = tf.mul(tf.mul(tf.add(grad, tf.mul(p, wd)), localLr), lr);
        const state: { [k: string]: tf.Tensor } = {};
        if (momentum !== 0) {
          const prev = st.momentum_buffer;
          const buf = prev instanceof tf.Tensor ? tf.add(tf.mul(prev, momentum), tf.mul(dp, 1 - dampening)) : tf.clone(dp);
          state.momentum_buffer = buf;
          dp = nesterov ? tf.add(dp, tf.mul(buf, momentum)) : buf;
        }
        return { param: tf.sub(p, dp), state };
      });
    }
  }
}
