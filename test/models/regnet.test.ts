import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, RegNet, RegNetArchName, adjustWidthGroup, generateRegNet, stagesFromBlocks } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { seq, useTestBackend } from '../nn/helpers';

describe('RegNet', () => {
  before(useTestBackend);

  // Stage widths and depths of the RegNetX models (Designing Network Design Spaces, appendix tables),
  // group widths, and the model zoo's parameters (M) and FLOPs (G) at 224x224.
  const presets: [RegNetArchName, number[], number[], number[], number, number][] = [
    ['regnetx_400mf', [32, 64, 160, 384], [1, 2, 7, 12], [16, 16, 16, 16], 5.16, 0.41],
    ['regnetx_800mf', [64, 128, 288, 672], [1, 3, 7, 5], [16, 16, 16, 16], 7.26, 0.81],
    ['regnetx_1.6gf', [72, 168, 408, 912], [2, 4, 10, 2], [24, 24, 24, 24], 9.19, 1.63],
    ['regnetx_3.2gf', [96, 192, 432, 1008], [2, 6, 15, 2], [48, 48, 48, 48], 15.3, 3.21],
    ['regnetx_4.0gf', [80, 240, 560, 1360], [2, 5, 14, 2], [40, 40, 40, 40], 22.12, 4.0],
    ['regnetx_6.4gf', [168, 392, 784, 1624], [2, 4, 10, 1], [56, 56, 56, 56], 26.21, 6.51],
    ['regnetx_8.0gf', [80, 240, 720, 1920], [2, 5, 15, 1], [80, 120, 120, 120], 39.57, 8.03],
    ['regnetx_12gf', [224, 448, 896, 2240], [2, 5, 11, 1], [112, 112, 112, 112], 46.11, 12.15],
  ];
  for (const [arch, widths, depths, groupWidths, params, flops] of presets) {
    it(`${arch}: stage widths, depths, group widths, parameters and FLOPs`, () => {
      const b = new RegNet({ arch });
      assert.deepEqual(b.stageWidths, widths);
      assert.deepEqual(b.stageBlocks, depths);
      assert.deepEqual(b.groupWidths, groupWidths);
      const m = MODELS.build<ImageClassifier>({
        type: 'ImageClassifier',
        backbone: { type: 'RegNet', arch },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: widths[3] },
      });
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.ok(Math.abs(r.params / 1e6 - params) <= 0.006, `params ${r.params}`);
      // The zoo prints FLOPs to two decimals, measured with a counter that also counts some element-wise ops.
      assert.ok(Math.abs(r.flops / 1e9 - flops) <= Math.max(0.015 * flops, 0.01), `flops ${r.flops}`);
    });
  }

  it('the width helpers: quantised ramp, runs of equal widths, widths made divisible by the group width', () => {
    // w0=24, wa=24.48, wm=2.54, depth=22: widths 24 + 24.48 i snapped to 24 * 2.54^k, then to multiples of 8.
    const [w, n] = generateRegNet(24, 24.48, 2.54, 22);
    assert.equal(n, 4);
    assert.deepEqual(w, [24, 64, 64, 152, 152, 152, 152, 152, 152, 152, 392, 392, 392, 392, 392, 392, 392, 392, 392, 392, 392, 392]);
    assert.deepEqual(stagesFromBlocks(w), [[24, 64, 152, 392], [1, 2, 7, 12]]);
    // 24 -> 32 (24/16 = 1.5 rounds to the even 2), 152 -> 160 (9.5 -> 10), 392 -> 384 (24.5 -> 24).
    assert.deepEqual(adjustWidthGroup([24, 64, 152, 392], [1, 1, 1, 1], [16, 16, 16, 16]), [[32, 64, 160, 384], [16, 16, 16, 16]]);
    assert.throws(() => generateRegNet(20, 10, 2, 4), MmclsError);
  });

  it('keys follow MMCls (3x3 stem conv1/bn1, no max pool, grouped 3x3 convs, downsample shortcuts)', () => {
    const keys = new RegNet({ arch: 'regnetx_400mf' }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 3), ['conv1.weight 32x3x3x3', 'bn1.weight 32', 'bn1.bias 32']);
    assert.ok(keys.includes('layer1.0.conv2.weight 32x16x3x3'));
    assert.ok(keys.includes('layer4.0.downsample.0.weight 384x160x1x1'));
    assert.ok(keys.includes('layer4.11.conv3.weight 384x384x1x1'));
    assert.ok(!keys.some((k) => k.startsWith('layer4.1.downsample')));
  });

  it('forward: a 32x32 input gives 1x1 maps of 384 channels; out_indices selects stages', () => {
    const m = new RegNet({ arch: 'regnetx_400mf', out_indices: [0, 3] });
    m.eval();
    const outs = tf.tidy(() => (m.forward(tf.tensor4d(seq(2 * 32 * 32 * 3, 5), [2, 32, 32, 3])) as tf.Tensor[]).map((t) => t.shape));
    assert.deepEqual(outs, [[2, 8, 8, 32], [2, 1, 1, 384]]);
    m.dispose();
  });

  it('a custom arch dict, zero-initialised residual norms, frozen stages', () => {
    const m = new RegNet({ arch: { w0: 16, wa: 16, wm: 2, group_w: 8, depth: 4, bot_mul: 1.0 }, strides: [2, 2, 2], dilations: [1, 1, 1], out_indices: [2], frozen_stages: 1 });
    assert.deepEqual(m.stageWidths, [16, 32, 64]);
    assert.deepEqual(m.stageBlocks, [1, 1, 2]);
    m.initWeights();
    const bn3 = m.namedParameters().filter(([n]) => /bn3\.(weight|bias)$/.test(n));
    assert.equal(bn3.length, 8);
    for (const [, p] of bn3) assert.equal(tf.tidy(() => tf.abs(p.variable).max().dataSync()[0]), 0);
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^(conv1|bn1|layer1)\./.test(name), name);
    assert.equal(m.getChild('layer1')!.training, false);
    m.dispose();
  });

  it('rejects an unknown arch and deep_stem', () => {
    assert.throws(() => new RegNet({ arch: 'regnety_400mf' as 'regnetx_400mf' }), (e: unknown) => e instanceof MmclsError && /regnetx_400mf/.test(e.message));
    assert.throws(() => new RegNet({ arch: 'regnetx_400mf', deep_stem: true }), MmclsError);
    assert.throws(() => new RegNet({ arch: 'regnetx_400mf', out_indices: [4] }), MmclsError);
  });
});
