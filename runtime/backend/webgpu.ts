/**
 * The WebGPU backend in Node.js: `@tensorflow/tfjs-backend-webgpu` on Dawn (the npm package
 * `webgpu`, prebuilt `dawn.node` binaries for Linux/Vulkan, macOS/Metal and Windows/D3D12).
 *
 * - `webgpu` is an optional dependency: where it is missing or its binary does not load, the
 *   webgpu device says so and `auto` goes on to wasm.
 * - The backend registers itself only if `navigator.gpu` exists when its module is first loaded,
 *   and its shaders use the WebGPU constants (`GPUBufferUsage`, `GPUMapMode`, ...) as globals, so
 *   `loadWebGpu()` installs Dawn's globals and `navigator.gpu` first, then loads the backend.
 * - mmcls registers its own factory for 'webgpu' (replacing the package's), so that it chooses
 *   the adapter itself: it reads the adapter's vendor, architecture, device and description for
 *   the log, and `auto` refuses a software adapter (Mesa's lavapipe, SwiftShader: exact, but slower
 *   than wasm), which an explicit `--device webgpu` accepts.
 * - Dawn keeps Node.js alive while a GPUDevice exists: `disposeWebGpu()` disposes the backend and
 *   destroys the device; it runs on `beforeExit` and whenever another backend is chosen.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ensureWebGpuKernels } from './webgpu-kernels';

/** What Dawn says about the adapter (GPUAdapterInfo), for the log. */
export interface WebGpuAdapterInfo {
  /** e.g. 'nvidia', 'mesa', 'intel', 'apple'. */
  vendor: string;
  /** e.g. 'ampere', 'hopper', 'llvm', 'gen-12lp'. */
  architecture: string;
  /** Device id or name (may be empty). */
  device: string;
  /** e.g. 'NVIDIA H100 80GB HBM3', 'llvmpipe (LLVM 19.1.7, 256 bits)'. */
  description: string;
  /** A software (CPU) adapter: lavapipe, SwiftShader, WARP. */
  isFallbackAdapter: boolean;
  /** One line for the log. */
  summary: string;
}

export interface UseWebGpuOptions {
  /** Accept a software adapter (an explicit `--device webgpu` does; `auto` does not). */
  allowSoftware: boolean;
}

export type UseWebGpuResult =
  | { ok: true; adapter: WebGpuAdapterInfo; summary: string }
  | {
    ok: false; installed: boolean; reason: string; adapter?: WebGpuAdapterInfo;
    /** The normal case on a machine without a GPU (package missing, no adapter, software adapter only): `auto` does not report it. */
    noGpu?: boolean;
  };

interface DawnModule {
  create(options: string[]): unknown;
  globals: Record<string, unknown>;
}

/** The slice of the WebGPU API used here (the `webgpu` package's types are not imported). */
interface GpuAdapterLike {
  info?: Record<string, unknown>;
  requestAdapterInfo?: () => Promise<Record<string, unknown>>;
  isFallbackAdapter?: boolean;
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  requestDevice(descriptor?: unknown): Promise<GpuDeviceLike>;
}
interface GpuDeviceLike {
  destroy(): void;
  lost?: Promise<unknown>;
}
interface GpuLike {
  requestAdapter(options?: unknown): Promise<GpuAdapterLike | null>;
}

type WebGpuBackendCtor = new (device: GpuDeviceLike, adapterInfo?: unknown) => tf.KernelBackend;

let dawn: { gpu: GpuLike } | undefined;
let loadError: { installed: boolean; reason: string; noGpu?: boolean } | undefined;
let backendCtor: WebGpuBackendCtor | undefined;
let device: GpuDeviceLike | undefined;
let adapterInfo: WebGpuAdapterInfo | undefined;
let exitHookInstalled = false;

function errorText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0];
}

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

/** Whether the `webgpu` package (Dawn) can be found, without loading it. */
export function isWebGpuInstalled(): boolean {
  return resolveOptional('webgpu') !== undefined;
}

/**
 * Loads Dawn, installs the WebGPU globals and `navigator.gpu`, then loads
 * `@tensorflow/tfjs-backend-webgpu` (its kernels register for 'webgpu'). Idempotent.
 * Dawn's arguments can be passed in `$MMCLS_DAWN_FLAGS` (space separated, e.g. `backend=vulkan`).
 */
