import * as fs from 'fs';
import * as path from 'path';
import { MmclsError } from '../errors';
import { Module, Range, SyntaxErrorInfo } from './ast';
import { cfgOptionsToDict } from './cfg-options';
import { EvalError, Evaluator } from './evaluator';
import { Budget } from './limits';
import { markConfigDicts, mergeAIntoB, MergeError, listHistories } from './merge';
import { ConfigDict, ConfigValue, toPlain } from './output';
import { parseSource } from './parser';
import { freeze, frozen, FrozenMutation, listOrigins, Origin, PyBuiltin, PyDict, PyModule, PyTuple, PyValue, repr } from './values';

export interface LoadOptions {
  /** `KEY=VALUE` strings, as `--cfg-options` takes them. */
  cfgOptions?: string[];
  /** Environment for `{{$NAME:default}}` (defaults to `process.env`). */
  env?: Record<string, string | undefined>;
  /** Overlay for unsaved editor buffers; return undefined to read the file from disk. */
  readFile?: (absPath: string) => string | undefined;
}

/** Where a value of the merged config was written, and what it replaced. */
export interface SourceEntry {
  path: (string | number)[];
  file: string;
  range: Range;
  keyRange?: Range;
  /** Earlier values of this key path that this one overrode, oldest first. */
  overridden: { file: string; range: Range; value: ConfigValue }[];
}
/** Key: the dotted key path (`model.backbone.depth`, `train_pipeline.1.scale`). */
export type SourceMap = Map<string, SourceEntry>;

export interface Diagnostic {
  file: string;
  range: Range;
  message: string;
  severity: 'error' | 'warning';
  code: string;
}

/** What the loader learnt about one file of the inheritance tree. */
export interface FileInfo {
  file: string;
  source: string;
  module: Module;
  syntaxErrors: SyntaxErrorInfo[];
  /** Base files, resolved to absolute paths, with the range of each entry of `_base_`. */
  bases: { file: string; range: Range }[];
  /** The file's own variables (before merging into its bases), in the consumer model. */
  values?: ConfigDict;
}

export interface LoadedConfig {
  filename: string;
  value: ConfigDict;
  sourceMap: SourceMap;
  /** Every file read, the config itself first, then its bases depth-first. */
  files: string[];
  /** Per file: its tree, bases and own values. */
  fileInfo: Map<string, FileInfo>;
  /** Warnings (e.g. `_deprecation_`). Errors are thrown. */
  diagnostics: Diagnostic[];
}

export interface AnalyzedConfig {
  /** Undefined when loading failed; `diagnostics` then says why. */
  config?: LoadedConfig;
  diagnostics: Diagnostic[];
  files: string[];
  fileInfo: Map<string, FileInfo>;
  /** The first error, as `loadConfig` throws it. */
  error?: MmclsError;
}

const RESERVED_KEYS = ['filename', 'text', 'pretty_text'];

interface CacheEntry {
  mtimeMs: number;
  size: number;
  source: string;
  parsed: ReturnType<typeof parseSource>;
  /** When the file was last checked on disk (ms). */
  checkedAt: number;
}

/**
 * A file checked on disk less than this long ago is not checked again. Loading a zoo touches the
 * same base files hundreds of times a second, and a `stat` costs more than the rest of a cached
 * load; an edit on disk shows at most this much later (`clearConfigCache(file)` makes it show at
 * once; unsaved editor buffers come through `readFile` and are always current).
 */
export const STAT_INTERVAL_MS = 100;
/** `mtimeMs` of a file read without a stat: its first check reads it again and compares the text. */
const UNKNOWN_MTIME = -2;
/** Parsed files by absolute path; an entry is reused while the file's mtime and size (or overlay text) are unchanged. */
const parseCache = new Map<string, CacheEntry>();

