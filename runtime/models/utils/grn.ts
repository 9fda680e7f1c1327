import * as tf from '@tensorflow/tfjs-core';
import { Layer } from '../../nn/layer';
import { Parameter, ShapeContext, lazy } from '../../nn/module';

/**
 * Global Response Normalization (ConvNeXt V2): per channel, the L2 norm of the feature map over its
 * spatial positions, divided by the mean of those norms over the channels, rescales the input:
 * `gamma * (x * nx) + beta + x`. Channels are the last axis here (NHWC), which is MMCls's
 * `data_format='channel_last'`; the channel-first form computes the same values.
 */
export class GRN extends Layer {
  readonly inChannels: number;
  readonly eps: number;
  readonly gamma: Parameter;
  readonly beta: Parameter;

  constructor(inChannels: number, eps = 1e-6) {
    super();
    this.inChannels = inChannels;
    this.eps = eps;
    this.gamma = this.registerParameter('gamma', lazy([inChannels], () => tf.zeros([inChannels])))!;
    this.beta = this.registerParameter('beta', lazy([inChannels], () => tf.zeros([inChannels])))!;
  }

  forward(x: tf.Tensor): tf.Tensor {
    // [N, H, W, C]: L2 norm over H and W, then divided by its mean over C.
    const gx = tf.sqrt(tf.sum(tf.square(x), [1, 2], true));
    const nx = tf.div(gx, tf.add(tf.mean(gx, -1, true), this.eps));
    return tf.add(tf.add(tf.mul(this.gamma.variable, tf.mul(x, nx)), this.beta.variable), x);
  }

  // torch.norm and the element-wise ops have no handle in MMEngine's counter: 0 FLOPs.
  protected override shapeOf(x: number[], _ctx: ShapeContext): number[] {
    return x;
  }
}
