import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '../../../runtime/engine/optim';
import {
  AmpOptimWrapper,
  DefaultOptimWrapperConstructor,
  OptimWrapper,
  ParamDescriptor,
  buildOptimWrapper,
  setEngineLogger,
  clipGradNormTensor,
  GradMap,
  scaleLr,
} from '../../../runtime/engine/optim';
import { buildParamSchedulers } from '../../../runtime/engine/schedulers';

function variable(values: number[], shape?: number[], trainable = true): tf.Variable {
  const t = tf.tensor(values, shape ?? [values.length]);
  const v = tf.variable(t, trainable);
  t.dispose();
  return v;
}

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-5): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])), `${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

describe('OptimWrapper', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('updateParams: SGD on a quadratic, gradients from tf.variableGrads, no leaks', () => {
    const w = variable([1, -2, 3]);
    const before = tf.memory().numTensors;
    const ow = buildOptimWrapper([{ name: 'w', variable: w }], { optimizer: { type: 'SGD', lr: 0.1 } });
    const c = [0.5, 1, 2];
    const ref = [1, -2, 3];
    const cT = tf.tensor1d(c);
    for (let it = 0; it < 4; it++) {
      const loss = ow.updateParams(() => tf.sum(tf.mul(cT, tf.square(w))) as tf.Scalar);
      const expectedLoss = ref.reduce((a, x, i) => a + c[i] * x * x, 0);
      close(loss.dataSync(), [expectedLoss], `loss ${it}`);
      loss.dispose();
      for (let i = 0; i < 3; i++) ref[i] -= 0.1 * 2 * c[i] * ref[i];
      close(w.dataSync(), ref, `w after ${it}`);
    }
    assert.equal(ow.grads.size, 0);
    cT.dispose();
    assert.equal(tf.memory().numTensors, before);
    ow.dispose();
    w.dispose();
  });

  it('accumulative_counts: divides the loss, steps every N and at the last (shorter) window', () => {
    const w = variable([1, 2]);
    const ow = buildOptimWrapper([{ name: 'w', variable: w }], { optimizer: { type: 'SGD', lr: 0.5 }, accumulative_counts: 3 });
    ow.initializeCountStatus(0, 7);
    // loss_i = a_i * sum(w); grad = a_i per element.
    const a = [1, 2, 3, 4, 5, 6, 7];
    const ref = [1, 2];
    let acc = 0;
    const updatesAt: number[] = [];
    for (let it = 0; it < 7; it++) {
      const factor = it < 6 ? 3 : 1; // max 7, remainder 7 % 3 = 1
      assert.equal(ow.lossFactor(), factor, `factor at ${it}`);
      const loss = ow.updateParams(() => tf.mul(tf.sum(w), a[it]) as tf.Scalar);
      close(loss.dataSync(), [a[it] * (ref[0] + ref[1])], `unscaled loss ${it}`);
      loss.dispose();
      acc += a[it] / factor;
      if ((it + 1) % 3 === 0 || it === 6) {
        updatesAt.push(it);
        ref[0] -= 0.5 * acc;
        ref[1] -= 0.5 * acc;
        acc = 0;
      }
      close(w.dataSync(), ref, `w after ${it}`);
    }
    assert.deepEqual(updatesAt, [2, 5, 6]);
    ow.dispose();
    w.dispose();
  });

  it('clip_grad norm (2 and inf) and value', () => {
    const g = [3, -4, 12]; // |g|_2 = 13, |g|_inf = 12
    for (const [cfg, expectedGrad, norm] of [
      [{ max_norm: 6.5, norm_type: 2 }, g.map((x) => (x * 6.5) / (13 + 1e-6)), 13],
      [{ max_norm: 100 }, g, 13],
      [{ max_norm: 6, norm_type: 'inf' }, g.map((x) => (x * 6) / (12 + 1e-6)), 12],
      [{ max_norm: 1, norm_type: 1 }, g.map((x) => x / (19 + 1e-6)), 19],
      [{ type: 'value', clip_value: 3.5 }, [3, -3.5, 3.5], undefined],
    ] as Array<[Record<string, unknown>, number[], number | undefined]>) {
      const w = variable([0, 0, 0]);
      const ow = buildOptimWrapper([{ name: 'w', variable: w }], { optimizer: { type: 'SGD', lr: 1 }, clip_grad: cfg });
      const gT = tf.tensor1d(g);
      ow.updateParams(() => tf.sum(tf.mul(gT, w)) as tf.Scalar).dispose();
      close(w.dataSync(), expectedGrad.map((x) => -x), `clip ${JSON.stringify(cfg)}`);
      if (norm !== undefined) close([ow.lastGradNorm as number], [norm], 'grad norm');
      gT.dispose();
      ow.dispose();
      w.dispose();
    }
  });

  it('clipGradNormTensor works across several tensors', () => {
    const v1 = variable([1]);
    const v2 = variable([1]);
    const grads: GradMap = new Map([
      [v1, tf.tensor1d([3])],
      [v2, tf.tensor1d([4])],
    ]);
    const total = clipGradNormTensor(grads, 1);
    close(total.dataSync(), [5], 'norm');
    total.dispose();
    close(grads.get(v1)!.dataSync(), [3 / (5 + 1e-6)], 'g1');
    close(grads.get(v2)!.dataSync(), [4 / (5 + 1e-6)], 'g2');
    grads.forEach((t) => t.dispose());
    v1.dispose();
    v2.dispose();
  });

  it('paramwise_cfg: an unknown key is ignored with a warning, as MMEngine ignores it (the Twins configs carry `_delete=True`)', () => {
    const logged: string[] = [];
    const prev = setEngineLogger((level, m) => { logged.push(`${level}: ${m}`); });
    try {
      const w = tf.variable(tf.tensor1d([1, 2]));
      const ow = buildOptimWrapper([{ name: 'backbone.w', variable: w }], { optimizer: { type: 'SGD', lr: 0.1, weight_decay: 0.05 }, paramwise_cfg: { _delete: true, norm_decay_mult: 0.0 } });
      assert.equal(ow.paramGroups[0].weight_decay, 0.05);
      assert.equal(logged.length, 1, logged.join('\n'));
      assert.match(logged[0], /^warning: paramwise_cfg has an unknown key "_delete" \(did you mean `_delete_`\?\); it is ignored/);
      ow.dispose();
      w.dispose();
    } finally {
      setEngineLogger(prev);
    }
  });

  it('getLr / getMomentum, stateDict through the wrapper', () => {
    const w = variable([1, 2]);
    const ow = buildOptimWrapper([{ name: 'w', variable: w }], { optimizer: { type: 'Adam', lr: 0.01, betas: [0.8, 0.9] } });
    assert.deepEqual(ow.getLr(), { lr: [0.01] });
    assert.deepEqual(ow.getMomentum(), { momentum: [0.8] });
    ow.updateParams(() => tf.sum(tf.square(w)) as tf.Scalar).dispose();
    const sd = ow.stateDict();
    assert.equal(sd.state['0'].step, 1);
    ow.dispose();
    w.dispose();
  });

  it('AmpOptimWrapper: says it falls back to float32, trains like OptimWrapper, keeps loss_scaler in the state dict', () => {
    const messages: string[] = [];
    const prev = setEngineLogger((level, m) => {
      if (level === 'warning') messages.push(m);
    });
    try {
      const w1 = variable([1, -1]);
      const w2 = variable([1, -1]);
      const amp = buildOptimWrapper([{ name: 'w', variable: w1 }], { type: 'AmpOptimWrapper', optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9 } });
      const plain = buildOptimWrapper([{ name: 'w', variable: w2 }], { optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9 } });
      assert.ok(amp instanceof AmpOptimWrapper);
      assert.equal((amp as AmpOptimWrapper).amp.active, false);
      assert.equal((amp as AmpOptimWrapper).amp.dtype, 'float32');
      assert.ok(messages.some((m) => /mixed precision is not available.*float32/.test(m)), messages.join('\n'));
      for (let i = 0; i < 3; i++) {
        amp.updateParams(() => tf.sum(tf.square(w1)) as tf.Scalar).dispose();
        plain.updateParams(() => tf.sum(tf.square(w2)) as tf.Scalar).dispose();
      }
      close(w1.dataSync(), w2.dataSync(), 'amp == fp32');
      const sd = amp.stateDict();
      assert.ok(sd.loss_scaler && typeof sd.loss_scaler === 'object');
      amp.loadStateDict(sd);
      amp.dispose();
      plain.dispose();
      w1.dispose();
      w2.dispose();
    } finally {
      setEngineLogger(prev);
    }
  });
});

describe('DefaultOptimWrapperConstructor (paramwise_cfg)', () => {
  let params: ParamDescriptor[];
  before(async () => {
    await tf.setBackend('cpu');
  });
  beforeEach(() => {
    params = [
      { name: 'backbone.conv1.weight', variable: variable([1, 1, 1, 1], [1, 1, 2, 2]) },
      { name: 'backbone.conv1.bias', variable: variable([0]) },
      { name: 'backbone.bn1.weight', variable: variable([1]), kind: 'norm' },
      { name: 'backbone.bn1.bias', variable: variable([0]), kind: 'norm' },
      { name: 'backbone.dw.weight', variable: variable([1, 1], [1, 1, 2, 1]), kind: 'dwconv' },
      { name: 'backbone.layer0.fc.weight', variable: variable([1, 1], [1, 2]) },
      { name: 'backbone.pos_embed', variable: variable([1, 2, 3]) },
      { name: 'head.fc.weight', variable: variable([1, 1], [1, 2]) },
      { name: 'head.fc.bias', variable: variable([0]) },
    ];
  });
  afterEach(() => {
    for (const p of params) p.variable.dispose();
  });

  function groupsOf(paramwise_cfg: Record<string, unknown>, optimizer: Record<string, unknown> = { type: 'SGD', lr: 0.1, weight_decay: 1e-4 }) {
    const c = new DefaultOptimWrapperConstructor({ optim_wrapper_cfg: { optimizer }, paramwise_cfg });
    const ow = c.build(params);
    const out = new Map<string, { lr: number; weight_decay: number; [k: string]: unknown }>();
    for (const g of ow.paramGroups) out.set(g.params[0].name, g as unknown as { lr: number; weight_decay: number });
    return { out, ow };
  }

  it('bias_lr_mult, bias_decay_mult, norm_decay_mult, dwconv_decay_mult, flat_decay_mult', () => {
    const { out, ow } = groupsOf({ bias_lr_mult: 2, bias_decay_mult: 0.5, norm_decay_mult: 0, dwconv_decay_mult: 0.1, flat_decay_mult: 0.3 });
    const lr = (n: string) => out.get(n)!.lr;
    const wd = (n: string) => out.get(n)!.weight_decay;
    assert.equal(ow.paramGroups.length, params.length);
    assert.equal(lr('backbone.conv1.weight'), 0.1);
    assert.equal(wd('backbone.conv1.weight'), 1e-4);
    assert.equal(lr('backbone.conv1.bias'), 0.2);
    assert.equal(wd('backbone.conv1.bias'), 1e-4 * 0.5);
    // Norm biases: no bias_lr_mult; norm decay wins over bias decay.
    assert.equal(lr('backbone.bn1.bias'), 0.1);
    assert.equal(wd('backbone.bn1.bias'), 0);
    assert.equal(wd('backbone.bn1.weight'), 0);
    assert.equal(wd('backbone.dw.weight'), 1e-4 * 0.1);
    assert.equal(wd('backbone.pos_embed'), 1e-4 * 0.3); // 1-D, not bias/norm
    assert.equal(wd('head.fc.weight'), 1e-4);
    ow.dispose();
  });

  it('custom_keys: longest key first, ties alphabetical; overrides other rules; extra keys copied', () => {
    const { out, ow } = groupsOf({
      custom_keys: {
        'backbone.layer0': { lr_mult: 0, decay_mult: 0 },
        backbone: { lr_mult: 1 },
        head: { lr_mult: 0.1 },
        '.bias': { decay_mult: 0 },
      },
      norm_decay_mult: 0,
    });
    assert.equal(out.get('backbone.layer0.fc.weight')!.lr, 0);
    assert.equal(out.get('backbone.layer0.fc.weight')!.weight_decay, 0);
    // 'backbone.layer0' and 'backbone' both match only the layer0 weight; "backbone" (8) vs ".bias" (5):
    assert.equal(out.get('backbone.conv1.bias')!.lr, 0.1);
    assert.equal(out.get('backbone.conv1.bias')!.weight_decay, 1e-4); // 'backbone' matched first, decay_mult 1
    // Custom keys disable norm_decay_mult for matched params.
    assert.equal(out.get('backbone.bn1.weight')!.weight_decay, 1e-4);
    assert.ok(Math.abs(out.get('head.fc.weight')!.lr - 0.01) < 1e-12);
    // 'head' (4) is shorter than '.bias' (5): '.bias' wins for head.fc.bias.
    assert.equal(out.get('head.fc.bias')!.lr, 0.1); // '.bias' has no lr_mult → 1
    assert.equal(out.get('head.fc.bias')!.weight_decay, 1e-4 * 0);
    assert.equal(out.get('head.fc.weight')!.lr_mult, 0.1);
    ow.dispose();
  });

  it('duplicated parameters: error, or skipped with bypass_duplicate', () => {
    params.push({ name: 'head.tied.weight', variable: params[0].variable });
    assert.throws(() => groupsOf({ bias_lr_mult: 2 }), /more than one parameter group.*bypass_duplicate/);
    const prev = setEngineLogger(() => {});
    try {
      const { ow } = groupsOf({ bias_lr_mult: 2, bypass_duplicate: true });
      assert.equal(ow.paramGroups.length, params.length - 1);
      ow.dispose();
    } finally {
      setEngineLogger(prev);
    }
    params.pop();
  });

  it('without paramwise_cfg: one group with all parameters; optimizer defaults filled', () => {
    const ow = buildOptimWrapper(params, { optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9 } });
    assert.equal(ow.paramGroups.length, 1);
    assert.equal(ow.paramGroups[0].params.length, params.length);
    assert.equal(ow.paramGroups[0].momentum, 0.9);
    assert.equal(ow.paramGroups[0].weight_decay, 0);
    ow.dispose();
  });

  it('decay multipliers need optimizer.weight_decay; constructor picked by name', () => {
    assert.throws(
      () => buildOptimWrapper(params, { optimizer: { type: 'SGD', lr: 0.1 }, paramwise_cfg: { norm_decay_mult: 0 } }),
      /weight_decay must be set/,
    );
    const ow = buildOptimWrapper(params, {
      constructor: 'DefaultOptimWrapperConstructor',
      optimizer: { type: 'AdamW', lr: 0.001, weight_decay: 0.05 },
      paramwise_cfg: { norm_decay_mult: 0, bias_decay_mult: 0 },
    });
    const wd = ow.paramGroups.map((g) => g.weight_decay);
    assert.deepEqual(wd, [0.05, 0, 0, 0, 0.05, 0.05, 0.05, 0.05, 0]);
    ow.dispose();
  });
});

describe('scaleLr (auto_scale_lr)', () => {
  it('scales every group by real / base batch size, only when enabled, before schedulers', () => {
    const w = variable([1]);
    const b = variable([1]);
    const ow = buildOptimWrapper(
      [
        { name: 'w', variable: w },
        { name: 'fc.bias', variable: b },
      ],
      { optimizer: { type: 'SGD', lr: 0.1 }, paramwise_cfg: { bias_lr_mult: 2 } },
    );
    assert.equal(scaleLr(ow, { enable: false, base_batch_size: 256 }, 32), null);
    assert.equal(scaleLr(ow, { enable: true, base_batch_size: 256 }, 64), 0.25);
    assert.deepEqual(ow.getLr().lr, [0.025, 0.05]);
    buildParamSchedulers({ type: 'StepLR', step_size: 1 }, { optimizer: ow, maxEpochs: 2 });
    assert.throws(() => scaleLr(ow, { enable: true, base_batch_size: 256 }, 64), /before building/);
    ow.dispose();
    w.dispose();
    b.dispose();
  });
});
