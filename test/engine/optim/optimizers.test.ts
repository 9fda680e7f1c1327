import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { OPTIMIZERS } from '../../../runtime/registry';
import { Optimizer, NamedParam, GradMap, OptimizerStateDict } from '../../../runtime/engine/optim';
import '../../../runtime/engine/optim';

// Reference implementations in float64, written from the torch.optim documentation formulas.
type Vec = number[];
type Hyper = Record<string, unknown>;

function gradAt(step: number, i: number, pi: number): number {
  // A deterministic gradient that changes sign and size from step to step.
  return Math.sin(1.3 * step + 0.7 * i + pi) * (1 + 0.5 * i);
}

function refSGD(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const { lr, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false } = h as Record<string, number & boolean>;
  for (let i = 0; i < p.length; i++) {
    let d = g[i] + (weight_decay as number) * p[i];
    if (momentum) {
      const buf = (st.buf ??= [] as number[]) as number[];
      buf[i] = st.started ? momentum * buf[i] + (1 - dampening) * d : d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
  st.started = true;
}

function refAdam(p: Vec, g: Vec, st: Hyper, h: Hyper, decoupled: boolean): void {
  const lr = h.lr as number;
  const [b1, b2] = h.betas as number[];
  const eps = h.eps as number;
  const wd = h.weight_decay as number;
  const ams = Boolean(h.amsgrad);
  const t = ((st.t as number) ?? 0) + 1;
  st.t = t;
  const m = (st.m ??= p.map(() => 0)) as number[];
  const v = (st.v ??= p.map(() => 0)) as number[];
  const vmax = (st.vmax ??= p.map(() => 0)) as number[];
  for (let i = 0; i < p.length; i++) {
    let gi = g[i];
    if (wd) {
      if (decoupled) p[i] *= 1 - lr * wd;
      else gi += wd * p[i];
    }
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    vmax[i] = Math.max(vmax[i], v[i]);
    const vv = ams ? vmax[i] : v[i];
    const mhat = m[i] / (1 - b1 ** t);
    const denom = Math.sqrt(vv) / Math.sqrt(1 - b2 ** t) + eps;
    p[i] -= lr * (mhat / denom);
  }
}

function refRMSprop(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const { lr, alpha, eps, weight_decay, momentum } = h as Record<string, number>;
  const centered = Boolean(h.centered);
  const s = (st.s ??= p.map(() => 0)) as number[];
  const ga = (st.ga ??= p.map(() => 0)) as number[];
  const buf = (st.buf ??= p.map(() => 0)) as number[];
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + weight_decay * p[i];
    s[i] = alpha * s[i] + (1 - alpha) * gi * gi;
    let avg: number;
    if (centered) {
      ga[i] = alpha * ga[i] + (1 - alpha) * gi;
      avg = Math.sqrt(s[i] - ga[i] * ga[i]) + eps;
    } else avg = Math.sqrt(s[i]) + eps;
    if (momentum > 0) {
      buf[i] = momentum * buf[i] + gi / avg;
      p[i] -= lr * buf[i];
    } else p[i] -= (lr * gi) / avg;
  }
}

function refAdagrad(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const { lr, lr_decay, weight_decay, initial_accumulator_value, eps } = h as Record<string, number>;
  const t = ((st.t as number) ?? 0) + 1;
  st.t = t;
  const sum = (st.sum ??= p.map(() => initial_accumulator_value)) as number[];
  const clr = lr / (1 + (t - 1) * lr_decay);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + weight_decay * p[i];
    sum[i] += gi * gi;
    p[i] -= (clr * gi) / (Math.sqrt(sum[i]) + eps);
  }
}

// Lamb over all params at once (global gradient norm).
function refLamb(ps: Vec[], gs: Vec[], st: Hyper, h: Hyper): void {
  const lr = h.lr as number;
  const [b1, b2] = h.betas as number[];
  const { eps, weight_decay: wd, max_grad_norm } = h as Record<string, number>;
  const t = ((st.t as number) ?? 0) + 1;
  st.t = t;
  let sq = 0;
  for (const g of gs) for (const x of g) sq += x * x;
  const norm = Math.sqrt(sq);
  const clip = norm > max_grad_norm ? norm / max_grad_norm : 1;
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  ps.forEach((p, k) => {
    const key = `m${k}`;
    const m = (st[key] ??= p.map(() => 0)) as number[];
    const v = (st[`v${k}`] ??= p.map(() => 0)) as number[];
    const upd = p.map((pi, i) => {
      const g = gs[k][i] / clip;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      return m[i] / bc1 / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps) + wd * pi;
    });
    let trust = 1;
    if (wd !== 0 || h.always_adapt) {
      const wn = Math.sqrt(p.reduce((a, x) => a + x * x, 0));
      const un = Math.sqrt(upd.reduce((a, x) => a + x * x, 0));
      trust = wn > 0 ? (un > 0 ? wn / un : 1) : 1;
      if (h.trust_clip) trust = Math.min(trust, 1);
    }
    for (let i = 0; i < p.length; i++) p[i] -= lr * upd[i] * trust;
  });
}

