/**
 * Queries over the registry schema (what types exist, their options and docs) for `build()`, the
 * language server and tools. The schema is generated at build time (`npm run build` runs
 * scripts/gen-schema.ts) into dist/runtime/registry/schema.json and loaded lazily, once.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ArgProblem, checkArgs } from './check';
import mmclsTypesFile from './mmcls-types.json';
import type { ComponentSchema, RegistrySchema } from './schema-types';
import { SCHEMA_VERSION } from './schema-types';
import { suggest } from './suggest';

export type { ComponentSchema, OptionSchema, RegistrySchema, TypeKind, JsonValue, SchemaLocation } from './schema-types';

/** Scopes whose types our registries hold (MMEngine's `type='mmcls.ResNet'`). */
export const KNOWN_SCOPES = ['mmcls', 'mmengine', 'mmcv', 'mmpretrain'] as const;

// undefined: not looked for yet; null: looked for and not found.
let cached: RegistrySchema | null | undefined;
let cachedFrom: string | undefined;
const indexes = new WeakMap<RegistrySchema, Map<string, ComponentSchema>>();

/** Where the generated schema is looked for, first match wins. */
export function schemaCandidates(): string[] {
  const out: string[] = [];
  if (process.env.MMCLS_REGISTRY_SCHEMA) out.push(path.resolve(process.env.MMCLS_REGISTRY_SCHEMA));
  // Compiled: dist/runtime/registry/schema.json sits beside this file. From source (tsx): the build's copy.
  out.push(path.join(__dirname, 'schema.json'));
  out.push(path.resolve(__dirname, '..', '..', 'dist', 'runtime', 'registry', 'schema.json'));
  // A bundle in dist/<folder>/ (the language server) next to dist/runtime/.
  out.push(path.resolve(__dirname, '..', 'runtime', 'registry', 'schema.json'));
  return out;
}

/**
 * The registry schema: from `file` when given (not cached), else the generated one (cached after
 * the first call). Undefined when none has been generated (`npm run build` generates it); callers
 * then skip argument checks rather than fail.
 */
export function loadSchema(file?: string): RegistrySchema | undefined {
  if (file) return parseSchema(fs.readFileSync(file, 'utf8'), file);
  if (cached !== undefined) return cached ?? undefined;
  cached = null;
  for (const cand of schemaCandidates()) {
    if (!fs.existsSync(cand)) continue;
    cached = parseSchema(fs.readFileSync(cand, 'utf8'), cand);
    cachedFrom = cand;
    break;
  }
  return cached ?? undefined;
}

/** The file the cached schema came from (for messages), if any. */
export function loadedSchemaFile(): string | undefined {
  loadSchema();
  return cachedFrom;
}

const mtimes = new Map<string, number>();

function mtimeOf(file: string): number {
  let t = mtimes.get(file);
  if (t === undefined) {
    try {
      t = fs.statSync(file).mtimeMs;
    } catch {
      t = -1;
    }
    mtimes.set(file, t);
  }
  return t;
}

/**
 * True when the component's source file changed after the generated schema was written (someone
 * edited it and ran the sources without `npm run build`): its entry may be out of date, so
 * `build()` does not check against it. Always false for a schema given with `useSchema`.
 */
export function isStale(comp: ComponentSchema): boolean {
  if (!cachedFrom) return false;
  // dist/runtime/registry/schema.json -> the repository root three folders up.
  const root = path.resolve(path.dirname(cachedFrom), '..', '..', '..');
  const src = mtimeOf(path.join(root, comp.location.file));
  return src > mtimeOf(cachedFrom);
}

/** Replaces the schema that `loadSchema()` returns (a language server holding a fresher one, tests); `undefined` forgets it. */
export function useSchema(schema: RegistrySchema | undefined): void {
  cached = schema;
  cachedFrom = undefined;
}

export function parseSchema(text: string, where = 'schema'): RegistrySchema {
  const data = JSON.parse(text) as RegistrySchema;
  if (!data || data.version !== SCHEMA_VERSION || !Array.isArray(data.components)) {
    throw new Error(`${where} is not a registry schema of version ${SCHEMA_VERSION}: rebuild with npm run build`);
  }
  return data;
}

