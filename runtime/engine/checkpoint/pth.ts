/**
 * PyTorch `.pth` files without PyTorch and without running the pickle's code.
 *
 * The current format (`torch.save` since 1.6) is a ZIP archive `<name>/data.pkl` +
 * `<name>/data/<key>` (one raw little-endian storage per key). The legacy format
 * (`_use_new_zipfile_serialization=False`) is five pickles in a row: magic number, protocol
 * version, system info, the object, the list of storage keys, followed by the storages (each an
 * int64 element count and the raw bytes). In both, tensors are pickled as calls to
 * `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)` with the storage as a
 * persistent id; those calls, and the handful of other globals a state dict uses, are re-implemented
 * here on plain typed arrays. Every other global is refused.
 */
import { MmclsError } from '../../errors';
import { PyCallable, PyDict, PyMarker, PySet, PyTuple, unpickle, unsafeGlobal } from './pickle';
import { StateValue, StateObject } from './state';
import { DTYPES, Dtype, TensorData, halfToFloat, numel, viewBytes } from './tensor';
import { ZipReader, isZip } from './zip';

const STORAGE_TYPES: Record<string, Dtype> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
  UntypedStorage: 'U8',
};

const TORCH_DTYPES = ['float64', 'float32', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool', 'float', 'double', 'half', 'long', 'int'];

/** Shown in the error for a refused global. */
const ALLOWED_SUMMARY =
  'collections.OrderedDict, collections.Counter, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter, torch.<Type>Storage, ' +
  'torch.Size, torch.device, torch dtypes, builtins.set, _codecs.encode, numpy scalars, dtypes and arrays, ' +
  "MMEngine's HistoryBuffer";

/** A storage: raw bytes of one dtype. Legacy files fill the bytes in after the object pickle. */
class Storage {
  bytes?: Uint8Array;
  constructor(readonly dtype: Dtype, readonly key: string) {}
}

/** A tensor named in the pickle; its values are gathered once all storages are known. */
class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
  setState(): void {
    // A Parameter's or subclass's Python attributes; a state dict has no use for them.
  }
}

/**
 * Plain-data Python classes that MMEngine puts into training checkpoints (the message hub's
 * HistoryBuffer: a max length and two numpy arrays). They are rebuilt as their attribute dicts,
 * `{"__class__": "mmengine.logging.history_buffer.HistoryBuffer", ...}`; no Python code is involved.
 */
const DATA_CLASSES = ['mmengine.logging.history_buffer.HistoryBuffer'];

class PyObject {
  readonly attrs = new PyDict();
  constructor(readonly qualname: string) {}
  setState(state: unknown): void {
    const dict = state instanceof PyTuple ? state.items[0] : state;
    if (dict instanceof PyDict) for (const [k, v] of dict.map) this.attrs.map.set(k, v);
  }
}

class NpDtype {
  byteorder = '=';
  constructor(readonly str: string) {}
  setState(state: unknown): void {
    if (state instanceof PyTuple && typeof state.items[1] === 'string') this.byteorder = state.items[1];
  }
  get kind(): string {
    return this.str.replace(/^[<>=|]/, '')[0];
  }
  get itemsize(): number {
    const m = /(\d+)$/.exec(this.str);
    const n = m ? Number(m[1]) : this.kind === 'b' || this.kind === '?' ? 1 : 0;
    return this.kind === 'U' ? n * 4 : n;
  }
}