export function loadWebGpu(): { ok: true } | { ok: false; installed: boolean; reason: string; noGpu?: boolean } {
  if (dawn !== undefined && backendCtor !== undefined) return { ok: true };
  if (loadError !== undefined) return { ok: false, ...loadError };
  const resolved = resolveOptional('webgpu');
  if (resolved === undefined) {
    loadError = { installed: false, reason: "the package 'webgpu' (Dawn for Node.js, an optional dependency of mmcls) is not installed", noGpu: true };
    return { ok: false, ...loadError };
  }
  let mod: DawnModule;
  try {
    // An ES module: Node.js >= 20.19 / 22.12 loads it with require(); older versions throw
    // ERR_REQUIRE_ESM, reported below.
    mod = require(resolved) as DawnModule;
  } catch (e) {
    const code = (e as { code?: string }).code;
    loadError = {
      installed: true,
      reason: code === 'ERR_REQUIRE_ESM' || code === 'ERR_REQUIRE_ASYNC_MODULE'
        ? `the package 'webgpu' is an ES module that Node.js ${process.version} cannot load from CommonJS (Node.js >= 20.19 or >= 22.12 can)`
        : `the package 'webgpu' is installed but its Dawn binary failed to load on ${process.platform}-${process.arch} (${errorText(e)})`,
    };
    return { ok: false, ...loadError };
  }
  const g = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(mod.globals)) {
    if (g[name] === undefined) g[name] = value;
  }
  const flags = (process.env.MMCLS_DAWN_FLAGS ?? '').split(/\s+/).filter((s) => s !== '');
  const gpu = mod.create(flags) as GpuLike;
  const nav = g.navigator as Record<string, unknown> | undefined;
  if (nav === undefined) {
    g.navigator = { gpu };
  } else if (nav.gpu === undefined) {
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, enumerable: true });
  }
  dawn = { gpu };
  try {
    // Loaded only now: it registers its backend only when navigator.gpu exists.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pkg = require('@tensorflow/tfjs-backend-webgpu') as { WebGPUBackend: WebGpuBackendCtor };
    backendCtor = pkg.WebGPUBackend;
    ensureWebGpuKernels(backendCtor);
  } catch (e) {
    loadError = { installed: true, reason: `@tensorflow/tfjs-backend-webgpu failed to load (${errorText(e)})` };
    return { ok: false, ...loadError };
  }
  // Our factory replaces the package's (which picks the adapter without telling us which).
  if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
  return { ok: true };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

function readAdapterInfo(adapter: GpuAdapterLike, raw: Record<string, unknown> | undefined): WebGpuAdapterInfo {
  const vendor = str(raw?.vendor);
  const architecture = str(raw?.architecture);
  const dev = str(raw?.device);
  const description = str(raw?.description);
  const isFallbackAdapter = Boolean(adapter.isFallbackAdapter ?? raw?.isFallbackAdapter ?? false)
    || /llvmpipe|lavapipe|swiftshader|microsoft basic render/i.test(description);
  const parts = [vendor, architecture].filter((s) => s !== '').join(' ');
  const summary = `${description || dev || 'unknown adapter'}${parts ? ` (${parts})` : ''}${isFallbackAdapter ? ', software adapter' : ''}`;
  return { vendor, architecture, device: dev, description, isFallbackAdapter, summary };
}

/** The adapter Dawn offers (high-performance preference), without creating a device. */
export async function probeWebGpuAdapter(): Promise<{ ok: true; adapter: WebGpuAdapterInfo } | { ok: false; installed: boolean; reason: string }> {
  const loaded = loadWebGpu();
  if (!loaded.ok) return loaded;
  const found = await requestAdapter();
  if (!found.ok) return found;
  return { ok: true, adapter: found.info };
}

async function requestAdapter(): Promise<{ ok: true; adapter: GpuAdapterLike; info: WebGpuAdapterInfo } | { ok: false; installed: true; reason: string; noGpu?: boolean }> {
  let adapter: GpuAdapterLike | null;
  try {
    const lowPower = tf.env().getBool('WEBGPU_USE_LOW_POWER_GPU');
    adapter = await dawn!.gpu.requestAdapter({ powerPreference: lowPower ? 'low-power' : 'high-performance' });
  } catch (e) {
    return { ok: false, installed: true, reason: `requesting a WebGPU adapter failed (${errorText(e)})` };
  }
  if (adapter === null) {
    return {
      ok: false, installed: true, noGpu: true,
      reason: process.platform === 'linux'
        ? 'Dawn found no WebGPU adapter (no Vulkan driver: install the GPU vendor\'s driver with its Vulkan ICD and libvulkan1, or Mesa >= 25 for the lavapipe CPU driver)'
        : 'Dawn found no WebGPU adapter',
    };
  }
  const raw = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : undefined);
  return { ok: true, adapter, info: readAdapterInfo(adapter, raw) };
}

