import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { imagesToTensor } from '../../runtime/datasets/to_tensor';
import { imageFromRows } from '../../runtime/datasets/image';

describe('datasets/to_tensor', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });
  it('stacks HWC images into NHWC float32, padding bottom/right to the largest size and the divisor', () => {
    const a = imageFromRows([[[1, 2], [3, 4]]]); // 1 x 2 x 2
    const b = imageFromRows([[[5, 6]], [[7, 8]]]); // 2 x 1 x 2
    const t = imagesToTensor([a, b], 9, 3);
    assert.deepEqual(t.shape, [2, 3, 3, 2]);
    const v = t.arraySync();
    assert.deepEqual(v[0][0], [[1, 2], [3, 4], [9, 9]]);
    assert.deepEqual(v[0][1], [[9, 9], [9, 9], [9, 9]]);
    assert.deepEqual(v[1][1], [[7, 8], [9, 9], [9, 9]]);
    assert.equal(t.dtype, 'float32');
    assert.throws(() => imagesToTensor([a, imageFromRows([[1]])]), /channel counts/);
  });
});
