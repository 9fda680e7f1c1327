import { TRANSFORMS } from '../../registry';
import { Image, castLike } from '../image';
import {
  Interpolation,
  adjustBrightness,
  adjustColor,
  adjustContrast,
  adjustSharpness,
  autoContrast,
  checkInterpolation,
  cutout,
  equalize,
  invert,
  posterize,
  rotate,
  shear,
  solarize,
  translate,
} from '../imgops';
import { Rng } from '../rng';
import { BaseTransform, Results, badArg, buildTransform, checkProb, imgOf, rngOf } from './base';

type PadVal = number | number[];

/** Options shared by the augmentations that AutoAugment and RandAugment compose. */
export interface BaseAugTransformOptions {
  /** Magnitude level, used with magnitude_range. @default 10 */
  magnitude_level?: number;
  /** Range the magnitude level maps to: magnitude = level / total_level * (val2 - val1) + val1. @default None */
  magnitude_range?: [number, number] | null;
  /** Noise on the magnitude level: a std for a normal draw, 'inf' for uniform in [0, level], 0 for none. @default 0. */
  magnitude_std?: number | 'inf';
  /** Total level of the magnitude. @default 10 */
  total_level?: number;
  /** Probability that the augmentation is applied. @default 0.5 */
  prob?: number;
  /** Probability that the magnitude is negated. @default 0.5 */
  random_negative_prob?: number;
}

/** The base of RandAugment's augmentations: magnitude mapping, magnitude noise, random negation. */
export abstract class BaseAugTransform extends BaseTransform {
  readonly magnitude_level: number;
  readonly magnitude_range: [number, number] | null;
  readonly magnitude_std: number | 'inf';
  readonly total_level: number;
  readonly prob: number;
  readonly random_negative_prob: number;

  constructor(options: BaseAugTransformOptions, defaultNegativeProb = 0.5) {
    super();
    const who = this.constructor.name;
    this.magnitude_level = options.magnitude_level ?? 10;
    this.magnitude_range = options.magnitude_range ?? null;
    this.magnitude_std = options.magnitude_std ?? 0;
    this.total_level = options.total_level ?? 10;
    this.prob = checkProb(options.prob ?? 0.5, 'prob', who);
    this.random_negative_prob = checkProb(options.random_negative_prob ?? defaultNegativeProb, 'random_negative_prob', who);
    if (this.magnitude_std !== 'inf' && typeof this.magnitude_std !== 'number') throw badArg(who, "magnitude_std must be a number or 'inf'");
    if (this.magnitude_range !== null && !(Array.isArray(this.magnitude_range) && this.magnitude_range.length === 2)) {
      throw badArg(who, 'magnitude_range should be a sequence with two numbers');
    }
  }

  /** Exactly one of the fixed value and magnitude_range must be given. */
  protected requireOne(value: unknown, name: string): void {
    if ((value === undefined || value === null) === (this.magnitude_range === null)) {
      throw badArg(this.constructor.name, `Please specify only one of \`${name}\` and \`magnitude_range\`.`);
    }
  }

  protected randomDisable(rng: Rng): boolean {
    return rng.random() > this.prob;
  }

  protected randomMagnitude(rng: Rng): number {
    let m = this.magnitude_level;
    if (this.magnitude_std === 'inf') m = rng.uniform(0, m);
    else if (this.magnitude_std > 0) m = Math.min(this.total_level, Math.max(0, rng.normal(m, this.magnitude_std)));
    const [v1, v2] = this.magnitude_range!;
    return (m / this.total_level) * (v2 - v1) + v1;
  }

  protected randomNegative(rng: Rng, v: number): number {
    return rng.random() < this.random_negative_prob ? -v : v;
  }

  /** The fixed value if given, else one drawn from magnitude_range. */
  protected value(rng: Rng, fixed: number | null, negate: boolean): number {
    const v = fixed !== null ? fixed : this.randomMagnitude(rng);
    return negate ? this.randomNegative(rng, v) : v;
  }

  protected abstract apply(img: Image, rng: Rng): Image;

