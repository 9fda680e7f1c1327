/**
 * Type names that options interfaces use so that the schema generator (and so `build()` and the
 * editor) know more than TypeScript's types say. They are plain aliases at compile time.
 */
import type { ConfigDict } from './registry';

/** A whole number (`depth`, `num_classes`): configs giving `2.5` are rejected. */
export type int = number;

/**
 * The config dict of a nested component that the parent builds with `R.build(...)`, e.g.
 * `backbone: ComponentConfig<'MODELS', 'backbone'>` or `loss?: ComponentConfig<'MODELS', 'loss'>`.
 * The first argument names the registry, the optional second one the MODELS category.
 */
// eslint-disable-next-line @typescript-eslint/no-unused-vars
export type ComponentConfig<R extends string = string, C extends string = string> = ConfigDict;
