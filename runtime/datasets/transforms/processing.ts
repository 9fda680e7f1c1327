import { TRANSFORMS } from '../../registry';
import { Image, castLike, isFloat, pyRound, toFloat32, swapRB, emptyImage } from '../image';
import {
  Backend,
  Interpolation,
  PaddingMode,
  FlipDirection,
  adjustBrightness,
  adjustColor,
  adjustContrast,
  adjustHue,
  checkBackend,
  checkInterpolation,
  crop,
  flip,
  pad,
  rescaleSize,
  resize,
} from '../imgops';
import { BaseTransform, Results, badArg, checkProb, imgOf, pair, rngOf } from './base';

function setImg(results: Results, img: Image): void {
  results.img = img;
  results.img_shape = [img.height, img.width];
}

// ------------------------------------------------------------------ Resize family (MMCV)

/** Options of Resize. */
export interface ResizeOptions {
  /** Target size `(w, h)`, or an int for a square. Either `scale` or `scale_factor` must be set. @default None */
  scale?: number | [number, number] | null;
  /** Scale factor(s) `(w_factor, h_factor)` or one factor for both, used when `scale` is None. @default None */
  scale_factor?: number | [number, number] | null;
  /** Keep the aspect ratio: fit the image inside `scale` (long and short edge limits). @default False */
  keep_ratio?: boolean;
  /** Clip bounding boxes to the image (detection option, accepted for compatibility). @default True */
  clip_object_border?: boolean;
  /** Image resize backend, 'cv2' or 'pillow'. @default 'cv2' */
  backend?: Backend;
  /** Interpolation: 'nearest', 'bilinear', 'bicubic', 'area' or 'lanczos'. @default 'bilinear' */
  interpolation?: Interpolation;
}

/** Resize images to a given scale or by a scale factor, optionally keeping the aspect ratio (MMCV). */
@TRANSFORMS.registerModule()
export class Resize extends BaseTransform {
  readonly scale: [number, number] | null;
  readonly scale_factor: [number, number] | null;
  readonly keep_ratio: boolean;
  readonly backend: Backend;
  readonly interpolation: Interpolation;

  constructor(options: ResizeOptions) {
    super();
    const o = options ?? {};
    if ((o.scale === undefined || o.scale === null) && (o.scale_factor === undefined || o.scale_factor === null)) {
      throw badArg('Resize', '`scale` and `scale_factor` can not both be None');
    }
    this.scale = o.scale === undefined || o.scale === null ? null : pair(o.scale, 'scale', 'Resize');
    this.scale_factor = o.scale_factor === undefined || o.scale_factor === null ? null : pair(o.scale_factor, 'scale_factor', 'Resize');
    this.keep_ratio = o.keep_ratio ?? false;
    this.backend = checkBackend(o.backend ?? 'cv2');
    this.interpolation = checkInterpolation(o.interpolation ?? 'bilinear');
  }

  transform(results: Results): Results {
    const img = imgOf(results, 'Resize');
    const scale: [number, number] = this.scale
      ? this.scale
      : [Math.trunc(img.width * this.scale_factor![0] + 0.5), Math.trunc(img.height * this.scale_factor![1] + 0.5)];
    results.scale = scale;
    return resizeResults(results, img, scale, this.keep_ratio, this.interpolation, this.backend);
  }

  override toString(): string {
    return `Resize(scale=${JSON.stringify(this.scale)}, scale_factor=${JSON.stringify(this.scale_factor)}, keep_ratio=${this.keep_ratio}, interpolation='${this.interpolation}', backend='${this.backend}')`;
  }
}

function resizeResults(results: Results, img: Image, scale: [number, number], keepRatio: boolean, interpolation: Interpolation, backend: Backend): Results {
  let size: [number, number] = scale;
  if (keepRatio) size = rescaleSize(img.width, img.height, scale).size;
  const out = resize(img, size[0], size[1], interpolation, backend);
  setImg(results, out);
  results.scale_factor = [out.width / img.width, out.height / img.height];
  results.keep_ratio = keepRatio;
  return results;
}

/** Options of RandomResize. */
export interface RandomResizeOptions {
  /** A scale `(w, h)` multiplied by a random ratio, or two scales between which edges are drawn. */
  scale: [number, number] | [[number, number], [number, number]];
  /** Range of the random ratio applied to `scale`. @default None */
  ratio_range?: [number, number] | null;
  /** The resize transform type to use. @default 'Resize' */
  resize_type?: string;
  /** Whether to keep the aspect ratio. @default False */
  keep_ratio?: boolean;
  /** Image resize backend, 'cv2' or 'pillow'. @default 'cv2' */
  backend?: Backend;
  /** Interpolation method. @default 'bilinear' */
  interpolation?: Interpolation;
}

/** Resize to a randomly drawn scale (MMCV). */
@TRANSFORMS.registerModule()
export class RandomResize extends BaseTransform {
  readonly scale: RandomResizeOptions['scale'];
  readonly ratio_range: [number, number] | null;
  readonly keep_ratio: boolean;
  readonly backend: Backend;
  readonly interpolation: Interpolation;

  constructor(options: RandomResizeOptions) {
    super();
    this.scale = options.scale;
    this.ratio_range = options.ratio_range ?? null;
    this.keep_ratio = options.keep_ratio ?? false;
    this.backend = checkBackend(options.backend ?? 'cv2');
    this.interpolation = checkInterpolation(options.interpolation ?? 'bilinear');
    if ((options.resize_type ?? 'Resize') !== 'Resize') throw badArg('RandomResize', `only resize_type='Resize' is supported`);
    if (!Array.isArray(this.scale)) throw badArg('RandomResize', 'scale must be a pair or a list of two pairs');
  }

