import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, RepLKBlock, RepLKNet, RepLKNetArch, ReparamLargeKernelConv } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { ClsDataSample } from '../../runtime/structures';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { filledStateDict } from '../../runtime/analysis/reference';
import { readCheckpoint, toStateEntries, writeCheckpoint } from '../../runtime/engine/checkpoint';
import { reparameterizeCheckpoint } from '../../runtime/apis/reparameterize';
import { loadConfig } from '../../runtime/config';
import { configFigures } from './config_figures';

function put(sd: Record<string, StateEntry>, k: string, shape: number[], seed: number, positive = false): Float32Array {
  const d = seq(shape.reduce((a, b) => a * b, 1), seed);
  const v = positive ? Float32Array.from(d, (e) => Math.abs(e) + 0.5) : d;
  sd[k] = { data: v, shape };
  return v;
}

describe('RepLKNet', function () {
  this.timeout(60000);
  before(useTestBackend);

  describe('presets: parameters (training and deploy form) and FLOPs', () => {
    // metafile: FLOPs 15636547584 / 45952303104 / 97240006656 / 129570201600, parameters 79864168 / 79864168 /
    // 172671016 / 335435752; those FLOPs are what the counter gives with the batch norms in training mode.
    // The zoo's deploy parameters: 79.5 / 79.5 / 172.0 / 335.0 M.
    const zoo: [string, number, number, number, number, number, number, number][] = [
      // arch, head in, size, params, deploy params, FLOPs train-mode BN, FLOPs eval, FLOPs deploy (eval)
      ['31B', 1024, 224, 79864168, 79527272, 15636547584, 15512813568, 15422597120],
      ['31B', 1024, 384, 79864168, 79527272, 45952303104, 45588676608, 45323550720],
      ['31L', 1536, 384, 172671016, 172165672, 97240006656, 96694566912, 96296878080],
      ['XL', 2048, 320, 335435752, 335399656, 129570201600, 129065164800, 129027072000],
    ];
    for (const [arch, c, size, params, deployParams, trainFlops, flops, deployFlops] of zoo) {
      it(`RepLKNet-${arch} at ${size}`, () => {
        const build = (merged: boolean): ImageClassifier => MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type: 'RepLKNet', arch, small_kernel_merged: merged }, neck: { type: 'GlobalAveragePooling' },
          head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
        });
        const m = build(false);
        m.train();
        const t = analyzeComplexity(m, [3, size, size]);
        assert.equal(t.params, params);
        assert.equal(t.flops, trainFlops);
        m.eval();
        assert.equal(analyzeComplexity(m, [3, size, size]).flops, flops);
        const d = build(true);
        d.eval();
        const r = analyzeComplexity(d, [3, size, size]);
        assert.equal(r.params, deployParams);
        assert.equal(r.flops, deployFlops);
      });
    }
  });

  it('state-dict keys: stem.i, stages.i.blocks (RepLKBlock, ConvFFN), stages.3.norm, transitions; lkb_reparam when merged', () => {
    const m = new RepLKNet({ arch: '31B' });
    const all = m.stateDictKeys().map((e) => e.key);
    assert.deepEqual(all.slice(0, 7), [
      'stem.0.conv.weight', 'stem.0.bn.weight', 'stem.0.bn.bias', 'stem.0.bn.running_mean', 'stem.0.bn.running_var', 'stem.0.bn.num_batches_tracked', 'stem.1.conv.weight',
    ]);
    const bn = (p: string): string[] => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `${p}.${s}`);
    const pre = 'stages.0.blocks.0.';
    assert.deepEqual(all.filter((k) => k.startsWith(pre)).map((k) => k.slice(pre.length)), [
      'pw1.conv.weight', ...bn('pw1.bn'), 'pw2.conv.weight', ...bn('pw2.bn'),
      'large_kernel.lkb_origin.conv.weight', ...bn('large_kernel.lkb_origin.bn'), 'large_kernel.small_conv.conv.weight', ...bn('large_kernel.small_conv.bn'),
      ...bn('prelkb_bn'),
    ]);
    const ffn = 'stages.0.blocks.1.';
    assert.deepEqual(all.filter((k) => k.startsWith(ffn)).map((k) => k.slice(ffn.length)), [...bn('preffn_bn'), 'pw1.conv.weight', ...bn('pw1.bn'), 'pw2.conv.weight', ...bn('pw2.bn')]);
    assert.ok(!all.some((k) => k.startsWith('stages.0.norm')) && all.includes('stages.3.norm.running_var'));
    assert.ok(all.includes('transitions.2.1.conv.weight') && !all.some((k) => k.startsWith('transitions.3')));
    assert.deepEqual(m.stateDictKeys().find((e) => e.key === 'stages.0.blocks.0.large_kernel.lkb_origin.conv.weight')!.shape, [128, 1, 31, 31]);
    const xl = new RepLKNet({ arch: 'XL', small_kernel_merged: true });
    const xk = xl.stateDictKeys();
    assert.deepEqual(xk.filter((e) => e.key.startsWith('stages.0.blocks.0.large_kernel.')).map((e) => `${e.key} ${e.shape.join('x')}`), [
      'stages.0.blocks.0.large_kernel.lkb_reparam.weight 384x1x27x27', 'stages.0.blocks.0.large_kernel.lkb_reparam.bias 384',
    ]);
    assert.equal(xl.deploy, true);
  });

  it('ReparamLargeKernelConv: BN(dwconv5x5(x)) + BN(dwconv3x3(x)) by hand, and the same after merge_kernel', () => {
    const C = 2, H = 4, W = 5, K = 5, S = 3;
    const m = new ReparamLargeKernelConv({ in_channels: C, out_channels: C, kernel_size: K, stride: 1, groups: C, small_kernel: S });
    const sd: Record<string, StateEntry> = {};
    const wl = put(sd, 'lkb_origin.conv.weight', [C, 1, K, K], 1);
    const ws = put(sd, 'small_conv.conv.weight', [C, 1, S, S], 2);
    const bns = ['lkb_origin.bn', 'small_conv.bn'].map((p, i) => {
      const r = [put(sd, `${p}.weight`, [C], 10 + i), put(sd, `${p}.bias`, [C], 20 + i), put(sd, `${p}.running_mean`, [C], 30 + i), put(sd, `${p}.running_var`, [C], 40 + i, true)];
      sd[`${p}.num_batches_tracked`] = { data: new Int32Array([0]), shape: [], dtype: 'int64' };
      return r;
    });
    m.loadStateDict(sd);
    m.eval();
    const x = seq(C * H * W, 5);
    const want = new Float64Array(C * H * W);
    const dw = (w: Float32Array, k: number, c: number, h: number, ww: number): number => {
      let s = 0;
      const p = Math.floor(k / 2);
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
        const a = h + i - p, b = ww + j - p;
        if (a >= 0 && a < H && b >= 0 && b < W) s += w[(c * k + i) * k + j] * x[(c * H + a) * W + b];
      }
      return s;
    };
    const bnf = (v: number, [g, b, mu, vr]: Float32Array[], c: number): number => ((v - mu[c]) / Math.sqrt(vr[c] + 1e-5)) * g[c] + b[c];
    for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      want[(c * H + h) * W + w] = bnf(dw(wl, K, c, h, w), bns[0], c) + bnf(dw(ws, S, c, h, w), bns[1], c);
    }
    const before = tf.tidy(() => nhwcToNchw(m.forward(nchwToNhwc(x, [1, C, H, W]))));
    assert.ok(maxAbsDiff(before, want) < 1e-4, `max diff ${maxAbsDiff(before, want)}`);
    m.merge_kernel();
    assert.deepEqual(m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`), ['lkb_reparam.weight 2x1x5x5', 'lkb_reparam.bias 2']);
    const after = tf.tidy(() => nhwcToNchw(m.forward(nchwToNhwc(x, [1, C, H, W]))));
    assert.ok(maxAbsDiff(after, want) < 1e-4, `max diff after merge ${maxAbsDiff(after, want)}`);
    m.dispose();
  });

  const tiny: RepLKNetArch = { large_kernel_sizes: [7, 5, 5, 3], layers: [1, 1, 1, 1], channels: [8, 8, 16, 16], small_kernel: 3, dw_ratio: 1 };

  it('switch_to_deploy keeps a tiny RepLKNet\'s outputs (eval) and removes the small kernels', () => {
    const m = new RepLKNet({ arch: tiny, out_indices: [1, 3] });
    m.initWeights();
    // Non-trivial running statistics everywhere.
    m.train();
    const warm = tf.tensor4d(seq(2 * 32 * 32 * 3, 9), [2, 32, 32, 3]);
    tf.dispose(m.forward(warm) as tf.Tensor[]);
    m.eval();
    const x = tf.tensor4d(seq(32 * 32 * 3, 4), [1, 32, 32, 3]);
    const before = (m.forward(x) as tf.Tensor[]).map((t) => t.dataSync());
    assert.equal(m.deploy, false);
    m.switch_to_deploy();
    assert.equal(m.deploy, true);
    assert.ok(!m.stateDictKeys().some((e) => /small_conv|lkb_origin/.test(e.key)));
    const after = (m.forward(x) as tf.Tensor[]).map((t) => t.dataSync());
    assert.equal(after.length, 2);
    for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(after[i], before[i]) < 1e-3, `output ${i}: ${maxAbsDiff(after[i], before[i])}`);
    tf.dispose([warm, x]);
    m.dispose();
  });

  it('mmcls reparameterize: the written checkpoint loads into small_kernel_merged=True and gives the same scores', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-replknet-'));
    try {
      const cfgFile = path.join(dir, 'replknet.py');
      fs.writeFileSync(cfgFile, "model = dict(\n    type='ImageClassifier',\n    backbone=dict(type='RepLKNet', arch=dict(large_kernel_sizes=[7, 5, 5, 3], layers=[1, 1, 1, 1], channels=[8, 8, 16, 16], small_kernel=3, dw_ratio=1)),\n    neck=dict(type='GlobalAveragePooling'),\n    head=dict(type='LinearClsHead', num_classes=4, in_channels=16))\n");
      const modelCfg = loadConfig(cfgFile).value.model as Record<string, unknown>;
      const train = MODELS.build<ImageClassifier>(modelCfg);
      const src = path.join(dir, 'src.safetensors');
      await writeCheckpoint(src, { stateDict: await filledStateDict(train), meta: {} });
      train.loadStateDict(toStateEntries((await readCheckpoint(src)).stateDict) as never);
      train.eval();
      const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 9), [2, 32, 32, 3]);
      const before = (train.forwardTensor(x) as tf.Tensor).dataSync();
      const dst = path.join(dir, 'dst.safetensors');
      const s = await reparameterizeCheckpoint(cfgFile, src, dst);
      assert.ok(s.paramsAfter < s.paramsBefore);
      const ckpt = await readCheckpoint(dst);
      assert.ok([...ckpt.stateDict.keys()].some((k) => k.endsWith('lkb_reparam.weight')));
      const deploy = MODELS.build<ImageClassifier>({ ...modelCfg, backbone: { ...(modelCfg.backbone as object), small_kernel_merged: true } });
      deploy.loadStateDict(toStateEntries(ckpt.stateDict) as never, { strict: true });
      deploy.eval();
      const after = (deploy.forwardTensor(x) as tf.Tensor).dataSync();
      let m = 0, r = 0;
      for (let i = 0; i < after.length; i++) { m = Math.max(m, Math.abs(after[i] - before[i])); r = Math.max(r, Math.abs(before[i])); }
      assert.ok(m / r < 1e-4, `deploy vs train ${m / r}`);
      await assert.rejects(reparameterizeCheckpoint(cfgFile, dst, path.join(dir, 'x.safetensors'), ['model.backbone.small_kernel_merged=True']), /already in deploy form/);
      x.dispose();
      train.dispose();
      deploy.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('outputs, frozen stages, norm_eval, argument checks', () => {
    const m = new RepLKNet({ arch: tiny, out_indices: [0, 1, 2, 3] });
    m.eval();
    const x = tf.zeros([1, 32, 32, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[1, 8, 8, 8], [1, 4, 4, 8], [1, 2, 2, 16], [1, 1, 1, 16]]);
    const f = new RepLKNet({ arch: tiny, frozen_stages: 1, norm_eval: true });
    f.train();
    assert.ok(f.stem.parameters().every((p) => !p.requiresGrad) && f.stages.at(0).parameters().every((p) => !p.requiresGrad));
    assert.ok(f.stages.at(1).parameters().every((p) => p.requiresGrad) && f.transitions.at(0).parameters().every((p) => p.requiresGrad));
    assert.equal((f.stages.at(1).blocks.at(0) as RepLKBlock).prelkbBn.training, false);
    assert.throws(() => new RepLKNet({ arch: '31X' as '31B' }), /not one of the arch_settings/);
    assert.throws(() => new RepLKNet({ arch: tiny, out_indices: [4] }), /out_indices/);
    assert.throws(() => new RepLKNet({ arch: tiny, strides: [2, 2] }), /same length/);
    tf.dispose([x, ...outs]);
    m.dispose();
  });

  it('one training step of a tiny RepLKNet: finite gradients, non-zero except the pre-block BN biases (a training-mode BN follows them)', () => {
    // prelkb_bn.bias and preffn_bn.bias feed a bias-free 1x1 convolution and then a batch norm that
    // removes any per-channel constant in training mode: their gradient is zero in exact arithmetic
    // (in PyTorch too), so they are checked to be ~0 and every other parameter to be non-zero.
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier', backbone: { type: 'RepLKNet', arch: tiny, drop_path_rate: 0 }, neck: { type: 'GlobalAveragePooling' },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
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
    let zeroByDesign = 0;
    for (const [v, g] of Object.entries(grads)) {
      const d = g.dataSync();
      const name = names.get(v)!;
      assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${name}`);
      if (/(prelkb_bn|preffn_bn)\.bias$/.test(name)) {
        zeroByDesign++;
        assert.ok(d.every((e) => Math.abs(e) < 1e-4), `${name} should have a ~0 gradient`);
      } else assert.ok(d.some((e) => e !== 0), `zero gradient of ${name}`);
    }
    assert.equal(zeroByDesign, 8);
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });

  describe('configs (eval-mode FLOPs at the test size)', () => {
    const cases: [string, number[], number, number][] = [
      ['replknet-31B_32xb64_in1k.py', [3, 224, 224], 79864168, 15512813568],
      ['replknet-31B_32xb64_in1k-384px.py', [3, 384, 384], 79864168, 45588676608],
      ['replknet-31L_32xb64_in1k-384px.py', [3, 384, 384], 172671016, 96694566912],
      ['replknet-XL_32xb64_in1k-320px.py', [3, 320, 320], 335435752, 129065164800],
      ['deploy/replknet-31B-deploy_32xb64_in1k.py', [3, 224, 224], 79527272, 15422597120],
      ['deploy/replknet-31B-deploy_32xb64_in1k-384px.py', [3, 384, 384], 79527272, 45323550720],
      ['deploy/replknet-31L-deploy_32xb64_in1k-384px.py', [3, 384, 384], 172165672, 96296878080],
      ['deploy/replknet-XL-deploy_32xb64_in1k-320px.py', [3, 320, 320], 335399656, 129027072000],
    ];
    for (const [file, shape, params, flops] of cases) {
      it(`configs/replknet/${file}`, () => {
        const r = configFigures(`replknet/${file}`);
        assert.deepEqual(r.inputShape, shape);
        assert.equal(r.params, params);
        assert.equal(r.flops, flops);
      });
    }
  });
});
