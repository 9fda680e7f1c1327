import { MmclsError } from '../../errors';
import { TRANSFORMS } from '../../registry';
import { Image, isImage } from '../image';
import { Rng } from '../rng';

/** The dict a pipeline passes from transform to transform (MMCV's `results`). */
export type Results = Record<string, unknown>;

/** Key under which a sample carries its random generator. */
export const RNG_KEY = '__rng__';

let fallbackRng: Rng | undefined;

/**
 * The generator of this sample. Datasets put one made from (seed, epoch, index) there; a transform
 * called by hand without one gets a process-wide generator.
 */
export function rngOf(results: Results): Rng {
  const r = results[RNG_KEY];
  if (r instanceof Rng) return r;
  fallbackRng ??= new Rng(Date.now());
  return fallbackRng;
}

/** The `img` of the results, checked. */
export function imgOf(results: Results, who: string): Image {
  const img = results.img;
  if (!isImage(img)) throw new MmclsError(`${who}: the results have no "img" image (is LoadImageFromFile first in the pipeline?)`, { code: 'transform.no-img' });
  return img;
}

/** A data transform: takes the results dict, returns it (changed), or null to drop the sample. */
export abstract class BaseTransform {
  abstract transform(results: Results): Results | null | Promise<Results | null>;

  /** Runs the transform (MMCV's `__call__`). */
  call(results: Results): Results | null | Promise<Results | null> {
    return this.transform(results);
  }

  toString(): string {
    return `${this.constructor.name}()`;
  }
}

export type TransformLike = BaseTransform | Record<string, unknown> | ((r: Results) => Results | null | Promise<Results | null>);

/** Builds a transform from a config dict, or passes a transform object or function through. */
export function buildTransform(cfg: TransformLike): BaseTransform {
  if (cfg instanceof BaseTransform) return cfg;
  if (typeof cfg === 'function') return new FunctionTransform(cfg);
  return TRANSFORMS.build<BaseTransform>(cfg);
}

class FunctionTransform extends BaseTransform {
  constructor(private readonly fn: (r: Results) => Results | null | Promise<Results | null>) {
    super();
  }
  transform(results: Results) {
    return this.fn(results);
  }
}

/** Options of Compose. */
export interface ComposeOptions {
  /** The transforms to run in order: config dicts or transform objects. */
  transforms: TransformLike[];
}

/** Runs transforms in sequence; stops and returns null as soon as one drops the sample. */
@TRANSFORMS.registerModule()
export class Compose extends BaseTransform {
  readonly transforms: BaseTransform[];

  constructor(options: ComposeOptions | TransformLike[]) {
    super();
    const list = Array.isArray(options) ? options : options.transforms ?? [];
    this.transforms = list.map((t) => buildTransform(t));
  }

  async transform(results: Results): Promise<Results | null> {
    let r: Results | null = results;
    for (const t of this.transforms) {
      r = await t.call(r);
      if (r === null) return null;
    }
    return r;
  }

  override toString(): string {
    return `Compose(\n${this.transforms.map((t) => `    ${t.toString()}`).join('\n')}\n)`;
  }
}

/** Checks a probability option. */
export function checkProb(v: unknown, key: string, who: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
    throw new MmclsError(`${who}: ${key} must be a number in [0, 1], got ${JSON.stringify(v)}`, { code: 'transform.bad-arg' });
  }
  return v;
}

export function badArg(who: string, msg: string): MmclsError {
  return new MmclsError(`${who}: ${msg}`, { code: 'transform.bad-arg' });
}

/** An int or a pair: `n` -> [n, n]. */
export function pair(v: unknown, key: string, who: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]];
  throw badArg(who, `${key} must be a number or a pair of numbers, got ${JSON.stringify(v)}`);
}