  transform(results: Results): Results {
    const rng = rngOf(results);
    if (this.randomDisable(rng)) return results;
    const img = imgOf(results, this.constructor.name);
    results.img = castLike(this.apply(img, rng), img);
    return results;
  }
}

function padValOf(v: unknown): PadVal {
  return Array.isArray(v) ? (v as number[]) : typeof v === 'number' ? v : 128;
}

/** Options of Shear. */
export interface ShearOptions extends BaseAugTransformOptions {
  /** Shear magnitude (the off-diagonal of the shear matrix); None to draw it from magnitude_range. @default None */
  magnitude?: number | null;
  /** Fill value of the uncovered pixels: one value or one per channel. @default 128 */
  pad_val?: PadVal;
  /** Shear direction, 'horizontal' or 'vertical'. @default 'horizontal' */
  direction?: 'horizontal' | 'vertical';
  /** Interpolation method. @default 'bicubic' */
  interpolation?: Interpolation;
}

/** Shear images. */
@TRANSFORMS.registerModule()
export class Shear extends BaseAugTransform {
  readonly magnitude: number | null;
  readonly pad_val: PadVal;
  readonly direction: 'horizontal' | 'vertical';
  readonly interpolation: Interpolation;
  constructor(options: ShearOptions = {}) {
    super(options);
    this.requireOne(options.magnitude, 'magnitude');
    this.magnitude = options.magnitude ?? null;
    this.pad_val = padValOf(options.pad_val ?? 128);
    this.direction = options.direction ?? 'horizontal';
    if (this.direction !== 'horizontal' && this.direction !== 'vertical') throw badArg('Shear', `direction must be either "horizontal" or "vertical", got "${this.direction}" instead.`);
    this.interpolation = checkInterpolation(options.interpolation ?? 'bicubic');
  }
  protected apply(img: Image, rng: Rng): Image {
    return shear(img, this.value(rng, this.magnitude, true), this.direction, this.pad_val, this.interpolation);
  }
}

/** Options of Translate. */
export interface TranslateOptions extends BaseAugTransformOptions {
  /** Offset as a fraction of the width (horizontal) or height (vertical); None to draw it from magnitude_range. @default None */
  magnitude?: number | null;
  /** Fill value of the uncovered pixels. @default 128 */
  pad_val?: PadVal;
  /** Translate direction, 'horizontal' or 'vertical'. @default 'horizontal' */
  direction?: 'horizontal' | 'vertical';
  /** Interpolation method. @default 'nearest' */
  interpolation?: Interpolation;
}

/** Translate images. */
@TRANSFORMS.registerModule()
export class Translate extends BaseAugTransform {
  readonly magnitude: number | null;
  readonly pad_val: PadVal;
  readonly direction: 'horizontal' | 'vertical';
  readonly interpolation: Interpolation;
  constructor(options: TranslateOptions = {}) {
    super(options);
    this.requireOne(options.magnitude, 'magnitude');
    this.magnitude = options.magnitude ?? null;
    this.pad_val = padValOf(options.pad_val ?? 128);
    this.direction = options.direction ?? 'horizontal';
    if (this.direction !== 'horizontal' && this.direction !== 'vertical') throw badArg('Translate', `direction must be either "horizontal" or "vertical", got "${this.direction}" instead.`);
    this.interpolation = checkInterpolation(options.interpolation ?? 'nearest');
  }
  protected apply(img: Image, rng: Rng): Image {
    const m = this.value(rng, this.magnitude, true);
    const offset = m * (this.direction === 'horizontal' ? img.width : img.height);
    return translate(img, offset, this.direction, this.pad_val, this.interpolation);
  }
}

/** Options of Rotate. */
export interface RotateOptions extends BaseAugTransformOptions {
  /** Rotation angle in degrees, positive clockwise; None to draw it from magnitude_range. @default None */
  angle?: number | null;
  /** Centre (x, y) of the rotation; None for the image centre. @default None */
  center?: [number, number] | null;
  /** Isotropic scale factor. @default 1.0 */
  scale?: number;
  /** Fill value of the uncovered pixels. @default 128 */
  pad_val?: PadVal;
  /** Interpolation method. @default 'nearest' */
  interpolation?: Interpolation;
}

