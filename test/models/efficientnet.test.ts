import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { EdgeResidual, EfficientNet, ImageClassifier, modelScaling } from '../../runtime/models';
import { InvertedResidual } from '../../runtime/models/utils/inverted_residual';
import { Conv2dAdaptivePadding, Module, Sequential } from '../../runtime/nn';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { seq, useTestBackend } from '../nn/helpers';

const classifier = (arch: string, inChannels: number): ImageClassifier =>
  MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone: { type: 'EfficientNet', arch },
    neck: { type: 'GlobalAveragePooling' },
    head: { type: 'LinearClsHead', num_classes: 1000, in_channels: inChannels },
  });

/** Gradients of a squared-output loss for every trainable variable: [finite, non-zero] counts. */
function gradStats(m: Module & { forward(x: tf.Tensor): unknown }, x: tf.Tensor): { vars: number; finite: number; nonzero: number } {
  m.train();
  const vars = m.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square((m.forward(x) as tf.Tensor[])[0])) as tf.Scalar, vars);
  let finite = 0;
  let nonzero = 0;
  for (const v of vars) {
    const a = tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]);
    if (Number.isFinite(a)) finite++;
    if (a > 0) nonzero++;
  }
  value.dispose();
  tf.dispose(Object.values(grads));
  return { vars: vars.length, finite, nonzero };
}

