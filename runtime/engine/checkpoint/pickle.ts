/**
 * A pickle reader (protocols 0-5) that executes nothing. Python's unpickler imports and calls
 * whatever the stream names; this one resolves every global through `resolveGlobal`, which returns
 * a JavaScript stand-in for the few globals a caller allows and throws for anything else, at the
 * moment the global is named and before anything could be called. REDUCE, NEWOBJ and BUILD apply
 * only to those stand-ins. Opcodes that would need a real Python object model (INST, OBJ,
 * NEWOBJ_EX, extension registry, out-of-band buffers) are refused.
 */
import { MmclsError } from '../../errors';

/** A Python dict (or OrderedDict) with its keys as read: strings, numbers, bigints, ... */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  /** Instance attributes restored by BUILD (an OrderedDict state dict's `_metadata`). */
  attrs?: PyDict;
}

/** A Python tuple; kept apart from lists because tuples cannot be appended to. */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/** A Python set or frozenset. */
export class PySet {
  constructor(readonly items: unknown[]) {}
}

/** An allowed global that can be called (REDUCE) or instantiated (NEWOBJ). */
export class PyCallable {
  constructor(
    readonly qualname: string,
    readonly call: (args: unknown[]) => unknown,
  ) {}
}

/** An allowed global that is only data (a storage type, a dtype, a class used as a tag). */
export class PyMarker {
  constructor(readonly qualname: string, readonly info?: unknown) {}
}

/** Objects that accept BUILD (Python's `__setstate__`). */
export interface Buildable {
  setState(state: unknown): void;
}

function isBuildable(v: unknown): v is Buildable {
  return typeof v === 'object' && v !== null && typeof (v as Partial<Buildable>).setState === 'function';
}

export interface UnpickleOptions {
  /** The file the pickle came from, for messages. */
  file: string;
  /** Return the stand-in for `module.name`, or throw (see `unsafeGlobal`). */
  resolveGlobal(module: string, name: string): PyCallable | PyMarker;
  /** What a persistent id (PyTorch's storages) stands for. */
  persistentLoad?(pid: unknown): unknown;
}

export function unsafeGlobal(file: string, qualname: string, allowed: string): MmclsError {
  return new MmclsError(
    `refused to load this checkpoint: its pickle refers to '${qualname}', which a checkpoint does not need and ` +
      `which could run code. Nothing was executed. Only the globals of a state dict are accepted (${allowed}). ` +
      `If you trust the file, open it in Python and save just its tensors, e.g. ` +
      `torch.save({'state_dict': torch.load(f, weights_only=False)['state_dict']}, 'clean.pth').`,
    { code: 'checkpoint.unsafe-global', location: { file } },
  );
}

const MARK = Symbol('mark');

class Stop {
  constructor(readonly value: unknown) {}
}

/** Python's repr-like name of a value's type, for messages. */
function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof PyCallable || v instanceof PyMarker) return v.qualname;
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  return typeof v;
}