/** `mmcls.ResNet` -> `{scope: 'mmcls', name: 'ResNet'}`; a name without a dot has no scope. */
export function splitScope(type: string): { scope?: string; name: string } {
  const dot = type.indexOf('.');
  if (dot <= 0) return { name: type };
  return { scope: type.slice(0, dot), name: type.slice(dot + 1) };
}

function index(schema: RegistrySchema): Map<string, ComponentSchema> {
  let idx = indexes.get(schema);
  if (!idx) {
    idx = new Map(schema.components.map((c) => [`${c.registry}\0${c.type}`, c]));
    indexes.set(schema, idx);
  }
  return idx;
}

/** The component registered as `type` (scope prefix allowed) in `registry`. */
export function findComponent(registry: string, type: string, schema = loadSchema()): ComponentSchema | undefined {
  if (!schema) return undefined;
  return index(schema).get(`${registry}\0${splitScope(type).name}`);
}

/** Components of one registry (of one MODELS category when given), sorted by type. */
export function componentsOf(registry: string, category?: string, schema = loadSchema()): ComponentSchema[] {
  if (!schema) return [];
  return schema.components.filter((c) => c.registry === registry && (category === undefined || c.category === category));
}

/** Every registered type: `{registry, type, category}`. */
export function allTypes(schema = loadSchema()): { registry: string; type: string; category?: string }[] {
  if (!schema) return [];
  return schema.components.map((c) => ({ registry: c.registry, type: c.type, ...(c.category ? { category: c.category } : {}) }));
}

/** The registries that have any type, in the schema. */
export function registriesOf(schema = loadSchema()): string[] {
  return schema ? schema.registries : [];
}

// ------------------------------------------------------------------ MMClassification's own types

/** A type MMClassification 1.0.0rc6 (or the MMEngine/MMCV/PyTorch it uses) offers to configs. */
export interface MmclsTypeInfo {
  type: string;
  registry: string;
  category?: string;
  /** The package that registers it: mmcls, mmengine, mmcv or torch. */
  source: string;
  summary?: string;
}

const mmclsTypeList: MmclsTypeInfo[] = (mmclsTypesFile as { types: MmclsTypeInfo[] }).types;

/** All types MMClassification has, implemented here or not (runtime/registry/mmcls-types.json). */
export function mmclsTypes(registry?: string): MmclsTypeInfo[] {
  return registry ? mmclsTypeList.filter((t) => t.registry === registry) : mmclsTypeList;
}

/** MMClassification's entry for `type` (scope allowed), in `registry` when given. */
export function findMmclsType(type: string, registry?: string): MmclsTypeInfo | undefined {
  const name = splitScope(type).name;
  return mmclsTypeList.find((t) => t.type === name && (registry === undefined || t.registry === registry));
}

/**
 * A type that MMClassification has but this runtime does not implement (not in the schema): the
 * language server reports it as information, `build()` says so in its error.
 */
export function notImplemented(registry: string, type: string, schema = loadSchema()): MmclsTypeInfo | undefined {
  if (findComponent(registry, type, schema)) return undefined;
  return findMmclsType(type, registry);
}

// ------------------------------------------------------------------ config slots

/** Which registry the dict (or list item) at a config key path is built from. */
export interface SlotInfo {
  registry: string;
  /** The MODELS category expected there (backbone, neck, head, loss, ...). */
  category?: string;
  /** True where `type` may be left out (MMEngine supplies one, see `defaultType`). */
  typeOptional?: boolean;
  /** The type used when `type` is left out. */
  defaultType?: string;
  /** True where the value is the type name itself (a string), e.g. `optim_wrapper.constructor`. */
  typeIsString?: boolean;
  /** Keys of the dict that the code building it consumes itself (`optim_wrapper.paramwise_cfg`). */
  consumedKeys?: string[];
  /** Where the rule came from: the table below, or the parent component's option in the schema. */
  source: 'convention' | 'schema';
}

type Rule = [pattern: string, slot: Omit<SlotInfo, 'source'>];

