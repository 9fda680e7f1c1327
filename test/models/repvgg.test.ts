import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'path';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, RepVGG, RepVGGArchName, RepVGGBlock } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { filledStateDict } from '../../runtime/analysis/reference';
import { MmclsError } from '../../runtime/errors';
import { _BatchNorm } from '../../runtime/nn/norm';
import { ClsDataSample } from '../../runtime/structures';
import { nchwToNhwc, seq, useTestBackend } from '../nn/helpers';

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let r = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    r = Math.max(r, Math.abs(b[i]));
  }
  return m / r;
}

function output(m: RepVGG, x: tf.Tensor): Float32Array {
  return tf.tidy(() => tf.concat((m.forward(x) as tf.Tensor[]).map((t) => tf.reshape(t, [-1])))).dataSync() as Float32Array;
}

describe('RepVGG', () => {
  before(useTestBackend);

  // Model zoo (RepVGG page): params (M) train | deploy, FLOPs (G) of the deploy form.
  const zoo: [RepVGGArchName, number, number, number, number][] = [
    ['A0', 1280, 9.11, 8.31, 1.36],
    ['A1', 1280, 14.09, 12.79, 2.36], // the summary table's 2.36 (the RepVGG page prints 2.37)
    ['A2', 1408, 28.21, 25.5, 5.12],
    ['B0', 1280, 15.82, 14.34, 3.06],
    ['B1', 2048, 57.42, 51.83, 11.81],
    ['B1g2', 2048, 45.78, 41.36, 8.80],
    ['B1g4', 2048, 39.97, 36.13, 7.30],
    ['B2', 2560, 89.02, 80.32, 18.4],
    ['B2g4', 2560, 61.76, 55.78, 11.3],
    ['B3', 2560, 123.09, 110.96, 26.2],
    ['B3g4', 2560, 83.83, 75.63, 16.1],
    ['D2se', 2560, 133.33, 120.39, 32.8],
  ];
  for (const [arch, ch, trainParams, deployParams, deployFlops] of zoo) {
    it(`${arch}: zoo parameters of both forms and deploy FLOPs at 224x224`, () => {
      const cfg = (deploy: boolean): Record<string, unknown> => ({
        type: 'ImageClassifier',
        backbone: { type: 'RepVGG', arch, deploy },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: ch },
      });
      const train = MODELS.build<ImageClassifier>(cfg(false));
      assert.ok(Math.abs(train.numParameters() / 1e6 - trainParams) < 0.006, `train params ${train.numParameters()}`);
      const r = analyzeComplexity(MODELS.build<ImageClassifier>(cfg(true)).eval(), [3, 224, 224]);
      assert.ok(Math.abs(r.params / 1e6 - deployParams) < 0.006, `deploy params ${r.params}`);
      // The zoo prints 2-3 significant digits.
      assert.ok(Math.abs(r.flops / 1e9 - deployFlops) <= Math.max(0.006, 0.003 * deployFlops), `deploy flops ${r.flops}`);
    });
  }

  it('keys: stem, stage_i, branch_3x3/branch_1x1/branch_norm, groups from group_layer_map, SE layers of D2se', () => {
    const keys = (b: RepVGG): string[] => b.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    const a0 = keys(new RepVGG({ arch: 'A0' }));
    assert.deepEqual(a0.slice(0, 3), ['stem.branch_3x3.conv.weight 48x3x3x3', 'stem.branch_3x3.norm.weight 48', 'stem.branch_3x3.norm.bias 48']);
    assert.ok(a0.includes('stage_1.1.branch_norm.running_var 48'));
    assert.ok(!a0.some((k) => k.startsWith('stage_1.0.branch_norm')));
    assert.ok(a0.includes('stage_4.0.branch_1x1.conv.weight 1280x192x1x1'));
    // Block 2 (stage_1.1) is grouped in B1g2; block 1 (stage_1.0) is not.
    const g2 = keys(new RepVGG({ arch: 'B1g2' }));
    assert.ok(g2.includes('stage_1.0.branch_3x3.conv.weight 128x64x3x3'));
    assert.ok(g2.includes('stage_1.1.branch_3x3.conv.weight 128x64x3x3'));
    assert.ok(g2.includes('stage_1.2.branch_3x3.conv.weight 128x128x3x3'));
    const d2 = keys(new RepVGG({ arch: 'D2se' }));
    // SE: ratio 16, divisor 1 -> 160 / 16 = 10 squeezed channels.
    assert.ok(d2.includes('stage_1.0.se_layer.conv1.conv.weight 10x160x1x1'));
    assert.ok(d2.includes('stage_1.0.se_layer.conv2.conv.bias 160'));
    const deploy = keys(new RepVGG({ arch: 'A0', deploy: true }));
    assert.deepEqual(deploy.slice(0, 2), ['stem.branch_reparam.weight 48x3x3x3', 'stem.branch_reparam.bias 48']);
  });

  it('a block sums 3x3 conv-BN, 1x1 conv-BN and the BN identity (by hand)', () => {
    const b = new RepVGGBlock({ in_channels: 1, out_channels: 1 });
    b.eval();
    const sd = b.stateDict();
    const set = (k: string, v: number[]): void => { sd.get(k)!.data = Float32Array.from(v); };
    set('branch_3x3.conv.weight', [0, 0, 0, 1, 0, -1, 0, 0, 0]); // x[i, j-1] - x[i, j+1]
    set('branch_1x1.conv.weight', [2]);
    set('branch_1x1.norm.running_mean', [1]);
    set('branch_norm.running_var', [3]);
    b.loadStateDict(sd);
    const x = [1, -2, 3, 4, 5, -6, 7, 8, -9];
    const y = tf.tidy(() => b.forward(tf.tensor4d(x, [1, 3, 3, 1]))).dataSync();
    const at = (i: number, j: number): number => (j >= 0 && j < 3 ? x[i * 3 + j] : 0);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        const pre = (at(i, j - 1) - at(i, j + 1)) / Math.sqrt(1 + 1e-5) + (2 * x[i * 3 + j] - 1) / Math.sqrt(1 + 1e-5) + x[i * 3 + j] / Math.sqrt(3 + 1e-5);
        assert.ok(Math.abs(y[i * 3 + j] - Math.max(pre, 0)) < 1e-5, `(${i},${j})`);
      }
    }
  });

  const tiny = { num_blocks: [1, 2, 2, 1], width_factor: [0.25, 0.25, 0.25, 0.25], group_layer_map: { 2: 2, 4: 4 }, se_cfg: { ratio: 4, divisor: 1 } };

  for (const [name, extra] of [['grouped, with SE', {}], ['dilated last stage, MTSPPF', { strides: [2, 2, 2, 1], dilations: [1, 1, 1, 2], add_ppf: true }]] as [string, Record<string, unknown>][]) {
    it(`switchToDeploy (${name}): same outputs, and the fused checkpoint loads into deploy=True`, async () => {
      const m = new RepVGG({ arch: tiny, out_indices: [2, 3], ...extra });
      m.loadStateDict(await filledStateDict(m));
      m.eval();
      const x = nchwToNhwc(seq(2 * 3 * 32 * 32, 3), [2, 3, 32, 32]);
      const before = output(m, x);
      m.switch_to_deploy();
      assert.ok(m.deploy);
      assert.ok(m.stateDictKeys().every((e) => !/branch_(3x3|1x1|norm)/.test(e.key)));
      const after = output(m, x);
      assert.ok(relDiff(after, before) < 1e-5, `deploy vs train ${relDiff(after, before)}`);
      const d = new RepVGG({ arch: tiny, out_indices: [2, 3], deploy: true, ...extra });
      d.loadStateDict(m.stateDict());
      d.eval();
      assert.ok(relDiff(output(d, x), before) < 1e-5);
      x.dispose();
      m.dispose();
      d.dispose();
    });
  }

  it('checks its arguments', () => {
    assert.throws(() => new RepVGG({ arch: 'Z9' as RepVGGArchName }), MmclsError);
    assert.throws(() => new RepVGG({ arch: 'A0', out_indices: [4] }), MmclsError);
    assert.throws(() => new RepVGG({ arch: 'A0', strides: [2, 2, 2] }), MmclsError);
    assert.throws(() => new RepVGG({ arch: { ...tiny, group_layer_map: { 9: 2 } } }), MmclsError);
  });

  it('frozen_stages and norm_eval', () => {
    const m = new RepVGG({ arch: tiny, frozen_stages: 1, norm_eval: true });
    m.train();
    for (const [n, p] of m.namedParameters()) assert.equal(p.requiresGrad, !/^(stem|stage_1)\./.test(n), n);
    m.apply((mod) => { if (mod instanceof _BatchNorm) assert.equal(mod.training, false); });
  });

  it('one training step gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'RepVGG', arch: tiny },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 128 },
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
  // The configs as `mmcls flops` reads them (test input size from the pipeline): the zoo's parameters (M)
  // and FLOPs (G). Its training-form FLOPs come from a counter that also counts some element-wise
  // ops (up to ~1% more than fvcore's count here).
  const CONFIGS = path.resolve(__dirname, '../../configs');
  const configs: [string, number, number][] = [
    ['repvgg/repvgg-A0_8xb32_in1k.py', 9.11, 1.53],
    ['repvgg/repvgg-A0_deploy_in1k.py', 8.31, 1.36],
    ['repvgg/repvgg-A1_8xb32_in1k.py', 14.09, 2.65],
    ['repvgg/repvgg-A2_8xb32_in1k.py', 28.21, 5.72],
    ['repvgg/repvgg-B0_8xb32_in1k.py', 15.82, 3.43],
    ['repvgg/repvgg-B1_8xb32_in1k.py', 57.42, 13.20],
    ['repvgg/repvgg-B1g2_8xb32_in1k.py', 45.78, 9.86],
    ['repvgg/repvgg-B1g4_8xb32_in1k.py', 39.97, 8.19],
    ['repvgg/repvgg-B2_8xb32_in1k.py', 89.02, 20.5],
    ['repvgg/repvgg-B2g4_8xb32_in1k.py', 61.76, 12.7],
    ['repvgg/repvgg-B3_8xb32_in1k.py', 123.09, 29.2],
    ['repvgg/repvgg-B3g4_8xb32_in1k.py', 83.83, 18.0],
    ['repvgg/repvgg-D2se_8xb32_in1k.py', 133.33, 36.6],
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
