/**
 * Pixel operations on HWC images, following the numerics of the OpenCV and Pillow calls MMCV makes
 * (fixed-point resampling weights, rounding and clipping), so a pipeline here produces the pixels
 * an MMClassification pipeline produces, up to the last bit in most cases and within 1 elsewhere.
 */
import { MmclsError } from '../errors';
import { Image, PixelArray, bgr2gray, bgr2grayPil, clipTrunc, isFloat, saturateRound, pyRound } from './image';
import { Rng } from './rng';

export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'area' | 'lanczos' | 'box' | 'hamming';
export type Backend = 'cv2' | 'pillow';
export const INTERPOLATIONS: readonly string[] = ['nearest', 'bilinear', 'bicubic', 'area', 'lanczos', 'box', 'hamming'];

export function checkInterpolation(value: unknown, key = 'interpolation'): Interpolation {
  if (typeof value !== 'string' || !INTERPOLATIONS.includes(value)) {
    throw new MmclsError(`${key} must be one of 'nearest', 'bilinear', 'bicubic', 'area', 'lanczos', got ${JSON.stringify(value)}`, {
      code: 'transform.bad-arg',
    });
  }
  return value as Interpolation;
}

export function checkBackend(value: unknown, key = 'backend'): Backend {
  if (value !== 'cv2' && value !== 'pillow') {
    throw new MmclsError(`${key} must be 'cv2' or 'pillow', got ${JSON.stringify(value)}`, { code: 'transform.bad-arg' });
  }
  return value;
}

function newLike(img: Image, height: number, width: number, channels = img.channels): Image {
  const n = height * width * channels;
  return { data: isFloat(img) ? new Float32Array(n) : new Uint8Array(n), height, width, channels };
}

// ------------------------------------------------------------------ resize

interface AxisTaps {
  /** first source index per output position (taps are consecutive, clamped afterwards) */
  index: Int32Array[];
  weight: Float64Array[];
}

function cv2Linear(x: number): number[] {
  return [Math.fround(1 - x), x];
}
function cv2Cubic(x: number): number[] {
  const A = -0.75;
  const c0 = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  const c1 = ((A + 2) * x - (A + 3)) * x * x + 1;
  const c2 = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  return [c0, c1, c2, 1 - c0 - c1 - c2];
}
function cv2Lanczos4(x: number): number[] {
  if (x < 1.1920929e-7) return [0, 0, 0, 1, 0, 0, 0, 0];
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    const d = x + 3 - i;
    const y = d * Math.PI;
    const v = (Math.sin(y) * Math.sin(y / 4)) / ((y * y) / 4);
    out.push(v);
    sum += v;
  }
  return out.map((v) => v / sum);
}

/** OpenCV's per-axis taps for `cv2.resize` (half-pixel centres, replicated borders). */
function cv2Taps(src: number, dst: number, interp: 'bilinear' | 'bicubic' | 'lanczos' | 'area'): AxisTaps {
  // OpenCV keeps inv_scale = dst / src and scale = 1 / inv_scale (doubles), the offsets as floats
  const scale = 1 / (dst / src);
  const inv = dst / src;
  const ksize = interp === 'bicubic' ? 4 : interp === 'lanczos' ? 8 : 2;
  const half = ksize / 2;
  const index: Int32Array[] = [];
  const weight: Float64Array[] = [];
  for (let dx = 0; dx < dst; dx++) {
    let sx: number;
    let fx: number;
    if (interp === 'area') {
      sx = Math.floor(dx * scale);
      fx = dx + 1 - (sx + 1) * inv;
      fx = fx <= 0 ? 0 : fx - Math.floor(fx);
    } else {
      fx = Math.fround((dx + 0.5) * scale - 0.5);
      sx = Math.floor(fx);
      fx -= sx;
    }
    if (interp === 'bilinear' || interp === 'area') {
      if (sx < 0) {
        fx = 0;
        sx = 0;
      }
      if (sx >= src - 1) {
        fx = 0;
        sx = src - 1;
      }
    }
    const w = interp === 'bicubic' ? cv2Cubic(fx) : interp === 'lanczos' ? cv2Lanczos4(fx) : cv2Linear(fx);
    const idx = new Int32Array(ksize);
    for (let k = 0; k < ksize; k++) idx[k] = Math.min(src - 1, Math.max(0, sx - half + 1 + k));
    index.push(idx);
    weight.push(Float64Array.from(w));
  }
  return { index, weight };
}

/** OpenCV INTER_AREA when shrinking: exact box averaging over fractional pixel overlaps. */
function cv2AreaTaps(src: number, dst: number): AxisTaps {
  const scale = src / dst;
  const index: Int32Array[] = [];
  const weight: Float64Array[] = [];
  for (let dx = 0; dx < dst; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, src - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, src - 1);
    sx1 = Math.min(sx1, sx2);
    const idx: number[] = [];
    const w: number[] = [];
    if (sx1 - fsx1 > 1e-3) {
      idx.push(sx1 - 1);
      w.push((sx1 - fsx1) / cellWidth);
    }
    for (let sx = sx1; sx < sx2; sx++) {
      idx.push(sx);
      w.push(1 / cellWidth);
    }
    if (fsx2 - sx2 > 1e-3) {
      idx.push(sx2);
      w.push(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth);
    }
    index.push(Int32Array.from(idx));
    weight.push(Float64Array.from(w));
  }
  return { index, weight };
}