  transform(results: Results): Results {
    const img = imgOf(results, 'RandomResize');
    const rng = rngOf(results);
    let scale: [number, number];
    if (this.ratio_range) {
      const s = this.scale as [number, number];
      const ratio = rng.uniform(Math.min(...this.ratio_range), Math.max(...this.ratio_range));
      scale = [Math.trunc(s[0] * ratio), Math.trunc(s[1] * ratio)];
    } else {
      const [a, b] = this.scale as [[number, number], [number, number]];
      if (!Array.isArray(a) || !Array.isArray(b)) throw badArg('RandomResize', 'without ratio_range, scale must be two (w, h) pairs');
      scale = [rng.randint(Math.min(a[0], b[0]), Math.max(a[0], b[0]) + 1), rng.randint(Math.min(a[1], b[1]), Math.max(a[1], b[1]) + 1)];
    }
    results.scale = scale;
    return resizeResults(results, img, scale, this.keep_ratio, this.interpolation, this.backend);
  }
}

/** Options of ResizeEdge. */
export interface ResizeEdgeOptions {
  /** The length the chosen edge is resized to. */
  scale: number;
  /** Which edge: 'short', 'long', 'width' or 'height'. @default 'short' */
  edge?: 'short' | 'long' | 'width' | 'height';
  /** Image resize backend, 'cv2' or 'pillow'. @default 'cv2' */
  backend?: Backend;
  /** Interpolation method. @default 'bilinear' */
  interpolation?: Interpolation;
}

/** Resize images along the specified edge, keeping the aspect ratio (mmcls). */
@TRANSFORMS.registerModule()
export class ResizeEdge extends BaseTransform {
  readonly scale: number;
  readonly edge: 'short' | 'long' | 'width' | 'height';
  readonly backend: Backend;
  readonly interpolation: Interpolation;

  constructor(options: ResizeEdgeOptions) {
    super();
    if (typeof options?.scale !== 'number') throw badArg('ResizeEdge', `scale must be an int, got ${JSON.stringify(options?.scale)}`);
    this.scale = options.scale;
    this.edge = options.edge ?? 'short';
    if (!['short', 'long', 'width', 'height'].includes(this.edge)) throw badArg('ResizeEdge', `edge must be 'short', 'long', 'width' or 'height', got ${JSON.stringify(this.edge)}`);
    this.backend = checkBackend(options.backend ?? 'cv2');
    this.interpolation = checkInterpolation(options.interpolation ?? 'bilinear');
  }

  transform(results: Results): Results {
    const img = imgOf(results, 'ResizeEdge');
    const h = img.height;
    const w = img.width;
    let width: number;
    let height: number;
    if ((this.edge === 'short' && w < h) || (this.edge === 'long' && w > h) || this.edge === 'width') {
      width = this.scale;
      height = Math.trunc((this.scale * h) / w);
    } else {
      height = this.scale;
      width = Math.trunc((this.scale * w) / h);
    }
    results.scale = [width, height];
    return resizeResults(results, img, [width, height], false, this.interpolation, this.backend);
  }

  override toString(): string {
    return `ResizeEdge(scale=${this.scale}, edge=${this.edge}, backend=${this.backend}, interpolation=${this.interpolation})`;
  }
}

// ------------------------------------------------------------------ crops

/** Options of RandomResizedCrop. */
export interface RandomResizedCropOptions {
  /** Output size `(h, w)` of the crop, or an int for a square. */
  scale: number | [number, number];
  /** Range of the crop area relative to the image area. @default (0.08, 1.0) */
  crop_ratio_range?: [number, number];
  /** Range of the crop aspect ratio (width / height). @default (3. / 4., 4. / 3.) */
  aspect_ratio_range?: [number, number];
  /** Attempts at a valid random crop before falling back to a central crop. @default 10 */
  max_attempts?: number;
  /** Interpolation method. @default 'bilinear' */
  interpolation?: Interpolation;
  /** Image resize backend, 'cv2' or 'pillow'. @default 'cv2' */
  backend?: Backend;
}

/** Crop a random part of the image (random area and aspect ratio) and resize it to `scale` (Inception-style). */
@TRANSFORMS.registerModule()
export class RandomResizedCrop extends BaseTransform {
  readonly scale: [number, number];
  readonly crop_ratio_range: [number, number];
  readonly aspect_ratio_range: [number, number];
  readonly max_attempts: number;
  readonly interpolation: Interpolation;
  readonly backend: Backend;

  constructor(options: RandomResizedCropOptions) {
    super();
    const who = this.constructor.name;
    this.scale = pair(options?.scale, 'scale', who);
    this.crop_ratio_range = pair(options.crop_ratio_range ?? [0.08, 1.0], 'crop_ratio_range', who);
    this.aspect_ratio_range = pair(options.aspect_ratio_range ?? [3 / 4, 4 / 3], 'aspect_ratio_range', who);
    if (this.crop_ratio_range[0] > this.crop_ratio_range[1] || this.aspect_ratio_range[0] > this.aspect_ratio_range[1]) {
      throw badArg(who, 'range (min, max) must have min <= max');
    }
    this.max_attempts = options.max_attempts ?? 10;
    if (!(this.max_attempts >= 0)) throw badArg(who, 'max_attempts must be >= 0');
    this.interpolation = checkInterpolation(options.interpolation ?? 'bilinear');
    this.backend = checkBackend(options.backend ?? 'cv2');
  }

