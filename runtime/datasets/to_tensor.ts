// From loader batches (lists of HWC images) to the model's NHWC tensors.
import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { ClsDataSample } from '../structures';
import { Image } from './image';
import type { ClsBatch } from './loader';

/**
 * Stacks HWC images into one float32 NHWC tensor, padding each at the bottom and right to the
 * largest height and width of the batch (then up to a multiple of `padSizeDivisor`) with
 * `padValue`, as MMEngine's `stack_batch` does for ClsDataPreprocessor.
 */
export function imagesToTensor(images: Image[], padValue = 0, padSizeDivisor = 1): tf.Tensor4D {
  if (!images.length) throw new MmclsError('cannot stack an empty batch', { code: 'data.empty-batch' });
  const c = images[0].channels;
  if (images.some((i) => i.channels !== c)) throw new MmclsError(`images of one batch have different channel counts (${images.map((i) => i.channels).join(', ')})`, { code: 'data.shape' });
  let h = Math.max(...images.map((i) => i.height));
  let w = Math.max(...images.map((i) => i.width));
  if (padSizeDivisor > 1) {
    h = Math.ceil(h / padSizeDivisor) * padSizeDivisor;
    w = Math.ceil(w / padSizeDivisor) * padSizeDivisor;
  }
  const per = h * w * c;
  const buf = new Float32Array(per * images.length);
  if (padValue !== 0) buf.fill(padValue);
  images.forEach((img, n) => {
    const rowLen = img.width * c;
    for (let y = 0; y < img.height; y++) {
      const src = img.data.subarray(y * rowLen, (y + 1) * rowLen);
      buf.set(src, n * per + y * w * c);
    }
  });
  return tf.tensor4d(buf, [images.length, h, w, c]);
}

/** A pseudo-collated batch as the model's data preprocessor takes it. */
export function batchToModelInput(batch: ClsBatch, padValue = 0, padSizeDivisor = 1): { inputs: tf.Tensor4D; data_samples: ClsDataSample[] } {
  return { inputs: imagesToTensor(batch.inputs, padValue, padSizeDivisor), data_samples: batch.data_samples };
}