/** A numpy array being unpickled: `_reconstruct(ndarray, (0,), b'b')`, then BUILD with its data. */
class NpArray {
  value?: TensorData;
  constructor(private readonly file: string) {}
  setState(state: unknown): void {
    if (!(state instanceof PyTuple) || state.items.length < 5) throw badNumpy(this.file, 'unexpected array state');
    const [, shapeT, dtype, fortran, rawData] = state.items;
    const shape = shapeT instanceof PyTuple ? shapeT.items.map(Number) : [];
    if (!(dtype instanceof NpDtype)) throw badNumpy(this.file, 'array without a dtype');
    if (!(rawData instanceof Uint8Array)) throw badNumpy(this.file, `arrays of dtype '${dtype.str}' (Python objects) are not supported`);
    const dt = npToDtype(dtype);
    if (!dt || dtype.byteorder === '>') throw badNumpy(this.file, `arrays of dtype '${dtype.str}' are not supported`);
    const n = numel(shape);
    if (rawData.length !== n * DTYPES[dt].size) throw badNumpy(this.file, 'array data has the wrong size');
    let data = viewBytes(dt, rawData, 0, n);
    if (fortran === true && shape.length > 1) {
      // Column-major data: transpose into row-major.
      const strides: number[] = [];
      let s = 1;
      for (const d of shape) (strides.push(s), (s *= d));
      data = gather(dt, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, shape, strides);
    }
    this.value = { dtype: dt, shape, data };
  }
}

function badNumpy(file: string, what: string): MmclsError {
  return new MmclsError(`cannot read a numpy value in the checkpoint: ${what}`, { code: 'checkpoint.unsupported', location: { file } });
}

function npToDtype(d: NpDtype): Dtype | undefined {
  const k = d.kind;
  const size = d.itemsize;
  if (k === 'f') return ({ 2: 'F16', 4: 'F32', 8: 'F64' } as Record<number, Dtype>)[size];
  if (k === 'i') return ({ 1: 'I8', 2: 'I16', 4: 'I32', 8: 'I64' } as Record<number, Dtype>)[size];
  if (k === 'u' && size === 1) return 'U8';
  if (k === 'b' || k === '?') return 'BOOL';
  return undefined;
}

/** `numpy.core.multiarray.scalar(dtype, bytes)`: one value decoded from its bytes. */
function npScalar(file: string, dtype: unknown, data: unknown): StateValue {
  if (!(dtype instanceof NpDtype) || !(data instanceof Uint8Array)) throw badNumpy(file, 'unexpected scalar');
  const le = dtype.byteorder !== '>';
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const k = dtype.kind;
  const size = dtype.itemsize;
  if (data.length < size) throw badNumpy(file, 'scalar data too short');
  if (k === 'f' && size === 8) return dv.getFloat64(0, le);
  if (k === 'f' && size === 4) return dv.getFloat32(0, le);
  if (k === 'f' && size === 2) return halfToFloat(dv.getUint16(0, le));
  if (k === 'i' || k === 'u') {
    let v = 0n;
    for (let i = 0; i < size; i++) v |= BigInt(data[le ? i : size - 1 - i]) << BigInt(8 * i);
    if (k === 'i' && size > 0 && v >= 1n << BigInt(8 * size - 1)) v -= 1n << BigInt(8 * size);
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  }
  if (k === 'b' || k === '?') return data[0] !== 0;
  if (k === 'U') {
    let s = '';
    for (let i = 0; i + 4 <= size; i += 4) {
      const c = dv.getUint32(i, le);
      if (c === 0) break;
      s += String.fromCodePoint(c);
    }
    return s;
  }
  if (k === 'S') return Buffer.from(data.subarray(0, size)).toString('latin1').replace(/\0+$/, '');
  throw badNumpy(file, `scalars of dtype '${dtype.str}' are not supported`);
}

/** Row-major copy of a strided view (offset and strides in elements). */
function gather(dtype: Dtype, bytes: Uint8Array, offset: number, size: number[], stride: number[]): TensorData['data'] {
  const info = DTYPES[dtype];
  const src = viewBytes(dtype, bytes, 0, Math.floor(bytes.length / info.size)) as unknown as { [i: number]: number | bigint };
  const n = numel(size);
  const out = info.alloc(n) as unknown as { [i: number]: number | bigint };
  if (n === 0) return out as unknown as TensorData['data'];
  const nd = size.length;
  const inner = nd ? size[nd - 1] : 1;
  const innerStride = nd ? stride[nd - 1] : 0;
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  let base = offset;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, s = base; j < inner; j++, s += innerStride) out[o + j] = src[s];
    // Advance the outer index (all dimensions but the last), odometer style.
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      base += stride[d];
      if (idx[d] < size[d]) break;
      base -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out as unknown as TensorData['data'];
}

