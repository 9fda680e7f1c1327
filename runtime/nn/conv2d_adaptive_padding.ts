import * as tf from '@tensorflow/tfjs-core';
import { Conv2d, Conv2dOptions } from './conv';
import { MODELS } from '../registry';

/** Options of {@link Conv2dAdaptivePadding} (those of `nn.Conv2d`; `padding` is ignored). */
export interface Conv2dAdaptivePaddingOptions extends Conv2dOptions {}

/**
 * TensorFlow's total padding on one axis for a "SAME" convolution: the output has ceil(size / stride)
 * positions and the odd pixel goes to the bottom/right.
 */
export function samePadding(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * MMCV's `Conv2dAdaptivePadding`: a convolution with TensorFlow's "SAME" padding, computed from the
 * input size at each call (EfficientNet's conv layer). The `padding` option is ignored, as in MMCV.
 */
@MODELS.registerModule()
export class Conv2dAdaptivePadding extends Conv2d {
  constructor(options: Conv2dAdaptivePaddingOptions) {
    super({ ...options, padding: 0 });
  }

  /** [top, bottom, left, right] zero padding for an input of h x w. */
  adaptivePadding(h: number, w: number): [number, number, number, number] {
    const [t, b] = samePadding(h, this.kernelSize[0], this.stride[0], this.dilation[0]);
    const [l, r] = samePadding(w, this.kernelSize[1], this.stride[1], this.dilation[1]);
    return [t, b, l, r];
  }

  override forward(x: tf.Tensor): tf.Tensor {
    const [, h, w] = (x as tf.Tensor4D).shape;
    const [t, b, l, r] = this.adaptivePadding(h, w);
    if (t || b || l || r) x = tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]);
    return super.forward(x);
  }

  override outputSize(h: number, w: number): [number, number] {
    const [t, b, l, r] = this.adaptivePadding(h, w);
    return super.outputSize(h + t + b, w + l + r);
  }
}
