/**
 * Training and testing through the real CLI process (bin/mmcls, the compiled dist/ that `npm test`
 * builds): work directory layout, log, scalars.json, checkpoints, JSON progress events, exact
 * resume after SIGINT, SIGTERM, NaN loss, and the test command.
 */
import { strict as assert } from 'assert';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readCheckpoint } from '../../../runtime/engine/checkpoint';

const REPO = path.resolve(__dirname, '..', '..', '..');
const BIN = path.join(REPO, 'bin', 'mmcls');

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  events: Array<Record<string, unknown>>;
}

/** Runs `mmcls args...` in the repository; `onEvent` may signal the process. */
function mmcls(args: string[], onEvent?: (e: Record<string, unknown>, kill: (s: NodeJS.Signals) => void) => void): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, MMCLS_DEVICE: 'wasm' } });
    let stdout = '';
    let stderr = '';
    let buf = '';
    const events: Array<Record<string, unknown>> = [];
    p.stdout.on('data', (d: Buffer) => {
      stdout += d;
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line.startsWith('{')) continue;
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        onEvent?.(e, (s) => p.kill(s));
      }
    });
    p.stderr.on('data', (d: Buffer) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr, events }));
  });
}

// 128 training images in batches of 32 (4 iterations per epoch), 64 test images, 2 epochs.
const CONFIG = `_base_ = ${JSON.stringify(path.join(REPO, 'configs', 'lenet', 'lenet5_fashion-mnist-mini.py'))}
train_dataloader = dict(batch_size=32, num_workers=0, dataset=dict(indices=128))
val_dataloader = dict(batch_size=64, num_workers=0, dataset=dict(indices=64))
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(type='LoggerHook', interval=2))
train_cfg = dict(max_epochs=2)
randomness = dict(seed=3)
`;