function intList(v: unknown): number[] | undefined {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items || !items.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0)) return undefined;
  return items as number[];
}

interface Globals {
  resolve(module: string, name: string): PyCallable | PyMarker;
}

function makeGlobals(file: string): Globals {
  const bad = (what: string): MmclsError =>
    new MmclsError(`unexpected tensor description in the checkpoint: ${what}`, { code: 'checkpoint.corrupt', location: { file } });
  const rebuildTensor = (args: unknown[]): TensorRef => {
    const [storage, offset, sizeT, strideT] = args;
    if (!(storage instanceof Storage)) throw bad('a tensor without a storage');
    const size = intList(sizeT);
    const stride = intList(strideT);
    if (typeof offset !== 'number' || !size || !stride || size.length !== stride.length) throw bad('malformed size or stride');
    return new TensorRef(storage, offset, size, stride);
  };
  const table = new Map<string, PyCallable | PyMarker>();
  const fn = (q: string, f: (args: unknown[]) => unknown): void => void table.set(q, new PyCallable(q, f));
  fn('collections.OrderedDict', (args) => {
    const d = new PyDict();
    const init = args[0];
    const pairs = init instanceof PyTuple ? init.items : Array.isArray(init) ? init : [];
    for (const pair of pairs) {
      if (pair instanceof PyTuple && pair.items.length === 2) d.map.set(pair.items[0], pair.items[1]);
    }
    return d;
  });
  // MMEngine's MultiStepLR keeps its milestones in a Counter: a dict.
  fn('collections.Counter', (args) => {
    const d = new PyDict();
    if (args[0] instanceof PyDict) for (const [k, v] of args[0].map) d.map.set(k, v);
    return d;
  });
  fn('torch._utils._rebuild_tensor_v2', rebuildTensor);
  fn('torch._utils._rebuild_tensor', rebuildTensor);
  fn('torch._utils._rebuild_parameter', (args) => args[0]);
  fn('torch._utils._rebuild_parameter_with_state', (args) => args[0]);
  fn('torch._tensor._rebuild_from_type_v2', (args) => {
    const [f, newType, fargs] = args;
    if (!(f instanceof PyCallable) || !(newType instanceof PyMarker) || !(fargs instanceof PyTuple)) throw bad('malformed _rebuild_from_type_v2');
    return f.call(fargs.items);
  });
  for (const q of DATA_CLASSES) fn(q, () => new PyObject(q));
  // Protocol 0/1 pickles of plain classes: copyreg._reconstructor(cls, object, None).
  fn('copyreg._reconstructor', (args) => {
    const [cls] = args;
    if (!(cls instanceof PyCallable) || !DATA_CLASSES.includes(cls.qualname)) {
      throw unsafeGlobal(file, `copyreg._reconstructor(${cls instanceof PyCallable || cls instanceof PyMarker ? cls.qualname : '?'})`, ALLOWED_SUMMARY);
    }
    return new PyObject(cls.qualname);
  });
  table.set('builtins.object', new PyMarker('builtins.object'));
  fn('torch.Size', (args) => new PyTuple(intList(args[0]) ?? []));
  fn('torch.device', (args) => args.map(String).join(':'));
  fn('builtins.set', (args) => new PySet(args[0] instanceof PyTuple ? args[0].items : Array.isArray(args[0]) ? args[0] : []));
  fn('builtins.frozenset', (args) => new PySet(args[0] instanceof PyTuple ? args[0].items : Array.isArray(args[0]) ? args[0] : []));
  fn('_codecs.encode', (args) => {
    // Protocol 2 has no bytes type: b'..' is pickled as _codecs.encode('..', 'latin1').
    const [s, enc] = args;
    if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw bad('unsupported _codecs.encode call');
    return new Uint8Array(Buffer.from(s, 'latin1'));
  });
  for (const [name] of Object.entries(STORAGE_TYPES)) table.set(`torch.${name}`, new PyMarker(`torch.${name}`, name));
  for (const d of TORCH_DTYPES) table.set(`torch.${d}`, new PyMarker(`torch.${d}`));
  table.set('torch.Tensor', new PyMarker('torch.Tensor'));
  table.set('torch.nn.parameter.Parameter', new PyMarker('torch.nn.parameter.Parameter'));
  for (const np of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    fn(`${np}.scalar`, (args) => npScalar(file, args[0], args[1]));
    fn(`${np}._reconstruct`, (args) => {
      if (!(args[0] instanceof PyMarker) || args[0].qualname !== 'numpy.ndarray') throw badNumpy(file, 'only plain numpy arrays are supported');
      return new NpArray(file);
    });
  }
  table.set('numpy.ndarray', new PyMarker('numpy.ndarray'));
  fn('numpy.dtype', (args) => {
    if (typeof args[0] !== 'string') throw badNumpy(file, 'unexpected dtype');
    return new NpDtype(args[0]);
  });
  return {
    resolve(module, name) {
      const q = `${module}.${name}`;
      const g = table.get(q);
      if (!g && (/^torch\.\w+Storage$/.test(q) || q.startsWith('torch._utils._rebuild_'))) {
        // PyTorch's own kinds of tensor that we have no use for: say so rather than cry wolf.
        throw new MmclsError(
          `the checkpoint holds tensors that need '${q}' (quantized, complex, sparse or device-specific tensors), which are not supported. Nothing was executed.`,
          { code: 'checkpoint.unsupported', location: { file } },
        );
      }
      if (!g) throw unsafeGlobal(file, q, ALLOWED_SUMMARY);
      return g;
    },
  };
}

