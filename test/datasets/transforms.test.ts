import { strict as assert } from 'assert';
import '../../runtime/datasets/transforms';
import { TRANSFORMS } from '../../runtime/registry';
import { BaseTransform, Results, RNG_KEY } from '../../runtime/datasets/transforms';
import { RandomResizedCrop } from '../../runtime/datasets/transforms/processing';
import { Image, imageFromRows, imageToRows } from '../../runtime/datasets/image';
import { Rng, sampleRng } from '../../runtime/datasets/rng';
import { resize } from '../../runtime/datasets/imgops';
import { ClsDataSample } from '../../runtime/structures';
import { MmclsError } from '../../runtime/errors';

const build = (cfg: Record<string, unknown>) => TRANSFORMS.build<BaseTransform>(cfg);
async function run(cfg: Record<string, unknown>, img: Image, seed = 0, extra: Results = {}): Promise<Results> {
  const r = await build(cfg).call({ img, img_shape: [img.height, img.width], [RNG_KEY]: new Rng(seed), ...extra });
  assert.ok(r);
  return r;
}
const gray = (rows: number[][]) => imageFromRows(rows);
const plane = (img: Image, c = 0) => imageToRows(img).map((row) => row.map((p) => p[c]));
const grid = (h: number, w: number, f: (x: number, y: number) => number) => gray(Array.from({ length: h }, (_, y) => Array.from({ length: w }, (_, x) => f(x, y))));

/** Half-pixel-centre bilinear with replicated borders, in float64: OpenCV's definition. */
function bilinearRef(src: number[][], ow: number, oh: number): number[][] {
  const h = src.length;
  const w = src[0].length;
  const coord = (d: number, s: number, o: number) => {
    let f = (d + 0.5) * (s / o) - 0.5;
    let i = Math.floor(f);
    f -= i;
    if (i < 0) [i, f] = [0, 0];
    if (i >= s - 1) [i, f] = [s - 1, 0];
    return [i, f];
  };
  return Array.from({ length: oh }, (_, y) => {
    const [y0, fy] = coord(y, h, oh);
    return Array.from({ length: ow }, (_, x) => {
      const [x0, fx] = coord(x, w, ow);
      const v = (i: number, j: number) => src[Math.min(h - 1, i)][Math.min(w - 1, j)];
      return (1 - fy) * ((1 - fx) * v(y0, x0) + fx * v(y0, x0 + 1)) + fy * ((1 - fx) * v(y0 + 1, x0) + fx * v(y0 + 1, x0 + 1));
    });
  });
}

function near(a: number[][], b: number[][], tol: number) {
  assert.equal(a.length, b.length);
  a.forEach((row, y) => row.forEach((v, x) => assert.ok(Math.abs(v - b[y][x]) <= tol, `(${x},${y}): ${v} vs ${b[y][x]}`)));
}

