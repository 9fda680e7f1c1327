import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import { webGpuSkipReason } from './helpers';

/**
 * `mmcls train` / `mmcls test` / `mmcls classify` as a user runs them (the real CLI in its own
 * process, built by `npm run build`) with `--device webgpu`, against the same commands on wasm:
 * LeNet-5 with Mixup batch augments, gradient clipping and an EMA hook (the paths that used to
 * read tensors synchronously, which webgpu in Node.js cannot do). Losses, grad norms and metrics
 * must agree, the process must end by itself with status 0, and a resume on webgpu must continue
 * exactly as the uninterrupted run.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'bin', 'mmcls');
const DATA = path.join(ROOT, 'data', 'fashion-mnist-mini');

interface Run { status: number | null; stdout: string; stderr: string; iters: { iter: number; loss: number }[]; metrics: Record<string, number> }

function mmcls(args: string[], cwd: string): Run {
  const r = spawnSync(process.execPath, [CLI, ...args, '--progress', 'json'], { cwd, encoding: 'utf8', timeout: 600_000, env: { ...process.env, MMCLS_DEVICE: '' } });
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const iters = events.filter((e) => e.event === 'iter').map((e) => ({ iter: e.iter as number, loss: e.loss as number }));
  const done = events.filter((e) => e.event === 'done' || e.event === 'val' || e.event === 'test').pop();
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, iters, metrics: (done?.metrics ?? {}) as Record<string, number> };
}

function close(a: number, b: number, what: string): void {
  assert.ok(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b)), `${what}: webgpu ${a} vs wasm ${b}`);
}

function scalars(workDir: string): Record<string, number>[] {
  const run = fs.readdirSync(workDir).find((d) => fs.existsSync(path.join(workDir, d, 'vis_data', 'scalars.json')));
  assert.ok(run, `no vis_data/scalars.json under ${workDir}`);
  return fs.readFileSync(path.join(workDir, run!, 'vis_data', 'scalars.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
}

describe('mmcls train/test/classify --device webgpu (the CLI, in its own process)', function () {
  this.timeout(900000);
  let dir: string;
  let cfg: string;

  before(async function () {
    const why = await webGpuSkipReason();
    if (why !== undefined) {
      // eslint-disable-next-line no-console
      console.log(`      ${why}`);
      this.skip();
    }
    if (!fs.existsSync(path.join(ROOT, 'dist', 'runtime', 'cli', 'main.js'))) throw new Error('run `npm run build` first: the CLI is dist/runtime/cli/main.js');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-webgpu-train-'));
    cfg = path.join(dir, 'lenet_mixup_clip_ema.py');
    fs.writeFileSync(cfg, `_base_ = ${JSON.stringify(path.join(ROOT, 'configs', 'lenet', 'lenet5_fashion-mnist-mini.py'))}
data_root = ${JSON.stringify(DATA)}
data_preprocessor = dict(num_classes=10, batch_augments=dict(augments=dict(type='Mixup', alpha=0.8)))
model = dict(head=dict(loss=dict(type='CrossEntropyLoss', loss_weight=1.0, use_soft=True)))
train_dataloader = dict(batch_size=32, num_workers=0, dataset=dict(data_prefix=data_root, indices=96))
val_dataloader = dict(batch_size=64, num_workers=0, dataset=dict(data_prefix=data_root, indices=64))
test_dataloader = val_dataloader
optim_wrapper = dict(clip_grad=dict(max_norm=0.5))
custom_hooks = [dict(type='EMAHook', momentum=0.1)]
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
train_cfg = dict(max_epochs=2)
randomness = dict(seed=0)
`);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  let gpu: Run;
  let cpu: Run;

  it('trains 2 epochs with Mixup, clip_grad and EMA: the same losses, grad norms and accuracy as wasm', () => {
    gpu = mmcls(['train', cfg, '--device', 'webgpu', '--work-dir', path.join(dir, 'webgpu')], dir);
    assert.equal(gpu.status, 0, `webgpu run failed:\n${gpu.stderr.slice(-3000)}`);
    assert.match(gpu.stdout + gpu.stderr, /webgpu \(/, 'the backend line names webgpu and its adapter');
    cpu = mmcls(['train', cfg, '--device', 'wasm', '--work-dir', path.join(dir, 'wasm')], dir);
    assert.equal(cpu.status, 0, `wasm run failed:\n${cpu.stderr.slice(-3000)}`);
    assert.equal(gpu.iters.length, 6);
    assert.equal(cpu.iters.length, 6);
    gpu.iters.forEach((it, i) => close(it.loss, cpu.iters[i].loss, `loss at iteration ${it.iter}`));
    const gn = scalars(path.join(dir, 'webgpu')).filter((s) => 'grad_norm' in s);
    const cn = scalars(path.join(dir, 'wasm')).filter((s) => 'grad_norm' in s);
    assert.equal(gn.length, 6, 'grad_norm is logged every iteration when clip_grad is set');
    gn.forEach((s, i) => close(s.grad_norm, cn[i].grad_norm, `grad_norm at step ${s.step}`));
    // GPU memory (MB) is logged on webgpu, not on wasm, and stays put within an epoch (no leak).
    const mem = scalars(path.join(dir, 'webgpu')).filter((s) => 'memory' in s && 'loss' in s);
    assert.equal(mem.length, 6, 'memory is logged every iteration on webgpu');
    assert.ok(mem.every((s) => s.memory > 0));
    assert.equal(mem[5].memory, mem[4].memory, `memory ${mem.map((s) => s.memory).join(', ')}`);
    assert.match(gpu.stderr, /Epoch\(train\) \[2\]\[3\/3\] .* data_time: [\d.]+  memory: \d+  grad_norm: /);
    assert.ok(!scalars(path.join(dir, 'wasm')).some((s) => 'memory' in s), 'no memory on wasm');
    assert.ok(Number.isFinite(gpu.metrics['accuracy/top1']), `metrics: ${JSON.stringify(gpu.metrics)}`);
    close(gpu.metrics['accuracy/top1'], cpu.metrics['accuracy/top1'], 'accuracy/top1');
    assert.ok(fs.existsSync(path.join(dir, 'webgpu', 'epoch_2.safetensors')));
  });

  it('resumes on webgpu from epoch 1 exactly as the uninterrupted run', () => {
    const wd = path.join(dir, 'resume');
    const first = mmcls(['train', cfg, '--device', 'webgpu', '--work-dir', wd, '--cfg-options', 'train_cfg.max_epochs=1'], dir);
    assert.equal(first.status, 0, first.stderr.slice(-3000));
    const second = mmcls(['train', cfg, '--device', 'webgpu', '--work-dir', wd, '--resume'], dir);
    assert.equal(second.status, 0, second.stderr.slice(-3000));
    assert.deepEqual(second.iters.map((i) => i.iter), [4, 5, 6]);
    second.iters.forEach((it) => close(it.loss, gpu.iters[it.iter - 1].loss, `resumed loss at iteration ${it.iter}`));
  });

  it('tests the webgpu checkpoint on webgpu and on wasm, and classifies an image, with the same results', async () => {
    const ckpt = path.join(dir, 'webgpu', 'epoch_2.safetensors');
    const t1 = mmcls(['test', cfg, ckpt, '--device', 'webgpu', '--work-dir', path.join(dir, 't1')], dir);
    const t2 = mmcls(['test', cfg, ckpt, '--device', 'wasm', '--work-dir', path.join(dir, 't2')], dir);
    assert.equal(t1.status, 0, t1.stderr.slice(-3000));
    assert.equal(t2.status, 0, t2.stderr.slice(-3000));
    assert.ok(Number.isFinite(t1.metrics['accuracy/top1']), `metrics: ${JSON.stringify(t1.metrics)}`);
    assert.equal(t1.metrics['accuracy/top1'], t2.metrics['accuracy/top1']);
    // A 28x28 grey PNG (encoded with sharp, the image library mmcls decodes with): classify prints JSON.
    const png = path.join(dir, 'x.png');
    await sharp(Buffer.alloc(28 * 28, 100), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(png);
    const run = (device: string) => spawnSync(process.execPath, [CLI, 'classify', cfg, ckpt, png, '--device', device, '--format', 'json', '--topk', '3'], { cwd: dir, encoding: 'utf8' });
    const c1 = run('webgpu');
    const c2 = run('wasm');
    assert.equal(c1.status, 0, c1.stderr);
    assert.equal(c2.status, 0, c2.stderr);
    const j1 = JSON.parse(c1.stdout) as { topk: { index: number; score: number }[] };
    const j2 = JSON.parse(c2.stdout) as { topk: { index: number; score: number }[] };
    assert.deepEqual(j1.topk.map((t) => t.index), j2.topk.map((t) => t.index));
    j1.topk.forEach((t, i) => close(t.score, j2.topk[i].score, `score of class ${t.index}`));
  });
});
