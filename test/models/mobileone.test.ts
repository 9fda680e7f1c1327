import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, MobileOne, MobileOneBlock } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { filledStateDict } from '../../runtime/analysis/reference';
import { MmclsError } from '../../runtime/errors';
import { _BatchNorm } from '../../runtime/nn/norm';
import { Module } from '../../runtime/nn/module';
import { ClsDataSample } from '../../runtime/structures';
import { nchwToNhwc, seq, useTestBackend } from '../nn/helpers';

/** max |a - b| / max |b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let r = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    r = Math.max(r, Math.abs(b[i]));
  }
  return m / r;
}

function output(m: Module & { forward(x: tf.Tensor): unknown }, x: tf.Tensor): Float32Array {
  return tf.tidy(() => {
    const out = m.forward(x) as tf.Tensor[];
    return tf.concat(out.map((t) => tf.reshape(t, [-1])));
  }).dataSync() as Float32Array;
}

describe('MobileOne', () => {
  before(useTestBackend);

  // Model zoo: parameters (M) of the training form, parameters and FLOPs (G) of the deploy form
  // (the summary table), training-form FLOPs as measured by the reference (s0: 1.087G).
  const zoo: ['s0' | 's1' | 's2' | 's3' | 's4', number, number, number, number][] = [
    ['s0', 1024, 5.29, 2.08, 0.27],
    ['s1', 1280, 4.83, 4.76, 0.82],
    ['s2', 2048, 7.88, 7.81, 1.30],
    ['s3', 2048, 10.17, 10.08, 1.89],
    ['s4', 2048, 14.95, 14.84, 2.98],
  ];
  for (const [arch, ch, trainParams, deployParams, deployFlops] of zoo) {
    it(`${arch}: zoo parameters (training and deploy form) and deploy FLOPs at 224x224`, () => {
      const cfg = (deploy: boolean): Record<string, unknown> => ({
        type: 'ImageClassifier',
        backbone: { type: 'MobileOne', arch, deploy },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: ch },
      });
      const train = MODELS.build<ImageClassifier>(cfg(false)).eval();
      const deploy = MODELS.build<ImageClassifier>(cfg(true)).eval();
      assert.ok(Math.abs(train.numParameters() / 1e6 - trainParams) < 0.006, `train params ${train.numParameters()}`);
      const r = analyzeComplexity(deploy, [3, 224, 224]);
      assert.ok(Math.abs(r.params / 1e6 - deployParams) < 0.006, `deploy params ${r.params}`);
      assert.ok(Math.abs(r.flops / 1e9 - deployFlops) < 0.006, `deploy flops ${r.flops}`);
      assert.equal((train.backbone as MobileOne).channels[3], ch);
    });
  }

  it('s0 state-dict keys and shapes equal the reference measurement (training form)', function () {
    const file = path.resolve(process.env.MMCLS_REFERENCE_DIR ?? path.resolve(__dirname, '../../../shared/reference/models'), 'mobileone-s0_8xb32_in1k.json');
    if (!fs.existsSync(file)) this.skip();
    const ref = JSON.parse(fs.readFileSync(file, 'utf8')) as { state_dict: [string, number[], number][] };
    const ours = new MobileOne({ arch: 's0' }).stateDictKeys().map((e) => `backbone.${e.key} ${e.shape.join('x')}`);
    const theirs = ref.state_dict.filter(([k]) => k.startsWith('backbone.')).map(([k, s]) => `${k} ${s.join('x')}`);
    assert.deepEqual(ours, theirs);
  });

  it('a block sums the BN identity, the 1x1 scale branch and the conv branches (by hand)', () => {
    const b = new MobileOneBlock({ in_channels: 1, out_channels: 1, kernel_size: 3, num_convs: 2, padding: 1 });
    b.eval();
    // Kernels: both 3x3 branches all ones (weights 1 and 2), scale branch weight 0.5; BNs identity up to eps.
    const sd = b.stateDict();
    const set = (k: string, v: number[]): void => { sd.get(k)!.data = Float32Array.from(v); };
    set('branch_conv_list.0.conv.weight', Array(9).fill(1));
    set('branch_conv_list.1.conv.weight', Array(9).fill(2));
    set('branch_scale.conv.weight', [0.5]);
    set('branch_norm.bias', [0.25]);
    b.loadStateDict(sd);
    const x = [1, -2, 3, 4, 5, -6, 7, 8, -9];
    const y = tf.tidy(() => b.forward(tf.tensor4d(x, [1, 3, 3, 1]))).dataSync();
    const s = 1 / Math.sqrt(1 + 1e-5);
    const at = (i: number, j: number): number => (i >= 0 && i < 3 && j >= 0 && j < 3 ? x[i * 3 + j] : 0);
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let box = 0;
        for (let di = -1; di <= 1; di++) for (let dj = -1; dj <= 1; dj++) box += at(i + di, j + dj);
        const pre = (x[i * 3 + j] * s + 0.25) + 0.5 * x[i * 3 + j] * s + 3 * box * s;
        assert.ok(Math.abs(y[i * 3 + j] - Math.max(pre, 0)) < 1e-5, `(${i},${j}) ${y[i * 3 + j]} vs ${Math.max(pre, 0)}`);
      }
    }
  });

  const tinyArch = { num_blocks: [1, 2, 1, 1], width_factor: [0.125, 0.125, 0.125, 0.125], num_conv_branches: [2, 3, 1, 2], num_se_blocks: [0, 1, 0, 1] };

  it('switchToDeploy: the fused form gives the training form\'s outputs, and its checkpoint loads into deploy=True', async () => {
    const m = new MobileOne({ arch: tinyArch, out_indices: [1, 3] });
    m.loadStateDict(await filledStateDict(m));
    m.eval();
    const x = nchwToNhwc(seq(2 * 3 * 32 * 32, 5), [2, 3, 32, 32]);
    const before = output(m, x);
    const trainParams = m.numParameters();
    m.switchToDeploy();
    assert.ok(m.numParameters() < trainParams);
    assert.ok(m.stateDictKeys().every((e) => !/branch_(conv_list|scale|norm)/.test(e.key)));
    assert.ok(m.stateDictKeys().some((e) => e.key === 'stage2.1.branch_reparam.bias'));
    const after = output(m, x);
    assert.ok(relDiff(after, before) < 1e-5, `deploy vs train ${relDiff(after, before)}`);
    const d = new MobileOne({ arch: tinyArch, out_indices: [1, 3], deploy: true });
    assert.deepEqual(d.stateDictKeys().map((e) => e.key).sort(), m.stateDictKeys().map((e) => e.key).sort());
    d.loadStateDict(m.stateDict());
    d.eval();
    assert.ok(relDiff(output(d, x), before) < 1e-5);
    // Same shape pass and FLOPs for a switched model and one built in deploy form.
    assert.equal(analyzeComplexity(d, [3, 32, 32]).flops, analyzeComplexity(m, [3, 32, 32]).flops);
    m.switch_to_deploy(); // a second switch is a no-op
    x.dispose();
    m.dispose();
    d.dispose();
  });

  it('out_indices (negative too), stage widths and output shapes', () => {
    const m = new MobileOne({ arch: 's0', out_indices: [0, 1, 2, -1] });
    assert.deepEqual(m.outIndices, [0, 1, 2, 3]);
    const r = analyzeComplexity(m.eval(), [3, 224, 224]);
    assert.deepEqual(r.outputShape, [[1, 48, 56, 56], [1, 128, 28, 28], [1, 256, 14, 14], [1, 1024, 7, 7]]);
    assert.throws(() => new MobileOne({ arch: 's9' as 's0' }), MmclsError);
    assert.throws(() => new MobileOne({ arch: { ...tinyArch, num_blocks: [1, 1, 1] } }), MmclsError);
    assert.throws(() => new MobileOne({ arch: 's0', out_indices: [5] }), MmclsError);
  });

  it('frozen_stages freezes stage0 and the first stages; norm_eval keeps BNs in eval', () => {
    const m = new MobileOne({ arch: tinyArch, frozen_stages: 2, norm_eval: true });
    m.train();
    for (const [n, p] of m.namedParameters()) {
      const frozen = /^stage[012]\./.test(n);
      assert.equal(p.requiresGrad, !frozen, n);
    }
    m.apply((mod) => { if (mod instanceof _BatchNorm) assert.equal(mod.training, false); });
    assert.equal(m.getSubmodule('stage3')!.training, true);
  });

  it('init_cfg: Kaiming convs and unit BN weights', () => {
    const m = new MobileOne({ arch: tinyArch });
    m.initWeights();
    const w = m.getSubmodule('stage0.branch_conv_list.0.norm') as _BatchNorm;
    assert.ok(Array.from(w.weight!.variable.dataSync()).every((v) => v === 1));
    assert.deepEqual(m.initCfg, [{ type: 'Kaiming', layer: ['Conv2d'] }, { type: 'Constant', val: 1, layer: ['_BatchNorm'] }]);
  });

  it('one training step gives every parameter a finite, non-zero gradient', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'MobileOne', arch: tinyArch },
      neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 64 },
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
    ['mobileone/mobileone-s0_8xb32_in1k.py', 5.29, 1.09],
    ['mobileone/deploy/mobileone-s0_deploy_8xb32_in1k.py', 2.08, 0.27],
    ['mobileone/mobileone-s1_8xb32_in1k.py', 4.83, 0.86],
    ['mobileone/deploy/mobileone-s1_deploy_8xb32_in1k.py', 4.76, 0.82],
    ['mobileone/mobileone-s2_8xb32_in1k.py', 7.88, 1.34],
    ['mobileone/deploy/mobileone-s2_deploy_8xb32_in1k.py', 7.81, 1.30],
    ['mobileone/mobileone-s3_8xb32_in1k.py', 10.17, 1.95],
    ['mobileone/deploy/mobileone-s3_deploy_8xb32_in1k.py', 10.08, 1.89],
    ['mobileone/mobileone-s4_8xb32_in1k.py', 14.95, 3.05],
    ['mobileone/deploy/mobileone-s4_deploy_8xb32_in1k.py', 14.84, 2.98],
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
