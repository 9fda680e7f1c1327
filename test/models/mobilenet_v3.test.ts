import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, MOBILENET_V3_ARCH_SETTINGS, MobileNetV3, MobileNetV3ArchName } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { Conv2d } from '../../runtime/nn/conv';
import { Layer } from '../../runtime/nn/layer';
import { BatchNorm2d, _BatchNorm } from '../../runtime/nn/norm';
import { buildActivationLayer } from '../../runtime/nn/builders';
import { nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { Img, add, bnEval, conv2d, fillState, gap, hsigmoid, hswish, img, map, relu, scaleChannels, trainStepGradients, w } from './reference_ops';

/** make_divisible(v, 8) as MMCls writes it: at least 8, nearest multiple of 8, never below 90 % of v. */
function div8(v: number): number {
  let n = Math.max(8, Math.floor(Math.floor(v + 4) / 8) * 8);
  if (n < 0.9 * v) n += 8;
  return n;
}

/**
 * A MobileNetV3 at 224x224 written out block by block from the paper's tables (as MMCls lists
 * them): parameters (with the config's stacked head), fvcore FLOPs of extract_feat, and the older
 * MMCV counter's extras (ReLU outputs, conv biases).
 */
function mobileNetV3ByHand(arch: MobileNetV3ArchName, hidden: number): { params: number; flops: number; mmcvExtra: number; channels: number } {
  let s = 112;
  let cin = 16;
  let params = 16 * 27 + 32;
  let flops = s * s * 16 * 27 + 2 * s * s * 16;
  let extra = 0;
  let last = 16;
  for (const [k, mid, out, se, act, stride] of MOBILENET_V3_ARCH_SETTINGS[arch]) {
    const reluOut = act === 'ReLU';
    if (mid !== cin) {
      params += cin * mid + 2 * mid;
      flops += s * s * (mid * cin + 2 * mid);
      if (reluOut) extra += s * s * mid;
    }
    const so = Math.floor((s + 2 * Math.floor(k / 2) - k) / stride) + 1;
    params += mid * k * k + 2 * mid;
    flops += so * so * (mid * k * k + 2 * mid);
    if (reluOut) extra += so * so * mid;
    if (se) {
      const sq = div8(Math.floor(mid / 4));
      params += 2 * mid * sq + sq + mid;
      flops += so * so * mid + 2 * mid * sq;
      extra += sq + mid + sq; // two biases, the squeeze ReLU
    }
    params += mid * out + 2 * out;
    flops += so * so * (out * mid + 2 * out);
    s = so;
    cin = out;
    last = mid;
  }
  params += cin * last + 2 * last;
  flops += s * s * (last * cin + 2 * last) + s * s * last;
  params += last * hidden + hidden + hidden * 1000 + 1000;
  return { params, flops, mmcvExtra: extra, channels: last };
}

const HEAD_HIDDEN: Record<MobileNetV3ArchName, number> = { small: 1024, small_075: 1024, small_050: 1024, large: 1280 };

const classifier = (arch: MobileNetV3ArchName, channels: number): ImageClassifier =>
  MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone: { type: 'MobileNetV3', arch },
    neck: { type: 'GlobalAveragePooling' },
    head: {
      type: 'StackedLinearClsHead',
      num_classes: 1000,
      in_channels: channels,
      mid_channels: [HEAD_HIDDEN[arch]],
      dropout_rate: 0.2,
      act_cfg: { type: 'HSwish' },
      init_cfg: { type: 'Normal', layer: 'Linear', mean: 0, std: 0.01, bias: 0 },
    },
  });