describe('EfficientNet', () => {
  // Parameters (M) as MMClassification's model zoo prints them, with the head width of each config.
  const zoo: [string, number, number][] = [
    ['b0', 1280, 5.29], ['b1', 1280, 7.79], ['b2', 1408, 9.11], ['b3', 1536, 12.23], ['b4', 1792, 19.34],
    ['b5', 2048, 30.39], ['b6', 2304, 43.04], ['b7', 2560, 66.35], ['b8', 2816, 87.41], ['l2', 5504, 480.31], ['es', 1280, 5.44],
    ['em', 1280, 6.9],
  ];
  for (const [arch, c, params] of zoo) {
    it(`${arch}: ${params}M parameters, final conv of ${c} channels`, () => {
      const m = classifier(arch, c);
      assert.equal((m.numParameters() / 1e6).toFixed(2), params.toFixed(2));
      assert.equal((m.getChild('backbone') as EfficientNet).outChannels, c);
    });
  }

  it('model_scaling: b0 keeps 1/1/2/2/6/5/1 blocks per layer, b4 (depth x1.8) deepens and widens them', () => {
    const b0 = new EfficientNet({ arch: 'b0' });
    assert.deepEqual(b0.layers.toArray().map((l) => (l instanceof Sequential ? l.length : 1)), [1, 1, 2, 2, 6, 5, 1]);
    // ceil(1.8 * n) blocks for each run of equal widths: 1->2, 2->4, 2->4, 3->6 + 3->6, 4->8 + 1->2.
    const b4 = new EfficientNet({ arch: 'b4' });
    assert.deepEqual(b4.layers.toArray().map((l) => (l instanceof Sequential ? l.length : 1)), [1, 2, 4, 4, 12, 10, 1]);
    // Widths x1.4 rounded to multiples of 8 (never below 90%): 32->48, 16->24, 192->272, 320->448, 1280->1792.
    assert.deepEqual(b4.layerSetting.map((l) => l[0][1]), [48, 24, 32, 56, 112, 272, 1792]);
    assert.equal(b4.layerSetting[5][b4.layerSetting[5].length - 1][1], 448);
    const scaled = modelScaling([[[3, 32, 0, 2, 0, -1]], [[3, 16, 4, 1, 1, 0]], [[1, 1280, 0, 1, 0, -1]]], [1.0, 2.2, 0]);
    assert.equal(scaled[1].length, 3);
  });

  it("state-dict keys follow MMCls: layers.N.M.{expand_conv,depthwise_conv,se,linear_conv}, SE squeeze = in_channels / 4", () => {
    const keys = new Map(classifier('b0', 1280).stateDictKeys().map((e) => [e.key, e.shape.join('x')]));
    assert.equal(keys.size, 360);
    assert.equal(keys.get('backbone.layers.0.conv.weight'), '32x3x3x3');
    assert.equal(keys.get('backbone.layers.1.0.depthwise_conv.conv.weight'), '32x1x3x3');
    assert.ok(!keys.has('backbone.layers.1.0.expand_conv.conv.weight'), 'expand ratio 1: no expand conv');
    assert.equal(keys.get('backbone.layers.1.0.se.conv1.conv.weight'), '8x32x1x1');
    assert.equal(keys.get('backbone.layers.2.0.se.conv1.conv.weight'), '4x96x1x1');
    assert.equal(keys.get('backbone.layers.4.3.depthwise_conv.conv.weight'), '480x1x5x5');
    assert.equal(keys.get('backbone.layers.6.conv.weight'), '1280x320x1x1');
    assert.equal(keys.get('head.fc.weight'), '1000x1280');
  });

  it('EdgeTPU-M: edge residual blocks; the repeated first block widens to x4 and has no shortcut', () => {
    const em = new EfficientNet({ arch: 'em' });
    const layer1 = em.layers.at(1) as Sequential;
    assert.equal(layer1.length, 2);
    const [first, second] = layer1.items() as EdgeResidual[];
    assert.ok(first instanceof EdgeResidual && second instanceof EdgeResidual);
    assert.deepEqual(first.conv1.conv.weight.torchShape, [96, 32, 3, 3]);
    assert.equal(first.withResidual, false, 'channels change 32 -> 24');
    assert.deepEqual(second.conv1.conv.weight.torchShape, [96, 24, 3, 3]);
    assert.equal(second.withResidual, false);
    assert.ok((em.layers.at(4) as Sequential).at(0) instanceof InvertedResidual);
    assert.ok(em.layers.at(0).getChild('conv') instanceof Conv2dAdaptivePadding);
  });

  it('out_indices and frozen_stages are checked and applied', () => {
    assert.throws(() => new EfficientNet({ out_indices: [7] }), /out_indices must in range\(0, 7\)/);
    assert.throws(() => new EfficientNet({ frozen_stages: 8 }), /frozen_stages/);
    assert.throws(() => new EfficientNet({ arch: 'b9' as 'b0' }), /not one of the arch_settings/);
    const m = new EfficientNet({ frozen_stages: 2, out_indices: [2, 4, 6] });
    m.train();
    assert.ok(m.layers.at(0).parameters().every((p) => !p.requiresGrad));
    assert.ok(m.layers.at(1).parameters().every((p) => !p.requiresGrad));
    assert.ok(m.layers.at(2).parameters().every((p) => p.requiresGrad));
    assert.equal(m.layers.at(1).training, false);
    assert.equal(m.layers.at(2).training, true);
    assert.deepEqual(analyzeComplexity(m, [3, 64, 64]).outputShape, [[1, 24, 16, 16], [1, 112, 4, 4], [1, 1280, 2, 2]]);
  });

  describe('forward', () => {
    before(useTestBackend);

    it('an odd input size (SAME padding) gives the shapes shape inference predicts', () => {
      const m = new EfficientNet({ arch: 'b0', out_indices: [0, 3, 6] });
      m.initWeights();
      m.eval();
      const outs = tf.tidy(() => m.forward(tf.ones([1, 35, 35, 3])) as tf.Tensor[]);
      const nchw = outs.map((t) => [t.shape[0], t.shape[3], t.shape[1], t.shape[2]]);
      assert.deepEqual(nchw, [[1, 32, 18, 18], [1, 40, 5, 5], [1, 1280, 2, 2]]);
      assert.deepEqual(analyzeComplexity(m, [3, 35, 35]).outputShape, nchw);
      assert.ok(outs.every((t) => Number.isFinite(t.sum().dataSync()[0])));
      tf.dispose(outs);
      m.dispose();
    });

    it('training: every parameter gets a finite, non-zero gradient (through the SAME padding and the SE layers)', () => {
      const m = new EfficientNet({ arch: 'b0' });
      m.initWeights();
      const x = tf.tensor4d(seq(2 * 33 * 33 * 3, 5), [2, 33, 33, 3]);
      const r = gradStats(m, x);
      x.dispose();
      m.dispose();
      assert.equal(r.vars, 211);
      assert.deepEqual([r.finite, r.nonzero], [r.vars, r.vars]);
    });
  });
});
