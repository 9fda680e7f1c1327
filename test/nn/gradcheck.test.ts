import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, GELU, GroupNorm, HSigmoid, HSwish, Layer, LayerNorm, LayerScale, Linear,
  MaxPool2d, Module, MultiheadAttention, ReLU, ReLU6, SiLU, Sigmoid, Tanh, resizePosEmbed,
} from '../../runtime/nn';
import { AsymmetricLoss, CrossEntropyLoss, FocalLoss, LabelSmoothLoss, LossModule } from '../../runtime/models/losses';
import { seq, useTestBackend } from './helpers';

/**
 * Analytic gradients (TensorFlow.js autodiff) against central differences, for the input and every
 * parameter, on small shapes. The output is projected on fixed random weights so that no gradient is
 * trivially zero. Float32: eps 1e-3, tolerance 2e-2 relative + 3e-3 absolute, up to 12 coordinates
 * per tensor.
 */
function gradCheck(what: string, fn: (x: tf.Tensor) => tf.Tensor, x: tf.Variable, params: tf.Variable[], opts: { eps?: number; rtol?: number; atol?: number } = {}): void {
  const eps = opts.eps ?? 1e-3;
  const rtol = opts.rtol ?? 2e-2;
  const atol = opts.atol ?? 3e-3;
  const outShape = tf.tidy(() => fn(x).shape);
  const proj = tf.tensor(seq(outShape.reduce((a, b) => a * b, 1), 99), outShape);
  const f = (): tf.Scalar => tf.sum(tf.mul(fn(x), proj)) as tf.Scalar;
  const vars = [x, ...params];
  const { grads } = tf.variableGrads(f, vars);
  for (const v of vars) {
    const g = grads[v.name];
    assert.ok(g, `${what}: no gradient for ${v.name}`);
    const analytic = g.dataSync();
    const base = v.dataSync().slice() as Float32Array;
    const n = base.length;
    const step = Math.max(1, Math.floor(n / 12));
    for (let i = 0; i < n; i += step) {
      const plus = base.slice();
      plus[i] += eps;
      const minus = base.slice();
      minus[i] -= eps;
      v.assign(tf.tensor(plus, v.shape));
      const fp = tf.tidy(() => f().dataSync()[0]);
      v.assign(tf.tensor(minus, v.shape));
      const fm = tf.tidy(() => f().dataSync()[0]);
      v.assign(tf.tensor(base, v.shape));
      const numeric = (fp - fm) / (2 * eps);
      const a = analytic[i];
      assert.ok(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric), `${what}: d/d${v === x ? 'input' : 'param'}[${i}] analytic ${a} numeric ${numeric}`);
    }
  }
  proj.dispose();
}

function checkLayer(what: string, layer: Layer | Module & { forward(x: tf.Tensor): tf.Tensor }, shape: number[], opts: { eps?: number; rtol?: number; atol?: number; seed?: number; scale?: number } = {}): void {
  const x = tf.variable(tf.mul(tf.tensor(seq(shape.reduce((a, b) => a * b, 1), opts.seed ?? 5), shape), opts.scale ?? 1));
  // Perturb parameters away from their initial values (ones, zeros) so every path matters.
  for (const p of layer.parameters()) p.assign(tf.add(p.variable, tf.mul(tf.tensor(seq(p.numel, 17), p.shape), 0.3)));
  gradCheck(what, (t) => layer.forward(t), x, layer.parameters().map((p) => p.variable), opts);
  x.dispose();
}

