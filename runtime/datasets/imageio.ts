/**
 * Image decoding and encoding.
 *
 * JPEG, PNG, TIFF, WebP and GIF go through sharp (libvips, prebuilt binaries from the npm registry,
 * no build step); libvips is fast, decodes off the JavaScript thread and rejects truncated files
 * instead of returning half-grey pictures. It has no BMP or PGM/PPM reader, formats that
 * MMClassification's default `extensions` list, so small readers for those two live here.
 */
import { promises as fsp } from 'fs';
import { MmclsError } from '../errors';
import { Image, bgr2gray, gray2multi } from './image';

/** MMCV's `color_type`: 3-channel colour, one-channel gray, or whatever the file holds. */
export type ColorType = 'color' | 'grayscale' | 'unchanged' | 'color_ignore_orientation' | 'grayscale_ignore_orientation';
export type ChannelOrder = 'bgr' | 'rgb';

export interface DecodeOptions {
  /** @default 'color' */
  flag?: ColorType;
  /** @default 'bgr' */
  channelOrder?: ChannelOrder;
  /** Named in error messages. */
  file?: string;
}

type SharpModule = typeof import('sharp').default;
let sharpModule: SharpModule | undefined;
function sharp(): SharpModule {
  if (!sharpModule) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    sharpModule = require('sharp') as SharpModule;
  }
  return sharpModule;
}

function decodeError(file: string | undefined, why: string, cause?: unknown): MmclsError {
  const what = file ? `cannot read image ${file}` : 'cannot decode image bytes';
  return new MmclsError(`${what}: ${why}`, { code: 'image.decode', location: file ? { file } : {}, cause });
}

/** Which decoder handles these bytes: `bmp`, `pnm`, or `sharp` for everything else. */
function sniff(buf: Uint8Array): 'bmp' | 'pnm' | 'sharp' {
  if (buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d) return 'bmp';
  if (buf.length >= 2 && buf[0] === 0x50 && buf[1] >= 0x31 && buf[1] <= 0x36) return 'pnm';
  return 'sharp';
}

/** Decodes image bytes into an 8-bit HWC image, with MMCV's `imfrombytes` semantics. */
export async function decodeImage(buf: Uint8Array, options: DecodeOptions = {}): Promise<Image> {
  const flag = options.flag ?? 'color';
  const order = options.channelOrder ?? 'bgr';
  if (buf.length === 0) throw decodeError(options.file, 'the file is empty');
  let rgb: Image;
  const kind = sniff(buf);
  try {
    if (kind === 'bmp') rgb = readBmp(buf);
    else if (kind === 'pnm') rgb = readPnm(buf);
    else rgb = await decodeWithSharp(buf, flag);
  } catch (e) {
    if (e instanceof MmclsError) throw decodeError(options.file, e.message, e);
    throw decodeError(options.file, (e as Error).message.split('\n')[0], e);
  }
  return finishDecode(rgb, flag, order);
}

/** Same as decodeImage for synchronous callers; only BMP and PNM bytes can be decoded this way. */
export function decodeImageSync(buf: Uint8Array, options: DecodeOptions = {}): Image {
  const kind = sniff(buf);
  if (kind === 'sharp') throw new Error('decodeImageSync handles BMP and PNM only');
  try {
    return finishDecode(kind === 'bmp' ? readBmp(buf) : readPnm(buf), options.flag ?? 'color', options.channelOrder ?? 'bgr');
  } catch (e) {
    throw decodeError(options.file, (e as Error).message, e);
  }
}

/** `rgb` holds 1, 2, 3 or 4 channels in RGB(A) order. */
function finishDecode(rgb: Image, flag: ColorType, order: ChannelOrder): Image {
  const c = rgb.channels;
  if (flag === 'grayscale' || flag === 'grayscale_ignore_orientation') {
    if (c <= 2) return pickChannels(rgb, [0]);
    return bgr2gray(pickChannels(rgb, [0, 1, 2]), 'rgb');
  }
  if (flag === 'unchanged') {
    if (c === 1 || c === 2) return rgb;
    const idx = order === 'bgr' ? [2, 1, 0] : [0, 1, 2];
    if (c === 4) idx.push(3);
    return pickChannels(rgb, idx);
  }
  // colour: always 3 channels, alpha dropped, gray repeated
  if (c <= 2) return gray2multi(pickChannels(rgb, [0]), 3);
  return pickChannels(rgb, order === 'bgr' ? [2, 1, 0] : [0, 1, 2]);
}

