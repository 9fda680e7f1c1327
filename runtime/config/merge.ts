import { assertMutable, DictEntry, HistoryItem, listOrigins, Origin, PyDict, PyTuple, PyValue, repr, typeName } from './values';

export const DELETE_KEY = '_delete_';

/** Per-element override history of lists changed through `--cfg-options a.0.b=...`. */
export const listHistories = new WeakMap<PyValue[], (HistoryItem[] | undefined)[]>();

export class MergeError extends Error {
  constructor(message: string, readonly origin: Origin | undefined, readonly code: string) {
    super(message);
  }
}

function withHistory(old: DictEntry, next: { value: PyValue; origin?: Origin }): HistoryItem[] | undefined {
  if (old.value === next.value && old.origin === next.origin) return old.history;
  return [...(old.history ?? []), { origin: old.origin, value: old.value }];
}

/**
 * MMEngine's `Config._merge_a_into_b`: values of `a` override `b` (`b` is copied first).
 *
 * Exactly as MMEngine: dicts merge key by key; anything else replaces; `_delete_=True` in a dict of
 * `a` replaces instead of merging and is removed only when `b` had that key (when there was
 * nothing to delete, MMEngine leaves `_delete_` in place, and so do we); with `allowListKeys`,
 * digit keys index into lists of `b`.
 */
export function mergeAIntoB(a: PyDict, b: PyDict | PyValue[], allowListKeys = false): PyDict | PyValue[] {
  if (Array.isArray(b)) {
    const out = b.slice();
    const o = listOrigins.get(b);
    const oo = o ? o.slice() : new Array<Origin | undefined>(b.length).fill(undefined);
    const h = listHistories.get(b)?.slice() ?? new Array<HistoryItem[] | undefined>(b.length).fill(undefined);
    for (const e of a.entries()) {
      const k = e.key;
      if (!(allowListKeys && typeof k === 'string' && /^\d+$/.test(k))) {
        throw new MergeError(`TypeError: list indices must be integers, not '${typeof k === 'string' ? k : repr(k)}'`, e.origin, 'config.type-error');
      }
      const i = Number(k);
      if (i >= out.length) {
        throw new MergeError(`KeyError: Index ${i} exceeds the length of list ${repr(b)}`, e.origin, 'config.key-error');
      }
      const v = e.value;
      const old = out[i];
      out[i] = v instanceof PyDict && (old instanceof PyDict || Array.isArray(old)) ? mergeAIntoB(v, old, allowListKeys) : v;
      h[i] = [...(h[i] ?? []), { origin: oo[i], value: old }];
      oo[i] = e.origin;
    }
    const res = b instanceof PyTuple ? PyTuple.from_(out) : out;
    listOrigins.set(res, oo);
    listHistories.set(res, h);
    return res;
  }
  const out = b.copy();
  for (const e of a.entries()) {
    const k = e.key;
    const v = e.value;
    if (v instanceof PyDict) {
      const old = out.get(k);
      if (old !== undefined && !popDelete(v)) {
        const ok = old.value instanceof PyDict || (allowListKeys && Array.isArray(old.value) && !(old.value instanceof PyTuple));
        if (!ok) {
          throw new MergeError(
            `TypeError: ${String(k)}=${repr(v)} in child config cannot inherit from base because ${String(k)} is a dict in the child config but is of type ${typeName(old.value)} in base config. You may set \`${DELETE_KEY}=True\` to ignore the base config.`,
            e.origin,
            'config.merge',
          );
        }
        const merged = mergeAIntoB(v, old.value as PyDict | PyValue[], allowListKeys);
        if (merged instanceof PyDict) merged.configDict = true;
        out.setEntry({ key: old.key, value: merged, origin: e.origin ?? old.origin, history: withHistory(old, { value: merged, origin: e.origin }) });
      } else {
        v.configDict = true;
        const ne: DictEntry = { key: old ? old.key : k, value: v, origin: e.origin };
        if (old) ne.history = withHistory(old, ne);
        out.setEntry(ne);
      }
    } else {
      const old = out.get(k);
      const ne: DictEntry = { key: old ? old.key : k, value: v, origin: e.origin };
      if (old) ne.history = withHistory(old, ne);
      out.setEntry(ne);
    }
  }
  return out;
}

/** `v.pop('_delete_', False)`, truthiness as Python. */
function popDelete(v: PyDict): boolean {
  const e = v.getStr(DELETE_KEY);
  if (!e) return false;
  assertMutable(v);
  v.delete(DELETE_KEY);
  const x = e.value;
  if (x === null || x === false || x === 0 || x === '') return false;
  if (Array.isArray(x)) return x.length > 0;
  if (x instanceof PyDict) return x.size > 0;
  return true;
}

/** MMEngine's `_dict_to_config_dict`: every dict reachable from the base becomes a ConfigDict. */
export function markConfigDicts(v: PyValue, depth = 0): void {
  if (depth > 500) return;
  if (v instanceof PyDict) {
    v.configDict = true;
    for (const e of v.entries()) markConfigDicts(e.value, depth + 1);
  } else if (Array.isArray(v)) {
    for (const x of v) markConfigDicts(x, depth + 1);
  }
}