/** Rotate images. */
@TRANSFORMS.registerModule()
export class Rotate extends BaseAugTransform {
  readonly angle: number | null;
  readonly center: [number, number] | null;
  readonly scale: number;
  readonly pad_val: PadVal;
  readonly interpolation: Interpolation;
  constructor(options: RotateOptions = {}) {
    super(options);
    this.requireOne(options.angle, 'angle');
    this.angle = options.angle ?? null;
    this.center = options.center ?? null;
    this.scale = options.scale ?? 1.0;
    this.pad_val = padValOf(options.pad_val ?? 128);
    this.interpolation = checkInterpolation(options.interpolation ?? 'nearest');
  }
  protected apply(img: Image, rng: Rng): Image {
    const angle = this.value(rng, this.angle, true);
    return rotate(img, angle, { center: this.center ?? undefined, scale: this.scale, borderValue: this.pad_val, interpolation: this.interpolation });
  }
}

/** Options of AutoContrast, Invert and Equalize. */
export interface AutoContrastOptions extends BaseAugTransformOptions {}

/** Auto adjust image contrast: stretch every channel to the full range. */
@TRANSFORMS.registerModule()
export class AutoContrast extends BaseAugTransform {
  constructor(options: AutoContrastOptions = {}) {
    super(options);
  }
  protected apply(img: Image): Image {
    return autoContrast(img);
  }
}

/** Options of Invert. */
export interface InvertOptions extends BaseAugTransformOptions {}

/** Invert images (255 - value). */
@TRANSFORMS.registerModule()
export class Invert extends BaseAugTransform {
  constructor(options: InvertOptions = {}) {
    super(options);
  }
  protected apply(img: Image): Image {
    return invert(img);
  }
}

/** Options of Equalize. */
export interface EqualizeOptions extends BaseAugTransformOptions {}

/** Equalize the image histogram. */
@TRANSFORMS.registerModule()
export class Equalize extends BaseAugTransform {
  constructor(options: EqualizeOptions = {}) {
    super(options);
  }
  protected apply(img: Image): Image {
    return equalize(img);
  }
}

/** Options of Solarize. */
export interface SolarizeOptions extends BaseAugTransformOptions {
  /** Threshold above which pixels are inverted; None to draw it from magnitude_range. @default None */
  thr?: number | null;
}

/** Solarize images: invert all pixel values at or above a threshold. */
@TRANSFORMS.registerModule()
export class Solarize extends BaseAugTransform {
  readonly thr: number | null;
  constructor(options: SolarizeOptions = {}) {
    super({ ...options, random_negative_prob: 0 }, 0);
    this.requireOne(options.thr, 'thr');
    this.thr = options.thr ?? null;
  }
  protected apply(img: Image, rng: Rng): Image {
    return solarize(img, this.value(rng, this.thr, false));
  }
}

/** Options of SolarizeAdd. */
export interface SolarizeAddOptions extends BaseAugTransformOptions {
  /** Value added to the pixels below thr; None to draw it from magnitude_range. @default None */
  magnitude?: number | null;
  /** Threshold below which pixels are changed. @default 128 */
  thr?: number;
}

/** SolarizeAdd images: add a value to the pixels below a threshold (capped at 255). */
@TRANSFORMS.registerModule()
export class SolarizeAdd extends BaseAugTransform {
  readonly magnitude: number | null;
  readonly thr: number;
  constructor(options: SolarizeAddOptions = {}) {
    super({ ...options, random_negative_prob: 0 }, 0);
    this.requireOne(options.magnitude, 'magnitude');
    this.magnitude = options.magnitude ?? null;
    this.thr = options.thr ?? 128;
    if (typeof this.thr !== 'number') throw badArg('SolarizeAdd', `The thr type must be int or float, but got ${JSON.stringify(this.thr)}`);
  }
  protected apply(img: Image, rng: Rng): Image {
    const m = this.value(rng, this.magnitude, false);
    const out = { ...img, data: img.data.slice() };
    for (let i = 0; i < out.data.length; i++) if (img.data[i] < this.thr) out.data[i] = Math.min(img.data[i] + m, 255);
    return out;
  }
}