describe('gradient checks: layers', () => {
  before(useTestBackend);

  it('Conv2d (plain, grouped, depth-wise, strided+dilated, asymmetric padding)', () => {
    checkLayer('conv', new Conv2d({ in_channels: 2, out_channels: 3, kernel_size: 3, padding: 1 }), [2, 5, 5, 2]);
    checkLayer('grouped conv', new Conv2d({ in_channels: 4, out_channels: 4, kernel_size: 3, padding: 1, groups: 2 }), [1, 4, 4, 4]);
    checkLayer('depth-wise conv', new Conv2d({ in_channels: 3, out_channels: 3, kernel_size: 3, stride: 2, padding: 1, groups: 3 }), [1, 5, 5, 3]);
    checkLayer('strided dilated conv', new Conv2d({ in_channels: 2, out_channels: 2, kernel_size: 3, stride: 2, dilation: 2, padding: 2 }), [1, 7, 7, 2]);
    checkLayer('asymmetric padding', new Conv2d({ in_channels: 2, out_channels: 2, kernel_size: [2, 3], padding: [0, 1, 2, 0] }), [1, 4, 4, 2]);
  });

  it('Linear', () => checkLayer('linear', new Linear({ in_features: 4, out_features: 3 }), [2, 3, 4]));

  it('BatchNorm2d (train and eval), LayerNorm, GroupNorm', () => {
    const bn = new BatchNorm2d({ num_features: 3 });
    checkLayer('bn train', bn, [2, 3, 3, 3]);
    bn.eval();
    checkLayer('bn eval', bn, [2, 3, 3, 3]);
    checkLayer('layer norm', new LayerNorm({ normalized_shape: 5 }), [2, 3, 5]);
    checkLayer('group norm', new GroupNorm({ num_groups: 2, num_channels: 4 }), [2, 3, 3, 4]);
  });

  it('activations', () => {
    for (const [name, l] of [['relu', new ReLU()], ['relu6', new ReLU6()], ['gelu', new GELU()], ['gelu tanh', new GELU({ approximate: 'tanh' })], ['sigmoid', new Sigmoid()], ['tanh', new Tanh()], ['silu', new SiLU()], ['hswish', new HSwish()], ['hsigmoid', new HSigmoid()]] as [string, Layer][]) {
      checkLayer(name, l, [2, 7], { scale: 4 });
    }
  });

  it('pooling', () => {
    checkLayer('max pool', new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }), [1, 5, 5, 2]);
    checkLayer('avg pool ceil', new AvgPool2d({ kernel_size: 2, stride: 2, ceil_mode: true, count_include_pad: false }), [1, 5, 5, 2]);
    checkLayer('adaptive avg pool', new AdaptiveAvgPool2d({ output_size: [2, 3] }), [1, 5, 5, 2]);
  });

  it('MultiheadAttention, LayerScale, position-embedding interpolation', () => {
    const mha = new MultiheadAttention({ embed_dims: 4, num_heads: 2 });
    mha.eval();
    checkLayer('mha', mha, [1, 3, 4]);
    checkLayer('layer scale', new LayerScale({ dim: 4, layer_scale_init_value: 0.5 }), [2, 4]);
    const pe = tf.variable(tf.tensor(seq(1 * 10 * 2, 3), [1, 10, 2]));
    gradCheck('resize pos embed', (t) => resizePosEmbed(t, [3, 3], [4, 5], 'bicubic', 1), pe, []);
  });
});

describe('gradient checks: losses', () => {
  before(useTestBackend);

  const scores = (): tf.Variable => tf.variable(tf.mul(tf.tensor(seq(12, 21), [3, 4]), 2));
  const hard = (): tf.Tensor => tf.tensor1d([2, 0, 3], 'int32');
  const soft = (): tf.Tensor => tf.tensor2d([[0.1, 0.2, 0.6, 0.1], [0.7, 0.1, 0.1, 0.1], [0, 0, 0.5, 0.5]]);
  const multi = (): tf.Tensor => tf.tensor2d([[1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]]);
  const cases: [string, LossModule, () => tf.Tensor][] = [
    ['CE', new CrossEntropyLoss(), hard],
    ['CE class_weight', new CrossEntropyLoss({ class_weight: [1, 2, 0.5, 1.5], loss_weight: 0.7 }), hard],
    ['CE soft', new CrossEntropyLoss({ use_soft: true }), soft],
    ['CE sigmoid', new CrossEntropyLoss({ use_sigmoid: true, pos_weight: [1, 2, 3, 4] }), multi],
    ['CE sigmoid from labels', new CrossEntropyLoss({ use_sigmoid: true }), hard],
    ['LabelSmooth original', new LabelSmoothLoss({ label_smooth_val: 0.1 }), hard],
    ['LabelSmooth classy_vision', new LabelSmoothLoss({ label_smooth_val: 0.2, mode: 'classy_vision' }), hard],
    ['LabelSmooth multi_label', new LabelSmoothLoss({ label_smooth_val: 0.1, mode: 'multi_label' }), multi],
    ['Focal', new FocalLoss(), multi],
    ['Asymmetric', new AsymmetricLoss(), multi],
    ['Asymmetric softmax, no clip', new AsymmetricLoss({ use_sigmoid: false, clip: 0, gamma_pos: 1 }), multi],
  ];
  for (const [name, loss, target] of cases) {
    it(name, () => {
      const s = scores();
      const t = target();
      gradCheck(name, (x) => tf.reshape(loss.forward(x, t, { avgFactor: 3 }), [1]), s, []);
      s.dispose();
    });
  }
});
