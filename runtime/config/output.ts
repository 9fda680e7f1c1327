import { MmclsError } from '../errors';
import { DictEntry, PyBuiltin, PyDict, PyFloat, PyModule, PyRange, PySet, PyTuple, PyValue, repr } from './values';

/**
 * The value model consumers see: plain JavaScript.
 *
 * - dict → plain object (`ConfigDict`), keys in Python order (see `dictEntries` for the one case
 *   where JS object order differs), list → array, tuple → array for which `isTuple` is true,
 *   None → null, bool → boolean, int and float → number, str → string.
 * - int versus float: a float with an integral value (`lr = 1.0`) is an ordinary number `1`, and
 *   its container remembers that it is a float (`isFloatAt(container, key)`), so that dumping
 *   prints `1.0` again. Consumers who only read numbers need not care. A consumer that builds a
 *   new object loses the mark, and such a value then dumps as `1`.
 * - Dict keys that are not strings (`{1: 'a'}`) become their Python repr as object keys; the
 *   original keys and their order are remembered for dumping.
 */
export type ConfigValue = null | boolean | number | string | ConfigValue[] | ConfigDict;
export interface ConfigDict {
  [key: string]: ConfigValue;
}

const floatMarks = new WeakMap<object, Set<string | number>>();
/** Python key text and order of dicts whose keys JS would reorder or that had non-str keys. */
const keyInfo = new WeakMap<object, { key: string; text: string }[]>();
const setArrays = new WeakSet<object>();

export function isFloatAt(container: object, key: string | number): boolean {
  return floatMarks.get(container)?.has(key) ?? false;
}
export function markFloat(container: object, key: string | number): void {
  let s = floatMarks.get(container);
  if (!s) floatMarks.set(container, (s = new Set()));
  s.add(key);
}
/** True for arrays that were Python sets. */
export function isSetArray(v: unknown): boolean {
  return typeof v === 'object' && v !== null && setArrays.has(v);
}

/** `[key, value, pythonKeyText]` in Python order. `pythonKeyText` is the repr of the original key. */
export function dictEntries(d: ConfigDict): [string, ConfigValue, string | null][] {
  const info = keyInfo.get(d);
  if (info) {
    const out: [string, ConfigValue, string | null][] = info.filter((k) => k.key in d).map((k) => [k.key, d[k.key], k.text]);
    // Keys a consumer added after loading come last.
    const known = new Set(info.map((k) => k.key));
    for (const k of Object.keys(d)) if (!known.has(k)) out.push([k, d[k], null]);
    return out;
  }
  return Object.keys(d).map((k) => [k, d[k], null]);
}

function isArrayIndexKey(k: string): boolean {
  const c = k.charCodeAt(0);
  if (!(c >= 48 && c <= 57)) return false;
  return /^(?:0|[1-9]\d{0,9})$/.test(k) && Number(k) < 4294967295;
}

export const MAX_OUTPUT_ITEMS = 20_000_000;

/** Converts the evaluator's values to the consumer model. Throws MmclsError for values configs cannot hold. */
export function toPlain(v: PyValue, budget = { left: MAX_OUTPUT_ITEMS }, depth = 0): ConfigValue {
  if (--budget.left < 0) {
    throw new MmclsError('the config is too large (it expands to more than 20 million values)', { code: 'config.limit' });
  }
  if (depth > 500) throw new MmclsError('the config is nested too deeply (more than 500 levels) or refers to itself', { code: 'config.limit' });
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'string') {
    budget.left -= v.length >> 4;
    return v;
  }
  if (v instanceof PyFloat) return v.v;
  if (Array.isArray(v)) {
    const out: ConfigValue[] = v instanceof PyTuple ? new PyTuple<ConfigValue>() : [];
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      out.push(toPlain(x, budget, depth + 1));
      if (x instanceof PyFloat) markFloat(out, i);
    }
    return out;
  }
  if (v instanceof PyDict) return dictToPlain(v, budget, depth);
  if (v instanceof PySet) {
    const out = toPlain(v.values(), budget, depth) as ConfigValue[];
    setArrays.add(out);
    return out;
  }
  if (v instanceof PyRange) {
    const out: ConfigValue[] = [];
    const n = v.length;
    budget.left -= n;
    if (budget.left < 0) throw new MmclsError('the config is too large', { code: 'config.limit' });
    for (let i = 0; i < n; i++) out.push(v.at(i));
    return out;
  }
  if (v instanceof PyBuiltin || v instanceof PyModule) {
    throw new MmclsError(`a config value cannot be a function or module (${repr(v)})`, { code: 'config.type-error' });
  }
  return null;
}

function dictToPlain(d: PyDict, budget: { left: number }, depth: number): ConfigDict {
  const out: ConfigDict = {};
  let special = false;
  for (const e of d.entries()) {
    const k = e.key;
    let key: string;
    if (typeof k === 'string') {
      key = k;
      if (!special && isArrayIndexKey(k)) special = true;
    } else {
      key = repr(k);
      special = true;
    }
    if (key === '__proto__') throw new MmclsError("the key '__proto__' is not allowed in config files", { code: 'config.unsupported' });
    const v = e.value;
    out[key] = toPlain(v, budget, depth + 1);
    if (v instanceof PyFloat) markFloat(out, key);
  }
  if (special) {
    keyInfo.set(out, [...d.entries()].map((e) => ({ key: typeof e.key === 'string' ? e.key : repr(e.key), text: repr(e.key) })));
  }
  return out;
}

/** Entries of a PyDict with plain values (for callers that walk the internal tree). */
export function entryList(d: PyDict): DictEntry[] {
  return [...d.entries()];
}
