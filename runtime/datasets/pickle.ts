/**
 * A pickle reader for data files (CIFAR batches, OpenMMLab .pkl annotations) that executes nothing.
 * Strings of Python 2 pickles are read as latin-1 (what `pickle.load(f, encoding='latin1')` does, as
 * MMClassification reads CIFAR). The only globals accepted are the ones NumPy arrays and Python 3
 * bytes need (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`,
 * `_codecs.encode`); they are interpreted as data and nothing is imported or called.
 */
import { MmclsError } from '../errors';

/** A NumPy array read from a pickle: its dtype string (e.g. '|u1', '<i8'), shape and raw bytes. */
export class PickledArray {
  constructor(
    readonly dtype: string,
    readonly shape: number[],
    readonly bytes: Uint8Array,
    readonly fortran: boolean,
  ) {}

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** The elements as numbers (row-major). */
  toNumbers(): number[] {
    const dt = this.dtype;
    const kind = dt.slice(1, 2);
    const bytes = Number(dt.slice(2));
    const little = dt[0] !== '>';
    const dv = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    const out: number[] = [];
    for (let i = 0; i < this.size; i++) {
      const o = i * bytes;
      if (kind === 'u' && bytes === 1) out.push(this.bytes[o]);
      else if (kind === 'i' && bytes === 1) out.push(dv.getInt8(o));
      else if (kind === 'u' && bytes === 2) out.push(dv.getUint16(o, little));
      else if (kind === 'i' && bytes === 2) out.push(dv.getInt16(o, little));
      else if (kind === 'u' && bytes === 4) out.push(dv.getUint32(o, little));
      else if (kind === 'i' && bytes === 4) out.push(dv.getInt32(o, little));
      else if (kind === 'i' && bytes === 8) out.push(Number(dv.getBigInt64(o, little)));
      else if (kind === 'u' && bytes === 8) out.push(Number(dv.getBigUint64(o, little)));
      else if (kind === 'f' && bytes === 4) out.push(dv.getFloat32(o, little));
      else if (kind === 'f' && bytes === 8) out.push(dv.getFloat64(o, little));
      else if (kind === 'b' && bytes === 1) out.push(this.bytes[o]);
      else throw new MmclsError(`unsupported NumPy dtype ${dt} in pickle`, { code: 'pickle.dtype' });
    }
    return out;
  }
}

class Global {
  constructor(readonly name: string) {}
}
class DType {
  descr = '';
  constructor(readonly base: string) {}
}
class Tuple {
  constructor(readonly items: unknown[]) {}
}
const MARK = Symbol('mark');