function readAndParse(file: string, options: LoadOptions): CacheEntry {
  const overlay = options.readFile?.(file);
  const cached = parseCache.get(file);
  if (overlay !== undefined) {
    if (cached && cached.source === overlay) return cached;
    const e = { mtimeMs: -1, size: -1, source: overlay, parsed: parseSource(overlay), checkedAt: 0 };
    parseCache.set(file, e);
    return e;
  }
  const now = Date.now();
  if (cached && (cached.mtimeMs >= 0 || cached.mtimeMs === UNKNOWN_MTIME) && now - cached.checkedAt < STAT_INTERVAL_MS) return cached;
  if (!cached) {
    // First sight of the file in this process: just read it (a stat is only needed to tell later
    // whether it changed; that first check, one interval from now, compares the text instead).
    let source: string | undefined;
    try {
      source = fs.readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EISDIR') throw new MmclsError('not a config file (expected a .py file)', { code: 'config.not-found', location: { file } });
      if (code === 'ENOENT' || code === 'ENOTDIR') throw new MmclsError('config file not found (check the path)', { code: 'config.not-found', location: { file } });
      source = undefined;
    }
    if (source !== undefined) {
      if (source.charCodeAt(0) === 0xfeff) source = source.slice(1);
      const e: CacheEntry = { mtimeMs: UNKNOWN_MTIME, size: -1, source, parsed: parseSource(source), checkedAt: now };
      parseCache.set(file, e);
      return e;
    }
  }
  let st: fs.Stats | undefined;
  try {
    st = fs.statSync(file, { throwIfNoEntry: false });
  } catch {
    st = undefined;
  }
  if (!st) throw new MmclsError('config file not found (check the path)', { code: 'config.not-found', location: { file } });
  if (!st.isFile()) throw new MmclsError('not a config file (expected a .py file)', { code: 'config.not-found', location: { file } });
  if (cached && cached.mtimeMs !== UNKNOWN_MTIME && cached.mtimeMs === st.mtimeMs && cached.size === st.size) {
    cached.checkedAt = now;
    return cached;
  }
  const source = fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  if (cached && cached.source === source) {
    cached.mtimeMs = st.mtimeMs;
    cached.size = st.size;
    cached.checkedAt = now;
    return cached;
  }
  const e = { mtimeMs: st.mtimeMs, size: st.size, source, parsed: parseSource(source), checkedAt: now };
  parseCache.set(file, e);
  return e;
}

/** Forgets cached parses (all, or of one file). */
export function clearConfigCache(file?: string): void {
  resultCache.clear();
  if (file === undefined) parseCache.clear();
  else parseCache.delete(path.resolve(file));
}

class LoadState {
  readonly files: string[] = [];
  readonly fileInfo = new Map<string, FileInfo>();
  readonly diagnostics: Diagnostic[] = [];
  readonly budget = new Budget();
  /** Files whose evaluation read the environment (their results depend on more than the files). */
  readonly envFiles = new Set<string>();
  /** Parse entries used, by file (to validate cached results). */
  readonly parsed = new Map<string, CacheEntry>();
  constructor(
    readonly options: LoadOptions,
    readonly env: Record<string, string | undefined>,
    readonly useResultCache: boolean,
  ) {}
}

/**
 * Merged results of files (with their bases), reused across loads while every file involved is
 * unchanged. A config usually shares its bases with many others, so this is what makes loading a
 * whole zoo fast. The values are frozen (see values.ts); results that depend on the environment
 * are not kept.
 */
interface ResultEntry {
  /** Top-level results are frozen only when first reused (their own load does not change them). */
  frozen: boolean;
  deps: [string, CacheEntry][];
  files: string[];
  infos: FileInfo[];
  diagnostics: Diagnostic[];
  result: PyDict;
}
const resultCache = new Map<string, ResultEntry>();
const RESULT_CACHE_SIZE = 2000;

function cachedResult(file: string, state: LoadState): ResultEntry | undefined {
  const r = resultCache.get(file);
  if (!r) return undefined;
  for (const [dep, entry] of r.deps) {
    if (state.parsed.get(dep) === entry) continue;
    let now: CacheEntry;
    try {
      now = readAndParse(dep, state.options);
    } catch {
      return undefined;
    }
    if (now !== entry) {
      resultCache.delete(file);
      return undefined;
    }
  }
  return r;
}

