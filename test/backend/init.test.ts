import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {
  backendFromEnvCfg, currentBackendInfo, initBackend, isInstalled, parseDevice, resolveWasmDir,
  probeWebGpuAdapter,
} from '../../runtime/backend';
import { MmclsError } from '../../runtime/errors';

function rejectsWith(code: string, pattern: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof MmclsError, `expected MmclsError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  };
}

describe('backend: initBackend and device selection', function () {
  this.timeout(60000);
  after(async () => { await initBackend('cpu'); });

  it('wasm: SIMD, single-threaded in Node, summary for the start-up log line', async () => {
    const info = await initBackend('wasm');
    assert.equal(info.name, 'wasm');
    assert.equal(tf.getBackend(), 'wasm');
    assert.equal(info.requested, 'wasm');
    assert.equal(info.simd, true);
    assert.equal(info.threads, 1);
    assert.equal(info.summary, 'wasm (SIMD, 1 thread)');
    assert.equal(info.fallbackReason, undefined);
  });

  it('is idempotent and switches between devices', async () => {
    const a = await initBackend('wasm');
    const b = await initBackend('wasm');
    assert.equal(a, b, 'same object, nothing restarted');
    const x = tf.tensor1d([1, 2, 3]);
    const c = await initBackend('cpu');
    assert.equal(c.name, 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
    assert.deepEqual(Array.from(x.dataSync()), [1, 2, 3], 'tensors follow the switch');
    assert.equal(currentBackendInfo(), c);
    x.dispose();
  });

  it("auto: tfjs-node-gpu, tfjs-node when installed, else wasm", async () => {
    const info = await initBackend('auto');
    assert.equal(info.requested, 'auto');
    if (!isInstalled('@tensorflow/tfjs-node-gpu') && !isInstalled('@tensorflow/tfjs-node')) {
      assert.equal(info.name, 'wasm');
      assert.equal(info.fallbackReason, undefined, 'packages that are simply not installed are not a fallback');
    } else {
      assert.equal(info.name, 'tensorflow');
    }
  });

  it('explicit devices that cannot run say what to install', async () => {
    if (!isInstalled('@tensorflow/tfjs-node')) {
      await assert.rejects(initBackend('tfjs-node'), rejectsWith('backend.unavailable', /@tensorflow\/tfjs-node is not installed.*npm install @tensorflow\/tfjs-node@4\./));
    }
    if (!isInstalled('@tensorflow/tfjs-node-gpu')) {
      await assert.rejects(initBackend('cuda:0'), rejectsWith('backend.unavailable', /Device 'cuda' is not available.*tfjs-node-gpu/));
      await assert.rejects(initBackend('gpu'), rejectsWith('backend.unavailable', /tfjs-node-gpu/));
    }
    // WebGPU runs where an adapter exists (a GPU, or Mesa's lavapipe in CI); elsewhere it says why.
    const probe = await probeWebGpuAdapter();
    if (!probe.ok) {
      await assert.rejects(initBackend('webgpu'), rejectsWith('backend.unavailable', /Device 'webgpu' is not available/));
    }
  });

  it('device names: normalised, and unknown ones rejected with the nearest valid name', () => {
    assert.equal(parseDevice('CUDA:1'), 'cuda');
    assert.equal(parseDevice(' wasm '), 'wasm');
    assert.equal(parseDevice('tensorflow'), 'tfjs-node');
    assert.equal(parseDevice(undefined), 'auto');
    assert.throws(() => parseDevice('cdua'), rejectsWith('backend.unknown-device', /Unknown device 'cdua'.*did you mean 'cuda'/));
    assert.throws(() => parseDevice('tpu-pod-xl'), rejectsWith('backend.unknown-device', /expected one of auto, cpu, wasm/));
  });

  it('backendFromEnvCfg: --device, then env_cfg.device, then $MMCLS_DEVICE, then auto', () => {
    const saved = process.env.MMCLS_DEVICE;
    try {
      delete process.env.MMCLS_DEVICE;
      assert.equal(backendFromEnvCfg({ cudnn_benchmark: false }), 'auto');
      assert.equal(backendFromEnvCfg(undefined), 'auto');
      assert.equal(backendFromEnvCfg({ device: 'cpu' }), 'cpu');
      assert.equal(backendFromEnvCfg({ device: 'cuda:0' }), 'cuda');
      assert.equal(backendFromEnvCfg({ device: 'cpu' }, 'wasm'), 'wasm');
      process.env.MMCLS_DEVICE = 'cpu';
      assert.equal(backendFromEnvCfg({}), 'cpu');
      assert.equal(backendFromEnvCfg({ device: 'wasm' }), 'wasm');
      assert.throws(() => backendFromEnvCfg({ device: 3 }), rejectsWith('config.env_cfg.device', /must be a string/));
      assert.throws(() => backendFromEnvCfg({ device: 'wsam' }), rejectsWith('backend.unknown-device', /in env_cfg.device.*'wasm'/));
    } finally {
      if (saved === undefined) delete process.env.MMCLS_DEVICE;
      else process.env.MMCLS_DEVICE = saved;
    }
  });

  it('wasm binaries: found in the installed package, in a configured folder, or reported missing', () => {
    const found = resolveWasmDir();
    assert.ok(found.dir !== undefined && fs.existsSync(path.join(found.dir, 'tfjs-backend-wasm-simd.wasm')));
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-wasm-'));
    try {
      const missing = resolveWasmDir({ wasmDir: empty });
      assert.equal(missing.dir, undefined);
      assert.match(missing.reason ?? '', /tfjs-backend-wasm.wasm not found in .*mmcls-wasm-/);
      for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
        fs.copyFileSync(path.join(found.dir!, f), path.join(empty, f));
      }
      assert.equal(resolveWasmDir({ wasmDir: empty }).dir, path.resolve(empty));
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('starts wasm from a copied folder of binaries (as a bundled extension does), in a fresh process', () => {
    const found = resolveWasmDir();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-wasm-'));
    try {
      for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
        fs.copyFileSync(path.join(found.dir!, f), path.join(dir, f));
      }
      const script = [
        "const { initBackend } = require('./runtime/backend');",
        "const tf = require('@tensorflow/tfjs-core');",
        "initBackend('wasm').then((i) => { const y = tf.conv2d(tf.ones([1, 4, 4, 1]), tf.ones([3, 3, 1, 1]), 1, 'same');",
        "  console.log(JSON.stringify({ summary: i.summary, sum: y.sum().dataSync()[0] })); });",
      ].join('\n');
      const root = path.resolve(__dirname, '..', '..');
      const out = execFileSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
        cwd: root, env: { ...process.env, MMCLS_WASM_DIR: dir }, encoding: 'utf8',
      });
      const r = JSON.parse(out.trim().split('\n').pop()!) as { summary: string; sum: number };
      assert.equal(r.summary, 'wasm (SIMD, 1 thread)');
      assert.equal(r.sum, 4 * 4 + 4 * 6 * 2 + 4 * 9); // corners 4, edges 6, inner 9 (3x3 of ones, same padding)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an explicit wasm folder without binaries is an error that says what to do, in a fresh process', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-wasm-'));
    try {
      const script = [
        "const { initBackend } = require('./runtime/backend');",
        "initBackend('wasm').catch((e) => { console.log(JSON.stringify({ code: e.code, message: e.message })); });",
        "initBackend('auto').then((i) => console.log(JSON.stringify({ auto: i.summary })));",
      ].join('\n');
      const root = path.resolve(__dirname, '..', '..');
      const out = execFileSync(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', script], {
        cwd: root, env: { ...process.env, MMCLS_WASM_DIR: empty }, encoding: 'utf8',
      });
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      const err = lines.find((l) => l.code !== undefined)!;
      assert.equal(err.code, 'backend.unavailable');
      assert.match(err.message, /tfjs-backend-wasm.wasm not found.*MMCLS_WASM_DIR/);
      const auto = lines.find((l) => l.auto !== undefined)!;
      if (!isInstalled('@tensorflow/tfjs-node')) assert.match(auto.auto, /^cpu \(JavaScript\); tfjs-backend-wasm.wasm not found/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it('runs from the compiled dist/ build too (when it is up to date)', function () {
    const root = path.resolve(__dirname, '..', '..');
    const built = path.join(root, 'dist', 'runtime', 'backend', 'index.js');
    const src = path.join(root, 'runtime', 'backend', 'index.ts');
    if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < fs.statSync(src).mtimeMs) this.skip();
    const script = "require('./dist/runtime/backend').initBackend('wasm').then((i) => console.log(i.summary))";
    const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
    assert.equal(out.trim(), 'wasm (SIMD, 1 thread)');
  });
});
