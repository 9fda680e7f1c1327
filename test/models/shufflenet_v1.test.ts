import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, ShuffleNetV1, ShuffleUnit } from '../../runtime/models';
import { channelShuffle } from '../../runtime/models/utils/channel_shuffle';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { _BatchNorm } from '../../runtime/nn/norm';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';

describe('ShuffleNetV1', () => {
  before(useTestBackend);

  it('channel_shuffle interleaves the groups (6 channels, 3 groups: 0 2 4 1 3 5)', () => {
    // Channel c of pixel p holds 10 * p + c.
    const data = Array.from({ length: 2 * 6 }, (_, k) => 10 * Math.floor(k / 6) + (k % 6));
    const got = tf.tidy(() => Array.from(channelShuffle(tf.tensor4d(data, [1, 1, 2, 6]), 3).dataSync()));
    assert.deepEqual(got, [0, 2, 4, 1, 3, 5, 10, 12, 14, 11, 13, 15]);
    const two = tf.tidy(() => Array.from(channelShuffle(tf.tensor4d([0, 1, 2, 3, 4, 5], [1, 1, 1, 6]), 2).dataSync()));
    assert.deepEqual(two, [0, 3, 1, 4, 2, 5]);
  });

  it('1x (groups=3): parameters and FLOPs as the model zoo publishes them, output channels per groups setting', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'ShuffleNetV1', groups: 3 },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 960 },
    });
    m.eval();
    const r = analyzeComplexity(m, [3, 224, 224]);
    assert.ok(Math.abs(r.params / 1e6 - 1.87) <= 0.006, `params ${r.params}`);
    // Printed as 0.15 G by a counter that also counts pooling; pooling other than adaptive counts 0 here.
    assert.ok(Math.abs(r.flops / 1e9 - 0.15) <= 0.01, `flops ${r.flops}`);
    const outChannels = (groups: 1 | 2 | 3 | 4 | 8, widen = 1.0): unknown =>
      analyzeComplexity(new ShuffleNetV1({ groups, widen_factor: widen }), [3, 64, 64]).outputShape;
    assert.deepEqual(outChannels(1), [[1, 576, 2, 2]]);
    assert.deepEqual(outChannels(2), [[1, 800, 2, 2]]);
    assert.deepEqual(outChannels(4), [[1, 1088, 2, 2]]);
    assert.deepEqual(outChannels(8), [[1, 1536, 2, 2]]);
    assert.deepEqual(outChannels(3, 0.5), [[1, 480, 2, 2]]);
  });

  it('keys: ConvModule stem, ungrouped first compress conv, grouped expand convs (concat units lose in_channels)', () => {
    const keys = new ShuffleNetV1().stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.equal(keys[0], 'conv1.conv.weight 24x3x3x3');
    for (const k of [
      'layers.0.0.g_conv_1x1_compress.conv.weight 60x24x1x1',
      'layers.0.0.depthwise_conv3x3_bn.conv.weight 60x1x3x3',
      'layers.0.0.g_conv_1x1_expand.conv.weight 216x20x1x1',
      'layers.0.1.g_conv_1x1_compress.conv.weight 60x80x1x1',
      'layers.1.0.g_conv_1x1_compress.conv.weight 120x80x1x1',
      'layers.1.0.g_conv_1x1_expand.conv.weight 240x40x1x1',
      'layers.2.3.g_conv_1x1_expand.conv.weight 960x80x1x1',
    ]) {
      assert.ok(keys.includes(k), k);
    }
    assert.equal(keys.length, 6 + 16 * 18);
  });

  it('a concat unit puts the 3x3/2 average-pooled input (padding counted) before its branch; an add unit is relu(x + branch)', () => {
    const [C, H, W] = [4, 5, 5];
    const x = seq(C * H * W, 41);
    const unit = new ShuffleUnit({ in_channels: C, out_channels: 16, groups: 2, first_block: false, combine: 'concat' });
    unit.eval();
    const y = tf.tidy(() => nhwcToNchw(unit.forward(nchwToNhwc(x, [1, C, H, W]))));
    assert.equal(y.length, 16 * 3 * 3);
    const pooled = new Float32Array(C * 9);
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          let s = 0;
          for (let di = -1; di <= 1; di++) {
            for (let dj = -1; dj <= 1; dj++) {
              const ii = 2 * i + di;
              const jj = 2 * j + dj;
              if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += x[(c * H + ii) * W + jj];
            }
          }
          pooled[c * 9 + i * 3 + j] = s / 9;
        }
      }
    }
    assert.ok(maxAbsDiff(y.slice(0, C * 9), pooled) < 1e-6);
    assert.ok(y.slice(C * 9).every((v) => v >= 0));

    const add = new ShuffleUnit({ in_channels: 8, out_channels: 8, groups: 2, first_block: false, combine: 'add' });
    add.eval();
    const xa = seq(8 * 9, 42);
    const [ya, branch] = tf.tidy(() => {
      const t = nchwToNhwc(xa, [1, 8, 3, 3]);
      let b = add.depthwiseConv3x3Bn.forward(add.gConv1x1Compress.forward(t));
      b = add.gConv1x1Expand.forward(channelShuffle(b, 2));
      return [nhwcToNchw(add.forward(t)), nhwcToNchw(b)];
    });
    assert.ok(maxAbsDiff(ya, xa.map((v, k) => Math.max(0, v + branch[k]))) < 1e-6);
    assert.throws(() => new ShuffleUnit({ in_channels: 8, out_channels: 16, combine: 'add' }), MmclsError);
  });

  it('forward of the whole network on a small image; out_indices', () => {
    const m = new ShuffleNetV1({ out_indices: [0, 1, 2] });
    m.eval();
    const shapes = tf.tidy(() => (m.forward(tf.tensor4d(seq(32 * 32 * 3, 43), [1, 32, 32, 3])) as tf.Tensor[]).map((t) => t.shape));
    assert.deepEqual(shapes, [[1, 4, 4, 240], [1, 2, 2, 480], [1, 1, 1, 960]]);
    m.dispose();
  });

  it("MMCls's initialisation (norm weight 1 and bias 0: its constant_init on the weight tensor changes nothing; running mean 0) and frozen stages", () => {
    const m = new ShuffleNetV1({ frozen_stages: 1 });
    m.initWeights();
    for (const [, mod] of m.namedModules()) {
      if (mod instanceof _BatchNorm) {
        assert.ok(tf.tidy(() => tf.abs(mod.bias!.variable).max().dataSync()[0]) === 0);
        assert.equal(tf.tidy(() => tf.abs(mod.runningMean!.variable).max().dataSync()[0]), 0);
      }
    }
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^(conv1|layers\.0)\./.test(name), name);
    assert.equal(m.layers.at(0).training, false);
    assert.equal(m.layers.at(1).training, true);
    m.dispose();
  });

  it('rejects unsupported groups, out_indices and frozen_stages', () => {
    assert.throws(() => new ShuffleNetV1({ groups: 5 as 3 }), MmclsError);
    assert.throws(() => new ShuffleNetV1({ out_indices: [3] }), MmclsError);
    assert.throws(() => new ShuffleNetV1({ frozen_stages: 3 }), MmclsError);
  });
});
