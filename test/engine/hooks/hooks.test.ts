import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { CheckpointHook, EMAHook, findLatestCheckpoint, getPriority, Hook, PRIORITIES } from '../../../runtime/engine/hooks';
import { MessageHub } from '../../../runtime/engine/logging';
import { Runner } from '../../../runtime/engine/runner';
import { Linear } from '../../../runtime/nn';

/** The parts of a Runner that CheckpointHook uses; saveCheckpoint writes a small file. */
function fakeRunner(dir: string) {
  const saved: string[] = [];
  const r = {
    workDir: dir,
    epoch: 0,
    iter: 0,
    maxEpochs: 6,
    maxIters: 60,
    trainLoopLength: 10,
    mode: 'train',
    messageHub: new MessageHub(),
    logger: { info() {}, warning() {} },
    async saveCheckpoint(d: string, file: string, o: { updateLast?: boolean }) {
      const p = path.join(d, file);
      fs.writeFileSync(p, 'x');
      if (o.updateLast !== false) fs.writeFileSync(path.join(dir, 'last_checkpoint'), p);
      saved.push(file);
      return p;
    },
  };
  return { r, saved };
}

describe('engine hooks', () => {
  let tmp: string;
  beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-hooks-'))));
  afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('priorities: MMEngine names and numbers; equal priorities keep registration order', () => {
    assert.equal(getPriority('HIGHEST'), 0);
    assert.equal(getPriority('above_normal'), 40);
    assert.equal(getPriority('VERY_LOW'), 90);
    assert.equal(getPriority(55), 55);
    assert.throws(() => getPriority('MEDIUM'), /unknown priority/);
    assert.throws(() => getPriority(101), /between 0/);
    const r = Object.create(Runner.prototype) as Runner;
    (r as unknown as { hooks: Hook[] }).hooks = [];
    const mk = (name: string, p: number) => {
      const h = new (class extends Hook {})();
      h.priority = p;
      (h as unknown as { tag: string }).tag = name;
      return h;
    };
    r.registerHook(mk('a', PRIORITIES.NORMAL));
    r.registerHook(mk('b', PRIORITIES.VERY_LOW));
    r.registerHook(mk('c', PRIORITIES.NORMAL));
    r.registerHook(mk('d', PRIORITIES.HIGHEST));
    r.registerHook({ type: 'EMAHook', momentum: 0.1, priority: 'ABOVE_NORMAL' });
    const order = r.hooks.map((h) => (h as unknown as { tag?: string }).tag ?? h.constructor.name);
    assert.deepEqual(order, ['d', 'EMAHook', 'a', 'c', 'b']);
    assert.equal(r.hooks[1].priority, 40);
  });

  it('CheckpointHook: interval, save_last, max_keep_ckpts, last_checkpoint', async () => {
    const { r, saved } = fakeRunner(tmp);
    const h = new CheckpointHook({ interval: 2, max_keep_ckpts: 2 });
    h.beforeTrain(r as never);
    for (let e = 0; e < 6; e++) {
      r.epoch = e;
      await h.afterTrainEpoch(r as never);
    }
    assert.deepEqual(saved, ['epoch_2.safetensors', 'epoch_4.safetensors', 'epoch_6.safetensors']);
    assert.deepEqual(fs.readdirSync(tmp).sort(), ['epoch_4.safetensors', 'epoch_6.safetensors', 'last_checkpoint']);
    assert.equal(findLatestCheckpoint(tmp), path.join(tmp, 'epoch_6.safetensors'));
    const { r: r2, saved: s2 } = fakeRunner(tmp);
    const h2 = new CheckpointHook({ interval: 4, save_last: true });
    h2.beforeTrain(r2 as never);
    r2.maxEpochs = 5;
    for (let e = 0; e < 5; e++) {
      r2.epoch = e;
      await h2.afterTrainEpoch(r2 as never);
    }
    assert.deepEqual(s2, ['epoch_4.safetensors', 'epoch_5.safetensors']);
  });

  it("CheckpointHook save_best: 'auto' takes the first metric, greater is better for accuracy, the old best is removed", async () => {
    const { r, saved } = fakeRunner(tmp);
    const h = new CheckpointHook({ interval: -1, save_best: 'auto' });
    h.beforeTrain(r as never);
    const accs = [50, 70, 60, 80];
    for (let e = 1; e <= 4; e++) {
      r.epoch = e;
      await h.afterValEpoch(r as never, { 'accuracy/top1': accs[e - 1], 'accuracy/top5': 99 });
    }
    assert.deepEqual(saved, ['best_accuracy_top1_epoch_1.safetensors', 'best_accuracy_top1_epoch_2.safetensors', 'best_accuracy_top1_epoch_4.safetensors']);
    assert.deepEqual(fs.readdirSync(tmp), ['best_accuracy_top1_epoch_4.safetensors']);
    assert.equal(r.messageHub.getInfo('best_score'), 80);
    // 'less' for a loss; an unknown metric needs an explicit rule.
    const { r: r2, saved: s2 } = fakeRunner(tmp);
    const h2 = new CheckpointHook({ save_best: 'val_loss' });
    h2.beforeTrain(r2 as never);
    for (const [e, v] of [[1, 0.5], [2, 0.7], [3, 0.2]] as const) {
      r2.epoch = e;
      await h2.afterValEpoch(r2 as never, { val_loss: v });
    }
    assert.deepEqual(s2, ['best_val_loss_epoch_1.safetensors', 'best_val_loss_epoch_3.safetensors']);
    const h3 = new CheckpointHook({ save_best: 'score' });
    h3.beforeTrain(r2 as never);
    await assert.rejects(async () => h3.afterValEpoch(r2 as never, { score: 1 }), /rule='greater'/);
    await assert.rejects(async () => new CheckpointHook({ save_best: 'nope', rule: 'greater' }).afterValEpoch(r2 as never, { score: 1 }), /not among the evaluation results/);
  });

  it('EMAHook: ema = (1 - m) * ema + m * param after each iteration (the first copies), swapped for validation', async () => {
    await tf.setBackend('cpu');
    const lin = new Linear({ in_features: 2, out_features: 1 });
    const w = lin.namedParameters()[0][1].variable;
    w.assign(tf.tensor(w.shape.length === 2 ? [[1], [1]] : [1, 1], w.shape));
    const runner = { model: lin, iter: 0, epoch: 0, mode: 'train' };
    const m = 0.25;
    const h = new EMAHook({ momentum: m });
    h.beforeRun(runner as never);
    const values = [1, 3, 5, 9];
    let ema = NaN;
    for (let i = 0; i < values.length; i++) {
      w.assign(tf.fill(w.shape, values[i]));
      runner.iter = i;
      h.afterTrainIter(runner as never);
      ema = i === 0 ? values[0] : (1 - m) * ema + m * values[i];
    }
    h.beforeValEpoch(runner as never);
    const inVal = Array.from(w.dataSync());
    h.afterValEpoch(runner as never);
    const after = Array.from(w.dataSync());
    for (const v of inVal) assert.ok(Math.abs(v - ema) < 1e-6, `${v} vs ${ema}`);
    assert.deepEqual(after, [9, 9]);
    lin.dispose();
  });
});