function errorAt(message: string, code: string, file: string, range: Range | undefined): MmclsError {
  return new MmclsError(message, { code, location: range ? { file, ...pickRange(range) } : { file } });
}

function fromEval(e: EvalError, file: string): MmclsError {
  return errorAt(e.message, e.code, file, e.range);
}

/**
 * MMEngine's `Config._file2dict`: evaluates `file` on top of its merged bases and returns the
 * merged dict (internal values).
 */
function fileToDict(file: string, state: LoadState, chain: string[]): PyDict {
  if (state.useResultCache) {
    const hit = cachedResult(file, state);
    if (hit) {
      if (hit.files.some((f) => chain.includes(f))) {
        // A cycle through a cached subtree: evaluate for real to report it properly.
      } else {
        if (!hit.frozen) {
          freeze(hit.result);
          hit.frozen = true;
        }
        state.files.push(...hit.files);
        for (const i of hit.infos) state.fileInfo.set(i.file, i);
        state.diagnostics.push(...hit.diagnostics);
        for (const [f, e] of hit.deps) state.parsed.set(f, e);
        return hit.result;
      }
    }
  }
  const firstFile = state.files.length;
  const firstDiag = state.diagnostics.length;
  const merged = fileToDictUncached(file, state, chain);
  if (state.useResultCache) {
    const files = state.files.slice(firstFile);
    if (!files.some((f) => state.envFiles.has(f))) {
      // A base is frozen now, before the file that inherits it runs; a top-level result later.
      const freezeNow = chain.length > 0;
      if (freezeNow) freeze(merged);
      const deps: [string, CacheEntry][] = [];
      for (const f of new Set(files)) {
        const e = state.parsed.get(f);
        if (!e) return merged;
        deps.push([f, e]);
      }
      const infos = files.map((f) => state.fileInfo.get(f)).filter((i): i is FileInfo => i !== undefined);
      if (resultCache.size >= RESULT_CACHE_SIZE) resultCache.delete(resultCache.keys().next().value as string);
      resultCache.set(file, { frozen: freezeNow, deps, files, infos, diagnostics: state.diagnostics.slice(firstDiag), result: merged });
    }
  }
  return merged;
}

function fileToDictUncached(file: string, state: LoadState, chain: string[]): PyDict {
  state.files.push(file);
  const ext = path.extname(file);
  if (ext !== '.py' && ext !== '.json') {
    throw errorAt(`only .py and .json config files are supported, got ${path.basename(file)}`, 'config.unsupported', file, undefined);
  }
  const entry = readAndParse(file, state.options);
  state.parsed.set(file, entry);
  if (ext === '.json') return jsonToDict(entry.source, file);
  const { module, errors } = entry.parsed;
  const info: FileInfo = { file, source: entry.source, module, syntaxErrors: errors, bases: [] };
  state.fileInfo.set(file, info);
  if (errors.length > 0) {
    const e = errors[0];
    const err = errorAt(`SyntaxError: ${e.message}`, 'config.syntax', file, e);
    // Evaluate the statements that did parse, so that the editor has this file's values
    // (`fileInfo.values`) while it is half-typed; the syntax error is what the load reports.
    try {
      evaluateFile(file, state, chain, info, module);
    } catch (x) {
      if (!(x instanceof MmclsError || x instanceof FrozenMutation)) throw x;
    }
    throw err;
  }
  return evaluateFile(file, state, chain, info, module);
}

