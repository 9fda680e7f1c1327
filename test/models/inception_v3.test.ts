import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'path';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { BasicConv2d, ImageClassifier, InceptionA, InceptionAux, InceptionB, InceptionC, InceptionD, InceptionE, InceptionV3 } from '../../runtime/models';
import { Layer } from '../../runtime/nn/layer';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { seq, useTestBackend } from '../nn/helpers';

describe('InceptionV3', () => {
  before(useTestBackend);

  it('zoo: 23.83M parameters and 5.75G FLOPs at 299x299 (no auxiliary branch); the classifier lives in the backbone', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'InceptionV3', num_classes: 1000, aux_logits: false },
      neck: null,
      head: { type: 'ClsHead', loss: { type: 'CrossEntropyLoss', loss_weight: 1.0 }, topk: [1, 5] },
    });
    m.eval();
    const r = analyzeComplexity(m, [3, 299, 299]);
    assert.ok(Math.abs(r.params / 1e6 - 23.83) < 0.006, `params ${r.params}`);
    // The zoo's counter also counts max/average pooling (0 here, as in mmengine): within 0.5 %.
    assert.ok(Math.abs(r.flops / 1e9 - 5.75) < 0.005 * 5.75, `flops ${r.flops}`);
    assert.deepEqual(r.outputShape, [null, [1, 1000]]);
    // Stem and block shapes of the torchvision comments: 35x35x288 after Mixed_5d, 17x17x768, 8x8x2048.
    const rows = new Map(r.modules.map((row) => [row.name, row]));
    assert.ok(rows.has('backbone.Mixed_7c.branch3x3dbl_3b'));
    assert.ok(!rows.has('backbone.AuxLogits'));
  });

  it('keys in MMCls order; the auxiliary classifier sits between Mixed_6e and Mixed_7a', () => {
    const keys = new InceptionV3({ aux_logits: true, num_classes: 10 }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 7), [
      'Conv2d_1a_3x3.conv.weight 32x3x3x3', 'Conv2d_1a_3x3.bn.weight 32', 'Conv2d_1a_3x3.bn.bias 32',
      'Conv2d_1a_3x3.bn.running_mean 32', 'Conv2d_1a_3x3.bn.running_var 32', 'Conv2d_1a_3x3.bn.num_batches_tracked ', 'Conv2d_2a_3x3.conv.weight 32x32x3x3',
    ]);
    const i6e = keys.findIndex((k) => k.startsWith('Mixed_6e.'));
    const iAux = keys.indexOf('AuxLogits.conv0.conv.weight 128x768x1x1');
    const i7a = keys.findIndex((k) => k.startsWith('Mixed_7a.'));
    assert.ok(i6e < iAux && iAux < i7a);
    assert.ok(keys.includes('AuxLogits.fc.weight 10x768'));
    assert.ok(keys.includes('Mixed_6b.branch7x7_2.conv.weight 128x128x1x7'));
    assert.ok(keys.includes('Mixed_7b.branch3x3_2b.conv.weight 384x384x3x1'));
    assert.deepEqual(keys.slice(-2), ['fc.weight 10x2048', 'fc.bias 10']);
    // 27.16M with the auxiliary classifier (torchvision's count), 23.83M without.
    assert.ok(Math.abs(new InceptionV3({ aux_logits: true }).numParameters() / 1e6 - 27.16) < 0.006);
  });

  it('auxiliary logits: computed in training mode only (shape pass at 299x299), None in eval', () => {
    const b = new InceptionV3({ aux_logits: true, num_classes: 7 });
    b.train();
    const ctx = { enter: () => undefined, exit: () => undefined, add: () => undefined };
    assert.deepEqual(b.inferShape([2, 3, 299, 299], ctx), [[2, 7], [2, 7]]);
    b.eval();
    assert.deepEqual(b.inferShape([2, 3, 299, 299], ctx), [null, [2, 7]]);
  });

  it('BasicConv2d: conv without bias, BatchNorm with eps 0.001, ReLU (by hand)', () => {
    const c = new BasicConv2d(1, 1, { kernel_size: 1 });
    c.eval();
    const sd = c.stateDict();
    sd.get('conv.weight')!.data = Float32Array.from([2]);
    sd.get('bn.running_mean')!.data = Float32Array.from([1]);
    sd.get('bn.running_var')!.data = Float32Array.from([0.999]);
    sd.get('bn.bias')!.data = Float32Array.from([0.5]);
    c.loadStateDict(sd);
    assert.equal(c.conv.bias, null);
    const y = tf.tidy(() => c.forward(tf.tensor4d([1, -1, 3, 0.25], [1, 2, 2, 1]))).dataSync();
    // (2x - 1) / sqrt(0.999 + 0.001) + 0.5, then ReLU.
    assert.deepEqual(Array.from(y).map((v) => Math.round(v * 1e5) / 1e5), [1.5, 0, 5.5, 0]);
  });

  it('blocks concatenate their branches in torchvision order (A: 1x1, 5x5, 3x3dbl, pool; E: 1x1, 3x3 a|b, 3x3dbl a|b, pool)', () => {
    const x = tf.tensor4d(seq(1 * 5 * 5 * 6, 11), [1, 5, 5, 6]);
    const a = new InceptionA(6, 8);
    a.eval();
    const m = (n: string): Layer => a.getChild(n) as Layer;
    const ya = tf.tidy(() => a.forward(x));
    const parts = tf.tidy(() => [
      m('branch1x1').forward(x),
      m('branch5x5_2').forward(m('branch5x5_1').forward(x)),
      m('branch3x3dbl_3').forward(m('branch3x3dbl_2').forward(m('branch3x3dbl_1').forward(x))),
      m('branch_pool').forward(m('branch_pool_downsample').forward(x)),
    ]);
    assert.deepEqual(parts.map((t) => t.shape[3]), [64, 64, 96, 8]);
    assert.deepEqual(Array.from(ya.dataSync()), Array.from(tf.concat(parts, 3).dataSync()));
    // The pooled branch averages 3x3 windows with zero padding counted (count_include_pad): a corner sums 4 of 9.
    const pooled = tf.tidy(() => m('branch_pool_downsample').forward(x)).dataSync();
    const xs = x.dataSync();
    let corner = 0;
    for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]]) corner += xs[(i * 5 + j) * 6];
    assert.ok(Math.abs(pooled[0] - corner / 9) < 1e-6);
    const e = new InceptionE(6);
    e.eval();
    const n = (k: string): Layer => e.getChild(k) as Layer;
    const ye = tf.tidy(() => e.forward(x));
    const ep = tf.tidy(() => {
      const b3 = n('branch3x3_1').forward(x);
      const d = n('branch3x3dbl_2').forward(n('branch3x3dbl_1').forward(x));
      return [n('branch1x1').forward(x), n('branch3x3_2a').forward(b3), n('branch3x3_2b').forward(b3), n('branch3x3dbl_3a').forward(d), n('branch3x3dbl_3b').forward(d), n('branch_pool').forward(n('branch_pool_downsample').forward(x))];
    });
    assert.equal(ye.shape[3], 320 + 768 + 768 + 192);
    assert.deepEqual(Array.from(ye.dataSync()), Array.from(tf.concat(ep, 3).dataSync()));
    tf.dispose([x, ya, ye, ...parts, ...ep]);
    a.dispose();
    e.dispose();
  });

  it('a forward pass at 75x75 (the smallest input) gives [N, num_classes] logits', function () {
    this.timeout(30000);
    const m = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'InceptionV3', num_classes: 3 }, head: { type: 'ClsHead' } });
    m.eval();
    const x = tf.randomNormal([1, 75, 75, 3]);
    const y = tf.tidy(() => m.forwardTensor(x) as tf.Tensor);
    assert.deepEqual(y.shape, [1, 3]);
    assert.ok(Array.from(y.dataSync()).every(Number.isFinite));
    tf.dispose([x, y]);
    m.dispose();
  });

  it('one training step through Inception A-E blocks and the auxiliary classifier reaches every parameter', function () {
    this.timeout(30000);
    const blocks: [Layer, number[]][] = [
      [new InceptionA(4, 8), [2, 5, 5, 4]],
      [new InceptionB(4), [2, 7, 7, 4]],
      [new InceptionC(4, 8), [2, 5, 5, 4]],
      [new InceptionD(4), [2, 7, 7, 4]],
      [new InceptionE(4), [2, 3, 3, 4]],
      [new InceptionAux(4, 3), [2, 17, 17, 4]],
    ];
    for (const [b, shape] of blocks) {
      b.train();
      const x = tf.tensor4d(seq(shape.reduce((a, c) => a * c, 1), 3), shape as [number, number, number, number]);
      const vars = b.trainableVariables();
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(b.forward(x))) as tf.Scalar, vars);
      assert.ok(Number.isFinite(value.dataSync()[0]));
      assert.equal(Object.keys(grads).length, vars.length);
      const names = new Map(b.namedParameters().map(([n, p]) => [p.variable.name, n]));
      for (const [v, g] of Object.entries(grads)) {
        const d = g.dataSync();
        assert.ok(d.every(Number.isFinite) && d.some((e) => e !== 0), `${b.typeName}: gradient of ${names.get(v)}`);
      }
      tf.dispose([x, value, ...Object.values(grads)]);
      b.dispose();
    }
  });
  // The configs as `mmcls flops` reads them (test input size from the pipeline): the zoo's parameters (M)
  // and FLOPs (G). Its training-form FLOPs come from a counter that also counts some element-wise
  // ops (up to ~1% more than fvcore's count here).
  const CONFIGS = path.resolve(__dirname, '../../configs');
  const configs: [string, number, number][] = [
    ['inception_v3/inception-v3_8xb32_in1k.py', 23.83, 5.75],
  ];
  for (const [file, params, flops] of configs) {
    it(`configs/${file}: ${params}M parameters, ${flops}G FLOPs`, () => {
      const cfg = loadConfig(path.join(CONFIGS, file)).value as Record<string, unknown>;
      const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
      assert.ok(Math.abs(result.params / 1e6 - params) < 0.006, `params ${result.params}`);
      assert.ok(Math.abs(result.flops / 1e9 - flops) <= Math.max(0.005, 0.01 * flops), `flops ${result.flops}`); // 2 decimals or 1%
    });
  }
});
