/**
 * Gradients that TensorFlow.js registers incompletely, replaced for every backend.
 *
 * tfjs-core 4.x refuses the gradient of a dilated conv2d / depthwiseConv2d ("dilation rates
 * greater than 1 are not yet supported in gradients"), which MMClassification needs for
 * `dilations=(1, 1, 2, 4)` ResNets. A convolution with dilation d equals one with dilation 1
 * and a filter with d-1 zeros between its taps (same padding arithmetic: tfjs pads from the
 * effective filter size), so the backward pass runs the undilated backward kernels on that
 * filter and keeps every d-th tap of the filter gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GradConfig, NamedAttrMap } from '@tensorflow/tfjs-core';
import { dilateFilter, pair, undilateFilter } from './conv-grad-ops';

function run(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: NamedAttrMap): tf.Tensor4D {
  return tf.engine().runKernel(kernelName, inputs as tf.NamedTensorMap, attrs) as tf.Tensor4D;
}

const conv2DGrad: GradConfig = {
  kernelName: 'Conv2D',
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dataFormat, dimRoundingMode } = attrs;
    const [dh, dw] = pair(attrs.dilations as number | [number, number] | undefined);
    const common = { strides, pad, dataFormat, dimRoundingMode } as NamedAttrMap;
    return {
      x: () => run('Conv2DBackpropInput', { dy: dy as tf.Tensor, filter: dilateFilter(filter, dh, dw) },
        { ...common, inputShape: x.shape }),
      filter: () => {
        const fd = dilateFilter(filter, dh, dw);
        const g = run('Conv2DBackpropFilter', { x, dy: dy as tf.Tensor }, { ...common, filterShape: fd.shape });
        return undilateFilter(g, dh, dw);
      },
    };
  },
};

const depthwiseGrad: GradConfig = {
  kernelName: 'DepthwiseConv2dNative',
  inputsToSave: ['x', 'filter'],
  gradFunc: (dy, saved, attrs) => {
    const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
    const { strides, pad, dimRoundingMode } = attrs;
    const [dh, dw] = pair(attrs.dilations as number | [number, number] | undefined);
    const common = { strides, pad, dimRoundingMode, dilations: [1, 1] } as NamedAttrMap;
    return {
      x: () => run('DepthwiseConv2dNativeBackpropInput', { dy: dy as tf.Tensor, filter: dilateFilter(filter, dh, dw) },
        { ...common, inputShape: x.shape }),
      filter: () => {
        const fd = dilateFilter(filter, dh, dw);
        const g = run('DepthwiseConv2dNativeBackpropFilter', { x, dy: dy as tf.Tensor }, { ...common, filterShape: fd.shape });
        return undilateFilter(g, dh, dw);
      },
    };
  },
};

let registered = false;

/** Replaces the Conv2D and DepthwiseConv2dNative gradients with ones that accept dilations (idempotent). */
export function ensureDilatedConvGradients(): void {
  if (registered) return;
  // registerGradient replaces an existing entry; the umbrella package must have loaded first.
  for (const g of [conv2DGrad, depthwiseGrad]) tf.registerGradient(g);
  registered = true;
}
