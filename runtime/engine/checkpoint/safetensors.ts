/**
 * The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian
 * header length N, N bytes of JSON `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__": {string: string}}` (padded with spaces), then the tensor bytes, little-endian and
 * row-major, offsets relative to the end of the header. Files are validated as strictly as the
 * reference implementation does: every byte of the data section belongs to exactly one tensor.
 */
import * as os from 'os';
import { MmclsError } from '../../errors';
import { DTYPES, Dtype, TensorData, isDtype, numel, viewBytes } from './tensor';

/** The reference implementation refuses larger headers; so do we (a corrupt length reads huge). */
const MAX_HEADER = 100 * 1024 * 1024;

export interface SafetensorsContent {
  /** Tensors in the order of their data in the file. */
  tensors: Map<string, TensorData>;
  /** The `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
}

function corrupt(file: string, what: string): MmclsError {
  return new MmclsError(`not a valid safetensors file: ${what}`, { code: 'checkpoint.corrupt', location: { file } });
}

function assertLittleEndian(): void {
  if (os.endianness() !== 'LE') throw new MmclsError('checkpoints can only be read and written on little-endian machines', { code: 'checkpoint.endianness' });
}

/** Parse a whole safetensors file held in memory. Tensor data are views into `bytes` where aligned. */
export function parseSafetensors(bytes: Uint8Array, file: string): SafetensorsContent {
  assertLittleEndian();
  if (bytes.length < 8) throw corrupt(file, `the file has ${bytes.length} bytes, fewer than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8)) {
    throw corrupt(file, `the header length (${n64} bytes) exceeds the rest of the file (${bytes.length - 8} bytes); the file is truncated or is not safetensors`);
  }
  const n = Number(n64);
  if (n > MAX_HEADER) throw corrupt(file, `the header length (${n} bytes) is over the 100 MB limit`);
  if (n < 2 || bytes[8] !== 0x7b /* { */) throw corrupt(file, 'the header does not start with a JSON object');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw corrupt(file, 'the header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, `the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw corrupt(file, 'the header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Array<{ name: string; dtype: Dtype; shape: number[]; begin: number; end: number }> = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof info !== 'object' || info === null || Array.isArray(info)) throw corrupt(file, '__metadata__ is not an object of strings');
      for (const [k, v] of Object.entries(info as Record<string, unknown>)) {
        if (typeof v !== 'string') throw corrupt(file, `__metadata__.${k} is a ${v === null ? 'null' : typeof v}, but metadata values must be strings`);
        metadata[k] = v;
      }
      continue;
    }
    const t = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (typeof t !== 'object' || t === null) throw corrupt(file, `tensor '${name}': the entry is not an object`);
    if (!isDtype(t.dtype)) {
      throw corrupt(file, `tensor '${name}': unsupported dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
    }
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw corrupt(file, `tensor '${name}': shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    const offs = t.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw corrupt(file, `tensor '${name}': data_offsets ${JSON.stringify(offs)} is not a pair of non-negative integers`);
    }
    const [begin, end] = offs as [number, number];
    if (begin > end) throw corrupt(file, `tensor '${name}': data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataLen) {
      throw corrupt(file, `tensor '${name}': data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes); the file is truncated`);
    }
    const expected = numel(shape as number[]) * DTYPES[t.dtype].size;
    if (end - begin !== expected) {
      throw corrupt(file, `tensor '${name}': ${end - begin} bytes stored, but shape [${(shape as number[]).join(', ')}] of ${t.dtype} needs ${expected}`);
    }
    entries.push({ name, dtype: t.dtype, shape: shape as number[], begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    if (e.begin < pos) throw corrupt(file, `tensors '${entries[i - 1].name}' and '${e.name}' overlap`);
    if (e.begin > pos) throw corrupt(file, `bytes ${pos}..${e.begin} of the data belong to no tensor`);
    pos = e.end;
  }
  if (pos !== dataLen) throw corrupt(file, `the last ${dataLen - pos} bytes of the data belong to no tensor`);

  const tensors = new Map<string, TensorData>();
  for (const e of entries) {
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: viewBytes(e.dtype, bytes, dataStart + e.begin, (e.end - e.begin) / DTYPES[e.dtype].size),
    });
  }
  return { tensors, metadata };
}

export interface SafetensorsLayout {
  /** The 8-byte length and the padded JSON header. */
  head: Uint8Array;
  /** The tensors in the order their bytes follow the header. */
  order: Array<[string, TensorData]>;
  /** Total file size in bytes. */
  size: number;
}

/**
 * Lay out a safetensors file: tensors with wider elements first (stable otherwise), and the header
 * padded to 8 bytes, so that every tensor starts aligned for its element type and readers can use
 * the bytes in place.
 */
export function layoutSafetensors(tensors: Iterable<[string, TensorData]>, metadata: Record<string, string>): SafetensorsLayout {
  assertLittleEndian();
  const order = [...tensors].map((e, i) => ({ e, i }));
  order.sort((a, b) => DTYPES[b.e[1].dtype].size - DTYPES[a.e[1].dtype].size || a.i - b.i);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const { e: [name, t] } of order) {
    if (name === '__metadata__') throw new MmclsError("a tensor cannot be named '__metadata__' in a safetensors file", { code: 'checkpoint.invalid' });
    if (Object.prototype.hasOwnProperty.call(header, name)) throw new MmclsError(`tensor '${name}' appears twice`, { code: 'checkpoint.invalid' });
    if (!isDtype(t.dtype)) throw new MmclsError(`tensor '${name}': unknown dtype ${String(t.dtype)}`, { code: 'checkpoint.invalid' });
    const bytes = numel(t.shape) * DTYPES[t.dtype].size;
    if (t.data.byteLength !== bytes) {
      throw new MmclsError(`tensor '${name}': ${t.data.byteLength} bytes of data, but shape [${t.shape.join(', ')}] of ${t.dtype} needs ${bytes}`, {
        code: 'checkpoint.invalid',
      });
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  return { head, order: order.map(({ e }) => e), size: head.length + offset };
}
