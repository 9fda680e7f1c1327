import { TRANSFORMS } from '../../registry';
import { MmclsError } from '../../errors';
import { ColorType, decodeImage, readImage } from '../imageio';
import { toFloat32 } from '../image';
import { BaseTransform, Results, badArg } from './base';

/** Options of LoadImageFromFile. */
export interface LoadImageFromFileOptions {
  /** Whether to convert the loaded image to a float32 array. If false, the image is uint8. @default False */
  to_float32?: boolean;
  /** How to decode: 'color' (3 channels, BGR), 'grayscale' (1 channel) or 'unchanged' (as stored, alpha kept). @default 'color' */
  color_type?: ColorType;
  /** The decoding library MMCV would use ('cv2', 'pillow', 'turbojpeg', 'tifffile'); all decode with the same decoder here. @default 'cv2' */
  imdecode_backend?: string;
  /** Return None instead of raising when the file cannot be read or decoded (the dataset then fetches another sample). @default False */
  ignore_empty?: boolean;
  /** Storage backend arguments; only the local disk is supported. @default None */
  file_client_args?: Record<string, unknown> | null;
  /** Storage backend arguments (MMCV >= 2.0.0rc4 name); only the local disk is supported. @default None */
  backend_args?: Record<string, unknown> | null;
}

/**
 * Load an image from `results['img_path']`. Adds `img` (HWC, BGR unless grayscale), `img_shape`
 * and `ori_shape` (both `[height, width]`).
 */
@TRANSFORMS.registerModule()
export class LoadImageFromFile extends BaseTransform {
  readonly to_float32: boolean;
  readonly color_type: ColorType;
  readonly imdecode_backend: string;
  readonly ignore_empty: boolean;

  constructor(options: LoadImageFromFileOptions = {}) {
    super();
    this.to_float32 = options.to_float32 ?? false;
    this.color_type = options.color_type ?? 'color';
    this.imdecode_backend = options.imdecode_backend ?? 'cv2';
    this.ignore_empty = options.ignore_empty ?? false;
    const allowed = ['color', 'grayscale', 'unchanged', 'color_ignore_orientation', 'grayscale_ignore_orientation'];
    if (!allowed.includes(this.color_type)) throw badArg('LoadImageFromFile', `color_type must be one of ${allowed.join(', ')}, got ${JSON.stringify(this.color_type)}`);
    if (!['cv2', 'pillow', 'turbojpeg', 'tifffile'].includes(this.imdecode_backend)) {
      throw badArg('LoadImageFromFile', `imdecode_backend must be 'cv2', 'pillow', 'turbojpeg' or 'tifffile', got ${JSON.stringify(this.imdecode_backend)}`);
    }
    for (const args of [options.file_client_args, options.backend_args]) {
      const backend = args?.backend;
      if (backend !== undefined && backend !== 'disk' && backend !== 'local') {
        throw badArg('LoadImageFromFile', `only the local disk backend is supported, got backend=${JSON.stringify(backend)}`);
      }
    }
  }

  async transform(results: Results): Promise<Results | null> {
    const path = results.img_path;
    let img;
    try {
      if (typeof path === 'string') {
        img = await readImage(path, { flag: this.color_type });
      } else if (results.img_bytes instanceof Uint8Array) {
        img = await decodeImage(results.img_bytes, { flag: this.color_type });
      } else {
        throw new MmclsError('LoadImageFromFile: the sample has no "img_path"', { code: 'transform.no-img-path' });
      }
    } catch (e) {
      if (this.ignore_empty) return null;
      throw e;
    }
    if (this.to_float32) img = toFloat32(img);
    results.img = img;
    results.img_shape = [img.height, img.width];
    results.ori_shape = [img.height, img.width];
    return results;
  }

  override toString(): string {
    return `LoadImageFromFile(ignore_empty=${this.ignore_empty}, to_float32=${this.to_float32}, color_type='${this.color_type}', imdecode_backend='${this.imdecode_backend}')`;
  }
}
