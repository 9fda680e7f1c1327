import { MmclsError } from '../../errors';
import { TensorData, isTensorData } from './tensor';

/**
 * Anything a checkpoint can carry besides the model weights: the values of a Python state dict
 * (None, bools, ints, floats, strings, bytes, lists, tuples, dicts) plus tensors anywhere inside.
 * Python ints beyond 2^53 are bigints; tuples and sets become arrays; dict keys become strings
 * (an optimizer's `state` is keyed by parameter index: `{"0": {...}}`).
 */
export type StateValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | TensorData
  | StateValue[]
  | StateObject;

export interface StateObject {
  [key: string]: StateValue;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// Markers for what JSON lacks. A plain object that happens to use a marker key is wrapped in
// {"__dict__": ...} so that it reads back as itself.
const TENSOR = '__tensor__';
const INT = '__int__';
const FLOAT = '__float__';
const BYTES = '__bytes__';
const DICT = '__dict__';
const MARKERS = new Set([TENSOR, INT, FLOAT, BYTES, DICT]);

export function isStateObject(v: unknown): v is StateObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && !isTensorData(v);
}

/**
 * The JSON form of a state value. Each tensor is handed to `putTensor` with its dotted path
 * (`optimizer.state.0.momentum_buffer`), which returns the key it is stored under.
 */
export function encodeState(v: StateValue, path: string, putTensor: (path: string, t: TensorData) => string): JsonValue {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (Number.isFinite(v)) return v;
    return { [FLOAT]: Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf' };
  }
  if (typeof v === 'bigint') return { [INT]: v.toString() };
  if (v instanceof Uint8Array) return { [BYTES]: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (isTensorData(v)) return { [TENSOR]: putTensor(path, v) };
  const join = (k: string | number): string => (path ? `${path}.${k}` : String(k));
  if (Array.isArray(v)) return v.map((x, i) => encodeState(x, join(i), putTensor));
  // Callers holding JavaScript collections get what Python would have: dicts and lists.
  const loose = v as unknown;
  if (loose instanceof Map) return encodeState(Object.fromEntries([...loose].map(([k, x]) => [String(k), x])) as StateObject, path, putTensor);
  if (loose instanceof Set) return encodeState([...loose] as StateValue[], path, putTensor);
  if (ArrayBuffer.isView(loose)) {
    throw new TypeError(`cannot store a bare ${loose.constructor.name} in a checkpoint (at '${path}'); wrap it as a tensor {dtype, shape, data}`);
  }
  if (typeof v === 'object') {
    const out: JsonObject = {};
    let marked = false;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      if (MARKERS.has(k)) marked = true;
      out[k] = encodeState(x, join(k), putTensor);
    }
    return marked ? { [DICT]: out } : out;
  }
  throw new TypeError(`cannot store a ${typeof v} in a checkpoint (at '${path}')`);
}

/** The inverse of `encodeState`; `getTensor` resolves a stored key (and throws if it is missing). */
export function decodeState(j: JsonValue, getTensor: (key: string) => TensorData, where: string, depth = 0): StateValue {
  if (j === null || typeof j !== 'object') return j;
  if (depth > 500) {
    throw new MmclsError('the checkpoint metadata is nested more than 500 levels deep (corrupt file)', { code: 'checkpoint.corrupt', location: { file: where } });
  }
  if (Array.isArray(j)) return j.map((x) => decodeState(x, getTensor, where, depth + 1));
  const keys = Object.keys(j);
  if (keys.length === 1 && MARKERS.has(keys[0])) {
    const k = keys[0];
    const x = j[k];
    if (k === DICT && isJsonObject(x)) return decodeObject(x, getTensor, where, depth);
    if (typeof x === 'string') {
      switch (k) {
        case TENSOR:
          return getTensor(x);
        case INT:
          if (/^-?\d+$/.test(x)) return BigInt(x);
          break;
        case FLOAT:
          if (x === 'nan') return NaN;
          if (x === 'inf') return Infinity;
          if (x === '-inf') return -Infinity;
          break;
        case BYTES:
          return new Uint8Array(Buffer.from(x, 'base64'));
      }
    }
    throw new MmclsError(`malformed checkpoint metadata: ${JSON.stringify(j).slice(0, 80)}`, {
      code: 'checkpoint.corrupt',
      location: { file: where },
    });
  }
  return decodeObject(j, getTensor, where, depth);
}

function decodeObject(j: JsonObject, getTensor: (key: string) => TensorData, where: string, depth: number): StateObject {
  const out: StateObject = {};
  for (const [k, x] of Object.entries(j)) out[k] = decodeState(x, getTensor, where, depth + 1);
  return out;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
