import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { HRFuseScales, HRNet, ImageClassifier } from '../../runtime/models';
import { Upsample } from '../../runtime/models/utils/upsample';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { Module } from '../../runtime/nn/module';
import { _BatchNorm } from '../../runtime/nn/norm';
import { ClsDataSample } from '../../runtime/structures';
import { seq, useTestBackend } from '../nn/helpers';

/** One training step: every trainable parameter gets a finite, non-zero gradient. */
function checkGradients(m: ImageClassifier, x: tf.Tensor4D): void {
  m.initWeights();
  m.train();
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
  tf.dispose([value, ...Object.values(grads)]);
}

const hrnetClassifier = (w: number, backbone: Record<string, unknown> = {}): ImageClassifier =>
  MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone: { type: 'HRNet', arch: `w${w}`, ...backbone },
    neck: [{ type: 'HRFuseScales', in_channels: [w, 2 * w, 4 * w, 8 * w] }, { type: 'GlobalAveragePooling' }],
    head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 2048 },
  });

/** A small HRNet: the four-stage topology with one block per branch. */
const TINY_EXTRA = {
  stage1: { num_modules: 1, num_branches: 1, block: 'BOTTLENECK', num_blocks: [1], num_channels: [8] },
  stage2: { num_modules: 1, num_branches: 2, block: 'BASIC', num_blocks: [1, 1], num_channels: [4, 8] },
  stage3: { num_modules: 1, num_branches: 3, block: 'BASIC', num_blocks: [1, 1, 1], num_channels: [4, 8, 16] },
  stage4: { num_modules: 2, num_branches: 4, block: 'BASIC', num_blocks: [1, 1, 1, 1], num_channels: [4, 8, 16, 32] },
};