/** Options of Posterize. */
export interface PosterizeOptions extends BaseAugTransformOptions {
  /** Bits kept per channel (<= 8); None to draw from magnitude_range (rounded up). @default None */
  bits?: number | null;
}

/** Posterize images: keep only the high bits of every channel. */
@TRANSFORMS.registerModule()
export class Posterize extends BaseAugTransform {
  readonly bits: number | null;
  constructor(options: PosterizeOptions = {}) {
    super({ ...options, random_negative_prob: 0 }, 0);
    this.requireOne(options.bits, 'bits');
    if (options.bits !== undefined && options.bits !== null && options.bits > 8) throw badArg('Posterize', `The bits must be less than 8, got ${options.bits} instead.`);
    this.bits = options.bits ?? null;
  }
  protected apply(img: Image, rng: Rng): Image {
    return posterize(img, Math.ceil(this.value(rng, this.bits, false)));
  }
}

/** Options of Contrast, Brightness, ColorTransform and Sharpness. */
export interface EnhanceOptions extends BaseAugTransformOptions {
  /** Enhancement magnitude: factor = 1 + magnitude; None to draw it from magnitude_range. @default None */
  magnitude?: number | null;
}

abstract class EnhanceTransform extends BaseAugTransform {
  readonly magnitude: number | null;
  constructor(options: EnhanceOptions) {
    super(options);
    this.requireOne(options.magnitude, 'magnitude');
    this.magnitude = options.magnitude ?? null;
  }
  protected factor(rng: Rng): number {
    return 1 + this.value(rng, this.magnitude, true);
  }
}

/** Options of Contrast. */
export interface ContrastOptions extends EnhanceOptions {}

/** Adjust image contrast. */
@TRANSFORMS.registerModule()
export class Contrast extends EnhanceTransform {
  constructor(options: ContrastOptions = {}) {
    super(options);
  }
  protected apply(img: Image, rng: Rng): Image {
    return adjustContrast(img, this.factor(rng));
  }
}

/** Options of ColorTransform. */
export interface ColorTransformOptions extends EnhanceOptions {}

/** Adjust image colour balance (saturation). */
@TRANSFORMS.registerModule()
export class ColorTransform extends EnhanceTransform {
  constructor(options: ColorTransformOptions = {}) {
    super(options);
  }
  protected apply(img: Image, rng: Rng): Image {
    return adjustColor(img, this.factor(rng));
  }
}

/** Options of Brightness. */
export interface BrightnessOptions extends EnhanceOptions {}

/** Adjust image brightness. */
@TRANSFORMS.registerModule()
export class Brightness extends EnhanceTransform {
  constructor(options: BrightnessOptions = {}) {
    super(options);
  }
  protected apply(img: Image, rng: Rng): Image {
    return adjustBrightness(img, this.factor(rng));
  }
}

/** Options of Sharpness. */
export interface SharpnessOptions extends EnhanceOptions {}

/** Adjust image sharpness. */
@TRANSFORMS.registerModule()
export class Sharpness extends EnhanceTransform {
  constructor(options: SharpnessOptions = {}) {
    super(options);
  }
  protected apply(img: Image, rng: Rng): Image {
    return adjustSharpness(img, this.factor(rng));
  }
}

/** Options of Cutout. */
export interface CutoutOptions extends BaseAugTransformOptions {
  /** Cutout size (h, w) or one int for a square; None to draw it from magnitude_range. @default None */
  shape?: number | [number, number] | null;
  /** Fill value. @default 128 */
  pad_val?: PadVal;
}

