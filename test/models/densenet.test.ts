import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { DenseNet, DenseNetArch, ImageClassifier } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { Img, bnEval, cat, conv2d, fillState, img, map, pool, relu, trainStepGradients, w } from './reference_ops';

const ARCHS: Record<string, DenseNetArch> = {
  '121': { growth_rate: 32, depths: [6, 12, 24, 16], init_channels: 64 },
  '169': { growth_rate: 32, depths: [6, 12, 32, 32], init_channels: 64 },
  '201': { growth_rate: 32, depths: [6, 12, 48, 32], init_channels: 64 },
  '161': { growth_rate: 48, depths: [6, 12, 36, 24], init_channels: 96 },
};

/**
 * DenseNet costs at 224x224 written out layer by layer: parameters (with a 1000-way fc head), fvcore
 * FLOPs of extract_feat (conv multiply-adds, eval batch norm 2 per element, global pooling 1 per
 * element), the older MMCV counter's extras in the zoo's FLOPs (ReLU outputs, pooling inputs), and
 * the output channels.
 */
function denseNetByHand(a: DenseNetArch): { params: number; flops: number; mmcvExtra: number; channels: number } {
  const k = a.growth_rate;
  const mid = 4 * k;
  let c = a.init_channels;
  let s2 = 112 * 112;
  let params = 3 * c * 49 + 2 * c;
  let flops = s2 * c * 3 * 49 + 2 * s2 * c;
  let extra = 2 * s2 * c; // ReLU, max-pool input
  s2 = 56 * 56;
  a.depths.forEach((depth, i) => {
    for (let l = 0; l < depth; l++) {
      const cin = c + l * k;
      params += 2 * cin + cin * mid + 2 * mid + mid * k * 9;
      flops += 2 * s2 * cin + s2 * mid * cin + 2 * s2 * mid + s2 * k * mid * 9;
      extra += s2 * cin + s2 * mid;
    }
    c += depth * k;
    params += 2 * c;
    flops += 2 * s2 * c;
    extra += s2 * c;
    if (i < a.depths.length - 1) {
      const out = Math.floor(c / 2);
      params += c * out;
      flops += s2 * out * c;
      extra += s2 * out; // average-pool input
      c = out;
      s2 /= 4;
    }
  });
  flops += s2 * c;
  params += c * 1000 + 1000;
  return { params, flops, mmcvExtra: extra, channels: c };
}

