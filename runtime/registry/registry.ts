import * as path from 'path';
import { MmclsError, SourceLocation } from '../errors';
import { ArgProblem, checkArgs } from './check';
import { componentsOf, findComponent, findMmclsType, isStale, KNOWN_SCOPES, loadSchema, slotOf, splitScope } from './schema';
import type { ComponentSchema, RegistrySchema } from './schema-types';
import { suggest } from './suggest';

/** A config dict as the config engine produces it: plain objects, arrays, numbers, strings, booleans, null. */
export type ConfigDict = { [key: string]: unknown };

/**
 * A registered component: a class whose constructor takes one options object whose keys are the
 * config keys (snake_case, as in MMClassification) without `type`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ComponentClass<T = unknown> = new (options: any) => T;

export interface RegistryOptions {
  /**
   * The schema that `build()` checks arguments against. Default: the generated one
   * (dist/runtime/registry/schema.json), loaded on the first build. `null`: never check.
   */
  schema?: RegistrySchema | null | (() => RegistrySchema | undefined);
}

export interface BuildOptions {
  /** Key path of the dict in the whole config (`model.backbone`), named in errors. */
  path?: string;
  /** Maps a key path to where the config wrote it, so errors point into the config file. */
  locate?: (keyPath: string) => SourceLocation | undefined;
  /** False skips the argument checks (the type is still resolved). Default true. */
  check?: boolean;
}

/** Thrown by `build()` for bad arguments: `problems` lists each one (the message lists them too). */
export class RegistryArgumentError extends MmclsError {
  constructor(
    message: string,
    readonly registry: string,
    readonly type: string,
    readonly keyPath: string | undefined,
    readonly problems: ArgProblem[],
    location?: SourceLocation,
  ) {
    super(message, { code: problems[0]?.code ?? 'registry.bad-value', location });
    this.name = 'MmclsError';
  }
}

interface BuildFrame {
  path?: string;
  args: ConfigDict;
  locate?: BuildOptions['locate'];
}

// Components being constructed, innermost last: a nested `REGISTRY.build(options.x)` inside a
// constructor finds its key path (`model.backbone`) by looking for its dict among the parent's args.
const buildStack: BuildFrame[] = [];

function nestedPath(cfg: unknown): { path?: string; locate?: BuildOptions['locate'] } {
  const top = buildStack[buildStack.length - 1];
  if (!top) return {};
  for (const [key, value] of Object.entries(top.args)) {
    const base = top.path ? `${top.path}.${key}` : key;
    if (value === cfg) return { path: base, locate: top.locate };
    if (Array.isArray(value)) {
      const i = value.indexOf(cfg);
      if (i >= 0) return { path: `${base}[${i}]`, locate: top.locate };
    }
  }
  return { locate: top.locate };
}

const MAX_LISTED = 40;

/**
 * A registry maps `type` strings of config dicts to classes, as MMEngine's Registry does.
 * Register with the decorator `@MODELS.registerModule()` (name = class name) or
 * `@MODELS.registerModule('OtherName')`. `build()` checks the arguments against the generated
 * schema (runtime/registry/README.md).
 */
export class Registry<T = unknown> {
  private readonly modules = new Map<string, ComponentClass<T>>();
  private readonly schemaOption: RegistryOptions['schema'];

  constructor(
    readonly name: string,
    options: RegistryOptions = {},
  ) {
    this.schemaOption = options.schema;
  }

  /** Class decorator. The schema generator looks for exactly this call on registered classes. */
  registerModule(name?: string) {
    return <C extends ComponentClass<T>>(cls: C, _context?: ClassDecoratorContext): C => {
      this.add(cls, name);
      return cls;
    };
  }

  /** Registers without a decorator (aliases, classes defined elsewhere). */
  add(cls: ComponentClass<T>, name?: string): void {
    const key = name ?? cls.name;
    const existing = this.modules.get(key);
    if (existing && existing !== cls) {
      throw new Error(`${key} is already registered in the ${this.name} registry`);
    }
    this.modules.set(key, cls);
  }