  /** (offset_h, offset_w, target_h, target_w) */
  randCropParams(img: Image, results: Results): [number, number, number, number] {
    const rng = rngOf(results);
    const h = img.height;
    const w = img.width;
    const area = h * w;
    for (let i = 0; i < this.max_attempts; i++) {
      const targetArea = rng.uniform(this.crop_ratio_range[0], this.crop_ratio_range[1]) * area;
      const logRatio = [Math.log(this.aspect_ratio_range[0]), Math.log(this.aspect_ratio_range[1])];
      const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
      const tw = pyRound(Math.sqrt(targetArea * aspect));
      const th = pyRound(Math.sqrt(targetArea / aspect));
      if (tw > 0 && tw <= w && th > 0 && th <= h) {
        return [rng.randint(0, h - th + 1), rng.randint(0, w - tw + 1), th, tw];
      }
    }
    const inRatio = w / h;
    let tw: number;
    let th: number;
    if (inRatio < Math.min(...this.aspect_ratio_range)) {
      tw = w;
      th = pyRound(tw / Math.min(...this.aspect_ratio_range));
    } else if (inRatio > Math.max(...this.aspect_ratio_range)) {
      th = h;
      tw = pyRound(th * Math.max(...this.aspect_ratio_range));
    } else {
      tw = w;
      th = h;
    }
    return [Math.floor((h - th) / 2), Math.floor((w - tw) / 2), th, tw];
  }

  transform(results: Results): Results {
    const img = imgOf(results, this.constructor.name);
    const [oh, ow, th, tw] = this.randCropParams(img, results);
    const cropped = crop(img, ow, oh, ow + tw - 1, oh + th - 1);
    setImg(results, resize(cropped, this.scale[1], this.scale[0], this.interpolation, this.backend));
    return results;
  }

  override toString(): string {
    return `${this.constructor.name}(scale=${JSON.stringify(this.scale)}, crop_ratio_range=${JSON.stringify(this.crop_ratio_range)}, aspect_ratio_range=${JSON.stringify(this.aspect_ratio_range)}, max_attempts=${this.max_attempts}, interpolation=${this.interpolation}, backend=${this.backend})`;
  }
}

/** Options of EfficientNetRandomCrop. */
export interface EfficientNetRandomCropOptions {
  /** Output size of the square crop (an int). */
  scale: number;
  /** Minimum ratio of the cropped area to the original area. @default 0.1 */
  min_covered?: number;
  /** Padding of the fallback central crop, as in EfficientNet. @default 32 */
  crop_padding?: number;
  /** Interpolation method. @default 'bicubic' */
  interpolation?: Interpolation;
  /** Range of the crop area relative to the image area. @default (0.08, 1.0) */
  crop_ratio_range?: [number, number];
  /** Range of the crop aspect ratio. @default (3. / 4., 4. / 3.) */
  aspect_ratio_range?: [number, number];
  /** Attempts before the fallback. @default 10 */
  max_attempts?: number;
  /** Image resize backend, 'cv2' or 'pillow'. @default 'cv2' */
  backend?: Backend;
}

/** EfficientNet-style RandomResizedCrop (TensorFlow's sample_distorted_bounding_box). */
@TRANSFORMS.registerModule()
export class EfficientNetRandomCrop extends RandomResizedCrop {
  readonly min_covered: number;
  readonly crop_padding: number;

  constructor(options: EfficientNetRandomCropOptions) {
    if (typeof options?.scale !== 'number') throw badArg('EfficientNetRandomCrop', `scale must be an int, got ${JSON.stringify(options?.scale)}`);
    super({ ...options, interpolation: options.interpolation ?? 'bicubic' });
    this.min_covered = options.min_covered ?? 0.1;
    this.crop_padding = options.crop_padding ?? 32;
    if (!(this.min_covered >= 0)) throw badArg('EfficientNetRandomCrop', 'min_covered should be no less than 0');
    if (!(this.crop_padding >= 0)) throw badArg('EfficientNetRandomCrop', 'crop_padding should be no less than 0');
  }

  override randCropParams(img: Image, results: Results): [number, number, number, number] {
    const rng = rngOf(results);
    const h = img.height;
    const w = img.width;
    const area = h * w;
    const minArea = this.crop_ratio_range[0] * area;
    const maxArea = this.crop_ratio_range[1] * area;
    for (let i = 0; i < this.max_attempts; i++) {
      const aspect = rng.uniform(this.aspect_ratio_range[0], this.aspect_ratio_range[1]);
      let minH = pyRound(Math.sqrt(minArea / aspect));
      let maxH = pyRound(Math.sqrt(maxArea / aspect));
      if (maxH * aspect > w) {
        maxH = Math.trunc((w + 0.5 - 1e-7) / aspect);
        if (maxH * aspect > w) maxH -= 1;
      }
      maxH = Math.min(maxH, h);
      minH = Math.min(maxH, minH);
      const th = pyRound(rng.uniform(minH, maxH));
      const tw = pyRound(th * aspect);
      const ta = th * tw;
      if (ta < minArea || ta > maxArea || tw > w || th > h || ta < this.min_covered * area) continue;
      return [rng.randint(0, h - th + 1), rng.randint(0, w - tw + 1), th, tw];
    }
    const short = Math.min(h, w);
    const size = (this.scale[0] / (this.scale[0] + this.crop_padding)) * short;
    return [Math.max(0, pyRound((h - size) / 2)), Math.max(0, pyRound((w - size) / 2)), size, size];
  }
}

