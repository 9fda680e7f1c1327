import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, VGG, flattenNCHW } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { Conv2d } from '../../runtime/nn/conv';
import { _BatchNorm } from '../../runtime/nn/norm';
import { nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { bnEval, conv2d, fillState, img, map, pool, relu, trainStepGradients, w } from './reference_ops';

const STAGES: Record<number, number[]> = { 11: [1, 1, 2, 2, 2], 13: [2, 2, 2, 2, 2], 16: [2, 2, 3, 3, 3], 19: [2, 2, 4, 4, 4] };

/**
 * Written-out VGG costs at 224x224: parameters, fvcore FLOPs (conv and fc multiply-adds, batch norm
 * 2 per element) and the older MMCV counter's extras that the model zoo's FLOPs include (one per
 * conv output for the bias, one per ReLU output, one per max-pooling input element).
 */
function vggByHand(depth: number, bn: boolean): { params: number; flops: number; mmcvExtra: number } {
  let params = 0;
  let flops = 0;
  let extra = 0;
  let cin = 3;
  STAGES[depth].forEach((n, s) => {
    const cout = s < 4 ? 64 * 2 ** s : 512;
    const hw = (224 / 2 ** s) ** 2;
    for (let i = 0; i < n; i++) {
      params += cin * cout * 9 + cout + (bn ? 2 * cout : 0);
      flops += hw * cout * cin * 9 + (bn ? 2 * hw * cout : 0);
      extra += 2 * hw * cout;
      cin = cout;
    }
    extra += hw * cout;
  });
  const fc = [25088 * 4096, 4096 * 4096, 4096 * 1000];
  params += fc.reduce((a, b) => a + b, 0) + 4096 + 4096 + 1000;
  flops += fc.reduce((a, b) => a + b, 0);
  extra += 2 * 4096;
  return { params, flops, mmcvExtra: extra };
}

const vggClassifier = (depth: number, bn: boolean): ImageClassifier =>
  MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone: { type: 'VGG', depth, num_classes: 1000, ...(bn ? { norm_cfg: { type: 'BN' } } : {}) },
    neck: null,
    head: { type: 'ClsHead', topk: [1, 5] },
  });