export type PthFormat = 'pth' | 'pth-legacy';

export interface PthContent {
  /** The unpickled object, with tensors as TensorData (typically `{meta, state_dict, optimizer}`). */
  value: StateValue;
  format: PthFormat;
}

/** Read a `.pth` file held in memory. */
export function readPth(bytes: Uint8Array, file: string): PthContent {
  if (isZip(bytes)) return { value: readZipPth(bytes, file), format: 'pth' };
  if (bytes.length > 262 && Buffer.from(bytes.subarray(257, 262)).toString('latin1') === 'ustar') {
    throw new MmclsError(
      `this checkpoint uses PyTorch's oldest (tar) format, which is not supported. Re-save it in Python: ` +
        "torch.save(torch.load(f), 'new.pth', _use_new_zipfile_serialization=True).",
      { code: 'checkpoint.unsupported', location: { file } },
    );
  }
  if (bytes.length > 2 && bytes[0] === 0x80 && bytes[1] <= 5) return { value: readLegacyPth(bytes, file), format: 'pth-legacy' };
  throw new MmclsError(
    `not a PyTorch checkpoint (neither a ZIP archive nor a pickle). If the file is complete, re-save it in Python with ` +
      "torch.save(obj, 'new.pth', _use_new_zipfile_serialization=True).",
    { code: 'checkpoint.corrupt', location: { file } },
  );
}

function readZipPth(bytes: Uint8Array, file: string): StateValue {
  const zip = new ZipReader(bytes, file);
  const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    const torchscript = [...zip.entries.keys()].some((n) => /\/constants\.pkl$/.test(n));
    throw new MmclsError(
      torchscript
        ? `this is a TorchScript archive (torch.jit.save), not a checkpoint; save the model's state_dict with torch.save instead.`
        : `the archive has no data.pkl; it is not a PyTorch checkpoint.`,
      { code: 'checkpoint.unsupported', location: { file } },
    );
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = zip.entries.get(`${prefix}byteorder`);
  if (order && Buffer.from(zip.read(`${prefix}byteorder`)).toString() !== 'little') {
    throw new MmclsError(`the checkpoint was saved on a big-endian machine, which is not supported.`, { code: 'checkpoint.unsupported', location: { file } });
  }
  const globals = makeGlobals(file);
  const storages = new Map<string, Storage>();
  const { value } = unpickle(zip.read(pkl), {
    file,
    resolveGlobal: globals.resolve,
    persistentLoad(pid) {
      const [tag, type, key] = pid instanceof PyTuple ? pid.items : [];
      if (tag !== 'storage' || !(type instanceof PyMarker) || typeof key !== 'string') {
        throw new MmclsError(`unexpected persistent id in the checkpoint`, { code: 'checkpoint.corrupt', location: { file } });
      }
      let s = storages.get(key);
      if (!s) {
        s = new Storage(STORAGE_TYPES[String(type.info)], key);
        s.bytes = zip.read(`${prefix}data/${key}`);
        storages.set(key, s);
      }
      return s;
    },
  });
  return materialize(value, file);
}