/** Options of CenterCrop. */
export interface CenterCropOptions {
  /** Crop size `(w, h)`, or an int for a square. */
  crop_size: number | [number, number];
  /** Pad the image to the crop size first when it is smaller. @default False */
  auto_pad?: boolean;
  /** The Pad transform config used by auto_pad. @default dict(type='Pad') */
  pad_cfg?: Record<string, unknown>;
  /** Clip bounding boxes to the image (detection option, accepted for compatibility). @default True */
  clip_object_border?: boolean;
}

/** Crop the centre of the image (MMCV). If the image is smaller than the crop, the crop is the whole image unless `auto_pad`. */
@TRANSFORMS.registerModule()
export class CenterCrop extends BaseTransform {
  readonly crop_size: [number, number];
  readonly auto_pad: boolean;
  readonly pad_val: number;
  readonly padding_mode: PaddingMode;

  constructor(options: CenterCropOptions) {
    super();
    this.crop_size = pair(options?.crop_size, 'crop_size', 'CenterCrop');
    if (!(this.crop_size[0] > 0 && this.crop_size[1] > 0)) throw badArg('CenterCrop', 'crop_size must be positive');
    this.auto_pad = options.auto_pad ?? false;
    const padCfg = options.pad_cfg ?? {};
    const pv = padCfg.pad_val;
    this.pad_val = typeof pv === 'number' ? pv : pv && typeof pv === 'object' && typeof (pv as Record<string, unknown>).img === 'number' ? ((pv as Record<string, unknown>).img as number) : 0;
    this.padding_mode = (padCfg.padding_mode as PaddingMode | undefined) ?? 'constant';
  }

  transform(results: Results): Results {
    let img = imgOf(results, 'CenterCrop');
    let [cw, ch] = this.crop_size;
    if ((ch > img.height || cw > img.width) && this.auto_pad) {
      img = pad(img, 0, 0, Math.max(cw - img.width, 0), Math.max(ch - img.height, 0), this.pad_val, this.padding_mode);
      results.pad_shape = [img.height, img.width];
    }
    ch = Math.min(ch, img.height);
    cw = Math.min(cw, img.width);
    const y1 = Math.max(0, pyRound((img.height - ch) / 2));
    const x1 = Math.max(0, pyRound((img.width - cw) / 2));
    const y2 = Math.min(img.height, y1 + ch) - 1;
    const x2 = Math.min(img.width, x1 + cw) - 1;
    setImg(results, crop(img, x1, y1, x2, y2));
    return results;
  }

  override toString(): string {
    return `CenterCrop(crop_size=${JSON.stringify(this.crop_size)}, auto_pad=${this.auto_pad})`;
  }
}

/** Options of EfficientNetCenterCrop. */
export interface EfficientNetCenterCropOptions {
  /** Output size of the square crop. */
  crop_size: number;
  /** Padding used to compute the crop: crop = crop_size / (crop_size + crop_padding) * short edge. @default 32 */
  crop_padding?: number;
  /** Interpolation method. @default 'bicubic' */
  interpolation?: Interpolation;
  /** Image resize backend, 'cv2' or 'pillow'. @default 'cv2' */
  backend?: Backend;
}

/** EfficientNet-style centre crop: crop a centred square proportional to the short edge, then resize to `crop_size`. */
@TRANSFORMS.registerModule()
export class EfficientNetCenterCrop extends BaseTransform {
  readonly crop_size: number;
  readonly crop_padding: number;
  readonly interpolation: Interpolation;
  readonly backend: Backend;

  constructor(options: EfficientNetCenterCropOptions) {
    super();
    if (typeof options?.crop_size !== 'number' || options.crop_size <= 0) throw badArg('EfficientNetCenterCrop', `crop_size must be a positive int, got ${JSON.stringify(options?.crop_size)}`);
    this.crop_size = options.crop_size;
    this.crop_padding = options.crop_padding ?? 32;
    if (!(this.crop_padding >= 0)) throw badArg('EfficientNetCenterCrop', 'crop_padding must be >= 0');
    this.interpolation = checkInterpolation(options.interpolation ?? 'bicubic');
    this.backend = checkBackend(options.backend ?? 'cv2');
  }

  transform(results: Results): Results {
    const img = imgOf(results, 'EfficientNetCenterCrop');
    const h = img.height;
    const w = img.width;
    const size = (this.crop_size / (this.crop_size + this.crop_padding)) * Math.min(h, w);
    const oh = Math.max(0, pyRound((h - size) / 2));
    const ow = Math.max(0, pyRound((w - size) / 2));
    const cropped = crop(img, ow, oh, ow + size - 1, oh + size - 1);
    setImg(results, resize(cropped, this.crop_size, this.crop_size, this.interpolation, this.backend));
    return results;
  }
}

/** Options of RandomCrop. */
export interface RandomCropOptions {
  /** Crop size `(h, w)`, or an int for a square. */
  crop_size: number | [number, number];
  /** Padding on the borders: an int for all, `(left/right, top/bottom)`, or `(left, top, right, bottom)`. @default None */
  padding?: number | [number, number] | [number, number, number, number] | null;
  /** Pad the image when it is smaller than the crop. @default False */
  pad_if_needed?: boolean;
  /** Pixel value for constant padding: one value or one per channel. @default 0 */
  pad_val?: number | number[];
  /** Padding mode: 'constant', 'edge', 'reflect' or 'symmetric'. @default 'constant' */
  padding_mode?: PaddingMode;
}

