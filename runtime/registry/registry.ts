import { MmclsError } from '../errors';

/** A config dict as the config engine produces it: plain objects, arrays, numbers, strings, booleans, null. */
export type ConfigDict = { [key: string]: unknown };

/**
 * A registered component: a class whose constructor takes one options object whose keys are the
 * config keys (snake_case, as in MMClassification) without `type`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ComponentClass<T = unknown> = new (options: any) => T;

/**
 * A registry maps `type` strings of config dicts to classes, as MMEngine's Registry does.
 * Register with the decorator `@MODELS.registerModule()` (name = class name) or
 * `@MODELS.registerModule('OtherName')`.
 */
export class Registry<T = unknown> {
  private readonly modules = new Map<string, ComponentClass<T>>();

  constructor(readonly name: string) {}

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

  get(type: string): ComponentClass<T> | undefined {
    return this.modules.get(type);
  }

  has(type: string): boolean {
    return this.modules.has(type);
  }

  keys(): string[] {
    return [...this.modules.keys()];
  }

  /**
   * Builds `cfg` (`{type: 'X', ...args}`): the class registered as `X`, constructed with the other
   * keys. `defaults` fill keys that `cfg` does not set (MMEngine's `default_args`).
   */
  build<R = T>(cfg: unknown, defaults?: ConfigDict): R {
    if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) {
      throw new MmclsError(`${this.name}: expected a dict with a "type" key, got ${JSON.stringify(cfg)}`, {
        code: 'registry.not-a-dict',
      });
    }
    const { type, ...args } = { ...(defaults ?? {}), ...(cfg as ConfigDict) };
    if (typeof type === 'function') {
      return new (type as ComponentClass<R>)(args);
    }
    if (typeof type !== 'string') {
      throw new MmclsError(`${this.name}: the dict has no "type" string: ${JSON.stringify(cfg)}`, {
        code: 'registry.no-type',
      });
    }
    const cls = this.modules.get(type);
    if (!cls) {
      throw new MmclsError(
        `${type} is not in the ${this.name} registry. Known types: ${this.keys().sort().join(', ')}`,
        { code: 'registry.unknown-type' },
      );
    }
    return new (cls as unknown as ComponentClass<R>)(args);
  }
}
