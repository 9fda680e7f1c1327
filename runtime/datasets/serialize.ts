// Turning samples into structured-clone-friendly messages for worker threads and back.
import { ClsDataSample, ClsDataSampleData } from '../structures';
import { isImage, Image } from './image';

type Encoded = unknown;

/** Encodes a value; typed-array buffers that can be moved without copying go to `transfer`. */
export function encodeValue(v: unknown, transfer: ArrayBuffer[]): Encoded {
  if (v instanceof ClsDataSample) return { __cls_data_sample__: v.toJSON() };
  if (isImage(v)) return { __image__: true, data: ownedArray(v.data, transfer), height: v.height, width: v.width, channels: v.channels };
  if (ArrayBuffer.isView(v)) return ownedArray(v as Uint8Array, transfer);
  if (Array.isArray(v)) return v.map((x) => encodeValue(x, transfer));
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = encodeValue(x, transfer);
    return o;
  }
  return v;
}

/** A typed array that owns its whole buffer, so that the buffer can be transferred. */
function ownedArray<T extends ArrayBufferView>(a: T, transfer: ArrayBuffer[]): T {
  const buf = a.buffer as ArrayBuffer;
  let owned = a;
  if (a.byteOffset !== 0 || a.byteLength !== buf.byteLength || transfer.includes(buf)) owned = (a as unknown as { slice(): T }).slice();
  transfer.push(owned.buffer as ArrayBuffer);
  return owned;
}

export function decodeValue(v: Encoded): unknown {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (v && typeof v === 'object' && !ArrayBuffer.isView(v)) {
    const o = v as Record<string, unknown>;
    if ('__cls_data_sample__' in o) return ClsDataSample.fromJSON(o.__cls_data_sample__ as ClsDataSampleData);
    if (o.__image__ === true) return { data: o.data, height: o.height, width: o.width, channels: o.channels } as Image;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = decodeValue(x);
    return out;
  }
  return v;
}