type PilFilter = { support: number; f: (x: number) => number };
const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
const PIL_FILTERS: Record<string, PilFilter> = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => (x < 0 ? (x > -1 ? 1 + x : 0) : x < 1 ? 1 - x : 0) },
  hamming: {
    support: 1,
    f: (x) => {
      if (x < 0) x = -x;
      if (x === 0) return 1;
      if (x >= 1) return 0;
      x *= Math.PI;
      return (Math.sin(x) / x) * (0.54 + 0.46 * Math.cos(x));
    },
  },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, f: (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

/** Pillow's ImagingResample taps: the filter stretched by the shrink factor (antialiasing). */
function pilTaps(src: number, dst: number, filter: PilFilter): AxisTaps {
  const scale = src / dst;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ss = 1 / filterscale;
  const index: Int32Array[] = [];
  const weight: Float64Array[] = [];
  for (let xx = 0; xx < dst; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > src) xmax = src;
    const n = Math.max(0, xmax - xmin);
    const idx = new Int32Array(n);
    const w = new Float64Array(n);
    let ww = 0;
    for (let x = 0; x < n; x++) {
      idx[x] = xmin + x;
      w[x] = filter.f((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    if (ww !== 0) for (let x = 0; x < n; x++) w[x] /= ww;
    index.push(idx);
    weight.push(w);
  }
  return { index, weight };
}

/** One separable pass along x (horizontal) or y. `fixed` = Pillow 8-bit fixed point (22 bits). */
function separablePass(img: Image, taps: AxisTaps, horizontal: boolean, pilFixed: boolean): Image {
  const { height: h, width: w, channels: c } = img;
  const oh = horizontal ? h : taps.index.length;
  const ow = horizontal ? taps.index.length : w;
  const out = newLike(img, oh, ow, c);
  const src = img.data;
  const dst = out.data;
  const PB = 22;
  const intW = pilFixed ? taps.weight.map((ws) => Int32Array.from(ws, (k) => (k < 0 ? Math.trunc(-0.5 + k * (1 << PB)) : Math.trunc(0.5 + k * (1 << PB))))) : undefined;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      const t = horizontal ? x : y;
      const idx = taps.index[t];
      const o = (y * ow + x) * c;
      for (let ch = 0; ch < c; ch++) {
        if (intW) {
          const ws = intW[t];
          let acc = 1 << (PB - 1);
          for (let k = 0; k < idx.length; k++) {
            const si = horizontal ? (y * w + idx[k]) * c + ch : (idx[k] * w + x) * c + ch;
            acc += src[si] * ws[k];
          }
          const v = Math.floor(acc / (1 << PB));
          dst[o + ch] = v < 0 ? 0 : v > 255 ? 255 : v;
        } else {
          const ws = taps.weight[t];
          let acc = 0;
          for (let k = 0; k < idx.length; k++) {
            const si = horizontal ? (y * w + idx[k]) * c + ch : (idx[k] * w + x) * c + ch;
            acc += src[si] * ws[k];
          }
          dst[o + ch] = isFloat(img) ? acc : saturateRound(acc);
        }
      }
    }
  }
  return out;
}

/** OpenCV's two-pass resize with 11-bit fixed-point weights for 8-bit images. */
function cv2Separable(img: Image, tx: AxisTaps, ty: AxisTaps, linear: boolean): Image {
  const { width: w, channels: c } = img;
  const ow = tx.index.length;
  const oh = ty.index.length;
  const out = newLike(img, oh, ow, c);
  const src = img.data;
  const dst = out.data;
  const float = isFloat(img);
  const SCALE = 2048;
  const ixw = tx.weight.map((ws) => Int32Array.from(ws, (v) => saturateShort(v * SCALE)));
  const iyw = ty.weight.map((ws) => Int32Array.from(ws, (v) => saturateShort(v * SCALE)));
  // Horizontal pass for the source rows each output row needs, cached by source row.
  const rowCache = new Map<number, Float64Array | Int32Array>();
  const hrow = (sy: number): Float64Array | Int32Array => {
    let r = rowCache.get(sy);
    if (r) return r;
    r = float ? new Float64Array(ow * c) : new Int32Array(ow * c);
    for (let x = 0; x < ow; x++) {
      const idx = tx.index[x];
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        if (float) {
          const ws = tx.weight[x];
          for (let k = 0; k < idx.length; k++) acc += src[(sy * w + idx[k]) * c + ch] * ws[k];
        } else {
          const ws = ixw[x];
          for (let k = 0; k < idx.length; k++) acc += src[(sy * w + idx[k]) * c + ch] * ws[k];
        }
        r[x * c + ch] = acc;
      }
    }
    rowCache.set(sy, r);
    if (rowCache.size > 16) rowCache.delete(rowCache.keys().next().value as number);
    return r;
  };
  for (let y = 0; y < oh; y++) {
    const idx = ty.index[y];
    const rows = Array.from(idx, (sy) => hrow(sy));
    const o = y * ow * c;
    if (float) {
      const ws = ty.weight[y];
      for (let i = 0; i < ow * c; i++) {
        let acc = 0;
        for (let k = 0; k < rows.length; k++) acc += rows[k][i] * ws[k];
        dst[o + i] = acc;
      }
    } else if (linear) {
      const b0 = iyw[y][0];
      const b1 = iyw[y][1];
      const r0 = rows[0];
      const r1 = rows[1];
      for (let i = 0; i < ow * c; i++) {
        dst[o + i] = (((b0 * (r0[i] >> 4)) >> 16) + ((b1 * (r1[i] >> 4)) >> 16) + 2) >> 2;
      }
    } else {
      const ws = iyw[y];
      for (let i = 0; i < ow * c; i++) {
        let acc = 0;
        for (let k = 0; k < rows.length; k++) acc += rows[k][i] * ws[k];
        const v = Math.floor((acc + (1 << 21)) / (1 << 22));
        dst[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return out;
}

/** The 8-bit bilinear case of cv2Separable with flat loops (the hot path of RandomResizedCrop). */
function cv2LinearU8(img: Image, tx: AxisTaps, ty: AxisTaps): Image {
  const { width: w, channels: c } = img;
  const ow = tx.index.length;
  const oh = ty.index.length;
  const out = newLike(img, oh, ow, c);
  const src = img.data as Uint8Array;
  const dst = out.data as Uint8Array;
  const x0 = new Int32Array(ow);
  const x1 = new Int32Array(ow);
  const a0 = new Int32Array(ow);
  const a1 = new Int32Array(ow);
  for (let x = 0; x < ow; x++) {
    x0[x] = tx.index[x][0] * c;
    x1[x] = tx.index[x][1] * c;
    a0[x] = saturateShort(tx.weight[x][0] * 2048);
    a1[x] = saturateShort(tx.weight[x][1] * 2048);
  }
  const rowLen = ow * c;
  let bufA = new Int32Array(rowLen);
  let bufB = new Int32Array(rowLen);
  let rowA = -1;
  let rowB = -1;
  const hpass = (sy: number, buf: Int32Array) => {
    const base = sy * w * c;
    for (let x = 0; x < ow; x++) {
      const p0 = base + x0[x];
      const p1 = base + x1[x];
      const w0 = a0[x];
      const w1 = a1[x];
      const o = x * c;
      for (let k = 0; k < c; k++) buf[o + k] = src[p0 + k] * w0 + src[p1 + k] * w1;
    }
  };
  for (let y = 0; y < oh; y++) {
    const s0 = ty.index[y][0];
    const s1 = ty.index[y][1];
    // reuse the rows computed for the previous output row
    if (rowA !== s0) {
      if (rowB === s0) {
        [bufA, bufB] = [bufB, bufA];
        [rowA, rowB] = [rowB, rowA];
      } else {
        hpass(s0, bufA);
        rowA = s0;
      }
    }
    if (rowB !== s1) {
      hpass(s1, bufB);
      rowB = s1;
    }
    const b0 = saturateShort(ty.weight[y][0] * 2048);
    const b1 = saturateShort(ty.weight[y][1] * 2048);
    const o = y * rowLen;
    for (let i = 0; i < rowLen; i++) dst[o + i] = (((b0 * (bufA[i] >> 4)) >> 16) + ((b1 * (bufB[i] >> 4)) >> 16) + 2) >> 2;
  }
  return out;
}

function saturateShort(v: number): number {
  const r = Math.round(v);
  return r < -32768 ? -32768 : r > 32767 ? 32767 : r;
}

/**
 * Resizes to `width` x `height`, as `mmcv.imresize(img, (width, height), interpolation, backend)`.
 * cv2: nearest/bilinear/bicubic/area/lanczos with OpenCV's sampling; pillow: Pillow's antialiased
 * filters (`area` is Pillow's box filter there).
 */
export function resize(img: Image, width: number, height: number, interpolation: Interpolation = 'bilinear', backend: Backend = 'cv2'): Image {
  width = Math.round(width);
  height = Math.round(height);
  if (width <= 0 || height <= 0) throw new MmclsError(`cannot resize to ${width}x${height}`, { code: 'transform.bad-size' });
  if (width === img.width && height === img.height) return { ...img, data: img.data.slice() };
  if (img.width === 0 || img.height === 0) throw new MmclsError('cannot resize an empty image', { code: 'transform.bad-size' });
  if (backend === 'pillow') {
    if (interpolation === 'nearest') return nearest(img, width, height, true);
    const filter = PIL_FILTERS[interpolation === 'area' ? 'box' : interpolation];
    const fixed = !isFloat(img);
    let out = img;
    if (width !== img.width) out = separablePass(out, pilTaps(img.width, width, filter), true, fixed);
    if (height !== img.height) out = separablePass(out, pilTaps(img.height, height, filter), false, fixed);
    return out;
  }
  switch (interpolation) {
    case 'nearest':
      return nearest(img, width, height, false);
    case 'area': {
      const sx = img.width / width;
      const sy = img.height / height;
      if (sx === 2 && sy === 2 && !isFloat(img)) return halve(img);
      if (sx >= 1 && sy >= 1) {
        const tx = cv2AreaTaps(img.width, width);
        const ty = cv2AreaTaps(img.height, height);
        return areaResize(img, tx, ty);
      }
      return cv2Separable(img, cv2Taps(img.width, width, 'area'), cv2Taps(img.height, height, 'area'), true);
    }
    case 'bicubic':
    case 'lanczos':
      return cv2Separable(img, cv2Taps(img.width, width, interpolation), cv2Taps(img.height, height, interpolation), false);
    default:
      if (!isFloat(img)) return cv2LinearU8(img, cv2Taps(img.width, width, 'bilinear'), cv2Taps(img.height, height, 'bilinear'));
      return cv2Separable(img, cv2Taps(img.width, width, 'bilinear'), cv2Taps(img.height, height, 'bilinear'), true);
  }
}

/** OpenCV's INTER_AREA fast path for exact halving of 8-bit images: (sum of 4 + 2) >> 2. */
function halve(img: Image): Image {
  const ow = img.width / 2;
  const oh = img.height / 2;
  const c = img.channels;
  const out = newLike(img, oh, ow);
  const s = img.data;
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      for (let k = 0; k < c; k++) {
        const a = ((2 * y) * img.width + 2 * x) * c + k;
        const b = a + img.width * c;
        out.data[(y * ow + x) * c + k] = (s[a] + s[a + c] + s[b] + s[b + c] + 2) >> 2;
      }
    }
  }
  return out;
}

function areaResize(img: Image, tx: AxisTaps, ty: AxisTaps): Image {
  const { width: w, channels: c } = img;
  const ow = tx.index.length;
  const oh = ty.index.length;
  const out = newLike(img, oh, ow, c);
  const float = isFloat(img);
  const row = new Float64Array(ow * c);
  for (let y = 0; y < oh; y++) {
    const o = y * ow * c;
    const acc = new Float64Array(ow * c);
    for (let k = 0; k < ty.index[y].length; k++) {
      const sy = ty.index[y][k];
      const wy = ty.weight[y][k];
      for (let x = 0; x < ow; x++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let j = 0; j < tx.index[x].length; j++) s += img.data[(sy * w + tx.index[x][j]) * c + ch] * tx.weight[x][j];
          row[x * c + ch] = s;
        }
      }
      for (let i = 0; i < ow * c; i++) acc[i] += row[i] * wy;
    }
    for (let i = 0; i < ow * c; i++) out.data[o + i] = float ? acc[i] : saturateRound(acc[i]);
  }
  return out;
}