describe('DenseNet', () => {
  before(useTestBackend);

  // [arch, params (M), FLOPs (G)] as the model zoo publishes them.
  const zoo: [string, number, number][] = [['121', 7.98, 2.88], ['169', 14.15, 3.42], ['201', 20.01, 4.37], ['161', 28.68, 7.82]];
  for (const [arch, params, flops] of zoo) {
    it(`DenseNet-${arch}: ${params}M parameters; FLOPs as written out, ${flops}G with the zoo's counter`, () => {
      const hand = denseNetByHand(ARCHS[arch]);
      const m = MODELS.build<ImageClassifier>({
        type: 'ImageClassifier',
        backbone: { type: 'DenseNet', arch },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: hand.channels },
      });
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.equal(r.params, hand.params);
      assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
      assert.equal(r.flops, hand.flops);
      assert.equal(((r.flops + hand.mmcvExtra) / 1e9).toFixed(2), flops.toFixed(2));
      assert.deepEqual(r.outputShape, [[1, hand.channels]]);
    });
  }

  it('state-dict keys: stem Sequential, stages.N.block.M.{norm1,conv1,norm2,conv2}, transitions (the last only a norm)', () => {
    const keys = new DenseNet({ arch: '121' }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 8), [
      'stem.0.weight 64x3x7x7', 'stem.1.weight 64', 'stem.1.bias 64', 'stem.1.running_mean 64', 'stem.1.running_var 64',
      'stem.1.num_batches_tracked ', 'stages.0.block.0.norm1.weight 64', 'stages.0.block.0.norm1.bias 64',
    ]);
    for (const k of [
      'stages.0.block.0.conv1.weight 128x64x1x1',
      'stages.0.block.0.norm2.weight 128',
      'stages.0.block.0.conv2.weight 32x128x3x3',
      'stages.0.block.5.norm1.weight 224',
      'transitions.0.norm.weight 256',
      'transitions.0.conv.weight 128x256x1x1',
      'transitions.2.conv.weight 512x1024x1x1',
      'stages.3.block.15.conv2.weight 32x128x3x3',
      'transitions.3.0.weight 1024',
    ]) {
      assert.ok(keys.includes(k), k);
    }
    assert.equal(keys[keys.length - 1], 'transitions.3.0.num_batches_tracked ');
    // stem 6, 58 dense layers x 12, three transitions x 6, the last norm 5.
    assert.equal(keys.length, 6 + 58 * 12 + 3 * 6 + 5);
  });

  it('a tiny DenseNet (growth 2, depths [2, 1]) on a 16x16 image equals stem, dense layers, transition and final norm written out', () => {
    const m = new DenseNet({ arch: { growth_rate: 2, depths: [2, 1], init_channels: 4 }, bn_size: 2, out_indices: [0, 1] });
    m.eval();
    const sd = fillState(m);
    const x = seq(3 * 16 * 16, 21);
    const outs = tf.tidy(() => (m.forward(nchwToNhwc(x, [1, 3, 16, 16])) as tf.Tensor[]).map((t) => ({ shape: t.shape, data: nhwcToNchw(t) })));

    const bnRelu = (t: Img, prefix: string): Img => map(bnEval(t, sd, prefix), relu);
    let r = conv2d(img(3, 16, 16, x), w(sd, 'stem.0.weight'), null, { out: 4, k: 7, stride: 2, pad: 3 });
    r = pool(bnRelu(r, 'stem.1'), 'max', 3, 2, 1);
    const layer = (feats: Img, p: string): Img => {
      const b = conv2d(bnRelu(feats, `${p}.norm1`), w(sd, `${p}.conv1.weight`), null, { out: 4, k: 1 });
      return conv2d(bnRelu(b, `${p}.norm2`), w(sd, `${p}.conv2.weight`), null, { out: 2, k: 3, pad: 1 });
    };
    r = cat(r, layer(r, 'stages.0.block.0'));
    r = cat(r, layer(r, 'stages.0.block.1'));
    // Transition: 8 channels -> floor(8 * 0.5) = 4, 2x2 average pooling.
    const t0 = pool(conv2d(bnRelu(r, 'transitions.0.norm'), w(sd, 'transitions.0.conv.weight'), null, { out: 4, k: 1 }), 'avg', 2, 2);
    const s1 = cat(t0, layer(t0, 'stages.1.block.0'));
    const out1 = bnRelu(s1, 'transitions.1.0');

    assert.deepEqual(outs.map((o) => o.shape), [[1, 2, 2, 4], [1, 2, 2, 6]]);
    assert.ok(maxDiff(outs[0].data, t0.data) < 1e-4, `stage 0 differs by ${maxDiff(outs[0].data, t0.data)}`);
    assert.ok(maxDiff(outs[1].data, out1.data) < 1e-4, `stage 1 differs by ${maxDiff(outs[1].data, out1.data)}`);

    // drop_rate only acts in training.
    const dropped = new DenseNet({ arch: { growth_rate: 2, depths: [2, 1], init_channels: 4 }, bn_size: 2, drop_rate: 0.5 });
    dropped.loadStateDict(sd);
    dropped.eval();
    const y = tf.tidy(() => nhwcToNchw((dropped.forward(nchwToNhwc(x, [1, 3, 16, 16])) as tf.Tensor[])[0]));
    assert.ok(maxDiff(y, out1.data) < 1e-4);
    m.dispose();
    dropped.dispose();
  });

  it('out_indices (an int or a list, negative from the end), frozen_stages (block and transition, not the stem)', () => {
    assert.deepEqual(new DenseNet().outIndices, [3]);
    assert.deepEqual(new DenseNet({ out_indices: [0, -2] }).outIndices, [0, 2]);
    assert.deepEqual(new DenseNet({ out_indices: 1 }).outIndices, [1]);
    assert.deepEqual(
      analyzeComplexity(new DenseNet({ arch: '121', out_indices: [0, 1, 2, 3] }), [3, 224, 224]).outputShape,
      [[1, 128, 28, 28], [1, 256, 14, 14], [1, 512, 7, 7], [1, 1024, 7, 7]],
    );
    const m = new DenseNet({ frozen_stages: 2 });
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^(stages|transitions)\.[01]\./.test(name), name);
    assert.equal(m.stages.at(1).training, false);
    assert.equal(m.transitions.at(1).training, false);
    assert.equal(m.stages.at(2).training, true);
    assert.equal(m.stem.training, true);
  });

  it('rejects unknown arch names and incomplete arch dicts', () => {
    assert.throws(() => new DenseNet({ arch: '122' as '121' }), MmclsError);
    assert.throws(() => new DenseNet({ arch: { growth_rate: 32, depths: [6] } as DenseNetArch }), MmclsError);
  });

  for (const [arch, params] of zoo) {
    const file = `densenet/densenet${arch}_4xb256_in1k.py`;
    it(`configs/${file}: ${params}M parameters and the FLOPs written out, at 224`, () => {
      const cfg = loadConfig(path.resolve(__dirname, '../../configs', file)).value as Record<string, unknown>;
      const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
      assert.deepEqual(result.inputShape, [3, 224, 224]);
      assert.equal(result.params, denseNetByHand(ARCHS[arch]).params);
      assert.equal(result.flops, denseNetByHand(ARCHS[arch]).flops);
      assert.equal((cfg.train_dataloader as { batch_size: number }).batch_size, 256);
    });
  }

  it('one training step of a tiny DenseNet gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'DenseNet', arch: { growth_rate: 4, depths: [2, 2], init_channels: 8 } },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
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