function evaluateFile(file: string, state: LoadState, chain: string[], info: FileInfo, module: Module): PyDict {
  const predefined = predefinedVars(file);

  // _base_: the first top-level `_base_ = ...`, evaluated on its own (MMEngine evals just that expression).
  const baseStmt = module.body.find(
    (s) => s.type === 'Assign' && s.targets.length === 1 && s.targets[0].type === 'Name' && s.targets[0].id === '_base_',
  );
  const baseList: { rel: string; range: Range }[] = [];
  if (baseStmt && baseStmt.type === 'Assign') {
    const ev = new Evaluator({ file, base: new PyDict(), env: state.env, predefined, budget: state.budget, onEnv: () => state.envFiles.add(file) });
    let v: PyValue;
    state.budget.resume();
    try {
      v = ev.eval(baseStmt.value, null);
    } catch (e) {
      throw fromEval(ev.wrap(e, baseStmt.value), file);
    } finally {
      state.budget.pause();
    }
    const node = baseStmt.value;
    if (typeof v === 'string') baseList.push({ rel: v, range: pickRange(node) });
    else if (Array.isArray(v) && !(v instanceof PyTuple) && v.every((x) => typeof x === 'string')) {
      const o = listOrigins.get(v);
      v.forEach((x, i) => baseList.push({ rel: x as string, range: pickRange(o?.[i]?.range ?? node) }));
    } else {
      throw errorAt(`_base_ must be a file path or a list of file paths, got ${repr(v)}`, 'config.base', file, node);
    }
  }

  const baseDict = new PyDict();
  baseDict.configDict = true;
  const definedIn = new Map<unknown, string>();
  for (const b of baseList) {
    if (b.rel.includes('::')) {
      throw errorAt(`package-scoped base configs ('${b.rel}') are not supported; copy the file into your project and refer to it by a relative path`, 'config.base', file, b.range);
    }
    const abs = path.resolve(path.dirname(file), b.rel);
    info.bases.push({ file: abs, range: b.range });
    if (chain.includes(abs) || abs === file) {
      const cycle = [...chain, file, abs].slice([...chain, file].indexOf(abs));
      throw errorAt(`circular _base_ inheritance: ${cycle.map((f) => path.relative(path.dirname(file), f) || path.basename(f)).join(' -> ')}`, 'config.cycle', file, b.range);
    }
    let d: PyDict;
    try {
      d = fileToDict(abs, state, [...chain, file]);
    } catch (e) {
      if (e instanceof MmclsError && e.code === 'config.not-found' && e.location.file === abs) {
        throw errorAt(`base config not found: ${b.rel} (looked for ${abs})`, 'config.base-not-found', file, b.range);
      }
      throw e;
    }
    const dup = [...d.entries()].filter((e) => baseDict.has(e.key)).map((e) => e.key);
    if (dup.length > 0) {
      const where = dup.map((k) => `'${String(k)}' (in ${path.basename(definedIn.get(k) ?? '?')} and ${path.basename(abs)})`).join(', ');
      throw errorAt(
        `Duplicate key is not allowed among bases. Duplicate keys: {${dup.map((k) => repr(k)).join(', ')}}: ${where}`,
        'config.duplicate-key', file, b.range,
      );
    }
    for (const e of d.entries()) {
      if (!frozen.has(d)) markConfigDicts(e.value);
      baseDict.setEntry(e);
      definedIn.set(e.key, abs);
    }
  }

  const ev = new Evaluator({ file, base: baseDict, env: state.env, predefined, budget: state.budget, onEnv: () => state.envFiles.add(file) });
  let result;
  state.budget.resume();
  try {
    result = ev.runModule(module);
  } catch (e) {
    if (e instanceof EvalError) throw fromEval(e, file);
    throw e;
  } finally {
    state.budget.pause();
  }
  if (result.errors.length > 0) {
    // Report every failed statement (the editor shows them all); the first one is thrown.
    for (const err of result.errors.slice(1)) {
      state.diagnostics.push({ file, range: pickRange(err.range), message: err.message, severity: 'error', code: err.code });
    }
    throw fromEval(result.errors[0], file);
  }

  // cfg_dict: the module's names, without modules and functions (MMEngine drops those).
  const own = new PyDict();
  for (const e of result.globals.entries()) {
    const k = e.key as string;
    if (k.startsWith('__') || e.value instanceof PyModule || e.value instanceof PyBuiltin) continue;
    own.setEntry(e);
  }
  const dep = own.getStr('_deprecation_');
  if (dep) {
    own.delete('_deprecation_');
    let msg = `The config file ${file} will be deprecated in the future.`;
    if (dep.value instanceof PyDict) {
      const exp = dep.value.getStr('expected');
      const ref = dep.value.getStr('reference');
      if (exp) msg += ` Please use ${String(exp.value)} instead.`;
      if (ref) msg += ` More information can be found at ${String(ref.value)}`;
    }
    state.diagnostics.push({ file, range: dep.origin ? pickRange(dep.origin.range) : { line: 1, column: 1, endLine: 1, endColumn: 1 }, message: msg, severity: 'warning', code: 'config.deprecated' });
  }
  let ownPlain: ConfigDict | undefined | null = null;
  Object.defineProperty(info, 'values', {
    enumerable: true,
    get(): ConfigDict | undefined {
      if (ownPlain === null) {
        try {
          ownPlain = toPlain(own) as ConfigDict;
        } catch {
          ownPlain = undefined;
        }
      }
      return ownPlain;
    },
  });
  let merged: PyDict;
  try {
    merged = mergeAIntoB(own, baseDict) as PyDict;
  } catch (e) {
    if (e instanceof MergeError) throw errorAt(e.message, e.code, e.origin?.file ?? file, e.origin ? pickRange(e.origin.range) : undefined);
    throw e;
  }
  return merged;
}

