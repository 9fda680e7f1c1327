/**
 * The TensorFlow.js backend: which one runs, chosen from `env_cfg.device` / `--device`.
 *
 * - `tfjs-node-gpu` / `gpu` / `cuda`: `@tensorflow/tfjs-node-gpu` (TensorFlow C library with CUDA),
 * - `tfjs-node`: `@tensorflow/tfjs-node` (TensorFlow C library on the CPU),
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; shipped with mmcls: the default),
 * - `cpu`: `@tensorflow/tfjs-backend-cpu` (plain JavaScript: the last resort),
 * - `auto`: the first of those that works, in that order.
 *
 * The tfjs-node packages are optional: their install downloads libtensorflow, so mmcls never
 * depends on them and loads them only when the user has installed them (next to mmcls or in the
 * current directory's node_modules) and asks for them or for `auto`.
 *
 * Importing this module registers every gradient (through the `@tensorflow/tfjs` bundle), the
 * dilated-convolution gradients and the wasm kernels that training needs.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
// The node build of tfjs-core registers no gradients and no chained ops; this bundle does.
import '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { MmclsError } from '../errors';
import { ensureDilatedConvGradients } from './gradients';
import { ensureWasmGradKernels } from './wasm-kernels';

export { builtinWasmKernel, ensureWasmGradKernels, WASM_EXTRA_KERNELS } from './wasm-kernels';
export { ensureDilatedConvGradients } from './gradients';
// WebGPU (Dawn) path: runtime/backend/webgpu.ts.
import { useWebGpu, WebGpuAdapterInfo } from './webgpu';
export { disposeWebGpu, isWebGpuInstalled, probeWebGpuAdapter, webGpuAdapterInfo } from './webgpu';
export type { WebGpuAdapterInfo } from './webgpu';

import { DEVICE_NAMES, DeviceName } from './device-names';
export { DEVICE_NAMES } from './device-names';
export type { DeviceName } from './device-names';

/** The backend that runs, for the log line at start (`backend: wasm (SIMD, 1 thread)`). */
export interface BackendInfo {
  /** TensorFlow.js backend name: 'tensorflow' (tfjs-node, tfjs-node-gpu), 'wasm' or 'cpu'. */
  name: string;
  /** The device asked for, normalised ('cuda:0' -> 'cuda'). */
  requested: DeviceName;
  /** The npm package that provides the backend. */
  package: string;
  /** Why a preferred backend was not used (auto), or why the GPU is not used. */
  fallbackReason?: string;
  /** wasm: threads of the wasm module (1 in Node.js: tfjs-backend-wasm has no Node worker threads). */
  threads?: number;
  /** wasm: whether the SIMD build runs. */
  simd?: boolean;
  /** tfjs-node-gpu: whether TensorFlow found a CUDA device. */
  gpu?: boolean;
  /** webgpu: the adapter (vendor, architecture, device, description). */
  adapter?: WebGpuAdapterInfo;
  /** One line: `wasm (SIMD, 1 thread)`, `tensorflow (tfjs-node-gpu, GPU)`, ... */
  summary: string;
}

export interface InitBackendOptions {
  /**
   * Folder holding `tfjs-backend-wasm*.wasm`. Default: `$MMCLS_WASM_DIR`, else the `dist/` folder
   * of the installed `@tensorflow/tfjs-backend-wasm` (a bundled extension ships the files and sets this).
   */
  wasmDir?: string;
}

let current: { key: string; info: BackendInfo } | undefined;
let wasmPathsSet = false;