describe('VGG', () => {
  before(useTestBackend);

  // [depth, BN, params (M), FLOPs (G)] as the model zoo publishes them.
  const zoo: [number, boolean, number, number][] = [
    [11, false, 132.86, 7.63], [13, false, 133.05, 11.34], [16, false, 138.36, 15.5], [19, false, 143.67, 19.67],
    [11, true, 132.87, 7.64], [13, true, 133.05, 11.36], [16, true, 138.37, 15.53], [19, true, 143.68, 19.7],
  ];
  for (const [depth, bn, params, flops] of zoo) {
    it(`VGG-${depth}${bn ? '-BN' : ''}: ${params}M parameters; FLOPs as written out, ${flops}G with the zoo's counter`, () => {
      const m = vggClassifier(depth, bn);
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      const hand = vggByHand(depth, bn);
      assert.equal(r.params, hand.params);
      assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
      assert.equal(r.flops, hand.flops);
      assert.equal(((r.flops + hand.mmcvExtra) / 1e9).toFixed(2), flops.toFixed(2));
      assert.deepEqual(r.outputShape, [[1, 1000]]);
    });
  }

  it("state-dict keys: one flat `features` Sequential (max pools take indices), `classifier.0/3/6`", () => {
    const keys = new VGG({ depth: 11, num_classes: 1000 }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    const convs = [0, 2, 4, 5, 7, 8, 10, 11];
    const chans = [[3, 64], [64, 128], [128, 256], [256, 256], [256, 512], [512, 512], [512, 512], [512, 512]];
    const expected = convs.flatMap((i, k) => [`features.${i}.conv.weight ${chans[k][1]}x${chans[k][0]}x3x3`, `features.${i}.conv.bias ${chans[k][1]}`]);
    expected.push('classifier.0.weight 4096x25088', 'classifier.0.bias 4096', 'classifier.3.weight 4096x4096', 'classifier.3.bias 4096');
    expected.push('classifier.6.weight 1000x4096', 'classifier.6.bias 1000');
    assert.deepEqual(keys, expected);
    const bnKeys = new VGG({ depth: 11, norm_cfg: { type: 'BN' } }).stateDictKeys().map((e) => e.key);
    assert.deepEqual(bnKeys.slice(0, 7), [
      'features.0.conv.weight', 'features.0.conv.bias', 'features.0.bn.weight', 'features.0.bn.bias',
      'features.0.bn.running_mean', 'features.0.bn.running_var', 'features.0.bn.num_batches_tracked',
    ]);
    assert.equal(bnKeys.length, 8 * 7);
  });

  it('two BN stages (the second dilated) on a 6x6 image equal conv-bn-relu-maxpool written out; ceil_mode and with_last_pool', () => {
    const m = new VGG({ depth: 11, num_stages: 2, dilations: [1, 2], out_indices: [0, 1], norm_cfg: { type: 'BN' } });
    m.eval();
    const sd = fillState(m);
    const x = seq(3 * 6 * 6, 11);
    const [y0, y1] = tf.tidy(() => (m.forward(nchwToNhwc(x, [1, 3, 6, 6])) as tf.Tensor[]).map((t) => ({ shape: t.shape, data: nhwcToNchw(t) })));
    let r = conv2d(img(3, 6, 6, x), w(sd, 'features.0.conv.weight'), w(sd, 'features.0.conv.bias'), { out: 64, k: 3, pad: 1 });
    r = pool(map(bnEval(r, sd, 'features.0.bn'), relu), 'max', 2, 2);
    assert.deepEqual(y0.shape, [1, 3, 3, 64]);
    assert.ok(maxDiff(y0.data, r.data) < 1e-4, `stage 0 differs by ${maxDiff(y0.data, r.data)}`);
    const pre = map(bnEval(conv2d(r, w(sd, 'features.2.conv.weight'), w(sd, 'features.2.conv.bias'), { out: 128, k: 3, pad: 2, dilation: 2 }), sd, 'features.2.bn'), relu);
    const r1 = pool(pre, 'max', 2, 2);
    assert.deepEqual(y1.shape, [1, 1, 1, 128]);
    assert.ok(maxDiff(y1.data, r1.data) < 1e-4, `stage 1 differs by ${maxDiff(y1.data, r1.data)}`);

    const ceil = new VGG({ depth: 11, num_stages: 2, dilations: [1, 2], out_indices: [1], norm_cfg: { type: 'BN' }, ceil_mode: true });
    ceil.loadStateDict(sd);
    ceil.eval();
    const noLast = new VGG({ depth: 11, num_stages: 2, dilations: [1, 2], out_indices: [1], norm_cfg: { type: 'BN' }, with_last_pool: false });
    noLast.loadStateDict(sd);
    noLast.eval();
    const [yc, yn] = tf.tidy(() => [ceil, noLast].map((v) => {
      const t = (v.forward(nchwToNhwc(x, [1, 3, 6, 6])) as tf.Tensor[])[0];
      return { shape: t.shape, data: nhwcToNchw(t) };
    }));
    // ceil_mode: the 3x3 map pools to 2x2, the last window covering one row and column only.
    assert.deepEqual(yc.shape, [1, 2, 2, 128]);
    const c = 5; // any channel
    const at = (i: number, j: number): number => pre.data[(c * 3 + i) * 3 + j];
    assert.ok(Math.abs(yc.data[c * 4 + 3] - at(2, 2)) < 1e-4);
    assert.ok(Math.abs(yc.data[c * 4 + 0] - Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1))) < 1e-4);
    assert.deepEqual(yn.shape, [1, 3, 3, 128]);
    assert.ok(maxDiff(yn.data, pre.data) < 1e-4);
    for (const v of [m, ceil, noLast]) v.dispose();
  });

  it("flattens feature maps in PyTorch's channel-first order before the classifier", () => {
    // NHWC [1, 2, 2, 3] holding 100 * c + 10 * h + w.
    const data: number[] = [];
    for (let h = 0; h < 2; h++) for (let ww = 0; ww < 2; ww++) for (let c = 0; c < 3; c++) data.push(100 * c + 10 * h + ww);
    const flat = tf.tidy(() => Array.from(flattenNCHW(tf.tensor4d(data, [1, 2, 2, 3])).dataSync()));
    assert.deepEqual(flat, [0, 1, 10, 11, 100, 101, 110, 111, 200, 201, 210, 211]);
  });

  it('out_indices: (4, ) without a classifier, (5, ) (the scores) with one; stage outputs come before the scores', () => {
    const shapeOf = (opts: ConstructorParameters<typeof VGG>[0]): unknown => analyzeComplexity(new VGG(opts), [3, 224, 224]).outputShape;
    assert.deepEqual(shapeOf({ depth: 11 }), [[1, 512, 7, 7]]);
    assert.deepEqual(shapeOf({ depth: 11, num_classes: 10 }), [[1, 10]]);
    assert.deepEqual(shapeOf({ depth: 11, num_classes: 10, out_indices: [2, 4] }), [[1, 256, 28, 28], [1, 512, 7, 7], [1, 10]]);
    assert.deepEqual(shapeOf({ depth: 13, num_stages: 3, dilations: [1, 1, 1], out_indices: [2] }), [[1, 256, 28, 28]]);
    assert.throws(() => analyzeComplexity(new VGG({ depth: 11, num_classes: 10 }), [3, 64, 64]), MmclsError);
  });

  it('init_cfg: Kaiming (fan_out) convs, N(0, 0.01) fc layers with zero bias, batch norms 1 and 0', () => {
    const m = new VGG({ depth: 11, num_stages: 2, dilations: [1, 1], out_indices: [1], norm_cfg: { type: 'BN' } });
    m.initWeights();
    const conv = m.features.at(2).getChild('conv') as Conv2d;
    const std = tf.tidy(() => tf.moments(conv.weight.variable).variance.sqrt().dataSync()[0]);
    assert.ok(Math.abs(std / Math.sqrt(2 / (128 * 9)) - 1) < 0.05, `conv std ${std}`);
    assert.equal(tf.tidy(() => tf.abs(conv.bias!.variable).max().dataSync()[0]), 0);
    for (const [, mod] of m.namedModules()) {
      if (mod instanceof _BatchNorm) assert.equal(tf.tidy(() => tf.sub(mod.weight!.variable, 1).abs().max().dataSync()[0]), 0);
    }
    // The fc layers get N(0, 0.01) from the same init_cfg (allocating a whole classifier here would take seconds).
    assert.deepEqual(new VGG({ depth: 11, num_classes: 7 }).initCfg, [
      { type: 'Kaiming', layer: ['Conv2d'] },
      { type: 'Constant', val: 1, layer: ['_BatchNorm'] },
      { type: 'Normal', std: 0.01, layer: ['Linear'] },
    ]);
    m.dispose();
  });

  it('frozen_stages freezes and evaluates whole stages (convs and their pool); norm_eval keeps batch norms in eval', () => {
    const m = new VGG({ depth: 11, frozen_stages: 2, norm_cfg: { type: 'BN' }, norm_eval: true });
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^features\.[0-3]\./.test(name), name);
    assert.equal(m.features.at(2).training, false);
    assert.equal(m.features.at(4).training, true);
    for (const [, mod] of m.namedModules()) if (mod instanceof _BatchNorm) assert.equal(mod.training, false);
    assert.deepEqual(m.rangeSubModules, [[0, 2], [2, 4], [4, 7], [7, 10], [10, 13]]);
  });

  it('rejects unknown depths, out_indices past num_stages and dilations of the wrong length', () => {
    assert.throws(() => new VGG({ depth: 12 as 11 }), MmclsError);
    assert.throws(() => new VGG({ depth: 11, num_stages: 2, dilations: [1, 1] }), MmclsError);
    assert.throws(() => new VGG({ depth: 11, num_stages: 2 }), MmclsError);
  });

  const CONFIGS = path.resolve(__dirname, '../../configs');
  for (const [depth, bn, params] of zoo) {
    const file = `vgg/vgg${depth}${bn ? 'bn' : ''}_8xb32_in1k.py`;
    it(`configs/${file}: ${params}M parameters and the FLOPs written out, at 224`, () => {
      const cfg = loadConfig(path.join(CONFIGS, file)).value as Record<string, unknown>;
      const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
      assert.deepEqual(result.inputShape, [3, 224, 224]);
      assert.equal(result.params, vggByHand(depth, bn).params);
      assert.equal(result.flops, vggByHand(depth, bn).flops);
    });
  }

  it('configs/vgg/vgg16_8xb16_voc.py: a 20-way classifier in the backbone, multi-label head, pretrained backbone', () => {
    const file = 'vgg/vgg16_8xb16_voc.py';
    const cfg = loadConfig(path.join(CONFIGS, file)).value as Record<string, unknown>;
    const { result, model } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
    assert.deepEqual(result.outputShape, [[1, 20]]);
    assert.equal(result.params, vggByHand(16, false).params - 980 * 4096 - 980);
    assert.equal((model.getSubmodule('head') as object).constructor.name, 'MultiLabelClsHead');
    assert.equal((model.getSubmodule('backbone')!.initCfg as { type: string }).type, 'Pretrained');
  });

  it('one training step of a two-stage VGG-BN gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'VGG', depth: 11, num_stages: 2, dilations: [1, 1], out_indices: [1], norm_cfg: { type: 'BN' } },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 128 },
    });
    const g = trainStepGradients(m, 16);
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
