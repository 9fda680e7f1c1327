import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadConfig } from '../../../runtime/config';
import { buildOptimWrapper, ParamDescriptor, setEngineLogger } from '../../../runtime/engine/optim';
import { itersPerEpoch, scheduleFromConfig, simulateSchedule } from '../../../runtime/engine/schedulers';
import { useSchema } from '../../../runtime/registry/schema';
import { engineSchema } from '../optim/schema-fixture';

const ROOT = path.resolve(__dirname, '..', '..', '..');

function walk(d: string): string[] {
  return fs
    .readdirSync(d, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith('.py') ? [path.join(d, e.name)] : []));
}

// Every distinct (optim_wrapper, param_scheduler, train_cfg) of the config zoo builds through the
// schema-checked registries and gives a finite, non-negative learning-rate curve.
describe('config zoo schedules', () => {
  let restore: ReturnType<typeof setEngineLogger>;
  const combos = new Map<string, { file: string; cfg: Record<string, unknown> }>();
  before(async function () {
    this.timeout(120000);
    await tf.setBackend('cpu');
    restore = setEngineLogger(() => {});
    useSchema(engineSchema());
    for (const f of walk(path.join(ROOT, 'configs'))) {
      if (/_base_[\\/](models|datasets)/.test(f)) continue;
      const cfg = loadConfig(f).value as Record<string, unknown>;
      if (!cfg.optim_wrapper || !cfg.train_cfg) continue;
      const key = JSON.stringify([cfg.optim_wrapper, cfg.param_scheduler, cfg.train_cfg]);
      if (!combos.has(key)) combos.set(key, { file: path.relative(ROOT, f), cfg: JSON.parse(JSON.stringify(cfg)) });
    }
  });
  after(() => {
    useSchema(undefined);
    setEngineLogger(restore);
  });

  it('builds every optim_wrapper and simulates every param_scheduler', () => {
    assert.ok(combos.size >= 10, `expected the zoo's schedules, found ${combos.size}`);
    const mk = (name: string, shape: number[], kind?: ParamDescriptor['kind']): ParamDescriptor => {
      const t = tf.ones(shape);
      const variable = tf.variable(t);
      t.dispose();
      return { name, variable, kind };
    };
    const params = [
      mk('backbone.cls_token', [1, 1, 4]),
      mk('backbone.pos_embed', [1, 2, 4]),
      mk('backbone.conv.weight', [3, 3, 2, 4]),
      mk('backbone.conv.bias', [4]),
      mk('backbone.bn.weight', [4], 'norm'),
      mk('backbone.bn.bias', [4], 'norm'),
      mk('head.fc.weight', [4, 2]),
    ];
    for (const { file, cfg } of combos.values()) {
      const ow = buildOptimWrapper(params, cfg.optim_wrapper as Record<string, unknown>);
      const train = cfg.train_cfg as { by_epoch?: boolean; max_epochs?: number; max_iters?: number };
      const lr = ow.paramGroups[0].lr;
      const curve = simulateSchedule(
        cfg.param_scheduler,
        train.by_epoch === false
          ? { max_iters: train.max_iters as number, base_lr: lr }
          : { max_epochs: train.max_epochs as number, iters_per_epoch: 50, base_lr: lr },
      );
      assert.ok(curve.lr.length > 0, file);
      assert.ok(
        curve.lr.every((v) => Number.isFinite(v) && v >= 0 && v <= lr * (1 + 1e-9)),
        `${file}: learning rates must stay in [0, lr]`,
      );
      ow.dispose();
    }
    for (const p of params) p.variable.dispose();
  });

  it('the manual\'s _delete_ example: CosineAnnealingLR without T_max anneals over max_epochs', () => {
    const del = [...combos.values()].find((c) => c.file.endsWith('resnet50_8xb32-coslr-delete_in1k.py'));
    assert.ok(del, 'tutorial config present');
    const c = simulateSchedule(del.cfg.param_scheduler, { max_epochs: 100, iters_per_epoch: 1, base_lr: 0.1 });
    assert.ok(Math.abs(c.lr[50] - 0.05) < 1e-12 && Math.abs(c.lr[99] - (0.1 * (1 + Math.cos((Math.PI * 99) / 100))) / 2) < 1e-12);
  });

  it('scheduleFromConfig: what vis_scheduler draws for resnet50_8xb16_cifar100 (--dataset-size 50000)', () => {
    const cfg = loadConfig(path.join(ROOT, 'configs/resnet/resnet50_8xb16_cifar100.py')).value as Record<string, unknown>;
    const c = scheduleFromConfig(JSON.parse(JSON.stringify(cfg)), { dataset_size: 50000 });
    const per = Math.ceil(50000 / 16);
    assert.equal(c.iters_per_epoch, per);
    assert.equal(c.lr.length, 200 * per);
    const at = (e: number) => c.lr[e * per + 7];
    const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
    close(at(0), 0.1);
    close(at(59), 0.1);
    close(at(60), 0.1 * 0.2);
    close(at(120), 0.1 * 0.2 ** 2);
    close(at(199), 0.1 * 0.2 ** 3);
    assert.ok(c.momentum.every((m) => m === 0.9));
    assert.equal(itersPerEpoch(50000, 16, 4), Math.ceil(50000 / 64));
    assert.equal(itersPerEpoch(50000, 16, 4, true), Math.floor(50000 / 64));
  });
});