function nearest(img: Image, width: number, height: number, pillow: boolean): Image {
  const out = newLike(img, height, width);
  const c = img.channels;
  const sxOf = (dx: number, src: number, dst: number) =>
    Math.min(src - 1, pillow ? Math.floor((dx + 0.5) * (src / dst)) : Math.floor(dx * (src / dst)));
  const xs = Int32Array.from({ length: width }, (_, x) => sxOf(x, img.width, width));
  for (let y = 0; y < height; y++) {
    const sy = sxOf(y, img.height, height);
    for (let x = 0; x < width; x++) {
      const si = (sy * img.width + xs[x]) * c;
      const di = (y * width + x) * c;
      for (let ch = 0; ch < c; ch++) out.data[di + ch] = img.data[si + ch];
    }
  }
  return out;
}

/** `mmcv.rescale_size`: the size after scaling (w, h) to fit in `scale` (long, short edges in any order) keeping the ratio. */
export function rescaleSize(w: number, h: number, scale: number | [number, number]): { size: [number, number]; factor: number } {
  let factor: number;
  if (typeof scale === 'number') {
    factor = scale;
  } else {
    const maxLong = Math.max(...scale);
    const maxShort = Math.min(...scale);
    factor = Math.min(maxLong / Math.max(h, w), maxShort / Math.min(h, w));
  }
  return { size: [Math.trunc(w * factor + 0.5), Math.trunc(h * factor + 0.5)], factor };
}

