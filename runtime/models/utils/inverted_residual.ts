import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { DropPath } from '../../nn/activation';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { Identity, Layer } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { SELayer, SELayerOptions } from './se_layer';

/** Options of {@link InvertedResidual} (MMCls's `models/utils/inverted_residual.py`). */
export interface InvertedResidualOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Channels of the depth-wise convolution (an expand conv is added when they differ from in_channels). */
  mid_channels: number;
  /** Kernel size of the depth-wise convolution. @default 3 */
  kernel_size?: number;
  /** Stride of the depth-wise convolution, 1 or 2. @default 1 */
  stride?: number;
  /** SE layer options (None: no SE layer). @default None */
  se_cfg?: SELayerOptions | null;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Stochastic depth rate of the residual branch. @default 0. */
  drop_path_rate?: number;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * The inverted residual block of MobileNetV3 / EfficientNet (MBConv): optional 1x1 expand conv,
 * depth-wise conv, optional SE layer, 1x1 linear conv; identity shortcut when the shape is kept.
 */
export class InvertedResidual extends Layer {
  readonly withResShortcut: boolean;
  readonly withExpandConv: boolean;
  readonly dropPath: Layer;
  readonly expandConv: ConvModule | null = null;
  readonly depthwiseConv: ConvModule;
  readonly se: SELayer | null = null;
  readonly linearConv: ConvModule;

  constructor(o: InvertedResidualOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    const stride = o.stride ?? 1;
    if (stride !== 1 && stride !== 2) {
      throw new MmclsError(`InvertedResidual: stride must be 1 or 2, got ${stride}`, { code: 'model.bad-argument' });
    }
    const kernel = o.kernel_size ?? 3;
    const common = { conv_cfg: o.conv_cfg ?? null, norm_cfg: o.norm_cfg ?? { type: 'BN' } };
    const act = o.act_cfg ?? { type: 'ReLU' };
    const dpr = o.drop_path_rate ?? 0;
    this.withResShortcut = stride === 1 && o.in_channels === o.out_channels;
    this.withExpandConv = o.mid_channels !== o.in_channels;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
    if (this.withExpandConv) {
      this.expandConv = this.addModule(
        'expand_conv',
        new ConvModule({ in_channels: o.in_channels, out_channels: o.mid_channels, kernel_size: 1, stride: 1, padding: 0, ...common, act_cfg: act }),
      );
    }
    this.depthwiseConv = this.addModule(
      'depthwise_conv',
      new ConvModule({
        in_channels: o.mid_channels,
        out_channels: o.mid_channels,
        kernel_size: kernel,
        stride,
        padding: Math.floor(kernel / 2),
        groups: o.mid_channels,
        ...common,
        act_cfg: act,
      }),
    );
    if (o.se_cfg) this.se = this.addModule('se', new SELayer(o.se_cfg));
    this.linearConv = this.addModule(
      'linear_conv',
      new ConvModule({ in_channels: o.mid_channels, out_channels: o.out_channels, kernel_size: 1, stride: 1, padding: 0, ...common, act_cfg: null }),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    let out = x;
    if (this.expandConv) out = this.expandConv.forward(out);
    out = this.depthwiseConv.forward(out);
    if (this.se) out = this.se.forward(out);
    out = this.linearConv.forward(out);
    return this.withResShortcut ? tf.add(x, this.dropPath.forward(out)) : out;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let out = x;
    if (this.expandConv) out = this.expandConv.inferShape(out, ctx);
    out = this.depthwiseConv.inferShape(out, ctx);
    if (this.se) out = this.se.inferShape(out, ctx);
    out = this.linearConv.inferShape(out, ctx);
    return this.withResShortcut ? this.dropPath.inferShape(out, ctx) : out;
  }
}