function refAdadelta(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const { lr, rho, eps, weight_decay } = h as Record<string, number>;
  const sq = (st.sq ??= p.map(() => 0)) as number[];
  const acc = (st.acc ??= p.map(() => 0)) as number[];
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + weight_decay * p[i];
    sq[i] = rho * sq[i] + (1 - rho) * gi * gi;
    const delta = (Math.sqrt(acc[i] + eps) / Math.sqrt(sq[i] + eps)) * gi;
    acc[i] = rho * acc[i] + (1 - rho) * delta * delta;
    p[i] -= lr * delta;
  }
}

function refAdamax(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const lr = h.lr as number;
  const [b1, b2] = h.betas as number[];
  const { eps, weight_decay } = h as Record<string, number>;
  const t = ((st.t as number) ?? 0) + 1;
  st.t = t;
  const m = (st.m ??= p.map(() => 0)) as number[];
  const u = (st.u ??= p.map(() => 0)) as number[];
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + weight_decay * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    u[i] = Math.max(b2 * u[i], Math.abs(gi) + eps);
    p[i] -= (lr / (1 - b1 ** t)) * (m[i] / u[i]);
  }
}

function refNAdam(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const lr = h.lr as number;
  const [b1, b2] = h.betas as number[];
  const { eps, weight_decay, momentum_decay } = h as Record<string, number>;
  const t = ((st.t as number) ?? 0) + 1;
  st.t = t;
  const mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay));
  const muNext = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay));
  st.prod = ((st.prod as number) ?? 1) * mu;
  const prod = st.prod as number;
  const m = (st.m ??= p.map(() => 0)) as number[];
  const v = (st.v ??= p.map(() => 0)) as number[];
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + weight_decay * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    const denom = Math.sqrt(v[i] / (1 - b2 ** t)) + eps;
    p[i] -= ((lr * (1 - mu)) / (1 - prod)) * (gi / denom) + ((lr * muNext) / (1 - prod * muNext)) * (m[i] / denom);
  }
}

function refRAdam(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const lr = h.lr as number;
  const [b1, b2] = h.betas as number[];
  const { eps, weight_decay } = h as Record<string, number>;
  const t = ((st.t as number) ?? 0) + 1;
  st.t = t;
  const m = (st.m ??= p.map(() => 0)) as number[];
  const v = (st.v ??= p.map(() => 0)) as number[];
  const rhoInf = 2 / (1 - b2) - 1;
  const rhoT = rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t);
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] + weight_decay * p[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    const mHat = m[i] / (1 - b1 ** t);
    if (rhoT > 5) {
      const rect = Math.sqrt(((rhoT - 4) * (rhoT - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rhoT));
      p[i] -= mHat * lr * (Math.sqrt(1 - b2 ** t) / (Math.sqrt(v[i]) + eps)) * rect;
    } else p[i] -= mHat * lr;
  }
}

function refLARS(p: Vec, g: Vec, st: Hyper, h: Hyper): void {
  const { lr, momentum, dampening, weight_decay: wd, eta } = h as Record<string, number>;
  const wn = Math.sqrt(p.reduce((a, x) => a + x * x, 0));
  const gn = Math.sqrt(g.reduce((a, x) => a + x * x, 0));
  const local = h.lars_exclude ? 1 : wn !== 0 && gn !== 0 ? (eta * wn) / (gn + wd * wn + 1e-8) : 1;
  const d = p.map((x, i) => (g[i] + wd * x) * local * lr);
  let upd = d;
  if (momentum) {
    const buf = st.buf as number[] | undefined;
    st.buf = buf ? buf.map((b, i) => momentum * b + (1 - dampening) * d[i]) : [...d];
    upd = h.nesterov ? d.map((x, i) => x + momentum * (st.buf as number[])[i]) : (st.buf as number[]);
  }
  for (let i = 0; i < p.length; i++) p[i] -= upd[i];
}

