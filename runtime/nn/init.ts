import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { fromTorchLayout } from './layout';
import type { InitCfg, LoadReport, Module, Parameter, StateEntry } from './module';

/**
 * Weight initialisation from `init_cfg`, as MMEngine's initialisers do it: `Kaiming`, `Xavier`,
 * `Normal`, `TruncNormal`, `Uniform`, `Constant` (on the modules whose class is named in `layer`,
 * or the sub-modules named in `override`) and `Pretrained` (loads a checkpoint through the loader
 * installed with {@link setCheckpointLoader}).
 */

/**
 * Reads a checkpoint file into a state dict (PyTorch names, layouts and shapes). Installed by the
 * checkpoint module (runtime/engine/checkpoint) so that `init_cfg=dict(type='Pretrained', ...)` and
 * the classifier's `pretrained` can load `.pth` and `.safetensors` files.
 */
export type CheckpointLoader = (checkpoint: string, options: { mapLocation?: string }) => Map<string, StateEntry>;

let checkpointLoader: CheckpointLoader | null = null;

/** Installs the function that `Pretrained` initialisation uses to read checkpoints. */
export function setCheckpointLoader(loader: CheckpointLoader | null): void {
  checkpointLoader = loader;
}

export function getCheckpointLoader(): CheckpointLoader | null {
  return checkpointLoader;
}

/** Torch-layout fan in / fan out of a weight (PyTorch's `_calculate_fan_in_and_fan_out`). */
export function fans(torchShape: number[]): { fanIn: number; fanOut: number } {
  if (torchShape.length < 2) {
    return { fanIn: torchShape[0] ?? 1, fanOut: torchShape[0] ?? 1 };
  }
  const receptive = torchShape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: torchShape[1] * receptive, fanOut: torchShape[0] * receptive };
}

function gainOf(nonlinearity: string, a: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv1d':
    case 'conv2d':
    case 'conv3d':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + a * a));
    case 'selu':
      return 3 / 4;
    default:
      throw new MmclsError(`Kaiming: unsupported nonlinearity ${JSON.stringify(nonlinearity)}`, { code: 'init.bad-argument' });
  }
}

/** Fills a parameter with values generated in PyTorch's layout (so fans are PyTorch's). */
function fill(p: Parameter, make: (torchShape: number[]) => tf.Tensor): void {
  tf.tidy(() => {
    const t = make(p.torchShape);
    p.assign(tf.reshape(fromTorchLayout(t, p.layout), p.shape));
  });
}

/** A normal distribution truncated to [a, b] (in absolute values), by inverse CDF like PyTorch's `trunc_normal_`. */
function truncNormal(shape: number[], mean: number, std: number, a: number, b: number): tf.Tensor {
  const n = shape.reduce((x, y) => x * y, 1);
  const out = new Float32Array(n);
  const cdf = (x: number): number => (1 + erf(x / Math.SQRT2)) / 2;
  const l = cdf((a - mean) / std);
  const u = cdf((b - mean) / std);
  for (let i = 0; i < n; i++) {
    const p = 2 * (l + Math.random() * (u - l)) - 1;
    let v = erfinv(Math.min(Math.max(p, -1 + 1e-7), 1 - 1e-7)) * std * Math.SQRT2 + mean;
    v = Math.min(Math.max(v, a), b);
    out[i] = v;
  }
  return tf.tensor(out, shape);
}

function erf(x: number): number {
  // Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7).
  const s = Math.sign(x);
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return s * y;
}

function erfinv(x: number): number {
  // Giles' approximation, refined by two Newton steps.
  let w = -Math.log((1 - x) * (1 + x));
  let p: number;
  if (w < 5) {
    w -= 2.5;
    p = 2.81022636e-8;
    for (const c of [3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941]) p = c + p * w;
  } else {
    w = Math.sqrt(w) - 3;
    p = -0.000200214257;
    for (const c of [0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682]) p = c + p * w;
  }
  let y = p * x;
  for (let i = 0; i < 2; i++) y -= (erf(y) - x) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-y * y));
  return y;
}

