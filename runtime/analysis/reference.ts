import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { MODELS } from '../registry';
import { Buffer, Module, StateEntry } from '../nn/module';
import { analyzeComplexity } from './complexity';

/**
 * Reference parity: rebuilds a model measured on the real MMClassification (one JSON file of the
 * reference folder), fills its weights with the documented deterministic pattern (in PyTorch's
 * layout, loaded through `loadStateDict`, so the layout conversion of checkpoints is exercised),
 * runs the documented input, and compares state-dict keys and shapes, parameter counts, FLOPs
 * (total and per module) and logits.
 */

export interface ReferenceTensorSummary {
  path: string;
  shape: number[];
  values?: number[];
  first16?: number[];
  type?: string;
  items?: ReferenceTensorSummary[];
}

export interface ReferenceModel {
  format_version: number;
  config: string;
  model_cfg: { [key: string]: unknown };
  input_shape: number[];
  num_params: number;
  state_dict: [string, number[], number][];
  buffer_keys?: string[];
  fill_untouched?: [string, string][];
  fill_check?: [string, number, number][];
  logits: ReferenceTensorSummary;
  flops_total: number | null;
  params_total: number | null;
  complexity?: {
    activations_total?: number;
    per_module?: Record<string, [number, number, number]>;
    unsupported_ops?: Record<string, number>;
  };
}

export interface ParityResult {
  /** The file's base name without `.json`. */
  name: string;
  status: 'pass' | 'fail' | 'skip';
  /** Why it failed or was skipped (empty on pass). */
  problems: string[];
  /** Types the model config uses that are not implemented (skip). */
  missingTypes: string[];
  /** max |ours - ref| / max |ref| of the logits. */
  logitsRelError?: number;
  /** Our total FLOPs and the reference's. */
  flops?: [number, number];
  params?: [number, number];
  /** Modules whose FLOPs differ only because the reference counter cannot see an operator. */
  blindSpotModules: string[];
  seconds: number;
}

/** Keys of a model config whose sub-dicts are not model components. */
const NON_COMPONENT_KEYS = new Set(['init_cfg', 'train_cfg', 'data_preprocessor', 'test_cfg']);
/** Layer types built by the MMCV builders (norm, activation, conv, dropout configs). */
const LAYER_TYPES = new Set([
  'BN', 'BN1d', 'BN2d', 'SyncBN', 'GN', 'LN', 'LN2d', 'ReLU', 'ReLU6', 'LeakyReLU', 'GELU', 'Sigmoid', 'Tanh', 'SiLU',
  'Swish', 'HSwish', 'HSigmoid', 'Conv2d', 'Conv', 'Dropout', 'DropPath',
]);

/** The component types a model config needs (recursively), init/train settings left out. */
export function requiredTypes(cfg: unknown, acc: Set<string> = new Set()): Set<string> {
  if (Array.isArray(cfg)) {
    for (const v of cfg) requiredTypes(v, acc);
  } else if (cfg && typeof cfg === 'object') {
    const d = cfg as Record<string, unknown>;
    if (typeof d.type === 'string') acc.add(d.type);
    for (const [k, v] of Object.entries(d)) if (!NON_COMPONENT_KEYS.has(k)) requiredTypes(v, acc);
  }
  return acc;
}

/** Types of `cfg` that neither MODELS nor the layer builders know. */
export function missingTypes(cfg: unknown): string[] {
  return [...requiredTypes(cfg)].filter((t) => !MODELS.has(t) && !LAYER_TYPES.has(t)).sort();
}

function codePointSum(name: string): number {
  let s = 0;
  for (const ch of name) s += ch.codePointAt(0)!;
  return s;
}

/** The documented deterministic fill of one state-dict entry (PyTorch layout, row-major). */
export function fillValues(name: string, torchShape: number[]): Float32Array {
  const n = torchShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const phase = 0.01 * codePointSum(name);
  let f: (v: number) => number;
  if (name.endsWith('running_var')) f = (v) => 1 + 0.5 * Math.abs(v);
  else if (name.endsWith('running_mean')) f = (v) => 0.1 * v;
  else if (name.endsWith('.weight') && torchShape.length >= 2) {
    const scale = Math.sqrt(2 / (n / torchShape[0]));
    f = (v) => v * scale;
  } else if (name.endsWith('.weight')) f = (v) => 1 + 0.1 * v;
  else if (name.endsWith('.bias')) f = (v) => 0.1 * v;
  else f = (v) => 0.02 * v;
  for (let i = 0; i < n; i++) out[i] = Math.fround(f(Math.sin(0.37 * i + phase)));
  return out;
}

/** The filled state dict for `model` in PyTorch's layout; integer buffers keep their values. */
export async function filledStateDict(model: Module, untouched: Set<string> = new Set()): Promise<Map<string, StateEntry>> {
  const out = new Map<string, StateEntry>();
  for (const { key, shape, tensor } of model.stateDictKeys()) {
    const isInt = tensor instanceof Buffer && tensor.torchDtype !== 'float32';
    if (key.endsWith('num_batches_tracked') || untouched.has(key) || isInt) {
      // Asynchronous reads: the check runs on every backend, webgpu included.
      const data = (await tensor.variable.data()) as Float32Array | Int32Array;
      out.set(key, { data: data.slice(), shape, dtype: tensor instanceof Buffer ? tensor.torchDtype : 'float32' });
    } else {
      out.set(key, { data: fillValues(key, shape), shape, dtype: 'float32' });
    }
  }
  return out;
}

