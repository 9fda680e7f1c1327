import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { CSPDarkNet, CSPNet, CSPResNet, CSPResNeXt, ImageClassifier } from '../../runtime/models';
import { Module, StateEntry } from '../../runtime/nn';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { at, maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';

const classifier = (backbone: Record<string, unknown>, c: number): ImageClassifier =>
  MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone,
    neck: { type: 'GlobalAveragePooling' },
    head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
  });

/** Every conv an identity (3x3: centre tap), every batch norm an exact identity. */
function identityState(m: Module): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  for (const { key, shape } of m.stateDictKeys()) {
    const d = new Float32Array(shape.reduce((a, v) => a * v, 1));
    if (key.endsWith('running_var')) d.fill(1 - 1e-5);
    else if (key.endsWith('.weight') && shape.length === 1) d.fill(1);
    else if (key.endsWith('.weight')) for (let i = 0; i < shape[0]; i++) d[at(shape, [i, i, shape[2] >> 1, shape[3] >> 1])] = 1;
    out.set(key, { data: d, shape });
  }
  return out;
}

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

describe('CSPNet family', () => {
  it('model zoo parameter counts: CSPDarkNet50 27.64M, CSPResNet50 21.62M, CSPResNeXt50 20.57M', () => {
    assert.equal((classifier({ type: 'CSPDarkNet', depth: 53 }, 1024).numParameters() / 1e6).toFixed(2), '27.64');
    assert.equal((classifier({ type: 'CSPResNet', depth: 50 }, 1024).numParameters() / 1e6).toFixed(2), '21.62');
    assert.equal((classifier({ type: 'CSPResNeXt', depth: 50 }, 2048).numParameters() / 1e6).toFixed(2), '20.57');
  });

  it('stage output shapes of the MMCls docstrings', () => {
    assert.deepEqual(analyzeComplexity(new CSPDarkNet({ depth: 53, out_indices: [0, 1, 2, 3, 4] }), [3, 416, 416]).outputShape, [
      [1, 64, 208, 208], [1, 128, 104, 104], [1, 256, 52, 52], [1, 512, 26, 26], [1, 1024, 13, 13],
    ]);
    assert.deepEqual(analyzeComplexity(new CSPResNet({ depth: 50, out_indices: [0, 1, 2, 3] }), [3, 416, 416]).outputShape, [
      [1, 128, 104, 104], [1, 256, 52, 52], [1, 512, 26, 26], [1, 1024, 13, 13],
    ]);
    assert.deepEqual(analyzeComplexity(new CSPResNeXt({ depth: 50, out_indices: [0, 1, 2, 3] }), [3, 224, 224]).outputShape, [
      [1, 256, 56, 56], [1, 512, 28, 28], [1, 1024, 14, 14], [1, 2048, 7, 7],
    ]);
  });

  it("keys: stem, stages.N.{downsample_conv, expand_conv, blocks, atfer_blocks_conv, final_conv}; ResNeXt's grouped convs; LeakyReLU in the ResNet blocks", () => {
    const dark = new Map(classifier({ type: 'CSPDarkNet', depth: 53 }, 1024).stateDictKeys().map((e) => [e.key, e.shape.join('x')]));
    assert.equal(dark.size, 404);
    assert.equal(dark.get('backbone.stem.conv.weight'), '32x3x3x3');
    assert.equal(dark.get('backbone.stages.0.expand_conv.conv.weight'), '128x64x1x1');
    assert.equal(dark.get('backbone.stages.0.blocks.0.conv1.conv.weight'), '32x64x1x1');
    assert.equal(dark.get('backbone.stages.4.atfer_blocks_conv.conv.weight'), '512x512x1x1');
    assert.equal(dark.get('backbone.stages.4.final_conv.conv.weight'), '1024x1024x1x1');
    const res = new CSPResNet({ depth: 50 });
    const rk = new Map(res.stateDictKeys().map((e) => [e.key, e.shape.join('x')]));
    assert.equal(rk.get('stem.0.conv.weight'), '64x3x7x7');
    assert.ok(!rk.has('stages.0.downsample_conv.conv.weight'), 'stage 0 has no downsampler');
    assert.equal(rk.get('stages.0.blocks.0.conv2.weight'), '64x64x3x3');
    assert.equal(res.stages.at(0).getSubmodule('blocks.0.relu')!.typeName, 'LeakyReLU');
    assert.equal(new Map(new CSPResNet({ depth: 50, deep_stem: true }).stateDictKeys().map((e) => [e.key, e.shape.join('x')])).get('stem.2.conv.weight'), '64x32x3x3');
    const rx = new Map(new CSPResNeXt({ depth: 50 }).stateDictKeys().map((e) => [e.key, e.shape.join('x')]));
    assert.equal(rx.get('stages.1.downsample_conv.conv.weight'), '256x8x3x3');
    // base_channels 32: mid = 32 groups x 4 x (128 / 4) / 32 = 128 channels in 32 groups.
    assert.equal(rx.get('stages.0.blocks.0.conv2.weight'), '128x4x3x3');
  });

  it('checks depth, frozen_stages and out_indices, and freezes the stem and the first stages', () => {
    assert.throws(() => new CSPDarkNet({ depth: 50 as 53 }), /depth must be one of \[53\]/);
    assert.throws(() => new CSPDarkNet({ depth: 53, frozen_stages: 5 }), /frozen_stages must be in range\(-1, 5\)/);
    assert.throws(() => new CSPResNet({ depth: 50, out_indices: [4] }), /Invalid out_indices 4/);
    const m = new CSPDarkNet({ depth: 53, frozen_stages: 1, out_indices: -1 });
    m.train();
    assert.deepEqual(m.outIndices, [4]);
    assert.ok(m.stem.parameters().every((p) => !p.requiresGrad) && m.stem.training === false);
    assert.ok(m.stages.at(1).parameters().every((p) => !p.requiresGrad));
    assert.ok(m.stages.at(2).parameters().every((p) => p.requiresGrad) && m.stages.at(2).training);
  });

  describe('forward', () => {
    before(useTestBackend);

    it('a CSP stage keeps the first half of the channels and sends the second half through the blocks', () => {
      // CSPNet with a config-built stem; identity weights make each Darknet block double its input.
      const m = MODELS.build<CSPNet>({
        type: 'CSPNet',
        arch: { block_fn: 'DarknetBottleneck', in_channels: [4], out_channels: [4], num_blocks: [2], expand_ratio: 1, bottle_ratio: 1, has_downsampler: false },
        stem_fn: { type: 'ConvModule', out_channels: 4, kernel_size: 1, norm_cfg: { type: 'BN' }, act_cfg: { type: 'LeakyReLU' } },
        in_channels: 4,
      });
      m.loadStateDict(identityState(m));
      m.eval();
      const [c, h, w] = [4, 3, 5];
      const x = seq(c * h * w, 11).map((v) => v + 1.5);
      const y = tf.tidy(() => (m.forward(nchwToNhwc(x, [1, c, h, w])) as tf.Tensor[])[0]);
      const got = nhwcToNchw(y);
      y.dispose();
      const want = Float64Array.from(x, (v, i) => (Math.floor(i / (h * w)) < 2 ? v : 4 * v));
      assert.ok(maxAbsDiff(got, want) < 1e-5, `max diff ${maxAbsDiff(got, want)}`);
    });

    it('ResNet and ResNeXt stages (grouped downsampler) on a small input: shapes as inferred, finite values', () => {
      const m = MODELS.build<CSPNet>({
        type: 'CSPNet',
        arch: {
          block_fn: ['ResNetBottleneck', 'ResNeXtBottleneck'], in_channels: [32, 64], out_channels: [64, 128], num_blocks: [2, 1],
          expand_ratio: [2, 1], bottle_ratio: [2, 1], has_downsampler: [false, true], block_args: [{}, { base_channels: 32 }],
        },
        stem_fn: { type: 'ConvModule', out_channels: 32, kernel_size: 3, stride: 2, padding: 1, norm_cfg: { type: 'BN' } },
        out_indices: [0, 1],
      });
      m.initWeights();
      m.eval();
      const outs = tf.tidy(() => m.forward(tf.ones([1, 12, 10, 3])) as tf.Tensor[]);
      const nchw = outs.map((t) => [t.shape[0], t.shape[3], t.shape[1], t.shape[2]]);
      assert.deepEqual(nchw, [[1, 64, 6, 5], [1, 128, 3, 3]]);
      assert.deepEqual(analyzeComplexity(m, [3, 12, 10]).outputShape, nchw);
      assert.ok(outs.every((t) => Number.isFinite(t.sum().dataSync()[0])));
      tf.dispose(outs);
      m.dispose();
    });

    it('training: every parameter of Darknet, ResNet and ResNeXt stages gets a finite, non-zero gradient', () => {
      const m = MODELS.build<CSPNet>({
        type: 'CSPNet',
        arch: {
          block_fn: ['DarknetBottleneck', 'ResNetBottleneck', 'ResNeXtBottleneck'], in_channels: [32, 64, 64], out_channels: [64, 64, 128],
          num_blocks: [1, 2, 1], expand_ratio: [2, 1, 1], bottle_ratio: [2, 1, 1], block_args: [{}, {}, { base_channels: 32 }],
        },
        stem_fn: { type: 'ConvModule', out_channels: 32, kernel_size: 3, padding: 1, norm_cfg: { type: 'BN' } },
      });
      m.initWeights();
      const x = tf.tensor4d(seq(2 * 16 * 16 * 3, 13), [2, 16, 16, 3]);
      const r = gradStats(m, x);
      x.dispose();
      m.dispose();
      assert.equal(r.vars, 72);
      assert.deepEqual([r.finite, r.nonzero], [r.vars, r.vars]);
    });
  });
});
