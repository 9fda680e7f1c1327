import { Range } from './ast';
import { reprFloat } from './format';

/**
 * The evaluator's value model (internal to runtime/config; consumers get plain values, see
 * output.ts).
 *
 * - None → `null`, bool → `boolean`, str → `string`.
 * - int → a JS `number` that is an integer (ints are limited to ±2**53, see limits.ts).
 * - float → a JS `number` that is NOT an integer, or a `PyFloat` when the value is integral
 *   (`1.0`, `-0.0`, `1e20`), so that int and float never get confused.
 * - list → `PyValue[]`, tuple → `PyTuple`, dict → `PyDict`, set → `PySet`, range → `PyRange`.
 */
export class PyFloat {
  constructor(readonly v: number) {}
}

/** A tuple: an array that remembers it is a tuple. `map`/`filter` on it give plain arrays. */
export class PyTuple<T = unknown> extends Array<T> {
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
  static from_<T>(items: T[]): PyTuple<T> {
    const t = new PyTuple<T>();
    for (let i = 0; i < items.length; i++) t.push(items[i]);
    return t;
  }
}

export function isTuple(v: unknown): v is PyTuple {
  return v instanceof PyTuple;
}

/**
 * Where a value was written. `range`/`keyRange` may be syntax-tree nodes (which carry more than a
 * range); the source map copies out just the range.
 */
export interface Origin {
  file: string;
  /** The value expression. */
  range: Range;
  /** The key (`name=`, `'key':`, assignment target) when there is one. */
  keyRange?: Range;
}

export interface HistoryItem {
  origin: Origin | undefined;
  value: PyValue;
}

export interface DictEntry {
  key: PyValue;
  value: PyValue;
  origin?: Origin;
  /** Earlier values this one replaced while merging (oldest first). */
  history?: HistoryItem[];
}

/** A Python dict: insertion ordered, keys compared the way Python hashes them. */
export class PyDict {
  readonly map: Map<unknown, DictEntry>;
  constructor(from?: Map<unknown, DictEntry>) {
    this.map = from ? new Map(from) : new Map();
  }
  /** True for MMEngine ConfigDicts (values from `_base_`), which allow `d.key` attribute access. */
  configDict = false;

  get size(): number {
    return this.map.size;
  }
  get(key: PyValue): DictEntry | undefined {
    return this.map.get(typeof key === 'string' ? key : hashKey(key));
  }
  getStr(key: string): DictEntry | undefined {
    return this.map.get(key);
  }
  has(key: PyValue): boolean {
    return this.get(key) !== undefined;
  }
  /** Entries are never changed in place, so that copies can share them. */
  set(key: PyValue, value: PyValue, origin?: Origin): void {
    const h = typeof key === 'string' ? key : hashKey(key);
    const e = this.map.get(h);
    this.map.set(h, { key: e ? e.key : key, value, origin });
  }
  setEntry(e: DictEntry): void {
    const h = typeof e.key === 'string' ? e.key : hashKey(e.key);
    this.map.set(h, e);
  }
  delete(key: PyValue): boolean {
    return this.map.delete(typeof key === 'string' ? key : hashKey(key));
  }
  entries(): IterableIterator<DictEntry> {
    return this.map.values();
  }
  keys(): PyValue[] {
    const out: PyValue[] = [];
    for (const e of this.map.values()) out.push(e.key);
    return out;
  }
  /** A shallow copy (entries copied, values shared). */
  copy(configDict = this.configDict): PyDict {
    const d = new PyDict(this.map);
    d.configDict = configDict;
    return d;
  }
}

export class PySet {
  readonly map = new Map<unknown, PyValue>();
  add(v: PyValue): void {
    const h = hashKey(v);
    if (!this.map.has(h)) this.map.set(h, v);
  }
  has(v: PyValue): boolean {
    return this.map.has(hashKey(v));
  }
  values(): PyValue[] {
    return [...this.map.values()];
  }
}

export class PyRange {
  constructor(readonly start: number, readonly stop: number, readonly step: number) {}
  get length(): number {
    const { start, stop, step } = this;
    if (step > 0) return stop > start ? Math.ceil((stop - start) / step) : 0;
    return stop < start ? Math.ceil((start - stop) / -step) : 0;
  }
  at(i: number): number {
    return this.start + i * this.step;
  }
}

export type BuiltinImpl = (args: PyValue[], kwargs: [string, PyValue][], call: CallContext) => PyValue;

/** What a builtin needs from the evaluator. */
export interface CallContext {
  range: Range;
  error(message: string, code?: string): never;
  typeError(message: string): never;
  /** Accounts for a value of `n` items built (size limit) and the work it took; throws at a limit. */
  charge(n: number): void;
  /** Accounts for `n` units of work only. */
  work(n: number): void;
  iterate(v: PyValue): PyValue[];
  truthy(v: PyValue): boolean;
  compare(a: PyValue, b: PyValue): number;
  str(v: PyValue): string;
  repr(v: PyValue): string;
  deepcopy(v: PyValue): PyValue;
}

export class PyBuiltin {
  constructor(readonly name: string, readonly impl: BuiltinImpl, readonly self: PyValue | undefined = undefined) {}
}

export class PyModule {
  constructor(readonly name: string) {}
}

export type PyValue =
  | null
  | boolean
  | number
  | string
  | PyFloat
  | PyValue[]
  | PyDict
  | PySet
  | PyRange
  | PyBuiltin
  | PyModule;

/** Element origins of lists/tuples built from displays (for the source map). */
export const listOrigins = new WeakMap<PyValue[], (Origin | undefined)[]>();