describe('datasets/transforms', () => {
  describe('resize', () => {
    const src = Array.from({ length: 6 }, (_, y) => Array.from({ length: 7 }, (_, x) => (x * 37 + y * 23 + x * y * 5) % 256));
    it('cv2 bilinear matches the half-pixel formula within 1 (fixed-point rounding)', () => {
      for (const [ow, oh] of [[3, 2], [10, 9], [7, 13], [4, 6]]) {
        near(plane(resize(gray(src), ow, oh, 'bilinear', 'cv2')), bilinearRef(src, ow, oh), 1);
      }
    });
    it('cv2 nearest takes floor(dx * src / dst); pillow nearest floor((dx + 0.5) * src / dst)', () => {
      const row = [[10, 20, 30, 40, 50, 60]];
      assert.deepEqual(plane(resize(gray(row), 3, 1, 'nearest', 'cv2')), [[10, 30, 50]]);
      assert.deepEqual(plane(resize(gray(row), 3, 1, 'nearest', 'pillow')), [[20, 40, 60]]);
      assert.deepEqual(plane(resize(gray([[1, 2]]), 4, 1, 'nearest', 'cv2')), [[1, 1, 2, 2]]);
    });
    it('cv2 area averages whole blocks when shrinking by 2 (rounding half up, as its fast path)', () => {
      const img = grid(4, 4, (x, y) => x * 10 + y * 3);
      const expect = [[0, 1], [2, 3]].map((r) => r.map(() => 0));
      for (let by = 0; by < 2; by++) for (let bx = 0; bx < 2; bx++) {
        let s = 0;
        for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) s += (2 * bx + x) * 10 + (2 * by + y) * 3;
        expect[by][bx] = Math.round(s / 4);
      }
      assert.deepEqual(plane(resize(img, 2, 2, 'area')), expect);
    });
    it('cv2 area with a fractional factor weights partial pixels', () => {
      // 3 -> 2: output 0 covers [0, 1.5): 1 * p0 + 0.5 * p1 over 1.5
      const out = plane(resize(gray([[30, 60, 90]]), 2, 1, 'area'));
      assert.deepEqual(out, [[Math.round((30 + 0.5 * 60) / 1.5), Math.round((0.5 * 60 + 90) / 1.5)]]);
    });
    it('pillow bilinear antialiases: a triangle filter stretched by the shrink factor', () => {
      const row = [0, 40, 80, 120, 160, 200, 240, 250];
      const out = plane(resize(gray([row]), 4, 1, 'bilinear', 'pillow'))[0];
      // scale 2: support 2, centre (i + 0.5) * 2, weight(x) = max(0, 1 - |x + 0.5 - centre| / 2)
      const expect = [0, 1, 2, 3].map((i) => {
        const c = (i + 0.5) * 2;
        let s = 0;
        let ws = 0;
        for (let x = 0; x < row.length; x++) {
          const w = Math.max(0, 1 - Math.abs(x + 0.5 - c) / 2);
          s += w * row[x];
          ws += w;
        }
        return Math.round(s / ws);
      });
      near([out], [expect], 1);
    });
    it('bicubic and lanczos keep constant images constant and reproduce linear ramps inside', () => {
      for (const interp of ['bicubic', 'lanczos'] as const) {
        for (const backend of ['cv2', 'pillow'] as const) {
          assert.ok(plane(resize(grid(5, 5, () => 77), 9, 3, interp, backend)).flat().every((v) => v === 77), `${interp} ${backend}`);
        }
      }
    });
    it('float images resize without rounding', () => {
      const img = imageFromRows([[0, 1]], true);
      const out = resize(img, 4, 1, 'bilinear');
      assert.deepEqual(Array.from(out.data), [0, 0.25, 0.75, 1]);
    });
  });

  describe('Resize, ResizeEdge, crops', () => {
    it('Resize to a fixed scale (w, h) records scale_factor (w, h)', async () => {
      const r = await run({ type: 'Resize', scale: [6, 2] }, grid(4, 3, () => 5));
      assert.deepEqual(r.img_shape, [2, 6]);
      assert.deepEqual(r.scale_factor, [2, 0.5]);
      assert.equal(r.keep_ratio, false);
    });
    it('Resize keep_ratio fits the long and short edge limits', async () => {
      const r = await run({ type: 'Resize', scale: [40, 1000], keep_ratio: true }, grid(50, 100, () => 1));
      // factor = min(1000 / 100, 40 / 50) = 0.8
      assert.deepEqual(r.img_shape, [40, 80]);
      assert.deepEqual(r.scale_factor, [0.8, 0.8]);
    });
    it('Resize needs scale or scale_factor', () => {
      assert.throws(() => build({ type: 'Resize' }), MmclsError);
      assert.throws(() => build({ type: 'Resize', scale: 4, interpolation: 'cubic' }), /interpolation/);
    });
    it('ResizeEdge resizes the chosen edge and floors the other', async () => {
      const img = grid(375, 500, () => 0);
      assert.deepEqual((await run({ type: 'ResizeEdge', scale: 256 }, img)).img_shape, [256, Math.floor((256 * 500) / 375)]);
      assert.deepEqual((await run({ type: 'ResizeEdge', scale: 256, edge: 'long' }, img)).img_shape, [Math.floor((256 * 375) / 500), 256]);
      assert.deepEqual((await run({ type: 'ResizeEdge', scale: 100, edge: 'height' }, img)).img_shape, [100, Math.floor((100 * 500) / 375)]);
    });
    it('CenterCrop rounds the offset half to even like Python and clips to the image', async () => {
      const img = grid(4, 5, (x, y) => 10 * y + x);
      // x1 = round((5 - 2) / 2) = round(1.5) = 2, y1 = round(1) = 1
      assert.deepEqual(plane((await run({ type: 'CenterCrop', crop_size: 2 }, img)).img as Image), [[12, 13], [22, 23]]);
      // crop_size is (w, h)
      assert.deepEqual((await run({ type: 'CenterCrop', crop_size: [3, 1] }, img)).img_shape, [1, 3]);
      assert.deepEqual((await run({ type: 'CenterCrop', crop_size: 10 }, img)).img_shape, [4, 5]);
      const padded = await run({ type: 'CenterCrop', crop_size: 6, auto_pad: true }, img);
      assert.deepEqual(padded.img_shape, [6, 6]);
    });
    it('EfficientNetCenterCrop crops crop_size / (crop_size + padding) of the short edge', async () => {
      const img = grid(256, 300, (x, y) => (x + y) % 256);
      const r = await run({ type: 'EfficientNetCenterCrop', crop_size: 224 }, img);
      // crop = 224 / 256 * 256 = 224 pixels at x = round(76 / 2) = 38, y = round(32 / 2) = 16, then resized to 224: unchanged
      const p = plane(r.img as Image);
      assert.equal(p.length, 224);
      assert.equal(p[0][0], (38 + 16) % 256);
      assert.equal(p[223][223], (38 + 223 + 16 + 223) % 256);
    });
    it('RandomCrop pads with constant, edge, reflect and symmetric like numpy.pad', async () => {
      const row = gray([[1, 2, 3]]);
      const cases: Record<string, number[]> = {
        constant: [9, 9, 1, 2, 3, 9, 9],
        edge: [1, 1, 1, 2, 3, 3, 3],
        reflect: [3, 2, 1, 2, 3, 2, 1],
        symmetric: [2, 1, 1, 2, 3, 3, 2],
      };
      for (const [mode, expect] of Object.entries(cases)) {
        const r = await run({ type: 'RandomCrop', crop_size: [1, 7], padding: [2, 0], pad_val: 9, padding_mode: mode }, row);
        assert.deepEqual(plane(r.img as Image)[0], expect, mode);
      }
    });
    it('RandomCrop takes every offset with equal frequency', async () => {
      const img = grid(1, 4, (x) => x);
      const counts = [0, 0, 0];
      for (let s = 0; s < 900; s++) counts[plane((await run({ type: 'RandomCrop', crop_size: [1, 2] }, img, s)).img as Image)[0][0]]++;
      for (const c of counts) assert.ok(c > 240 && c < 360, JSON.stringify(counts));
      const p = await run({ type: 'RandomCrop', crop_size: 4, pad_if_needed: true }, grid(2, 2, () => 1));
      assert.deepEqual(p.img_shape, [4, 4]);
    });
    it('RandomResizedCrop: same seed same crop, crops within the ranges, size (h, w)', async () => {
      const img = grid(60, 80, (x, y) => (x * 3 + y) % 256);
      const a = await run({ type: 'RandomResizedCrop', scale: [10, 12] }, img, 42);
      const b = await run({ type: 'RandomResizedCrop', scale: [10, 12] }, img, 42);
      assert.deepEqual(a.img_shape, [10, 12]);
      assert.deepEqual(Array.from((a.img as Image).data), Array.from((b.img as Image).data));
      const t = build({ type: 'RandomResizedCrop', scale: 8 }) as RandomResizedCrop;
      let small = 0;
      let large = 0;
      for (let s = 0; s < 500; s++) {
        const [oh, ow, th, tw] = t.randCropParams(img, { [RNG_KEY]: new Rng(s) });
        assert.ok(oh >= 0 && ow >= 0 && oh + th <= 60 && ow + tw <= 80);
        const frac = (th * tw) / (60 * 80);
        assert.ok(frac >= 0.07 && frac <= 1.0001, String(frac));
        const ar = tw / th;
        assert.ok(ar > 0.7 && ar < 1.45, String(ar));
        if (frac < 0.3) small++;
        if (frac > 0.7) large++;
      }
      assert.ok(small > 50 && large > 30, `${small} ${large}`);
    });
    it('RandomResizedCrop falls back to a central crop when no attempt fits', async () => {
      const t = build({ type: 'RandomResizedCrop', scale: 4, max_attempts: 0 }) as RandomResizedCrop;
      // w / h = 3 > 4/3: th = h, tw = round(h * 4/3)
      assert.deepEqual(t.randCropParams(grid(30, 90, () => 0), { [RNG_KEY]: new Rng(0) }), [0, Math.floor((90 - 40) / 2), 30, 40]);
    });
    it('EfficientNetRandomCrop builds with MMCls defaults and gives the output size', async () => {
      const r = await run({ type: 'EfficientNetRandomCrop', scale: 16 }, grid(40, 50, (x) => x), 3);
      assert.deepEqual(r.img_shape, [16, 16]);
      assert.throws(() => build({ type: 'EfficientNetRandomCrop', scale: [16, 16] }), MmclsError);
    });
  });

  describe('flip, colour, normalise', () => {
    it('RandomFlip with prob 1 flips in the given direction and records it', async () => {
      const img = grid(2, 3, (x, y) => 10 * y + x);
      const h = await run({ type: 'RandomFlip', prob: 1.0 }, img);
      assert.deepEqual(plane(h.img as Image), [[2, 1, 0], [12, 11, 10]]);
      assert.equal(h.flip, true);
      assert.equal(h.flip_direction, 'horizontal');
      const v = await run({ type: 'RandomFlip', prob: 1.0, direction: 'vertical' }, img);
      assert.deepEqual(plane(v.img as Image), [[10, 11, 12], [0, 1, 2]]);
      const d = await run({ type: 'RandomFlip', prob: 1.0, direction: 'diagonal' }, img);
      assert.deepEqual(plane(d.img as Image), [[12, 11, 10], [2, 1, 0]]);
    });
    it('RandomFlip flips about prob of the time and splits a list of directions', async () => {
      let flips = 0;
      for (let s = 0; s < 1000; s++) if ((await run({ type: 'RandomFlip', prob: 0.3 }, grid(1, 2, (x) => x), s)).flip) flips++;
      assert.ok(flips > 250 && flips < 350, String(flips));
      const seen: Record<string, number> = {};
      for (let s = 0; s < 1000; s++) {
        const r = await run({ type: 'RandomFlip', prob: [0.2, 0.5], direction: ['horizontal', 'vertical'] }, grid(1, 2, (x) => x), s);
        seen[String(r.flip_direction)] = (seen[String(r.flip_direction)] ?? 0) + 1;
      }
      assert.ok(seen.horizontal > 150 && seen.horizontal < 250 && seen.vertical > 440 && seen.vertical < 560 && seen.null > 250, JSON.stringify(seen));
      assert.throws(() => build({ type: 'RandomFlip' }), MmclsError);
    });
    it('Normalize subtracts mean, divides by std, swaps BGR to RGB', async () => {
      const img = imageFromRows([[[10, 20, 30]]]);
      const r = await run({ type: 'Normalize', mean: [1, 2, 3], std: [2, 4, 5], to_rgb: true }, img);
      const out = Array.from((r.img as Image).data);
      const expect = [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 5];
      out.forEach((v, i) => assert.ok(Math.abs(v - expect[i]) < 1e-6));
      assert.deepEqual(r.img_norm_cfg, { mean: [1, 2, 3], std: [2, 4, 5], to_rgb: true });
    });
    it('RandomGrayscale with prob 1 averages channels (truncated), keep_channels repeats it', async () => {
      const img = imageFromRows([[[10, 20, 31]]]);
      const one = await run({ type: 'RandomGrayscale', prob: 1 }, img);
      assert.deepEqual(Array.from((one.img as Image).data), [20]);
      const three = await run({ type: 'RandomGrayscale', prob: 1, keep_channels: true, channel_weights: [1, 0, 1] }, img);
      assert.deepEqual(Array.from((three.img as Image).data), [20, 20, 20]);
      const none = await run({ type: 'RandomGrayscale', prob: 0 }, img);
      assert.deepEqual(Array.from((none.img as Image).data), [10, 20, 31]);
    });
    it('ColorJitter brightness scales every pixel by one factor in [1 - b, 1 + b]', async () => {
      const img = imageFromRows([[[100, 100, 100], [200, 50, 10]]]);
      const factors: number[] = [];
      for (let s = 0; s < 200; s++) {
        const out = Array.from(((await run({ type: 'ColorJitter', brightness: 0.5 }, img, s)).img as Image).data);
        const f = out[0] / 100;
        assert.ok(f >= 0.5 - 0.01 && f <= 1.5);
        assert.ok(Math.abs(out[4] - Math.min(255, 50 * f)) <= 1.01, `${out} ${f}`);
        factors.push(f);
      }
      assert.ok(Math.min(...factors) < 0.6 && Math.max(...factors) > 1.4);
    });
    it('ColorJitter saturation 0 gives gray (Pillow L weights), hue keeps gray pixels', async () => {
      const img = imageFromRows([[[30, 60, 200]]]);
      const r = await run({ type: 'ColorJitter', saturation: [0, 0] }, img);
      const L = Math.floor((200 * 19595 + 60 * 38470 + 30 * 7471 + 0x8000) / 65536);
      assert.deepEqual(Array.from((r.img as Image).data), [L, L, L]);
      const g = await run({ type: 'ColorJitter', hue: 0.3 }, imageFromRows([[[90, 90, 90]]]), 5);
      assert.deepEqual(Array.from((g.img as Image).data), [90, 90, 90]);
      assert.throws(() => build({ type: 'ColorJitter', hue: 0.7 }), MmclsError);
    });
    it('Lighting adds eigvec * (alpha * eigval) with alpha ~ N(0, alphastd) from the sample RNG', async () => {
      const img = imageFromRows([[[100, 100, 100]]], true);
      const eigvec = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
      const r = await run({ type: 'Lighting', eigval: [10, 20, 30], eigvec, alphastd: 1 }, img, 9);
      const rng = new Rng(9);
      const alpha = [rng.normal(0, 1), rng.normal(0, 1), rng.normal(0, 1)];
      const out = Array.from((r.img as Image).data);
      out.forEach((v, i) => assert.ok(Math.abs(v - (100 + alpha[i] * [10, 20, 30][i])) < 1e-3));
    });
    it('RandomErasing with erase_prob 1 fills one box of fill_color covering the allowed area', async () => {
      for (let s = 0; s < 20; s++) {
        const img = grid(20, 20, () => 0);
        const rgb = imageFromRows(imageToRows(img).map((r) => r.map(() => [0, 0, 0])));
        const out = imageToRows((await run({ type: 'RandomErasing', erase_prob: 1 }, rgb, s)).img as Image);
        const filled = out.flat().filter((p) => p[0] === 128 && p[1] === 128 && p[2] === 128).length;
        assert.ok(filled >= 0.02 * 400 * 0.5 && filled <= 400 / 3 + 40, String(filled));
      }
    });
  });

  describe('auto augment', () => {
    const ramp = imageFromRows(Array.from({ length: 2 }, (_, y) => Array.from({ length: 255 }, (_, x) => [x, (x + 7 * y) % 256, 255 - x])));
    it('Posterize, Solarize, SolarizeAdd, Invert with prob 1 map every value by formula', async () => {
      const img = gray([[0, 17, 127, 128, 200, 255]]);
      assert.deepEqual(plane((await run({ type: 'Posterize', bits: 4, prob: 1 }, img)).img as Image)[0], [0, 16, 112, 128, 192, 240]);
      assert.deepEqual(plane((await run({ type: 'Solarize', thr: 128, prob: 1 }, img)).img as Image)[0], [0, 17, 127, 127, 55, 0]);
      assert.deepEqual(plane((await run({ type: 'SolarizeAdd', magnitude: 100, prob: 1 }, img)).img as Image)[0], [100, 117, 227, 128, 200, 255]);
      assert.deepEqual(plane((await run({ type: 'Invert', prob: 1 }, img)).img as Image)[0], [255, 238, 128, 127, 55, 0]);
      assert.deepEqual(plane((await run({ type: 'Invert', prob: 0 }, img)).img as Image)[0], [0, 17, 127, 128, 200, 255]);
    });
    it('Equalize: values 0..254 twice each map to min(2v, 255)', async () => {
      const img = gray([Array.from({ length: 255 }, (_, i) => i), Array.from({ length: 255 }, (_, i) => i)]);
      const out = plane((await run({ type: 'Equalize', prob: 1 }, img)).img as Image)[0];
      assert.deepEqual(out, out.map((_, v) => Math.min(2 * v, 255)));
    });
    it('AutoContrast stretches [50, 150] to [0, 255]', async () => {
      const img = gray([[50, 100, 150]]);
      assert.deepEqual(plane((await run({ type: 'AutoContrast', prob: 1 }, img)).img as Image)[0], [0, Math.trunc(50 * 2.55), 255]);
    });
    it('Rotate 90 degrees clockwise about the centre with nearest', async () => {
      const img = grid(3, 3, (x, y) => 3 * y + x + 1);
      const r = await run({ type: 'Rotate', angle: 90, prob: 1, random_negative_prob: 0 }, img);
      assert.deepEqual(plane(r.img as Image), [[7, 4, 1], [8, 5, 2], [9, 6, 3]]);
    });
    it('Translate by one pixel and Shear 0 / magnitude 1', async () => {
      const img = grid(2, 4, (x, y) => 10 * y + x + 1);
      const t = await run({ type: 'Translate', magnitude: 0.25, prob: 1, random_negative_prob: 0, pad_val: 0 }, img);
      assert.deepEqual(plane(t.img as Image), [[0, 1, 2, 3], [0, 11, 12, 13]]);
      const s = await run({ type: 'Shear', magnitude: 0, prob: 1, interpolation: 'nearest' }, img);
      assert.deepEqual(plane(s.img as Image), plane(img));
      // dst(x, y) = src(x - y, y)
      const s1 = await run({ type: 'Shear', magnitude: 1, prob: 1, random_negative_prob: 0, interpolation: 'nearest', pad_val: 0 }, img);
      assert.deepEqual(plane(s1.img as Image), [[1, 2, 3, 4], [0, 11, 12, 13]]);
    });
    it('Brightness, Contrast, ColorTransform, Sharpness with magnitude 0 leave the image unchanged', async () => {
      for (const type of ['Brightness', 'Contrast', 'ColorTransform', 'Sharpness']) {
        const r = await run({ type, magnitude: 0, prob: 1 }, ramp);
        assert.deepEqual(Array.from((r.img as Image).data), Array.from(ramp.data), type);
      }
      const b = await run({ type: 'Brightness', magnitude: 0.5, prob: 1, random_negative_prob: 0 }, gray([[100, 200]]));
      assert.deepEqual(plane(b.img as Image)[0], [150, 255]);
    });
    it('Cutout fills a box of the given shape with pad_val', async () => {
      const r = await run({ type: 'Cutout', shape: 2, prob: 1, pad_val: 9 }, grid(6, 6, () => 0));
      const n = plane(r.img as Image).flat().filter((v) => v === 9).length;
      assert.ok(n >= 1 && n <= 4);
    });
    it('a magnitude comes from magnitude_range, exactly one of the two must be set', () => {
      assert.throws(() => build({ type: 'Rotate' }), /only one of `angle` and `magnitude_range`/);
      assert.throws(() => build({ type: 'Rotate', angle: 3, magnitude_range: [0, 30] }), MmclsError);
      assert.throws(() => build({ type: 'Posterize', bits: 9 }), MmclsError);
    });
    it('RandAugment timm_increasing: seeded, magnitude level maps into each range', async () => {
      const cfg = { type: 'RandAugment', policies: 'timm_increasing', num_policies: 2, magnitude_level: 9, magnitude_std: 0.5 };
      const a = await run(cfg, ramp, 11);
      const b = await run(cfg, ramp, 11);
      assert.deepEqual(Array.from((a.img as Image).data), Array.from((b.img as Image).data));
      let changed = 0;
      for (let s = 0; s < 30; s++) {
        const r = await run(cfg, ramp, s);
        if (Array.from((r.img as Image).data).some((v, i) => v !== ramp.data[i])) changed++;
      }
      assert.ok(changed > 10, String(changed));
      const t = build(cfg) as unknown as { policies: Record<string, unknown>[] };
      assert.equal(t.policies.length, 15);
      assert.equal(t.policies.find((p) => p.type === 'Rotate')?.pad_val, 128);
      assert.equal(t.policies.find((p) => p.type === 'Rotate')?.magnitude_level, 9);
      assert.equal(t.policies.find((p) => p.type === 'Invert')?.pad_val, undefined);
      assert.throws(() => build({ ...cfg, policies: 'nope' }), /Invalid policies/);
    });
    it('AutoAugment imagenet: 25 sub-policies, seeded', async () => {
      const t = build({ type: 'AutoAugment', policies: 'imagenet' }) as unknown as { policies: unknown[][] };
      assert.equal(t.policies.length, 25);
      const a = await run({ type: 'AutoAugment', policies: 'imagenet' }, ramp, 4);
      const b = await run({ type: 'AutoAugment', policies: 'imagenet' }, ramp, 4);
      assert.deepEqual(Array.from((a.img as Image).data), Array.from((b.img as Image).data));
    });
  });

  describe('formatting', () => {
    it('PackClsInputs packs the image and a ClsDataSample with gt_label and meta keys', async () => {
      const img = grid(2, 2, () => 1);
      const r = await build({ type: 'PackClsInputs' }).call({ img, gt_label: 3, img_path: 'a.png', img_shape: [2, 2], other: 1 });
      const packed = r as Results;
      assert.equal(packed.inputs, img);
      const ds = packed.data_samples as ClsDataSample;
      assert.deepEqual(ds.gt_label?.label, [3]);
      assert.equal(ds.get('img_path'), 'a.png');
      assert.equal(ds.get('other'), undefined);
    });
    it('Collect, Transpose, ToNumpy', async () => {
      const img = imageFromRows([[[1, 2], [3, 4]]]);
      const r = (await build({ type: 'Transpose', keys: ['img'], order: [2, 0, 1] }).call({ img })) as Results;
      assert.deepEqual((r.img as { shape: number[] }).shape, [2, 1, 2]);
      assert.deepEqual(Array.from((r.img as { data: Uint8Array }).data), [1, 3, 2, 4]);
      const c = (await build({ type: 'Collect', keys: ['a'] }).call({ a: 1, b: 2 })) as Results;
      assert.deepEqual(c, { a: 1 });
      assert.throws(() => build({ type: 'Collect', keys: ['z'] }).call({ a: 1 }), /"z"/);
      const n = (await build({ type: 'ToNumpy', keys: ['x'] }).call({ x: [[1, 2], [3, 4]] })) as Results;
      assert.deepEqual((n.x as { shape: number[] }).shape, [2, 2]);
    });
    it('Compose runs in order and stops at null', async () => {
      const r = await build({ type: 'Compose', transforms: [{ type: 'RandomFlip', prob: 1.0 }, { type: 'PackClsInputs' }] }).call({ img: grid(1, 2, (x) => x), [RNG_KEY]: sampleRng(0, 0, 0) });
      assert.deepEqual(Array.from(((r as Results).inputs as Image).data), [1, 0]);
    });
  });
});