/** Crop the given image at a random location, after optional padding (mmcls). */
@TRANSFORMS.registerModule()
export class RandomCrop extends BaseTransform {
  readonly crop_size: [number, number];
  readonly padding: [number, number, number, number] | null;
  readonly pad_if_needed: boolean;
  readonly pad_val: number | number[];
  readonly padding_mode: PaddingMode;

  constructor(options: RandomCropOptions) {
    super();
    this.crop_size = pair(options?.crop_size, 'crop_size', 'RandomCrop');
    if (!(this.crop_size[0] > 0 && this.crop_size[1] > 0)) throw badArg('RandomCrop', 'crop_size must be positive');
    const p = options.padding ?? null;
    if (p === null) this.padding = null;
    else if (typeof p === 'number') this.padding = [p, p, p, p];
    else if (Array.isArray(p) && p.length === 2) this.padding = [p[0], p[1], p[0], p[1]];
    else if (Array.isArray(p) && p.length === 4) this.padding = [p[0], p[1], p[2], p[3]];
    else throw badArg('RandomCrop', `padding must be an int or a sequence of 2 or 4 ints, got ${JSON.stringify(p)}`);
    this.pad_if_needed = options.pad_if_needed ?? false;
    this.pad_val = options.pad_val ?? 0;
    this.padding_mode = options.padding_mode ?? 'constant';
    if (!['constant', 'edge', 'reflect', 'symmetric'].includes(this.padding_mode)) {
      throw badArg('RandomCrop', `padding_mode must be 'constant', 'edge', 'reflect' or 'symmetric', got ${JSON.stringify(this.padding_mode)}`);
    }
  }

  transform(results: Results): Results {
    let img = imgOf(results, 'RandomCrop');
    if (this.padding) {
      const [l, t, r, b] = this.padding;
      img = pad(img, l, t, r, b, this.pad_val, this.padding_mode);
    }
    if (this.pad_if_needed) {
      const hp = Math.ceil(Math.max(0, this.crop_size[0] - img.height) / 2);
      const wp = Math.ceil(Math.max(0, this.crop_size[1] - img.width) / 2);
      img = pad(img, wp, hp, wp, hp, this.pad_val, this.padding_mode);
    }
    const h = img.height;
    const w = img.width;
    let [th, tw] = this.crop_size;
    let oh = 0;
    let ow = 0;
    if (!(w === tw && h === th)) {
      if (w < tw || h < th) {
        tw = Math.min(w, tw);
        th = Math.min(h, th);
      }
      const rng = rngOf(results);
      oh = rng.randint(0, h - th + 1);
      ow = rng.randint(0, w - tw + 1);
    }
    setImg(results, crop(img, ow, oh, ow + tw - 1, oh + th - 1));
    return results;
  }

  override toString(): string {
    return `RandomCrop(crop_size=${JSON.stringify(this.crop_size)}, padding=${JSON.stringify(this.padding)}, pad_if_needed=${this.pad_if_needed}, pad_val=${JSON.stringify(this.pad_val)}, padding_mode=${this.padding_mode})`;
  }
}

/** Options of Pad. */
export interface PadOptions {
  /** Target size `(w, h)`; padding goes to the right and bottom. @default None */
  size?: [number, number] | null;
  /** Pad so that height and width are multiples of this. @default None */
  size_divisor?: number | null;
  /** Pad to a square of the long edge. @default False */
  pad_to_square?: boolean;
  /** Padding value, or dict(img=..., seg=...). @default dict(img=0, seg=255) */
  pad_val?: number | number[] | Record<string, unknown>;
  /** Padding mode: 'constant', 'edge', 'reflect' or 'symmetric'. @default 'constant' */
  padding_mode?: PaddingMode;
}

/** Pad the image to a fixed size, a multiple of a divisor, or a square (MMCV). */
@TRANSFORMS.registerModule()
export class Pad extends BaseTransform {
  constructor(readonly options: PadOptions = {}) {
    super();
    if (!options.size && !options.size_divisor && !options.pad_to_square) throw badArg('Pad', 'one of size, size_divisor, pad_to_square must be set');
  }

  transform(results: Results): Results {
    const img = imgOf(results, 'Pad');
    let [tw, th] = [img.width, img.height];
    if (this.options.pad_to_square) tw = th = Math.max(tw, th);
    if (this.options.size) [tw, th] = this.options.size;
    const d = this.options.size_divisor;
    if (d) {
      th = Math.ceil(th / d) * d;
      tw = Math.ceil(tw / d) * d;
    }
    const pv = this.options.pad_val ?? 0;
    const val = typeof pv === 'number' || Array.isArray(pv) ? pv : typeof pv.img === 'number' || Array.isArray(pv.img) ? (pv.img as number | number[]) : 0;
    const out = pad(img, 0, 0, Math.max(0, tw - img.width), Math.max(0, th - img.height), val, this.options.padding_mode ?? 'constant');
    results.img = out;
    results.pad_shape = [out.height, out.width];
    results.img_shape = [out.height, out.width];
    return results;
  }
}

// ------------------------------------------------------------------ flips

/** Options of RandomFlip. */
export interface RandomFlipOptions {
  /** Probability of flipping: one number, or one per direction. */
  prob: number | number[];
  /** Flip direction(s): 'horizontal', 'vertical' or 'diagonal', or a list of them. @default 'horizontal' */
  direction?: FlipDirection | FlipDirection[];
}

