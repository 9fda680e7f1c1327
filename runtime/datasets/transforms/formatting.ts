import { TRANSFORMS } from '../../registry';
import { ClsDataSample } from '../../structures';
import { Image, isImage } from '../image';
import { BaseTransform, Results, badArg, imgOf } from './base';

/** A dense n-dimensional array (row-major), what `ToNumpy` and `Transpose` produce. */
export interface NdArray {
  data: Uint8Array | Float32Array | Float64Array | Int32Array;
  shape: number[];
}

export function isNdArray(x: unknown): x is NdArray {
  return x !== null && typeof x === 'object' && Array.isArray((x as NdArray).shape) && ArrayBuffer.isView((x as NdArray).data);
}

/** An image as an HWC NdArray (shares the pixels). */
export function imageToNd(img: Image): NdArray {
  return { data: img.data, shape: [img.height, img.width, img.channels] };
}

function toNd(value: unknown, key: string, who: string): NdArray {
  if (isNdArray(value)) return value;
  if (isImage(value)) return imageToNd(value);
  if (typeof value === 'number') return { data: Float64Array.of(value), shape: [] };
  if (Array.isArray(value)) {
    const shape: number[] = [];
    let v: unknown = value;
    while (Array.isArray(v)) {
      shape.push(v.length);
      v = v[0];
    }
    const flat = (value as unknown[]).flat(Infinity) as number[];
    if (!flat.every((x) => typeof x === 'number')) throw badArg(who, `${key} is not numeric`);
    return { data: Float64Array.from(flat), shape };
  }
  throw badArg(who, `cannot convert ${key} (${typeof value}) to an array`);
}

/** Options of PackClsInputs. */
export interface PackClsInputsOptions {
  /** Keys copied into the data sample's meta information. @default ('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction') */
  meta_keys?: string[];
}

/**
 * Pack the inputs for a classifier: `inputs` is the image (HWC here, since tensors are NHWC; a
 * gray image gets a channel axis), `data_samples` a ClsDataSample with `gt_label` and meta keys.
 */
@TRANSFORMS.registerModule()
export class PackClsInputs extends BaseTransform {
  readonly meta_keys: string[];

  constructor(options: PackClsInputsOptions = {}) {
    super();
    this.meta_keys = options.meta_keys ?? ['sample_idx', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction'];
  }

  transform(results: Results): Results {
    const packed: Results = {};
    if ('img' in results) packed.inputs = imgOf(results, 'PackClsInputs');
    const sample = new ClsDataSample();
    if (results.num_classes !== undefined) sample.set_metainfo({ num_classes: results.num_classes });
    if (results.gt_label !== undefined && results.gt_label !== null) sample.set_gt_label(results.gt_label as number | number[]);
    if (results.gt_score !== undefined && results.gt_score !== null) sample.set_gt_score(results.gt_score as number[]);
    const meta: Record<string, unknown> = {};
    for (const k of this.meta_keys) if (k in results) meta[k] = results[k];
    sample.set_metainfo(meta);
    packed.data_samples = sample;
    return packed;
  }

  override toString(): string {
    return `PackClsInputs(meta_keys=${JSON.stringify(this.meta_keys)})`;
  }
}

/** Options of Collect. */
export interface CollectOptions {
  /** Keys of the results to keep; all others are dropped. */
  keys: string[];
}

/** Collect and only keep the specified fields of the results. */
@TRANSFORMS.registerModule()
export class Collect extends BaseTransform {
  readonly keys: string[];
  constructor(options: CollectOptions) {
    super();
    if (!Array.isArray(options?.keys)) throw badArg('Collect', 'keys must be a list of strings');
    this.keys = options.keys;
  }
  transform(results: Results): Results {
    const out: Results = {};
    for (const k of this.keys) {
      if (!(k in results)) throw badArg('Collect', `key "${k}" is not in the results (has: ${Object.keys(results).join(', ')})`);
      out[k] = results[k];
    }
    return out;
  }
}

/** Options of ToNumpy. */
export interface ToNumpyOptions {
  /** Keys converted to arrays. */
  keys: string[];
  /** Element type of the arrays ('float32', 'float64', 'int32', 'uint8'), or None to keep. @default None */
  dtype?: string | null;
}

/** Convert the given fields to dense arrays (NdArray). */
@TRANSFORMS.registerModule()
export class ToNumpy extends BaseTransform {
  readonly keys: string[];
  readonly dtype: string | null;
  constructor(options: ToNumpyOptions) {
    super();
    if (!Array.isArray(options?.keys)) throw badArg('ToNumpy', 'keys must be a list of strings');
    this.keys = options.keys;
    this.dtype = options.dtype ?? null;
  }
  transform(results: Results): Results {
    for (const k of this.keys) {
      let nd = toNd(results[k], k, 'ToNumpy');
      if (this.dtype) nd = castNd(nd, this.dtype);
      results[k] = nd;
    }
    return results;
  }
}

function castNd(nd: NdArray, dtype: string): NdArray {
  const ctor = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array }[dtype];
  if (!ctor) throw badArg('ToNumpy', `unsupported dtype ${dtype}`);
  return { data: ctor.from(nd.data), shape: nd.shape };
}

