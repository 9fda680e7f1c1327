import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { layoutSafetensors, parseSafetensors, readCheckpoint, toNumbers, TensorData, DTYPES, Dtype } from '../../../runtime/engine/checkpoint';
import { MmclsError } from '../../../runtime/errors';
import { assertTensor } from './expected';

const FIX = path.join(__dirname, '..', '..', 'fixtures', 'checkpoint');

/** A safetensors file assembled by hand from a header object and raw data, independently of our writer. */
function handmade(header: unknown, data: Uint8Array, rawHeader?: string): Uint8Array {
  const json = Buffer.from(rawHeader ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

function f32(...v: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(v).buffer);
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => parseSafetensors(bytes, 'bad.safetensors'),
    (e: unknown) => {
      assert.ok(e instanceof MmclsError, String(e));
      assert.equal(e.code, 'checkpoint.corrupt');
      assert.equal(e.location.file, 'bad.safetensors');
      assert.match(e.format(), /^bad\.safetensors: not a valid safetensors file: /);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe('engine/checkpoint: safetensors', () => {
  it('reads a file written by the reference implementation (mixed dtypes, metadata)', async () => {
    const expected = JSON.parse(fs.readFileSync(path.join(FIX, 'expected.json'), 'utf8')).state_dict;
    const { tensors, metadata } = parseSafetensors(fs.readFileSync(path.join(FIX, 'reference.safetensors')), 'reference.safetensors');
    assert.deepEqual(metadata, { format: 'pt', note: 'written by safetensors.torch' });
    const names = Object.keys(expected).filter((k) => k !== 'dtypes.empty');
    assert.deepEqual(new Set(tensors.keys()), new Set(names));
    for (const k of names) assertTensor(k, tensors.get(k), expected[k]);
    // Through readCheckpoint: someone else's file is all state dict, its metadata kept aside.
    const c = await readCheckpoint(path.join(FIX, 'reference.safetensors'));
    assert.equal(c.format, 'safetensors');
    assert.equal(c.stateDict.size, names.length);
    assert.deepEqual(c.fileMetadata, metadata);
    assert.deepEqual(c.meta, {});
  });

  it('reads a hand-assembled file', () => {
    const data = Buffer.concat([f32(1.5, -2), Buffer.from(new BigInt64Array([-3n]).buffer), Buffer.from([1, 0, 255])]);
    const bytes = handmade(
      {
        __metadata__: { k: 'v' },
        b: { dtype: 'I64', shape: [], data_offsets: [8, 16] },
        a: { dtype: 'F32', shape: [2, 1], data_offsets: [0, 8] },
        c: { dtype: 'U8', shape: [3], data_offsets: [16, 19] },
      },
      data,
    );
    const { tensors, metadata } = parseSafetensors(bytes, 'x');
    assert.deepEqual(metadata, { k: 'v' });
    assert.deepEqual([...tensors.keys()], ['a', 'b', 'c'], 'file order');
    assert.deepEqual(tensors.get('a'), { dtype: 'F32', shape: [2, 1], data: new Float32Array([1.5, -2]) });
    assert.deepEqual(Array.from(tensors.get('b')!.data as BigInt64Array), [-3n]);
    assert.deepEqual(tensors.get('b')!.shape, []);
    assert.deepEqual(toNumbers(tensors.get('c')!), [1, 0, 255]);
  });

  it('views tensors in place when their bytes are aligned in memory, and copies them when not', () => {
    const bytes = handmade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32(3, 4));
    const dataStart = 8 + Number(Buffer.from(bytes).readBigUInt64LE(0));
    for (let shift = 0; shift < 4; shift++) {
      const buf = new Uint8Array(bytes.length + 4);
      buf.set(bytes, shift);
      const t = parseSafetensors(buf.subarray(shift, shift + bytes.length), 'x').tensors.get('a')!;
      assert.deepEqual(Array.from(t.data as Float32Array), [3, 4]);
      assert.equal(t.data.buffer === buf.buffer, (shift + dataStart) % 4 === 0, `shift ${shift}`);
    }
  });

  it('tells safetensors from .pth by content, also when the header length looks like a pickle or a zip', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-st-'));
    try {
      // Header lengths 0x0280 (bytes 80 02: pickle protocol 2) and 0x4b50 (bytes 50 4b: "PK").
      for (const len of [0x0280, 0x4b50]) {
        const json = JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
        const bytes = handmade(null, f32(3, 4), json.padEnd(len, ' '));
        assert.equal(Buffer.from(bytes).readUInt16LE(0), len);
        const f = path.join(tmp, `w${len}.pth`);
        fs.writeFileSync(f, bytes);
        const c = await readCheckpoint(f);
        assert.equal(c.format, 'safetensors');
        assert.deepEqual(toNumbers(c.stateDict.get('a')!), [3, 4]);
      }
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  describe('rejects malformed files with errors that name the file and the problem', () => {
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    it('too short', () => rejects(new Uint8Array(5), /5 bytes, fewer than the 8-byte header length/));
    it('header length past the end (truncated)', () => {
      const b = handmade(ok, f32(1, 2));
      rejects(b.subarray(0, 20), /header length \(\d+ bytes\) exceeds the rest of the file.*truncated/);
    });
    it('data truncated', () => rejects(handmade(ok, f32(1)), /data_offsets \[0, 8\] run past the end of the data \(4 bytes\); the file is truncated/));
    it('not JSON', () => rejects(handmade(null, new Uint8Array(0), '{"a": '), /not valid JSON/));
    it('not an object', () => rejects(handmade(null, new Uint8Array(0), '[1, 2]'), /does not start with a JSON object/));
    it('unknown dtype', () => rejects(handmade({ a: { dtype: 'F8_E4M3', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /tensor 'a': unsupported dtype "F8_E4M3"/));
    it('size does not match shape and dtype', () =>
      rejects(handmade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(1, 2)), /tensor 'a': 8 bytes stored, but shape \[3\] of F32 needs 12/));
    it('bad shape', () => rejects(handmade({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)), /shape \[-1\] is not a list of non-negative integers/));
    it('offsets reversed', () => rejects(handmade({ a: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32(1)), /end before they begin/));
    it('overlap', () =>
      rejects(
        handmade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(1, 2, 3)),
        /tensors 'a' and 'b' overlap/,
      ));
    it('hole between tensors', () =>
      rejects(
        handmade({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } }, f32(1, 2, 3)),
        /bytes 4\.\.8 of the data belong to no tensor/,
      ));
    it('trailing bytes', () => rejects(handmade(ok, f32(1, 2, 3)), /the last 4 bytes of the data belong to no tensor/));
    it('metadata must be strings', () => rejects(handmade({ __metadata__: { epoch: 3 }, ...ok }, f32(1, 2)), /__metadata__\.epoch is a number, but metadata values must be strings/));
  });

  it('lays files out aligned: header padded to 8 bytes, wider dtypes first, each tensor aligned for its type', () => {
    const all: Array<[string, TensorData]> = [];
    const dtypes = Object.keys(DTYPES) as Dtype[];
    for (const [i, d] of dtypes.entries()) {
      const n = 3;
      const data = DTYPES[d].alloc(n);
      for (let j = 0; j < n; j++) (data as unknown as { [k: number]: number | bigint })[j] = d === 'I64' ? BigInt(i * 10 + j) : d === 'BOOL' ? j % 2 : i * 10 + j;
      all.push([`t.${d}`, { dtype: d, shape: [n], data }]);
    }
    all.push(['scalar', { dtype: 'F32', shape: [], data: new Float32Array([7]) }]);
    all.push(['empty', { dtype: 'F16', shape: [0, 4], data: new Uint16Array(0) }]);
    const { head, order, size } = layoutSafetensors(all, { a: 'b' });
    assert.equal(head.length % 8, 0);
    const headerLen = Number(Buffer.from(head).readBigUInt64LE(0));
    assert.equal(headerLen + 8, head.length);
    const header = JSON.parse(Buffer.from(head.subarray(8)).toString('utf8'));
    assert.deepEqual(header.__metadata__, { a: 'b' });
    let expectedOffset = 0;
    for (const [name, t] of order) {
      const [b, e] = header[name].data_offsets as number[];
      assert.equal(b, expectedOffset);
      assert.equal((head.length + b) % DTYPES[t.dtype].size, 0, `${name} aligned`);
      expectedOffset = e;
    }
    assert.equal(size, head.length + expectedOffset);
    // Reading back what was laid out gives the same tensors.
    const file = Buffer.concat([head, ...order.map(([, t]) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength))]);
    const back = parseSafetensors(file, 'x').tensors;
    for (const [name, t] of all) assert.deepEqual(back.get(name), t, name);
  });

  it('refuses to lay out tensors whose data does not match their shape', () => {
    assert.throws(() => layoutSafetensors([['w', { dtype: 'F32', shape: [3], data: new Float32Array(2) }]], {}), /tensor 'w': 8 bytes of data, but shape \[3\] of F32 needs 12/);
  });
});