/**
 * Patterns over key paths, list indices written `[]`; `*` is one key, a leading `**.` any prefix
 * (including none). First match wins, so specific rules come first.
 */
const RULES: Rule[] = [
  ['model', { registry: 'MODELS', category: 'classifier' }],
  ['model.backbone', { registry: 'MODELS', category: 'backbone' }],
  ['model.neck', { registry: 'MODELS', category: 'neck' }],
  ['model.neck[]', { registry: 'MODELS', category: 'neck' }],
  ['model.head', { registry: 'MODELS', category: 'head' }],
  ['model.head.loss', { registry: 'MODELS', category: 'loss' }],
  ['model.head.loss[]', { registry: 'MODELS', category: 'loss' }],
  ['model.data_preprocessor', { registry: 'MODELS', category: 'data_preprocessor', typeOptional: true, defaultType: 'ClsDataPreprocessor' }],
  ['data_preprocessor', { registry: 'MODELS', category: 'data_preprocessor', typeOptional: true, defaultType: 'ClsDataPreprocessor' }],
  ['model.train_cfg.augments', { registry: 'BATCH_AUGMENTS' }],
  ['model.train_cfg.augments[]', { registry: 'BATCH_AUGMENTS' }],
  ['**.batch_augments.augments[]', { registry: 'BATCH_AUGMENTS' }],
  ['**.init_cfg', { registry: 'WEIGHT_INITIALIZERS' }],
  ['**.init_cfg[]', { registry: 'WEIGHT_INITIALIZERS' }],
  ['**.norm_cfg', { registry: 'MODELS', category: 'norm' }],
  ['**.act_cfg', { registry: 'MODELS', category: 'activation' }],
  ['**.conv_cfg', { registry: 'MODELS', category: 'conv' }],
  ['*_dataloader.sampler', { registry: 'DATA_SAMPLERS' }],
  ['*_dataloader.batch_sampler', { registry: 'DATA_SAMPLERS' }],
  ['**.pipeline[]', { registry: 'TRANSFORMS' }],
  ['*_pipeline[]', { registry: 'TRANSFORMS' }],
  ['**.transforms[]', { registry: 'TRANSFORMS' }],
  ['*_dataloader.dataset', { registry: 'DATASETS' }],
  ['**.dataset', { registry: 'DATASETS' }],
  ['**.datasets[]', { registry: 'DATASETS' }],
  ['val_evaluator', { registry: 'METRICS' }],
  ['val_evaluator[]', { registry: 'METRICS' }],
  ['test_evaluator', { registry: 'METRICS' }],
  ['test_evaluator[]', { registry: 'METRICS' }],
  ['**.metrics[]', { registry: 'METRICS' }],
  // MMEngine's optimizer-wrapper constructor takes `constructor` and `paramwise_cfg` out of the dict.
  ['optim_wrapper', { registry: 'OPTIM_WRAPPERS', typeOptional: true, defaultType: 'OptimWrapper', consumedKeys: ['constructor', 'paramwise_cfg'] }],
  ['optim_wrapper.optimizer', { registry: 'OPTIMIZERS' }],
  ['optim_wrapper.constructor', { registry: 'OPTIM_WRAPPER_CONSTRUCTORS', typeIsString: true }],
  ['param_scheduler', { registry: 'PARAM_SCHEDULERS' }],
  ['param_scheduler[]', { registry: 'PARAM_SCHEDULERS' }],
  ['default_hooks.*', { registry: 'HOOKS' }],
  ['custom_hooks[]', { registry: 'HOOKS' }],
  ['visualizer', { registry: 'VISUALIZERS' }],
  ['visualizer.vis_backends[]', { registry: 'VISBACKENDS' }],
  ['vis_backends[]', { registry: 'VISBACKENDS' }],
  // Without `type`, the runner picks the loop from `by_epoch` and removes it.
  ['train_cfg', { registry: 'LOOPS', typeOptional: true, defaultType: 'EpochBasedTrainLoop', consumedKeys: ['by_epoch'] }],
  ['val_cfg', { registry: 'LOOPS', typeOptional: true, defaultType: 'ValLoop' }],
  ['test_cfg', { registry: 'LOOPS', typeOptional: true, defaultType: 'TestLoop' }],
  ['log_processor', { registry: 'LOG_PROCESSORS', typeOptional: true, defaultType: 'LogProcessor' }],
];