/** Flip the image with a probability (MMCV). Sets `flip` and `flip_direction`. */
@TRANSFORMS.registerModule()
export class RandomFlip extends BaseTransform {
  readonly prob: number | number[];
  readonly direction: FlipDirection | FlipDirection[];

  constructor(options: RandomFlipOptions) {
    super();
    const prob = options?.prob;
    if (Array.isArray(prob)) {
      const s = prob.reduce((a, b) => a + b, 0);
      if (!prob.every((p) => typeof p === 'number') || !(s >= 0 && s <= 1 + 1e-9)) throw badArg('RandomFlip', `prob must be numbers summing to at most 1, got ${JSON.stringify(prob)}`);
    } else if (typeof prob === 'number') {
      checkProb(prob, 'prob', 'RandomFlip');
    } else {
      throw badArg('RandomFlip', `probs must be float or list of float, but got ${JSON.stringify(prob)}`);
    }
    this.prob = prob;
    this.direction = options.direction ?? 'horizontal';
    const dirs = Array.isArray(this.direction) ? this.direction : [this.direction];
    for (const d of dirs) if (!['horizontal', 'vertical', 'diagonal'].includes(d)) throw badArg('RandomFlip', `direction must be 'horizontal', 'vertical' or 'diagonal', got ${JSON.stringify(d)}`);
    if (Array.isArray(prob) && prob.length !== dirs.length) throw badArg('RandomFlip', 'prob and direction must have the same length');
  }

  transform(results: Results): Results {
    const img = imgOf(results, 'RandomFlip');
    const dirs: (FlipDirection | null)[] = [...(Array.isArray(this.direction) ? this.direction : [this.direction]), null];
    let probs: number[];
    if (Array.isArray(this.prob)) probs = [...this.prob, 1 - this.prob.reduce((a, b) => a + b, 0)];
    else probs = [...Array(dirs.length - 1).fill(this.prob / (dirs.length - 1)), 1 - this.prob];
    const dir = dirs[rngOf(results).choice(probs)];
    if (dir === null) {
      results.flip = false;
      results.flip_direction = null;
    } else {
      results.flip = true;
      results.flip_direction = dir;
      setImg(results, flip(img, dir));
    }
    return results;
  }

  override toString(): string {
    return `RandomFlip(prob=${JSON.stringify(this.prob)}, direction=${JSON.stringify(this.direction)})`;
  }
}

// ------------------------------------------------------------------ erasing

/** Options of RandomErasing. */
export interface RandomErasingOptions {
  /** Probability that the image is erased. @default 0.5 */
  erase_prob?: number;
  /** Minimum area of the erased box relative to the image. @default 0.02 */
  min_area_ratio?: number;
  /** Maximum area of the erased box relative to the image. @default 1 / 3 */
  max_area_ratio?: number;
  /** Range of the box aspect ratio; a number r means (r, 1 / r). @default (3 / 10, 10 / 3) */
  aspect_range?: number | [number, number];
  /** 'const' fills with fill_color; 'rand' fills with noise (uniform, or normal if fill_std is set). @default 'const' */
  mode?: 'const' | 'rand';
  /** Fill colour (BGR) for 'const', mean for 'rand' with fill_std. @default (128, 128, 128) */
  fill_color?: number | [number, number, number];
  /** Standard deviation of the normal fill in 'rand' mode; uniform noise when None. @default None */
  fill_std?: number | [number, number, number] | null;
}

/** Randomly erase a rectangle of the image (Random Erasing Data Augmentation). */
@TRANSFORMS.registerModule()
export class RandomErasing extends BaseTransform {
  readonly erase_prob: number;
  readonly min_area_ratio: number;
  readonly max_area_ratio: number;
  readonly aspect_range: [number, number];
  readonly mode: 'const' | 'rand';
  readonly fill_color: [number, number, number];
  readonly fill_std: [number, number, number] | null;

  constructor(options: RandomErasingOptions = {}) {
    super();
    this.erase_prob = checkProb(options.erase_prob ?? 0.5, 'erase_prob', 'RandomErasing');
    this.min_area_ratio = checkProb(options.min_area_ratio ?? 0.02, 'min_area_ratio', 'RandomErasing');
    this.max_area_ratio = checkProb(options.max_area_ratio ?? 1 / 3, 'max_area_ratio', 'RandomErasing');
    if (this.min_area_ratio > this.max_area_ratio) throw badArg('RandomErasing', 'min_area_ratio should be smaller than max_area_ratio');
    const ar = options.aspect_range ?? [3 / 10, 10 / 3];
    this.aspect_range = typeof ar === 'number' ? [Math.min(ar, 1 / ar), Math.max(ar, 1 / ar)] : ar;
    if (!(this.aspect_range[0] > 0 && this.aspect_range[0] <= this.aspect_range[1])) throw badArg('RandomErasing', 'aspect_range (min, max) needs 0 < min <= max');
    this.mode = options.mode ?? 'const';
    if (this.mode !== 'const' && this.mode !== 'rand') throw badArg('RandomErasing', `mode must be 'const' or 'rand', got ${JSON.stringify(this.mode)}`);
    const fc = options.fill_color ?? [128, 128, 128];
    this.fill_color = typeof fc === 'number' ? [fc, fc, fc] : fc;
    const fs = options.fill_std ?? null;
    this.fill_std = fs === null ? null : typeof fs === 'number' ? [fs, fs, fs] : fs;
  }

