import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend';
import { MemorySample, trainLeNet } from '../../scripts/webgpu-memory';
import { requireWebGpu } from './helpers';

/**
 * No tensor or GPU buffer leaks across training iterations on webgpu (LeNet5, SGD with momentum):
 * the counts after iteration 3 and after iteration 25 are equal, and everything is released
 * afterwards. `scripts/webgpu-memory.ts` runs the same for 1000 iterations and prints the table.
 */
describe('webgpu memory across training iterations', function () {
  this.timeout(600000);
  before(async function () { await requireWebGpu(this); });
  after(async () => { await initBackend('cpu'); });

  it('numTensors, numBytes and GPU bytes do not grow over 25 iterations', async () => {
    await initBackend('webgpu');
    const before = tf.memory().numTensors;
    const samples: MemorySample[] = [];
    await trainLeNet(25, (it) => it === 3 || it === 25, (s) => samples.push(s));
    const [a, b] = samples;
    assert.equal(samples.length, 2);
    assert.equal(b.numTensors, a.numTensors, `numTensors ${a.numTensors} -> ${b.numTensors}`);
    assert.equal(b.numBytes, a.numBytes, `numBytes ${a.numBytes} -> ${b.numBytes}`);
    assert.ok(a.numBytesInGPU !== undefined, 'tf.memory() reports GPU bytes on webgpu');
    assert.equal(b.numBytesInGPU, a.numBytesInGPU, `numBytesInGPU ${a.numBytesInGPU} -> ${b.numBytesInGPU}`);
    assert.ok(Number.isFinite(b.loss) && b.loss < a.loss, `the loss falls: ${a.loss} -> ${b.loss}`);
    assert.equal(tf.memory().numTensors, before, 'everything the run created is released');
  });
});