/** `model.head.loss` / `['model', 'head', 'loss']` / `train_pipeline[0]` -> `['model', 'head', 'loss']` / `['train_pipeline', 0]`. */
export function parseKeyPath(keyPath: string | readonly (string | number)[]): (string | number)[] {
  if (typeof keyPath !== 'string') return [...keyPath];
  const out: (string | number)[] = [];
  for (const m of keyPath.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (m[2] !== undefined) out.push(Number(m[2]));
    else if (/^\d+$/.test(m[1]) && out.length) out.push(Number(m[1]));
    else out.push(m[1]);
  }
  return out;
}

/** `['train_pipeline', 0]` -> `train_pipeline[0]`. */
export function formatKeyPath(segments: readonly (string | number)[]): string {
  let s = '';
  for (const seg of segments) s += typeof seg === 'number' ? `[${seg}]` : s ? `.${seg}` : seg;
  return s;
}

function patternTokens(segments: (string | number)[]): string[] {
  // `a.b[0][1]` -> ['a', 'b[]'] with one `[]` per index: pipelines of lists (AutoAugment policies) stay distinct.
  const out: string[] = [];
  for (const seg of segments) {
    if (typeof seg === 'number') {
      if (out.length) out[out.length - 1] += '[]';
      else out.push('[]');
    } else out.push(seg);
  }
  return out;
}

function tokenMatches(pat: string, tok: string): boolean {
  if (pat === tok) return true;
  if (!pat.includes('*')) return false;
  const re = new RegExp(`^${pat.replace(/[.+?^${}()|\\]/g, '\\$&').replace(/\[\]/g, '\\[\\]').replace(/\*/g, '[^.]*')}$`);
  return re.test(tok);
}

function ruleMatches(pattern: string, toks: string[]): boolean {
  const pats = pattern.split('.');
  if (pats[0] === '**') {
    const rest = pats.slice(1);
    if (toks.length < rest.length) return false;
    const tail = toks.slice(toks.length - rest.length);
    return rest.every((p, i) => tokenMatches(p, tail[i]));
  }
  return pats.length === toks.length && pats.every((p, i) => tokenMatches(p, toks[i]));
}

/**
 * Which registry the config dict at `keyPath` is built from. With the whole config given, a key
 * the table does not know is looked up in the schema: the option of the parent component (by its
 * `type`) that declares a nested component config, e.g. `model.backbone.foo_cfg` of a backbone
 * whose option says `ComponentConfig<'MODELS', 'foo'>`.
 */
export function slotOf(keyPath: string | readonly (string | number)[], config?: unknown, schema = loadSchema()): SlotInfo | undefined {
  const segs = parseKeyPath(keyPath);
  if (!segs.length) return undefined;
  if (config !== undefined && schema) {
    const fromSchema = slotFromSchema(segs, config, schema);
    if (fromSchema) return fromSchema;
  }
  const toks = patternTokens(segs);
  for (const [pattern, slot] of RULES) {
    if (ruleMatches(pattern, toks)) return { ...slot, source: 'convention' };
  }
  return undefined;
}

function slotFromSchema(segs: (string | number)[], config: unknown, schema: RegistrySchema): SlotInfo | undefined {
  // Find the nearest enclosing dict that is itself a slot with a known type, then its option.
  for (let cut = segs.length - 1; cut >= 1; cut--) {
    const parentSegs = segs.slice(0, cut);
    const optName = segs[cut];
    if (typeof optName !== 'string') continue;
    const parent = valueAt(config, parentSegs);
    if (!parent || typeof parent !== 'object' || Array.isArray(parent)) continue;
    const parentSlot = slotOf(parentSegs, config, schema);
    if (!parentSlot) continue;
    const type = typeOfDict(parentSlot, parent as Record<string, unknown>);
    const comp = type ? findComponent(parentSlot.registry, type, schema) : undefined;
    const opt = comp?.options.find((o) => o.name === optName);
    if (!opt) return undefined;
    // Only the segments after the option may be list indices.
    if (segs.slice(cut + 1).some((s) => typeof s !== 'number')) return undefined;
    const cfg = configKind(opt.kind, segs.length - cut - 1);
    return cfg && cfg.registry ? { registry: cfg.registry, ...(cfg.category ? { category: cfg.category } : {}), source: 'schema' } : undefined;
  }
  return undefined;
}

