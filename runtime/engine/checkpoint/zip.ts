/**
 * A small ZIP reader for PyTorch's archives. PyTorch stores every entry uncompressed and 64-byte
 * aligned, so entries are returned as views into the file (no copy, which matters for checkpoints
 * of hundreds of MB); deflated entries (a re-zipped archive) are inflated. The central directory,
 * ZIP64 sizes and every entry's CRC-32 are checked, so a truncated or damaged file is an error that
 * says so rather than garbage weights.
 */
import * as zlib from 'zlib';
import { MmclsError } from '../../errors';

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const EOCD = 0x06054b50;
const EOCD64_LOCATOR = 0x07064b50;
const EOCD64 = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5) && (bytes[3] === 4 || bytes[3] === 6);
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly dv: DataView;

  constructor(private readonly bytes: Uint8Array, private readonly file: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.readDirectory();
  }

  private fail(what: string): MmclsError {
    return new MmclsError(`damaged checkpoint archive: ${what}. The file is probably truncated or corrupted (an interrupted download?); download or save it again.`, {
      code: 'checkpoint.corrupt',
      location: { file: this.file },
    });
  }

  private u16(at: number): number {
    return this.dv.getUint16(at, true);
  }

  private u32(at: number): number {
    return this.dv.getUint32(at, true);
  }

  private u64(at: number): number {
    const v = this.dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fail('a ZIP64 size is out of range');
    return Number(v);
  }

  private readDirectory(): void {
    const b = this.bytes;
    // The end-of-central-directory record is the last 22 bytes plus a comment of up to 64 KB.
    let eocd = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
      if (this.u32(i) === EOCD && i + 22 + this.u16(i + 20) === b.length) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw this.fail('the end-of-archive record is missing');
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (eocd >= 20 && this.u32(eocd - 20) === EOCD64_LOCATOR) {
      const at = this.u64(eocd - 12);
      if (at + 56 > b.length || this.u32(at) !== EOCD64) throw this.fail('the ZIP64 end-of-archive record is missing');
      count = this.u64(at + 32);
      cdSize = this.u64(at + 40);
      cdOffset = this.u64(at + 48);
    }
    if (cdOffset + cdSize > b.length) throw this.fail('the central directory lies beyond the end of the file');
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      if (p + 46 > b.length || this.u32(p) !== CENTRAL) throw this.fail(`central directory entry ${i} is damaged`);
      const method = this.u16(p + 10);
      const crc = this.u32(p + 16);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localOffset = this.u32(p + 42);
      const name = Buffer.from(b.buffer, b.byteOffset + p + 46, nameLen).toString('utf8');
      // ZIP64 extra field: the 64-bit values of the fields saturated at 0xffffffff, in this order.
      let x = p + 46 + nameLen;
      const xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        const id = this.u16(x);
        const len = this.u16(x + 2);
        if (id === 0x0001) {
          let q = x + 4;
          if (size === 0xffffffff) (size = this.u64(q)), (q += 8);
          if (compressedSize === 0xffffffff) (compressedSize = this.u64(q)), (q += 8);
          if (localOffset === 0xffffffff) localOffset = this.u64(q);
        }
        x += 4 + len;
      }
      this.entries.set(name, { name, method, crc, compressedSize, size, localOffset });
      p = xEnd + commentLen;
    }
  }

  /** The entry's bytes (a view for stored entries), after checking its CRC-32. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw this.fail(`the entry '${name}' is missing`);
    const p = e.localOffset;
    if (p + 30 > this.bytes.length || this.u32(p) !== LOCAL) throw this.fail(`the entry '${name}' has no valid local header`);
    const start = p + 30 + this.u16(p + 26) + this.u16(p + 28);
    if (start + e.compressedSize > this.bytes.length) throw this.fail(`the entry '${name}' runs past the end of the file`);
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) data = raw;
    else if (e.method === 8) {
      try {
        // Bounded by the declared size, so a deflate bomb cannot exhaust memory.
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      } catch {
        throw this.fail(`the entry '${name}' cannot be decompressed`);
      }
    } else throw this.fail(`the entry '${name}' uses compression method ${e.method}, which is not supported`);
    if (data.length !== e.size) throw this.fail(`the entry '${name}' has ${data.length} bytes instead of ${e.size}`);
    if (crc32(data) !== e.crc) throw this.fail(`the entry '${name}' fails its CRC check`);
    return data;
  }
}

let table: Int32Array | undefined;

/** CRC-32 (zlib's). Node's `zlib.crc32` where it exists (20.15+), else a table-driven fallback. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
  if (native) return native(data) >>> 0;
  if (!table) {
    table = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c;
    }
  }
  let c = -1;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