describe('mmcls train / test (CLI process, LeNet-5 on a few Fashion-MNIST-mini images)', function () {
  this.timeout(240_000);
  let tmp: string;
  let cfgFile: string;
  let straight: RunResult;
  const wdStraight = () => path.join(tmp, 'straight');

  before(async function () {
    if (!fs.existsSync(path.join(REPO, 'dist', 'runtime', 'cli', 'main.js'))) this.skip();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-engine-'));
    cfgFile = path.join(tmp, 'tiny_lenet.py');
    fs.writeFileSync(cfgFile, CONFIG);
    straight = await mmcls(['train', cfgFile, '--work-dir', wdStraight(), '--progress', 'json']);
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('trains 2 epochs: work_dir layout, log lines, scalars.json, checkpoints, last_checkpoint', () => {
    assert.equal(straight.code, 0, straight.stderr);
    const wd = wdStraight();
    const names = fs.readdirSync(wd).sort();
    const runs = names.filter((n) => /^\d{8}_\d{6}$/.test(n));
    assert.equal(runs.length, 1, names.join(' '));
    for (const f of ['tiny_lenet.py', 'epoch_1.safetensors', 'epoch_2.safetensors', 'last_checkpoint']) assert.ok(names.includes(f), `${f} in ${names.join(' ')}`);
    assert.equal(fs.readFileSync(path.join(wd, 'last_checkpoint'), 'utf8').trim(), path.join(wd, 'epoch_2.safetensors'));
    const run = path.join(wd, runs[0]);
    const log = fs.readFileSync(path.join(run, `${runs[0]}.log`), 'utf8');
    assert.match(log, / - mmengine - INFO - Epoch\(train\) \[1\]\[2\/4\]  lr: 1\.0000e-02  eta: \d+:\d\d:\d\d  time: \d+\.\d{4}  data_time: \d+\.\d{4}  loss: \d\.\d{4}\n/);
    assert.match(log, /Epoch\(val\) \[2\]\[1\/1\]  accuracy\/top1: \d+\.\d{4}/);
    assert.match(log, /Saving checkpoint at 2 epochs/);
    const scalars = fs.readFileSync(path.join(run, 'vis_data', 'scalars.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
    const train = scalars.filter((s) => 'loss' in s);
    const val = scalars.filter((s) => 'accuracy/top1' in s);
    assert.deepEqual(train.map((s) => [s.epoch, s.iter, s.step]), [[1, 2, 2], [1, 4, 4], [2, 6, 6], [2, 8, 8]]);
    assert.deepEqual(Object.keys(train[0]), ['lr', 'data_time', 'loss', 'time', 'epoch', 'iter', 'step']);
    assert.deepEqual(val.map((s) => s.step), [1, 2]);
    // The logged loss is the mean over the log window (10) of the per-iteration losses the JSON events carry.
    const iterLoss = straight.events.filter((e) => e.event === 'iter').map((e) => e.loss as number);
    assert.equal(iterLoss.length, 8);
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    assert.ok(Math.abs(train[1].loss - mean(iterLoss.slice(0, 4))) < 1e-9);
    assert.ok(Math.abs(train[3].loss - mean(iterLoss.slice(0, 8))) < 1e-9);
    assert.ok(fs.existsSync(path.join(run, 'vis_data', 'config.py')));
  });

  it('--progress json: start, iter, checkpoint, val and done events; stdout holds only JSON', () => {
    const lines = straight.stdout.trim().split('\n');
    for (const l of lines) assert.doesNotThrow(() => JSON.parse(l), l);
    const kinds = straight.events.map((e) => e.event);
    assert.equal(kinds[0], 'start');
    assert.equal(kinds[kinds.length - 1], 'done');
    const start = straight.events[0];
    assert.equal(start.max_iters, 8);
    assert.equal(start.work_dir, wdStraight());
    assert.match(String(start.backend), /wasm/);
    const it0 = straight.events.find((e) => e.event === 'iter')!;
    assert.deepEqual(Object.keys(it0).sort(), ['epoch', 'eta_s', 'event', 'iter', 'loss', 'lr', 'max_iters']);
    const vals = straight.events.filter((e) => e.event === 'val');
    assert.deepEqual(vals.map((v) => [v.epoch, v.iter]), [[1, 4], [2, 8]]);
    const acc = (vals[1].metrics as Record<string, number>)['accuracy/top1'];
    // 64 images: the accuracy is a whole number of them, in percent.
    assert.ok(Number.isInteger(Math.round((acc * 64) / 100 * 1e6) / 1e6), String(acc));
    const done = straight.events[straight.events.length - 1];
    assert.deepEqual(done.metrics, vals[1].metrics);
    assert.deepEqual(straight.events.filter((e) => e.event === 'checkpoint').map((e) => path.basename(String(e.path))), ['epoch_1.safetensors', 'epoch_2.safetensors']);
  });

  it('SIGINT mid-epoch saves a checkpoint and prints the resume command; resuming gives the same weights and logged losses', async () => {
    const wd = path.join(tmp, 'interrupted');
    let sent = false;
    const first = await mmcls(['train', cfgFile, '--work-dir', wd, '--progress', 'json'], (e, kill) => {
      if (e.event === 'iter' && e.iter === 2 && !sent) {
        sent = true;
        kill('SIGINT');
      }
    });
    assert.equal(first.code, 130, first.stderr);
    const intr = first.events.find((e) => e.event === 'interrupted')!;
    assert.ok(intr, first.stdout);
    const ckpt = String(intr.checkpoint);
    assert.ok(fs.existsSync(ckpt));
    const meta = (await readCheckpoint(ckpt)).meta;
    assert.equal(meta.epoch, 0);
    assert.ok(meta.iter === 2 || meta.iter === 3, String(meta.iter));
    assert.match(first.stderr, /Resume with:\n {2}(\S*mmcls) train .*--resume \S+/);
    const cmd = /Resume with:\n {2}(.*)\n/.exec(first.stderr)![1];
    assert.equal(cmd, String(intr.resume_command));
    // Run exactly the printed command (its words are simple: no quoting in these paths).
    const words = cmd.split(' ');
    assert.ok(words[0].endsWith('mmcls'));
    const second = await mmcls(words.slice(1));
    assert.equal(second.code, 0, second.stderr);
    const a = await readCheckpoint(path.join(wdStraight(), 'epoch_2.safetensors'));
    const b = await readCheckpoint(path.join(wd, 'epoch_2.safetensors'));
    for (const [k, t] of a.stateDict) assert.deepEqual(Array.from(b.stateDict.get(k)!.data as Float32Array), Array.from(t.data as Float32Array), k);
    const losses = (wdir: string) =>
      fs
        .readdirSync(wdir)
        .filter((n) => /^\d{8}_\d{6}$/.test(n))
        .sort()
        .flatMap((r) => fs.readFileSync(path.join(wdir, r, 'vis_data', 'scalars.json'), 'utf8').trim().split('\n'))
        .map((l) => JSON.parse(l) as Record<string, number>)
        .filter((s) => 'loss' in s)
        .map((s) => [s.step, s.loss]);
    // Both runs of the interrupted training log steps 2 (maybe) 4 6 8 with the straight run's values.
    const straightLosses = new Map(losses(wdStraight()).map(([s, l]) => [s, l]));
    const resumed = losses(wd);
    assert.ok(resumed.some(([s]) => s === 8));
    for (const [s, l] of resumed) assert.equal(l, straightLosses.get(s), `loss at step ${s}`);
  });

  it('SIGTERM leaves a valid checkpoint and the resume hint; exit status 143', async () => {
    const wd = path.join(tmp, 'term');
    let sent = false;
    const r = await mmcls(['train', cfgFile, '--work-dir', wd, '--progress', 'json', '--no-validate', '--cfg-options', 'train_cfg.max_epochs=1'], (e, kill) => {
      if (e.event === 'iter' && !sent) {
        sent = true;
        kill('SIGTERM');
      }
    });
    assert.equal(r.code, 143, r.stderr);
    assert.match(r.stderr, /Interrupted by SIGTERM\. Checkpoint saved to (\S+)\nResume with:\n {2}.* --resume \S+/);
    const file = fs.readFileSync(path.join(wd, 'last_checkpoint'), 'utf8').trim();
    const c = await readCheckpoint(file);
    assert.ok(c.stateDict.has('backbone.features.0.weight') || c.stateDict.size > 0);
    assert.ok(c.optimizer, 'the optimizer state is saved');
  });

  it('a NaN loss stops the run naming the iteration, keeps the last good checkpoint, and is an error event', async () => {
    const wd = path.join(tmp, 'nan');
    const r = await mmcls(['train', cfgFile, '--work-dir', wd, '--progress', 'json', '--cfg-options', 'optim_wrapper.optimizer.lr=1e30', 'optim_wrapper.optimizer.momentum=0']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /mmcls: the loss is (NaN|infinite) at iteration \d+ \(epoch \d, batch \d\/4/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    const err = r.events.find((e) => e.event === 'error')!;
    assert.match(String(err.message), /at iteration \d+/);
    const it = Number(/at iteration (\d+)/.exec(String(err.message))![1]);
    // Checkpoints only of completed epochs before the bad iteration.
    const saved = fs.readdirSync(wd).filter((n) => n.endsWith('.safetensors'));
    assert.deepEqual(saved, it > 4 ? ['epoch_1.safetensors'] : []);
  });

  it('an error mid-epoch with data worker threads still ends the process with the error (not silently with status 0)', async () => {
    // The loader stops its (unref'd) worker threads on the way out; the process used to end while
    // waiting for them, with status 0 and no message.
    const wd = path.join(tmp, 'nan-workers');
    const r = await mmcls(['train', cfgFile, '--work-dir', wd, '--progress', 'json', '--cfg-options', 'optim_wrapper.optimizer.lr=1e30', 'optim_wrapper.optimizer.momentum=0', 'train_dataloader.num_workers=2']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /mmcls: the loss is (NaN|infinite) at iteration \d+/);
    assert.ok(r.events.some((e) => e.event === 'error'));
  });

  it('a command left waiting on work that can never finish exits 70 with a message, not silently with status 0', () => {
    const main = path.join(REPO, 'dist', 'runtime', 'cli', 'main.js');
    const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(main)}).runCli([], () => new Promise(() => {}))`], { encoding: 'utf8' });
    assert.equal(r.status, 70, r.stderr);
    assert.match(r.stderr, /mmcls: internal error: the command stopped while waiting for work that can never finish/);
  });

  it('Mixup + EMAHook + clip_grad: grad_norm is logged, and a resume from epoch 1 continues exactly', async () => {
    const cfg = path.join(tmp, 'tiny_mix.py');
    fs.writeFileSync(
      cfg,
      `_base_ = './tiny_lenet.py'
data_preprocessor = dict(num_classes=10, batch_augments=dict(augments=dict(type='Mixup', alpha=0.8)))
model = dict(head=dict(loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True)))
optim_wrapper = dict(clip_grad=dict(max_norm=0.5))
custom_hooks = [dict(type='EMAHook', momentum=0.1)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
`,
    );
    const iterLosses = (r: RunResult) => r.events.filter((e) => e.event === 'iter').map((e) => [e.iter as number, e.loss as number] as const);
    const full = await mmcls(['train', cfg, '--work-dir', path.join(tmp, 'mix-full'), '--progress', 'json']);
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stderr, /grad_norm: \d+\.\d+/);
    const wd = path.join(tmp, 'mix-resume');
    const first = await mmcls(['train', cfg, '--work-dir', wd, '--progress', 'json', '--cfg-options', 'train_cfg.max_epochs=1']);
    assert.equal(first.code, 0, first.stderr);
    const second = await mmcls(['train', cfg, '--work-dir', wd, '--progress', 'json', '--resume']);
    assert.equal(second.code, 0, second.stderr);
    const straight = new Map(iterLosses(full));
    const resumed = iterLosses(second);
    assert.deepEqual(resumed.map(([i]) => i), [5, 6, 7, 8]);
    for (const [i, l] of resumed) assert.equal(l, straight.get(i), `loss at iteration ${i}`);
  });

  it('load_from starts from the weights of a checkpoint (not its epoch, optimizer or schedule)', async () => {
    const wd = path.join(tmp, 'load');
    const ckpt = path.join(wdStraight(), 'epoch_2.safetensors');
    const r = await mmcls(['train', cfgFile, '--work-dir', wd, '--progress', 'json', '--no-validate', '--cfg-options', `load_from=${ckpt}`, 'train_cfg.max_epochs=1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`Load checkpoint from ${ckpt.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    const first = r.events.find((e) => e.event === 'iter')!;
    assert.equal(first.iter, 1);
    // Same seed, same first batch: the loaded weights (trained 2 epochs) give a lower loss than fresh ones.
    const fresh = straight.events.find((e) => e.event === 'iter')!;
    assert.ok((first.loss as number) < (fresh.loss as number), `${first.loss} < ${fresh.loss}`);
  });

  it('a config error is printed without a stack, and as an error event', async () => {
    const r = await mmcls(['train', cfgFile, '--work-dir', path.join(tmp, 'bad'), '--progress', 'json', '--cfg-options', 'model.backbone.num_clases=10']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /num_clases/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.events[r.events.length - 1].event, 'error');
  });

  it('iteration-based training with warm-up + cosine, EMAHook, --amp and --auto-scale-lr', async () => {
    const cfg = path.join(tmp, 'tiny_iter.py');
    fs.writeFileSync(
      cfg,
      `_base_ = './tiny_lenet.py'
train_cfg = dict(_delete_=True, by_epoch=False, max_iters=10, val_interval=5)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, end=4), dict(type='CosineAnnealingLR', by_epoch=False, begin=4, T_max=6)]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5, max_keep_ckpts=1, save_best='auto'), logger=dict(type='LoggerHook', interval=3))
custom_hooks = [dict(type='EMAHook', momentum=0.01, priority='ABOVE_NORMAL')]
`,
    );
    const wd = path.join(tmp, 'iter');
    const r = await mmcls(['train', cfg, '--work-dir', wd, '--amp', '--auto-scale-lr', '--progress', 'json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /AmpOptimWrapper: mixed precision is not available .* training in float32/);
    assert.match(r.stderr, /Iter\(train\) \[ 3\/10\]  lr: /);
    const files = fs.readdirSync(wd).filter((n) => n.endsWith('.safetensors')).sort();
    assert.deepEqual(files.filter((f) => f.startsWith('iter_')), ['iter_10.safetensors']);
    assert.equal(files.filter((f) => f.startsWith('best_accuracy_top1_iter_')).length, 1);
    // lr: 0.01 scaled by 32/128, LinearLR (MMEngine: factor start + (1 - start) * k / (end - begin - 1)), then cosine.
    const base = 0.01 * (32 / 128);
    const lrAt = (k: number) => (k < 4 ? base * (0.1 + (0.9 * Math.min(k, 3)) / 3) : (base * (1 + Math.cos((Math.PI * (k - 4)) / 6))) / 2);
    const iters = r.events.filter((e) => e.event === 'iter');
    assert.equal(iters.length, 10);
    iters.forEach((e, k) => assert.ok(Math.abs((e.lr as number) - lrAt(k)) < 1e-12, `lr at iteration ${k}: ${e.lr} vs ${lrAt(k)}`));
    assert.deepEqual(r.events.filter((e) => e.event === 'val').map((e) => e.iter), [5, 10]);
    const c = await readCheckpoint(path.join(wd, 'iter_10.safetensors'));
    assert.ok((c.extra.ema_state_dict as Record<string, unknown>)['module.backbone.features.0.weight'] !== undefined || Object.keys(c.extra.ema_state_dict as object).length > 1);
  });

  it('test CONFIG CHECKPOINT prints the metrics and --out writes them; --out-item pred writes every prediction', async () => {
    const ckpt = path.join(wdStraight(), 'epoch_2.safetensors');
    const out = path.join(tmp, 'metrics.json');
    const r = await mmcls(['test', cfgFile, ckpt, '--work-dir', path.join(tmp, 'test'), '--out', out, '--out-item', 'metrics']);
    assert.equal(r.code, 0, r.stderr);
    const want = (straight.events.filter((e) => e.event === 'val').pop()!.metrics as Record<string, number>)['accuracy/top1'];
    assert.match(r.stdout, new RegExp(`Test metrics: accuracy/top1: ${want.toFixed(2).replace('.', '\\.')}`));
    assert.deepEqual(JSON.parse(fs.readFileSync(out, 'utf8')), { 'accuracy/top1': want });
    const pred = path.join(tmp, 'pred.json');
    const r2 = await mmcls(['test', cfgFile, ckpt, '--work-dir', path.join(tmp, 'test'), '--out', pred, '--progress', 'json']);
    assert.equal(r2.code, 0, r2.stderr);
    const preds = JSON.parse(fs.readFileSync(pred, 'utf8')) as Array<{ pred_label: { label: number[] }; gt_label: { label: number[] } }>;
    assert.equal(preds.length, 64);
    const correct = preds.filter((p) => p.pred_label.label[0] === p.gt_label.label[0]).length;
    assert.ok(Math.abs((correct / 64) * 100 - want) < 1e-9, `${correct}/64 vs ${want}`);
    assert.equal(r2.events[r2.events.length - 1].event, 'done');
  });
});