// Registration is cheap and must happen before any gradient runs, whoever calls initBackend.
ensureDilatedConvGradients();
ensureWasmGradKernels();
// Until initBackend runs, tensors live on cpu. Otherwise tfjs would pick wasm (the highest
// priority) and refuse every tensor created before its asynchronous start has finished.
if ((tf.engine() as unknown as { backendName: string | null }).backendName == null) {
  void tf.setBackend('cpu');
  quietCpuBanner();
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      // A swap of two neighbours ('cdua') is one typo.
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * Normalises a device string: case, `cuda:0` / `gpu:1` (MMEngine style) to `cuda` / `gpu`,
 * `tensorflow` to `tfjs-node`. Throws `MmclsError` (code `backend.unknown-device`) otherwise.
 */
export function parseDevice(device: string | undefined, where?: string): DeviceName {
  if (device === undefined || device === '') return 'auto';
  const d = device.trim().toLowerCase().replace(/:\d+$/, '');
  if (d === 'tensorflow') return 'tfjs-node';
  if ((DEVICE_NAMES as readonly string[]).includes(d)) return d as DeviceName;
  const nearest = [...DEVICE_NAMES].sort((a, b) => editDistance(d, a) - editDistance(d, b))[0];
  throw new MmclsError(
    `Unknown device '${device}'${where ? ` in ${where}` : ''}: expected one of ${DEVICE_NAMES.join(', ')}` +
    (editDistance(d, nearest) <= 3 ? ` (did you mean '${nearest}'?)` : '') + '.',
    { code: 'backend.unknown-device' });
}

/**
 * The device a run asks for: `--device` first, then `env_cfg.device`, then `$MMCLS_DEVICE`,
 * else 'auto'. `envCfg` is the config's `env_cfg` dict (any value; only `device` is read).
 */
export function backendFromEnvCfg(envCfg: unknown, cliDevice?: string): DeviceName {
  if (cliDevice !== undefined && cliDevice !== '') return parseDevice(cliDevice, '--device');
  if (envCfg !== null && typeof envCfg === 'object' && 'device' in envCfg) {
    const d = (envCfg as Record<string, unknown>).device;
    if (d !== undefined && d !== null) {
      if (typeof d !== 'string') {
        throw new MmclsError(`env_cfg.device must be a string such as 'auto', 'wasm' or 'cuda', got ${JSON.stringify(d)}.`,
          { code: 'config.env_cfg.device' });
      }
      return parseDevice(d, 'env_cfg.device');
    }
  }
  const fromEnv = process.env.MMCLS_DEVICE;
  if (fromEnv) return parseDevice(fromEnv, 'MMCLS_DEVICE');
  return 'auto';
}

/** Where the wasm binaries are, or a reason why none were found. */
export function resolveWasmDir(options: InitBackendOptions = {}): { dir?: string; reason?: string } {
  const candidates: string[] = [];
  if (options.wasmDir) candidates.push(options.wasmDir);
  else if (process.env.MMCLS_WASM_DIR) candidates.push(process.env.MMCLS_WASM_DIR);
  else {
    try {
      candidates.push(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist'));
    } catch {
      // Bundled: the files are expected next to the bundle.
    }
    candidates.push(path.join(__dirname, 'wasm'));
  }
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, 'tfjs-backend-wasm.wasm'))) return { dir: path.resolve(dir) };
  }
  return { reason: `tfjs-backend-wasm.wasm not found in ${candidates.join(', ')}` };
}

function errorText(e: unknown): string {
  const m = e instanceof Error ? e.message : typeof e === 'object' && e !== null && 'message' in e ? String((e as { message: unknown }).message) : String(e);
  return m.split('\n')[0];
}

/** Silences tfjs's "install our node backend" banner that the cpu backend prints on first use. */
function quietCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as (tf.KernelBackend & { firstUse?: boolean }) | null;
  if (cpu && 'firstUse' in cpu) cpu.firstUse = false;
}

async function useWasm(options: InitBackendOptions): Promise<{ ok: true; info: Omit<BackendInfo, 'requested'> } | { ok: false; reason: string }> {
  if (tf.findBackend('wasm') === null) {
    const found = resolveWasmDir(options);
    if (found.dir === undefined) return { ok: false, reason: found.reason! };
    if (!wasmPathsSet) {
      tfwasm.setWasmPaths(found.dir.endsWith(path.sep) ? found.dir : found.dir + path.sep);
      wasmPathsSet = true;
    }
  }
  let ok = false;
  let why = '';
  const warn = console.warn;
  // tfjs prints the failure with a stack trace; the reason goes into BackendInfo instead.
  console.warn = (...args: unknown[]) => { why = why || args.map(errorText).join(' '); };
  // The emscripten module rethrows every uncaught exception and unhandled rejection from its
  // own listeners, so Node prints the whole minified module as the failing source line.
  const before = {
    uncaughtException: process.listeners('uncaughtException'),
    unhandledRejection: process.listeners('unhandledRejection'),
  };
  try {
    ok = await tf.setBackend('wasm');
  } catch (e) {
    why = errorText(e);
  } finally {
    console.warn = warn;
    for (const l of process.listeners('uncaughtException')) {
      if (!before.uncaughtException.includes(l)) process.removeListener('uncaughtException', l);
    }
    for (const l of process.listeners('unhandledRejection')) {
      if (!before.unhandledRejection.includes(l)) process.removeListener('unhandledRejection', l);
    }
  }
  if (!ok) return { ok: false, reason: `the wasm backend failed to start${why ? `: ${why}` : ''}` };
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  const wasmModule = (tf.backend() as unknown as { wasm?: { tfjs?: { getThreadsCount?: () => number } } }).wasm;
  const threads = wasmModule?.tfjs?.getThreadsCount?.() ?? 1;
  return {
    ok: true,
    info: {
      name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', simd, threads,
      summary: `wasm (${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})`,
    },
  };
}