const ALLOWED = new Set([
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.ndarray',
  'numpy.dtype',
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
  '_codecs.encode',
  '__builtin__.set',
  'builtins.set',
]);

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
function fromLatin1(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** Python tuples come back as arrays; dicts as plain objects (keys as strings); arrays as PickledArray. */
export function loadPickle(bytes: Uint8Array, file = '<bytes>'): unknown {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  const fail = (msg: string) => new MmclsError(`cannot read pickle ${file} at byte ${p}: ${msg}`, { code: 'pickle.corrupt', location: { file } });
  const need = (n: number) => {
    if (p + n > bytes.length) throw fail('the data ends early (truncated file)');
    const at = p;
    p += n;
    return at;
  };
  const take = (n: number) => {
    const at = need(n);
    return bytes.subarray(at, at + n);
  };
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw fail('the data ends early (truncated file)');
    const s = latin1(bytes.subarray(p, end));
    p = end + 1;
    return s;
  };
  const pop = () => {
    if (!stack.length) throw fail('stack underflow');
    return stack.pop();
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) throw fail('no MARK');
    return stack.splice(m);
  };
  const setItem = (d: unknown, k: unknown, v: unknown) => {
    if (d === null || typeof d !== 'object' || Array.isArray(d) || d instanceof Tuple) throw fail('SETITEM on a non-dict');
    (d as Record<string, unknown>)[String(k)] = v;
  };
  const globalOf = (mod: string, name: string) => {
    const q = `${mod}.${name}`;
    if (!ALLOWED.has(q)) {
      throw new MmclsError(`refused to read pickle ${file}: it refers to '${q}', which a data file does not need and which could run code. Nothing was executed.`, {
        code: 'pickle.unsafe-global',
        location: { file },
      });
    }
    return new Global(q);
  };
  const reduce = (f: unknown, args: unknown): unknown => {
    const a = args instanceof Tuple ? args.items : [];
    if (!(f instanceof Global)) throw fail('REDUCE on a non-callable');
    if (f.name.endsWith('_reconstruct')) return new PickledArray('|u1', [0], new Uint8Array(0), false);
    if (f.name === 'numpy.dtype') return new DType(String(a[0]));
    if (f.name.endsWith('._frombuffer')) {
      // _frombuffer(buffer, dtype, shape, order): protocol-5 pickles of arrays
      const [buf, dt, shape, order] = a;
      const data = buf instanceof Uint8Array ? buf : typeof buf === 'string' ? fromLatin1(buf) : null;
      if (!data || !(dt instanceof DType)) throw fail('bad _frombuffer arguments');
      const kind = dt.base.replace(/^[<>|=]/, '');
      const dtype = (dt.descr === '<' || dt.descr === '>' ? dt.descr : kind.endsWith('1') ? '|' : '<') + kind;
      const dims = (shape instanceof Tuple ? shape.items : (shape as unknown[])).map(Number);
      const arr = new PickledArray(dtype, dims, data, order === 'F');
      if (data.length < arr.size * Number(dtype.slice(2) || 1)) throw fail('a NumPy array has fewer bytes than its shape needs (truncated file)');
      return arr;
    }
    if (f.name === '_codecs.encode') return fromLatin1(String(a[0]));
    if (f.name.endsWith('.set')) return Array.isArray(a[0]) ? [...(a[0] as unknown[])] : [];
    throw fail(`cannot call ${f.name}`);
  };
  const build = (obj: unknown, state: unknown): unknown => {
    const s = state instanceof Tuple ? state.items : null;
    if (obj instanceof DType && s) {
      obj.descr = String(s[1] ?? '|');
      return obj;
    }
    if (obj instanceof PickledArray && s) {
      // (version, shape, dtype, is_fortran, rawdata)
      const shape = (s[1] instanceof Tuple ? s[1].items : (s[1] as unknown[])) as number[];
      const dt = s[2] as DType;
      const raw = s[4];
      const data = raw instanceof Uint8Array ? raw : typeof raw === 'string' ? fromLatin1(raw) : null;
      if (!data) throw fail('a NumPy array with object elements is not supported');
      const kind = dt.base.replace(/^[<>|=]/, '');
      const dtype = (dt.descr === '<' || dt.descr === '>' ? dt.descr : kind.endsWith('1') ? '|' : '<') + kind;
      const arr = new PickledArray(dtype, shape.map(Number), data, Boolean(s[3]));
      const expected = arr.size * Number(dtype.slice(2) || 1);
      if (data.length < expected) throw fail(`a NumPy array has ${data.length} bytes of data, ${expected} needed (truncated file)`);
      return arr;
    }
    if (obj && typeof obj === 'object' && state && typeof state === 'object') {
      Object.assign(obj, state);
      return obj;
    }
    throw fail('unsupported BUILD');
  };

  for (;;) {
    const op = bytes[need(1)];
    switch (op) {
      case 0x80: need(1); break; // PROTO
      case 0x95: need(8); break; // FRAME
      case 0x2e: return pop(); // STOP
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x7d: stack.push({}); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new Tuple([])); break; // EMPTY_TUPLE
      case 0x85: stack.push(new Tuple([pop()])); break;
      case 0x86: { const b = pop(); const a = pop(); stack.push(new Tuple([a, b])); break; }
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(new Tuple([a, b, c])); break; }
      case 0x74: stack.push(new Tuple(popMark())); break; // TUPLE
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const items = popMark(); const d: Record<string, unknown> = {}; for (let i = 0; i < items.length; i += 2) d[String(items[i])] = items[i + 1]; stack.push(d); break; } // DICT
      case 0x61: { const v = pop(); const l = stack[stack.length - 1]; if (!Array.isArray(l)) throw fail('APPEND to a non-list'); l.push(v); break; }
      case 0x65: { const items = popMark(); const l = stack[stack.length - 1]; if (!Array.isArray(l)) throw fail('APPENDS to a non-list'); l.push(...items); break; }
      case 0x73: { const v = pop(); const k = pop(); setItem(stack[stack.length - 1], k, v); break; }
      case 0x75: { const items = popMark(); const d = stack[stack.length - 1]; for (let i = 0; i < items.length; i += 2) setItem(d, items[i], items[i + 1]); break; }
      case 0x8f: stack.push([]); break; // EMPTY_SET
      case 0x90: { const items = popMark(); const s = stack[stack.length - 1]; if (Array.isArray(s)) s.push(...items); break; } // ADDITEMS
      case 0x91: stack.push(popMark()); break; // FROZENSET
      case 0x4a: stack.push(dv.getInt32(need(4), true)); break; // BININT
      case 0x4b: stack.push(bytes[need(1)]); break; // BININT1
      case 0x4d: stack.push(dv.getUint16(need(2), true)); break; // BININT2
      case 0x8a: { // LONG1
        const n = bytes[need(1)];
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x49: { const s = line(); stack.push(s === '01' ? true : s === '00' ? false : Number(s)); break; } // INT
      case 0x4c: stack.push(Number(line().replace(/L$/, ''))); break; // LONG
      case 0x47: stack.push(dv.getFloat64(need(8), false)); break; // BINFLOAT
      case 0x46: stack.push(Number(line())); break; // FLOAT
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x58: { const n = dv.getUint32(need(4), true); stack.push(Buffer.from(take(n)).toString('utf8')); break; } // BINUNICODE
      case 0x8c: { const n = bytes[need(1)]; stack.push(Buffer.from(take(n)).toString('utf8')); break; } // SHORT_BINUNICODE
      case 0x8d: { const n = Number(dv.getBigUint64(need(8), true)); stack.push(Buffer.from(take(n)).toString('utf8')); break; }
      case 0x56: stack.push(line()); break; // UNICODE (raw-unicode-escape; ASCII in practice)
      case 0x54: { const n = dv.getInt32(need(4), true); stack.push(latin1(take(n))); break; } // BINSTRING
      case 0x55: { const n = bytes[need(1)]; stack.push(latin1(take(n))); break; } // SHORT_BINSTRING
      case 0x53: { const s = line().trim(); stack.push(s.slice(1, -1)); break; } // STRING
      case 0x42: { const n = dv.getUint32(need(4), true); stack.push(take(n).slice()); break; } // BINBYTES
      case 0x43: { const n = bytes[need(1)]; stack.push(take(n).slice()); break; } // SHORT_BINBYTES
      case 0x8e: { const n = Number(dv.getBigUint64(need(8), true)); stack.push(take(n).slice()); break; } // BINBYTES8
      case 0x96: { const n = Number(dv.getBigUint64(need(8), true)); stack.push(take(n).slice()); break; } // BYTEARRAY8
      case 0x70: memo.set(Number(line()), stack[stack.length - 1]); break; // PUT
      case 0x71: memo.set(bytes[need(1)], stack[stack.length - 1]); break; // BINPUT
      case 0x72: memo.set(dv.getUint32(need(4), true), stack[stack.length - 1]); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, stack[stack.length - 1]); break; // MEMOIZE
      case 0x67: stack.push(memo.get(Number(line()))); break; // GET
      case 0x68: stack.push(memo.get(bytes[need(1)])); break; // BINGET
      case 0x6a: stack.push(memo.get(dv.getUint32(need(4), true))); break; // LONG_BINGET
      case 0x63: { const mod = line(); const name = line(); stack.push(globalOf(mod, name)); break; } // GLOBAL
      case 0x93: { const name = String(pop()); const mod = String(pop()); stack.push(globalOf(mod, name)); break; } // STACK_GLOBAL
      case 0x52: { const args = pop(); const f = pop(); stack.push(reduce(f, args)); break; } // REDUCE
      case 0x62: { const state = pop(); const obj = pop(); stack[stack.length] = build(obj, state); break; } // BUILD
      case 0x81: { const args = pop(); const cls = pop(); stack.push(reduce(cls, args)); break; } // NEWOBJ
      default:
        throw fail(`unsupported pickle opcode 0x${op.toString(16)}`);
    }
  }
}

/** Turns tuples into arrays recursively (for callers that want plain data). */
export function plainPickle(v: unknown): unknown {
  if (v instanceof Tuple) return v.items.map(plainPickle);
  if (Array.isArray(v)) return v.map(plainPickle);
  if (v instanceof PickledArray || v instanceof Uint8Array) return v;
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = plainPickle(x);
    return o;
  }
  return v;
}