  transform(results: Results): Results {
    const rng = rngOf(results);
    if (rng.random() > this.erase_prob) return results;
    const img = imgOf(results, 'RandomErasing');
    const H = img.height;
    const W = img.width;
    const aspect = Math.exp(rng.uniform(Math.log(Math.fround(this.aspect_range[0])), Math.log(Math.fround(this.aspect_range[1]))));
    const area = H * W * rng.uniform(this.min_area_ratio, this.max_area_ratio);
    const h = Math.min(pyRound(Math.sqrt(area * aspect)), H);
    const w = Math.min(pyRound(Math.sqrt(area / aspect)), W);
    const top = H > h ? rng.randint(0, H - h) : 0;
    const left = W > w ? rng.randint(0, W - w) : 0;
    const out = { ...img, data: img.data.slice() };
    const c = img.channels;
    for (let y = top; y < top + h; y++) {
      for (let x = left; x < left + w; x++) {
        const o = (y * W + x) * c;
        for (let k = 0; k < c; k++) {
          let v: number;
          if (this.mode === 'const') v = this.fill_color[k % 3];
          else if (this.fill_std === null) v = Math.trunc(rng.uniform(0, 256));
          else v = Math.min(255, Math.max(0, Math.trunc(rng.normal(this.fill_color[k % 3], this.fill_std[k % 3]))));
          out.data[o + k] = v & 255;
        }
      }
    }
    results.img = out;
    return results;
  }
}

// ------------------------------------------------------------------ colour

type Range = [number, number] | null;

function jitterRange(value: unknown, name: string, center = 1, bound: [number, number] = [0, Infinity], clipFirstOnZero = true): Range {
  let r: [number, number];
  if (typeof value === 'number') {
    if (value < 0) throw badArg('ColorJitter', `if ${name} is a single number, it must be non negative`);
    r = [center - value, center + value];
    if (clipFirstOnZero) r[0] = Math.max(r[0], 0);
  } else if (Array.isArray(value) && value.length === 2) {
    r = [Number(value[0]), Number(value[1])];
  } else {
    throw badArg('ColorJitter', `${name} should be a single number or a list/tuple with length 2`);
  }
  if (!(bound[0] <= r[0] && r[0] <= r[1] && r[1] <= bound[1])) throw badArg('ColorJitter', `${name} values should be between ${JSON.stringify(bound)}, got ${JSON.stringify(r)}`);
  if (r[0] === center && r[1] === center) return null;
  return r;
}

/** Options of ColorJitter. */
export interface ColorJitterOptions {
  /** How much to jitter brightness: a factor drawn from [max(0, 1 - b), 1 + b] or a (min, max) pair. @default 0. */
  brightness?: number | [number, number];
  /** How much to jitter contrast, like brightness. @default 0. */
  contrast?: number | [number, number];
  /** How much to jitter saturation, like brightness. @default 0. */
  saturation?: number | [number, number];
  /** How much to jitter hue: drawn from [-hue, hue] or a (min, max) pair within [-0.5, 0.5]. @default 0. */
  hue?: number | [number, number];
  /** Backend of the colour operations, 'cv2' or 'pillow'. @default 'pillow' */
  backend?: Backend;
}

/** Randomly change the brightness, contrast, saturation and hue of an image, in random order (torchvision-style). */
@TRANSFORMS.registerModule()
export class ColorJitter extends BaseTransform {
  readonly brightness: Range;
  readonly contrast: Range;
  readonly saturation: Range;
  readonly hue: Range;
  readonly backend: Backend;

  constructor(options: ColorJitterOptions = {}) {
    super();
    this.brightness = jitterRange(options.brightness ?? 0, 'brightness');
    this.contrast = jitterRange(options.contrast ?? 0, 'contrast');
    this.saturation = jitterRange(options.saturation ?? 0, 'saturation');
    this.hue = jitterRange(options.hue ?? 0, 'hue', 0, [-0.5, 0.5], false);
    this.backend = checkBackend(options.backend ?? 'pillow');
  }

  transform(results: Results): Results {
    let img = imgOf(results, 'ColorJitter');
    const rng = rngOf(results);
    const order = rng.permutation(4);
    const b = this.brightness ? rng.uniform(...this.brightness) : null;
    const c = this.contrast ? rng.uniform(...this.contrast) : null;
    const s = this.saturation ? rng.uniform(...this.saturation) : null;
    const h = this.hue ? rng.uniform(...this.hue) : null;
    for (const i of order) {
      if (i === 0 && b !== null) img = adjustBrightness(img, b, this.backend);
      else if (i === 1 && c !== null) img = adjustContrast(img, c, this.backend);
      else if (i === 2 && s !== null) img = adjustColor(img, s, this.backend);
      else if (i === 3 && h !== null) img = adjustHue(img, h);
    }
    results.img = img;
    return results;
  }

  override toString(): string {
    return `ColorJitter(brightness=${JSON.stringify(this.brightness)}, contrast=${JSON.stringify(this.contrast)}, saturation=${JSON.stringify(this.saturation)}, hue=${JSON.stringify(this.hue)})`;
  }
}

/** Options of Lighting. */
export interface LightingOptions {
  /** Eigenvalues of the covariance matrix of the pixel values. */
  eigval: number[];
  /** Eigenvectors of the covariance matrix (3 x 3, one eigenvector per column). */
  eigvec: number[][];
  /** Standard deviation of the random alpha. @default 0.1 */
  alphastd?: number;
  /** Convert the image from BGR to RGB before adding the noise (the output stays RGB). @default False */
  to_rgb?: boolean;
}

/** AlexNet-style PCA lighting noise: adds eigvec * (alpha * eigval) to every pixel; the result keeps the input's type (uint8 clipped). */
@TRANSFORMS.registerModule()
export class Lighting extends BaseTransform {
  readonly eigval: number[];
  readonly eigvec: number[][];
  readonly alphastd: number;
  readonly to_rgb: boolean;

