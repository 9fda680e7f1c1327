/**
 * The language service: document text and positions in, plain results out. No LSP here; the
 * protocol layer (server/server.ts) converts. Everything is computed from the runtime's config
 * engine and registry schema, so the editor says what training will do.
 */
import * as fs from 'fs';
import * as path from 'path';
import { analyzeConfig, clearConfigCache, ConfigDict, ConfigValue, dumpPython, isFloatAt, isTuple, parsePython } from '../../runtime/config';
import type { AnalyzedConfig, LoadedConfig, Module, Range } from '../../runtime/config';
import { checkConfig, componentsOf, findComponent, formatKeyPath, isInjected, loadedSchemaFile, mmclsTypes, notImplemented, parseKeyPath, slotOf, typeOfDict } from '../../runtime/registry/schema';
import type { ComponentSchema, OptionSchema } from '../../runtime/registry/schema';
import { describeKind, pyRepr } from '../../runtime/registry/check';
import type { LineOrigin, MergedConfigResult } from '../protocol';
import { baseEntries, OwnKey, ownKeys } from './own-keys';
import { baseRefBefore, bracketPairs, contextAt, Segment, stringContents, Token, tokenAt, tokenize } from './scan';
import { TOP_LEVEL_KEYS } from './top-level-keys';
import type {
  Position, ServiceCodeLens, ServiceCompletion, ServiceDiagnostic, ServiceFold, ServiceHover, ServiceInlayHint, ServiceSemanticToken,
  ServiceSymbol, Severity, Span, FileLocation,
} from './types';
import { datasetSize, DatasetSize } from './dataset-size';
import { headInputProblem } from './shapes';
import { WorkspaceIndex } from './workspace';

interface Doc {
  text: string;
  version: number;
}

interface Analysis {
  /** The change counter of every file the result depends on, when it was computed. */
  deps: Map<string, number>;
  text: string;
  module: Module;
  own: OwnKey[];
  result: AnalyzedConfig;
  /** The merged config of this version, or of the last version that merged. */
  config?: LoadedConfig;
  stale: boolean;
}

type Dict = { [k: string]: unknown };

/** 1-based engine range -> 0-based span. */
export function spanOf(r: Range): Span {
  return { start: { line: Math.max(0, r.line - 1), character: Math.max(0, r.column - 1) }, end: { line: Math.max(0, r.endLine - 1), character: Math.max(0, r.endColumn - 1) } };
}

export function offsetAt(text: string, pos: Position): number {
  let line = 0;
  let i = 0;
  while (line < pos.line) {
    const j = text.indexOf('\n', i);
    if (j < 0) return text.length;
    i = j + 1;
    line++;
  }
  const eol = text.indexOf('\n', i);
  const lineEnd = eol < 0 ? text.length : eol;
  return Math.min(i + pos.character, lineEnd);
}

export function positionAt(text: string, offset: number): Position {
  let line = 0;
  let last = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i + 1;
    }
  }
  return { line, character: Math.min(offset, text.length) - last };
}

function valueAt(root: unknown, segs: Segment[]): unknown {
  let cur = root;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}