function num(cfg: InitCfg, key: string, dflt: number): number {
  const v = cfg[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number') {
    throw new MmclsError(`init_cfg ${cfg.type}: ${key} must be a number, got ${JSON.stringify(v)}`, { code: 'init.bad-argument' });
  }
  return v;
}

function str(cfg: InitCfg, key: string, dflt: string): string {
  const v = cfg[key];
  if (v === undefined || v === null) return dflt;
  return String(v);
}

function initBias(m: Module, cfg: InitCfg): void {
  const b = m.getParameter('bias');
  if (b) {
    const val = num(cfg, 'bias', 0);
    fill(b, (s) => tf.fill(s, val));
  }
}

type WeightFn = (m: Module, cfg: InitCfg) => void;

const weightInits: Record<string, WeightFn> = {
  Constant(m, cfg) {
    const w = m.getParameter('weight');
    const val = num(cfg, 'val', NaN);
    if (Number.isNaN(val)) throw new MmclsError('init_cfg Constant needs val', { code: 'init.bad-argument' });
    if (w) fill(w, (s) => tf.fill(s, val));
    initBias(m, cfg);
  },
  Normal(m, cfg) {
    const w = m.getParameter('weight');
    if (w) fill(w, (s) => tf.randomNormal(s, num(cfg, 'mean', 0), num(cfg, 'std', 1)));
    initBias(m, cfg);
  },
  TruncNormal(m, cfg) {
    const w = m.getParameter('weight');
    if (w) fill(w, (s) => truncNormal(s, num(cfg, 'mean', 0), num(cfg, 'std', 1), num(cfg, 'a', -2), num(cfg, 'b', 2)));
    initBias(m, cfg);
  },
  Uniform(m, cfg) {
    const w = m.getParameter('weight');
    if (w) fill(w, (s) => tf.randomUniform(s, num(cfg, 'a', 0), num(cfg, 'b', 1)));
    initBias(m, cfg);
  },
  Xavier(m, cfg) {
    const w = m.getParameter('weight');
    if (w) {
      const gain = num(cfg, 'gain', 1);
      const dist = str(cfg, 'distribution', 'normal');
      fill(w, (s) => {
        const { fanIn, fanOut } = fans(s);
        if (dist === 'uniform') {
          const a = gain * Math.sqrt(6 / (fanIn + fanOut));
          return tf.randomUniform(s, -a, a);
        }
        return tf.randomNormal(s, 0, gain * Math.sqrt(2 / (fanIn + fanOut)));
      });
    }
    initBias(m, cfg);
  },
  Kaiming(m, cfg) {
    const w = m.getParameter('weight');
    if (w) {
      const a = num(cfg, 'a', 0);
      const mode = str(cfg, 'mode', 'fan_out');
      const nonlinearity = str(cfg, 'nonlinearity', 'relu');
      const dist = str(cfg, 'distribution', 'normal');
      fill(w, (s) => {
        const { fanIn, fanOut } = fans(s);
        const std = gainOf(nonlinearity, a) / Math.sqrt(mode === 'fan_in' ? fanIn : fanOut);
        if (dist === 'uniform') return tf.randomUniform(s, -Math.sqrt(3) * std, Math.sqrt(3) * std);
        return tf.randomNormal(s, 0, std);
      });
    }
    initBias(m, cfg);
  },
};

/** Initialises one bare parameter (a token, a position embedding) as the weight of a `cfg` initialiser. */
export function initParameter(p: Parameter, cfg: InitCfg): void {
  const fn = weightInits[cfg.type];
  if (!fn) throw new MmclsError(`initParameter: unknown initialiser ${cfg.type}`, { code: 'init.unknown-type' });
  const fake = { getParameter: (name: string) => (name === 'weight' ? p : undefined) } as unknown as Module;
  fn(fake, cfg);
}

const KNOWN = new Set([...Object.keys(weightInits), 'Pretrained', 'Caffe2Xavier']);

function layerList(cfg: InitCfg): string[] | null {
  const l = cfg.layer;
  if (l === undefined || l === null) return null;
  if (typeof l === 'string') return [l];
  if (Array.isArray(l)) return l.map(String);
  throw new MmclsError(`init_cfg ${cfg.type}: layer must be a string or a list of strings`, { code: 'init.bad-argument' });
}

