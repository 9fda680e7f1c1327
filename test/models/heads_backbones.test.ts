import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ClsDataSample } from '../../runtime/structures';
import { ImageClassifier, MultiLabelLinearClsHead, StackedLinearClsHead, VisionTransformer } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { useTestBackend } from '../nn/helpers';

const head = (h: Record<string, unknown>, inCh = 2048): Record<string, unknown> => ({ type: 'LinearClsHead', num_classes: 1000, in_channels: inCh, ...h });

describe('backbones: parameter counts and FLOPs published by MMClassification', () => {
  // Model zoo numbers (params in M, FLOPs in G at 224x224), rounded as the zoo prints them.
  const cases: [string, Record<string, unknown>, Record<string, unknown>, number, number][] = [
    ['ResNet-34', { type: 'ResNet', depth: 34 }, head({}, 512), 21.8, 3.68],
    ['ResNet-101', { type: 'ResNet', depth: 101 }, head({}), 44.55, 7.85],
    ['ResNeXt-50 32x4d', { type: 'ResNeXt', depth: 50 }, head({}), 25.03, 4.27],
    ['SE-ResNet-50', { type: 'SEResNet', depth: 50 }, head({}), 28.09, 4.13],
    ['SE-ResNeXt-50 32x4d', { type: 'SEResNeXt', depth: 50 }, head({}), 27.56, 4.28],
    ['MobileNetV2', { type: 'MobileNetV2', widen_factor: 1.0 }, head({}, 1280), 3.5, 0.319],
  ];
  for (const [name, backbone, h, params, flops] of cases) {
    it(name, () => {
      const m = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone, neck: { type: 'GlobalAveragePooling' }, head: h });
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.ok(Math.abs(r.params / 1e6 - params) <= 0.01, `params ${r.params}`);
      assert.ok(Math.abs(r.flops / 1e9 - flops) / flops <= 0.02, `flops ${r.flops}`);
    });
  }

  it('ResNeXt / SE-ResNet key names and order follow MMCls', () => {
    const m = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'SEResNeXt', depth: 50 }, neck: { type: 'GlobalAveragePooling' }, head: head({}) });
    const keys = m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    const i = keys.indexOf('backbone.layer1.0.conv2.weight 128x4x3x3');
    assert.ok(i > 0);
    assert.deepEqual(keys.slice(keys.indexOf('backbone.layer1.0.downsample.1.num_batches_tracked '), keys.indexOf('backbone.layer1.0.downsample.1.num_batches_tracked ') + 5), [
      'backbone.layer1.0.downsample.1.num_batches_tracked ',
      'backbone.layer1.0.se_layer.conv1.conv.weight 16x256x1x1',
      'backbone.layer1.0.se_layer.conv1.conv.bias 16',
      'backbone.layer1.0.se_layer.conv2.conv.weight 256x16x1x1',
      'backbone.layer1.0.se_layer.conv2.conv.bias 256',
    ]);
  });

  it('VisionTransformer presets (DeiT-tiny/small, ViT-B/16, ViT-L/16)', () => {
    const vit = (arch: string, c: number): ImageClassifier =>
      MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'VisionTransformer', arch }, head: { type: 'VisionTransformerClsHead', num_classes: 1000, in_channels: c } });
    assert.equal(vit('deit-tiny', 192).numParameters(), 5717416);
    assert.equal(vit('deit-small', 384).numParameters(), 22050664);
    assert.equal(vit('b', 768).numParameters(), 86567656);
    assert.equal(vit('large', 1024).numParameters(), 304326632);
    const keys = vit('deit-tiny', 192).stateDictKeys().map((e) => e.key);
    assert.deepEqual(keys.slice(0, 8), [
      'backbone.cls_token', 'backbone.pos_embed', 'backbone.patch_embed.projection.weight', 'backbone.patch_embed.projection.bias',
      'backbone.layers.0.ln1.weight', 'backbone.layers.0.ln1.bias', 'backbone.layers.0.attn.qkv.weight', 'backbone.layers.0.attn.qkv.bias',
    ]);
    assert.deepEqual(keys.slice(-4), ['backbone.ln1.weight', 'backbone.ln1.bias', 'head.layers.head.weight', 'head.layers.head.bias']);
    const distilled = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'DistilledVisionTransformer', arch: 'deit-base' }, head: { type: 'DeiTClsHead', num_classes: 1000, in_channels: 768 } });
    assert.equal(distilled.numParameters(), 87338192);
    assert.deepEqual(distilled.stateDictKeys().slice(0, 3).map((e) => e.key), ['backbone.cls_token', 'backbone.pos_embed', 'backbone.dist_token']);
    assert.deepEqual(distilled.stateDictKeys().slice(-2).map((e) => e.key), ['head.head_dist.weight', 'head.head_dist.bias']);
  });
});