// ------------------------------------------------------------------ crop, pad, flip

/** `mmcv.imcrop` with one box (x1, y1, x2, y2), inclusive, truncated to integers and clipped to the image. */
export function crop(img: Image, x1: number, y1: number, x2: number, y2: number): Image {
  const cx1 = Math.max(0, Math.min(img.width - 1, Math.trunc(x1)));
  const cy1 = Math.max(0, Math.min(img.height - 1, Math.trunc(y1)));
  const cx2 = Math.max(0, Math.min(img.width - 1, Math.trunc(x2)));
  const cy2 = Math.max(0, Math.min(img.height - 1, Math.trunc(y2)));
  const w = Math.max(0, cx2 - cx1 + 1);
  const h = Math.max(0, cy2 - cy1 + 1);
  const out = newLike(img, h, w);
  const c = img.channels;
  for (let y = 0; y < h; y++) {
    const s = ((cy1 + y) * img.width + cx1) * c;
    out.data.set(img.data.subarray(s, s + w * c), y * w * c);
  }
  return out;
}

export type PaddingMode = 'constant' | 'edge' | 'reflect' | 'symmetric';

function borderIndex(i: number, n: number, mode: PaddingMode): number {
  if (i >= 0 && i < n) return i;
  if (mode === 'edge') return i < 0 ? 0 : n - 1;
  if (n === 1) return 0;
  if (mode === 'reflect') {
    const period = 2 * (n - 1);
    let j = ((i % period) + period) % period;
    if (j >= n) j = period - j;
    return j;
  }
  // symmetric
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

/**
 * `mmcv.impad(img, padding=(left, top, right, bottom), pad_val, padding_mode)`. `padVal` is one value
 * or one per channel.
 */
export function pad(img: Image, left: number, top: number, right: number, bottom: number, padVal: number | number[] = 0, mode: PaddingMode = 'constant'): Image {
  const oh = img.height + top + bottom;
  const ow = img.width + left + right;
  const out = newLike(img, oh, ow);
  const c = img.channels;
  const vals = Array.isArray(padVal) ? padVal : Array(c).fill(padVal);
  if (Array.isArray(padVal) && padVal.length !== c) {
    throw new MmclsError(`pad_val has ${padVal.length} values but the image has ${c} channels`, { code: 'transform.bad-arg' });
  }
  for (let y = 0; y < oh; y++) {
    const sy = y - top;
    for (let x = 0; x < ow; x++) {
      const sx = x - left;
      const o = (y * ow + x) * c;
      const inside = sy >= 0 && sy < img.height && sx >= 0 && sx < img.width;
      if (!inside && mode === 'constant') {
        for (let ch = 0; ch < c; ch++) out.data[o + ch] = vals[ch];
        continue;
      }
      const s = (borderIndex(sy, img.height, mode) * img.width + borderIndex(sx, img.width, mode)) * c;
      for (let ch = 0; ch < c; ch++) out.data[o + ch] = img.data[s + ch];
    }
  }
  return out;
}

export type FlipDirection = 'horizontal' | 'vertical' | 'diagonal';

export function flip(img: Image, direction: FlipDirection): Image {
  const out = newLike(img, img.height, img.width);
  const { height: h, width: w, channels: c } = img;
  for (let y = 0; y < h; y++) {
    const sy = direction === 'horizontal' ? y : h - 1 - y;
    for (let x = 0; x < w; x++) {
      const sx = direction === 'vertical' ? x : w - 1 - x;
      const s = (sy * w + sx) * c;
      const d = (y * w + x) * c;
      for (let ch = 0; ch < c; ch++) out.data[d + ch] = img.data[s + ch];
    }
  }
  return out;
}

// ------------------------------------------------------------------ affine warps

/**
 * `cv2.warpAffine(img, M, (width, height), flags=interp, borderValue)`: dst(x, y) = src(M^-1 (x, y)).
 * Sample positions are quantised to 1/32 pixel as OpenCV does.
 */
export function warpAffine(img: Image, M: number[], width: number, height: number, interpolation: Interpolation, borderValue: number | number[]): Image {
  // cv2.invertAffineTransform
  let D = M[0] * M[4] - M[1] * M[3];
  if (D === 0) throw new Error('singular affine matrix');
  D = 1 / D;
  const m0 = M[4] * D;
  const m1 = -M[1] * D;
  const m3 = -M[3] * D;
  const m4 = M[0] * D;
  const m2 = -m0 * M[2] - m1 * M[5];
  const m5 = -m3 * M[2] - m4 * M[5];
  const out = newLike(img, height, width);
  const ch = img.channels;
  const border = Array.isArray(borderValue) ? borderValue : Array(ch).fill(borderValue);
  const float = isFloat(img);
  const at = (sx: number, sy: number, k: number) =>
    sx >= 0 && sy >= 0 && sx < img.width && sy < img.height ? img.data[(sy * img.width + sx) * ch + k] : border[k] ?? 0;
  const mode = interpolation === 'nearest' ? 'nearest' : interpolation === 'bicubic' || interpolation === 'lanczos' ? 'bicubic' : 'bilinear';
  // OpenCV's fixed point: coordinates in 1/1024 (AB_BITS = 10), sampled at 1/32 (INTER_BITS = 5)
  const AB = 1024;
  const round = (v: number) => pyRound(v);
  const adelta = Int32Array.from({ length: width }, (_, x) => round(m0 * x * AB));
  const bdelta = Int32Array.from({ length: width }, (_, x) => round(m3 * x * AB));
  const tab = mode === 'bicubic' ? cubicTab() : linearTab();
  const ks = mode === 'bicubic' ? 4 : 2;
  for (let y = 0; y < height; y++) {
    const roundDelta = mode === 'nearest' ? AB / 2 : AB / 32 / 2;
    const X0 = round((m1 * y + m2) * AB) + roundDelta;
    const Y0 = round((m4 * y + m5) * AB) + roundDelta;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * ch;
      if (mode === 'nearest') {
        const sx = (X0 + adelta[x]) >> 10;
        const sy = (Y0 + bdelta[x]) >> 10;
        for (let k = 0; k < ch; k++) out.data[o + k] = at(sx, sy, k);
        continue;
      }
      const X = (X0 + adelta[x]) >> 5;
      const Y = (Y0 + bdelta[x]) >> 5;
      const fx = X & 31;
      const fy = Y & 31;
      const sx = (X >> 5) - (ks === 4 ? 1 : 0);
      const sy = (Y >> 5) - (ks === 4 ? 1 : 0);
      const w = tab[fy * 32 + fx];
      for (let k = 0; k < ch; k++) {
        let acc = 0;
        if (float) {
          const wf = tab.float[fy * 32 + fx];
          for (let j = 0; j < ks; j++) for (let i = 0; i < ks; i++) acc += at(sx + i, sy + j, k) * wf[j * ks + i];
          out.data[o + k] = acc;
        } else {
          for (let j = 0; j < ks; j++) for (let i = 0; i < ks; i++) acc += at(sx + i, sy + j, k) * w[j * ks + i];
          const v = (acc + (1 << 14)) >> 15;
          out.data[o + k] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
      }
    }
  }
  return out;
}

type WeightTab = Int32Array[] & { float: Float64Array[] };
let linTab: WeightTab | undefined;
let cubTab: WeightTab | undefined;

/** OpenCV's remap weight tables: 32 x 32 sub-pixel positions, weights in 1/32768 summing exactly to 32768. */
function makeTab(ks: number, coeffs: (t: number) => number[]): WeightTab {
  const ints: Int32Array[] = [];
  const floats: Float64Array[] = [];
  for (let fy = 0; fy < 32; fy++) {
    for (let fx = 0; fx < 32; fx++) {
      const cy = coeffs(fy / 32);
      const cx = coeffs(fx / 32);
      const f = new Float64Array(ks * ks);
      const w = new Int32Array(ks * ks);
      let isum = 0;
      for (let j = 0; j < ks; j++) for (let i = 0; i < ks; i++) {
        f[j * ks + i] = cy[j] * cx[i];
        w[j * ks + i] = saturateRound(0) + Math.round(Math.fround(cy[j] * cx[i]) * 32768);
        isum += w[j * ks + i];
      }
      if (isum !== 32768) {
        // put the rounding error on the largest (or, for a surplus, the smallest) central weight
        const c0 = Math.floor(ks / 2) - 1;
        let best = c0 * ks + c0;
        for (let j = c0; j < c0 + 2; j++) for (let i = c0; i < c0 + 2; i++) {
          const v = w[j * ks + i];
          if (isum < 32768 ? v > w[best] : v < w[best]) best = j * ks + i;
        }
        w[best] += 32768 - isum;
      }
      ints.push(w);
      floats.push(f);
    }
  }
  return Object.assign(ints, { float: floats });
}
function linearTab(): WeightTab {
  return (linTab ??= makeTab(2, (t) => [1 - t, t]));
}
function cubicTab(): WeightTab {
  return (cubTab ??= makeTab(4, (t) => cv2Cubic(t).map((v) => Math.fround(v))));
}

/** `mmcv.imrotate`: positive angles turn clockwise, about the image centre ((w-1)/2, (h-1)/2) unless given. */
export function rotate(img: Image, angle: number, opts: { center?: [number, number]; scale?: number; borderValue?: number | number[]; interpolation?: Interpolation } = {}): Image {
  const [cx, cy] = opts.center ?? [(img.width - 1) * 0.5, (img.height - 1) * 0.5];
  const scale = opts.scale ?? 1;
  // cv2.getRotationMatrix2D(center, -angle, scale)
  const rad = (-angle * Math.PI) / 180;
  const alpha = scale * Math.cos(rad);
  const beta = scale * Math.sin(rad);
  const M = [alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy];
  return warpAffine(img, M, img.width, img.height, opts.interpolation ?? 'bilinear', opts.borderValue ?? 0);
}

/** `mmcv.imshear`: horizontal [[1, m, 0], [0, 1, 0]] or vertical [[1, 0, 0], [m, 1, 0]]. */
export function shear(img: Image, magnitude: number, direction: 'horizontal' | 'vertical', borderValue: number | number[], interpolation: Interpolation): Image {
  const M = direction === 'horizontal' ? [1, magnitude, 0, 0, 1, 0] : [1, 0, 0, magnitude, 1, 0];
  return warpAffine(img, M, img.width, img.height, interpolation, borderValue);
}

/** `mmcv.imtranslate`: moves the image by `offset` pixels (right or down for positive offsets). */
export function translate(img: Image, offset: number, direction: 'horizontal' | 'vertical', borderValue: number | number[], interpolation: Interpolation): Image {
  const M = direction === 'horizontal' ? [1, 0, offset, 0, 1, 0] : [1, 0, 0, 0, 1, offset];
  return warpAffine(img, M, img.width, img.height, interpolation, borderValue);
}

// ------------------------------------------------------------------ photometric

function mapPixels(img: Image, f: (v: number, i: number) => number): Image {
  const out = newLike(img, img.height, img.width);
  for (let i = 0; i < img.data.length; i++) out.data[i] = f(img.data[i], i);
  return out;
}

/** Blend with a degenerate image as `cv2.addWeighted(img, factor, deg, 1 - factor, 0)` on float32, then clip and truncate. */
function blendCv2(img: Image, degenerate: (i: number) => number, factor: number): Image {
  const float = isFloat(img);
  const fa = Math.fround(factor);
  const fb = Math.fround(1 - factor);
  return mapPixels(img, (v, i) => {
    // cv2.addWeighted on float32 images (SIMD): fma(src1, (float)alpha, src2 * (float)beta)
    const r = Math.fround(v * fa + Math.fround(degenerate(i) * fb));
    return float ? Math.min(255, Math.max(0, r)) : clipTrunc(r);
  });
}

/** Pillow's Image.blend(degenerate, img, factor) on 8-bit data: truncation, clipping when extrapolating. */
function blendPil(img: Image, degenerate: (i: number) => number, factor: number): Image {
  return mapPixels(img, (v, i) => {
    const d = degenerate(i);
    return clipTrunc(Math.fround(d + factor * (v - d)));
  });
}

export function adjustBrightness(img: Image, factor: number, backend: Backend = 'cv2'): Image {
  return backend === 'pillow' && !isFloat(img) ? blendPil(img, () => 0, factor) : blendCv2(img, () => 0, factor);
}

export function adjustContrast(img: Image, factor: number, backend: Backend = 'cv2'): Image {
  const c = img.channels;
  if (backend === 'pillow' && !isFloat(img)) {
    const gray = c === 1 ? img : bgr2grayPil(img);
    let sum = 0;
    for (const v of gray.data) sum += v;
    const mean = Math.trunc(sum / gray.data.length + 0.5);
    return blendPil(img, () => mean, factor);
  }
  const gray = c === 1 ? img : bgr2gray(img);
  let sum = 0;
  for (const v of gray.data) sum += v;
  const mean = pyRound(sum / gray.data.length);
  return blendCv2(img, () => mean, factor);
}

/** `mmcv.adjust_color`: blend with the gray image (saturation). */
export function adjustColor(img: Image, alpha: number, backend: Backend = 'cv2'): Image {
  const c = img.channels;
  if (c === 1) return { ...img, data: img.data.slice() };
  if (backend === 'pillow' && !isFloat(img)) {
    const gray = bgr2grayPil(img);
    return blendPil(img, (i) => gray.data[Math.floor(i / c)], alpha);
  }
  const gray = bgr2gray(img);
  const beta = 1 - alpha;
  const float = isFloat(img);
  // cv2.addWeighted on uint8 inputs rounds (saturate_cast)
  return mapPixels(img, (v, i) => {
    const r = v * alpha + gray.data[Math.floor(i / c)] * beta;
    return float ? Math.min(255, Math.max(0, r)) : saturateRound(r);
  });
}

/**
 * `mmcv.adjust_hue`: rotates hue by `hueFactor` of a turn in Pillow's 8-bit HSV space (hue 0-255),
 * with Pillow's RGB <-> HSV conversions. `img` is BGR.
 */
export function adjustHue(img: Image, hueFactor: number): Image {
  if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new MmclsError(`hue_factor ${hueFactor} is not in [-0.5, 0.5]`, { code: 'transform.bad-arg' });
  if (img.channels < 3) return { ...img, data: img.data.slice() };
  const shift = ((Math.trunc(hueFactor * 255) % 256) + 256) % 256;
  const out = newLike(img, img.height, img.width);
  const c = img.channels;
  const f32 = Math.fround;
  const clip8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : v);
  const cRound = (v: number) => (v < 0 ? -Math.round(-v) : Math.round(v)); // C round(): half away from zero
  for (let i = 0; i < img.height * img.width; i++) {
    const o = i * c;
    const b = Math.round(img.data[o]);
    const g = Math.round(img.data[o + 1]);
    const r = Math.round(img.data[o + 2]);
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    let uh = 0;
    let us = 0;
    const uv = maxc;
    if (maxc !== minc) {
      const cr = f32(maxc - minc);
      const sv = f32(cr / maxc);
      const rc = f32((maxc - r) / cr);
      const gc = f32((maxc - g) / cr);
      const bc = f32((maxc - b) / cr);
      let h: number;
      if (r === maxc) h = f32(bc - gc);
      else if (g === maxc) h = f32(2.0 + rc - bc);
      else h = f32(4.0 + gc - rc);
      h = f32((h / 6.0 + 1.0) % 1.0);
      uh = clip8(Math.trunc(h * 255.0));
      us = clip8(Math.trunc(sv * 255.0));
    }
    const hh = (uh + shift) % 256;
    let rr: number;
    let gg: number;
    let bb: number;
    if (us === 0) {
      rr = gg = bb = uv;
    } else {
      const k = Math.floor(f32(hh * 6.0) / 255.0);
      const f = f32(f32(hh * 6.0) / 255.0 - k);
      const fs = f32(us / 255.0);
      const p = clip8(cRound(f32(uv * (1.0 - fs))));
      const q = clip8(cRound(f32(uv * (1.0 - fs * f))));
      const t = clip8(cRound(f32(uv * (1.0 - fs * (1.0 - f)))));
      [rr, gg, bb] = [[uv, t, p], [q, uv, p], [p, uv, t], [p, q, uv], [t, p, uv], [uv, p, q]][k % 6];
    }
    out.data[o] = bb;
    out.data[o + 1] = gg;
    out.data[o + 2] = rr;
    for (let j = 3; j < c; j++) out.data[o + j] = img.data[o + j];
  }
  return out;
}