function configKind(kind: ComponentSchema['options'][number]['kind'], listDepth: number): { registry?: string; category?: string } | undefined {
  switch (kind.kind) {
    case 'config':
      return listDepth === 0 ? kind : undefined;
    case 'array':
      return listDepth > 0 ? configKind(kind.items, listDepth - 1) : undefined;
    case 'union':
      for (const k of kind.anyOf) {
        const c = configKind(k, listDepth);
        if (c) return c;
      }
      return undefined;
    default:
      return undefined;
  }
}

function valueAt(root: unknown, segs: (string | number)[]): unknown {
  let cur = root;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[s];
  }
  return cur;
}

/**
 * The type a dict in a slot stands for: its `type` (scope removed), else the slot's default
 * (`train_cfg` without `type`: `by_epoch=False` means IterBasedTrainLoop, as in MMEngine).
 */
export function typeOfDict(slot: SlotInfo, dict: Record<string, unknown>): string | undefined {
  if (typeof dict.type === 'string') return splitScope(dict.type).name;
  if (slot.registry === 'LOOPS' && slot.defaultType === 'EpochBasedTrainLoop' && dict.by_epoch === false) return 'IterBasedTrainLoop';
  return slot.typeOptional ? slot.defaultType : undefined;
}

// ------------------------------------------------------------------ whole-config checks

/** A finding of `checkConfig`. `info` is for types MMClassification has and mmcls does not implement yet. */
export interface ConfigProblem {
  code: ArgProblem['code'] | 'registry.unknown-type' | 'registry.not-implemented' | 'registry.wrong-category';
  severity: 'error' | 'warning' | 'info';
  /** Key path of the offending key (`model.backbone.dpth`) or dict (`model.backbone`). */
  path: string;
  message: string;
  suggestion?: string;
}

/**
 * Checks every component dict of a merged config (as plain data, without building anything)
 * against the schema: the same argument checks as `build()`, unknown types with the nearest known
 * one, types MMClassification has but mmcls does not (as information), and types of the wrong
 * MODELS category (a head at `model.backbone`). Empty when no schema is available.
 */
export function checkConfig(config: unknown, schema = loadSchema()): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  if (!schema) return out;
  const visit = (value: unknown, segs: (string | number)[]): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, [...segs, i]));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const dict = value as Record<string, unknown>;
    const slot = segs.length ? slotOf(segs, config, schema) : undefined;
    if (slot && !slot.typeIsString) checkDict(dict, slot, formatKeyPath(segs), schema, out);
    if (slot?.registry === 'OPTIM_WRAPPERS' && typeof dict.constructor === 'string') {
      checkType(dict.constructor, { registry: 'OPTIM_WRAPPER_CONSTRUCTORS', source: 'convention' }, formatKeyPath([...segs, 'constructor']), schema, out);
    }
    for (const [k, v] of Object.entries(dict)) visit(v, [...segs, k]);
  };
  visit(config, []);
  return out;
}

/**
 * Options the building code passes itself, for components whose options do not say `@injected`
 * (MMEngine's conventions: the data loader gives the sampler its dataset, and so on).
 */
const INJECTED_BY_REGISTRY: Record<string, string[]> = {
  DATA_SAMPLERS: ['dataset'],
  OPTIMIZERS: ['params'],
  PARAM_SCHEDULERS: ['optimizer'],
  LOOPS: ['runner', 'dataloader', 'evaluator'],
  HOOKS: ['runner'],
};

/** Whether a config may leave this option out because the building code supplies it. */
export function isInjected(registry: string, opt: { name: string; injected?: boolean }): boolean {
  return opt.injected === true || (INJECTED_BY_REGISTRY[registry]?.includes(opt.name) ?? false);
}

