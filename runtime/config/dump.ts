import { reprFloat } from './format';
import { ConfigDict, ConfigValue, dictEntries, isFloatAt, isSetArray } from './output';
import { intStr, isTuple, reprStr } from './values';

const LINE = 79;
const PY_KEYWORDS = new Set([
  'False', 'None', 'True', 'and', 'as', 'assert', 'async', 'await', 'break', 'class', 'continue', 'def', 'del', 'elif',
  'else', 'except', 'finally', 'for', 'from', 'global', 'if', 'import', 'in', 'is', 'lambda', 'nonlocal', 'not', 'or',
  'pass', 'raise', 'return', 'try', 'while', 'with', 'yield',
]);

export function isIdentifier(k: string): boolean {
  return /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u.test(k) && !PY_KEYWORDS.has(k);
}

function scalar(v: ConfigValue, container: object | null, key: string | number | null): string | null {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return reprStr(v);
  if (typeof v === 'number') {
    const asFloat = !Number.isInteger(v) || (container !== null && key !== null && isFloatAt(container, key));
    if (!asFloat) return intStr(v);
    if (Number.isNaN(v)) return "float('nan')";
    if (v === Infinity) return "float('inf')";
    if (v === -Infinity) return "float('-inf')";
    return reprFloat(v);
  }
  return null;
}

/**
 * One value as Python source, MMEngine `pretty_text` style (what yapf makes of it): `dict(a=1)`
 * when every key is an identifier, `{'a-b': 1}` otherwise; one-element tuples as `(1, )`;
 * split over lines when longer than 79 columns.
 */
function fmt(v: ConfigValue, indent: number, container: object | null, key: string | number | null, used: number): string {
  const s = scalar(v, container, key);
  if (s !== null) return s;
  const flat = flatText(v, container, key);
  if (flat !== null && indent + used + flat.length <= LINE) return flat;
  const pad = ' '.repeat(indent + 4);
  if (Array.isArray(v)) {
    const [open, close] = isTuple(v) ? ['(', ')'] : isSetArray(v) ? ['{', '}'] : ['[', ']'];
    if (v.length === 0) return isSetArray(v) ? 'set()' : open + close;
    const items = v.map((x, i) => pad + fmt(x, indent + 4, v, i, 0));
    const trailing = isTuple(v) && v.length === 1 ? ',' : '';
    return `${open}\n${items.join(',\n')}${trailing}\n${' '.repeat(indent)}${close}`;
  }
  const d = v as ConfigDict;
  const entries = dictEntries(d);
  if (entries.length === 0) return 'dict()';
  const ident = entries.every(([k, , t]) => t === null || t.startsWith("'") || t.startsWith('"')) && entries.every(([k]) => isIdentifier(k));
  if (ident) {
    const items = entries.map(([k, x]) => `${pad}${k}=${fmt(x, indent + 4, d, k, k.length + 1)}`);
    return `dict(\n${items.join(',\n')})`;
  }
  const items = entries.map(([k, x, t]) => {
    const kt = t ?? reprStr(k);
    return `${pad}${kt}: ${fmt(x, indent + 4, d, k, kt.length + 2)}`;
  });
  return `{\n${items.join(',\n')}\n${' '.repeat(indent)}}`;
}

/** Single-line form, or null when it would not fit anyway. */
function flatText(v: ConfigValue, container: object | null, key: string | number | null, budget = { left: 400 }): string | null {
  const s = scalar(v, container, key);
  if (s !== null) {
    budget.left -= s.length;
    return budget.left < 0 ? null : s;
  }
  if (Array.isArray(v)) {
    const parts: string[] = [];
    for (let i = 0; i < v.length; i++) {
      const p = flatText(v[i], v, i, budget);
      if (p === null) return null;
      parts.push(p);
    }
    if (isTuple(v)) return parts.length === 1 ? `(${parts[0]}, )` : `(${parts.join(', ')})`;
    if (isSetArray(v)) return parts.length === 0 ? 'set()' : `{${parts.join(', ')}}`;
    return `[${parts.join(', ')}]`;
  }
  const d = v as ConfigDict;
  const entries = dictEntries(d);
  const ident = entries.every(([, , t]) => t === null || t.startsWith("'") || t.startsWith('"')) && entries.every(([k]) => isIdentifier(k));
  const parts: string[] = [];
  for (const [k, x, t] of entries) {
    const p = flatText(x, d, k, budget);
    if (p === null) return null;
    parts.push(ident ? `${k}=${p}` : `${t ?? reprStr(k)}: ${p}`);
    budget.left -= k.length + 2;
    if (budget.left < 0) return null;
  }
  return ident ? `dict(${parts.join(', ')})` : `{${parts.join(', ')}}`;
}

/** The config as Python source: one `key = value` line per top-level key. Re-reading it gives the same config. */
export function dumpPython(value: ConfigDict): string {
  const lines: string[] = [];
  for (const [k, v] of dictEntries(value)) {
    if (!isIdentifier(k)) {
      lines.push(`# ${reprStr(k)} is not a Python name and cannot be written as a config variable`);
      continue;
    }
    lines.push(`${k} = ${fmt(v, 0, value, k, k.length + 3)}`);
  }
  return lines.join('\n') + '\n';
}

function jsonText(v: ConfigValue, container: object | null, key: string | number | null): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return 'null';
    if (container !== null && key !== null && Number.isInteger(v) && isFloatAt(container, key)) return reprFloat(v).replace(/^(-?\d+)e/, '$1.0e');
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return `[${v.map((x, i) => jsonText(x, v, i)).join(', ')}]`;
  const parts = dictEntries(v).map(([k, x]) => `${JSON.stringify(k)}: ${jsonText(x, v, k)}`);
  return `{${parts.join(', ')}}`;
}

/**
 * The config as JSON on one line, Python `json.dumps` style: tuples and sets become arrays,
 * floats keep their decimal point (`1.0`), keys keep Python order. NaN and infinities, which
 * JSON cannot hold, become null.
 */
export function dumpJson(value: ConfigDict): string {
  return jsonText(value, null, null);
}