describe('VisionTransformer outputs', () => {
  before(useTestBackend);

  it('returns [patch_token NHWC, cls_token] per out index and interpolates the position embedding', () => {
    const bb = MODELS.build<VisionTransformer>({ type: 'VisionTransformer', arch: { embed_dims: 8, num_layers: 2, num_heads: 2, feedforward_channels: 16 }, img_size: 16, patch_size: 4, out_indices: [0, -1] });
    bb.initWeights();
    bb.eval();
    const outs = bb.forward(tf.ones([2, 24, 20, 3])) as tf.Tensor[][];
    assert.equal(outs.length, 2);
    assert.deepEqual(outs[1][0].shape, [2, 6, 5, 8]);
    assert.deepEqual(outs[1][1].shape, [2, 8]);
    const feat = MODELS.build<VisionTransformer>({ type: 'VisionTransformer', arch: 'deit-tiny', img_size: 32, patch_size: 16, out_type: 'featmap' });
    const shapes = analyzeComplexity(feat, [3, 32, 32]).outputShape;
    assert.deepEqual(shapes, [[1, 192, 2, 2]]);
  });
});

describe('multi-label and stacked heads', () => {
  before(useTestBackend);

  it('MultiLabelLinearClsHead: sigmoid scores, threshold or top-k labels, one-hot targets', () => {
    const h = new MultiLabelLinearClsHead({ num_classes: 3, in_channels: 2 });
    h.loadStateDict(new Map([['fc.weight', { data: Float32Array.from([1, 0, 0, 1, -1, -1]), shape: [3, 2] }], ['fc.bias', { data: new Float32Array(3), shape: [3] }]]));
    const x = tf.tensor2d([[2, -1], [0.5, 0.5]]);
    const preds = h.predict([x]);
    // scores: sigmoid([2, -1, -1]) and sigmoid([0.5, 0.5, -1]).
    assert.deepEqual(preds[0].pred_label!.label, [0]);
    assert.deepEqual(preds[1].pred_label!.label, [0, 1]);
    const topk = new MultiLabelLinearClsHead({ num_classes: 3, in_channels: 2, topk: 2 });
    topk.loadStateDict(h.stateDict());
    assert.deepEqual(topk.predict([x])[0].pred_label!.label!.length, 2);
    const s = [new ClsDataSample().set_gt_label([0, 2]), new ClsDataSample().set_gt_label([1])];
    const loss = h.loss([x], s).loss.dataSync()[0];
    const sig = (v: number): number => 1 / (1 + Math.exp(-v));
    const logits = [[2, -1, -1], [0.5, 0.5, -1]];
    const t = [[1, 0, 1], [0, 1, 0]];
    let sum = 0;
    logits.forEach((r, i) => r.forEach((v, j) => { sum += -(t[i][j] * Math.log(sig(v)) + (1 - t[i][j]) * Math.log(1 - sig(v))); }));
    assert.ok(Math.abs(loss - sum / 2) < 1e-5);
  });

  it('StackedLinearClsHead: keys, BN1d hidden blocks, output shape', () => {
    const h = new StackedLinearClsHead({ num_classes: 4, in_channels: 6, mid_channels: [5], norm_cfg: { type: 'BN1d' }, dropout_rate: 0.2 });
    assert.deepEqual(h.stateDictKeys().map((e) => e.key), [
      'layers.0.fc.weight', 'layers.0.fc.bias', 'layers.0.norm.weight', 'layers.0.norm.bias', 'layers.0.norm.running_mean',
      'layers.0.norm.running_var', 'layers.0.norm.num_batches_tracked', 'layers.1.fc.weight', 'layers.1.fc.bias',
    ]);
    h.eval();
    assert.deepEqual(h.forward([tf.ones([3, 6])]).shape, [3, 4]);
    assert.deepEqual(h.preLogits([tf.ones([3, 6])]).shape, [3, 5]);
  });
});
