import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, ShuffleNetV2, ShuffleNetV2InvertedResidual } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { Conv2d } from '../../runtime/nn/conv';
import { _BatchNorm } from '../../runtime/nn/norm';
import { nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { Img, bnEval, cat, channels, conv2d, fillState, img, map, relu, shuffle, trainStepGradients, w } from './reference_ops';

/**
 * ShuffleNetV2 1.0x at 224x224 written out unit by unit: parameters (with the 1000-way fc head),
 * fvcore FLOPs of extract_feat and the older MMCV counter's extras (ReLU outputs, max-pool input).
 */
function shuffleNetV2ByHand(stageChannels: number[], last: number): { params: number; flops: number; mmcvExtra: number } {
  let s = 112;
  let params = 24 * 27 + 48;
  let flops = s * s * (24 * 27 + 48);
  let extra = 2 * s * s * 24;
  s = 56;
  let cin = 24;
  const convBn = (cout: number, cinPerGroup: number, k: number, hw: number): void => {
    params += cout * cinPerGroup * k * k + 2 * cout;
    flops += hw * (cout * cinPerGroup * k * k + 2 * cout);
  };
  for (const [i, c] of stageChannels.entries()) {
    const bf = c / 2;
    const blocks = [4, 8, 4][i];
    const so = s / 2;
    // Stride-2 unit: branch1 (dw 3x3, 1x1 + ReLU) and branch2 (1x1 + ReLU, dw 3x3, 1x1 + ReLU) on the whole input.
    convBn(cin, 1, 3, so * so);
    convBn(bf, cin, 1, so * so);
    convBn(bf, cin, 1, s * s);
    convBn(bf, 1, 3, so * so);
    convBn(bf, bf, 1, so * so);
    extra += so * so * bf + s * s * bf + so * so * bf;
    for (let b = 1; b < blocks; b++) {
      convBn(bf, bf, 1, so * so);
      convBn(bf, 1, 3, so * so);
      convBn(bf, bf, 1, so * so);
      extra += 2 * so * so * bf;
    }
    s = so;
    cin = c;
  }
  convBn(last, cin, 1, s * s);
  extra += s * s * last;
  flops += s * s * last;
  params += last * 1000 + 1000;
  return { params, flops, mmcvExtra: extra };
}

describe('ShuffleNetV2', () => {
  before(useTestBackend);

  it('1.0x: 2.28M parameters; FLOPs as written out (0.148G by fvcore, 0.149G in the zoo, counted with ReLU and pooling)', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'ShuffleNetV2', widen_factor: 1.0 },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 1024 },
    });
    m.eval();
    const r = analyzeComplexity(m, [3, 224, 224]);
    const hand = shuffleNetV2ByHand([116, 232, 464], 1024);
    assert.equal(r.params, hand.params);
    assert.equal((r.params / 1e6).toFixed(2), '2.28');
    assert.equal(r.flops, hand.flops);
    assert.equal((r.flops / 1e9).toFixed(3), '0.148');
    assert.ok(Math.abs((r.flops + hand.mmcvExtra) / 1e9 - 0.149) < 0.001);
    // Output channels of each width.
    const out = (widen: 0.5 | 1.0 | 1.5 | 2.0): unknown => analyzeComplexity(new ShuffleNetV2({ widen_factor: widen, out_indices: [2, 3] }), [3, 64, 64]).outputShape;
    assert.deepEqual(out(0.5), [[1, 192, 2, 2], [1, 1024, 2, 2]]);
    assert.deepEqual(out(1.5), [[1, 704, 2, 2], [1, 1024, 2, 2]]);
    assert.deepEqual(out(2.0), [[1, 976, 2, 2], [1, 2048, 2, 2]]);
  });

  it('state-dict keys: conv1 ConvModule, layers.N.M.branch1 (stride-2 units only) and branch2 Sequentials, layers.3 the final 1x1 conv', () => {
    const keys = new ShuffleNetV2().stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.equal(keys[0], 'conv1.conv.weight 24x3x3x3');
    assert.equal(keys[6], 'layers.0.0.branch1.0.conv.weight 24x1x3x3');
    for (const k of [
      'layers.0.0.branch1.0.bn.weight 24',
      'layers.0.0.branch1.1.conv.weight 58x24x1x1',
      'layers.0.0.branch2.0.conv.weight 58x24x1x1',
      'layers.0.0.branch2.1.conv.weight 58x1x3x3',
      'layers.0.0.branch2.2.conv.weight 58x58x1x1',
      'layers.0.1.branch2.0.conv.weight 58x58x1x1',
      'layers.1.0.branch1.1.conv.weight 116x116x1x1',
      'layers.2.3.branch2.2.bn.running_var 232',
      'layers.3.conv.weight 1024x464x1x1',
    ]) {
      assert.ok(keys.includes(k), k);
    }
    assert.ok(!keys.some((k) => k.startsWith('layers.0.1.branch1')));
    // conv1 6, three stride-2 units x 5 ConvModules x 6, thirteen stride-1 units x 3 x 6, final 6.
    assert.equal(keys.length, 6 + 3 * 30 + 13 * 18 + 6);
  });

  it('a stride-1 unit keeps the first half, transforms the second and shuffles; a stride-2 unit concatenates both branches', () => {
    const bnRelu = (t: Img, sd: Parameters<typeof bnEval>[1], p: string, act: boolean): Img => {
      const y = bnEval(t, sd, p);
      return act ? map(y, relu) : y;
    };
    const branch2 = (x: Img, sd: Parameters<typeof bnEval>[1], bf: number, stride: number): Img => {
      let t = bnRelu(conv2d(x, w(sd, 'branch2.0.conv.weight'), null, { out: bf, k: 1 }), sd, 'branch2.0.bn', true);
      t = bnRelu(conv2d(t, w(sd, 'branch2.1.conv.weight'), null, { out: bf, k: 3, stride, pad: 1, groups: bf }), sd, 'branch2.1.bn', false);
      return bnRelu(conv2d(t, w(sd, 'branch2.2.conv.weight'), null, { out: bf, k: 1 }), sd, 'branch2.2.bn', true);
    };
    const run = (u: ShuffleNetV2InvertedResidual, x: Float32Array, shape: [number, number, number, number]): { shape: number[]; data: Float32Array } =>
      tf.tidy(() => {
        const t = u.forward(nchwToNhwc(x, shape));
        return { shape: t.shape, data: nhwcToNchw(t) };
      });

    const u1 = new ShuffleNetV2InvertedResidual({ in_channels: 8, out_channels: 8, stride: 1 });
    u1.eval();
    const sd1 = fillState(u1);
    const x1 = seq(8 * 3 * 3, 51);
    const y1 = run(u1, x1, [1, 8, 3, 3]);
    const xi = img(8, 3, 3, x1);
    const r1 = shuffle(cat(channels(xi, 0, 4), branch2(channels(xi, 4, 8), sd1, 4, 1)), 2);
    assert.deepEqual(y1.shape, [1, 3, 3, 8]);
    assert.ok(maxDiff(y1.data, r1.data) < 1e-4, `stride 1 differs by ${maxDiff(y1.data, r1.data)}`);
    // The untouched half lands on the even channels.
    assert.ok(maxDiff(y1.data.slice(0, 9), x1.slice(0, 9)) < 1e-6);
    assert.ok(maxDiff(y1.data.slice(18, 27), x1.slice(9, 18)) < 1e-6);

    const u2 = new ShuffleNetV2InvertedResidual({ in_channels: 6, out_channels: 8, stride: 2 });
    u2.eval();
    const sd2 = fillState(u2);
    const x2 = seq(6 * 5 * 5, 52);
    const y2 = run(u2, x2, [1, 6, 5, 5]);
    const xj = img(6, 5, 5, x2);
    let b1 = bnRelu(conv2d(xj, w(sd2, 'branch1.0.conv.weight'), null, { out: 6, k: 3, stride: 2, pad: 1, groups: 6 }), sd2, 'branch1.0.bn', false);
    b1 = bnRelu(conv2d(b1, w(sd2, 'branch1.1.conv.weight'), null, { out: 4, k: 1 }), sd2, 'branch1.1.bn', true);
    const r2 = shuffle(cat(b1, branch2(xj, sd2, 4, 2)), 2);
    assert.deepEqual(y2.shape, [1, 3, 3, 8]);
    assert.ok(maxDiff(y2.data, r2.data) < 1e-4, `stride 2 differs by ${maxDiff(y2.data, r2.data)}`);

    assert.throws(() => new ShuffleNetV2InvertedResidual({ in_channels: 6, out_channels: 8, stride: 1 }), MmclsError);
    u1.dispose();
    u2.dispose();
  });

  it('forward of the 0.5x network on a 32x32 image; out_indices', () => {
    const m = new ShuffleNetV2({ widen_factor: 0.5, out_indices: [0, 1, 2, 3] });
    m.eval();
    const shapes = tf.tidy(() => (m.forward(tf.tensor4d(seq(32 * 32 * 3, 53), [1, 32, 32, 3])) as tf.Tensor[]).map((t) => t.shape));
    assert.deepEqual(shapes, [[1, 4, 4, 48], [1, 2, 2, 96], [1, 1, 1, 192], [1, 1, 1, 1024]]);
    m.dispose();
  });

  it("MMCls's initialisation: stem conv N(0, 0.01), others N(0, 1 / weight.shape[1]); norms keep weight 1 and bias 0, running means 0", () => {
    const m = new ShuffleNetV2({ widen_factor: 0.5 });
    m.initWeights();
    const stdOf = (name: string): number => tf.tidy(() => tf.moments((m.getSubmodule(name) as Conv2d).weight.variable).variance.sqrt().dataSync()[0]);
    assert.ok(Math.abs(stdOf('conv1.conv') / 0.01 - 1) < 0.15, `stem std ${stdOf('conv1.conv')}`);
    assert.ok(Math.abs(stdOf('layers.3.conv') / (1 / 192) - 1) < 0.05, `final conv std ${stdOf('layers.3.conv')}`);
    assert.ok(Math.abs(stdOf('layers.2.0.branch1.0.conv') - 1) < 0.1, `depth-wise std ${stdOf('layers.2.0.branch1.0.conv')}`);
    for (const [, mod] of m.namedModules()) {
      if (mod instanceof _BatchNorm) {
        assert.equal(tf.tidy(() => tf.sub(mod.weight!.variable, 1).abs().max().dataSync()[0]), 0);
        assert.equal(tf.tidy(() => tf.abs(mod.bias!.variable).max().dataSync()[0]), 0);
        assert.equal(tf.tidy(() => tf.abs(mod.runningMean!.variable).max().dataSync()[0]), 0);
      }
    }
    m.dispose();
  });

  it('frozen_stages (stem parameters and whole stages), norm_eval; rejects other widths, out_indices and frozen_stages', () => {
    const m = new ShuffleNetV2({ frozen_stages: 1, norm_eval: true });
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^(conv1|layers\.0)\./.test(name), name);
    assert.equal(m.layers.at(0).training, false);
    for (const [, mod] of m.namedModules()) if (mod instanceof _BatchNorm) assert.equal(mod.training, false);
    const n = new ShuffleNetV2({ frozen_stages: 1 });
    n.train();
    assert.equal(n.layers.at(1).training, true);
    assert.equal(n.conv1.training, true);
    assert.throws(() => new ShuffleNetV2({ widen_factor: 0.75 as 0.5 }), MmclsError);
    assert.throws(() => new ShuffleNetV2({ out_indices: [4] }), MmclsError);
    assert.throws(() => new ShuffleNetV2({ frozen_stages: 4 }), MmclsError);
  });

  it('configs/shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py: 2.28M parameters, the FLOPs written out at 224', () => {
    const file = 'shufflenet_v2/shufflenet-v2-1x_16xb64_in1k.py';
    const cfg = loadConfig(path.resolve(__dirname, '../../configs', file)).value as Record<string, unknown>;
    const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
    assert.deepEqual(result.inputShape, [3, 224, 224]);
    assert.equal((result.params / 1e6).toFixed(2), '2.28');
    assert.equal(result.flops, shuffleNetV2ByHand([116, 232, 464], 1024).flops);
  });

  it('one training step of ShuffleNetV2 0.5x gives every parameter a finite, non-zero gradient (but the shift-only depth-wise norm biases)', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'ShuffleNetV2', widen_factor: 0.5 },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 1024 },
    });
    const g = trainStepGradients(m, 32);
    assert.equal(g.count, m.trainableVariables().length);
    assert.deepEqual(g.nonFinite, []);
    // The bias of the norm after each depth-wise conv (branch2.1, branch1.0) feeds a 1x1 conv and a
    // training-mode batch norm, which removes any per-channel shift: its gradient is 0 exactly in
    // real arithmetic, float rounding leaves it at 0 or ~1e-9 of the largest gradient (it used to make
    // this test fail at random). Every other parameter must get a non-zero gradient.
    const shiftOnly = (n: string) => /branch(2\.1|1\.0)\.bn\.bias$/.test(n);
    assert.deepEqual(g.zero.filter((n) => !shiftOnly(n)), []);
    const largest = Math.max(...Object.values(g.maxAbs));
    const shifts = Object.entries(g.maxAbs).filter(([n]) => shiftOnly(n));
    assert.equal(shifts.length, 19, 'one such bias per unit, plus branch1 of the 3 down-sampling units');
    for (const [n, v] of shifts) assert.ok(v <= 2e-8 * largest, `${n}: gradient ${v} vs largest ${largest}`);
    m.dispose();
  });
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
