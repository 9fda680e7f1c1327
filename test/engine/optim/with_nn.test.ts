import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { BatchNorm2d, Conv2d, Linear, Sequential } from '../../../runtime/nn';
import { buildOptimWrapper, describeParams, setEngineLogger } from '../../../runtime/engine/optim';
import { buildParamSchedulers } from '../../../runtime/engine/schedulers';

// The optimisation pieces on a real runtime/nn model: parameter description for paramwise_cfg
// and a few training iterations that lower the loss without leaking tensors.
describe('optim with runtime/nn modules', () => {
  let restore: ReturnType<typeof setEngineLogger>;
  before(async () => {
    await tf.setBackend('cpu');
    restore = setEngineLogger(() => {});
  });
  after(() => setEngineLogger(restore));

  function model() {
    return new Sequential(
      ['conv', new Conv2d({ in_channels: 2, out_channels: 4, kernel_size: 3, padding: 1 })],
      ['bn', new BatchNorm2d({ num_features: 4 })],
      ['dw', new Conv2d({ in_channels: 4, out_channels: 4, kernel_size: 3, padding: 1, groups: 4, bias: false })],
    );
  }

  it('describeParams: norm and depth-wise kinds, names as in the state dict', () => {
    const m = model();
    const d = describeParams(m);
    assert.deepEqual(
      d.map((p) => [p.name, p.kind]),
      [
        ['conv.weight', 'other'],
        ['conv.bias', 'other'],
        ['bn.weight', 'norm'],
        ['bn.bias', 'norm'],
        ['dw.weight', 'dwconv'],
      ],
    );
    const ow = buildOptimWrapper(d, {
      optimizer: { type: 'SGD', lr: 0.1, weight_decay: 1e-4 },
      paramwise_cfg: { norm_decay_mult: 0, dwconv_decay_mult: 0.5, bias_lr_mult: 2 },
    });
    assert.deepEqual(
      ow.paramGroups.map((g) => [g.params[0].name, g.lr, g.weight_decay]),
      [
        ['conv.weight', 0.1, 1e-4],
        ['conv.bias', 0.2, 1e-4],
        ['bn.weight', 0.1, 0],
        ['bn.bias', 0.1, 0],
        ['dw.weight', 0.1, 5e-5],
      ],
    );
    ow.dispose();
    m.dispose();
  });

  it('trains a small model: loss decreases, schedulers step, no tensor leaks per iteration', () => {
    const net = new Sequential(['fc1', new Linear({ in_features: 4, out_features: 8 })], ['fc2', new Linear({ in_features: 8, out_features: 1 })]);
    const ow = buildOptimWrapper(describeParams(net), {
      optimizer: { type: 'AdamW', lr: 0.05, weight_decay: 0.01 },
      clip_grad: { max_norm: 10 },
      accumulative_counts: 2,
    });
    const scheds = buildParamSchedulers(
      [
        { type: 'LinearLR', start_factor: 0.5, by_epoch: false, end: 5 },
        { type: 'CosineAnnealingLR', by_epoch: false, begin: 5, eta_min: 1e-3 },
      ],
      { optimizer: ow, maxIters: 40 },
    );
    ow.initializeCountStatus(0, 40);
    const x = tf.randomNormal([16, 4], 0, 1, 'float32', 1);
    const y = tf.tidy(() => tf.sum(tf.mul(x, tf.tensor1d([0.5, -1, 2, 0.1])), 1, true));
    const losses: number[] = [];
    let live = -1;
    for (let it = 0; it < 40; it++) {
      const loss = ow.updateParams(() => tf.mean(tf.square(tf.sub(net.forward(x), y))) as tf.Scalar);
      losses.push(loss.dataSync()[0]);
      loss.dispose();
      for (const s of scheds) if (!s.by_epoch) s.step();
      if (it === 3) live = tf.memory().numTensors;
      if (it > 3 && it % 2 === 1) assert.equal(tf.memory().numTensors, live, `tensors leak at iteration ${it}`);
    }
    assert.ok(losses[39] < losses[0] * 0.5, `loss should fall: ${losses[0]} → ${losses[39]}`);
    assert.ok(Math.abs(ow.getLr().lr[0] - (1e-3 + ((0.05 - 1e-3) * (1 + Math.cos((Math.PI * 34) / 35))) / 2)) < 1e-9);
    x.dispose();
    y.dispose();
    ow.dispose();
    net.dispose();
  });
});
