import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'path';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { ConvMixer, ConvMixerArchName, ImageClassifier } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';
import { seq, useTestBackend } from '../nn/helpers';

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7).
  const s = Math.sign(x);
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  return s * (1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax));
}
const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));

describe('ConvMixer', () => {
  before(useTestBackend);

  // Model zoo: params (M), FLOPs (G); embed dims, depth, kernel, tokens per side at 224.
  const zoo: [ConvMixerArchName, number, number, number, number, number, number][] = [
    ['768/32', 21.11, 19.62, 768, 32, 7, 32],
    ['1024/20', 24.38, 5.55, 1024, 20, 9, 16],
    ['1536/20', 51.63, 48.71, 1536, 20, 9, 32],
  ];
  for (const [arch, params, flops, d, depth, k, n] of zoo) {
    it(`${arch}: zoo parameters; FLOPs equal the zoo's once its uncounted depth-wise convolutions are taken out`, () => {
      const m = MODELS.build<ImageClassifier>({
        type: 'ImageClassifier',
        backbone: { type: 'ConvMixer', arch },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: d },
      });
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.ok(Math.abs(r.params / 1e6 - params) < 0.006, `params ${r.params}`);
      // The zoo's counter did not see the padding='same' depth-wise convs (d * k * k per output pixel);
      // this counter does.
      const depthwise = depth * d * k * k * n * n;
      assert.ok(Math.abs((r.flops - depthwise) / 1e9 - flops) < 0.005 * flops, `flops ${r.flops}`);
      assert.deepEqual(r.outputShape, [[1, d]]);
    });
  }

  it('keys: stem.0 conv, stem.2 BN, stages.i.0.fn.0 depth-wise conv, .fn.2 BN, .1 point-wise conv, .3 BN', () => {
    const keys = new ConvMixer({ arch: '1024/20' }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys.slice(0, 4), ['stem.0.weight 1024x3x14x14', 'stem.0.bias 1024', 'stem.2.weight 1024', 'stem.2.bias 1024']);
    assert.ok(keys.includes('stages.0.0.fn.0.weight 1024x1x9x9'));
    assert.ok(keys.includes('stages.0.0.fn.2.running_mean 1024'));
    assert.ok(keys.includes('stages.19.1.weight 1024x1024x1x1'));
    assert.ok(keys.includes('stages.19.3.num_batches_tracked '));
    assert.equal(keys.length, 7 + 20 * 14); // conv (2) + BN (5) in the stem; 2 convs and 2 BNs per layer
    // One activation module shared by all layers: named once, as `act`, first.
    const m = new ConvMixer({ arch: '1024/20' });
    assert.equal(m.namedModules()[1][0], 'act');
    assert.ok(!m.namedModules().some(([name]) => name === 'stem.1'));
  });

  it('a one-channel mixer by hand: patch conv, GELU, BN, then x + BN(GELU(dwconv_same(x))), 1x1 conv, GELU, BN', () => {
    const m = new ConvMixer({ arch: { embed_dims: 1, depth: 1, patch_size: 1, kernel_size: 3 }, in_channels: 1 });
    m.eval();
    const sd = m.stateDict();
    const set = (key: string, v: number[]): void => { sd.get(key)!.data = Float32Array.from(v); };
    set('stem.0.weight', [2]);
    set('stem.0.bias', [-0.5]);
    set('stages.0.0.fn.0.weight', [0, 1, 0, 1, 1, 1, 0, 1, 0]); // the cross: centre and 4 neighbours
    set('stages.0.0.fn.0.bias', [0.1]);
    set('stages.0.1.weight', [-1]);
    set('stages.0.1.bias', [0.3]);
    set('stages.0.3.running_var', [4 - 1e-5]); // the last BN halves
    m.loadStateDict(sd);
    const x = [0.5, -1, 1.5, 0, 2, -0.5, 1, -2, 0.25];
    const y = tf.tidy(() => (m.forward(tf.tensor4d(x, [1, 3, 3, 1]))[0] as tf.Tensor)).dataSync();
    const s = 1 / Math.sqrt(1 + 1e-5);
    const a = x.map((v) => gelu(2 * v - 0.5) * s);
    const at = (i: number, j: number): number => (i >= 0 && i < 3 && j >= 0 && j < 3 ? a[i * 3 + j] : 0);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const cross = at(i, j) + at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1) + 0.1;
        const r = a[i * 3 + j] + gelu(cross) * s;
        const expected = gelu(-r + 0.3) / 2;
        assert.ok(Math.abs(y[i * 3 + j] - expected) < 1e-5, `(${i},${j}) ${y[i * 3 + j]} vs ${expected}`);
      }
    }
  });

  it('out_indices (negative from the end), frozen_stages, arch checks', () => {
    const arch = { embed_dims: 8, depth: 4, patch_size: 4, kernel_size: 3 };
    const m = new ConvMixer({ arch, out_indices: [1, -1], frozen_stages: 2 });
    assert.deepEqual(m.outIndices, [1, 3]);
    m.train();
    for (const [name, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^stages\.[01]\./.test(name), name);
    assert.equal(m.stages.at(0).training, false);
    assert.equal(m.stages.at(2).training, true);
    const ctx = { enter: () => undefined, exit: () => undefined, add: () => undefined };
    assert.deepEqual(m.inferShape([1, 3, 32, 32], ctx), [[1, 8, 8, 8], [1, 8, 8, 8]]);
    assert.throws(() => new ConvMixer({ arch: '512/8' as ConvMixerArchName }), MmclsError);
    assert.throws(() => new ConvMixer({ arch: { embed_dims: 8, depth: 2 } as unknown as ConvMixerArchName }), MmclsError);
  });

  it('one training step gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'ConvMixer', arch: { embed_dims: 8, depth: 2, patch_size: 4, kernel_size: 5 } },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 8 },
    });
    m.train();
    const x = tf.tensor4d(seq(2 * 16 * 16 * 3, 7), [2, 16, 16, 3]);
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
  // The configs as `mmcls flops` reads them (test input size from the pipeline): the zoo's parameters (M)
  // and FLOPs (G). Its training-form FLOPs come from a counter that also counts some element-wise
  // ops (up to ~1% more than fvcore's count here).
  // ConvMixer: the zoo's figure plus the same-padded depth-wise convolutions its counter missed.
  const CONFIGS = path.resolve(__dirname, '../../configs');
  const configs: [string, number, number][] = [
    ['convmixer/convmixer-768-32_10xb64_in1k.py', 21.11, 19.62 + 32 * 768 * 49 * 32 * 32 / 1e9],
    ['convmixer/convmixer-1024-20_10xb64_in1k.py', 24.38, 5.55 + 20 * 1024 * 81 * 16 * 16 / 1e9],
    ['convmixer/convmixer-1536-20_10xb64_in1k.py', 51.63, 48.71 + 20 * 1536 * 81 * 32 * 32 / 1e9],
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
