import * as tf from '@tensorflow/tfjs-core';
import { Conv2d } from '../../nn/conv';
import { Module, ShapeContext, ShapeValue } from '../../nn/module';

/** Options of {@link ConditionalPositionEncoding}. */
export interface ConditionalPositionEncodingOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels (the depth-wise groups). @default 768 */
  embed_dims?: number;
  /** Stride of the convolution; 1 adds the input back. @default 1 */
  stride?: number;
}

/**
 * The Positional Encoding Generator of CPVT / Twins (MMCls's `ConditionalPositionEncoding`): a
 * 3x3 depth-wise convolution `proj` on the token map, plus the tokens themselves when stride is 1.
 */
export class ConditionalPositionEncoding extends Module {
  readonly proj: Conv2d;
  readonly stride: number;

  constructor(o: ConditionalPositionEncodingOptions) {
    super();
    const embed = o.embed_dims ?? 768;
    this.stride = o.stride ?? 1;
    this.proj = this.addModule(
      'proj',
      new Conv2d({ in_channels: o.in_channels, out_channels: embed, kernel_size: 3, stride: this.stride, padding: 1, bias: true, groups: embed }),
    );
  }

  /** `x`: tokens [B, H*W, C] of an H x W map; returns tokens. */
  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    const [b, , c] = x.shape;
    const map = tf.reshape(x, [b, hw[0], hw[1], c]);
    let y = this.proj.forward(map);
    if (this.stride === 1) y = tf.add(y, map);
    const [, oh, ow, oc] = y.shape;
    return tf.reshape(y, [b, oh * ow, oc]);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    const [b, , c] = tokens;
    const [, oc, oh, ow] = this.proj.inferShape([b, c, hw[0], hw[1]], ctx) as number[];
    return [b, oh * ow, oc];
  }
}
