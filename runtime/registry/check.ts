import type { ComponentSchema, OptionSchema, TypeKind } from './schema-types';
import { suggest } from './suggest';

/** One problem with the arguments of a config dict, as `build()` and the language server report it. */
export interface ArgProblem {
  code: 'registry.unknown-arg' | 'registry.missing-arg' | 'registry.bad-value';
  /** The argument (config key) concerned. */
  arg: string;
  /** Key path of the argument (`model.backbone.depth`), or the argument alone when no path was given. */
  path: string;
  /** One sentence without the component prefix: `unknown argument "dpth"; did you mean "depth"? ...`. */
  message: string;
  /** The closest valid argument name or enum value. */
  suggestion?: string;
}

/** Keys a config dict may hold besides the options: the type itself and MMEngine's scope marker. */
const RESERVED_KEYS = new Set(['type', '_scope_']);

/**
 * Checks `args` (a config dict, `type` included or not) against a component's options: unknown
 * keys (with the nearest valid name), missing required keys, and values of the wrong kind.
 * Nested component configs are not checked here: `build()` checks them when the parent builds them.
 */
export function checkArgs(comp: ComponentSchema, args: Record<string, unknown>, keyPath?: string): ArgProblem[] {
  const problems: ArgProblem[] = [];
  const byName = new Map(comp.options.map((o) => [o.name, o]));
  const at = (arg: string) => (keyPath ? `${keyPath}.${arg}` : arg);
  if (!comp.allowsExtra) {
    for (const key of Object.keys(args)) {
      if (RESERVED_KEYS.has(key) || byName.has(key)) continue;
      const near = suggest(key, byName.keys());
      const valid = comp.options.map((o) => o.name);
      problems.push({
        code: 'registry.unknown-arg',
        arg: key,
        path: at(key),
        message:
          `unknown argument "${key}"` +
          (near ? `; did you mean "${near}"?` : '.') +
          (valid.length ? ` Valid arguments: ${valid.join(', ')}.` : ` ${comp.type} takes no arguments.`),
        ...(near ? { suggestion: near } : {}),
      });
    }
  }
  for (const opt of comp.options) {
    const value = args[opt.name];
    if (value === undefined) {
      if (opt.required) {
        problems.push({
          code: 'registry.missing-arg',
          arg: opt.name,
          path: at(opt.name),
          message: `missing required argument "${opt.name}" (${describeKind(opt.kind)}${opt.doc ? `: ${oneLine(opt.doc)}` : ''}).`,
        });
      }
      continue;
    }
    const bad = checkValue(opt, value);
    if (bad) problems.push({ code: 'registry.bad-value', arg: opt.name, path: at(opt.name), ...bad });
  }
  return problems;
}

/** Whether `value` suits the option; otherwise the message (and a suggestion for enum values). */
export function checkValue(opt: OptionSchema, value: unknown): { message: string; suggestion?: string } | undefined {
  // Python's None is fine wherever MMClassification's own default is None.
  if (value === null && opt.default === null) return undefined;
  if (matches(opt.kind, value)) return undefined;
  const expected = describeKind(opt.kind);
  const strings = enumStrings(opt.kind);
  const near = typeof value === 'string' && strings.length ? suggest(value, strings) : undefined;
  return {
    message: `argument "${opt.name}" must be ${expected}, got ${pyRepr(value)}` + (near ? `; did you mean '${near}'?` : '.'),
    ...(near ? { suggestion: near } : {}),
  };
}

function isPlainDict(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Whether a JSON-like config value belongs to a kind. */
export function matches(kind: TypeKind, v: unknown): boolean {
  switch (kind.kind) {
    case 'any':
      return true;
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    case 'enum':
      return kind.values.some((x) => x === v);
    case 'array':
      return Array.isArray(v) && v.every((x) => matches(kind.items, x));
    case 'tuple':
      if (!Array.isArray(v)) return false;
      if (kind.rest ? v.length < kind.items.length : v.length !== kind.items.length) return false;
      return v.every((x, i) => matches(i < kind.items.length ? kind.items[i] : (kind.rest as TypeKind), x));
    case 'dict':
      if (!isPlainDict(v)) return false;
      if (kind.values) {
        const values = kind.values;
        return Object.values(v).every((x) => matches(values, x));
      }
      if (kind.properties) {
        return kind.properties.every((p) => v[p.name] === undefined || matches(p.kind, v[p.name]) || (v[p.name] === null && p.default === null));
      }
      return true;
    case 'config':
      // A dict (its `type` may come from the parent's defaults), or an already built object or class.
      return isPlainDict(v) || typeof v === 'function';
    case 'union':
      return kind.anyOf.some((k) => matches(k, v));
    case 'instance':
      return (v !== null && typeof v === 'object') || typeof v === 'function';
  }
}

function enumStrings(kind: TypeKind): string[] {
  if (kind.kind === 'enum') return kind.values.filter((x): x is string => typeof x === 'string');
  if (kind.kind === 'union') return kind.anyOf.flatMap(enumStrings);
  return [];
}

/** The kind in words, with Python spellings: `one of 'pytorch', 'caffe'`, `an integer`, `a list of numbers`. */
export function describeKind(kind: TypeKind): string {
  switch (kind.kind) {
    case 'any':
      return 'any value';
    case 'number':
      return 'a number';
    case 'integer':
      return 'an integer';
    case 'string':
      return 'a string';
    case 'boolean':
      return 'True or False';
    case 'null':
      return 'None';
    case 'enum':
      return kind.values.length === 1 ? pyRepr(kind.values[0]) : `one of ${kind.values.map((v) => pyRepr(v)).join(', ')}`;
    case 'array':
      return `a list of ${plural(kind.items)}`;
    case 'tuple':
      return `a tuple (${kind.items.map(describeKind).join(', ')}${kind.rest ? `, ${plural(kind.rest)}...` : ''})`;
    case 'dict':
      return kind.values ? `a dict of ${plural(kind.values)}` : 'a dict';
    case 'config':
      return `a config dict(type=...)${kind.registry ? ` of ${kind.registry}` : ''}${kind.category ? ` (${kind.category})` : ''}`;
    case 'union':
      return kind.anyOf.map(describeKind).join(' or ');
    case 'instance':
      return `a ${kind.name} object`;
  }
}

function plural(kind: TypeKind): string {
  switch (kind.kind) {
    case 'number':
      return 'numbers';
    case 'integer':
      return 'integers';
    case 'string':
      return 'strings';
    case 'boolean':
      return 'booleans';
    case 'dict':
      return 'dicts';
    case 'config':
      return `config dicts${kind.registry ? ` of ${kind.registry}` : ''}`;
    default:
      return `(${describeKind(kind)})`;
  }
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

/** A value as a Python config would spell it (`'pytorch'`, `True`, `None`, `[1, 2]`, `{'a': 1}`), shortened. */
export function pyRepr(v: unknown, max = 80): string {
  const s = repr(v, 0);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

function repr(v: unknown, depth: number): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? "float('inf')" : Number.isNaN(v) ? "float('nan')" : "-float('inf')";
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof v === 'function') return `<class ${v.name || '?'}>`;
  if (depth > 3) return '...';
  if (Array.isArray(v)) return `[${v.map((x) => repr(x, depth + 1)).join(', ')}]`;
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return `<${proto?.constructor?.name ?? 'object'}>`;
    return `{${Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `'${k}': ${repr(x, depth + 1)}`)
      .join(', ')}}`;
  }
  return String(v);
}