function readLegacyPth(bytes: Uint8Array, file: string): StateValue {
  const globals = makeGlobals(file);
  const noGlobals = (module: string, name: string): never => {
    throw unsafeGlobal(file, `${module}.${name}`, 'none in the header of a checkpoint');
  };
  let pos = 0;
  const next = (resolveGlobal: (m: string, n: string) => PyCallable | PyMarker, persistentLoad?: (pid: unknown) => unknown): unknown => {
    const r = unpickle(bytes, { file, resolveGlobal, persistentLoad }, pos);
    pos = r.end;
    return r.value;
  };
  const magic = next(noGlobals);
  if (magic !== 0x1950a86a20f9469cfc6cn) {
    throw new MmclsError(`a pickle, but not a PyTorch checkpoint (the magic number is missing).`, { code: 'checkpoint.corrupt', location: { file } });
  }
  const protocol = next(noGlobals);
  if (protocol !== 1001) throw new MmclsError(`unsupported legacy checkpoint protocol ${String(protocol)}.`, { code: 'checkpoint.unsupported', location: { file } });
  const sysInfo = next(noGlobals);
  if (sysInfo instanceof PyDict && sysInfo.map.get('little_endian') === false) {
    throw new MmclsError(`the checkpoint was saved on a big-endian machine, which is not supported.`, { code: 'checkpoint.unsupported', location: { file } });
  }
  const storages = new Map<string, Storage>();
  const views: Array<{ view: Storage; root: Storage; offset: number; size: number }> = [];
  const value = next(globals.resolve, (pid) => {
    const items = pid instanceof PyTuple ? pid.items : [];
    const [tag, type, rootKey, , , viewMeta] = items;
    if (tag !== 'storage' || !(type instanceof PyMarker) || typeof rootKey !== 'string') {
      throw new MmclsError(`unexpected persistent id in the checkpoint`, { code: 'checkpoint.corrupt', location: { file } });
    }
    const dtype = STORAGE_TYPES[String(type.info)];
    let root = storages.get(rootKey);
    if (!root) storages.set(rootKey, (root = new Storage(dtype, rootKey)));
    if (viewMeta instanceof PyTuple) {
      const [viewKey, offset, size] = viewMeta.items;
      const view = new Storage(dtype, String(viewKey));
      views.push({ view, root, offset: Number(offset), size: Number(size) });
      return view;
    }
    return root;
  });
  const keys = next(noGlobals);
  if (!Array.isArray(keys)) throw new MmclsError(`the list of storages is missing`, { code: 'checkpoint.corrupt', location: { file } });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys) {
    const s = storages.get(String(key));
    if (!s) throw new MmclsError(`storage ${String(key)} is not used by any tensor`, { code: 'checkpoint.corrupt', location: { file } });
    if (pos + 8 > bytes.length) throw truncated(file);
    const n = Number(dv.getBigInt64(pos, true));
    const len = n * DTYPES[s.dtype].size;
    pos += 8;
    if (n < 0 || pos + len > bytes.length) throw truncated(file);
    s.bytes = bytes.subarray(pos, pos + len);
    pos += len;
  }
  for (const v of views) {
    if (!v.root.bytes) throw truncated(file);
    const es = DTYPES[v.root.dtype].size;
    v.view.bytes = v.root.bytes.subarray(v.offset * es, (v.offset + v.size) * es);
  }
  return materialize(value, file);
}

function truncated(file: string): MmclsError {
  return new MmclsError(`the checkpoint ends early; it is truncated (an interrupted download or save?). Download or save it again.`, {
    code: 'checkpoint.corrupt',
    location: { file },
  });
}

