import * as tf from '@tensorflow/tfjs-core';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { Layer } from '../../nn/layer';
import { ShapeContext, ShapeValue } from '../../nn/module';
import { AdaptiveAvgPool2d } from '../../nn/pooling';
import { makeDivisible } from './make_divisible';

/** Options of {@link SELayer}. */
export interface SELayerOptions {
  /** Input (and output) channels. */
  channels: number;
  /** Squeezed channels (None: make_divisible(channels // ratio, divisor)). @default None */
  squeeze_channels?: number | null;
  /** Squeeze ratio. @default 16 */
  ratio?: number;
  /** Divisor of the squeezed channels. @default 8 */
  divisor?: number;
  /** Bias of the two convs ('auto': with bias). @default 'auto' */
  bias?: boolean | 'auto';
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Activations after the two convs. @default (dict(type='ReLU'), dict(type='Sigmoid')) */
  act_cfg?: [LayerCfg, LayerCfg];
  /** Return the channel weights instead of the re-weighted input. @default False */
  return_weight?: boolean;
}

/** Squeeze-and-Excitation layer: global pooling, two 1x1 convs, channel re-weighting. */
export class SELayer extends Layer {
  readonly globalAvgpool: AdaptiveAvgPool2d;
  readonly conv1: ConvModule;
  readonly conv2: ConvModule;
  readonly returnWeight: boolean;

  constructor(o: SELayerOptions) {
    super();
    const squeeze = o.squeeze_channels ?? makeDivisible(Math.floor(o.channels / (o.ratio ?? 16)), o.divisor ?? 8);
    const act = o.act_cfg ?? [{ type: 'ReLU' }, { type: 'Sigmoid' }];
    this.returnWeight = o.return_weight ?? false;
    this.globalAvgpool = this.addModule('global_avgpool', new AdaptiveAvgPool2d({ output_size: 1 }));
    this.conv1 = this.addModule('conv1', new ConvModule({ in_channels: o.channels, out_channels: squeeze, kernel_size: 1, stride: 1, bias: o.bias ?? 'auto', conv_cfg: o.conv_cfg, act_cfg: act[0] }));
    this.conv2 = this.addModule('conv2', new ConvModule({ in_channels: squeeze, out_channels: o.channels, kernel_size: 1, stride: 1, bias: o.bias ?? 'auto', conv_cfg: o.conv_cfg, act_cfg: act[1] }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const w = this.conv2.forward(this.conv1.forward(this.globalAvgpool.forward(x)));
    return this.returnWeight ? w : tf.mul(x, w);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const w = this.conv2.inferShape(this.conv1.inferShape(this.globalAvgpool.inferShape(x, ctx), ctx), ctx);
    return this.returnWeight ? w : x;
  }
}
