import { strict as assert } from 'assert';
import '../../../runtime/models';
import '../../../runtime/datasets';
import { SwitchRecipeHook } from '../../../runtime/engine/hooks';
import { Compose } from '../../../runtime/datasets/transforms/base';
import { HOOKS } from '../../../runtime/registry';
import { RandomBatchAugment } from '../../../runtime/models/utils/batch_augments';
import { MmclsError } from '../../../runtime/errors';
import type { Runner } from '../../../runtime/engine/runner';

const pipeline = (scale: number): { type: string; [key: string]: unknown }[] => [
  { type: 'LoadImageFromFile' },
  { type: 'RandomResizedCrop', scale, backend: 'pillow' },
  { type: 'PackClsInputs' },
];

/** The parts of a Runner the hook touches: a wrapped train dataset, the loader's worker config, the model. */
function fakeRunner(epoch: number) {
  const inner = { pipeline: new Compose(pipeline(160)) };
  const loader = {
    dataset: { dataset: inner },
    datasetCfg: { type: 'RepeatDataset', times: 2, dataset: { type: 'ImageNet', data_root: 'x', pipeline: pipeline(160) } } as Record<string, unknown> | null,
    closed: 0,
    async close() { this.closed++; },
  };
  const logs: string[] = [];
  const model = { head: { lossModule: 'old-loss' as unknown }, dataPreprocessor: { batchAugments: null as unknown } };
  const runner = { epoch, trainDataloader: loader, model, logger: { info: (m: string) => logs.push(m), warning: (m: string) => logs.push(m) } };
  return { runner: runner as unknown as Runner, inner, loader, model, logs };
}

const scaleOf = (c: unknown): number => ((c as Compose).transforms[1] as unknown as { scale: number[] }).scale[0];

describe('SwitchRecipeHook', () => {
  const schedule = [
    { action_epoch: 112, train_pipeline: pipeline(224) },
    // MMCls's MobileOne configs write `pipeline`; it is taken as the train pipeline.
    { action_epoch: 37, pipeline: pipeline(192), batch_augments: { augments: { type: 'Mixup', alpha: 0.2 } }, loss: { type: 'LabelSmoothLoss', label_smooth_val: 0.1 } },
  ];

  it('switches the pipeline (dataset wrappers and the worker config), batch augments and loss before the action epoch', async () => {
    const hook = HOOKS.build<SwitchRecipeHook>({ type: 'SwitchRecipeHook', schedule });
    assert.deepEqual([...hook.schedule.keys()], [37, 112]);
    const { runner, inner, loader, model, logs } = fakeRunner(0);
    await hook.beforeTrain(runner);
    await hook.beforeTrainEpoch(runner);
    assert.equal(scaleOf(inner.pipeline), 160);
    (runner as unknown as { epoch: number }).epoch = 36; // the 37th epoch is next
    await hook.beforeTrainEpoch(runner);
    assert.equal(scaleOf(inner.pipeline), 192);
    const cfg = loader.datasetCfg as { times: number; dataset: { data_root: string; pipeline: { scale?: number }[] } };
    assert.equal(cfg.times, 2);
    assert.equal(cfg.dataset.data_root, 'x');
    assert.equal(cfg.dataset.pipeline[1].scale, 192);
    assert.equal(loader.closed, 1);
    assert.ok(model.dataPreprocessor.batchAugments instanceof RandomBatchAugment);
    assert.equal((model.head.lossModule as { typeName: string }).typeName, 'LabelSmoothLoss');
    assert.ok(logs.some((l) => /Switch train pipeline at epoch 37/.test(l)));
    (runner as unknown as { epoch: number }).epoch = 111;
    await hook.beforeTrainEpoch(runner);
    assert.equal(scaleOf(inner.pipeline), 224);
  });

  it('after a resume, the recipes of the epochs already trained apply at the start', async () => {
    const hook = new SwitchRecipeHook({ schedule });
    const { runner, inner } = fakeRunner(120);
    await hook.beforeTrain(runner);
    assert.equal(scaleOf(inner.pipeline), 224);
    const early = fakeRunner(20);
    await hook.beforeTrain(early.runner);
    assert.equal(scaleOf(early.inner.pipeline), 160);
  });

  it('batch_augments=None turns them off; checks its schedule', async () => {
    const hook = new SwitchRecipeHook({ schedule: [{ action_epoch: 2, batch_augments: null }] });
    const { runner, model } = fakeRunner(1);
    model.dataPreprocessor.batchAugments = 'on';
    await hook.beforeTrainEpoch(runner);
    assert.equal(model.dataPreprocessor.batchAugments, null);
    assert.throws(() => new SwitchRecipeHook({ schedule: [{ train_pipeline: [] } as never] }), MmclsError);
    assert.throws(() => new SwitchRecipeHook({ schedule: [{ action_epoch: 3 }, { action_epoch: 3 }] }), /repeated/);
    assert.throws(() => new SwitchRecipeHook({ schedule: [{ action_epoch: 3, pipeline: pipeline(1), train_pipeline: pipeline(2) }] }), MmclsError);
  });
});