/**
 * Starts the 'webgpu' backend (loading Dawn and the backend if needed) and makes it current.
 * Refuses a software adapter unless `allowSoftware`.
 */
export async function useWebGpu(options: UseWebGpuOptions): Promise<UseWebGpuResult> {
  const loaded = loadWebGpu();
  if (!loaded.ok) return loaded;
  if (device !== undefined && adapterInfo?.isFallbackAdapter && !options.allowSoftware) {
    return {
      ok: false, installed: true, adapter: adapterInfo, noGpu: true,
      reason: `the only WebGPU adapter is a software one (${adapterInfo.summary}), slower than wasm; use --device webgpu to run on it anyway`,
    };
  }
  if (device === undefined || tf.findBackend('webgpu') === null) {
    const found = await requestAdapter();
    if (!found.ok) return found;
    if (found.info.isFallbackAdapter && !options.allowSoftware) {
      return {
        ok: false, installed: true, adapter: found.info, noGpu: true,
        reason: `the only WebGPU adapter is a software one (${found.info.summary}), slower than wasm; use --device webgpu to run on it anyway`,
      };
    }
    const adapter = found.adapter;
    const features: string[] = [];
    if (adapter.features.has('timestamp-query')) features.push('timestamp-query');
    const l = adapter.limits;
    let dev: GpuDeviceLike;
    try {
      // The limits tfjs-backend-webgpu asks for (the adapter's own), and the adapter's storage
      // buffers per shader stage (8 by default): concat and AddN take that many inputs per pass.
      dev = await adapter.requestDevice({
        requiredFeatures: features,
        requiredLimits: {
          maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
          maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
          maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
          maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
          maxBufferSize: l.maxBufferSize,
          maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
          maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        },
      });
    } catch (e) {
      return { ok: false, installed: true, adapter: found.info, reason: `the WebGPU adapter ${found.info.summary} refused a device (${errorText(e)})` };
    }
    const rawInfo = { vendor: found.info.vendor, architecture: found.info.architecture };
    const ctor = backendCtor!;
    if (tf.findBackendFactory('webgpu') !== null) tf.removeBackend('webgpu');
    tf.registerBackend('webgpu', () => new ctor(dev, rawInfo), 3);
    device = dev;
    adapterInfo = found.info;
    installExitHook();
  }
  let ok = false;
  let why = '';
  try {
    ok = await tf.setBackend('webgpu');
  } catch (e) {
    why = errorText(e);
  }
  if (!ok) {
    disposeWebGpu();
    return { ok: false, installed: true, reason: `the webgpu backend failed to start${why ? ` (${why})` : ''}` };
  }
  return { ok: true, adapter: adapterInfo!, summary: `webgpu (${adapterInfo!.summary})` };
}

/** The adapter of the running webgpu backend, if any. */
export function webGpuAdapterInfo(): WebGpuAdapterInfo | undefined {
  return device !== undefined ? adapterInfo : undefined;
}

/**
 * Disposes the 'webgpu' backend (its tensors are freed: move what you need to another backend
 * first) and destroys the GPUDevice, so that Node.js can exit. Idempotent; the next `useWebGpu`
 * starts a new device. If webgpu was the current backend, cpu becomes current.
 */
export function disposeWebGpu(): void {
  const wasCurrent = (tf.engine() as unknown as { backendName: string | null }).backendName === 'webgpu';
  if (tf.findBackend('webgpu') !== null || tf.findBackendFactory('webgpu') !== null) {
    try {
      tf.removeBackend('webgpu');
    } catch {
      // already gone
    }
  }
  if (device !== undefined) {
    try {
      device.destroy();
    } catch {
      // already destroyed
    }
    device = undefined;
  }
  if (wasCurrent) void tf.setBackend('cpu');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // beforeExit runs when the event loop is empty but for Dawn's handles: destroying the device
  // lets the process end. Explicit process.exit() needs nothing.
  process.on('beforeExit', () => {
    if (device !== undefined) disposeWebGpu();
  });
}