describe('HRNet and HRFuseScales', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224 against the model zoo', () => {
    // [width, params M, FLOPs G] from the model zoo. The zoo's FLOPs come from an older counter that
    // also counted element-wise operations; MMEngine's (which the reference measurement of w18 uses:
    // 4315542308) gives about 0.3% less.
    const zoo: [number, number, number][] = [
      [18, 21.3, 4.33], [30, 37.71, 8.17], [32, 41.23, 8.99], [40, 57.55, 12.77], [44, 67.06, 14.96], [48, 77.47, 17.36], [64, 128.06, 29.0],
    ];
    for (const [w, params, flops] of zoo) {
      it(`HRNet-W${w}`, () => {
        const m = hrnetClassifier(w);
        m.eval();
        const r = analyzeComplexity(m, [3, 224, 224]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.006, `params ${r.params}`);
        const rel = (flops - r.flops / 1e9) / flops;
        assert.ok(rel >= 0 && rel <= 0.005, `flops ${r.flops}`);
      });
    }

    it('HRNet-W18 FLOPs equal the MMEngine measurement exactly', () => {
      const m = hrnetClassifier(18);
      m.eval();
      assert.equal(analyzeComplexity(m, [3, 224, 224]).flops, 4315542308);
    });
  });

  it('the docstring example: four outputs of 32, 64, 128, 256 channels at 1/4 .. 1/32 of a 1x32x32 input', () => {
    const extra = {
      stage1: { num_modules: 1, num_branches: 1, block: 'BOTTLENECK', num_blocks: [4], num_channels: [64] },
      stage2: { num_modules: 1, num_branches: 2, block: 'BASIC', num_blocks: [4, 4], num_channels: [32, 64] },
      stage3: { num_modules: 4, num_branches: 3, block: 'BASIC', num_blocks: [4, 4, 4], num_channels: [32, 64, 128] },
      stage4: { num_modules: 3, num_branches: 4, block: 'BASIC', num_blocks: [4, 4, 4, 4], num_channels: [32, 64, 128, 256] },
    };
    const m = new HRNet({ extra: extra as never, in_channels: 1 });
    m.eval();
    assert.deepEqual(analyzeComplexity(m, [1, 32, 32]).outputShape, [[1, 32, 8, 8], [1, 64, 4, 4], [1, 128, 2, 2], [1, 256, 1, 1]]);
    // extra takes precedence over arch; an unknown arch without extra is refused.
    assert.throws(() => new HRNet({ arch: 'w99' as never }), /Invalid arch/);
  });

  it('state-dict layout: stem bn1/bn2, layer1 bottlenecks, transitions, fuse layers with None on the diagonal', () => {
    const m = new HRNet({ extra: TINY_EXTRA as never });
    const keys = m.stateDictKeys().map((e) => e.key);
    assert.deepEqual(keys.slice(0, 7), ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'conv2.weight']);
    for (const k of [
      'layer1.0.downsample.0.weight', // 64 -> 32 channels
      'transition1.0.0.weight', // 32 -> 4: conv, bn, relu
      'transition1.1.0.0.weight', // a new branch: stacked stride-2 convs
      'stage2.0.fuse_layers.0.1.0.weight', // upsampling path: 1x1 conv, bn, nearest
      'stage2.0.fuse_layers.1.0.0.0.weight', // downsampling path
      'stage4.1.fuse_layers.3.0.2.1.weight', // three stride-2 convs from the highest resolution
    ]) {
      assert.ok(keys.includes(k), k);
    }
    assert.ok(!keys.some((k) => k.startsWith('transition2.0') || k.startsWith('transition2.1')), 'equal widths keep an identity transition');
    assert.ok(!keys.some((k) => /fuse_layers\.(\d)\.\1\./.test(k)), 'no module on the diagonal');
    // multiscale_output=False: the last module fuses into the highest resolution only.
    const single = new HRNet({ extra: TINY_EXTRA as never, multiscale_output: false });
    const skeys = single.stateDictKeys().map((e) => e.key);
    assert.ok(skeys.some((k) => k.startsWith('stage4.0.fuse_layers.3.')));
    assert.ok(!skeys.some((k) => k.startsWith('stage4.1.fuse_layers.1.')));
    single.eval();
    assert.deepEqual(analyzeComplexity(single, [3, 32, 32]).outputShape, [[1, 4, 8, 8]]);
  });

  it('identity transitions are not called in the FLOPs pass, as MMEngine lists them for hrnet-w18', () => {
    const m = new HRNet({ extra: TINY_EXTRA as never });
    m.eval();
    const rows = analyzeComplexity(m, [3, 32, 32]).modules;
    const uncalled = rows.filter((r) => !r.called).map((r) => r.name);
    assert.deepEqual(uncalled, ['transition2.0', 'transition2.1', 'transition3.0', 'transition3.1', 'transition3.2']);
  });

  it('nearest upsampling repeats every pixel s x s times and counts one FLOP per output element', () => {
    const up = new Upsample({ scale_factor: 2 });
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]);
    const y = up.forward(x);
    assert.deepEqual(y.shape, [1, 4, 4, 2]);
    const d = Array.from(y.dataSync());
    // channel 0 of the input is [[1, 3], [5, 7]]
    const ch0 = d.filter((_, i) => i % 2 === 0);
    assert.deepEqual(ch0, [1, 1, 3, 3, 1, 1, 3, 3, 5, 5, 7, 7, 5, 5, 7, 7]);
    const r = analyzeComplexity(up as unknown as Module, [2, 2, 2]);
    assert.equal(r.flops, 2 * 4 * 4);
    tf.dispose([x, y]);
  });

  it('HRFuseScales: Bottleneck widening to 128/256/512/1024, stride-2 fusion, a 1x1 ConvModule to 2048', () => {
    const neck = new HRFuseScales({ in_channels: [18, 36, 72, 144] });
    // Parameter count of neck.0 in the hrnet-w18 reference measurement.
    assert.equal(neck.numParameters(), 9683904);
    const keys = neck.stateDictKeys().map((e) => e.key);
    assert.ok(keys.includes('increase_layers.3.0.downsample.0.weight'));
    assert.ok(keys.includes('downsample_layers.2.conv.weight') && keys.includes('downsample_layers.2.bn.weight'));
    assert.ok(keys.includes('final_layer.conv.weight') && !keys.includes('final_layer.conv.bias'));
    neck.eval();
    const out = neck.inferShape(
      [[1, 18, 16, 16], [1, 36, 8, 8], [1, 72, 4, 4], [1, 144, 2, 2]],
      { enter() {}, exit() {}, add() {} },
    );
    assert.deepEqual(out, [[1, 2048, 2, 2]]);
    assert.throws(() => neck.forward([tf.zeros([1, 16, 16, 18])]), /4 feature maps/);
  });

  it('zero_init_residual zeroes the last norm of the blocks of stages 2-4 (not layer1); norm_eval keeps BN in eval', () => {
    const m = new HRNet({ extra: TINY_EXTRA as never, zero_init_residual: true, norm_eval: true });
    m.initWeights();
    const sd = m.stateDict();
    const all = (k: string, v: number): boolean => Array.from(sd.get(k)!.data as Float32Array).every((e) => e === v);
    assert.ok(all('stage2.0.branches.0.0.bn2.weight', 0) && all('stage4.1.branches.3.0.bn2.weight', 0));
    assert.ok(all('stage2.0.branches.0.0.bn1.weight', 1));
    assert.ok(all('layer1.0.bn3.weight', 1), 'layer1 keeps the constant 1 of the norms');
    m.train();
    let bns = 0;
    m.apply((mod) => {
      if (mod instanceof _BatchNorm) {
        bns++;
        assert.equal(mod.training, false);
      }
    });
    assert.ok(bns > 10);
    m.dispose();
  });

  it('one training step through a small HRNet (multiscale_output=False: every branch feeds the output) gives every parameter a gradient', () => {
    // HRFuseScales has fixed widths (128 to 1024 channels), too large for a quick test; its parts are
    // the ResLayer and ConvModule tested with ResNet.
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'HRNet', extra: TINY_EXTRA, multiscale_output: false },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 4 },
    });
    const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 7), [2, 32, 32, 3]);
    checkGradients(m, x);
    x.dispose();
    m.dispose();
  });
});