  constructor(options: LightingOptions) {
    super();
    if (!Array.isArray(options?.eigval) || !Array.isArray(options.eigvec)) throw badArg('Lighting', 'eigval and eigvec are required');
    if (!options.eigvec.every((r) => Array.isArray(r) && r.length === options.eigval.length)) {
      throw badArg('Lighting', `eigvec must be a ${options.eigvec.length} x ${options.eigval.length} matrix matching eigval`);
    }
    this.eigval = options.eigval;
    this.eigvec = options.eigvec;
    this.alphastd = options.alphastd ?? 0.1;
    this.to_rgb = options.to_rgb ?? false;
  }

  transform(results: Results): Results {
    const input = imgOf(results, 'Lighting');
    let img = toFloat32(input);
    if (this.to_rgb) img = swapRB(img);
    const rng = rngOf(results);
    const n = this.eigval.length;
    const alpha = Array.from({ length: n }, () => rng.normal(0, this.alphastd));
    const alter = this.eigvec.map((row) => row.reduce((s, v, j) => s + v * alpha[j] * this.eigval[j], 0));
    const out = new Float32Array(img.data.length);
    const c = img.channels;
    for (let i = 0; i < out.length; i++) out[i] = img.data[i] + (alter[i % c] ?? 0);
    results.img = castLike({ ...img, data: out }, input);
    return results;
  }
}

/** Options of RandomGrayscale. */
export interface RandomGrayscaleOptions {
  /** Probability that the image is converted to grayscale. @default 0.1 */
  prob?: number;
  /** Keep the number of channels (repeat the gray channel). @default False */
  keep_channels?: boolean;
  /** Weights of the channels in the gray value (normalised to sum 1). @default (1., 1., 1.) */
  channel_weights?: number[];
  /** Channel order of the image, 'bgr' or 'rgb'. @default 'bgr' */
  color_format?: 'bgr' | 'rgb';
}

/** Randomly convert the image to grayscale: a weighted mean of the channels (MMCV). */
@TRANSFORMS.registerModule()
export class RandomGrayscale extends BaseTransform {
  readonly prob: number;
  readonly keep_channels: boolean;
  readonly channel_weights: number[];
  readonly color_format: 'bgr' | 'rgb';

  constructor(options: RandomGrayscaleOptions = {}) {
    super();
    this.prob = checkProb(options.prob ?? 0.1, 'prob', 'RandomGrayscale');
    this.keep_channels = options.keep_channels ?? false;
    this.channel_weights = options.channel_weights ?? [1, 1, 1];
    this.color_format = options.color_format ?? 'bgr';
  }

  transform(results: Results): Results {
    const img = imgOf(results, 'RandomGrayscale');
    const c = img.channels;
    if (rngOf(results).random() < this.prob && c > 1) {
      if (this.channel_weights.length !== c) throw badArg('RandomGrayscale', `channel_weights has ${this.channel_weights.length} values but the image has ${c} channels`);
      const total = this.channel_weights.reduce((a, b) => a + b, 0);
      const w = this.channel_weights.map((v) => v / total);
      const n = img.height * img.width;
      const oc = this.keep_channels ? c : 1;
      const out = new Uint8Array(n * oc);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let k = 0; k < c; k++) s += w[k] * img.data[i * c + k];
        const v = Math.trunc(s) & 255;
        for (let k = 0; k < oc; k++) out[i * oc + k] = v;
      }
      results.img = { data: out, height: img.height, width: img.width, channels: oc };
      return results;
    }
    if (isFloat(img)) {
      const u = emptyImage(img.height, img.width, c);
      for (let i = 0; i < u.data.length; i++) u.data[i] = Math.trunc(img.data[i]) & 255;
      results.img = u;
    }
    return results;
  }
}

/** Options of Normalize. */
export interface NormalizeOptions {
  /** Per-channel means (in the image's channel order before any swap). */
  mean: number[];
  /** Per-channel standard deviations. */
  std: number[];
  /** Convert BGR to RGB before normalising. @default True */
  to_rgb?: boolean;
}

/** Normalise the image: (img - mean) / std, as float32 (MMCV). Sets `img_norm_cfg`. */
@TRANSFORMS.registerModule()
export class Normalize extends BaseTransform {
  readonly mean: number[];
  readonly std: number[];
  readonly to_rgb: boolean;

  constructor(options: NormalizeOptions) {
    super();
    if (!Array.isArray(options?.mean) || !Array.isArray(options.std)) throw badArg('Normalize', 'mean and std are required lists');
    this.mean = options.mean;
    this.std = options.std;
    this.to_rgb = options.to_rgb ?? true;
  }

  transform(results: Results): Results {
    let img = toFloat32(imgOf(results, 'Normalize'));
    if (this.to_rgb) img = swapRB(img);
    const c = img.channels;
    if (this.mean.length !== c && this.mean.length !== 1) throw badArg('Normalize', `mean has ${this.mean.length} values but the image has ${c} channels`);
    const out = new Float32Array(img.data.length);
    for (let i = 0; i < out.length; i++) {
      const k = i % c;
      out[i] = (img.data[i] - this.mean[k % this.mean.length]) / this.std[k % this.std.length];
    }
    results.img = { ...img, data: out };
    results.img_norm_cfg = { mean: this.mean, std: this.std, to_rgb: this.to_rgb };
    return results;
  }
}