function isDict(v: unknown): v is Dict {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function samePath(a: Segment[], b: Segment[]): boolean {
  return a.length === b.length && a.every((s, i) => String(s) === String(b[i]));
}

/** A value as the config would spell it (tuples as tuples, dicts as `dict(...)`), shortened to `max` characters. */
function shortRepr(v: unknown, max = 60): string {
  const s = pyText(v, 0);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

function shortText(v: unknown, max: number, container: object, key: string | number): string {
  const s = pyText(v, 0, container, key);
  return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

function pyText(v: unknown, depth: number, container?: object, key?: string | number): string {
  if (typeof v === 'number' && Number.isInteger(v) && container && key !== undefined && isFloatAt(container, key)) return `${v}.0`;
  if (Array.isArray(v)) {
    if (depth > 3) return isTuple(v) ? '(...)' : '[...]';
    const items = v.slice(0, 20).map((x, i) => pyText(x, depth + 1, v, i));
    if (v.length > 20) items.push('...');
    return isTuple(v) ? `(${items.join(', ')}${v.length === 1 ? ', ' : ''})` : `[${items.join(', ')}]`;
  }
  if (isDict(v)) {
    if (depth > 3) return 'dict(...)';
    const entries = Object.entries(v);
    const ident = entries.every(([k]) => /^[A-Za-z_]\w*$/.test(k));
    const items = entries.slice(0, 20).map(([k, x]) => (ident ? `${k}=${pyText(x, depth + 1, v, k)}` : `${pyRepr(k)}: ${pyText(x, depth + 1, v, k)}`));
    if (entries.length > 20) items.push('...');
    return ident ? `dict(${items.join(', ')})` : `{${items.join(', ')}}`;
  }
  return pyRepr(v, 1000);
}

const SEVERITY: Record<'error' | 'warning' | 'info', Severity> = { error: 'error', warning: 'warning', info: 'information' };

/** Keys RandAugment/AutoAugment policy entries carry for the augment itself, not for the transform. */
const POLICY_KEYS = new Set(['magnitude_key', 'magnitude_range']);

export interface ServiceOptions {
  roots?: string[];
  configGlobs?: string[];
  /** Called with messages about internal failures (the server logs them). */
  log?: (msg: string) => void;
}

export class LanguageService {
  readonly index: WorkspaceIndex;
  private readonly docs = new Map<string, Doc>();
  /** Per file, the counter value of its last change (open, edit, close, change on disk). */
  private readonly fileGen = new Map<string, number>();
  private tick = 0;
  private readonly analyses = new Map<string, Analysis>();
  private readonly lastGood = new Map<string, LoadedConfig>();
  private readonly flopsCache = new Map<string, { title: string; table: string }>();
  private readonly log: (msg: string) => void;

  constructor(opts: ServiceOptions = {}) {
    this.log = opts.log ?? (() => undefined);
    this.index = new WorkspaceIndex(opts.roots ?? [], (f) => this.docs.get(f)?.text);
    this.index.setRoots(opts.roots ?? []);
    this.index.setGlobs(opts.configGlobs ?? []);
  }

  // ------------------------------------------------------------------ documents and index

  /** Indexes the workspace roots; returns the number of configs found. */
  indexWorkspace(roots?: string[]): number {
    if (roots) this.index.setRoots(roots);
    return this.index.build();
  }

  setConfigGlobs(globs: string[]): void {
    this.index.setGlobs(globs);
  }

  open(file: string, text: string, version = 0): void {
    file = path.resolve(file);
    this.docs.set(file, { text, version });
    this.touch(file, text);
  }

  change(file: string, text: string, version = 0): void {
    this.open(file, text, version);
  }

  close(file: string): void {
    file = path.resolve(file);
    this.docs.delete(file);
    this.touch(file, undefined);
  }

  /** A file changed on disk (or was created/deleted). */
  fileChanged(file: string, deleted = false): void {
    file = path.resolve(file);
    clearConfigCache(file);
    if (deleted) {
      this.index.remove(file);
      this.bump(file);
      return;
    }
    this.touch(file, this.docs.get(file)?.text);
  }

  private bump(file: string): void {
    this.fileGen.set(file, ++this.tick);
  }

  private fresh(a: Analysis): boolean {
    for (const [f, g] of a.deps) if ((this.fileGen.get(f) ?? 0) !== g) return false;
    return true;
  }

  private touch(file: string, text: string | undefined): void {
    this.bump(file);
    if (this.index.has(file) || this.index.isConfig(file, text)) this.index.update(file, text);
  }

  isOpen(file: string): boolean {
    return this.docs.has(path.resolve(file));
  }

  textOf(file: string): string | undefined {
    const d = this.docs.get(file);
    if (d) return d.text;
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Whether the file is a config the service handles. */
  isConfig(file: string): boolean {
    file = path.resolve(file);
    return this.index.has(file) || this.index.isConfig(file, this.docs.get(file)?.text);
  }

  /** Configs that depend on `file` (to re-check when it changes), open or not. */
  dependentsOf(file: string): string[] {
    return this.index.dependents(path.resolve(file));
  }

  private ancestors(file: string): Set<string> {
    const out = new Set<string>();
    const stack = [file];
    while (stack.length && out.size < 1000) {
      const f = stack.pop() as string;
      for (const b of this.index.bases(f)) {
        if (!out.has(b)) {
          out.add(b);
          stack.push(b);
        }
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ analysis

  analysis(file: string): Analysis {
    file = path.resolve(file);
    const hit = this.analyses.get(file);
    if (hit && this.fresh(hit)) return hit;
    const text = this.textOf(file) ?? '';
    // Unsaved buffers only matter when this file or one of its bases is open; otherwise the
    // loader's own caches (shared by all configs of the zoo) apply.
    const chain = this.ancestors(file);
    chain.add(file);
    const overlay = [...chain].some((f) => this.docs.has(f));
    let result: AnalyzedConfig;
    try {
      result = analyzeConfig(file, overlay ? { readFile: (f) => this.docs.get(f)?.text } : {});
    } catch (e) {
      this.log(`analysis of ${file} failed: ${(e as Error).stack ?? String(e)}`);
      result = { diagnostics: [], files: [file], fileInfo: new Map() };
    }
    const info = result.fileInfo.get(file);
    const module = info && info.source === text ? info.module : parsePython(text).module;
    let config = result.config;
    let stale = false;
    if (config) this.lastGood.set(file, config);
    else {
      config = this.lastGood.get(file);
      stale = config !== undefined;
    }
    const deps = new Map<string, number>();
    for (const f of [file, ...chain, ...result.files]) deps.set(f, this.fileGen.get(f) ?? 0);
    const a: Analysis = { deps, text, module, own: ownKeys(module), result, ...(config ? { config } : {}), stale };
    this.analyses.set(file, a);
    if (this.analyses.size > 400) {
      const first = this.analyses.keys().next().value as string;
      if (first !== file) this.analyses.delete(first);
    }
    return a;
  }

  private rel(from: string, to: string): string {
    const r = path.relative(path.dirname(from), to).split(path.sep).join('/');
    return r.startsWith('.') ? r : `./${r}`;
  }

  // ------------------------------------------------------------------ diagnostics

  diagnostics(file: string): ServiceDiagnostic[] {
    file = path.resolve(file);
    const a = this.analysis(file);
    const out: ServiceDiagnostic[] = [];
    const bases = baseEntries(a.module, file);
    const firstLine: Span = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    const seen = new Set<string>();
    const push = (d: ServiceDiagnostic) => {
      const k = `${d.span.start.line}:${d.span.start.character}:${d.code}:${d.message}`;
      if (seen.has(k)) return;
      seen.add(k);
      out.push(d);
    };
    for (const d of a.result.diagnostics) {
      if (d.file === file) {
        push({ span: spanOf(d.range), severity: d.severity === 'error' ? 'error' : 'warning', code: d.code, message: d.message });
        continue;
      }
      // A problem in a base: shown on the `_base_` entry that leads to it.
      const via = bases.find((b) => b.file === d.file || this.ancestors(b.file).has(d.file));
      const where = `${this.rel(file, d.file)}:${d.range.line}`;
      push({
        span: via ? spanOf(via.range) : firstLine,
        severity: d.severity === 'error' ? 'error' : 'warning',
        code: d.code,
        message: `in base ${where}: ${d.message}`,
        related: [{ location: { file: d.file, span: spanOf(d.range) }, message: d.message }],
      });
    }
    if (a.result.config) {
      try {
        this.schemaDiagnostics(file, a, a.result.config, push);
      } catch (e) {
        this.log(`checks of ${file} failed: ${(e as Error).stack ?? String(e)}`);
      }
    }
    return out;
  }

  private ownAt(a: Analysis, segs: Segment[]): OwnKey | undefined {
    for (let i = a.own.length - 1; i >= 0; i--) if (samePath(a.own[i].path, segs)) return a.own[i];
    return undefined;
  }

  private schemaDiagnostics(file: string, a: Analysis, cfg: LoadedConfig, push: (d: ServiceDiagnostic) => void): void {
    const value = cfg.value;
    for (const p of checkConfig(value)) {
      const segs = parseKeyPath(p.path);
      const last = segs[segs.length - 1];
      if (p.code === 'registry.unknown-arg' && typeof last === 'string') {
        if (last === '_delete_') continue;
        if (POLICY_KEYS.has(last) && segs.includes('policies')) continue;
      }
      // MMEngine builds a list of MODELS configs as a Sequential (build_model_from_cfg), so
      // `neck=[dict(...), dict(...)]` (HRNet) is valid where the schema says one config dict.
      if (p.code === 'registry.bad-value' && typeof last === 'string') {
        const v = valueAt(value, segs);
        const parent = this.componentAt(value, segs.slice(0, -1));
        const opt = parent.comp?.options.find((o) => o.name === last);
        if (Array.isArray(v) && v.every(isDict) && opt && acceptsModelConfig(opt.kind)) continue;
      }
      const isArg = p.code === 'registry.unknown-arg' || p.code === 'registry.missing-arg' || p.code === 'registry.bad-value';
      const compPath = isArg ? segs.slice(0, -1) : segs;
      const at = this.ownAt(a, segs) ?? (p.code !== 'registry.missing-arg' ? undefined : undefined);
      const typeHere = this.ownAt(a, [...compPath, 'type']);
      let span: Span | undefined;
      let note = '';
      if (at && p.code !== 'registry.missing-arg') {
        span = spanOf(p.code === 'registry.bad-value' || p.code === 'registry.unknown-type' || p.code === 'registry.not-implemented' || p.code === 'registry.wrong-category' ? (this.ownAt(a, [...segs, 'type'])?.valueRange ?? at.valueRange) : at.keyRange);
      } else if (typeHere) {
        span = spanOf(typeHere.valueRange);
        const entry = cfg.sourceMap.get(segs.map(String).join('.'));
        if (entry && entry.file !== file) note = ` (inherited from ${this.rel(file, entry.file)}:${entry.range.line})`;
      } else if (p.code === 'registry.missing-arg') {
        const dictHere = this.ownAt(a, compPath);
        if (dictHere) span = spanOf(dictHere.keyRange);
      }
      if (!span) continue;
      push({ span, severity: SEVERITY[p.severity], code: p.code, message: p.message + note });
    }
    this.extraChecks(file, a, value, push);
  }

  /** Checks the schema alone cannot make: shapes the runtime can infer, `_delete_` with nothing to delete. */
  private extraChecks(file: string, a: Analysis, value: ConfigDict, push: (d: ServiceDiagnostic) => void): void {
    const model = value.model;
    const head = isDict(model) ? model.head : undefined;
    if (isDict(head) && typeof head.num_classes === 'number') {
      for (const split of ['train_dataloader', 'val_dataloader', 'test_dataloader']) {
        const ds = valueAt(value, [split, 'dataset']);
        if (!isDict(ds)) continue;
        const classes = Array.isArray(ds.classes) ? ds.classes : isDict(ds.metainfo) && Array.isArray(ds.metainfo.classes) ? ds.metainfo.classes : undefined;
        if (!classes || classes.length === head.num_classes) continue;
        const key = this.ownAt(a, ['model', 'head', 'num_classes']) ?? this.ownAt(a, [split, 'dataset', 'classes']) ?? this.ownAt(a, [split, 'dataset', 'metainfo', 'classes']);
        if (!key) continue;
        push({
          span: spanOf(key.keyRange),
          severity: 'warning',
          code: 'mmcls.num-classes-mismatch',
          message: `model.head.num_classes is ${head.num_classes}, but ${split}.dataset has ${classes.length} classes. Set num_classes=${classes.length} (or give the dataset the classes the head predicts).`,
        });
        break;
      }
    }
    this.headInputCheck(a, value, push);
    // `_delete_` stays in the merged config only where there was nothing to delete (as in MMEngine).
    const visit = (v: unknown, segs: Segment[], depth: number) => {
      if (depth > 40) return;
      if (Array.isArray(v)) v.forEach((x, i) => visit(x, [...segs, i], depth + 1));
      else if (isDict(v)) {
        if ('_delete_' in v) {
          const k = this.ownAt(a, [...segs, '_delete_']);
          if (k) {
            push({
              span: spanOf(k.keyRange),
              severity: 'warning',
              code: 'config.delete-nothing',
              message: `_delete_ at ${formatKeyPath(segs)} has nothing to delete: no base sets ${formatKeyPath(segs)}, so "_delete_" stays in the config as a key. Remove _delete_=True.`,
            });
          }
        }
        for (const [k, x] of Object.entries(v)) visit(x, [...segs, k], depth + 1);
      }
    };
    visit(value, [], 0);
  }

  /**
   * The head's `in_channels` against the features the backbone and neck give at the config's test
   * input size, by the runtime's shape inference (server/service/shapes.ts); silent when the
   * shapes cannot be inferred.
   */
  private headInputCheck(a: Analysis, value: ConfigDict, push: (d: ServiceDiagnostic) => void): void {
    const p = headInputProblem(value as Record<string, unknown>);
    if (!p) return;
    const model = value.model as Dict;
    const own = (prefix: string[]) => a.own.find((k) => k.path.length > prefix.length && samePath(k.path.slice(0, prefix.length), prefix));
    const key =
      p.kind === 'not-pooled'
        ? (this.ownAt(a, ['model', 'neck']) ?? this.ownAt(a, ['model', 'head', 'in_channels']) ?? own(['model', 'backbone']) ?? own(['model', 'head']))
        : (this.ownAt(a, ['model', 'head', 'in_channels']) ?? own(['model', 'backbone']) ?? own(['model', 'neck']) ?? this.ownAt(a, ['model', 'neck']) ?? own(['model', 'head']));
    if (!key) return;
    const source = `the backbone (${describeModule(model.backbone)})${isDict(model.neck) || (Array.isArray(model.neck) && model.neck.length) ? ` with its neck (${describeNeck(model.neck)})` : ''}`;
    const at = `${p.input[0]}×${p.input[1]}×${p.input[2]}`;
    if (p.kind === 'in-channels') {
      push({
        span: spanOf(key.keyRange),
        severity: 'warning',
        code: 'mmcls.in-channels-mismatch',
        message: `model.head.in_channels is ${p.inChannels}, but ${source} gives ${p.channels} channels (features of shape [${p.feature.join(', ')}] for a ${at} input). Set in_channels=${p.channels}.`,
      });
    } else {
      push({
        span: spanOf(key.keyRange),
        severity: 'warning',
        code: 'mmcls.head-input-not-pooled',
        message: `model.head (${describeModule(model.head)}) gets a feature map of shape [${p.feature.join(', ')}] from ${source} for a ${at} input, but its linear layer needs pooled [N, C] features. Add neck=dict(type='GlobalAveragePooling') (in_channels would then be ${p.feature[1]}).`,
      });
    }
  }

  // ------------------------------------------------------------------ completion

  private mergedValue(a: Analysis): ConfigDict | undefined {
    return a.config?.value;
  }

  /** The component type in effect for the dict at `segs`, and its slot. */
  private componentAt(merged: unknown, segs: Segment[], typeInText?: string): { comp?: ComponentSchema; registry?: string; category?: string } {
    if (!segs.length) return {};
    const slot = slotOf(segs, merged);
    if (!slot) return {};
    const dict = valueAt(merged, segs);
    const type = typeInText || (isDict(dict) ? typeOfDict(slot, dict) : slot.defaultType);
    const comp = type ? findComponent(slot.registry, type) : undefined;
    return { ...(comp ? { comp } : {}), registry: slot.registry, ...(slot.category ? { category: slot.category } : {}) };
  }

  /**
   * For completion while typing: the current text with the merged config of the last analysis
   * (one keystroke old at most; diagnostics bring a fresh one right after), so that a completion
   * does not wait for the whole inheritance chain to be evaluated again.
   */
  private quickAnalysis(file: string): Analysis {
    const prev = this.analyses.get(file);
    if (!prev || this.fresh(prev)) return this.analysis(file);
    const text = this.textOf(file) ?? '';
    if (text === prev.text) return prev;
    const module = parsePython(text).module;
    return { ...prev, text, module, own: ownKeys(module), stale: true };
  }

  completion(file: string, pos: Position): ServiceCompletion[] {
    file = path.resolve(file);
    const a = this.quickAnalysis(file);
    const text = a.text;
    const offset = offsetAt(text, pos);
    const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
    const lineBefore = text.slice(lineStart, offset);
    const merged = this.mergedValue(a);

    const ref = baseRefBefore(lineBefore);
    if (ref) return this.baseRefCompletions(file, ref.segments);

    const ctx = contextAt(text, offset);
    if (ctx.string) {
      const before = ctx.string.before;
      const replace: Span = { start: positionAt(text, ctx.string.contentStart), end: pos };
      if (ctx.topKey === '_base_') return this.basePathCompletions(file, before, replace);
      if (ctx.valueKey === 'type' && ctx.path) return this.typeCompletions(merged, ctx.path, replace);
      if (ctx.keyPosition && ctx.path) return this.argCompletions(file, a, merged, ctx.path, ctx.frames[ctx.frames.length - 1].typeName, replace, false);
      if (ctx.valueKey && ctx.path) return this.enumCompletions(merged, ctx.path, ctx.valueKey, ctx.frames[ctx.frames.length - 1].typeName, true, replace);
      return [];
    }
    const wordStart: Span = { start: positionAt(text, offset - ctx.word.length), end: pos };
    if (ctx.keyPosition && ctx.path) {
      if (ctx.path.length === 0) return this.topLevelCompletions(file, a, merged, wordStart);
      return this.argCompletions(file, a, merged, ctx.path, ctx.frames[ctx.frames.length - 1].typeName, wordStart, true);
    }
    if (ctx.valueKey && ctx.path) return this.enumCompletions(merged, ctx.path, ctx.valueKey, ctx.frames[ctx.frames.length - 1].typeName, false, wordStart);
    return [];
  }

  private topLevelCompletions(file: string, a: Analysis, merged: ConfigDict | undefined, replace: Span): ServiceCompletion[] {
    const out: ServiceCompletion[] = [];
    const written = new Set(a.own.filter((k) => k.depth === 0).map((k) => String(k.path[0])));
    const seen = new Set<string>();
    for (const [key, doc] of Object.entries(TOP_LEVEL_KEYS)) {
      seen.add(key);
      const inherited = merged && key in merged && !written.has(key) ? merged[key] : undefined;
      out.push({
        label: key,
        kind: 'property',
        detail: inherited !== undefined ? `inherited: ${shortRepr(inherited)}` : 'config key',
        documentation: doc + (inherited !== undefined ? `\n\nInherited value: \`${shortRepr(inherited, 200)}\`${this.whereSet(file, a, [key])}` : ''),
        insertText: `${key} = `,
        replace,
        sortText: `1${key}`,
      });
    }
    if (merged) {
      for (const key of Object.keys(merged)) {
        if (seen.has(key)) continue;
        out.push({ label: key, kind: 'variable', detail: `inherited: ${shortRepr(merged[key])}`, documentation: `Inherited value: \`${shortRepr(merged[key], 200)}\`${this.whereSet(file, a, [key])}`, insertText: `${key} = `, replace, sortText: `0${key}` });
      }
    }
    return out;
  }

  private whereSet(file: string, a: Analysis, segs: Segment[]): string {
    const e = a.config?.sourceMap.get(segs.map(String).join('.'));
    return e ? ` (from ${this.rel(file, e.file)}:${e.range.line})` : '';
  }

  private argCompletions(file: string, a: Analysis, merged: ConfigDict | undefined, segs: Segment[], typeInText: string | undefined, replace: Span, keyword: boolean): ServiceCompletion[] {
    const { comp, registry } = this.componentAt(merged, segs, typeInText);
    const dict = valueAt(merged, segs);
    const out: ServiceCompletion[] = [];
    const seen = new Set<string>();
    const ins = (name: string) => (keyword ? `${name}=` : name);
    if (registry && !seen.has('type')) {
      seen.add('type');
      out.push({ label: 'type', kind: 'property', detail: `${registry} type${comp ? `: ${comp.type}` : ''}`, documentation: `The registered type to build from \`${registry}\`.`, insertText: ins('type'), replace, sortText: '0type' });
    }
    if (comp) {
      for (const o of comp.options) {
        if (isInjected(comp.registry, o) || seen.has(o.name)) continue;
        seen.add(o.name);
        const inherited = isDict(dict) && o.name in dict ? dict[o.name] : undefined;
        out.push({
          label: o.name,
          kind: 'property',
          detail: inherited !== undefined ? `= ${shortRepr(inherited)} (inherited)` : `${o.required ? 'required' : `default ${o.defaultText ?? '?'}`} · ${comp.type}`,
          documentation: optionDoc(comp, o) + (inherited !== undefined ? `\n\nIn effect: \`${shortRepr(inherited, 200)}\`${this.whereSet(file, a, [...segs, o.name])}` : ''),
          insertText: ins(o.name),
          replace,
          sortText: `${o.required ? '1' : '2'}${o.name}`,
        });
      }
    }
    if (isDict(dict)) {
      for (const [k, v] of Object.entries(dict)) {
        if (seen.has(k)) continue;
        seen.add(k);
        out.push({ label: k, kind: 'property', detail: `= ${shortRepr(v)} (inherited)`, documentation: `In effect: \`${shortRepr(v, 200)}\`${this.whereSet(file, a, [...segs, k])}`, insertText: ins(k), replace, sortText: `3${k}` });
      }
    }
    if (keyword && segs.length) out.push({ label: '_delete_', kind: 'keyword', detail: 'replace the inherited dict instead of merging', documentation: '`_delete_=True`: the base value of this dict is dropped and only the keys written here are kept.', insertText: '_delete_=True', replace, sortText: '9_delete_' });
    return out;
  }

  private typeCompletions(merged: ConfigDict | undefined, segs: Segment[], replace: Span): ServiceCompletion[] {
    const slot = slotOf(segs, merged);
    const out: ServiceCompletion[] = [];
    const comps = slot ? componentsOf(slot.registry, slot.category) : componentsOf('MODELS').concat();
    const seen = new Set<string>();
    for (const c of comps) {
      if (seen.has(c.type)) continue;
      seen.add(c.type);
      out.push({ label: c.type, kind: 'class', detail: `${c.registry}${c.category ? ` · ${c.category}` : ''}`, documentation: c.doc || c.summary, replace, sortText: `0${c.type}` });
    }
    if (slot) {
      for (const t of mmclsTypes(slot.registry)) {
        if (seen.has(t.type) || (slot.category && t.category && t.category !== slot.category)) continue;
        seen.add(t.type);
        out.push({ label: t.type, kind: 'class', detail: `${t.registry} · MMClassification type, not implemented in mmcls yet`, ...(t.summary ? { documentation: t.summary } : {}), replace, sortText: `5${t.type}` });
      }
    }
    return out;
  }

  private enumCompletions(merged: ConfigDict | undefined, segs: Segment[], key: string, typeInText: string | undefined, inString: boolean, replace: Span): ServiceCompletion[] {
    const { comp } = this.componentAt(merged, segs, typeInText);
    const opt = comp?.options.find((o) => o.name === key);
    if (!opt) return [];
    const values = enumValues(opt.kind);
    const out: ServiceCompletion[] = [];
    for (const v of values) {
      if (inString && typeof v !== 'string') continue;
      const label = inString ? String(v) : pyRepr(v);
      out.push({ label, kind: 'enum', detail: `${comp?.type}.${key}`, documentation: opt.doc, replace, ...(opt.default === v ? { sortText: '0' } : { sortText: `1${label}` }) });
    }
    return out;
  }

  private basePathCompletions(file: string, before: string, replace: Span): ServiceCompletion[] {
    const slash = before.lastIndexOf('/');
    const dirPart = slash >= 0 ? before.slice(0, slash + 1) : '';
    const dir = path.resolve(path.dirname(file), dirPart || '.');
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return [];
    }
    const out: ServiceCompletion[] = [];
    if (!dirPart || /(^|\/)\.\.\/$/.test(dirPart) || dirPart === './') out.push({ label: '../', kind: 'folder', insertText: `${dirPart}../`, filterText: `${dirPart}../`, replace, sortText: '0..' });
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === '__pycache__' || e.name === 'node_modules') continue;
      const full = path.join(dir, e.name);
      if (full === file) continue;
      if (e.isDirectory()) out.push({ label: `${e.name}/`, kind: 'folder', insertText: `${dirPart}${e.name}/`, filterText: `${dirPart}${e.name}/`, replace, sortText: `1${e.name}` });
      else if (e.name.endsWith('.py')) out.push({ label: e.name, kind: 'file', insertText: `${dirPart}${e.name}`, filterText: `${dirPart}${e.name}`, replace, sortText: `2${e.name}` });
    }
    return out;
  }

  /** The merged value of a file's bases (what `{{_base_.x}}` refers to). */
  private baseValue(file: string): ConfigDict {
    const a = this.analysis(file);
    const out: ConfigDict = {};
    for (const b of baseEntries(a.module, file)) {
      const v = this.analysis(b.file).config?.value;
      if (v) Object.assign(out, v);
    }
    return out;
  }

  private baseRefCompletions(file: string, segs: string[]): ServiceCompletion[] {
    const v = valueAt(this.baseValue(file), segs.map((s) => (/^\d+$/.test(s) ? Number(s) : s)));
    const out: ServiceCompletion[] = [];
    if (isDict(v)) {
      for (const [k, x] of Object.entries(v)) out.push({ label: k, kind: 'variable', detail: shortRepr(x), sortText: k });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => out.push({ label: String(i), kind: 'variable', detail: shortRepr(x), sortText: String(i).padStart(4, '0') }));
    }
    return out;
  }

  // ------------------------------------------------------------------ hover and navigation

  /** What the cursor is on: a key (with its path), a type string, a `_base_` entry or a base reference. */
  private targetAt(file: string, a: Analysis, offset: number):
    | { kind: 'key'; path: Segment[]; tok: Token }
    | { kind: 'type'; path: Segment[]; name: string; tok: Token }
    | { kind: 'base'; file: string; tok: Token }
    | { kind: 'ref'; path: Segment[]; start: number; end: number }
    | undefined {
    const text = a.text;
    const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
    let lineEnd = text.indexOf('\n', offset);
    if (lineEnd < 0) lineEnd = text.length;
    const line = text.slice(lineStart, lineEnd);
    for (const m of line.matchAll(/(?:\{\{|<<)\s*_base_\.([\w.[\]]+?)\s*(?:\}\}|>>)/g)) {
      const s = lineStart + (m.index ?? 0);
      if (offset >= s && offset <= s + m[0].length) {
        return { kind: 'ref', path: parseKeyPath(m[1]), start: s, end: s + m[0].length };
      }
    }
    const toks = tokenize(text);
    const tok = tokenAt(toks, offset);
    if (!tok) return undefined;
    const i = toks.indexOf(tok);
    const next = toks[i + 1];
    if (tok.kind === 'name') {
      if (next && next.text === '=') {
        const ctx = contextAt(text, tok.start);
        if (ctx.path && (ctx.path.length === 0 || ctx.keyPosition)) return { kind: 'key', path: [...ctx.path, tok.text], tok };
      }
      return undefined;
    }
    if (tok.kind === 'string') {
      const sc = stringContents(tok);
      const ctx = contextAt(text, sc.contentStart);
      if (ctx.topKey === '_base_') return { kind: 'base', file: path.resolve(path.dirname(file), sc.value), tok };
      if (!ctx.path) return undefined;
      if (ctx.valueKey === 'type') return { kind: 'type', path: ctx.path, name: sc.value, tok };
      if (next && next.text === ':' && ctx.keyPosition) return { kind: 'key', path: [...ctx.path, sc.value], tok };
    }
    return undefined;
  }

  hover(file: string, pos: Position): ServiceHover | undefined {
    file = path.resolve(file);
    const a = this.analysis(file);
    const offset = offsetAt(a.text, pos);
    const t = this.targetAt(file, a, offset);
    if (!t) return undefined;
    const merged = this.mergedValue(a);
    if (t.kind === 'ref') {
      const v = valueAt(this.baseValue(file), t.path);
      return { markdown: `**_base_.${formatKeyPath(t.path)}** (from the bases)\n\n\`\`\`python\n${subtreeText(t.path, v)}\`\`\``, span: { start: positionAt(a.text, t.start), end: positionAt(a.text, t.end) } };
    }
    const span = { start: positionAt(a.text, t.tok.start), end: positionAt(a.text, t.tok.end) };
    if (t.kind === 'base') {
      const exists = fs.existsSync(t.file);
      return { markdown: `${exists ? '' : '**Not found:** '}\`${t.file}\`${exists ? `\n\nInherited by ${this.index.directDependents(t.file).length} config(s) in the workspace.` : ''}`, span };
    }
    if (t.kind === 'type') {
      const slot = slotOf(t.path, merged);
      const comp = slot ? findComponent(slot.registry, t.name) : undefined;
      if (comp) return { markdown: componentDoc(comp), span };
      const theirs = slot ? notImplemented(slot.registry, t.name) : undefined;
      if (theirs) return { markdown: `**${theirs.type}** (${theirs.registry}${theirs.category ? `, ${theirs.category}` : ''})\n\nMMClassification has this type; mmcls does not implement it yet.${theirs.summary ? `\n\n${theirs.summary}` : ''}`, span };
      return undefined;
    }
    // A key: merged value, where it was set, what it replaced, and the schema's documentation.
    const parts: string[] = [];
    const keyPath = formatKeyPath(t.path);
    const v = valueAt(merged, t.path);
    parts.push(`**${keyPath}**${a.stale ? ' (from the last version that loaded)' : ''}`);
    if (v !== undefined) parts.push(`\`\`\`python\n${subtreeText(t.path, v)}\`\`\``);
    const e = a.config?.sourceMap.get(t.path.map(String).join('.'));
    if (e) {
      const chain = [`set in \`${this.rel(file, e.file)}:${e.range.line}\``];
      for (const o of [...e.overridden].reverse()) chain.push(`replaces \`${shortRepr(o.value)}\` from \`${this.rel(file, o.file)}:${o.range.line}\``);
      parts.push(chain.join('  \n'));
    }
    const parentSegs = t.path.slice(0, -1);
    const key = t.path[t.path.length - 1];
    if (parentSegs.length && typeof key === 'string') {
      const ctx = contextAt(a.text, t.tok.start);
      const { comp } = this.componentAt(merged, parentSegs, ctx.frames[ctx.frames.length - 1].typeName);
      const opt = comp?.options.find((o) => o.name === key);
      if (comp && opt) parts.push(optionDoc(comp, opt));
    } else if (typeof key === 'string' && TOP_LEVEL_KEYS[key]) parts.push(TOP_LEVEL_KEYS[key]);
    return { markdown: parts.join('\n\n'), span };
  }

  definition(file: string, pos: Position): FileLocation[] {
    file = path.resolve(file);
    const a = this.analysis(file);
    const offset = offsetAt(a.text, pos);
    const t = this.targetAt(file, a, offset);
    if (!t) return [];
    const top: Span = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    if (t.kind === 'base') return fs.existsSync(t.file) ? [{ file: t.file, span: top }] : [];
    if (t.kind === 'type') {
      const slot = slotOf(t.path, this.mergedValue(a));
      const comp = slot ? findComponent(slot.registry, t.name) : undefined;
      const schemaFile = loadedSchemaFile();
      if (!comp || !schemaFile) return [];
      const root = path.resolve(path.dirname(schemaFile), '..', '..', '..');
      const l = comp.location;
      // A bundled server carries the schema without the runtime's sources: nothing to go to then.
      if (!fs.existsSync(path.join(root, l.file))) return [];
      return [{ file: path.join(root, l.file), span: { start: { line: l.line - 1, character: l.column - 1 }, end: { line: l.line - 1, character: l.column - 1 } } }];
    }
    if (t.kind === 'ref') {
      for (const b of [...baseEntries(a.module, file)].reverse()) {
        const e = this.analysis(b.file).config?.sourceMap.get(t.path.map(String).join('.'));
        if (e) return [{ file: e.file, span: spanOf(e.keyRange ?? e.range) }];
      }
      return [];
    }
    const e = a.config?.sourceMap.get(t.path.map(String).join('.'));
    if (!e) return [];
    const here = e.file === file && e.keyRange && e.keyRange.line - 1 === pos.line;
    if (here) {
      // On the key that sets the value: go to what it replaced (the base's definition).
      const prev = e.overridden[e.overridden.length - 1];
      return prev ? [{ file: prev.file, span: spanOf(prev.range) }] : [];
    }
    return [{ file: e.file, span: spanOf(e.keyRange ?? e.range) }];
  }

  /** Configs that inherit `file` (directly or through other bases), at the `_base_` entry naming it or its descendant. */
  references(file: string): FileLocation[] {
    file = path.resolve(file);
    const out: FileLocation[] = [];
    const deps = new Set(this.index.dependents(file));
    const targets = new Set([file, ...deps]);
    for (const d of deps) {
      const a = this.analysis(d);
      for (const b of baseEntries(a.module, d)) {
        if (targets.has(b.file)) {
          out.push({ file: d, span: spanOf(b.range) });
          break;
        }
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ code lenses

  codeLenses(file: string): ServiceCodeLens[] {
    file = path.resolve(file);
    const a = this.analysis(file);
    const out: ServiceCodeLens[] = [];
    const top: Span = { start: { line: 0, character: 0 }, end: { line: 0, character: 0 } };
    const deps = this.index.dependents(file);
    if (deps.length) out.push({ span: top, kind: 'usedBy', title: `used by ${deps.length} config${deps.length === 1 ? '' : 's'}`, files: deps, file });
    const cfg = a.config;
    if (cfg && isDict(cfg.value.model) && isDict(cfg.value.model.backbone)) {
      const m = this.ownAt(a, ['model']);
      const span = m ? spanOf(m.keyRange) : firstCodeLine(a.text);
      out.push({ span, kind: 'flops', file });
    }
    const ps = this.ownAt(a, ['param_scheduler']);
    if (cfg && ps) out.push({ span: spanOf(ps.keyRange), kind: 'lr', file });
    return out;
  }

  /** Fills in a lazy lens (FLOPs builds the model by shape inference; LR simulates the schedule). */
  resolveCodeLens(lens: ServiceCodeLens): ServiceCodeLens {
    const a = this.analysis(lens.file);
    const cfg = a.config?.value;
    if (!cfg) return { ...lens, title: 'config does not load' };
    if (lens.kind === 'flops') {
      const r = this.flops(cfg);
      return { ...lens, title: r.title, table: r.table };
    }
    if (lens.kind === 'lr') {
      let trainSet: DatasetSize | undefined;
      try {
        const file = path.resolve(lens.file);
        trainSet = datasetSize(valueAt(cfg, ['train_dataloader', 'dataset']), this.index.rootOf(file) ?? path.dirname(file));
      } catch (e) {
        this.log(`train set size of ${lens.file}: ${(e as Error).message}`);
      }
      return { ...lens, title: lrSummary(cfg, trainSet) };
    }
    return lens;
  }

  /**
   * FLOPs/params of the config's model at its test input size (as `mmcls flops` computes them without
   * `--shape`); cached by the merged model config and that size.
   */
  flops(cfg: ConfigDict): { title: string; table: string } {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { inputSizeOf } = require('../../runtime/analysis/config-flops') as typeof import('../../runtime/analysis/config-flops');
    let hw: [number, number] = [224, 224];
    try {
      hw = inputSizeOf(cfg as Record<string, unknown>);
    } catch {
      // a half-typed pipeline: keep get_flops.py's default
    }
    const key = JSON.stringify([cfg.model, cfg.data_preprocessor ?? null, hw]);
    const hit = this.flopsCache.get(key);
    if (hit) return hit;
    let r: { title: string; table: string };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { modelComplexityOfConfig, inputChannelsOf } = require('../../runtime/analysis/config-flops') as typeof import('../../runtime/analysis/config-flops');
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { formatSummary, formatTable } = require('../../runtime/analysis/complexity') as typeof import('../../runtime/analysis/complexity');
      const { result, model } = modelComplexityOfConfig(cfg as Record<string, unknown>, hw);
      const c = inputChannelsOf(cfg as Record<string, unknown>);
      const params = `${(result.params / 1e6).toFixed(2)} M params`;
      const flops = result.flops >= 1e8 ? `${(result.flops / 1e9).toFixed(2)} GFLOPs` : `${(result.flops / 1e6).toFixed(2)} MFLOPs`;
      r = { title: `${modelName(cfg)} · ${params} · ${flops} @ ${c}×${hw[0]}×${hw[1]}`, table: `${formatSummary(result)}\n${formatTable(model, result)}` };
    } catch (e) {
      r = { title: `FLOPs: ${oneLine((e as Error).message)}`, table: String((e as Error).message) };
    }
    if (this.flopsCache.size > 200) this.flopsCache.clear();
    this.flopsCache.set(key, r);
    return r;
  }

  // ------------------------------------------------------------------ merged preview

  inlayHints(file: string): ServiceInlayHint[] {
    file = path.resolve(file);
    const a = this.analysis(file);
    const cfg = a.config;
    if (!cfg) return [];
    const out: ServiceInlayHint[] = [];
    for (const k of a.own) {
      const dotted = k.path.map(String).join('.');
      const e = cfg.sourceMap.get(dotted);
      const end = spanOf(k.valueRange).end;
      if (!k.isDict) {
        if (!e || e.file !== file || !e.overridden.length) continue;
        const prev = e.overridden[e.overridden.length - 1];
        if (prev.file === file) continue;
        out.push({ position: end, label: `# was ${shortRepr(prev.value, 40)} in ${this.rel(file, prev.file)}`, tooltip: `${formatKeyPath(k.path)} overrides ${shortRepr(prev.value, 200)} from ${prev.file}:${prev.range.line}` });
      } else if (k.depth > 0) {
        // A dict written partly: the inherited keys it keeps.
        const v = valueAt(cfg.value, k.path);
        if (!isDict(v)) continue;
        const writtenHere = new Set(a.own.filter((o) => o.path.length === k.path.length + 1 && samePath(o.path.slice(0, -1), k.path)).map((o) => String(o.path[o.path.length - 1])));
        const kept = Object.keys(v).filter((x) => !writtenHere.has(x));
        if (!kept.length || !writtenHere.size) continue;
        const shown = kept.slice(0, 4).map((x) => `${x}=${shortText(v[x], 24, v, x)}`).join(', ');
        out.push({ position: end, label: `# keeps ${shown}${kept.length > 4 ? `, +${kept.length - 4}` : ''}`, tooltip: `Inherited and kept: ${kept.join(', ')}` });
      }
    }
    return out;
  }

  mergedConfig(file: string, toUri: (f: string) => string = (f) => f): MergedConfigResult {
    file = path.resolve(file);
    const a = this.analysis(file);
    const cfg = a.config;
    const error = a.result.error ? a.result.error.message : undefined;
    if (!cfg) return { uri: toUri(file), text: null, origins: [], files: a.result.files.map(toUri), ...(error ? { error } : {}) };
    const text = dumpPython(cfg.value);
    const lines = text.split('\n');
    const origins: (LineOrigin | null)[] = lines.map(() => null);
    for (const k of ownKeys(parsePython(text).module)) {
      const line = k.keyRange.line - 1;
      if (line < 0 || line >= origins.length) continue;
      const e = cfg.sourceMap.get(k.path.map(String).join('.'));
      if (!e) continue;
      const cur = origins[line];
      if (cur && cur.keyPath.split('.').length <= k.path.length && cur.keyPath.split('.').length > 1) continue;
      const r = e.keyRange ?? e.range;
      origins[line] = {
        keyPath: k.path.map(String).join('.'),
        uri: toUri(e.file),
        line: r.line - 1,
        character: r.column - 1,
        overrode: e.overridden.map((o) => ({ uri: toUri(o.file), line: o.range.line - 1, value: shortRepr(o.value, 80) })),
      };
    }
    return { uri: toUri(file), text, origins, files: cfg.files.map(toUri), ...(error ? { error, lastGood: true } : {}) };
  }

  // ------------------------------------------------------------------ outline, folding, highlighting

  documentSymbols(file: string): ServiceSymbol[] {
    const a = this.analysis(path.resolve(file));
    const roots: ServiceSymbol[] = [];
    const stack: { sym: ServiceSymbol; path: Segment[] }[] = [];
    for (const k of a.own) {
      while (stack.length && !(k.path.length > stack[stack.length - 1].path.length && samePath(k.path.slice(0, stack[stack.length - 1].path.length), stack[stack.length - 1].path))) stack.pop();
      const last = k.path[k.path.length - 1];
      const valueText = a.text.slice(offsetAt(a.text, spanOf(k.valueRange).start), Math.min(offsetAt(a.text, spanOf(k.valueRange).end), offsetAt(a.text, spanOf(k.valueRange).start) + 60));
      const typeKey = a.own.find((o) => o.path.length === k.path.length + 1 && samePath(o.path.slice(0, -1), k.path) && o.path[o.path.length - 1] === 'type');
      const typeText = typeKey ? a.text.slice(offsetAt(a.text, spanOf(typeKey.valueRange).start), offsetAt(a.text, spanOf(typeKey.valueRange).end)) : undefined;
      const isList = /^[[(]/.test(valueText) && !k.isDict;
      const sym: ServiceSymbol = {
        name: typeof last === 'number' ? `[${last}]` : last,
        detail: k.isDict ? (typeText ?? '') : valueText.split('\n')[0],
        kind: k.depth === 0 && k.isDict ? 'module' : k.isDict ? 'object' : isList ? 'array' : 'property',
        span: { start: spanOf(k.keyRange).start, end: spanOf(k.valueRange).end },
        selectionSpan: spanOf(k.keyRange),
        children: [],
      };
      if (stack.length) stack[stack.length - 1].sym.children.push(sym);
      else roots.push(sym);
      stack.push({ sym, path: k.path });
    }
    return roots;
  }

  foldingRanges(file: string): ServiceFold[] {
    const text = this.analysis(path.resolve(file)).text;
    const out: ServiceFold[] = [];
    const starts = lineStarts(text);
    const lineOf = (off: number) => {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid] <= off) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    };
    for (const [o, c] of bracketPairs(text)) {
      const s = lineOf(o);
      const e = lineOf(c);
      if (e > s) out.push({ startLine: s, endLine: e - 1 >= s + 1 ? e - 1 : e });
    }
    return out.sort((x, y) => x.startLine - y.startLine);
  }

  semanticTokens(file: string): ServiceSemanticToken[] {
    const a = this.analysis(path.resolve(file));
    const text = a.text;
    const toks = tokenize(text);
    const out: ServiceSemanticToken[] = [];
    const starts = lineStarts(text);
    const add = (start: number, end: number, type: ServiceSemanticToken['type'], modifier: ServiceSemanticToken['modifier']) => {
      const p = positionAt2(starts, start);
      const q = positionAt2(starts, end);
      if (q.line !== p.line || end <= start) return;
      out.push({ line: p.line, character: p.character, length: end - start, type, modifier });
    };
    const baseRanges = baseEntries(a.module, path.resolve(file)).map((b) => spanOf(b.range));
    for (let i = 0; i < toks.length; i++) {
      const t = toks[i];
      if (t.kind === 'string') {
        const p1 = toks[i - 1];
        const p2 = toks[i - 2];
        const isType = p1 && p2 && ((p1.text === '=' && p2.kind === 'name' && p2.text === 'type') || (p1.text === ':' && p2.kind === 'string' && stringContents(p2).value === 'type'));
        if (isType) {
          // The name only, as the grammar's type-string rule marks it (a plain or scoped identifier).
          const sc = stringContents(t);
          if (sc.quote.length === 1 && sc.contentStart === t.start + 1 && t.text === `${sc.quote}${sc.value}${sc.quote}` && TYPE_NAME.test(sc.value)) add(sc.contentStart, sc.contentStart + sc.value.length, 'class', 'registryType');
        } else {
          const p = positionAt2(starts, t.start);
          if (baseRanges.some((r) => r.start.line === p.line && r.start.character === p.character)) add(t.start, t.end, 'namespace', 'basePath');
        }
      }
    }
    // `{{_base_.a.b}}` / `<<_base_.a.b>>`: `_base_` and the key path, as the grammar splits them.
    const re = /(?:\{\{|<<)\s*(_base_)(\.[\w.[\]]+)\s*(?:\}\}|>>)/dg;
    const inComment = new Set<number>();
    for (const t of toks) if (t.kind === 'comment') for (let k = t.start; k < t.end; k += 1) inComment.add(k);
    for (const m of text.matchAll(re)) {
      const s = m.index ?? 0;
      if (inComment.has(s) || !m.indices) continue;
      const [b0, b1] = m.indices[1];
      const [k0, k1] = m.indices[2];
      add(b0, b1, 'keyword', 'baseReference');
      add(k0, k1, 'property', 'baseReference');
    }
    // Tokens must be sorted by position; a base reference inside a type string is rare, drop overlaps.
    out.sort((x, y) => x.line - y.line || x.character - y.character);
    const dedup: ServiceSemanticToken[] = [];
    for (const t of out) {
      const prev = dedup[dedup.length - 1];
      if (prev && prev.line === t.line && t.character < prev.character + prev.length) continue;
      dedup.push(t);
    }
    return dedup;
  }
}

/** A registry type as the grammar's type-string rule matches it: `ResNet` or `mmcls.ResNet`. */
const TYPE_NAME = /^(?:[A-Za-z_]\w*\.)?[A-Za-z_]\w*$/;

// ------------------------------------------------------------------ helpers

function lineStarts(text: string): number[] {
  const out = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) out.push(i + 1);
  return out;
}

function positionAt2(starts: number[], off: number): Position {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid] <= off) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: off - starts[lo] };
}

function firstCodeLine(text: string): Span {
  const lines = text.split('\n');
  const i = Math.max(0, lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#')));
  return { start: { line: i, character: 0 }, end: { line: i, character: 0 } };
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > 100 ? `${t.slice(0, 97)}...` : t;
}

function enumValues(kind: OptionSchema['kind']): (string | number | boolean | null)[] {
  if (kind.kind === 'enum') return kind.values;
  if (kind.kind === 'boolean') return [true, false];
  if (kind.kind === 'union') return kind.anyOf.flatMap(enumValues);
  return [];
}

function optionDoc(comp: ComponentSchema, o: OptionSchema): string {
  const lines = [`**${comp.type}.${o.name}**: ${describeKind(o.kind)}${o.required ? ' (required)' : ''}`];
  if (o.doc) lines.push(o.doc);
  if (o.defaultText !== undefined) lines.push(`Default: \`${o.defaultText}\``);
  return lines.join('\n\n');
}

function componentDoc(comp: ComponentSchema): string {
  const head = `**${comp.type}** (${comp.registry}${comp.category ? `, ${comp.category}` : ''})`;
  const opts = comp.options.filter((o) => !isInjected(comp.registry, o)).slice(0, 30).map((o) => `- \`${o.name}\`${o.required ? '' : ` = \`${o.defaultText ?? '?'}\``}: ${oneLine(o.doc)}`);
  return `${head}\n\n${comp.doc || comp.summary}${opts.length ? `\n\n${opts.join('\n')}` : ''}\n\nDefined in \`${comp.location.file}:${comp.location.line}\``;
}

function subtreeText(segs: Segment[], v: unknown): string {
  const last = segs[segs.length - 1];
  const name = typeof last === 'string' && /^[A-Za-z_]\w*$/.test(last) ? last : 'value';
  let text: string;
  try {
    text = dumpPython({ [name]: v as ConfigValue });
  } catch {
    text = `${name} = ${pyRepr(v, 400)}\n`;
  }
  const lines = text.split('\n');
  return lines.length > 40 ? `${lines.slice(0, 40).join('\n')}\n# ... ${lines.length - 40} more lines\n` : text;
}

function describeModule(v: unknown): string {
  if (!isDict(v)) return String(v);
  const t = String(v.type ?? '?').replace(/^\w+\./, '');
  if (typeof v.depth === 'number') return `${t}, depth ${v.depth}`;
  if (typeof v.arch === 'string') return `${t}, arch '${v.arch}'`;
  if (typeof v.widen_factor === 'number') return `${t}, widen_factor ${v.widen_factor}`;
  return t;
}

function describeNeck(v: unknown): string {
  return Array.isArray(v) ? v.map(describeModule).join(' → ') : describeModule(v);
}

function modelName(cfg: ConfigDict): string {
  const b = valueAt(cfg, ['model', 'backbone']);
  if (!isDict(b)) return 'model';
  const t = String(b.type ?? 'model').replace(/^\w+\./, '');
  if (typeof b.depth === 'number') return `${t}-${b.depth}`;
  if (typeof b.arch === 'string') return `${t}-${b.arch}`;
  return t;
}

function fmtLr(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e-4 && a < 1e4 ? String(Number(x.toPrecision(3))) : x.toExponential(2).replace(/\.?0+e/, 'e');
}

/**
 * Key values of the learning-rate curve, per epoch (or per iteration for iteration-based
 * training). The iterations per epoch come from `trainSet` (the train dataset's length, when it
 * is known) and `train_dataloader.batch_size`; without them only schedules whose epoch values do
 * not depend on that number are drawn, and the title says nothing about iterations.
 */
export function lrSummary(cfg: ConfigDict, trainSet?: DatasetSize): string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { scheduleFromConfig, itersPerEpoch } = require('../../runtime/engine/schedulers/simulate') as typeof import('../../runtime/engine/schedulers/simulate');
    const dl = isDict(cfg.train_dataloader) ? cfg.train_dataloader : {};
    const batch = typeof dl.batch_size === 'number' && dl.batch_size > 0 ? dl.batch_size : 1;
    const known = trainSet && trainSet.size > 0 ? itersPerEpoch(trainSet.size, batch, 1, dl.drop_last === true) : undefined;
    const train = isDict(cfg.train_cfg) ? cfg.train_cfg : {};
    const byEpoch = typeof train.type === 'string' ? train.type.replace(/^\w+\./, '') !== 'IterBasedTrainLoop' : train.by_epoch !== false;
    const scheds = ((Array.isArray(cfg.param_scheduler) ? cfg.param_scheduler : [cfg.param_scheduler]) as unknown[]).filter((s): s is Dict => isDict(s));
    // Epoch-start values depend on the iterations per epoch only through schedulers counted in
    // iterations (by_epoch=False) in epoch-based training, or epoch schedulers converted to
    // iterations in iteration-based training.
    const counted = scheds.filter((s) => (byEpoch ? s.by_epoch === false : s.convert_to_iter_based === true && s.by_epoch !== false));
    const baseLr = valueAt(cfg, ['optim_wrapper', 'optimizer', 'lr']);
    if (known === undefined && counted.length && typeof baseLr === 'number') {
      const names = [...new Set(counted.map((s) => String(s.type ?? '?').replace(/^\w+\./, '')))].join(', ');
      const what = byEpoch ? `${names} ${counted.length === 1 ? 'counts' : 'count'} iterations` : `${names} ${counted.length === 1 ? 'is' : 'are'} converted to iterations`;
      const len = byEpoch ? (typeof train.max_epochs === 'number' ? ` · ${train.max_epochs} epochs` : '') : typeof train.max_iters === 'number' ? ` · ${train.max_iters} iters` : '';
      return `LR ${fmtLr(baseLr)} (optimizer) · ${what} and the train set size is unknown${len}`;
    }
    // With the count unknown and not needed, one iteration per epoch gives exactly the epoch values.
    const ipe = known ?? 1;
    const c = scheduleFromConfig(cfg as Record<string, unknown>, { dataset_size: ipe * batch });
    const len = c.by_epoch ? `${c.max_epochs} epochs` : `${c.max_iters} iters`;
    const perEpoch = c.by_epoch && known !== undefined ? ` × ${known} it/epoch${/^the standard/.test(trainSet?.from ?? '') ? ' (standard split)' : ''}` : '';
    const unit = c.by_epoch ? 'ep' : 'it';
    const step = c.by_epoch ? ipe : Math.max(1, Math.floor(c.lr.length / 200));
    const pts: [number, number][] = [];
    for (let i = 0; i < c.lr.length; i += step) pts.push([c.by_epoch ? i / ipe : i, c.lr[i]]);
    const changes = pts.filter((p, i) => i === 0 || Math.abs(p[1] - pts[i - 1][1]) > 1e-12 * Math.max(1, Math.abs(p[1])));
    const end = c.lr[c.lr.length - 1];
    if (changes.length <= 5) return `LR ${changes.map(([e, v], i) => (i === 0 ? fmtLr(v) : `${fmtLr(v)} @${unit}${e}`)).join(' → ')} · ${len}${perEpoch}`;
    let max = -Infinity;
    let min = Infinity;
    for (const v of c.lr) {
      if (v > max) max = v;
      if (v < min) min = v;
    }
    return `LR ${fmtLr(c.lr[0])} → ${fmtLr(end)} over ${len}${perEpoch} (max ${fmtLr(max)}, min ${fmtLr(min)})`;
  } catch (e) {
    return `LR: ${oneLine((e as Error).message)}`;
  }
}

/** Whether an option takes a MODELS config dict (which MMEngine also accepts as a list of dicts). */
function acceptsModelConfig(kind: OptionSchema['kind']): boolean {
  if (kind.kind === 'config') return kind.registry === undefined || kind.registry === 'MODELS';
  if (kind.kind === 'union') return kind.anyOf.some(acceptsModelConfig);
  return false;
}