/** Cutout images: fill a box at a random position. */
@TRANSFORMS.registerModule()
export class Cutout extends BaseAugTransform {
  readonly shape: number | [number, number] | null;
  readonly pad_val: PadVal;
  constructor(options: CutoutOptions = {}) {
    super({ ...options, random_negative_prob: 0 }, 0);
    this.requireOne(options.shape, 'shape');
    this.shape = options.shape ?? null;
    this.pad_val = padValOf(options.pad_val ?? 128);
  }
  protected apply(img: Image, rng: Rng): Image {
    const shape = this.shape !== null ? this.shape : Math.trunc(this.randomMagnitude(rng));
    return cutout(img, shape, this.pad_val, rng);
  }
}

// ------------------------------------------------------------------ policies

type PolicyDict = Record<string, unknown> & { type: string };

/** Which hyper-parameters each augmentation accepts (hparams only fill those). */
const HPARAM_KEYS: Record<string, string[]> = {
  Shear: ['pad_val', 'interpolation'],
  Translate: ['pad_val', 'interpolation'],
  Rotate: ['pad_val', 'interpolation', 'center', 'scale'],
  Cutout: ['pad_val'],
  SolarizeAdd: ['thr'],
};
const COMMON_KEYS = ['magnitude_level', 'magnitude_range', 'magnitude_std', 'total_level', 'prob', 'random_negative_prob'];

function mergeHparams(policy: PolicyDict, hparams: Record<string, unknown>): PolicyDict {
  const out: PolicyDict = { ...policy };
  const accepted = [...(HPARAM_KEYS[policy.type] ?? []), ...COMMON_KEYS];
  for (const [k, v] of Object.entries(hparams)) if (accepted.includes(k) && !(k in out)) out[k] = v;
  return out;
}

const t9 = (x: number) => x / 9;
/** AutoAugment's ImageNet policy (from the DeepVoltaire/AutoAugment repository), as mmcls ships it. */
export const AUTOAUG_POLICIES: Record<string, PolicyDict[][]> = {
  imagenet: [
    [{ type: 'Posterize', bits: 4, prob: 0.4 }, { type: 'Rotate', angle: 30, prob: 0.6 }],
    [{ type: 'Solarize', thr: 256 * t9(4), prob: 0.6 }, { type: 'AutoContrast', prob: 0.6 }],
    [{ type: 'Equalize', prob: 0.8 }, { type: 'Equalize', prob: 0.6 }],
    [{ type: 'Posterize', bits: 5, prob: 0.6 }, { type: 'Posterize', bits: 5, prob: 0.6 }],
    [{ type: 'Equalize', prob: 0.4 }, { type: 'Solarize', thr: 256 * t9(5), prob: 0.2 }],
    [{ type: 'Equalize', prob: 0.4 }, { type: 'Rotate', angle: 30 * t9(8), prob: 0.8 }],
    [{ type: 'Solarize', thr: 256 * t9(6), prob: 0.6 }, { type: 'Equalize', prob: 0.6 }],
    [{ type: 'Posterize', bits: 6, prob: 0.8 }, { type: 'Equalize', prob: 1.0 }],
    [{ type: 'Rotate', angle: 10, prob: 0.2 }, { type: 'Solarize', thr: 256 * t9(1), prob: 0.6 }],
    [{ type: 'Equalize', prob: 0.6 }, { type: 'Posterize', bits: 5, prob: 0.4 }],
    [{ type: 'Rotate', angle: 30 * t9(8), prob: 0.8 }, { type: 'ColorTransform', magnitude: 0, prob: 0.4 }],
    [{ type: 'Rotate', angle: 30, prob: 0.4 }, { type: 'Equalize', prob: 0.6 }],
    [{ type: 'Equalize', prob: 0.0 }, { type: 'Equalize', prob: 0.8 }],
    [{ type: 'Invert', prob: 0.6 }, { type: 'Equalize', prob: 1.0 }],
    [{ type: 'ColorTransform', magnitude: 0.4, prob: 0.6 }, { type: 'Contrast', magnitude: 0.8, prob: 1.0 }],
    [{ type: 'Rotate', angle: 30 * t9(8), prob: 0.8 }, { type: 'ColorTransform', magnitude: 0.2, prob: 1.0 }],
    [{ type: 'ColorTransform', magnitude: 0.8, prob: 0.8 }, { type: 'Solarize', thr: 256 * t9(2), prob: 0.8 }],
    [{ type: 'Sharpness', magnitude: 0.7, prob: 0.4 }, { type: 'Invert', prob: 0.6 }],
    [{ type: 'Shear', magnitude: 0.3 * t9(5), prob: 0.6, direction: 'horizontal' }, { type: 'Equalize', prob: 1.0 }],
    [{ type: 'ColorTransform', magnitude: 0, prob: 0.4 }, { type: 'Equalize', prob: 0.6 }],
    [{ type: 'Equalize', prob: 0.4 }, { type: 'Solarize', thr: 256 * t9(5), prob: 0.2 }],
    [{ type: 'Solarize', thr: 256 * t9(4), prob: 0.6 }, { type: 'AutoContrast', prob: 0.6 }],
    [{ type: 'Invert', prob: 0.6 }, { type: 'Equalize', prob: 1.0 }],
    [{ type: 'ColorTransform', magnitude: 0.4, prob: 0.6 }, { type: 'Contrast', magnitude: 0.8, prob: 1.0 }],
    [{ type: 'Equalize', prob: 0.8 }, { type: 'Equalize', prob: 0.6 }],
  ],
};