/** `mmcv.adjust_sharpness`: blend with Pillow's SMOOTH-filtered image ([[1,1,1],[1,5,1],[1,1,1]] / 13). */
export function adjustSharpness(img: Image, factor: number): Image {
  const { height: h, width: w, channels: c } = img;
  const smooth = newLike(img, h, w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        let s = 0;
        for (let dy = -1; dy <= 1; dy++) {
          const sy = borderIndex(y + dy, h, 'reflect');
          for (let dx = -1; dx <= 1; dx++) {
            const sx = borderIndex(x + dx, w, 'reflect');
            s += img.data[(sy * w + sx) * c + k] * (dx === 0 && dy === 0 ? 5 : 1);
          }
        }
        const v = s / 13;
        smooth.data[(y * w + x) * c + k] = isFloat(img) ? v : saturateRound(v);
      }
    }
  }
  return blendCv2(img, (i) => smooth.data[i], factor);
}

function histogram(img: Image, ch: number): number[] {
  const hist = new Array(256).fill(0);
  for (let i = ch; i < img.data.length; i += img.channels) hist[Math.min(255, Math.max(0, Math.floor(img.data[i])))]++;
  return hist;
}

/** `mmcv.auto_contrast(img, cutoff)`: stretches each channel to [0, 255] after cutting `cutoff` percent at each end. */
export function autoContrast(img: Image, cutoff: number | [number, number] = 0): Image {
  const [cl, ch] = typeof cutoff === 'number' ? [cutoff, cutoff] : cutoff;
  const out = newLike(img, img.height, img.width);
  out.data.set(img.data);
  for (let c = 0; c < img.channels; c++) {
    const histo = histogram(img, c);
    const cum: number[] = [];
    let acc = 0;
    for (const v of histo) cum.push((acc += v));
    const total = cum[255];
    const cutLow = Math.floor((total * cl) / 100);
    const cutHigh = total - Math.floor((total * ch) / 100);
    const clipped = cum.map((v) => Math.min(Math.max(v, cutLow), cutHigh) - cutLow);
    const h2 = clipped.map((v, i) => (i === 0 ? v : v - clipped[i - 1]));
    const nz = h2.map((v, i) => (v ? i : -1)).filter((i) => i >= 0);
    if (!nz.length) continue;
    const low = nz[0];
    const high = nz[nz.length - 1];
    if (low >= high) continue;
    const scale = 255 / (high - low);
    const offset = -low * scale;
    for (let i = c; i < img.data.length; i += img.channels) {
      const v = Math.min(255, Math.max(0, Math.floor(img.data[i]) * scale + offset));
      out.data[i] = isFloat(img) ? v : Math.trunc(v);
    }
  }
  return out;
}