function makeParams(init: Vec[]): NamedParam[] {
  return init.map((v, k) => {
    const t = tf.tensor1d(v);
    const variable = tf.variable(t, true);
    t.dispose();
    return { name: `p${k}`, variable };
  });
}

function gradsFor(params: NamedParam[], step: number): GradMap {
  const m: GradMap = new Map();
  params.forEach((p, k) => {
    const n = p.variable.size;
    m.set(p.variable, tf.tensor1d(Array.from({ length: n }, (_, i) => gradAt(step, i, k))));
  });
  return m;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 2e-5, atol = 1e-6): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    const ok = Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]);
    assert.ok(ok, `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

const INIT: Vec[] = [
  [0.5, -1.2, 2.0, 0.3],
  [-0.7, 0.05, 1.5],
];

function runCase(
  type: string,
  cfg: Hyper,
  groupsCfg: Hyper[] | null,
  ref: (ps: Vec[], gs: Vec[], states: Hyper[], hs: Hyper[]) => void,
  fullDefaults: Hyper,
  steps = 5,
): void {
  const before = tf.memory().numTensors;
  const params = makeParams(INIT);
  const input = groupsCfg ? groupsCfg.map((g, k) => ({ ...g, params: [params[k]] })) : params;
  const opt = OPTIMIZERS.build<Optimizer>({ type, ...cfg, params: input });
  const ref64 = INIT.map((v) => [...v]);
  const states: Hyper[] = INIT.map(() => ({}));
  const hs = INIT.map((_, k) => ({ ...fullDefaults, ...cfg, ...(groupsCfg ? groupsCfg[k] : {}) }));
  const perStepCount: number[] = [];
  for (let s = 0; s < steps; s++) {
    const grads = gradsFor(params, s);
    opt.step(grads);
    for (const g of grads.values()) g.dispose();
    ref(ref64, INIT.map((v, k) => v.map((_, i) => gradAt(s, i, k))), states, hs);
    perStepCount.push(tf.memory().numTensors);
    params.forEach((p, k) => close(p.variable.dataSync(), ref64[k], `${type} step ${s} param ${k}`));
  }
  // State is created on the first step; afterwards the number of live tensors must not grow.
  for (let s = 2; s < perStepCount.length; s++) assert.equal(perStepCount[s], perStepCount[1], `${type}: tensors leak per step`);
  opt.dispose();
  params.forEach((p) => p.variable.dispose());
  assert.equal(tf.memory().numTensors, before, `${type}: tensors left after dispose`);
}

const perParam =
  (f: (p: Vec, g: Vec, st: Hyper, h: Hyper) => void) =>
  (ps: Vec[], gs: Vec[], states: Hyper[], hs: Hyper[]) =>
    ps.forEach((p, k) => f(p, gs[k], states[k], hs[k]));

describe('optimizers (torch.optim formulas, float64 reference)', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  const sgdD = { momentum: 0, dampening: 0, weight_decay: 0, nesterov: false };
  it('SGD plain', () => runCase('SGD', { lr: 0.1 }, null, perParam(refSGD), sgdD));
  it('SGD momentum + dampening + weight decay', () =>
    runCase('SGD', { lr: 0.05, momentum: 0.9, dampening: 0.3, weight_decay: 1e-2 }, null, perParam(refSGD), sgdD));
  it('SGD nesterov', () => runCase('SGD', { lr: 0.05, momentum: 0.8, nesterov: true, weight_decay: 5e-3 }, null, perParam(refSGD), sgdD));
  it('SGD per-group lr / momentum / weight_decay', () =>
    runCase(
      'SGD',
      { lr: 0.1, momentum: 0.9, weight_decay: 1e-4 },
      [{ lr: 0.01 }, { momentum: 0, weight_decay: 0.1 }],
      perParam(refSGD),
      sgdD,
    ));
  it('SGD rejects nesterov without momentum', () => {
    const params = makeParams([[1]]);
    assert.throws(() => OPTIMIZERS.build({ type: 'SGD', lr: 0.1, nesterov: true, params }), /Nesterov/);
    params[0].variable.dispose();
  });

  const adamD = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: false };
  it('Adam', () => runCase('Adam', { lr: 0.01 }, null, perParam((p, g, s, h) => refAdam(p, g, s, h, false)), adamD));
  it('Adam weight decay + amsgrad + betas', () =>
    runCase(
      'Adam',
      { lr: 0.02, betas: [0.8, 0.9], weight_decay: 0.05, amsgrad: true },
      null,
      perParam((p, g, s, h) => refAdam(p, g, s, h, false)),
      adamD,
      7,
    ));
  it('AdamW (decoupled decay, default 0.01)', () =>
    runCase('AdamW', { lr: 0.05 }, null, perParam((p, g, s, h) => refAdam(p, g, s, h, true)), { ...adamD, weight_decay: 0.01 }));
  it('AdamW per-group weight decay', () =>
    runCase(
      'AdamW',
      { lr: 0.05, weight_decay: 0.3 },
      [{}, { weight_decay: 0 }],
      perParam((p, g, s, h) => refAdam(p, g, s, h, true)),
      adamD,
    ));

  const rmsD = { lr: 0.01, alpha: 0.99, eps: 1e-8, weight_decay: 0, momentum: 0, centered: false };
  it('RMSprop', () => runCase('RMSprop', { lr: 0.01 }, null, perParam(refRMSprop), rmsD));
  it('RMSprop centered + momentum + weight decay', () =>
    runCase('RMSprop', { lr: 0.01, alpha: 0.9, centered: true, momentum: 0.5, weight_decay: 0.1 }, null, perParam(refRMSprop), rmsD));

  const agD = { lr: 0.01, lr_decay: 0, weight_decay: 0, initial_accumulator_value: 0, eps: 1e-10 };
  it('Adagrad', () => runCase('Adagrad', { lr: 0.1 }, null, perParam(refAdagrad), agD));
  it('Adagrad lr_decay + initial_accumulator_value + weight decay', () =>
    runCase('Adagrad', { lr: 0.1, lr_decay: 0.5, initial_accumulator_value: 0.3, weight_decay: 0.2 }, null, perParam(refAdagrad), agD));

  const lambD = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-6, weight_decay: 0.01, max_grad_norm: 1.0, trust_clip: false, always_adapt: false };
  it('Lamb (global grad-norm clipping, trust ratio)', () =>
    runCase('Lamb', { lr: 0.01, weight_decay: 0.1 }, null, (ps, gs, states, hs) => refLamb(ps, gs, states[0], hs[0]), lambD));
  it('Lamb without weight decay skips the trust ratio; trust_clip', () => {
    runCase('Lamb', { lr: 0.01, weight_decay: 0, max_grad_norm: 100 }, null, (ps, gs, st, hs) => refLamb(ps, gs, st[0], hs[0]), lambD);
    runCase('Lamb', { lr: 0.01, trust_clip: true }, null, (ps, gs, st, hs) => refLamb(ps, gs, st[0], hs[0]), lambD);
  });

  it('Adadelta', () =>
    runCase('Adadelta', { lr: 0.5, rho: 0.8, weight_decay: 0.01 }, null, perParam(refAdadelta), { lr: 1, rho: 0.9, eps: 1e-6, weight_decay: 0 }));
  it('Adamax', () =>
    runCase('Adamax', { lr: 0.02, weight_decay: 0.01 }, null, perParam(refAdamax), { lr: 2e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0 }));
  it('NAdam', () =>
    runCase('NAdam', { lr: 0.02, weight_decay: 0.01 }, null, perParam(refNAdam), {
      lr: 2e-3,
      betas: [0.9, 0.999],
      eps: 1e-8,
      weight_decay: 0,
      momentum_decay: 4e-3,
    }));
  // betas[1] = 0.8: rho_inf = 9, rho_t passes 5 at step 7, so both branches run.
  it('RAdam (both regimes of the rectification)', () =>
    runCase('RAdam', { lr: 0.02, betas: [0.5, 0.8], weight_decay: 0.01 }, null, perParam(refRAdam), { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0 }, 8));
  it('LARS with momentum, nesterov and an excluded group', () =>
    runCase(
      'LARS',
      { lr: 0.5, momentum: 0.9, weight_decay: 1e-3, nesterov: true },
      [{}, { lars_exclude: true }],
      perParam(refLARS),
      { momentum: 0, dampening: 0, weight_decay: 0, eta: 0.001, nesterov: false },
    ));

  it('parameters without a gradient are left alone', () => {
    const params = makeParams(INIT);
    const opt = OPTIMIZERS.build<Optimizer>({ type: 'SGD', lr: 0.1, momentum: 0.9, params });
    const g: GradMap = new Map([[params[0].variable, tf.ones([4])]]);
    opt.step(g);
    close(params[1].variable.dataSync(), INIT[1], 'untouched');
    close(params[0].variable.dataSync(), INIT[0].map((x) => x - 0.1), 'stepped');
    g.forEach((t) => t.dispose());
    opt.dispose();
    params.forEach((p) => p.variable.dispose());
  });

  for (const [type, cfg] of [
    ['SGD', { lr: 0.1, momentum: 0.9 }],
    ['Adam', { lr: 0.01, amsgrad: true }],
    ['RMSprop', { lr: 0.01, momentum: 0.3, centered: true }],
    ['Adagrad', { lr: 0.1 }],
    ['Lamb', { lr: 0.01 }],
  ] as Array<[string, Hyper]>) {
    it(`${type}: stateDict / loadStateDict resumes exactly`, () => {
      const a = makeParams(INIT);
      const optA = OPTIMIZERS.build<Optimizer>({ type, ...cfg, params: a });
      for (let s = 0; s < 4; s++) {
        const g = gradsFor(a, s);
        optA.step(g);
        g.forEach((t) => t.dispose());
      }
      const b = makeParams(INIT);
      const optB = OPTIMIZERS.build<Optimizer>({ type, ...cfg, params: b });
      for (let s = 0; s < 2; s++) {
        const g = gradsFor(b, s);
        optB.step(g);
        g.forEach((t) => t.dispose());
      }
      // Serialise through JSON (tensors as arrays) to prove the state dict is plain data.
      const sd = optB.stateDict();
      const json = JSON.parse(
        JSON.stringify(sd, (_k, v) => (v instanceof Float32Array ? { __f32: Array.from(v) } : v)),
        (_k, v) => (v && typeof v === 'object' && Array.isArray(v.__f32) ? Float32Array.from(v.__f32) : v),
      ) as OptimizerStateDict;
      const c = makeParams(b.map((p) => Array.from(p.variable.dataSync())));
      const optC = OPTIMIZERS.build<Optimizer>({ type, ...cfg, params: c });
      optC.loadStateDict(json);
      for (let s = 2; s < 4; s++) {
        const g = gradsFor(c, s);
        optC.step(g);
        g.forEach((t) => t.dispose());
      }
      a.forEach((p, k) => close(c[k].variable.dataSync(), p.variable.dataSync(), `${type} resumed param ${k}`, 1e-6, 1e-7));
      assert.deepEqual(sd.param_groups[0].params, [0, 1]);
      for (const o of [optA, optB, optC]) o.dispose();
      for (const p of [...a, ...b, ...c]) p.variable.dispose();
    });
  }

  it('loads a PyTorch-style state dict (0-d step tensor) and rejects a state of another shape', () => {
    const a = makeParams([[1, 2]]);
    const opt = OPTIMIZERS.build<Optimizer>({ type: 'Adam', lr: 0.1, params: a });
    const sd: OptimizerStateDict = {
      state: {
        '0': {
          step: { dtype: 'F32', shape: [], data: Float32Array.from([3]) },
          exp_avg: { dtype: 'F32', shape: [2], data: Float32Array.from([0.1, 0.2]) },
          exp_avg_sq: { dtype: 'F64', shape: [2], data: Float64Array.from([0.01, 0.04]) },
        },
      },
      param_groups: [{ lr: 0.05, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: false, params: [0] }],
    };
    opt.loadStateDict(sd);
    assert.equal(opt.stateOf(a[0].variable)?.step, 3);
    assert.equal(opt.paramGroups[0].lr, 0.05);
    const g: GradMap = new Map([[a[0].variable, tf.tensor1d([1, 1])]]);
    opt.step(g);
    assert.equal(opt.stateOf(a[0].variable)?.step, 4);
    // Reference: the fourth Adam step from the loaded moments.
    const m = [0.1, 0.2].map((x) => 0.9 * x + 0.1);
    const v = [0.01, 0.04].map((x) => 0.999 * x + 0.001);
    const exp = [1, 2].map((p, i) => p - (0.05 / (1 - 0.9 ** 4)) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(1 - 0.999 ** 4) + 1e-8)));
    close(a[0].variable.dataSync(), exp, 'after resume');
    const bad = { ...sd, state: { '0': { exp_avg: { dtype: 'F32' as const, shape: [1, 2], data: Float32Array.from([0, 0]) } } } };
    assert.throws(() => opt.loadStateDict(bad), /has shape \[1,2\], the parameter has \[2\]/);
    g.forEach((t) => t.dispose());
    opt.dispose();
    a[0].variable.dispose();
  });
});
