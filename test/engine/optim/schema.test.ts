import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import '../../../runtime/engine/optim';
import '../../../runtime/engine/schedulers';
import '../../../runtime/evaluation';
import { useSchema } from '../../../runtime/registry/schema';
import { engineSchema } from './schema-fixture';
import { buildOptimWrapper, setEngineLogger } from '../../../runtime/engine/optim';
import { buildParamSchedulers } from '../../../runtime/engine/schedulers';
import { buildEvaluator } from '../../../runtime/evaluation';

// With the generated schema in force, build() checks arguments: the runner-supplied ones
// (params, optimizer) must pass, and config mistakes must be reported.
describe('optim / schedulers / metrics through the checked registry', () => {
  let restore: ReturnType<typeof setEngineLogger>;
  before(async function () {
    this.timeout(60000);
    await tf.setBackend('cpu');
    useSchema(engineSchema());
    restore = setEngineLogger(() => {});
  });
  after(() => {
    useSchema(undefined);
    setEngineLogger(restore);
  });

  it('builds a whole schedule config and reports typos', () => {
    const t = tf.ones([2]);
    const w = tf.variable(t);
    t.dispose();
    const ow = buildOptimWrapper([{ name: 'w', variable: w }], {
      type: 'AmpOptimWrapper',
      optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9, weight_decay: 1e-4, nesterov: true },
      paramwise_cfg: { norm_decay_mult: 0.0, custom_keys: { head: { lr_mult: 0.1 } } },
      clip_grad: { max_norm: 35, norm_type: 2 },
      accumulative_counts: 2,
      loss_scale: 'dynamic',
    });
    const scheds = buildParamSchedulers(
      [
        { type: 'LinearLR', start_factor: 0.001, by_epoch: true, end: 1, convert_to_iter_based: true },
        { type: 'CosineAnnealingLR', T_max: 9, by_epoch: true, begin: 1, eta_min: 1e-5 },
        { type: 'CosineAnnealingMomentum', by_epoch: false, eta_min_ratio: 0.5 },
      ],
      { optimizer: ow, maxEpochs: 10, maxIters: 100, epochLength: 10 },
    );
    assert.equal(scheds.length, 3);
    assert.throws(
      () => buildOptimWrapper([{ name: 'w', variable: w }], { optimizer: { type: 'SGD', lr: 0.1, momentun: 0.9 } }),
      /unknown argument "momentun"; did you mean "momentum"/,
    );
    assert.throws(() => buildParamSchedulers({ type: 'StepLR', step_size: 2, gama: 0.1 }, { optimizer: ow, maxEpochs: 3 }), /gama/);
    const ev = buildEvaluator([{ type: 'Accuracy', topk: [1, 5] }, { type: 'SingleLabelMetric', items: ['precision', 'recall'], average: null }]);
    assert.equal(ev.metrics.length, 2);
    assert.throws(() => buildEvaluator({ type: 'MultiLabelMetric', average: 'mikro' }), /average/);
    ow.dispose();
    w.dispose();
  });
});
