import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier } from '../../runtime/models';
import { ClsDataSample } from '../../runtime/structures';
import { seq, useTestBackend } from '../nn/helpers';

/**
 * One training step's gradients through the ConvNeXt, RegNet and ShuffleNetV1 blocks (grouped and
 * depth-wise convs, channel shuffle, LayerNorm, GRN, layer scale): every trainable
 * parameter gets a finite, non-zero gradient. Tiny widths and 32x32 inputs keep it fast.
 */
describe('backbones: gradients of a training step (ConvNeXt, RegNet, ShuffleNetV1)', () => {
  before(useTestBackend);

  const cases: [string, Record<string, unknown>, number, boolean][] = [
    ['ConvNeXt (linear point-wise layers, layer scale)', { type: 'ConvNeXt', arch: { depths: [1, 1], channels: [8, 16] } }, 16, false],
    ['ConvNeXt V2 (GRN, 1x1 conv point-wise layers)', { type: 'ConvNeXt', arch: { depths: [1, 1], channels: [8, 16] }, use_grn: true, layer_scale_init_value: 0, linear_pw_conv: false }, 16, false],
    ['RegNet (grouped bottlenecks)', { type: 'RegNet', arch: { w0: 16, wa: 16, wm: 2, group_w: 8, depth: 4, bot_mul: 1.0 }, strides: [2, 2, 2], dilations: [1, 1, 1], out_indices: [2], zero_init_residual: false }, 64, true],
    ['ShuffleNetV1 0.5x (grouped 1x1 convs, channel shuffle)', { type: 'ShuffleNetV1', groups: 3, widen_factor: 0.5 }, 480, true],
  ];
  for (const [name, backbone, inChannels, neck] of cases) {
    it(name, () => {
      const m = MODELS.build<ImageClassifier>({
        type: 'ImageClassifier',
        backbone,
        ...(neck ? { neck: { type: 'GlobalAveragePooling' } } : {}),
        head: { type: 'LinearClsHead', num_classes: 5, in_channels: inChannels },
      });
      m.initWeights();
      m.train();
      const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 7), [2, 32, 32, 3]);
      const samples = [0, 3].map((l) => new ClsDataSample().set_gt_label(l));
      const vars = m.trainableVariables();
      const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(m.loss(x, samples))) as tf.Scalar, vars);
      assert.ok(Number.isFinite(value.dataSync()[0]));
      assert.equal(Object.keys(grads).length, vars.length);
      const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
      for (const [v, g] of Object.entries(grads)) {
        const d = g.dataSync();
        assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${names.get(v)}`);
        assert.ok(d.some((e) => e !== 0), `zero gradient of ${names.get(v)}`);
      }
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  }
});
