/**
 * What one config file writes, read from its syntax tree alone (no evaluation): the key paths it
 * sets with the ranges of key and value, and its `_base_` entries. Works on a tree with errors
 * (the parser recovers per statement).
 */
import * as path from 'path';
import type { Expr, Module, Range } from '../../runtime/config';

export type Segment = string | number;

export interface OwnKey {
  path: Segment[];
  /** Range of the key name (`depth` in `depth=50`, the string in `'depth': 50`, the name at top level). */
  keyRange: Range;
  valueRange: Range;
  /** `dict(...)` or `{...}`: the file writes the dict partly. */
  isDict: boolean;
  /** Nesting depth (0 for top level). */
  depth: number;
}

function rng(r: Range): Range {
  return { line: r.line, column: r.column, endLine: r.endLine, endColumn: r.endColumn };
}

function strValue(e: Expr): string | undefined {
  if (e.type !== 'Str') return undefined;
  let s = '';
  for (const p of e.parts) {
    if (p.kind !== 'text') return undefined;
    s += p.value;
  }
  return s;
}

function walkValue(e: Expr, p: Segment[], out: OwnKey[], depth: number): void {
  if (out.length > 50_000 || depth > 60) return;
  if (e.type === 'Call' && e.func.type === 'Name' && e.func.id === 'dict') {
    for (const a of e.args) {
      if (a.name && a.star === '' && a.nameRange) {
        const isDict = isDictExpr(a.value);
        out.push({ path: [...p, a.name], keyRange: rng(a.nameRange), valueRange: rng(a.value), isDict, depth: depth + 1 });
        walkValue(a.value, [...p, a.name], out, depth + 1);
      }
    }
  } else if (e.type === 'Dict') {
    for (const it of e.items) {
      if (!it.key) continue;
      const k = strValue(it.key) ?? (it.key.type === 'Constant' && typeof it.key.value === 'number' ? it.key.value : undefined);
      if (k === undefined) continue;
      const isDict = isDictExpr(it.value);
      out.push({ path: [...p, k], keyRange: rng(it.key), valueRange: rng(it.value), isDict, depth: depth + 1 });
      walkValue(it.value, [...p, k], out, depth + 1);
    }
  } else if (e.type === 'List' || e.type === 'Tuple') {
    e.elts.forEach((x, i) => {
      if (isDictExpr(x)) {
        out.push({ path: [...p, i], keyRange: rng(x), valueRange: rng(x), isDict: true, depth: depth + 1 });
        walkValue(x, [...p, i], out, depth + 1);
      }
    });
  }
}

export function isDictExpr(e: Expr): boolean {
  return (e.type === 'Call' && e.func.type === 'Name' && e.func.id === 'dict') || e.type === 'Dict';
}

/** Every key path the file writes, in source order (top-level assignments and their dict displays). */
export function ownKeys(module: Module): OwnKey[] {
  const out: OwnKey[] = [];
  for (const s of module.body) {
    if (s.type !== 'Assign') continue;
    for (const t of s.targets) {
      if (t.type !== 'Name') continue;
      out.push({ path: [t.id], keyRange: rng(t), valueRange: rng(s.value), isDict: isDictExpr(s.value), depth: 0 });
      walkValue(s.value, [t.id], out, 0);
    }
  }
  return out;
}

export interface BaseEntry {
  /** As written. */
  rel: string;
  /** Resolved against the file's folder. */
  file: string;
  /** Range of the string literal. */
  range: Range;
}

/** The `_base_` entries of a file, from its first top-level `_base_ = ...` (string literals only). */
export function baseEntries(module: Module, file: string): BaseEntry[] {
  const stmt = module.body.find((s) => s.type === 'Assign' && s.targets.length === 1 && s.targets[0].type === 'Name' && s.targets[0].id === '_base_');
  if (!stmt || stmt.type !== 'Assign') return [];
  const v = stmt.value;
  const items = v.type === 'List' || v.type === 'Tuple' ? v.elts : [v];
  const out: BaseEntry[] = [];
  for (const it of items) {
    const s = strValue(it);
    if (s === undefined || s.includes('::')) continue;
    out.push({ rel: s, file: path.resolve(path.dirname(file), s), range: rng(it) });
  }
  return out;
}

/** Range of the whole `_base_ = ...` statement, if any. */
export function baseStatementRange(module: Module): Range | undefined {
  const stmt = module.body.find((s) => s.type === 'Assign' && s.targets.length === 1 && s.targets[0].type === 'Name' && s.targets[0].id === '_base_');
  return stmt ? rng(stmt) : undefined;
}