describe('MobileNetV3', () => {
  before(useTestBackend);

  // [arch, params (M), FLOPs (G) of the model zoo]. The zoo's small-050/075 figures (converted
  // checkpoints) agree with fvcore's count, the small/large ones with the older MMCV counter.
  const zoo: [MobileNetV3ArchName, number, number, 'fvcore' | 'mmcv'][] = [
    ['small_050', 1.59, 0.02, 'fvcore'],
    ['small_075', 2.04, 0.04, 'fvcore'],
    ['small', 2.54, 0.06, 'fvcore'],
    ['large', 5.48, 0.23, 'mmcv'],
  ];
  for (const [arch, params, flops, counter] of zoo) {
    it(`${arch}: ${params}M parameters with the stacked head; FLOPs as written out (${flops}G with the ${counter} count)`, () => {
      const hand = mobileNetV3ByHand(arch, HEAD_HIDDEN[arch]);
      const m = classifier(arch, hand.channels);
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.equal(r.params, hand.params);
      assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
      assert.equal(r.flops, hand.flops);
      assert.equal(((r.flops + (counter === 'mmcv' ? hand.mmcvExtra : 0)) / 1e9).toFixed(2), flops.toFixed(2));
      assert.deepEqual(r.outputShape, [[1, hand.channels]]);
    });
  }

  it('state-dict keys: layer0 ConvModule, InvertedResidual blocks (expand only where mid != in, SE, linear conv), the last 1x1 ConvModule', () => {
    const keys = new MobileNetV3({ arch: 'small' }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 3), ['layer0.conv.weight 16x3x3x3', 'layer0.bn.weight 16', 'layer0.bn.bias 16']);
    for (const k of [
      'layer1.depthwise_conv.conv.weight 16x1x3x3',
      'layer1.se.conv1.conv.weight 8x16x1x1',
      'layer1.se.conv1.conv.bias 8',
      'layer1.se.conv2.conv.weight 16x8x1x1',
      'layer1.linear_conv.conv.weight 16x16x1x1',
      'layer2.expand_conv.conv.weight 72x16x1x1',
      'layer4.se.conv1.conv.weight 24x96x1x1',
      'layer11.depthwise_conv.conv.weight 576x1x5x5',
      'layer12.conv.weight 576x96x1x1',
      'layer12.bn.running_var 576',
    ]) {
      assert.ok(keys.includes(k), k);
    }
    assert.ok(!keys.some((k) => k.startsWith('layer1.expand_conv')));
    assert.ok(!keys.some((k) => k.startsWith('layer2.se')));
    assert.equal(keys[keys.length - 1], 'layer12.bn.num_batches_tracked ');
    const large = new MobileNetV3({ arch: 'large' }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.equal(large[large.length - 6], 'layer16.conv.weight 960x160x1x1');
  });

  it('HSwish and HSigmoid (the SE gate) at hand-picked points', () => {
    const x = tf.tensor1d([-4, -3, -1, 0, 1, 3, 4]);
    const got = tf.tidy(() => [buildActivationLayer({ type: 'HSwish' }), buildActivationLayer({ type: 'HSigmoid', bias: 3, divisor: 6, min_value: 0, max_value: 1 })].map((l) => Array.from(l.forward(x).dataSync())));
    const close = (a: number[], b: number[]): boolean => a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
    assert.ok(close(got[0], [0, 0, -1 / 3, 0, 2 / 3, 3, 4]), `${got[0]}`);
    assert.ok(close(got[1], [0, 0, 1 / 3, 0.5, 2 / 3, 1, 1]), `${got[1]}`);
    x.dispose();
  });

  it('an HSwish block with SE (expand, 5x5 stride-2 depth-wise, squeeze-excite, linear) and a residual one equal their written-out form', () => {
    const m = new MobileNetV3({ arch: 'small' });
    m.eval();
    const sd = fillState(m);
    const bn = (t: Img, p: string): Img => bnEval(t, sd, p, 0.001);
    const block = (x: Img, p: string, k: number, mid: number, out: number, stride: number): Img => {
      let t = map(bn(conv2d(x, w(sd, `${p}.expand_conv.conv.weight`), null, { out: mid, k: 1 }), `${p}.expand_conv.bn`), hswish);
      t = map(bn(conv2d(t, w(sd, `${p}.depthwise_conv.conv.weight`), null, { out: mid, k, stride, pad: Math.floor(k / 2), groups: mid }), `${p}.depthwise_conv.bn`), hswish);
      const sq = div8(Math.floor(mid / 4));
      let g = map(conv2d(gap(t), w(sd, `${p}.se.conv1.conv.weight`), w(sd, `${p}.se.conv1.conv.bias`), { out: sq, k: 1 }), relu);
      g = map(conv2d(g, w(sd, `${p}.se.conv2.conv.weight`), w(sd, `${p}.se.conv2.conv.bias`), { out: mid, k: 1 }), hsigmoid);
      t = scaleChannels(t, g);
      return bn(conv2d(t, w(sd, `${p}.linear_conv.conv.weight`), null, { out, k: 1 }), `${p}.linear_conv.bn`);
    };
    const run = (name: string, x: Float32Array, shape: [number, number, number, number]): { shape: number[]; data: Float32Array } =>
      tf.tidy(() => {
        const t = (m.getChild(name) as Layer).forward(nchwToNhwc(x, shape));
        return { shape: t.shape, data: nhwcToNchw(t) };
      });
    // layer4: 24 -> 96 -> 40 channels, kernel 5, stride 2, SE with 24 squeezed channels.
    const x4 = seq(24 * 5 * 5, 31);
    const y4 = run('layer4', x4, [1, 24, 5, 5]);
    const r4 = block(img(24, 5, 5, x4), 'layer4', 5, 96, 40, 2);
    assert.deepEqual(y4.shape, [1, 3, 3, 40]);
    assert.ok(maxDiff(y4.data, r4.data) < 1e-4, `layer4 differs by ${maxDiff(y4.data, r4.data)}`);
    // layer5: 40 -> 240 -> 40, stride 1: identity shortcut.
    const x5 = seq(40 * 3 * 3, 32);
    const y5 = run('layer5', x5, [1, 40, 3, 3]);
    const r5 = add(img(40, 3, 3, x5), block(img(40, 3, 3, x5), 'layer5', 5, 240, 40, 1));
    assert.ok(maxDiff(y5.data, r5.data) < 1e-4, `layer5 differs by ${maxDiff(y5.data, r5.data)}`);
    m.dispose();
  });

  it('out_indices (default: the last layer), frozen_stages (layer0..layerN), norm_eval, BN eps 0.001 / momentum 0.01', () => {
    assert.deepEqual(new MobileNetV3({ arch: 'small' }).outIndices, [12]);
    assert.deepEqual(new MobileNetV3({ arch: 'large' }).outIndices, [16]);
    assert.deepEqual(analyzeComplexity(new MobileNetV3({ arch: 'small', out_indices: [0, 1, 3, 8, 12] }), [3, 224, 224]).outputShape, [
      [1, 16, 112, 112], [1, 16, 56, 56], [1, 24, 28, 28], [1, 48, 14, 14], [1, 576, 7, 7],
    ]);
    const m = new MobileNetV3({ arch: 'small', frozen_stages: 2, norm_eval: true });
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^layer[0-2]\./.test(name), name);
    assert.equal((m.getChild('layer2') as Layer).training, false);
    assert.equal((m.getChild('layer3') as Layer).training, true);
    for (const [, mod] of m.namedModules()) {
      if (mod instanceof _BatchNorm) {
        assert.equal(mod.training, false);
        assert.equal(mod.eps, 0.001);
        assert.equal(mod.momentum, 0.01);
      }
    }
    assert.throws(() => new MobileNetV3({ arch: 'small', out_indices: [13] }), MmclsError);
    assert.throws(() => new MobileNetV3({ arch: 'small', frozen_stages: 13 }), MmclsError);
    assert.throws(() => new MobileNetV3({ arch: 'medium' as 'small' }), MmclsError);
  });

  it('init_cfg: batch norm weights 1 (BatchNorm2d), Kaiming convs', () => {
    const m = new MobileNetV3({ arch: 'small_050' });
    m.initWeights();
    for (const [, mod] of m.namedModules()) {
      if (mod instanceof BatchNorm2d) assert.equal(tf.tidy(() => tf.sub(mod.weight!.variable, 1).abs().max().dataSync()[0]), 0);
    }
    const conv = m.getSubmodule('layer11.expand_conv.conv') as Conv2d;
    const std = tf.tidy(() => tf.moments(conv.weight.variable).variance.sqrt().dataSync()[0]);
    assert.ok(Math.abs(std / Math.sqrt(2 / 288) - 1) < 0.05, `conv std ${std}`);
    m.dispose();
  });

  const CONFIGS = path.resolve(__dirname, '../../configs');
  // [config, arch, params (M), BN eps the config sets].
  const configs: [string, MobileNetV3ArchName, number, number][] = [
    ['mobilenet_v3/mobilenet-v3-small-050_8xb128_in1k.py', 'small_050', 1.59, 1e-5],
    ['mobilenet_v3/mobilenet-v3-small-075_8xb128_in1k.py', 'small_075', 2.04, 1e-5],
    ['mobilenet_v3/mobilenet-v3-small_8xb128_in1k.py', 'small', 2.54, 0.001],
    ['mobilenet_v3/mobilenet-v3-large_8xb128_in1k.py', 'large', 5.48, 0.001],
  ];
  for (const [file, arch, params, eps] of configs) {
    it(`configs/${file}: ${params}M parameters, the FLOPs written out at 224, BN eps ${eps}`, () => {
      const cfg = loadConfig(path.join(CONFIGS, file)).value as Record<string, unknown>;
      const { result, model } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
      assert.deepEqual(result.inputShape, [3, 224, 224]);
      assert.equal((result.params / 1e6).toFixed(2), params.toFixed(2));
      assert.equal(result.flops, mobileNetV3ByHand(arch, HEAD_HIDDEN[arch]).flops);
      const bn = model.getSubmodule('backbone.layer0.bn') as _BatchNorm;
      assert.equal(bn.eps, eps);
    });
  }

  it('configs/mobilenet_v3/mobilenet-v3-small_8xb16_cifar10.py: 32x32 input, a 1280-wide hidden layer, 10 classes', () => {
    const file = 'mobilenet_v3/mobilenet-v3-small_8xb16_cifar10.py';
    const cfg = loadConfig(path.join(CONFIGS, file)).value as Record<string, unknown>;
    const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
    assert.deepEqual(result.inputShape, [3, 32, 32]);
    const backbone = new MobileNetV3({ arch: 'small' }).numParameters();
    assert.equal(result.params, backbone + 576 * 1280 + 1280 + 1280 * 10 + 10);
  });

  it('one training step of MobileNetV3-small-050 (with its stacked head) gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'MobileNetV3', arch: 'small_050' },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'StackedLinearClsHead', num_classes: 5, in_channels: 288, mid_channels: [32], act_cfg: { type: 'HSwish' } },
    });
    const g = trainStepGradients(m, 32);
    assert.equal(g.count, m.trainableVariables().length);
    assert.deepEqual(g.nonFinite, []);
    assert.deepEqual(g.zero, []);
    m.dispose();
  });
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