/** RandAugment's policy sets; 'timm_increasing' is timm's `_RAND_INCREASING_TRANSFORMS`. */
export const RANDAUG_POLICIES: Record<string, PolicyDict[]> = {
  timm_increasing: [
    { type: 'AutoContrast' },
    { type: 'Equalize' },
    { type: 'Invert' },
    { type: 'Rotate', magnitude_range: [0, 30] },
    { type: 'Posterize', magnitude_range: [4, 0] },
    { type: 'Solarize', magnitude_range: [256, 0] },
    { type: 'SolarizeAdd', magnitude_range: [0, 110] },
    { type: 'ColorTransform', magnitude_range: [0, 0.9] },
    { type: 'Contrast', magnitude_range: [0, 0.9] },
    { type: 'Brightness', magnitude_range: [0, 0.9] },
    { type: 'Sharpness', magnitude_range: [0, 0.9] },
    { type: 'Shear', magnitude_range: [0, 0.3], direction: 'horizontal' },
    { type: 'Shear', magnitude_range: [0, 0.3], direction: 'vertical' },
    { type: 'Translate', magnitude_range: [0, 0.45], direction: 'horizontal' },
    { type: 'Translate', magnitude_range: [0, 0.45], direction: 'vertical' },
  ],
};

function checkPolicy(p: unknown, who: string): PolicyDict {
  if (p === null || typeof p !== 'object' || Array.isArray(p) || typeof (p as PolicyDict).type !== 'string') {
    throw badArg(who, `each policy must be a dict with key "type", got ${JSON.stringify(p)}`);
  }
  return p as PolicyDict;
}

/** Options of AutoAugment. */
export interface AutoAugmentOptions {
  /** A preset name ('imagenet') or a list of sub-policies, each a list of augmentation dicts. */
  policies: string | Record<string, unknown>[][];
  /** Hyper-parameters filled into the policies that accept them and do not set them. @default dict(pad_val=128) */
  hparams?: Record<string, unknown>;
}

/** AutoAugment: apply one randomly chosen sub-policy (a short sequence of augmentations). */
@TRANSFORMS.registerModule()
export class AutoAugment extends BaseTransform {
  readonly policies: PolicyDict[][];
  readonly hparams: Record<string, unknown>;
  readonly subs: BaseTransform[][];

  constructor(options: AutoAugmentOptions) {
    super();
    let policies = options?.policies;
    if (typeof policies === 'string') {
      if (!(policies in AUTOAUG_POLICIES)) throw badArg('AutoAugment', `Invalid policies, please choose from ${JSON.stringify(Object.keys(AUTOAUG_POLICIES))}.`);
      policies = AUTOAUG_POLICIES[policies];
    }
    if (!Array.isArray(policies) || !policies.length || !policies.every((s) => Array.isArray(s))) {
      throw badArg('AutoAugment', 'policies must be a preset name or a non-empty list of lists of dicts');
    }
    this.hparams = options.hparams ?? { pad_val: 128 };
    this.policies = policies.map((sub) => sub.map((p) => mergeHparams(checkPolicy(p, 'AutoAugment'), this.hparams)));
    this.subs = this.policies.map((sub) => sub.map((p) => buildTransform(p)));
  }

