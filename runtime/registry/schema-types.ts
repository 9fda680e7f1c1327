/**
 * The shape of the registry schema (`schema.json`), generated at build time by
 * `scripts/gen-schema.ts` from the runtime's own TypeScript. Shared by the generator, `build()`
 * argument checking and the language server. Plain JSON: no classes, no functions.
 */

/** A JSON value, as a `@default` Python literal is converted (tuples become arrays, None null). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * What values an option accepts, in structured form (the TypeScript text is kept beside it).
 * `config` is a nested component dict (`dict(type=...)`) built from `registry` (when known).
 */
export type TypeKind =
  | { kind: 'number' }
  | { kind: 'integer' }
  | { kind: 'string' }
  | { kind: 'boolean' }
  | { kind: 'null' }
  | { kind: 'enum'; values: (string | number | boolean | null)[] }
  | { kind: 'array'; items: TypeKind }
  | { kind: 'tuple'; items: TypeKind[]; rest?: TypeKind }
  | { kind: 'dict'; values?: TypeKind; properties?: OptionSchema[] }
  | { kind: 'config'; registry?: string; category?: string }
  | { kind: 'union'; anyOf: TypeKind[] }
  /** An object built in code (a class instance such as a Module or an optimizer); configs cannot write one. */
  | { kind: 'instance'; name: string }
  | { kind: 'any' };

/** Where something is declared. `file` is relative to the repository root (POSIX separators); 1-based. */
export interface SchemaLocation {
  file: string;
  line: number;
  column: number;
}

/** One constructor option of a registered component (one config key). */
export interface OptionSchema {
  name: string;
  /** The TypeScript type as written (aliases expanded only in `kind`). */
  type: string;
  kind: TypeKind;
  /** True when the config must set it (no `?`). */
  required: boolean;
  /** The `@default` tag's Python literal, converted to JSON (absent when there is no tag). */
  default?: JsonValue;
  /** The `@default` tag's text as written (`'pytorch'`, `(3, )`, `None`). */
  defaultText?: string;
  /** The JSDoc text (without tags). */
  doc: string;
  /**
   * Set by the code that builds the component, not written in configs (JSDoc `@injected`): a
   * sampler's `dataset`, an optimizer's `params`, a scheduler's `optimizer`. Config checks do not
   * ask for it and completion does not offer it; `build()` still checks it.
   */
  injected?: boolean;
  /** Other JSDoc tags (`@deprecated`, `@registry`, ...), name to text. */
  tags?: Record<string, string>;
  /** The interface or type that declares it (`ResNetOptions`, or an inherited one). */
  declaredIn: string;
  location: SchemaLocation;
}

/** One registered type name. */
export interface ComponentSchema {
  registry: string;
  /** The name configs use as `type`. */
  type: string;
  /** The TypeScript class name (differs from `type` for `registerModule('Name')` and aliases). */
  className: string;
  /** Set when registered a second time under another name with `REGISTRY.add(Cls, 'Name')`. */
  aliasOf?: string;
  /** For MODELS: backbone, neck, head, loss, classifier, data_preprocessor, ... (see README.md). */
  category?: string;
  /** First sentence of the class JSDoc (hover text). */
  summary: string;
  /** The whole class JSDoc text (without tags). */
  doc: string;
  /** Class JSDoc tags other than `@category`. */
  tags?: Record<string, string>;
  /** Superclasses, nearest first (`['ResNet', 'BaseBackbone', 'Module']`). */
  bases: string[];
  /** The options interface or type (`ResNetOptions`); absent when the constructor takes none. */
  optionsType?: string;
  /** True when the options accept extra keys (an index signature, or an options type the generator could not read). */
  allowsExtra: boolean;
  options: OptionSchema[];
  location: SchemaLocation;
}

/** A convention problem the generator found (the class is still in the schema). */
export interface SchemaWarning {
  message: string;
  location: SchemaLocation;
}

export interface RegistrySchema {
  /** Bumped when the shape of this file changes. */
  version: 1;
  /** Registry names (`MODELS`, ...) that components were found in, sorted. */
  registries: string[];
  /** Sorted by registry, then type. */
  components: ComponentSchema[];
  warnings: SchemaWarning[];
}

export const SCHEMA_VERSION = 1 as const;
