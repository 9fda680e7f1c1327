import { strict as assert } from 'assert';
import '../../../runtime/engine/schedulers';
import {
  ParamSchedulerLike,
  SchedulerTarget,
  buildParamSchedulers,
  simulateSchedule,
} from '../../../runtime/engine/schedulers';

// Expected values are MMEngine's formulas, written out here independently of the implementation.

function close(actual: number[], expected: number[], what: string, tol = 1e-12): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * Math.max(1, Math.abs(expected[i])), `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const BASE = 0.1;

describe('parameter schedulers (MMEngine semantics)', () => {
  it('a weight-decay scheduler simulates beside the lr ones (every torch param group has weight_decay, 0 unless set)', () => {
    const sched = [
      { type: 'CosineAnnealingLR', T_max: 4, by_epoch: true, begin: 0, end: 4 },
      { type: 'CosineAnnealingParamScheduler', param_name: 'weight_decay', eta_min: 1e-5, by_epoch: true, begin: 0, end: 4 },
    ];
    for (const base_weight_decay of [undefined, 1e-4]) {
      const c = simulateSchedule(sched, { max_epochs: 4, iters_per_epoch: 2, base_lr: BASE, base_weight_decay });
      close(c.lr, range(8).map((t) => (BASE * (1 + Math.cos((Math.PI * Math.floor(t / 2)) / 4))) / 2), 'lr beside a weight-decay scheduler');
    }
  });

  it('StepLR by epoch', () => {
    const c = simulateSchedule({ type: 'StepLR', step_size: 2, gamma: 0.5 }, { max_epochs: 7, iters_per_epoch: 3, base_lr: BASE });
    close(c.lr, range(21).map((t) => BASE * 0.5 ** Math.floor(Math.floor(t / 3) / 2)), 'StepLR');
  });

  it('MultiStepLR by epoch, repeated milestone counts twice', () => {
    const c = simulateSchedule({ type: 'MultiStepLR', milestones: [2, 4, 4], gamma: 0.1 }, { max_epochs: 6, iters_per_epoch: 2, base_lr: BASE });
    const count = (e: number) => [2, 4, 4].filter((m) => m <= e).length;
    close(c.lr, range(12).map((t) => BASE * 0.1 ** count(Math.floor(t / 2))), 'MultiStepLR');
  });

  it('ConstantLR: factor on [begin, end-1), restored at end-1', () => {
    const c = simulateSchedule({ type: 'ConstantLR', factor: 0.5, end: 3 }, { max_epochs: 5, iters_per_epoch: 1, base_lr: BASE });
    close(c.lr, [0.05, 0.05, 0.1, 0.1, 0.1], 'ConstantLR');
  });

  it('ExponentialLR with begin (value kept before begin)', () => {
    const c = simulateSchedule({ type: 'ExponentialLR', gamma: 0.9, begin: 2 }, { max_epochs: 6, iters_per_epoch: 1, base_lr: BASE });
    close(c.lr, range(6).map((e) => (e < 2 ? BASE : BASE * 0.9 ** (e - 2))), 'ExponentialLR');
  });

  it('CosineAnnealingLR: T_max defaults to end - begin; eta_min and eta_min_ratio', () => {
    const cos = (t: number, T: number, lo: number) => lo + ((BASE - lo) * (1 + Math.cos((Math.PI * t) / T))) / 2;
    const a = simulateSchedule({ type: 'CosineAnnealingLR', eta_min: 0.001 }, { max_epochs: 8, iters_per_epoch: 1, base_lr: BASE });
    close(a.lr, range(8).map((e) => cos(e, 8, 0.001)), 'cosine eta_min', 1e-10);
    const b = simulateSchedule({ type: 'CosineAnnealingLR', eta_min_ratio: 0.1, by_epoch: false, T_max: 5 }, { max_iters: 12, base_lr: BASE });
    // Past T_max the recursive form keeps following the cosine (it rises again after 2*T_max... ), as MMEngine's.
    close(b.lr.slice(0, 6), range(6).map((t) => cos(t, 5, BASE * 0.1)), 'cosine eta_min_ratio', 1e-10);
    close(b.lr.slice(6, 11), range(5).map((k) => cos(k + 6, 5, BASE * 0.1)), 'cosine second half-period', 1e-10);
    assert.throws(() => simulateSchedule({ type: 'CosineAnnealingLR', eta_min: 0, eta_min_ratio: 0.1 }, { max_epochs: 2, iters_per_epoch: 1, base_lr: 1 }));
  });

  it('LinearLR warm-up by iteration, then held at end_factor', () => {
    const c = simulateSchedule({ type: 'LinearLR', start_factor: 0.25, end_factor: 0.75, by_epoch: false, end: 5 }, { max_iters: 8, base_lr: BASE });
    close(c.lr, range(8).map((t) => BASE * (0.25 + (0.5 * Math.min(t, 4)) / 4)), 'LinearLR', 1e-10);
  });

  it('PolyLR reaches eta_min at end - 1', () => {
    const c = simulateSchedule({ type: 'PolyLR', eta_min: 0.002, power: 2, by_epoch: false }, { max_iters: 6, base_lr: BASE });
    const N = 5;
    close(c.lr, range(6).map((t) => 0.002 + (BASE - 0.002) * ((N - t) / N) ** 2), 'PolyLR', 1e-10);
  });

  it('OneCycleLR two and three phases, cos and linear', () => {
    const T = 10;
    const annealCos = (s: number, e: number, p: number) => e + ((s - e) / 2) * (Math.cos(Math.PI * p) + 1);
    const annealLin = (s: number, e: number, p: number) => (e - s) * p + s;
    const init = 1.0 / 25;
    const min = init / 1e4;
    const c = simulateSchedule({ type: 'OneCycleLR', eta_max: 1.0, by_epoch: false }, { max_iters: T, base_lr: BASE });
    const e1 = 0.3 * T - 1;
    close(
      c.lr,
      range(T).map((t) => (t <= e1 ? annealCos(init, 1, t / e1) : annealCos(1, min, (t - e1) / (T - 1 - e1)))),
      'OneCycle 2-phase',
      1e-10,
    );
    const d = simulateSchedule(
      { type: 'OneCycleLR', eta_max: 1.0, by_epoch: false, three_phase: true, anneal_strategy: 'linear', pct_start: 0.25 },
      { max_iters: 12, base_lr: BASE },
    );
    const f1 = 0.25 * 12 - 1;
    const f2 = 2 * 0.25 * 12 - 2;
    close(
      d.lr,
      range(12).map((t) =>
        t <= f1 ? annealLin(init, 1, t / f1) : t <= f2 ? annealLin(1, init, (t - f1) / (f2 - f1)) : annealLin(init, min, (t - f2) / (11 - f2)),
      ),
      'OneCycle 3-phase linear',
      1e-10,
    );
  });

  it('CosineRestartLR', () => {
    const c = simulateSchedule(
      { type: 'CosineRestartLR', periods: [4, 6], restart_weights: [1, 0.5], eta_min: 0, by_epoch: false },
      { max_iters: 12, base_lr: BASE },
    );
    const cos = (t: number, T: number, hi: number) => (hi * (1 + Math.cos((Math.PI * t) / T))) / 2;
    const exp = range(10).map((t) => (t < 4 ? cos(t, 4, BASE) : cos(t - 4, 6, BASE * 0.5)));
    close(c.lr.slice(0, 10), exp, 'CosineRestart', 1e-10);
    // After the last period the value is kept.
    close(c.lr.slice(10), [c.lr[9], c.lr[9]], 'CosineRestart tail');
  });

  it('generic ParamScheduler with param_name, and momentum schedulers (SGD momentum and Adam betas)', () => {
    const target: SchedulerTarget = {
      paramGroups: [{ params: [], lr: 0.1, weight_decay: 0.01 }],
      defaults: { lr: 0.1, weight_decay: 0.01 },
    };
    const [s] = buildParamSchedulers({ type: 'ExponentialParamScheduler', param_name: 'weight_decay', gamma: 0.5, by_epoch: false }, { optimizer: target, maxIters: 10 });
    s.step();
    s.step();
    close([target.paramGroups[0].weight_decay as number], [0.0025], 'weight_decay scheduled');

    const sgd = simulateSchedule({ type: 'LinearMomentum', start_factor: 0.5, by_epoch: false, end: 3 }, { max_iters: 4, base_lr: 0.1, base_momentum: 0.9 });
    close(sgd.momentum, [0.45, 0.675, 0.9, 0.9], 'LinearMomentum', 1e-12);
    close(sgd.lr, [0.1, 0.1, 0.1, 0.1], 'lr untouched');

    const adam: SchedulerTarget = { paramGroups: [{ params: [], lr: 1e-3, betas: [0.9, 0.999] }], defaults: { lr: 1e-3, betas: [0.9, 0.999] } };
    const [m] = buildParamSchedulers({ type: 'StepMomentum', step_size: 1, gamma: 0.5, by_epoch: false }, { optimizer: adam, maxIters: 5 });
    m.step();
    assert.deepEqual(adam.paramGroups[0].betas, [0.45, 0.999]);
    const none: SchedulerTarget = { paramGroups: [{ params: [], lr: 1e-3 }], defaults: { lr: 1e-3 } };
    assert.throws(() => buildParamSchedulers({ type: 'StepMomentum', step_size: 1 }, { optimizer: none, maxEpochs: 2 }), /support momentum/);
  });

  it('warm-up chain: LinearLR for 5 iterations, then MultiStepLR by epoch', () => {
    const cfg = [
      { type: 'LinearLR', start_factor: 0.1, by_epoch: false, begin: 0, end: 5 },
      { type: 'MultiStepLR', by_epoch: true, milestones: [2, 3], gamma: 0.1 },
    ];
    const c = simulateSchedule(cfg, { max_epochs: 4, iters_per_epoch: 4, base_lr: BASE });
    const warm = (t: number) => 0.1 + (0.9 * Math.min(t, 4)) / 4;
    const decay = (e: number) => 0.1 ** [2, 3].filter((m) => m <= e).length;
    close(c.lr, range(16).map((t) => BASE * warm(t) * decay(Math.floor(t / 4))), 'warm-up + MultiStep', 1e-12);
  });

  it('seed chain: LinearLR by epoch with convert_to_iter_based, then CosineAnnealingLR by epoch from begin', () => {
    const cfg = [
      { type: 'LinearLR', start_factor: 0.001, by_epoch: true, end: 2, convert_to_iter_based: true },
      { type: 'CosineAnnealingLR', by_epoch: true, begin: 2 },
    ];
    const P = 5;
    const c = simulateSchedule(cfg, { max_epochs: 6, iters_per_epoch: P, base_lr: BASE });
    const N = 2 * P - 1; // converted: end = 10 iterations, total_iters = 9
    const T = 6 - 2; // T_max = end - begin in epochs
    const exp = range(6 * P).map((t) => {
      const e = Math.floor(t / P);
      if (t < 2 * P) return BASE * (0.001 + (0.999 * t) / N);
      return (BASE * (1 + Math.cos((Math.PI * (e - 2)) / T))) / 2;
    });
    close(c.lr, exp, 'seed warm-up + cosine', 1e-10);
  });

  it('overlapping schedulers compose through the recursive forms (differs from a product of closed forms)', () => {
    const base = 1.0;
    const cfg = [
      { type: 'LinearLR', start_factor: 0.5, by_epoch: false, end: 3 },
      { type: 'CosineAnnealingLR', by_epoch: false, T_max: 6, eta_min: 0.1, end: 8 },
    ];
    const c = simulateSchedule(cfg, { max_iters: 8, base_lr: base });
    // Step-by-step MMEngine recursion.
    const s = 0.5;
    const d = 1 - s;
    const N = 2;
    const T = 6;
    const etaMin = 0.1;
    let v = base * s; // LinearLR step 0; CosineAnnealing step 0 keeps the value
    const exp = [v];
    for (let t = 1; t < 8; t++) {
      if (t < 3) v = v * (1 + d / (N * s + (t - 1) * d));
      if ((((t - 1 - T) % (2 * T)) + 2 * T) % (2 * T) === 0) v = v + ((base - etaMin) * (1 - Math.cos(Math.PI / T))) / 2;
      else v = ((1 + Math.cos((Math.PI * t) / T)) / (1 + Math.cos((Math.PI * (t - 1)) / T))) * (v - etaMin) + etaMin;
      exp.push(v);
    }
    close(c.lr, exp, 'overlap', 1e-12);
    const naive = range(8).map((t) => (s + (d * Math.min(t, 2)) / 2) * (etaMin + ((base - etaMin) * (1 + Math.cos((Math.PI * t) / T))) / 2));
    assert.ok(Math.abs(naive[2] - c.lr[2]) > 1e-3, 'the chained value should differ from the product of closed forms');
  });

  it('gaps keep the value; iteration-based training with an epoch scheduler never steps it', () => {
    const cfg = [
      { type: 'LinearLR', start_factor: 0.5, by_epoch: false, end: 2 },
      { type: 'StepLR', step_size: 1, gamma: 0.5, by_epoch: false, begin: 4, end: 6 },
    ];
    const c = simulateSchedule(cfg, { max_iters: 8, base_lr: 1 });
    close(c.lr, [0.5, 1, 1, 1, 1, 0.5, 0.5, 0.5], 'gap between schedulers');
    const d = simulateSchedule({ type: 'StepLR', step_size: 1, gamma: 0.5 }, { max_iters: 5, iters_per_epoch: 2, base_lr: 1 });
    close(d.lr, [1, 1, 1, 1, 1], 'epoch scheduler in iteration-based training');
  });

  it('stateDict / loadStateDict resume gives the same values as an uninterrupted run', () => {
    const cfg = [
      { type: 'LinearLR', start_factor: 0.1, by_epoch: false, end: 7 },
      { type: 'CosineAnnealingLR', by_epoch: false, begin: 3, eta_min: 0.01 },
      { type: 'MultiStepMomentum', by_epoch: false, milestones: [5, 8], gamma: 0.5 },
    ];
    const make = (): { t: SchedulerTarget; s: ParamSchedulerLike[] } => {
      const t: SchedulerTarget = { paramGroups: [{ params: [], lr: 0.2, momentum: 0.9 }], defaults: { lr: 0.2, momentum: 0.9 } };
      return { t, s: buildParamSchedulers(cfg, { optimizer: t, maxIters: 12 }) };
    };
    const a = make();
    const trace = (x: { t: SchedulerTarget; s: ParamSchedulerLike[] }, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        for (const s of x.s) s.step();
        out.push(x.t.paramGroups[0].lr as number, x.t.paramGroups[0].momentum as number);
      }
      return out;
    };
    const full = trace(a, 10);
    const b = make();
    trace(b, 4);
    const groups = JSON.parse(JSON.stringify(b.t.paramGroups));
    const states = JSON.parse(JSON.stringify(b.s.map((s) => s.stateDict())));
    const c = make(); // fresh build steps once, as the runner's build does before resuming
    c.t.paramGroups[0] = groups[0];
    Object.assign(c.t.paramGroups[0], groups[0]);
    c.s.forEach((s, i) => s.loadStateDict(states[i]));
    assert.equal(states[0].last_step, 4);
    assert.equal(states[0]._global_step, 4);
    assert.deepEqual(Object.keys(states[2]).includes('milestones'), true);
    close(trace(c, 6), full.slice(8), 'resumed', 1e-12);
  });

  it('errors: end <= begin, unknown type, convert_to_iter_based on an iteration scheduler', () => {
    assert.throws(() => simulateSchedule({ type: 'StepLR', step_size: 1, begin: 3, end: 3 }, { max_epochs: 4, iters_per_epoch: 1, base_lr: 1 }), /end should be larger/);
    assert.throws(() => simulateSchedule({ type: 'CosineLR' }, { max_epochs: 4, iters_per_epoch: 1, base_lr: 1 }), /CosineLR/);
    assert.throws(
      () => simulateSchedule({ type: 'LinearLR', by_epoch: false, convert_to_iter_based: true }, { max_epochs: 4, iters_per_epoch: 2, base_lr: 1 }),
      /only epoch-based/,
    );
  });
});

describe('LR / Momentum / generic forms agree', () => {
  const KINDS: Array<[string, Record<string, unknown>]> = [
    ['Step', { step_size: 2, gamma: 0.5 }],
    ['MultiStep', { milestones: [1, 3], gamma: 0.5 }],
    ['Constant', { factor: 0.5, end: 3 }],
    ['Exponential', { gamma: 0.9 }],
    ['CosineAnnealing', { T_max: 4, eta_min: 0.01 }],
    ['Linear', { start_factor: 0.5, end: 4 }],
    ['Poly', { power: 2, eta_min: 0.01 }],
    ['CosineRestart', { periods: [3, 3], restart_weights: [1, 0.5], eta_min: 0.01 }],
  ];
  for (const [kind, args] of KINDS) {
    it(`${kind}LR, ${kind}Momentum and ${kind}ParamScheduler`, () => {
      const make = (): SchedulerTarget => ({ paramGroups: [{ params: [], lr: 0.5, momentum: 0.8 }], defaults: { lr: 0.5, momentum: 0.8 } });
      const run = (type: string, extra: Record<string, unknown>, key: 'lr' | 'momentum') => {
        const t = make();
        const [s] = buildParamSchedulers({ type, by_epoch: false, ...args, ...extra }, { optimizer: t, maxIters: 8 });
        const out = [t.paramGroups[0][key] as number];
        for (let i = 0; i < 7; i++) {
          s.step();
          out.push(t.paramGroups[0][key] as number);
        }
        return out;
      };
      const generic = run(`${kind}ParamScheduler`, { param_name: 'lr' }, 'lr');
      close(run(`${kind}LR`, {}, 'lr'), generic, `${kind}LR`);
      const genericMomentum = run(`${kind}ParamScheduler`, { param_name: 'momentum' }, 'momentum');
      close(run(`${kind}Momentum`, {}, 'momentum'), genericMomentum, `${kind}Momentum`);
      assert.notDeepEqual(genericMomentum, genericMomentum.map(() => 0.8), `${kind}: the schedule should change the value`);
    });
  }
  it('OneCycle has no momentum form (as in MMEngine) and refuses other parameters', () => {
    const t: SchedulerTarget = { paramGroups: [{ params: [], lr: 0.5 }], defaults: { lr: 0.5 } };
    assert.throws(() => buildParamSchedulers({ type: 'OneCycleMomentum', eta_max: 1 }, { optimizer: t, maxIters: 8 }), /OneCycleMomentum/);
    assert.throws(
      () => buildParamSchedulers({ type: 'OneCycleParamScheduler', param_name: 'momentum', eta_max: 1 }, { optimizer: t, maxIters: 8 }),
      /only works for learning rate/,
    );
  });
});

describe('ReduceOnPlateau', () => {
  const target = (): SchedulerTarget => ({ paramGroups: [{ params: [], lr: 0.1, betas: [0.9, 0.99] }], defaults: { lr: 0.1, betas: [0.9, 0.99] } });

  it('reduces after `patience` validations without improvement, clamps at min_value; training steps only count', () => {
    const t = target();
    const [s] = buildParamSchedulers(
      { type: 'ReduceOnPlateauLR', monitor: 'accuracy/top1', rule: 'greater', factor: 0.5, patience: 1, min_value: 0.04 },
      { optimizer: t, maxEpochs: 20 },
    );
    assert.equal(s.need_val_args, true);
    const lrs: number[] = [];
    // best: 50, 60 (60 is not > 60 * 1.0001), 59 → two bad → reduce; 61 new best; 61, 61 → reduce (clamped).
    for (const acc of [50, 60, 60, 59, 61, 61, 61]) {
      s.step(); // after the training epoch
      s.step({ 'accuracy/top1': acc, 'accuracy/top5': 99 }); // after validation
      lrs.push(t.paramGroups[0].lr as number);
    }
    assert.deepEqual(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.04]);
    assert.throws(() => s.step({ 'single-label/f1-score': 1 }), /monitor "accuracy\/top1"/);
    // Resume.
    const st = JSON.parse(JSON.stringify(s.stateDict()));
    const t2 = target();
    const [s2] = buildParamSchedulers({ type: 'ReduceOnPlateauLR', monitor: 'accuracy/top1', rule: 'greater', factor: 0.5, patience: 1 }, { optimizer: t2, maxEpochs: 20 });
    s2.loadStateDict(st);
    assert.equal((s2 as unknown as { best: number }).best, 61);
    assert.deepEqual((s2 as unknown as { min_values: number[] }).min_values, [0.04]);
  });

  it('rule less with cooldown; momentum form drives Adam betas; constant in simulateSchedule', () => {
    const t = target();
    const [s] = buildParamSchedulers(
      { type: 'ReduceOnPlateauMomentum', factor: 0.5, patience: 0, cooldown: 1, threshold: 0.1, threshold_rule: 'abs' },
      { optimizer: t, maxEpochs: 20 },
    );
    const out: number[] = [];
    // loss 1.0 best; 0.95 (not < 0.9) bad → reduce; 0.95 in cooldown; 0.95 bad → reduce.
    for (const loss of [1.0, 0.95, 0.95, 0.95]) {
      s.step({ loss });
      out.push((t.paramGroups[0].betas as number[])[0]);
    }
    assert.deepEqual(out, [0.9, 0.45, 0.45, 0.225]);
    const c = simulateSchedule([{ type: 'ReduceOnPlateauLR' }, { type: 'StepLR', step_size: 2, gamma: 0.5 }], { max_epochs: 4, iters_per_epoch: 1, base_lr: 1 });
    close(c.lr, [1, 1, 0.5, 0.5], 'plateau is flat without metrics');
  });
});
