import * as tf from '@tensorflow/tfjs-core';

/** A trainable parameter and the name it has in the model's state dict (`backbone.conv1.weight`). */
export interface NamedParam {
  name: string;
  variable: tf.Variable;
}

/**
 * One parameter group, as PyTorch's `optimizer.param_groups[i]`: the parameters plus the
 * hyper-parameters that apply to them (`lr`, `weight_decay`, `momentum`, `betas`, ...). Schedulers
 * write into groups by key (`lr`, `momentum`, `initial_lr`, ...), so keys are the PyTorch names.
 */
export interface ParamGroup {
  params: NamedParam[];
  lr: number;
  [key: string]: unknown;
}

/** What optimizers accept as `params`: parameters (one group) or partial groups that override defaults. */
export type ParamsInput = NamedParam[] | Array<{ params: NamedParam[]; [key: string]: unknown }>;

/** Gradients by variable. `OptimWrapper` produces these from `tf.variableGrads`. */
export type GradMap = Map<tf.Variable, tf.Tensor>;

/**
 * A tensor in a state dict, as the checkpoint code stores it: row-major data with its shape.
 * Optimizers write float32 (`F32`); loading also accepts `F64`, `F16`, `BF16`, `I32` and `I64`.
 */
export interface StateTensor {
  dtype: 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';
  shape: number[];
  data: Float64Array | Float32Array | Uint16Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array;
}

/** A JSON-able value, possibly with state tensors inside (what checkpoints serialise). */
export type StateValue = null | boolean | number | string | StateTensor | StateValue[] | { [key: string]: StateValue };

/**
 * `optimizer.state_dict()` in PyTorch's layout: `state` keyed by the parameter's index (counted
 * over all groups in order, as strings), `param_groups` with `params` as lists of those indices.
 * `param_names` (an addition) lists the parameter names of each group so that a mismatch is caught.
 */
export interface OptimizerStateDict {
  state: { [index: string]: { [key: string]: StateValue } };
  param_groups: Array<{ params: number[]; [key: string]: StateValue }>;
  [key: string]: StateValue;
}

export function isStateTensor(v: unknown): v is StateTensor {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as StateTensor).dtype === 'string' &&
    Array.isArray((v as StateTensor).shape) &&
    ArrayBuffer.isView((v as StateTensor).data)
  );
}

/** Reads a tensor into a state tensor (float32, a copy). */
export function toStateTensor(t: tf.Tensor): StateTensor {
  const data = t.dtype === 'float32' ? (t.dataSync() as Float32Array).slice() : Float32Array.from(t.dataSync() as ArrayLike<number>);
  return { dtype: 'F32', shape: t.shape.slice(), data };
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

/** Makes a float32 tensor from a state tensor (any numeric dtype). */
export function fromStateTensor(s: StateTensor): tf.Tensor {
  let values: Float32Array;
  if (s.dtype === 'F16') {
    values = Float32Array.from(s.data as Uint16Array, halfToFloat);
  } else if (s.dtype === 'BF16') {
    const u32 = new Uint32Array((s.data as Uint16Array).length);
    (s.data as Uint16Array).forEach((v, i) => (u32[i] = v << 16));
    values = new Float32Array(u32.buffer);
  } else if (s.data instanceof BigInt64Array) {
    values = Float32Array.from(s.data, (v) => Number(v));
  } else {
    values = Float32Array.from(s.data as ArrayLike<number>);
  }
  return tf.tensor(values, s.shape, 'float32');
}

/** Reads a numeric hyper-parameter of a group, with a clear error when it is missing. */
export function groupNumber(group: ParamGroup, key: string): number {
  const v = group[key];
  if (typeof v !== 'number') {
    throw new Error(`param group has no numeric "${key}" (got ${JSON.stringify(v)})`);
  }
  return v;
}