function jsonToDict(source: string, file: string): PyDict {
  let data: unknown;
  try {
    data = JSON.parse(source);
  } catch (e) {
    throw errorAt(`invalid JSON: ${(e as Error).message}`, 'config.syntax', file, undefined);
  }
  const conv = (v: unknown): PyValue => {
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
    if (typeof v === 'number') return v;
    if (Array.isArray(v)) return v.map(conv);
    const d = new PyDict();
    for (const [k, x] of Object.entries(v as object)) d.set(k, conv(x), { file, range: { line: 1, column: 1, endLine: 1, endColumn: 1 } });
    return d;
  };
  const d = conv(data);
  if (!(d instanceof PyDict)) throw errorAt('a JSON config must be an object', 'config.syntax', file, undefined);
  if (d.has('_base_')) throw errorAt('_base_ in JSON configs is not supported', 'config.unsupported', file, undefined);
  return d;
}

function predefinedVars(file: string): Record<string, string> {
  const base = path.basename(file);
  const ext = path.extname(file);
  return {
    fileDirname: path.dirname(file).replace(/\\/g, '/'),
    fileBasename: base.replace(/\\/g, '/'),
    fileBasenameNoExtension: base.slice(0, base.length - ext.length),
    fileExtname: ext,
  };
}

function buildSourceMap(d: PyDict): SourceMap {
  const map: SourceMap = new Map();
  const budget = { left: 2_000_000 };
  const walk = (v: PyValue, p: (string | number)[], origin: Origin | undefined, history: SourceEntry['overridden'], depth: number) => {
    if (--budget.left < 0 || depth > 100) return;
    if (origin) {
      const entry: SourceEntry = { path: p, file: origin.file, range: pickRange(origin.range), overridden: history };
      if (origin.keyRange) entry.keyRange = pickRange(origin.keyRange);
      map.set(p.join('.'), entry);
    }
    if (v instanceof PyDict) {
      for (const e of v.entries()) {
        const hist = (e.history ?? []).filter((h) => h.origin).map((h) => ({ file: (h.origin as Origin).file, range: pickRange((h.origin as Origin).range), value: safePlain(h.value) }));
        walk(e.value, [...p, typeof e.key === 'string' ? e.key : repr(e.key)], e.origin ?? origin, hist, depth + 1);
      }
    } else if (Array.isArray(v)) {
      const o = listOrigins.get(v);
      const h = listHistories.get(v);
      v.forEach((x, i) => {
        const hist = (h?.[i] ?? []).filter((it) => it.origin).map((it) => ({ file: (it.origin as Origin).file, range: pickRange((it.origin as Origin).range), value: safePlain(it.value) }));
        walk(x, [...p, i], o?.[i] ?? origin, hist, depth + 1);
      });
    }
  };
  for (const e of d.entries()) {
    const hist = (e.history ?? []).filter((h) => h.origin).map((h) => ({ file: (h.origin as Origin).file, range: pickRange((h.origin as Origin).range), value: safePlain(h.value) }));
    walk(e.value, [e.key as string], e.origin, hist, 0);
  }
  return map;
}