function pickChannels(img: Image, idx: number[]): Image {
  if (idx.length === img.channels && idx.every((v, i) => v === i)) return img;
  const n = img.height * img.width;
  const out = new Uint8Array(n * idx.length);
  const c = img.channels;
  for (let i = 0; i < n; i++) for (let k = 0; k < idx.length; k++) out[i * idx.length + k] = img.data[i * c + idx[k]];
  return { data: out, height: img.height, width: img.width, channels: idx.length };
}

async function decodeWithSharp(buf: Uint8Array, flag: ColorType): Promise<Image> {
  let pipeline = sharp()(buf, { failOn: 'warning', limitInputPixels: 1 << 30 });
  if (flag === 'color' || flag === 'grayscale') pipeline = pipeline.rotate(); // EXIF orientation, as cv2.imread does
  if (flag !== 'unchanged') {
    // Gray sources come out with three equal channels; the cv2 gray weights give them back exactly.
    pipeline = pipeline.removeAlpha().toColourspace('srgb');
  } else {
    const meta = await sharp()(buf, { failOn: 'warning' }).metadata();
    const gray = meta.channels !== undefined && meta.channels <= 2;
    pipeline = pipeline.toColourspace(gray ? 'b-w' : 'srgb');
  }
  // 16-bit files come out as 8-bit, as cv2 IMREAD_COLOR/GRAYSCALE give them.
  const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), height: info.height, width: info.width, channels: info.channels };
}

/** Reads and decodes an image file. Missing, empty, corrupt and truncated files raise MmclsError naming the file. */
export async function readImage(file: string, options: Omit<DecodeOptions, 'file'> = {}): Promise<Image> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
    throw new MmclsError(`cannot read image ${file}: ${why}`, { code: 'image.missing', location: { file }, cause: e });
  }
  return decodeImage(buf, { ...options, file });
}

/**
 * Encodes an image as PNG. `order` says how the channels of `img` are ordered (BGR by default, as
 * images in pipelines are); one-channel images are written as gray. Float images are clipped to [0, 255].
 */
export async function encodePng(img: Image, order: ChannelOrder = 'bgr'): Promise<Buffer> {
  let data: Uint8Array;
  if (img.data instanceof Float32Array) {
    data = new Uint8Array(img.data.length);
    for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(img.data[i])));
  } else {
    data = img.data;
  }
  let channels = img.channels;
  if (channels >= 3 && order === 'bgr') {
    const idx = channels === 4 ? [2, 1, 0, 3] : [2, 1, 0];
    data = pickChannels({ ...img, data }, idx.concat(Array.from({ length: Math.max(0, channels - idx.length) }, (_, i) => idx.length + i))).data as Uint8Array;
  }
  if (channels === 2 || channels > 4) {
    data = pickChannels({ ...img, data }, [0]).data as Uint8Array;
    channels = 1;
  }
  return sharp()(Buffer.from(data.buffer, data.byteOffset, data.length), {
    raw: { width: img.width, height: img.height, channels: channels as 1 | 3 | 4 },
  })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .png()
    .toBuffer();
}

/** Encodes an image as JPEG (used by tests and the data benchmark to make fixtures). */
export async function encodeJpeg(img: Image, quality = 90, order: ChannelOrder = 'bgr'): Promise<Buffer> {
  const data = img.channels === 3 && order === 'bgr' ? pickChannels(img as Image & { data: Uint8Array }, [2, 1, 0]).data : img.data;
  const u8 = data instanceof Uint8Array ? data : Uint8Array.from(data);
  return sharp()(Buffer.from(u8.buffer, u8.byteOffset, u8.length), {
    raw: { width: img.width, height: img.height, channels: img.channels as 1 | 3 },
  })
    .jpeg({ quality })
    .toBuffer();
}

// ---------------------------------------------------------------- BMP

function fail(msg: string): never {
  throw new MmclsError(msg, { code: 'image.decode' });
}