export function isInt(v: PyValue): v is number | boolean {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'boolean';
}
export function isFloat(v: PyValue): v is number | PyFloat {
  return v instanceof PyFloat || (typeof v === 'number' && !Number.isInteger(v));
}
export function isNumber(v: PyValue): v is number | boolean | PyFloat {
  return typeof v === 'number' || typeof v === 'boolean' || v instanceof PyFloat;
}
/** The numeric value of an int/float/bool. */
export function num(v: number | boolean | PyFloat): number {
  return typeof v === 'number' ? v : typeof v === 'boolean' ? (v ? 1 : 0) : v.v;
}
/** Makes a Python float from a JS number. */
export function mkFloat(x: number): number | PyFloat {
  return Number.isInteger(x) ? new PyFloat(x) : x;
}

export function typeName(v: PyValue): string {
  if (v === null) return 'NoneType';
  switch (typeof v) {
    case 'boolean': return 'bool';
    case 'number': return Number.isInteger(v) ? 'int' : 'float';
    case 'string': return 'str';
  }
  if (v instanceof PyFloat) return 'float';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyDict) return v.configDict ? 'ConfigDict' : 'dict';
  if (v instanceof PySet) return 'set';
  if (v instanceof PyRange) return 'range';
  if (v instanceof PyBuiltin) return v.self !== undefined ? 'builtin_method' : 'builtin_function_or_method';
  return 'module';
}

/** Python's hash equality classes: 1 == 1.0 == True share a key; tuples hash by content. */
export function hashKey(v: PyValue): unknown {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v === null) return null;
  if (v instanceof PyFloat) return v.v === 0 ? 0 : v.v;
  if (v instanceof PyTuple) return '\u0000tuple:' + v.map((x) => String(hashKey(x)) + '/' + typeof hashKey(x)).join('\u0001');
  throw new UnhashableError(typeName(v));
}

export class UnhashableError extends Error {
  constructor(readonly type: string) {
    super(`unhashable type: '${type}'`);
  }
}

const MAX_WALK_DEPTH = 500;

export class ValueDepthError extends Error {
  constructor() {
    super(`value nested too deeply (more than ${MAX_WALK_DEPTH} levels) or refers to itself`);
  }
}

/** Python `repr`. `budget` caps the length of the text built (hostile values). */
export function repr(v: PyValue, budget = { left: 10_000_000 }, depth = 0): string {
  if (depth > MAX_WALK_DEPTH) throw new ValueDepthError();
  let s: string;
  if (v === null) s = 'None';
  else if (typeof v === 'boolean') s = v ? 'True' : 'False';
  else if (typeof v === 'number') s = Number.isInteger(v) ? intStr(v) : reprFloat(v);
  else if (typeof v === 'string') s = reprStr(v);
  else if (v instanceof PyFloat) s = reprFloat(v.v);
  else if (v instanceof PyTuple) {
    const parts = v.map((x) => repr(x, budget, depth + 1));
    s = parts.length === 1 ? `(${parts[0]},)` : `(${parts.join(', ')})`;
  } else if (Array.isArray(v)) s = `[${v.map((x) => repr(x, budget, depth + 1)).join(', ')}]`;
  else if (v instanceof PyDict) {
    const parts: string[] = [];
    for (const e of v.entries()) parts.push(`${repr(e.key, budget, depth + 1)}: ${repr(e.value, budget, depth + 1)}`);
    s = `{${parts.join(', ')}}`;
  } else if (v instanceof PySet) {
    s = v.map.size === 0 ? 'set()' : `{${v.values().map((x) => repr(x, budget, depth + 1)).join(', ')}}`;
  } else if (v instanceof PyRange) s = v.step === 1 ? `range(${v.start}, ${v.stop})` : `range(${v.start}, ${v.stop}, ${v.step})`;
  else if (v instanceof PyBuiltin) s = v.self !== undefined ? `<built-in method ${v.name}>` : `<built-in function ${v.name}>`;
  else s = `<module '${v.name}'>`;
  budget.left -= s.length;
  if (budget.left < 0) throw new ValueSizeError();
  return s;
}

export class ValueSizeError extends Error {
  constructor() {
    super('text too long');
  }
}

export function str(v: PyValue, budget?: { left: number }): string {
  return typeof v === 'string' ? v : repr(v, budget);
}

export function intStr(v: number): string {
  // Integers up to 2**53 print exactly; `String` would switch to exponent form above 1e21.
  return Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
}

/** Python's repr of a str: single quotes unless the text has ' and no ". */
export function reprStr(s: string): string {
  const q = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = q;
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === q || ch === '\\') out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += '\\x' + c.toString(16).padStart(2, '0');
    else if (c >= 0x80 && c < 0xa0) out += '\\x' + c.toString(16).padStart(2, '0');
    else if ((c >= 0xd800 && c <= 0xdfff) || c === 0xad) out += '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + q;
}

/**
 * Containers of cached base-file results. They are shared between loads, so nothing may change
 * them: a config that tries (e.g. `_base_.model['depth'] = 50`) makes the loader start again
 * without the cache.
 */
export const frozen = new WeakSet<object>();

export class FrozenMutation extends Error {
  constructor() {
    super('internal: a cached base value was about to change');
  }
}

export function assertMutable(o: object): void {
  if (frozen.has(o)) throw new FrozenMutation();
}

export function freeze(v: PyValue, depth = 0): void {
  if (depth > 500 || v === null || typeof v !== 'object' || frozen.has(v)) return;
  if (v instanceof PyDict) {
    frozen.add(v);
    v.configDict = true;
    for (const e of v.entries()) freeze(e.value, depth + 1);
  } else if (Array.isArray(v)) {
    frozen.add(v);
    for (const x of v) freeze(x, depth + 1);
  } else if (v instanceof PySet) {
    frozen.add(v);
  }
}