/** The documented input: x.flatten()[j] = sin(0.11 j), NCHW, returned as NHWC. */
export function referenceInput(nchw: number[]): tf.Tensor4D {
  const n = nchw.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let j = 0; j < n; j++) data[j] = Math.fround(Math.sin(0.11 * j));
  return tf.tidy(() => tf.transpose(tf.tensor4d(data, nchw as [number, number, number, number]), [0, 2, 3, 1]));
}

function flattenOutputs(out: unknown): tf.Tensor[] {
  if (out instanceof tf.Tensor) return [out];
  if (Array.isArray(out)) return out.flatMap(flattenOutputs);
  return [];
}

function refTensors(s: ReferenceTensorSummary): ReferenceTensorSummary[] {
  if (s.type === 'multi' && s.items) return s.items;
  return [s];
}

export interface CheckOptions {
  /** Compare logits (runs the forward pass). @default true */
  forward?: boolean;
  /** Logit tolerance relative to max |ref|. @default 1e-4 */
  logitsTol?: number;
  /** FLOPs tolerance (relative). @default 0.005 */
  flopsTol?: number;
}

/** Runs the parity check of one reference JSON. */
export async function checkReferenceModel(ref: ReferenceModel, name: string, options: CheckOptions = {}): Promise<ParityResult> {
  const t0 = Date.now();
  const result: ParityResult = { name, status: 'pass', problems: [], missingTypes: [], blindSpotModules: [], seconds: 0 };
  const missing = missingTypes(ref.model_cfg);
  if (missing.length) {
    result.status = 'skip';
    result.missingTypes = missing;
    result.seconds = (Date.now() - t0) / 1000;
    return result;
  }
  const problems = result.problems;
  let model: Module | null = null;
  try {
    model = MODELS.build<Module>(ref.model_cfg);
    model.eval();

    // Keys, order and PyTorch shapes.
    const ours = model.stateDictKeys();
    const refKeys = ref.state_dict;
    if (ours.length !== refKeys.length) problems.push(`state_dict has ${ours.length} keys, reference ${refKeys.length}`);
    const n = Math.min(ours.length, refKeys.length);
    let keyProblems = 0;
    for (let i = 0; i < n && keyProblems < 5; i++) {
      const [rk, rs] = refKeys[i];
      if (ours[i].key !== rk || ours[i].shape.join(',') !== rs.join(',')) {
        problems.push(`state_dict[${i}]: ours ${ours[i].key} [${ours[i].shape}], reference ${rk} [${rs}]`);
        keyProblems++;
      }
    }
    if (ours.length !== refKeys.length) {
      const ourSet = new Set(ours.map((e) => e.key));
      const refSet = new Set(refKeys.map((e) => e[0]));
      const extra = [...ourSet].filter((k) => !refSet.has(k)).slice(0, 5);
      const lacking = [...refSet].filter((k) => !ourSet.has(k)).slice(0, 5);
      if (extra.length) problems.push(`keys only here: ${extra.join(', ')}`);
      if (lacking.length) problems.push(`keys only in the reference: ${lacking.join(', ')}`);
    }

    // Parameter count.
    const params = model.numParameters();
    result.params = [params, ref.num_params];
    if (params !== ref.num_params) problems.push(`num_params ${params}, reference ${ref.num_params}`);

    // FLOPs by shape inference, total and per module.
    const [, c, h, w] = ref.input_shape;
    if (ref.flops_total !== null && ref.complexity?.per_module) {
      const cx = analyzeComplexity(model, [c, h, w]);
      const flopsTol = options.flopsTol ?? 0.005;
      result.flops = [cx.flops, ref.flops_total];
      const blind = Object.keys(ref.complexity.unsupported_ops ?? {}).some((op) => op === 'aten::_convolution_mode' || op === 'aten::im2col');
      const close = (a: number, b: number): boolean => Math.abs(a - b) <= flopsTol * Math.max(Math.abs(b), 1e-9) || a === b;
      const ourRows = new Map(cx.modules.map((m) => [m.name, m]));
      let flopProblems = 0;
      for (const [mod, [rf, rp, ra]] of Object.entries(ref.complexity.per_module)) {
        const row = ourRows.get(mod);
        if (!row) {
          if (flopProblems++ < 5) problems.push(`module ${JSON.stringify(mod)} is in the reference but not here`);
          continue;
        }
        if (!close(row.flops, rf)) {
          if (blind && row.flops > rf) result.blindSpotModules.push(mod);
          else if (flopProblems++ < 5) problems.push(`FLOPs of ${JSON.stringify(mod)}: ${row.flops}, reference ${rf}`);
        }
        if (row.params !== rp && flopProblems++ < 5) problems.push(`params of ${JSON.stringify(mod)}: ${row.params}, reference ${rp}`);
        if (!close(row.activations, ra) && !(blind && row.activations > ra) && flopProblems++ < 5) {
          problems.push(`activations of ${JSON.stringify(mod)}: ${row.activations}, reference ${ra}`);
        }
      }
    }

    // Weights by the formula, through loadStateDict (PyTorch layout in, converted once).
    if (!(options.forward ?? true)) {
      result.status = problems.length ? 'fail' : 'pass';
      result.seconds = (Date.now() - t0) / 1000;
      return result;
    }
    const untouched = new Set((ref.fill_untouched ?? []).map(([k]) => k));
    const report = model.loadStateDict(await filledStateDict(model, untouched), { strict: true });
    if (report.loaded === 0 && ours.length) problems.push('no tensor was loaded');
    if (ref.fill_check) {
      const sd = await model.stateDictAsync();
      let bad = 0;
      for (const [key, sum] of ref.fill_check) {
        const e = sd.get(key);
        if (!e) continue;
        let s = 0;
        for (let i = 0; i < e.data.length; i++) s += Number(e.data[i]);
        if (Math.abs(s - sum) > 1e-6 * Math.max(1, Math.abs(sum)) && bad++ < 3) problems.push(`fill of ${key}: sum ${s}, reference ${sum}`);
      }
    }

    // Logits.
    if (options.forward ?? true) {
      const outs = tf.tidy(() => {
        const x = referenceInput(ref.input_shape);
        const m = model as Module & { forwardTensor?: (x: tf.Tensor) => unknown; forward?: (x: tf.Tensor) => unknown };
        const y = m.forwardTensor ? m.forwardTensor(x) : m.forward!(x);
        return flattenOutputs(y).map((t) => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t));
      });
      const refs = refTensors(ref.logits);
      if (outs.length !== refs.length) problems.push(`the forward pass gave ${outs.length} tensors, reference ${refs.length}`);
      let worst = 0;
      for (let i = 0; i < Math.min(outs.length, refs.length); i++) {
        const o = outs[i];
        const r = refs[i];
        if (o.shape.join(',') !== r.shape.join(',')) {
          problems.push(`logits${refs.length > 1 ? `[${i}]` : ''} shape [${o.shape}], reference [${r.shape}]`);
          continue;
        }
        const vals = r.values ?? r.first16 ?? [];
        const data = await o.data();
        let maxRef = 0;
        let maxDiff = 0;
        for (let j = 0; j < vals.length; j++) {
          maxRef = Math.max(maxRef, Math.abs(vals[j]));
          const d = Math.abs(data[j] - vals[j]);
          if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
        }
        const rel = maxRef > 0 ? maxDiff / maxRef : maxDiff;
        worst = Math.max(worst, rel);
      }
      for (const o of outs) o.dispose();
      result.logitsRelError = worst;
      if (worst > (options.logitsTol ?? 1e-4)) problems.push(`logits: max |ours - ref| / max |ref| = ${worst.toExponential(2)} > ${options.logitsTol ?? 1e-4}`);
    }
  } catch (e) {
    problems.push(e instanceof Error ? `${e.name === 'MmclsError' ? '' : `${e.name}: `}${e.message}` : String(e));
  } finally {
    model?.dispose();
  }
  result.status = problems.length ? 'fail' : 'pass';
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}

