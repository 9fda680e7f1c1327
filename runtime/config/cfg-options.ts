import { MmclsError } from '../errors';
import { mkFloat, Origin, PyDict, PyTuple, PyValue } from './values';

/** The file name the source map uses for values set by `--cfg-options` (line = option number). */
export const CFG_OPTIONS_FILE = '--cfg-options';

/**
 * MMEngine's `DictAction._parse_int_float_bool`: int, then float, then true/false (any case),
 * then `None`, else the text itself.
 */
export function parseScalar(val: string): PyValue {
  if (/^\s*[+-]?\d+(?:_\d+)*\s*$/.test(val)) {
    const n = Number(val.trim().replace(/_/g, ''));
    if (Number.isSafeInteger(n)) return n;
    return mkFloat(n);
  }
  const f = val.trim().toLowerCase().replace(/_/g, '');
  if (/^[+-]?(?:\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)$/.test(f) && !/^_|_$|__/.test(val.trim())) return mkFloat(Number(f));
  if (/^[+-]?(?:inf|infinity)$/.test(f)) return mkFloat(f.startsWith('-') ? -Infinity : Infinity);
  if (/^[+-]?nan$/.test(f)) return NaN;
  if (val.toLowerCase() === 'true') return true;
  if (val.toLowerCase() === 'false') return false;
  if (val === 'None') return null;
  return val;
}

function balanced(s: string): boolean {
  const count = (c: string) => s.split(c).length - 1;
  return count('(') === count(')') && count('[') === count(']');
}

/** MMEngine's `DictAction._parse_iterable`: `1,2`, `[a,b]`, `(1,3)`, `[(1,2),(3,4)]`. */
export function parseIterable(raw: string): PyValue {
  let val = raw.replace(/^['"]+|['"]+$/g, '').replace(/ /g, '');
  let isTuple = false;
  if (val.startsWith('(') && val.endsWith(')')) {
    isTuple = true;
    val = val.slice(1, -1);
  } else if (val.startsWith('[') && val.endsWith(']')) {
    val = val.slice(1, -1);
  } else if (!val.includes(',')) {
    return parseScalar(val);
  }
  const values: PyValue[] = [];
  while (val.length > 0) {
    if (!balanced(val)) throw new Error(`Imbalanced brackets exist in ${val}`);
    let end = val.length;
    for (let i = 0; i < val.length; i++) {
      if (val[i] === ',' && balanced(val.slice(0, i))) {
        end = i;
        break;
      }
    }
    values.push(parseIterable(val.slice(0, end)));
    val = val.slice(end + 1);
  }
  return isTuple ? PyTuple.from_(values) : values;
}

/**
 * Turns `KEY=VALUE` strings into MMEngine's nested options dict (`merge_from_dict`): keys split on
 * `.`, values parsed as above. Later options win over earlier ones with the same key.
 */
export function cfgOptionsToDict(options: string[]): PyDict {
  const flat = new Map<string, { value: PyValue; origin: Origin }>();
  options.forEach((kv, i) => {
    const eq = kv.indexOf('=');
    const origin: Origin = { file: CFG_OPTIONS_FILE, range: { line: i + 1, column: eq + 2, endLine: i + 1, endColumn: kv.length + 1 }, keyRange: { line: i + 1, column: 1, endLine: i + 1, endColumn: eq + 1 } };
    if (eq <= 0) {
      throw new MmclsError(`--cfg-options expects KEY=VALUE (for example model.backbone.depth=101), got ${JSON.stringify(kv)}`, { code: 'config.cfg-options' });
    }
    const key = kv.slice(0, eq);
    let value: PyValue;
    try {
      value = parseIterable(kv.slice(eq + 1));
    } catch (e) {
      throw new MmclsError(`--cfg-options ${kv}: ${(e as Error).message}; brackets in list and tuple values must balance`, { code: 'config.cfg-options' });
    }
    // A Python dict: a repeated key keeps its first position and takes the last value.
    flat.set(key, { value, origin });
  });
  const root = new PyDict();
  for (const [full, { value, origin }] of flat) {
    const parts = full.split('.');
    if (parts.some((p) => p === '__proto__')) {
      throw new MmclsError("--cfg-options: the key '__proto__' is not allowed", { code: 'config.cfg-options' });
    }
    let d = root;
    for (const p of parts.slice(0, -1)) {
      let e = d.getStr(p);
      if (!e || !(e.value instanceof PyDict)) {
        d.set(p, new PyDict(), origin);
        e = d.getStr(p);
      }
      d = (e as { value: PyDict }).value;
      d.configDict = true;
    }
    d.set(parts[parts.length - 1], value, origin);
  }
  return root;
}