  /**
   * The class registered as `type`; a scope prefix (`mmcls.ResNet`) is allowed. A type the
   * generated schema knows but no module has registered yet is loaded from its source file first,
   * as MMEngine imports a registry's `locations`.
   */
  get(type: string): ComponentClass<T> | undefined {
    return this.lookup(type) ?? (this.autoload(type) ? this.lookup(type) : undefined);
  }

  /** Whether `type` is registered now (no loading). */
  has(type: string): boolean {
    return this.lookup(type) !== undefined;
  }

  private lookup(type: string): ComponentClass<T> | undefined {
    return this.modules.get(type) ?? this.modules.get(splitScope(type).name);
  }

  /** Loads the module that registers `type`, per the generated schema. True when it was loaded. */
  private autoload(type: string): boolean {
    if (this.schemaOption !== undefined) return false;
    const comp = findComponent(this.name, type);
    if (!comp) return false;
    // runtime/registry -> the root of the sources (the repository, or dist/ when compiled).
    const file = path.join(__dirname, '..', '..', comp.location.file.replace(/\.tsx?$/, ''));
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(file);
    } catch (e) {
      // The schema is older than the sources (the file moved): report the type as unknown.
      if ((e as { code?: string }).code === 'MODULE_NOT_FOUND' && String((e as Error).message).includes(file)) return false;
      throw e;
    }
    return true;
  }

  keys(): string[] {
    return [...this.modules.keys()];
  }

  /** The name `cls` is registered under (the first, when it has aliases). */
  nameOf(cls: unknown): string | undefined {
    for (const [k, v] of this.modules) if (v === cls) return k;
    return undefined;
  }

  /** The schema entry for a type of this registry, when the schema has it. */
  schemaOf(type: string): ComponentSchema | undefined {
    const schema = this.schema();
    return schema ? findComponent(this.name, type, schema) : undefined;
  }

  private schema(): RegistrySchema | undefined {
    const s = this.schemaOption;
    if (s === null) return undefined;
    if (s === undefined) return loadSchema();
    return typeof s === 'function' ? s() : s;
  }

  /**
   * Builds `cfg` (`{type: 'X', ...args}`): the class registered as `X`, constructed with the other
   * keys. `defaults` fill keys that `cfg` does not set (MMEngine's `default_args`). The arguments
   * are checked against the schema first: unknown, missing and ill-typed arguments throw
   * `MmclsError` (`registry.unknown-arg`, `registry.missing-arg`, `registry.bad-value`), an unknown
   * type `registry.unknown-type`. Classes registered at run time but absent from the schema (user
   * plugins) are built unchecked.
   */
  build<R = T>(cfg: unknown, defaults?: ConfigDict, options: BuildOptions = {}): R {
    const inherited = options.path === undefined ? nestedPath(cfg) : {};
    const keyPath = options.path ?? inherited.path;
    const locate = options.locate ?? inherited.locate;
    const where = keyPath ? ` at ${keyPath}` : '';
    const locationOf = (p?: string): SourceLocation | undefined => (p && locate ? locate(p) : undefined);
    if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) {
      throw new MmclsError(`${this.name}${where}: expected a dict with a "type" key, got ${JSON.stringify(cfg)}`, {
        code: 'registry.not-a-dict',
        location: locationOf(keyPath),
      });
    }
    const { type, _scope_: scopeKey, ...args } = { ...(defaults ?? {}), ...(cfg as ConfigDict) };
    let cls: ComponentClass<R> | undefined;
    let typeName: string;
    if (typeof type === 'function') {
      cls = type as ComponentClass<R>;
      typeName = this.nameOf(type) ?? (type as { name: string }).name;
    } else if (typeof type === 'string') {
      const { scope, name } = splitScope(type);
      const wanted = typeof scopeKey === 'string' && !scope ? scopeKey : scope;
      if (wanted !== undefined && !(KNOWN_SCOPES as readonly string[]).includes(wanted)) {
        throw new MmclsError(
          `${this.name}${where}: the scope "${wanted}" of type "${type}" is not available; this runtime holds the ` +
            `types of ${KNOWN_SCOPES.join(', ')}. Write the type without "${wanted}.".`,
          { code: 'registry.unknown-scope', location: locationOf(keyPath ? `${keyPath}.type` : undefined) },
        );
      }
      typeName = name;
      cls = this.get(type) as ComponentClass<R> | undefined;
      if (!cls) throw this.unknownType(type, name, keyPath, locationOf(keyPath ? `${keyPath}.type` : undefined));
    } else {
      throw new MmclsError(`${this.name}${where}: the dict has no "type" string: ${JSON.stringify(cfg)}`, {
        code: 'registry.no-type',
        location: locationOf(keyPath),
      });
    }
    if (options.check !== false) this.checkArguments(typeName, cls, args, keyPath, locationOf);
    buildStack.push({ path: keyPath, args, locate });
    try {
      return new cls(args);
    } finally {
      buildStack.pop();
    }
  }

  private checkArguments(
    typeName: string,
    cls: unknown,
    args: ConfigDict,
    keyPath: string | undefined,
    locationOf: (p?: string) => SourceLocation | undefined,
  ): void {
    const comp = this.schemaOf(typeName);
    // A class that merely shares the name with a schema entry (a plugin, a test double) is not checked.
    const clsName = (cls as { name?: string }).name;
    if (!comp || (clsName && clsName !== comp.className)) return;
    if (this.schemaOption === undefined && isStale(comp)) return;
    const problems = checkArgs(comp, args, keyPath);
    if (!problems.length) return;
    const head = `${comp.type} (${this.name})${keyPath ? ` at ${keyPath}` : ''}`;
    const message =
      problems.length === 1
        ? `${head}: ${problems[0].message}`
        : `${head}: ${problems.length} problems:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`;
    const location = locationOf(keyPath ? problems[0].path : undefined);
    throw new RegistryArgumentError(message, this.name, comp.type, keyPath, problems, location);
  }

  private unknownType(type: string, name: string, keyPath: string | undefined, location?: SourceLocation): MmclsError {
    const where = keyPath ? ` at ${keyPath}` : '';
    const schema = this.schema();
    // Registered types and those the schema knows (loaded on first use) are equally available.
    const fromSchema = schema ? schema.components.filter((c) => c.registry === this.name).map((c) => c.type) : [];
    let keys = [...new Set([...this.keys(), ...fromSchema])].sort();
    // At a known slot (`model.head.loss`), name the types of its category (the losses) only.
    const slot = keyPath ? slotOf(keyPath, undefined, schema) : undefined;
    let kind = 'types';
    if (schema && slot?.registry === this.name && slot.category) {
      const cat = new Set(componentsOf(this.name, slot.category, schema).map((c) => c.type));
      if (cat.size) {
        keys = keys.filter((k) => cat.has(k));
        kind = `${slot.category} types`;
      }
    }
    const near = suggest(name, keys) ?? suggest(name, this.keys());
    const theirs = schema && findComponent(this.name, name, schema) ? undefined : findMmclsType(name, this.name);
    let msg = `"${type}" is not a type in the ${this.name} registry${where}.`;
    if (theirs) {
      msg += ` MMClassification has ${theirs.type}${theirs.category ? ` (${theirs.category})` : ''}, but mmcls does not implement it yet.`;
    }
    if (near) msg += ` Did you mean "${near}"?`;
    if (!keys.length) msg += ` The registry is empty: is the module that registers its types imported?`;
    else {
      const listed = keys.slice(0, MAX_LISTED).join(', ');
      msg += ` Known ${kind}: ${listed}${keys.length > MAX_LISTED ? `, and ${keys.length - MAX_LISTED} more` : ''}.`;
    }
    return new MmclsError(msg, { code: 'registry.unknown-type', location });
  }
}
