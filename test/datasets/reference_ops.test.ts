// Pixel operations against OpenCV 4.14 and Pillow 11.3 outputs (test/fixtures/datasets/reference_ops.json,
// written by make_reference_ops.py beside it; MMCV's photometric functions are re-implemented there
// in NumPy/OpenCV exactly as mmcv 2.0 writes them).
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { adjustBrightness, adjustColor, adjustContrast, adjustHue, adjustSharpness, autoContrast, equalize, resize, rotate, shear, translate } from '../../runtime/datasets/imgops';
import { bgr2gray, Image } from '../../runtime/datasets/image';
import { decodeImage } from '../../runtime/datasets/imageio';

interface Case {
  kind: string;
  params: Record<string, never>;
  src: string | null;
  dst: { shape: number[]; data: number[] };
  gray?: number[];
}
const ref = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'datasets', 'reference_ops.json'), 'utf8')) as {
  sources: Record<string, { shape: number[]; data: number[] }>;
  cases: Case[];
};

/**
 * Largest difference allowed. Exact everywhere except: OpenCV's 8-bit INTER_LINEAR / INTER_CUBIC
 * resize (its optimised paths round a few pixels differently: at most 1), the bicubic warp (1), and
 * grayscale decoding of JPEG, where libjpeg hands OpenCV the luma plane directly while we convert
 * the decoded colour image (a few levels; colour decoding is exact).
 */
function tolerance(c: Case): number {
  if (c.kind === 'resize_cv2' && (c.params.interpolation === 'bilinear' || c.params.interpolation === 'bicubic')) return 1;
  if ((c.kind === 'rotate' || c.kind === 'shear' || c.kind === 'translate') && c.params.interpolation === 'bicubic') return 1;
  return 0;
}

async function apply(c: Case, src: Image | null): Promise<Image> {
  const p = c.params as Record<string, never>;
  switch (c.kind) {
    case 'resize_cv2':
      return resize(src!, p.width, p.height, p.interpolation, 'cv2');
    case 'resize_pillow':
      return resize(src!, p.width, p.height, p.interpolation, 'pillow');
    case 'rotate':
      return rotate(src!, p.angle, { borderValue: p.border, interpolation: p.interpolation });
    case 'shear':
      return shear(src!, p.magnitude, p.direction, p.border, p.interpolation);
    case 'translate':
      return translate(src!, p.offset, p.direction, p.border, p.interpolation);
    case 'bgr2gray':
      return bgr2gray(src!);
    case 'brightness_cv2':
      return adjustBrightness(src!, p.factor, 'cv2');
    case 'contrast_cv2':
      return adjustContrast(src!, p.factor, 'cv2');
    case 'color_cv2':
      return adjustColor(src!, p.factor, 'cv2');
    case 'brightness_pillow':
      return adjustBrightness(src!, p.factor, 'pillow');
    case 'contrast_pillow':
      return adjustContrast(src!, p.factor, 'pillow');
    case 'color_pillow':
      return adjustColor(src!, p.factor, 'pillow');
    case 'sharpness':
      return adjustSharpness(src!, p.factor);
    case 'auto_contrast':
      return autoContrast(src!);
    case 'equalize':
      return equalize(src!);
    case 'hue':
      return adjustHue(src!, p.factor);
    case 'jpeg_decode':
      return decodeImage(Buffer.from(p.jpeg as string, 'base64'));
    default:
      throw new Error(`unknown case ${c.kind}`);
  }
}

describe('datasets/reference ops (OpenCV and Pillow outputs)', () => {
  it(`has the reference cases`, () => assert.ok(ref.cases.length >= 90));
  for (const [i, c] of ref.cases.entries()) {
    const label = `${c.kind} ${JSON.stringify({ ...c.params, jpeg: undefined })}`;
    it(`#${i} ${label}`, async () => {
      const s = c.src ? ref.sources[c.src] : null;
      const src: Image | null = s ? { data: Uint8Array.from(s.data), height: s.shape[0], width: s.shape[1], channels: s.shape[2] ?? 1 } : null;
      const out = await apply(c, src);
      assert.deepEqual([out.height, out.width, out.channels], [c.dst.shape[0], c.dst.shape[1], c.dst.shape[2] ?? 1]);
      const tol = tolerance(c);
      let worst = 0;
      for (let k = 0; k < c.dst.data.length; k++) worst = Math.max(worst, Math.abs(out.data[k] - c.dst.data[k]));
      assert.ok(worst <= tol, `max difference ${worst} > ${tol}`);
      if (c.kind === 'jpeg_decode' && c.gray) {
        const g = await decodeImage(Buffer.from(c.params.jpeg as string, 'base64'), { flag: 'grayscale' });
        let gw = 0;
        for (let k = 0; k < c.gray.length; k++) gw = Math.max(gw, Math.abs(g.data[k] - c.gray[k]));
        assert.ok(gw <= 10, `grayscale max difference ${gw}`);
      }
    });
  }
});
