import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { EdgeResidual, EfficientNetV2, EnhancedConvModule, ImageClassifier } from '../../runtime/models';
import { InvertedResidual } from '../../runtime/models/utils/inverted_residual';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { Conv2dAdaptivePadding } from '../../runtime/nn/conv2d_adaptive_padding';
import { Conv2d } from '../../runtime/nn/conv';
import { ConvModule } from '../../runtime/nn/builders';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';
import { configFigures } from './config_figures';

describe('EfficientNetV2', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at the test resolution as the model zoo publishes them', () => {
    // [arch, head in_channels, test crop, params M, FLOPs G (zoo)]. The zoo's FLOPs count batch norm as MMEngine
    // does in training mode (5 per element); in eval mode (2 per element, what `mmcls flops` prints) they are
    // lower by 1.5 x the batch-norm count.
    const zoo: [string, number, number, number, number][] = [
      ['b0', 1280, 224, 7.14, 0.92], ['b1', 1280, 240, 8.14, 1.44], ['b2', 1408, 260, 10.10, 1.99], ['b3', 1536, 300, 14.36, 3.50],
      ['s', 1280, 384, 21.46, 9.72], ['m', 1280, 480, 54.14, 26.88], ['l', 1280, 480, 118.52, 60.14], ['xl', 1280, 512, 208.12, 98.34],
    ];
    for (const [arch, c, size, params, flops] of zoo) {
      it(`EfficientNetV2-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type: 'EfficientNetV2', arch }, neck: { type: 'GlobalAveragePooling' },
          head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
        });
        m.train();
        const r = analyzeComplexity(m, [3, size, size]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.005, `params ${r.params}`);
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.005, `flops ${r.flops}`);
        m.eval();
        const e = analyzeComplexity(m, [3, size, size]);
        assert.ok(Math.abs(r.flops - e.flops - 1.5 * e.byOperator.batch_norm) < 1, 'eval mode: batch norm 2 per element');
      });
    }
  });

  it('layers: stem, EnhancedConvModule (skip), FusedMBConv (stride on the 1x1), MBConv with SE, final 1x1 conv; SAME padding only where the stride is 2', () => {
    const m = new EfficientNetV2({ arch: 's' });
    assert.equal(m.layers.length, 8);
    const keys = m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    for (const k of [
      'layers.0.conv.weight 24x3x3x3', 'layers.0.bn.running_var 24', 'layers.1.0.conv.weight 24x24x3x3', 'layers.1.1.bn.num_batches_tracked ',
      'layers.2.0.conv1.conv.weight 96x24x3x3', 'layers.2.0.conv2.conv.weight 48x96x1x1', 'layers.2.1.conv1.conv.weight 192x48x3x3',
      'layers.4.0.expand_conv.conv.weight 256x64x1x1', 'layers.4.0.depthwise_conv.conv.weight 256x1x3x3', 'layers.4.0.se.conv1.conv.weight 16x256x1x1',
      'layers.4.0.se.conv1.conv.bias 16', 'layers.4.0.se.conv2.conv.weight 256x16x1x1', 'layers.4.0.linear_conv.conv.weight 128x256x1x1',
      'layers.5.0.se.conv1.conv.weight 32x768x1x1', 'layers.7.conv.weight 1280x256x1x1',
    ]) assert.ok(keys.includes(k), k);
    const l1 = m.layers.at(1).children() as EnhancedConvModule[];
    assert.ok(l1[0] instanceof EnhancedConvModule && l1[0].hasSkip && !(l1[0].conv instanceof Conv2dAdaptivePadding));
    const f0 = m.layers.at(2).children()[0] as EdgeResidual;
    const f1 = m.layers.at(2).children()[1] as EdgeResidual;
    assert.ok(f0 instanceof EdgeResidual && f0.conv1.conv instanceof Conv2dAdaptivePadding && f0.conv2.conv.stride[0] === 2 && f0.se === null && !f0.withResidual);
    assert.ok(!(f1.conv1.conv instanceof Conv2dAdaptivePadding) && f1.conv1.conv.pad[0] === 1 && f1.withResidual);
    const mb = m.layers.at(4).children()[0] as InvertedResidual;
    assert.ok(mb instanceof InvertedResidual && mb.depthwiseConv.conv instanceof Conv2dAdaptivePadding && mb.se !== null);
    assert.ok((m.layers.at(0) as ConvModule).conv instanceof Conv2dAdaptivePadding && (m.layers.at(7) as ConvModule).conv instanceof Conv2dAdaptivePadding);
    // b0's first layer changes the channels (32 -> 16): a plain ConvModule path without the skip.
    const b0 = new EfficientNetV2({ arch: 'b0' });
    assert.equal((b0.layers.at(1).children()[0] as EnhancedConvModule).hasSkip, false);
  });

  it('EnhancedConvModule computes conv 3x3 (padding 1), eval batch norm (eps 1e-3), Swish, plus the input (by hand, NCHW)', () => {
    const C = 2, H = 3, W = 3;
    const m = new EnhancedConvModule({ in_channels: C, out_channels: C, kernel_size: 3, padding: 1, has_skip: true, drop_path_rate: 0.2, norm_cfg: { type: 'BN', eps: 1e-3 }, act_cfg: { type: 'Swish' } });
    const sd: Record<string, StateEntry> = {};
    const put = (key: string, shape: number[], seed: number, f = (v: number): number => v): Float32Array => {
      const d = seq(shape.reduce((a, b) => a * b, 1), seed).map(f);
      sd[key] = { data: d, shape };
      return d;
    };
    const w = put('conv.weight', [C, C, 3, 3], 1);
    const g = put('bn.weight', [C], 2), b = put('bn.bias', [C], 3), rm = put('bn.running_mean', [C], 4), rv = put('bn.running_var', [C], 5, (v) => v + 1.5);
    sd['bn.num_batches_tracked'] = { data: [0], shape: [], dtype: 'int64' };
    m.loadStateDict(sd);
    m.eval();
    const x = seq(C * H * W, 6);
    const want = new Float64Array(C * H * W);
    for (let o = 0; o < C; o++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
      let s = 0;
      for (let c = 0; c < C; c++) for (let a = 0; a < 3; a++) for (let bb = 0; bb < 3; bb++) {
        const ii = i + a - 1, jj = j + bb - 1;
        if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += w[((o * C + c) * 3 + a) * 3 + bb] * x[(c * H + ii) * W + jj];
      }
      const y = ((s - rm[o]) / Math.sqrt(rv[o] + 1e-3)) * g[o] + b[o];
      want[(o * H + i) * W + j] = y / (1 + Math.exp(-y)) + x[(o * H + i) * W + j];
    }
    const got = tf.tidy(() => nhwcToNchw(m.forward(nchwToNhwc(x, [1, C, H, W]))));
    assert.ok(maxAbsDiff(got, want) < 1e-5, `max diff ${maxAbsDiff(got, want)}`);
    assert.throws(() => new EnhancedConvModule({ in_channels: 2, out_channels: 4, kernel_size: 3, has_skip: true }), /has_skip/);
    m.dispose();
  });

  it('out_indices, frozen stages, norm_eval, arch names and checks', function () {
    this.timeout(30000);
    const m = new EfficientNetV2({ arch: 'b0', out_indices: [0, 2, -1], frozen_stages: 2, norm_eval: true });
    assert.deepEqual(m.outIndices, [0, 2, 7]);
    m.train();
    assert.ok(m.layers.at(0).parameters().every((p) => !p.requiresGrad) && m.layers.at(1).parameters().every((p) => !p.requiresGrad));
    assert.ok(m.layers.at(2).parameters().every((p) => p.requiresGrad));
    const bn = (m.layers.at(4).children()[0] as InvertedResidual).linearConv.norm!;
    assert.equal(bn.training, false);
    const x = tf.zeros([1, 32, 32, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[1, 16, 16, 32], [1, 8, 8, 32], [1, 1, 1, 1280]]);
    assert.equal(new EfficientNetV2({ arch: 'medium' }).numParameters(), new EfficientNetV2({ arch: 'm' }).numParameters());
    assert.throws(() => new EfficientNetV2({ arch: 'b9' as 'b0' }), /not one of the arch_settings/);
    assert.throws(() => new EfficientNetV2({ arch: 'b0', frozen_stages: 8 }), /frozen_stages must be in range/);
    assert.ok(new EfficientNetV2({ arch: 'b0', conv_cfg: null }).layers.at(0).children()[0] instanceof Conv2d);
    tf.dispose([x, ...outs]);
  });

  it('one training step of EfficientNetV2-b0 on 32x32 gives every parameter a finite, non-zero gradient', function () {
    this.timeout(60000);
    checkGradients({ type: 'EfficientNetV2', arch: 'b0' }, { type: 'GlobalAveragePooling' }, 1280, 32);
  });

  describe('configs: the zoo parameter counts at the test crops (FLOPs in eval mode)', () => {
    const cases: [string, number, number, number][] = [
      ['efficientnetv2-b0_8xb32_in1k.py', 224, 7.14, 0.903], ['efficientnetv2-b1_8xb32_in1k.py', 240, 8.14, 1.413],
      ['efficientnetv2-b2_8xb32_in1k.py', 260, 10.10, 1.953], ['efficientnetv2-b3_8xb32_in1k.py', 300, 14.36, 3.446],
      ['efficientnetv2-s_8xb32_in1k-384px.py', 384, 21.46, 9.600], ['efficientnetv2-m_8xb32_in1k-480px.py', 480, 54.14, 26.592],
      ['efficientnetv2-l_8xb32_in1k-480px.py', 480, 118.52, 59.644], ['efficientnetv2-xl_8xb32_in1k-512px.py', 512, 208.12, 97.572],
    ];
    for (const [file, size, params, flops] of cases) {
      it(`configs/efficientnet_v2/${file}`, () => {
        const r = configFigures(`efficientnet_v2/${file}`);
        assert.deepEqual(r.inputShape, [3, size, size]);
        assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.001, `flops ${r.flops}`);
      });
    }
    it('the ImageNet-21k configs: 21843 classes at 224x224', () => {
      for (const arch of ['s', 'm', 'l', 'xl']) {
        const r = configFigures(`efficientnet_v2/efficientnetv2-${arch}_8xb32_in21k.py`);
        assert.deepEqual(r.inputShape, [3, 224, 224]);
        const model = r.cfg.model as { head: { num_classes: number }; backbone: { arch: string } };
        assert.equal(model.head.num_classes, 21843);
        assert.equal(model.backbone.arch, arch);
        const backbone = new EfficientNetV2({ arch: arch as 's' }).numParameters();
        assert.equal(r.params, backbone + 1280 * 21843 + 21843);
      }
    });
  });
});