/** Windows bitmaps: 1/4/8-bit palette, 16/24/32-bit, uncompressed or bit fields, RLE8/RLE4. RGB(A) out. */
export function readBmp(buf: Uint8Array): Image {
  if (buf.length < 26) fail('truncated BMP header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);
  let width: number;
  let height: number;
  let bpp: number;
  let compression = 0;
  let colorsUsed = 0;
  if (headerSize === 12) {
    width = dv.getUint16(18, true);
    height = dv.getInt16(20, true);
    bpp = dv.getUint16(24, true);
  } else {
    if (buf.length < 14 + 40) fail('truncated BMP header');
    width = dv.getInt32(18, true);
    height = dv.getInt32(22, true);
    bpp = dv.getUint16(28, true);
    compression = dv.getUint32(30, true);
    colorsUsed = dv.getUint32(46, true);
  }
  const topDown = height < 0;
  height = Math.abs(height);
  if (width <= 0 || height === 0) fail(`bad BMP size ${width}x${height}`);
  let masks: number[] | undefined;
  if (compression === 3 || compression === 6) {
    const mOff = headerSize >= 52 ? 14 + 40 : 14 + headerSize;
    if (buf.length < mOff + 12) fail('truncated BMP header');
    masks = [dv.getUint32(mOff, true), dv.getUint32(mOff + 4, true), dv.getUint32(mOff + 8, true)];
    masks.push(headerSize >= 56 || compression === 6 ? dv.getUint32(mOff + 12, true) : 0);
  } else if (compression !== 0 && compression !== 1 && compression !== 2) {
    fail(`unsupported BMP compression ${compression}`);
  }
  let palette: Uint8Array[] = [];
  if (bpp <= 8) {
    const n = colorsUsed || 1 << bpp;
    const pOff = 14 + headerSize;
    const entry = headerSize === 12 ? 3 : 4;
    if (buf.length < pOff + n * entry) fail('truncated BMP palette');
    palette = Array.from({ length: n }, (_, i) => buf.subarray(pOff + i * entry, pOff + i * entry + 3));
  }
  const hasAlpha = bpp === 32 && (masks ? masks[3] !== 0 : false);
  const channels = hasAlpha ? 4 : 3;
  const out = new Uint8Array(width * height * channels);
  const put = (x: number, fileRow: number, r: number, g: number, b: number, a = 255) => {
    const y = topDown ? fileRow : height - 1 - fileRow;
    const o = (y * width + x) * channels;
    out[o] = r;
    out[o + 1] = g;
    out[o + 2] = b;
    if (channels === 4) out[o + 3] = a;
  };
  const pal = (i: number, x: number, row: number) => {
    const p = palette[i];
    if (!p) fail(`BMP palette index ${i} out of range`);
    put(x, row, p[2], p[1], p[0]);
  };
  if (compression === 1 || compression === 2) {
    decodeRle(buf, dataOffset, width, height, compression === 1 ? 8 : 4, pal);
    return { data: out, height, width, channels };
  }
  const rowSize = Math.floor((bpp * width + 31) / 32) * 4;
  if (dataOffset + rowSize * height > buf.length) fail(`truncated BMP: ${buf.length} bytes, ${dataOffset + rowSize * height} needed`);
  const fieldShift = (m: number) => (m === 0 ? 0 : 31 - Math.clz32(m & -m));
  const fieldScale = (v: number, m: number) => {
    if (m === 0) return 255;
    const bits = 32 - Math.clz32(m >>> fieldShift(m));
    const max = 2 ** bits - 1;
    return Math.round((v * 255) / max);
  };
  for (let row = 0; row < height; row++) {
    const base = dataOffset + row * rowSize;
    for (let x = 0; x < width; x++) {
      switch (bpp) {
        case 1:
          pal((buf[base + (x >> 3)] >> (7 - (x & 7))) & 1, x, row);
          break;
        case 4:
          pal((buf[base + (x >> 1)] >> (x & 1 ? 0 : 4)) & 15, x, row);
          break;
        case 8:
          pal(buf[base + x], x, row);
          break;
        case 16: {
          const v = dv.getUint16(base + 2 * x, true);
          const m = masks ?? [0x7c00, 0x03e0, 0x001f, 0];
          put(x, row, fieldScale((v & m[0]) >>> fieldShift(m[0]), m[0]), fieldScale((v & m[1]) >>> fieldShift(m[1]), m[1]), fieldScale((v & m[2]) >>> fieldShift(m[2]), m[2]));
          break;
        }
        case 24: {
          const o = base + 3 * x;
          put(x, row, buf[o + 2], buf[o + 1], buf[o]);
          break;
        }
        case 32: {
          if (masks) {
            const v = dv.getUint32(base + 4 * x, true);
            const f = (k: number) => fieldScale(((v & masks![k]) >>> 0) >>> fieldShift(masks![k]), masks![k]);
            put(x, row, f(0), f(1), f(2), f(3));
          } else {
            const o = base + 4 * x;
            put(x, row, buf[o + 2], buf[o + 1], buf[o]);
          }
          break;
        }
        default:
          fail(`unsupported BMP bit depth ${bpp}`);
      }
    }
  }
  return { data: out, height, width, channels };
}

function decodeRle(buf: Uint8Array, off: number, width: number, height: number, bits: 4 | 8, pal: (i: number, x: number, row: number) => void) {
  let x = 0;
  let row = 0;
  let p = off;
  const need = (n: number) => {
    if (p + n > buf.length) fail('truncated RLE-compressed BMP');
  };
  for (;;) {
    need(2);
    const count = buf[p++];
    const val = buf[p++];
    if (count > 0) {
      for (let i = 0; i < count; i++) {
        const idx = bits === 8 ? val : i & 1 ? val & 15 : val >> 4;
        if (x < width && row < height) pal(idx, x, row);
        x++;
      }
    } else if (val === 0) {
      x = 0;
      row++;
    } else if (val === 1) {
      return;
    } else if (val === 2) {
      need(2);
      x += buf[p++];
      row += buf[p++];
    } else {
      const n = val;
      const bytes = bits === 8 ? n : Math.ceil(n / 2);
      need(bytes);
      for (let i = 0; i < n; i++) {
        const idx = bits === 8 ? buf[p + i] : i & 1 ? buf[p + (i >> 1)] & 15 : buf[p + (i >> 1)] >> 4;
        if (x < width && row < height) pal(idx, x, row);
        x++;
      }
      p += bytes + (bytes & 1);
    }
    if (row >= height) return;
  }
}

// ---------------------------------------------------------------- PNM (PBM/PGM/PPM)

/** Netpbm P1-P6 (ASCII and binary bitmaps, gray maps, pixel maps), 8 or 16 bits. RGB or gray out. */
export function readPnm(buf: Uint8Array): Image {
  const magic = buf[1] - 0x30;
  let p = 2;
  const token = (): number => {
    for (;;) {
      if (p >= buf.length) fail('truncated PNM header');
      const c = buf[p];
      if (c === 0x23) {
        while (p < buf.length && buf[p] !== 0x0a && buf[p] !== 0x0d) p++;
      } else if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0b || c === 0x0c) {
        p++;
      } else break;
    }
    let s = '';
    while (p < buf.length && buf[p] >= 0x30 && buf[p] <= 0x39) s += String.fromCharCode(buf[p++]);
    if (!s) fail('bad PNM header');
    return Number(s);
  };
  const width = token();
  const height = token();
  const bitmap = magic === 1 || magic === 4;
  const maxval = bitmap ? 1 : token();
  if (width <= 0 || height <= 0 || maxval <= 0 || maxval > 65535) fail('bad PNM header');
  const channels = magic === 3 || magic === 6 ? 3 : 1;
  const out = new Uint8Array(width * height * channels);
  const n = width * height * channels;
  const scale = (v: number) => (bitmap ? (v ? 0 : 255) : maxval === 255 ? v : Math.round((v * 255) / maxval));
  if (magic <= 3) {
    if (magic === 1) {
      for (let i = 0; i < n; i++) {
        while (p < buf.length && buf[p] !== 0x30 && buf[p] !== 0x31) p++;
        if (p >= buf.length) fail('truncated PNM data');
        out[i] = scale(buf[p++] - 0x30);
      }
    } else {
      for (let i = 0; i < n; i++) out[i] = scale(token());
    }
    return { data: out, height, width, channels };
  }
  p++; // the single whitespace after the header
  if (magic === 4) {
    const rowBytes = Math.ceil(width / 8);
    if (p + rowBytes * height > buf.length) fail('truncated PBM data');
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out[y * width + x] = scale((buf[p + y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1);
    return { data: out, height, width, channels };
  }
  const bytes = maxval > 255 ? 2 : 1;
  if (p + n * bytes > buf.length) fail(`truncated PNM data: ${buf.length - p} bytes of ${n * bytes}`);
  for (let i = 0; i < n; i++) out[i] = scale(bytes === 2 ? (buf[p + 2 * i] << 8) | buf[p + 2 * i + 1] : buf[p + i]);
  return { data: out, height, width, channels };
}
