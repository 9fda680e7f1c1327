import { MmclsError } from '../errors';

/**
 * An image inside a data pipeline: rows of pixels, channels interleaved (HWC), as NumPy arrays are
 * in MMCV. Decoded images are 8-bit; transforms such as Normalize produce float32. Colour images
 * are BGR unless a transform converted them (MMCV's convention).
 */
export interface Image {
  data: Uint8Array | Float32Array;
  height: number;
  width: number;
  channels: number;
}

export type PixelArray = Uint8Array | Float32Array;

export function isImage(x: unknown): x is Image {
  if (x === null || typeof x !== 'object') return false;
  const o = x as Partial<Image>;
  return (
    (o.data instanceof Uint8Array || o.data instanceof Float32Array) &&
    typeof o.height === 'number' &&
    typeof o.width === 'number' &&
    typeof o.channels === 'number'
  );
}

/** A new zero-filled image of the same kind of array as `like` (Uint8 when `like` is absent). */
export function emptyImage(height: number, width: number, channels: number, float = false): Image {
  const n = height * width * channels;
  return { data: float ? new Float32Array(n) : new Uint8Array(n), height, width, channels };
}

export function isFloat(img: Image): boolean {
  return img.data instanceof Float32Array;
}

export function cloneImage(img: Image): Image {
  return { data: img.data.slice(), height: img.height, width: img.width, channels: img.channels };
}

/** Builds an image from nested arrays `rows[y][x][c]` (or `rows[y][x]` for one channel). Handy in tests. */
export function imageFromRows(rows: (number[] | number)[][], float = false): Image {
  const height = rows.length;
  const width = height ? rows[0].length : 0;
  const first = width ? rows[0][0] : 0;
  const channels = Array.isArray(first) ? first.length : 1;
  const img = emptyImage(height, width, channels, float);
  let i = 0;
  for (const row of rows) {
    if (row.length !== width) throw new Error('imageFromRows: ragged rows');
    for (const px of row) {
      if (Array.isArray(px)) for (const v of px) img.data[i++] = v;
      else img.data[i++] = px;
    }
  }
  return img;
}

/** Nested arrays `[y][x][c]` of an image (the inverse of imageFromRows, always 3 levels). */
export function imageToRows(img: Image): number[][][] {
  const out: number[][][] = [];
  for (let y = 0; y < img.height; y++) {
    const row: number[][] = [];
    for (let x = 0; x < img.width; x++) {
      const o = (y * img.width + x) * img.channels;
      row.push(Array.from(img.data.subarray(o, o + img.channels)));
    }
    out.push(row);
  }
  return out;
}

/** Rounds half to even and saturates to [0, 255], as OpenCV's saturate_cast<uchar>. */
export function saturateRound(v: number): number {
  if (!(v > 0)) return 0;
  if (v >= 255) return 255;
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Truncates toward zero and clips to [0, 255], as `np.clip(x, 0, 255).astype(np.uint8)`. */
export function clipTrunc(v: number): number {
  if (!(v > 0)) return 0;
  if (v >= 255) return 255;
  return Math.trunc(v);
}

/** Python 3 `round()` (half to even) for values that are not pixels. */
export function pyRound(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Converts to the array type of `like` (uint8: truncate-and-clip like NumPy's astype after clip). */
export function castLike(img: Image, like: Image): Image {
  if (isFloat(like) === isFloat(img)) return img;
  if (isFloat(like)) return { ...img, data: Float32Array.from(img.data) };
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = clipTrunc(img.data[i]);
  return { ...img, data: out };
}

export function toFloat32(img: Image): Image {
  return isFloat(img) ? img : { ...img, data: Float32Array.from(img.data) };
}

/** Reverses the channel order (BGR <-> RGB). Images with other than 3 channels are returned unchanged. */
export function swapRB(img: Image): Image {
  if (img.channels !== 3) return img;
  const out = img.data.slice();
  for (let i = 0; i < out.length; i += 3) {
    out[i] = img.data[i + 2];
    out[i + 2] = img.data[i];
  }
  return { ...img, data: out };
}

/**
 * BGR to gray with OpenCV's fixed-point weights (0.299 R + 0.587 G + 0.114 B, 14-bit coefficients),
 * so gray values equal `cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)` on 8-bit images.
 */
export function bgr2gray(img: Image, order: 'bgr' | 'rgb' = 'bgr'): Image {
  if (img.channels === 1) return img;
  if (img.channels < 3) throw new MmclsError(`expected a 3- or 4-channel image, got ${img.channels} channels`, { code: 'image.channels' });
  const n = img.height * img.width;
  const c = img.channels;
  const bi = order === 'bgr' ? 0 : 2;
  const ri = 2 - bi;
  if (isFloat(img)) {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * c;
      out[i] = 0.114 * img.data[o + bi] + 0.587 * img.data[o + 1] + 0.299 * img.data[o + ri];
    }
    return { data: out, height: img.height, width: img.width, channels: 1 };
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * c;
    out[i] = (img.data[o + bi] * 1868 + img.data[o + 1] * 9617 + img.data[o + ri] * 4899 + 8192) >> 14;
  }
  return { data: out, height: img.height, width: img.width, channels: 1 };
}

/** Repeats a one-channel image into `channels` identical channels. */
export function gray2multi(img: Image, channels = 3): Image {
  if (img.channels !== 1) throw new Error('gray2multi expects one channel');
  const n = img.height * img.width;
  const out = isFloat(img) ? new Float32Array(n * channels) : new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) for (let k = 0; k < channels; k++) out[i * channels + k] = img.data[i];
  return { data: out, height: img.height, width: img.width, channels };
}

/** PIL's `convert('L')` from RGB: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. `img` is BGR. */
export function bgr2grayPil(img: Image): Image {
  if (img.channels === 1) return img;
  const n = img.height * img.width;
  const c = img.channels;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * c;
    out[i] = (img.data[o + 2] * 19595 + img.data[o + 1] * 38470 + img.data[o] * 7471 + 0x8000) >>> 16;
  }
  return { data: out, height: img.height, width: img.width, channels: 1 };
}
