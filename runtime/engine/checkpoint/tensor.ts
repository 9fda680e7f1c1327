/**
 * The tensors a checkpoint holds, as plain typed arrays: no TensorFlow.js here, so that reading and
 * converting checkpoints works without a backend and the nn layer decides once how to load them.
 */

/** Element types, spelled as safetensors spells them. */
export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/**
 * The typed array each dtype is held in. F16 and BF16 keep their raw 16-bit patterns in a Uint16Array
 * (use `toFloat32`), I64 a BigInt64Array (use `toNumbers` or `toFloat32`), BOOL one byte per value.
 */
export interface DtypeArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}

export type TensorArray = DtypeArrays[Dtype];

/** One tensor: row-major (C-contiguous) data with the shape it was stored with. */
export interface TensorData {
  dtype: Dtype;
  /** Dimensions exactly as stored (PyTorch layout for weights: OIHW, [out, in], ...). */
  shape: number[];
  data: TensorArray;
}

interface DtypeInfo {
  size: number;
  make(buffer: ArrayBuffer, byteOffset: number, length: number): TensorArray;
  alloc(length: number): TensorArray;
  /** PyTorch's name for the same element type. */
  torch: string;
}

export const DTYPES: Readonly<Record<Dtype, DtypeInfo>> = {
  F64: { size: 8, torch: 'float64', make: (b, o, n) => new Float64Array(b, o, n), alloc: (n) => new Float64Array(n) },
  F32: { size: 4, torch: 'float32', make: (b, o, n) => new Float32Array(b, o, n), alloc: (n) => new Float32Array(n) },
  F16: { size: 2, torch: 'float16', make: (b, o, n) => new Uint16Array(b, o, n), alloc: (n) => new Uint16Array(n) },
  BF16: { size: 2, torch: 'bfloat16', make: (b, o, n) => new Uint16Array(b, o, n), alloc: (n) => new Uint16Array(n) },
  I64: { size: 8, torch: 'int64', make: (b, o, n) => new BigInt64Array(b, o, n), alloc: (n) => new BigInt64Array(n) },
  I32: { size: 4, torch: 'int32', make: (b, o, n) => new Int32Array(b, o, n), alloc: (n) => new Int32Array(n) },
  I16: { size: 2, torch: 'int16', make: (b, o, n) => new Int16Array(b, o, n), alloc: (n) => new Int16Array(n) },
  I8: { size: 1, torch: 'int8', make: (b, o, n) => new Int8Array(b, o, n), alloc: (n) => new Int8Array(n) },
  U8: { size: 1, torch: 'uint8', make: (b, o, n) => new Uint8Array(b, o, n), alloc: (n) => new Uint8Array(n) },
  BOOL: { size: 1, torch: 'bool', make: (b, o, n) => new Uint8Array(b, o, n), alloc: (n) => new Uint8Array(n) },
};

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** True for a value shaped like a TensorData (the only objects in a checkpoint that carry a typed array). */
export function isTensorData(v: unknown): v is TensorData {
  if (typeof v !== 'object' || v === null) return false;
  const t = v as Partial<TensorData>;
  return isDtype(t.dtype) && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

/**
 * A typed-array view of `length` elements at `byteOffset` of `bytes`, without a copy when the
 * position is aligned for the element type (typed arrays require it), else as an aligned copy.
 */
export function viewBytes(dtype: Dtype, bytes: Uint8Array, byteOffset: number, length: number): TensorArray {
  const info = DTYPES[dtype];
  const at = bytes.byteOffset + byteOffset;
  if (at % info.size === 0) return info.make(bytes.buffer as ArrayBuffer, at, length);
  const copy = new Uint8Array(length * info.size);
  copy.set(bytes.subarray(byteOffset, byteOffset + length * info.size));
  return info.make(copy.buffer, 0, length);
}

/** The tensor's bytes (little-endian, as in the file), without a copy. */
export function tensorBytes(t: TensorData): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half-precision bits to a number (subnormals, infinities and NaN included). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 bits to a number: the upper half of a float32. */
export function bfloat16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** The values as float32 (a copy, except for F32 data, which is returned as is). */
export function toFloat32(t: TensorData): Float32Array {
  const d = t.data;
  switch (t.dtype) {
    case 'F32':
      return d as Float32Array;
    case 'F16': {
      const src = d as Uint16Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i]);
      return out;
    }
    case 'BF16': {
      const src = d as Uint16Array;
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return out;
    }
    case 'I64': {
      const src = d as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    default:
      return Float32Array.from(d as Exclude<TensorArray, BigInt64Array>);
  }
}