  async transform(results: Results): Promise<Results | null> {
    const sub = this.subs[rngOf(results).randint(0, this.subs.length)];
    let r: Results | null = results;
    for (const t of sub) {
      r = await t.call(r);
      if (r === null) return null;
    }
    return r;
  }
}

/** Options of RandAugment. */
export interface RandAugmentOptions {
  /** A preset name ('timm_increasing') or a list of augmentation dicts (with magnitude_range where they have a magnitude). */
  policies: string | Record<string, unknown>[];
  /** Number of augmentations drawn (with replacement) for each image. */
  num_policies: number;
  /** Magnitude level of all the augmentations. */
  magnitude_level: number;
  /** Noise on the magnitude: a std for a normal draw, 'inf' for uniform, 0 for none. @default 0. */
  magnitude_std?: number | 'inf';
  /** Total level of the magnitude. @default 10 */
  total_level?: number;
  /** Hyper-parameters filled into the policies that accept them and do not set them. @default dict(pad_val=128) */
  hparams?: Record<string, unknown>;
}

/** RandAugment: apply `num_policies` augmentations drawn at random, all at one magnitude level. */
@TRANSFORMS.registerModule()
export class RandAugment extends BaseTransform {
  readonly policies: PolicyDict[];
  readonly num_policies: number;
  readonly magnitude_level: number;
  readonly magnitude_std: number | 'inf';
  readonly total_level: number;
  readonly hparams: Record<string, unknown>;
  readonly transforms: BaseTransform[];

  constructor(options: RandAugmentOptions) {
    super();
    let policies = options?.policies;
    if (typeof policies === 'string') {
      if (!(policies in RANDAUG_POLICIES)) throw badArg('RandAugment', `Invalid policies, please choose from ${JSON.stringify(Object.keys(RANDAUG_POLICIES))}.`);
      policies = RANDAUG_POLICIES[policies];
    }
    if (!Array.isArray(policies) || !policies.length) throw badArg('RandAugment', 'policies must be a preset name or a non-empty list of dict');
    this.magnitude_std = options.magnitude_std ?? 0;
    if (typeof this.magnitude_std === 'string' && this.magnitude_std !== 'inf') throw badArg('RandAugment', `\`magnitude_std\` must be of number or "inf", got "${this.magnitude_std}" instead.`);
    if (!(options.num_policies > 0)) throw badArg('RandAugment', 'num_policies must be greater than 0.');
    if (!(options.magnitude_level >= 0)) throw badArg('RandAugment', 'magnitude_level must be no less than 0.');
    this.total_level = options.total_level ?? 10;
    if (!(this.total_level > 0)) throw badArg('RandAugment', 'total_level must be greater than 0.');
    this.num_policies = options.num_policies;
    this.magnitude_level = options.magnitude_level;
    this.hparams = options.hparams ?? { pad_val: 128 };
    const randaug = { magnitude_level: this.magnitude_level, total_level: this.total_level, magnitude_std: this.magnitude_std };
    this.policies = policies.map((p) => {
      const pol = mergeHparams(checkPolicy(p, 'RandAugment'), this.hparams);
      delete pol.magnitude_key;
      return 'magnitude_range' in pol ? { ...pol, ...randaug } : pol;
    });
    this.transforms = this.policies.map((p) => buildTransform(p));
  }

  async transform(results: Results): Promise<Results | null> {
    const rng = rngOf(results);
    let r: Results | null = results;
    for (let i = 0; i < this.num_policies; i++) {
      const t = this.transforms[rng.randint(0, this.transforms.length)];
      r = await t.call(r!);
      if (r === null) return null;
    }
    return r;
  }
}
