/**
 * The config engine: reads MMEngine-style Python config files without running them and gives
 * what MMEngine's `Config.fromfile` gives, plus where every value was written.
 *
 * - `loadConfig(file, {cfgOptions, env, readFile})` → merged config, source map, files read.
 * - `analyzeConfig(...)`: the same, never throws (for the language server).
 * - `parsePython(source)`: syntax tree with positions and the syntax errors (recovers per statement).
 * - `dumpPython` / `dumpJson`: the merged config as Python (re-readable) or JSON text.
 *
 * Value model: see output.ts (plain JS; tuples are arrays with `isTuple(v)`; integral floats are
 * numbers whose container remembers them, `isFloatAt(container, key)`).
 */
import { Module, SyntaxErrorInfo } from './ast';
import { parseSource } from './parser';

export type { Expr, Module, Range, Stmt, StrPart, SyntaxErrorInfo } from './ast';
export { analyzeConfig, clearConfigCache, loadConfig } from './loader';
export type { AnalyzedConfig, Diagnostic, FileInfo, LoadedConfig, LoadOptions, SourceEntry, SourceMap } from './loader';
export { dumpJson, dumpPython } from './dump';
export { dictEntries, isFloatAt, isSetArray, markFloat } from './output';
export type { ConfigDict, ConfigValue } from './output';
export { isTuple, PyTuple } from './values';
export { parseIterable as parseCfgOptionValue } from './cfg-options';
export { LIMITS } from './limits';

/** Parses Python source; never throws. `filename` is only recorded for callers' convenience. */
export function parsePython(source: string, filename?: string): { module: Module; errors: SyntaxErrorInfo[]; filename?: string } {
  const r = parseSource(source);
  return { module: r.module, errors: r.errors, filename };
}