/** The values as JavaScript numbers (I64 beyond 2^53 loses precision; F16/BF16 decoded). */
export function toNumbers(t: TensorData): number[] {
  if (t.dtype === 'I64') return Array.from(t.data as BigInt64Array, (x) => Number(x));
  if (t.dtype === 'F16' || t.dtype === 'BF16') return Array.from(toFloat32(t));
  return Array.from(t.data as Exclude<TensorArray, BigInt64Array>);
}

/**
 * A state-dict entry as runtime/nn's `Module.stateDict()` gives it and `loadStateDict()` takes it:
 * PyTorch dtype names (`float32`, `int64`, ...; float32 when absent) and plain numeric arrays.
 * Declared here structurally so that reading checkpoints does not load TensorFlow.js.
 */
export interface TorchEntry {
  data: Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array | number[];
  shape: number[];
  dtype?: string;
}

const FROM_TORCH: Record<string, Dtype> = {};
for (const d of Object.keys(DTYPES) as Dtype[]) FROM_TORCH[DTYPES[d].torch] = d;
Object.assign(FROM_TORCH, { float: 'F32', double: 'F64', half: 'F16', long: 'I64', int: 'I32', short: 'I16' });

/**
 * A TensorData from a torch-style entry: `num_batches_tracked` held as an Int32Array with dtype
 * `int64` becomes a BigInt64Array, number[] a typed array of the dtype, and so on.
 */
export function fromTorchEntry(e: TorchEntry, name = 'tensor'): TensorData {
  const dtype = FROM_TORCH[e.dtype ?? 'float32'];
  if (!dtype) throw new TypeError(`${name}: unknown dtype '${e.dtype}'`);
  const n = numel(e.shape);
  if (e.data.length !== n) throw new TypeError(`${name}: ${e.data.length} values for shape [${e.shape.join(', ')}]`);
  const info = DTYPES[dtype];
  const want = info.alloc(0).constructor;
  if (e.data.constructor === want && dtype !== 'F16' && dtype !== 'BF16') return { dtype, shape: [...e.shape], data: e.data as TensorArray };
  const out = info.alloc(n);
  if (dtype === 'I64') {
    const o = out as BigInt64Array;
    for (let i = 0; i < n; i++) o[i] = BigInt(Math.trunc(Number(e.data[i])));
  } else if (dtype === 'F16' || dtype === 'BF16') {
    if (e.data instanceof Uint8Array || e.data instanceof BigInt64Array || e.data instanceof Int32Array) {
      throw new TypeError(`${name}: ${dtype} data must be given as floats`);
    }
    const o = out as Uint16Array;
    for (let i = 0; i < n; i++) o[i] = dtype === 'F16' ? floatToHalf(Number(e.data[i])) : floatToBfloat16(Number(e.data[i]));
  } else {
    const o = out as Exclude<TensorArray, BigInt64Array>;
    for (let i = 0; i < n; i++) o[i] = Number(e.data[i]);
  }
  return { dtype, shape: [...e.shape], data: out };
}

/**
 * A torch-style entry for `Module.loadStateDict`: F16/BF16 decoded to Float32Array, I8/I16 widened
 * to Int32Array, BOOL as Uint8Array; the dtype keeps PyTorch's name. Typed arrays are shared, not copied.
 */
export function toTorchEntry(t: TensorData): TorchEntry & { dtype: string } {
  const torch = DTYPES[t.dtype].torch;
  switch (t.dtype) {
    case 'F16':
    case 'BF16':
      return { dtype: torch, shape: t.shape, data: toFloat32(t) };
    case 'I16':
    case 'I8':
      return { dtype: torch, shape: t.shape, data: Int32Array.from(t.data as Int16Array | Int8Array) };
    default:
      return { dtype: torch, shape: t.shape, data: t.data as Float32Array | Float64Array | Int32Array | Uint8Array | BigInt64Array };
  }
}

/** Round-to-nearest-even float to IEEE half bits. */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/** Round-to-nearest-even float to bfloat16 bits. */
export function floatToBfloat16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