async function useCpu(): Promise<Omit<BackendInfo, 'requested'>> {
  const ok = await tf.setBackend('cpu');
  if (!ok) throw new Error('the cpu backend of TensorFlow.js failed to start');
  quietCpuBanner();
  return { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu', summary: 'cpu (JavaScript)' };
}

type NodePackage = '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';

function resolveOptional(pkg: string): string | undefined {
  for (const paths of [undefined, [process.cwd()]]) {
    try {
      return paths ? require.resolve(pkg, { paths }) : require.resolve(pkg);
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Whether an optional package can be found, without loading it. */
export function isInstalled(pkg: NodePackage): boolean {
  return resolveOptional(pkg) !== undefined;
}

let loadedNodePackage: NodePackage | undefined;

async function useTfjsNode(pkg: NodePackage): Promise<{ ok: true; info: Omit<BackendInfo, 'requested'> } | { ok: false; installed: boolean; reason: string }> {
  const short = pkg.replace('@tensorflow/', '');
  if (loadedNodePackage !== undefined && loadedNodePackage !== pkg) {
    return { ok: false, installed: true, reason: `${loadedNodePackage} is already loaded in this process; both register the 'tensorflow' backend` };
  }
  const resolved = resolveOptional(pkg);
  if (resolved === undefined) return { ok: false, installed: false, reason: `${pkg} is not installed` };
  if (loadedNodePackage === undefined) {
    try {
      // Optional, user-installed package: loaded by resolved path, never bundled.
      require(resolved);
      loadedNodePackage = pkg;
    } catch (e) {
      return { ok: false, installed: true, reason: `${pkg} is installed but failed to load (${errorText(e)})` };
    }
  }
  if (tf.findBackendFactory('tensorflow') === null && tf.findBackend('tensorflow') === null) {
    return {
      ok: false, installed: true,
      reason: `${pkg} loaded but registered its backend with another copy of @tensorflow/tfjs-core; install the version matching @tensorflow/tfjs-core ${tf.version_core}`,
    };
  }
  let ok = false;
  try {
    ok = await tf.setBackend('tensorflow');
  } catch (e) {
    return { ok: false, installed: true, reason: `${pkg} failed to start (${errorText(e)})` };
  }
  if (!ok) return { ok: false, installed: true, reason: `${pkg} failed to start` };
  const be = tf.backend() as unknown as { isGPUPackage?: boolean; isUsingGpuDevice?: boolean };
  const gpu = Boolean(be.isGPUPackage && be.isUsingGpuDevice);
  const info: Omit<BackendInfo, 'requested'> = {
    name: 'tensorflow', package: pkg, gpu,
    summary: `tensorflow (${short}, ${gpu ? 'GPU' : 'CPU'})`,
  };
  if (pkg === '@tensorflow/tfjs-node-gpu' && !gpu) info.fallbackReason = 'TensorFlow found no usable CUDA GPU and runs on the CPU';
  return { ok: true, info };
}

const WEBGPU_ADVICE = 'Install the optional dependency `webgpu` (npm install webgpu) and a Vulkan (Linux), Metal (macOS) or D3D12 (Windows) driver, or use --device wasm.';

function unavailable(requested: DeviceName, reason: string, advice: string): MmclsError {
  return new MmclsError(`Device '${requested}' is not available: ${reason}. ${advice}`, { code: 'backend.unavailable' });
}

function withFallback(info: Omit<BackendInfo, 'requested'>, requested: DeviceName, reasons: string[]): BackendInfo {
  const all = [...reasons, ...(info.fallbackReason ? [info.fallbackReason] : [])];
  const out: BackendInfo = { ...info, requested };
  if (all.length > 0) {
    out.fallbackReason = all.join('; ');
    out.summary = `${info.summary}; ${out.fallbackReason}`;
  }
  return out;
}

/**
 * Selects and starts the backend (idempotent: a second call with the same device returns the
 * same info without restarting anything; another device switches). Explicit devices that cannot
 * run throw `MmclsError` (code `backend.unavailable`) saying what to install; 'auto' falls back
 * and says why in `fallbackReason` (an installed package that could not be used; a package that
 * is simply not installed is the normal case and is not reported).
 */
export async function initBackend(device: string = 'auto', options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = parseDevice(device);
  const key = `${requested}|${options.wasmDir ?? ''}`;
  if (current !== undefined && current.key === key && tf.getBackend() === current.info.name) return current.info;
  ensureDilatedConvGradients();
  ensureWasmGradKernels();
  quietCpuBanner();
  const info = await select(requested, options);
  current = { key, info };
  return info;
}

async function select(requested: DeviceName, options: InitBackendOptions): Promise<BackendInfo> {
  switch (requested) {
    case 'webgpu': {
      // Asked for by name: a software adapter (lavapipe) is accepted.
      const r = await useWebGpu({ allowSoftware: true });
      if (!r.ok) throw unavailable(requested, r.reason, WEBGPU_ADVICE);
      return { name: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu', adapter: r.adapter, gpu: !r.adapter.isFallbackAdapter, summary: r.summary, requested };
    }
    case 'gpu': {
      // Any GPU: TensorFlow with CUDA when tfjs-node-gpu is installed, else WebGPU on a hardware adapter.
      const reasons: string[] = [];
      if (isInstalled('@tensorflow/tfjs-node-gpu')) {
        const r = await useTfjsNode('@tensorflow/tfjs-node-gpu');
        if (r.ok && r.info.gpu) return withFallback(r.info, requested, []);
        reasons.push(r.ok ? r.info.fallbackReason ?? 'tfjs-node-gpu found no GPU' : r.reason);
      } else {
        reasons.push('@tensorflow/tfjs-node-gpu is not installed');
      }
      const w = await useWebGpu({ allowSoftware: false });
      if (w.ok) return withFallback({ name: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu', adapter: w.adapter, gpu: true, summary: w.summary }, requested, []);
      reasons.push(w.reason);
      throw unavailable(requested, reasons.join('; '), `For CUDA, install @tensorflow/tfjs-node-gpu@${tf.version_core}. For WebGPU: ${WEBGPU_ADVICE}`);
    }
    case 'cpu':
      return { ...(await useCpu()), requested };
    case 'wasm': {
      const r = await useWasm(options);
      if (!r.ok) throw unavailable(requested, r.reason, "Reinstall mmcls's dependencies (npm install), set MMCLS_WASM_DIR to the folder with the .wasm files, or use --device cpu.");
      return { ...r.info, requested };
    }
    case 'tfjs-node': {
      const r = await useTfjsNode('@tensorflow/tfjs-node');
      if (!r.ok) throw unavailable(requested, r.reason, `Install it with \`npm install @tensorflow/tfjs-node@${tf.version_core}\` (it downloads libtensorflow), or use --device wasm.`);
      return { ...r.info, requested };
    }
    case 'tfjs-node-gpu':
    case 'cuda': {
      const r = await useTfjsNode('@tensorflow/tfjs-node-gpu');
      if (!r.ok) throw unavailable(requested, r.reason, `Install it with \`npm install @tensorflow/tfjs-node-gpu@${tf.version_core}\` (Linux, CUDA and cuDNN as TensorFlow requires), or use --device wasm.`);
      return withFallback(r.info, requested, []);
    }
    case 'auto': {
      const reasons: string[] = [];
      // A hardware WebGPU adapter comes after TensorFlow with CUDA (when installed, it is used).
      if (!isInstalled('@tensorflow/tfjs-node-gpu')) {
        const w = await useWebGpu({ allowSoftware: false });
        if (w.ok) return withFallback({ name: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu', adapter: w.adapter, gpu: true, summary: w.summary }, requested, reasons);
        if (!w.noGpu) reasons.push(w.reason);
      }
      for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const) {
        const r = await useTfjsNode(pkg);
        // tfjs-node-gpu without a GPU still runs TensorFlow on the CPU, as tfjs-node would.
        if (r.ok) return withFallback(r.info, requested, reasons);
        if (r.installed) reasons.push(r.reason);
      }
      const w = await useWasm(options);
      if (w.ok) return withFallback(w.info, requested, reasons);
      reasons.push(w.reason);
      return withFallback(await useCpu(), requested, reasons);
    }
  }
}

/** The info of the last `initBackend()`, if any. */
export function currentBackendInfo(): BackendInfo | undefined {
  return current?.info;
}