/**
 * Read one pickle starting at `start`; returns the value and the offset after its STOP opcode
 * (PyTorch's legacy format puts several pickles one after another).
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, start = 0): { value: unknown; end: number } {
  const file = opts.file;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = start;
  const stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const fail = (what: string): MmclsError =>
    new MmclsError(`cannot read the checkpoint's pickle at byte ${p}: ${what}`, { code: 'checkpoint.corrupt', location: { file } });
  const need = (n: number): number => {
    if (n < 0 || p + n > bytes.length) throw fail('the data ends early (the file is truncated or corrupt)');
    const at = p;
    p += n;
    return at;
  };
  const u8 = (): number => bytes[need(1)];
  const u16 = (): number => dv.getUint16(need(2), true);
  const u32 = (): number => dv.getUint32(need(4), true);
  const i32 = (): number => dv.getInt32(need(4), true);
  const u64 = (): number => {
    const v = dv.getBigUint64(need(8), true);
    if (v > BigInt(bytes.length)) throw fail('a length is larger than the file');
    return Number(v);
  };
  const raw = (n: number): Uint8Array => {
    const at = need(n);
    return bytes.slice(at, at + n);
  };
  const utf8 = (n: number): string => {
    const at = need(n);
    return Buffer.from(bytes.buffer, bytes.byteOffset + at, n).toString('utf8');
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw fail('the data ends early (the file is truncated or corrupt)');
    const s = Buffer.from(bytes.buffer, bytes.byteOffset + p, end - p).toString('latin1');
    p = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack.splice(0);
    const prev = metastack.pop();
    if (!prev) throw fail('MARK missing');
    stack.push(...prev);
    return items;
  };
  const getMemo = (i: number): unknown => {
    if (!memo.has(i)) throw fail(`memo entry ${i} is missing`);
    return memo.get(i);
  };
  const global = (module: string, name: string): unknown => {
    if (module === '__builtin__') module = 'builtins';
    else if (module === 'copy_reg') module = 'copyreg';
    return opts.resolveGlobal(module, name);
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (!(fn instanceof PyCallable)) throw fail(`'${typeName(fn)}' is not callable`);
    if (!(args instanceof PyTuple)) throw fail(`the arguments of ${fn.qualname} are not a tuple`);
    return fn.call(args.items);
  };
  const setItems = (d: unknown, items: unknown[]): void => {
    if (!(d instanceof PyDict)) throw fail(`cannot set items on a ${typeName(d)}`);
    if (items.length % 2) throw fail('odd number of items for a dict');
    for (let i = 0; i < items.length; i += 2) d.map.set(hashable(items[i]), items[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]): void => {
    if (Array.isArray(l)) l.push(...items);
    else if (l instanceof PySet) l.items.push(...items);
    else throw fail(`cannot append to a ${typeName(l)}`);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return small(v);
  };
  const textInt = (s: string): number | bigint | boolean => {
    const t = s.trim().replace(/L$/, '');
    if (t === '01' && s.trim() === '01') return true;
    if (t === '00' && s.trim() === '00') return false;
    if (!/^[+-]?\d+$/.test(t)) throw fail(`bad integer literal ${JSON.stringify(s)}`);
    return small(BigInt(t));
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw fail('unsupported pickle protocol (newer than 5)');
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP
        return { value: pop(), end: p };
      case 0x28: // MARK
        metastack.push(stack.splice(0));
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      // -- scalars
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x49: // INT
        stack.push(textInt(line()));
        break;
      case 0x4c: // LONG
        stack.push(textInt(line()));
        break;
      case 0x8a: // LONG1
        stack.push(long(raw(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = i32();
        stack.push(long(raw(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(dv.getFloat64(need(8), false));
        break;
      case 0x46: {
        // FLOAT
        const s = line().trim();
        const v = Number(s);
        if (Number.isNaN(v) && !/^[+-]?nan$/i.test(s)) throw fail(`bad float literal ${JSON.stringify(s)}`);
        stack.push(v);
        break;
      }
      // -- strings and bytes
      case 0x58: // BINUNICODE
        stack.push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8(u64()));
        break;
      case 0x56: // UNICODE (raw-unicode-escape)
        stack.push(line().replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string, b: string) => String.fromCodePoint(parseInt(a ?? b, 16))));
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str; PyTorch loads these as UTF-8)
        stack.push(utf8(u8()));
        break;
      case 0x54: // BINSTRING
        stack.push(utf8(i32()));
        break;
      case 0x53: // STRING
        stack.push(pyStringLiteral(line(), fail));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(raw(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(raw(u32()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(raw(u64()));
        break;
      case 0x96: // BYTEARRAY8
        stack.push(raw(u64()));
        break;
      // -- containers
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new PySet([]));
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new PySet(popMark()));
        break;
      // -- memo
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
        stack.push(getMemo(Number(line())));
        break;
      case 0x68: // BINGET
        stack.push(getMemo(u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(getMemo(u32()));
        break;
      // -- globals and calls: only the stand-ins resolveGlobal hands out
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); allowed classes build their value from the args
        const args = pop();
        const cls = pop();
        stack.push(call(cls, args));
        break;
      }
      case 0x62: {
        // BUILD
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) {
          if (state instanceof PyDict) obj.attrs = state;
          else if (!(state instanceof PyTuple && state.items.length === 2 && state.items.every((x) => x === null || x instanceof PyDict))) {
            throw fail('unexpected state for a dict');
          }
        } else if (isBuildable(obj)) obj.setState(state);
        else throw fail(`cannot restore the state of a ${typeName(obj)}`);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) throw fail('persistent ids are not allowed here');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x50: {
        // PERSID
        const pid = line();
        if (!opts.persistentLoad) throw fail('persistent ids are not allowed here');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      case 0x69: // INST
      case 0x6f: // OBJ
      case 0x92: // NEWOBJ_EX
        throw new MmclsError(
          `refused to load this checkpoint: its pickle creates an arbitrary Python object (opcode ${String.fromCharCode(op)}), ` +
            'which a state dict does not need. Nothing was executed.',
          { code: 'checkpoint.unsafe-global', location: { file } },
        );
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw new MmclsError(`refused to load this checkpoint: its pickle uses the copyreg extension registry. Nothing was executed.`, {
          code: 'checkpoint.unsafe-global',
          location: { file },
        });
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw fail('out-of-band pickle buffers are not supported');
      default:
        p--;
        throw fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}; this is not a pickle, or it is corrupt`);
    }
  }
}

function small(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Keys of Python dicts as JavaScript Map keys: tuples by value, so equal tuples are one key. */
function hashable(k: unknown): unknown {
  return k instanceof PyTuple ? `(${k.items.map((x) => String(hashable(x))).join(', ')})` : k;
}

/** A protocol-0 STRING argument: a quoted Python 2 string literal with escapes. */
function pyStringLiteral(s: string, fail: (what: string) => Error): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q || s.length < 2) throw fail('bad string literal');
  const body = s.slice(1, -1);
  return body.replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_m, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? `\\${e}`;
  });
}