function pickRange(r: Range): Range {
  return { line: r.line, column: r.column, endLine: r.endLine, endColumn: r.endColumn };
}

function safePlain(v: PyValue): ConfigValue {
  try {
    return toPlain(v, { left: 100_000 });
  } catch {
    return null;
  }
}

/**
 * Loads a config like MMEngine's `Config.fromfile` (then `merge_from_dict(cfgOptions)`), without
 * running it. Never throws: errors come back in `diagnostics` and `error`.
 */
export function analyzeConfig(file: string, options: LoadOptions = {}): AnalyzedConfig {
  const useCache = options.readFile === undefined;
  try {
    return analyze(file, options, useCache);
  } catch (e) {
    if (e instanceof FrozenMutation) return analyze(file, options, false);
    throw e;
  }
}

function analyze(file: string, options: LoadOptions, useCache: boolean): AnalyzedConfig {
  const filename = path.resolve(file);
  const state = new LoadState(options, options.env ?? process.env, useCache);
  try {
    let d = fileToDict(filename, state, []);
    for (const k of RESERVED_KEYS) {
      const e = d.getStr(k);
      if (e) throw errorAt(`KeyError: '${k}' is reserved for config file`, 'config.reserved-key', e.origin?.file ?? filename, e.origin ? pickRange(e.origin.range) : undefined);
    }
    if (options.cfgOptions && options.cfgOptions.length > 0) {
      const opts = cfgOptionsToDict(options.cfgOptions);
      try {
        d = mergeAIntoB(opts, d, true) as PyDict;
      } catch (e) {
        if (e instanceof MergeError) {
          const line = e.origin?.range.line;
          throw new MmclsError(`--cfg-options ${line !== undefined ? options.cfgOptions[line - 1] : ''}: ${e.message}`, { code: 'config.cfg-options' });
        }
        throw e;
      }
    }
    let value: ConfigDict;
    try {
      value = toPlain(d) as ConfigDict;
    } catch (e) {
      if (e instanceof MmclsError && !e.location.file) throw new MmclsError(e.message, { code: e.code, location: { file: filename } });
      throw e;
    }
    const merged = d;
    let sourceMap: SourceMap | undefined;
    const config = {
      filename,
      value,
      files: state.files,
      fileInfo: state.fileInfo,
      diagnostics: state.diagnostics,
    } as LoadedConfig;
    // Built on first use: most callers never look at it.
    Object.defineProperty(config, 'sourceMap', {
      enumerable: true,
      get: () => (sourceMap ??= buildSourceMap(merged)),
    });
    return { config, diagnostics: state.diagnostics, files: state.files, fileInfo: state.fileInfo };
  } catch (e) {
    let err: MmclsError;
    if (e instanceof MmclsError) err = e;
    else if (e instanceof RangeError) {
      err = new MmclsError('the config is nested too deeply to evaluate', { code: 'config.limit', location: { file: filename } });
    } else throw e;
    const loc = err.location;
    const diag: Diagnostic = {
      file: loc.file ?? filename,
      range: { line: loc.line ?? 1, column: loc.column ?? 1, endLine: loc.endLine ?? loc.line ?? 1, endColumn: loc.endColumn ?? loc.column ?? 1 },
      message: err.message,
      severity: 'error',
      code: err.code,
    };
    const diagnostics = [diag, ...state.diagnostics];
    // All syntax errors of the files read, not only the first.
    for (const info of state.fileInfo.values()) {
      for (const se of info.syntaxErrors) {
        if (info.file === diag.file && se.line === diag.range.line && se.column === diag.range.column) continue;
        diagnostics.push({ file: info.file, range: pickRange(se), message: `SyntaxError: ${se.message}`, severity: 'error', code: 'config.syntax' });
      }
    }
    return { diagnostics, files: state.files, fileInfo: state.fileInfo, error: err };
  }
}

/** Loads a config like MMEngine's `Config.fromfile`; throws MmclsError at the first problem. */
export function loadConfig(file: string, options: LoadOptions = {}): LoadedConfig {
  const r = analyzeConfig(file, options);
  if (r.error) throw r.error;
  return r.config as LoadedConfig;
}