/** Options of ToPIL. */
export interface ToPILOptions {
  /** Whether the image becomes RGB (Pillow's order). @default False */
  to_rgb?: boolean;
}

/** Kept for config compatibility: images are already plain pixel arrays here, usable by every transform. */
@TRANSFORMS.registerModule()
export class ToPIL extends BaseTransform {
  constructor(_options: ToPILOptions = {}) {
    super();
  }
  transform(results: Results): Results {
    return results;
  }
}

/** Options of Transpose. */
export interface TransposeOptions {
  /** Keys whose arrays are transposed. */
  keys: string[];
  /** The new order of the axes, e.g. (2, 0, 1) for HWC to CHW. */
  order: number[];
}

/** Transpose the axes of the given fields (the result is an NdArray). */
@TRANSFORMS.registerModule()
export class Transpose extends BaseTransform {
  readonly keys: string[];
  readonly order: number[];
  constructor(options: TransposeOptions) {
    super();
    if (!Array.isArray(options?.keys) || !Array.isArray(options.order)) throw badArg('Transpose', 'keys and order are required lists');
    this.keys = options.keys;
    this.order = options.order;
  }
  transform(results: Results): Results {
    for (const k of this.keys) results[k] = transposeNd(toNd(results[k], k, 'Transpose'), this.order);
    return results;
  }
}

export function transposeNd(nd: NdArray, order: number[]): NdArray {
  const n = nd.shape.length;
  if (order.length !== n || [...order].sort().some((v, i) => v !== i)) throw badArg('Transpose', `order ${JSON.stringify(order)} does not match an array of ${n} axes`);
  const shape = order.map((a) => nd.shape[a]);
  const strides = new Array(n).fill(1);
  for (let i = n - 2; i >= 0; i--) strides[i] = strides[i + 1] * nd.shape[i + 1];
  const ctor = nd.data.constructor as { new (n: number): NdArray['data'] };
  const out = new ctor(nd.data.length);
  const idx = new Array(n).fill(0);
  for (let i = 0; i < out.length; i++) {
    let src = 0;
    for (let a = 0; a < n; a++) src += idx[a] * strides[order[a]];
    out[i] = nd.data[src];
    for (let a = n - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return { data: out, shape };
}

/** Options of ImageToTensor. */
export interface ImageToTensorOptions {
  /** Keys of the images converted. */
  keys: string[];
}

/** Convert images to arrays in the runtime's tensor layout (HWC: tensors are NHWC here), adding a channel axis to gray images. */
@TRANSFORMS.registerModule()
export class ImageToTensor extends BaseTransform {
  readonly keys: string[];
  constructor(options: ImageToTensorOptions) {
    super();
    if (!Array.isArray(options?.keys)) throw badArg('ImageToTensor', 'keys must be a list of strings');
    this.keys = options.keys;
  }
  transform(results: Results): Results {
    for (const k of this.keys) {
      const v = results[k];
      if (isImage(v)) results[k] = imageToNd(v);
      else results[k] = toNd(v, k, 'ImageToTensor');
    }
    return results;
  }
}

/** Options of ToTensor. */
export interface ToTensorOptions {
  /** Keys converted. */
  keys: string[];
}

/** Convert the given fields to arrays. */
@TRANSFORMS.registerModule()
export class ToTensor extends BaseTransform {
  readonly keys: string[];
  constructor(options: ToTensorOptions) {
    super();
    if (!Array.isArray(options?.keys)) throw badArg('ToTensor', 'keys must be a list of strings');
    this.keys = options.keys;
  }
  transform(results: Results): Results {
    for (const k of this.keys) results[k] = toNd(results[k], k, 'ToTensor');
    return results;
  }
}
