import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend';
import { rng } from './helpers';

/**
 * A two-layer conv net trained with plain SGD through tf.variableGrads on a fixed batch: every
 * backward kernel of a small CNN (conv input/filter gradients, stride 2, max pooling, batch
 * statistics, softmax cross-entropy) runs on wasm, and the loss must fall.
 */
function trainTinyCnn(steps: number): number[] {
  const r = rng(42);
  const normal = (shape: number[], std: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = (r() + r() + r() - 1.5) * 2 * std; // roughly normal
    return tf.tensor(v, shape);
  };
  const x = normal([8, 12, 12, 1], 1);
  const labels = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4));
  const [w1, w2, fc, b] = tf.tidy(() => [
    tf.variable(normal([3, 3, 1, 8], Math.sqrt(2 / 9)), true, 'w1'),
    tf.variable(normal([3, 3, 8, 16], Math.sqrt(2 / 72)), true, 'w2'),
    tf.variable(normal([16, 4], Math.sqrt(1 / 16)), true, 'fc'),
    tf.variable(tf.zeros([4]), true, 'b'),
  ]);
  const loss = () => tf.tidy(() => {
    let h = tf.relu(tf.conv2d(x as tf.Tensor4D, w1 as unknown as tf.Tensor4D, 1, 'same'));
    h = tf.maxPool(h, 2, 2, 'valid');
    const { mean, variance } = tf.moments(h, [0, 1, 2]);
    h = tf.div(tf.sub(h, mean), tf.sqrt(tf.add(variance, 1e-5)));
    h = tf.relu(tf.conv2d(h, w2 as unknown as tf.Tensor4D, 2, 'same'));
    const pooled = tf.mean(h, [1, 2]);
    const logits = tf.add(tf.matMul(pooled, fc), b);
    return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1))) as tf.Scalar;
  });
  const history: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const { value, grads } = tf.variableGrads(loss);
      history.push(value.dataSync()[0]);
      tf.tidy(() => {
        for (const v of [w1, w2, fc, b]) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.5)));
      });
      value.dispose();
      tf.dispose(Object.values(grads));
    }
  } finally {
    tf.dispose([x, labels, w1, w2, fc, b]);
  }
  return history;
}

describe('backend: training on wasm', function () {
  this.timeout(60000);
  after(async () => { await initBackend('cpu'); });

  it('a two-layer conv net: the loss falls over 20 SGD steps on a fixed batch, as on cpu', async () => {
    await initBackend('wasm');
    const before = tf.memory().numTensors;
    const onWasm = trainTinyCnn(20);
    assert.equal(tf.memory().numTensors, before, 'no tensors leak across steps');
    await initBackend('cpu');
    const onCpu = trainTinyCnn(5); // the first steps suffice to compare, and cpu is slow

    assert.ok(Math.abs(onWasm[0] - Math.log(4)) < 0.7, `initial loss near ln 4: ${onWasm[0]}`);
    assert.ok(onWasm[19] < 0.5 * onWasm[0], `loss falls: ${onWasm.map((v) => v.toFixed(3)).join(' ')}`);
    // Same maths on both backends: the trajectories agree to float32 accumulation noise.
    for (let s = 0; s < onCpu.length; s++) assert.ok(Math.abs(onWasm[s] - onCpu[s]) < 1e-3 * Math.max(1, onCpu[s]), `step ${s}: wasm ${onWasm[s]} cpu ${onCpu[s]}`);
  });
});