/** `mmcv.imequalize`: per-channel histogram equalisation (Pillow's ImageOps.equalize algorithm). */
export function equalize(img: Image): Image {
  const out = newLike(img, img.height, img.width);
  out.data.set(img.data);
  for (let c = 0; c < img.channels; c++) {
    const histo = histogram(img, c);
    const nonzero = histo.filter((v) => v > 0);
    const last = nonzero.length ? nonzero[nonzero.length - 1] : 0;
    const step = Math.floor((nonzero.reduce((a, b) => a + b, 0) - last) / 255);
    if (!step) continue;
    const lut = new Array(256);
    let cum = 0;
    lut[0] = 0;
    for (let i = 0; i < 255; i++) {
      cum += histo[i];
      lut[i + 1] = Math.min(255, Math.floor((cum + Math.floor(step / 2)) / step));
    }
    for (let i = c; i < img.data.length; i += img.channels) out.data[i] = lut[Math.min(255, Math.max(0, Math.floor(img.data[i])))];
  }
  return out;
}

export function invert(img: Image): Image {
  return mapPixels(img, (v) => 255 - v);
}

export function solarize(img: Image, thr = 128): Image {
  return mapPixels(img, (v) => (v < thr ? v : 255 - v));
}

export function posterize(img: Image, bits: number): Image {
  const shift = 8 - bits;
  return mapPixels(img, (v) => (shift >= 8 ? 0 : ((Math.trunc(v) >> shift) << shift)));
}

/** `mmcv.cutout`: fills a `shape` (h, w) box at a random centre with `padVal`. */
export function cutout(img: Image, shape: number | [number, number], padVal: number | number[], rng: Rng): Image {
  const [ch, cw] = typeof shape === 'number' ? [shape, shape] : shape;
  const { height: h, width: w, channels: c } = img;
  // np.random.uniform(img_h) draws from [1, img_h) (low=img_h, high=1.0)
  const y0 = rng.uniform(h, 1);
  const x0 = rng.uniform(w, 1);
  const y1 = Math.trunc(Math.max(0, y0 - ch / 2));
  const x1 = Math.trunc(Math.max(0, x0 - cw / 2));
  const y2 = Math.min(h, y1 + ch);
  const x2 = Math.min(w, x1 + cw);
  const vals = Array.isArray(padVal) ? padVal : Array(c).fill(padVal);
  const out = { ...img, data: img.data.slice() as PixelArray };
  for (let y = y1; y < y2; y++) for (let x = x1; x < x2; x++) for (let k = 0; k < c; k++) out.data[(y * w + x) * c + k] = vals[k] ?? vals[0];
  return out;
}