/** Reads one reference JSON. */
export function readReference(file: string): ReferenceModel {
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new MmclsError(`${file}: not a readable JSON file (${(e as Error).message})`, { code: 'reference.bad-file' });
  }
  const d = data as ReferenceModel;
  if (!d || typeof d !== 'object' || !d.model_cfg || !Array.isArray(d.state_dict) || !Array.isArray(d.input_shape)) {
    throw new MmclsError(`${file}: not a reference model file (model_cfg, state_dict and input_shape are required)`, {
      code: 'reference.bad-file',
    });
  }
  return d;
}

/** The reference JSON files of a folder (`_index.json` and other `_*.json` left out), sorted. */
export function referenceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('_'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** One line of the parity report. */
export function formatParityLine(r: ParityResult): string {
  if (r.status === 'skip') return `SKIP ${r.name}: not implemented: ${r.missingTypes.join(', ')}`;
  const bits: string[] = [];
  if (r.logitsRelError !== undefined) bits.push(`logits rel ${r.logitsRelError.toExponential(2)}`);
  if (r.flops) bits.push(`flops ${r.flops[0]}/${r.flops[1]}`);
  if (r.params) bits.push(`params ${r.params[0]}`);
  if (r.blindSpotModules.length) bits.push(`reference counter blind spots: ${r.blindSpotModules.join(', ')}`);
  bits.push(`${r.seconds.toFixed(1)}s`);
  const head = `${r.status === 'pass' ? 'PASS' : 'FAIL'} ${r.name} (${bits.join(', ')})`;
  return r.status === 'fail' ? `${head}: ${r.problems.join('; ')}` : head;
}