/** Replace the reader's stand-ins by state values: tensors, plain objects, arrays. */
function materialize(root: unknown, file: string): StateValue {
  const tensors = new Map<TensorRef, TensorData>();
  const seen = new Map<unknown, StateValue>();
  const tensor = (r: TensorRef): TensorData => {
    let t = tensors.get(r);
    if (t) return t;
    const { storage, offset, size, stride } = r;
    const bytes = storage.bytes;
    if (!bytes) throw truncated(file);
    const es = DTYPES[storage.dtype].size;
    const count = bytes.length / es;
    const n = numel(size);
    let last = offset;
    for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
    if (n > 0 && (offset < 0 || last >= count)) {
      throw new MmclsError(`a tensor of shape [${size.join(', ')}] reaches past the end of its storage (${count} values); the file is corrupt`, {
        code: 'checkpoint.corrupt',
        location: { file },
      });
    }
    let contiguous = true;
    for (let d = size.length - 1, s = 1; d >= 0; d--) {
      if (size[d] !== 1 && stride[d] !== s) contiguous = false;
      s *= size[d];
    }
    const data = n === 0 ? DTYPES[storage.dtype].alloc(0) : contiguous ? viewBytes(storage.dtype, bytes, offset * es, n) : gather(storage.dtype, bytes, offset, size, stride);
    t = { dtype: storage.dtype, shape: [...size], data };
    tensors.set(r, t);
    return t;
  };
  const key = (k: unknown): string => {
    if (typeof k === 'string') return k;
    if (k === null) return 'None';
    if (typeof k === 'boolean') return k ? 'True' : 'False';
    return String(k);
  };
  // Pickles can share and nest objects; a hostile one can make a list contain itself, nest
  // thousands deep, or share sub-lists so that the tree they stand for is exponentially large.
  // Those are errors here, before anything walks the result recursively.
  const MAX_DEPTH = 500;
  const MAX_NODES = 20_000_000;
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  let nodes = 0;
  const tooBig = (what: string): MmclsError =>
    new MmclsError(`the checkpoint's data ${what}; it is not a state dict (corrupt or hostile file)`, { code: 'checkpoint.corrupt', location: { file } });
  const walk = (v: unknown, depth: number): StateValue => {
    if (v === null || typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'string') return v;
    if (v instanceof Uint8Array) return v;
    if (v instanceof TensorRef) return tensor(v);
    if (open.has(v)) throw tooBig('contains itself');
    if (depth > MAX_DEPTH) throw tooBig(`is nested more than ${MAX_DEPTH} levels deep`);
    if (seen.has(v)) {
      nodes += sizes.get(v) ?? 1;
      if (nodes > MAX_NODES) throw tooBig(`expands to more than ${MAX_NODES} values`);
      return seen.get(v) as StateValue;
    }
    const start = nodes++;
    open.add(v);
    let out: StateValue;
    if (v instanceof PyDict || v instanceof PyObject) {
      const o: StateObject = v instanceof PyObject ? { __class__: v.qualname } : {};
      seen.set(v, o);
      for (const [k, x] of (v instanceof PyObject ? v.attrs : v).map) o[key(k)] = walk(x, depth + 1);
      out = o;
    } else if (v instanceof PyTuple || v instanceof PySet || Array.isArray(v)) {
      const o: StateValue[] = [];
      seen.set(v, o);
      for (const x of Array.isArray(v) ? v : v.items) o.push(walk(x, depth + 1));
      out = o;
    } else if (v instanceof NpArray) {
      if (!v.value) throw badNumpy(file, 'array without data');
      out = v.value;
    } else if (v instanceof NpDtype) out = v.str;
    else if (v instanceof PyMarker || v instanceof PyCallable) out = v.qualname;
    else if (v instanceof Storage) {
      throw new MmclsError(`the checkpoint holds a bare storage, which is not supported`, { code: 'checkpoint.unsupported', location: { file } });
    } else throw new Error(`internal: unexpected unpickled value ${Object.prototype.toString.call(v)}`);
    open.delete(v);
    sizes.set(v, nodes - start);
    if (nodes > MAX_NODES) throw tooBig(`expands to more than ${MAX_NODES} values`);
    return out;
  };
  return walk(root, 0);
}
