import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeImage, encodeJpeg, encodePng, readImage } from '../../runtime/datasets/imageio';
import { MmclsError } from '../../runtime/errors';
import { Image } from '../../runtime/datasets/image';

function bmp24(width: number, height: number, rgbAt: (x: number, y: number) => [number, number, number]): Buffer {
  const rowSize = Math.ceil((24 * width) / 32) * 4;
  const buf = Buffer.alloc(54 + rowSize * height);
  buf.write('BM', 0, 'ascii');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(54, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22); // bottom-up
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(24, 28);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * rowSize;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = rgbAt(x, y);
      buf[row + 3 * x] = b;
      buf[row + 3 * x + 1] = g;
      buf[row + 3 * x + 2] = r;
    }
  }
  return buf;
}

function bmp8(width: number, height: number, palette: [number, number, number][], idx: number[][]): Buffer {
  const rowSize = Math.ceil(width / 4) * 4;
  const off = 54 + 4 * palette.length;
  const buf = Buffer.alloc(off + rowSize * height);
  buf.write('BM', 0, 'ascii');
  buf.writeUInt32LE(off, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(-height, 22); // top-down
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(8, 28);
  buf.writeUInt32LE(palette.length, 46);
  palette.forEach(([r, g, b], i) => {
    buf[54 + 4 * i] = b;
    buf[54 + 4 * i + 1] = g;
    buf[54 + 4 * i + 2] = r;
  });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) buf[off + y * rowSize + x] = idx[y][x];
  return buf;
}

const px = (img: Image, x: number, y: number) => Array.from(img.data.subarray((y * img.width + x) * img.channels, (y * img.width + x + 1) * img.channels));

describe('datasets/imageio', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-imageio-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads 24-bit BMP as BGR, bottom-up rows in the right place, odd width row padding', async () => {
    const f = (x: number, y: number): [number, number, number] => [10 * x + 1, 20 * y + 2, 3];
    const img = await decodeImage(bmp24(3, 2, f));
    assert.deepEqual([img.height, img.width, img.channels], [2, 3, 3]);
    assert.deepEqual(px(img, 2, 1), [3, 22, 21]); // B, G, R
    assert.deepEqual(px(img, 0, 0), [3, 2, 1]);
    const rgb = await decodeImage(bmp24(3, 2, f), { channelOrder: 'rgb' });
    assert.deepEqual(px(rgb, 2, 1), [21, 22, 3]);
  });

  it('reads 8-bit palette BMP stored top-down', async () => {
    const img = await decodeImage(bmp8(2, 2, [[255, 0, 0], [0, 0, 255]], [[0, 1], [1, 0]]));
    assert.deepEqual(px(img, 0, 0), [0, 0, 255]);
    assert.deepEqual(px(img, 1, 0), [255, 0, 0]);
    assert.deepEqual(px(img, 0, 1), [255, 0, 0]);
  });

  it('reads binary and ASCII PGM/PPM, grayscale and colour, with comments', async () => {
    const p5 = Buffer.concat([Buffer.from('P5\n# comment\n3 2\n255\n'), Buffer.from([0, 50, 100, 150, 200, 250])]);
    const g = await decodeImage(p5, { flag: 'grayscale' });
    assert.deepEqual([g.height, g.width, g.channels], [2, 3, 1]);
    assert.deepEqual(Array.from(g.data), [0, 50, 100, 150, 200, 250]);
    const c = await decodeImage(p5);
    assert.equal(c.channels, 3);
    assert.deepEqual(px(c, 1, 1), [200, 200, 200]);
    const p3 = Buffer.from('P3 1 1 255\n 10 20 30\n');
    assert.deepEqual(Array.from((await decodeImage(p3)).data), [30, 20, 10]);
    const p2 = Buffer.from('P2 2 1 15\n 0 15\n');
    assert.deepEqual(Array.from((await decodeImage(p2, { flag: 'grayscale' })).data), [0, 255]);
  });

  it('round-trips PNG exactly and converts to gray with OpenCV weights', async () => {
    const img: Image = { data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]), height: 2, width: 2, channels: 3 };
    const png = await encodePng(img);
    const back = await decodeImage(png);
    assert.deepEqual(Array.from(back.data), Array.from(img.data));
    const gray = await decodeImage(png, { flag: 'grayscale' });
    // Y = 0.299 R + 0.587 G + 0.114 B, pixels are BGR
    const expect = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]].map(([b, g, r]) => Math.round(0.299 * r + 0.587 * g + 0.114 * b));
    assert.deepEqual(Array.from(gray.data), expect);
  });

  it('keeps alpha and gray for unchanged, drops them for color', async () => {
    const gray = await encodePng({ data: new Uint8Array([1, 2, 3, 4]), height: 2, width: 2, channels: 1 });
    assert.equal((await decodeImage(gray, { flag: 'unchanged' })).channels, 1);
    assert.equal((await decodeImage(gray)).channels, 3);
    const rgba = await encodePng({ data: new Uint8Array([1, 2, 3, 128]), height: 1, width: 1, channels: 4 });
    const u = await decodeImage(rgba, { flag: 'unchanged' });
    assert.deepEqual(Array.from(u.data), [1, 2, 3, 128]);
    assert.equal((await decodeImage(rgba)).channels, 3);
  });

  it('decodes JPEG close to the encoded pixels', async () => {
    const img: Image = { data: new Uint8Array(16 * 16 * 3).fill(100), height: 16, width: 16, channels: 3 };
    const back = await decodeImage(await encodeJpeg(img, 95));
    assert.ok(Array.from(back.data).every((v) => Math.abs(v - 100) <= 2));
  });

  it('names the file for missing, empty, corrupt and truncated images', async () => {
    const missing = path.join(dir, 'nope.jpg');
    await assert.rejects(readImage(missing), (e: unknown) => e instanceof MmclsError && e.message.includes(missing) && e.code === 'image.missing');
    const empty = path.join(dir, 'empty.png');
    fs.writeFileSync(empty, '');
    await assert.rejects(readImage(empty), (e: unknown) => e instanceof MmclsError && e.message.includes(empty) && /empty/.test(e.message));
    const junk = path.join(dir, 'junk.jpg');
    fs.writeFileSync(junk, 'this is not an image');
    await assert.rejects(readImage(junk), (e: unknown) => e instanceof MmclsError && e.message.includes(junk));
    const jpg = await encodeJpeg({ data: new Uint8Array(32 * 32 * 3).fill(7), height: 32, width: 32, channels: 3 });
    const trunc = path.join(dir, 'trunc.jpg');
    fs.writeFileSync(trunc, jpg.subarray(0, jpg.length - 40));
    await assert.rejects(readImage(trunc), (e: unknown) => e instanceof MmclsError && e.message.includes(trunc));
    const bmpTrunc = path.join(dir, 'trunc.bmp');
    fs.writeFileSync(bmpTrunc, bmp24(8, 8, () => [1, 2, 3]).subarray(0, 100));
    await assert.rejects(readImage(bmpTrunc), (e: unknown) => e instanceof MmclsError && e.message.includes(bmpTrunc) && /truncated/.test(e.message));
    const pgmTrunc = path.join(dir, 'trunc.pgm');
    fs.writeFileSync(pgmTrunc, Buffer.concat([Buffer.from('P5 4 4 255\n'), Buffer.alloc(5)]));
    await assert.rejects(readImage(pgmTrunc), (e: unknown) => e instanceof MmclsError && /truncated/.test(e.message));
  });
});