function applyWeightInit(module: Module, cfg: InitCfg, wholeModule: boolean): void {
  const type = cfg.type === 'Caffe2Xavier' ? 'Kaiming' : cfg.type;
  const fn = weightInits[type];
  const effective: InitCfg =
    cfg.type === 'Caffe2Xavier'
      ? { ...cfg, type: 'Kaiming', a: 1, mode: 'fan_in', nonlinearity: 'leaky_relu', distribution: 'uniform' }
      : cfg;
  const layers = layerList(cfg);
  module.apply((m) => {
    if (wholeModule) {
      fn(m, effective);
      return;
    }
    if (!layers) return;
    const names = m.layerNames();
    if (layers.some((l) => names.includes(l))) fn(m, effective);
  });
}

/** Runs `Pretrained`: loads `checkpoint` (optionally only keys under `prefix`, stripped) non-strictly. */
export function loadPretrained(module: Module, cfg: InitCfg): LoadReport {
  const checkpoint = cfg.checkpoint;
  if (typeof checkpoint !== 'string') {
    throw new MmclsError('init_cfg Pretrained needs checkpoint (a file path)', { code: 'init.bad-argument' });
  }
  if (!checkpointLoader) {
    throw new MmclsError(
      `init_cfg Pretrained: no checkpoint reader is available to load ${checkpoint}; import runtime/engine/checkpoint first`,
      { code: 'init.no-loader' },
    );
  }
  let sd = checkpointLoader(checkpoint, { mapLocation: typeof cfg.map_location === 'string' ? cfg.map_location : undefined });
  const prefix = cfg.prefix;
  if (typeof prefix === 'string' && prefix) {
    const p = prefix.endsWith('.') ? prefix : `${prefix}.`;
    const filtered = new Map<string, StateEntry>();
    for (const [k, v] of sd) if (k.startsWith(p)) filtered.set(k.slice(p.length), v);
    if (filtered.size === 0) {
      throw new MmclsError(`init_cfg Pretrained: ${checkpoint} has no keys under prefix "${prefix}"`, {
        code: 'init.bad-prefix',
      });
    }
    sd = filtered;
  }
  return module.loadStateDict(sd, { strict: false });
}

/** MMEngine's `initialize(module, init_cfg)`. */
export function initialize(module: Module, initCfg: InitCfg | InitCfg[]): void {
  const cfgs = Array.isArray(initCfg) ? initCfg : [initCfg];
  for (const cfg of cfgs) {
    if (!cfg || typeof cfg !== 'object' || typeof cfg.type !== 'string') {
      throw new MmclsError(`init_cfg entries must be dicts with a type, got ${JSON.stringify(cfg)}`, { code: 'init.bad-cfg' });
    }
    if (!KNOWN.has(cfg.type)) {
      throw new MmclsError(
        `init_cfg type ${JSON.stringify(cfg.type)} is unknown; expected one of ${[...KNOWN].sort().join(', ')}`,
        { code: 'init.unknown-type' },
      );
    }
    if (cfg.type === 'Pretrained') {
      loadPretrained(module, cfg);
      continue;
    }
    const { override, ...rest } = cfg as InitCfg & { override?: unknown };
    applyWeightInit(module, rest as InitCfg, false);
    if (override) {
      const overrides = (Array.isArray(override) ? override : [override]) as InitCfg[];
      for (const o of overrides) {
        const name = o.name;
        if (typeof name !== 'string') {
          throw new MmclsError('init_cfg override entries need a name', { code: 'init.bad-cfg' });
        }
        const target = module.getChild(name);
        if (!target) {
          throw new MmclsError(`init_cfg override: the module has no child named ${JSON.stringify(name)}`, {
            code: 'init.bad-cfg',
          });
        }
        const { name: _n, ...ocfg } = o;
        // An override without its own type inherits the parent's arguments.
        const merged = { ...rest, ...ocfg, type: (ocfg.type as string | undefined) ?? rest.type } as InitCfg;
        applyWeightInit(target, merged, true);
      }
    }
  }
}