function checkDict(dict: Record<string, unknown>, slot: SlotInfo, at: string, schema: RegistrySchema, out: ConfigProblem[]): void {
  const type = typeOfDict(slot, dict);
  if (type === undefined) return;
  // A type the slot supplies (train_cfg's loop) is checked only when implemented: the user wrote no type.
  const comp = typeof dict.type === 'string' ? checkType(dict.type, slot, at, schema, out) : findComponent(slot.registry, type, schema);
  if (!comp) return;
  let args = dict;
  if (slot.consumedKeys?.length) {
    args = { ...dict };
    for (const k of slot.consumedKeys) delete args[k];
  }
  for (const p of checkArgs(comp, args, at)) {
    if (p.code === 'registry.missing-arg' && isInjected(comp.registry, comp.options.find((o) => o.name === p.arg) ?? { name: p.arg })) continue;
    out.push({ code: p.code, severity: 'error', path: p.path, message: `${comp.type}: ${p.message}`, ...(p.suggestion ? { suggestion: p.suggestion } : {}) });
  }
}

function checkType(type: string, slot: SlotInfo, at: string, schema: RegistrySchema, out: ConfigProblem[]): ComponentSchema | undefined {
  const { scope, name } = splitScope(type);
  if (scope && !(KNOWN_SCOPES as readonly string[]).includes(scope)) return undefined;
  const comp = findComponent(slot.registry, name, schema);
  const where = slot.category ? `${slot.registry} (${slot.category})` : slot.registry;
  if (comp) {
    if (slot.category && comp.category && comp.category !== slot.category) {
      out.push({
        code: 'registry.wrong-category',
        severity: 'warning',
        path: at,
        message: `${comp.type} is a ${comp.category}, but ${at} expects a ${slot.category}.`,
      });
    }
    return comp;
  }
  const theirs = findMmclsType(name, slot.registry);
  if (theirs) {
    out.push({
      code: 'registry.not-implemented',
      severity: 'info',
      path: at,
      message: `MMClassification has ${theirs.type}${theirs.category ? ` (${theirs.category})` : ''}, but mmcls does not implement it yet.`,
    });
    return undefined;
  }
  const pool = componentsOf(slot.registry, undefined, schema).map((c) => c.type);
  const preferred = slot.category ? componentsOf(slot.registry, slot.category, schema).map((c) => c.type) : pool;
  const near = suggest(name, preferred) ?? suggest(name, pool) ?? suggest(name, mmclsTypes(slot.registry).map((t) => t.type));
  out.push({
    code: 'registry.unknown-type',
    severity: 'error',
    path: at,
    message: `"${type}" is not a type in ${where}.${near ? ` Did you mean "${near}"?` : ''}`,
    ...(near ? { suggestion: near } : {}),
  });
  return undefined;
}

// ------------------------------------------------------------------ positions

/** A span as the config engine records it (1-based lines and columns). */
interface SpanLike {
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

/**
 * A `locate` function for `build(cfg, defaults, {path, locate})` and for `checkConfig` findings,
 * from the config engine's source map (`LoadedConfig.sourceMap`, keyed by dotted paths with `.1`
 * for list items). It gives the key's own span where recorded (an unknown argument points at its
 * name), and for a key the config does not write (a missing argument) the nearest written dict
 * that encloses it.
 */
export function locatorFromSourceMap(
  map: ReadonlyMap<string, { file: string; range: SpanLike; keyRange?: SpanLike }>,
): (keyPath: string) => { file: string; line: number; column: number; endLine: number; endColumn: number } | undefined {
  return (keyPath) => {
    const segs = parseKeyPath(keyPath);
    for (let n = segs.length; n > 0; n--) {
      const entry = map.get(segs.slice(0, n).join('.'));
      if (!entry) continue;
      const span = (n === segs.length ? entry.keyRange : undefined) ?? entry.range;
      return { file: entry.file, line: span.line, column: span.column, endLine: span.endLine, endColumn: span.endColumn };
    }
    return undefined;
  };
}
