import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { Conv2dAdaptivePadding, ConvModule, samePadding } from '../../runtime/nn';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { at, maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from './helpers';

/** TensorFlow's SAME convolution written out: output ceil(H/s) x ceil(W/s), odd padding pixel at the bottom/right. */
function naiveSameConv(x: Float32Array, [n, c, h, w]: number[], wt: Float32Array, [o, cg, kh, kw]: number[], stride: number, groups: number): { data: Float64Array; shape: number[] } {
  const oh = Math.ceil(h / stride);
  const ow = Math.ceil(w / stride);
  const padH = Math.max((oh - 1) * stride + kh - h, 0);
  const padW = Math.max((ow - 1) * stride + kw - w, 0);
  const top = Math.floor(padH / 2);
  const left = Math.floor(padW / 2);
  const out = new Float64Array(n * o * oh * ow);
  const og = o / groups;
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let s = 0;
          const g = Math.floor(oc / og);
          for (let ci = 0; ci < cg; ci++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const y = i * stride - top + u;
                const xx = j * stride - left + v;
                if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                s += x[at([n, c, h, w], [b, g * cg + ci, y, xx])] * wt[at([o, cg, kh, kw], [oc, ci, u, v])];
              }
          out[at([n, o, oh, ow], [b, oc, i, j])] = s;
        }
  return { data: out, shape: [n, o, oh, ow] };
}

describe('Conv2dAdaptivePadding (MMCV, TensorFlow SAME padding)', () => {
  before(useTestBackend);

  it('pads like TensorFlow: the odd pixel goes bottom/right, nothing when the window fits', () => {
    assert.deepEqual(samePadding(224, 3, 2, 1), [0, 1]);
    assert.deepEqual(samePadding(225, 3, 2, 1), [1, 1]);
    assert.deepEqual(samePadding(112, 5, 2, 1), [1, 2]);
    assert.deepEqual(samePadding(7, 1, 1, 1), [0, 0]);
    assert.deepEqual(samePadding(10, 3, 1, 2), [2, 2]);
    assert.deepEqual(samePadding(8, 2, 4, 1), [0, 0]);
  });

  const cases: { name: string; c: number; o: number; k: number; stride: number; groups: number; h: number; w: number }[] = [
    { name: 'stride 2, even input', c: 3, o: 4, k: 3, stride: 2, groups: 1, h: 8, w: 6 },
    { name: 'stride 2, odd input', c: 2, o: 3, k: 3, stride: 2, groups: 1, h: 7, w: 9 },
    { name: 'depth-wise 5x5, stride 2', c: 4, o: 4, k: 5, stride: 2, groups: 4, h: 10, w: 7 },
    { name: 'stride 1', c: 2, o: 2, k: 3, stride: 1, groups: 1, h: 5, w: 5 },
  ];
  for (const cc of cases) {
    it(`${cc.name}: values, output size and FLOPs`, () => {
      const conv = new Conv2dAdaptivePadding({ in_channels: cc.c, out_channels: cc.o, kernel_size: cc.k, stride: cc.stride, groups: cc.groups, padding: cc.k >> 1, bias: false });
      const wShape = [cc.o, cc.c / cc.groups, cc.k, cc.k];
      const wt = seq(wShape.reduce((a, b) => a * b, 1), 3);
      conv.loadStateDict(new Map([['weight', { data: wt, shape: wShape }]]));
      const xShape = [1, cc.c, cc.h, cc.w];
      const x = seq(xShape.reduce((a, b) => a * b, 1), 7);
      const want = naiveSameConv(x, xShape, wt, wShape, cc.stride, cc.groups);
      const y = tf.tidy(() => conv.forward(nchwToNhwc(x, xShape as [number, number, number, number])));
      assert.deepEqual([y.shape[0], y.shape[3], y.shape[1], y.shape[2]], want.shape);
      assert.ok(maxAbsDiff(nhwcToNchw(y), want.data) < 1e-5);
      y.dispose();
      const r = analyzeComplexity(conv, [cc.c, cc.h, cc.w]);
      assert.deepEqual(r.outputShape, want.shape);
      assert.equal(r.flops, want.data.length * (cc.c / cc.groups) * cc.k * cc.k);
    });
  }

  it("is what ConvModule builds for conv_cfg=dict(type='Conv2dAdaptivePadding'), and answers to init_cfg layer='Conv2d'", () => {
    const m = new ConvModule({ in_channels: 3, out_channels: 8, kernel_size: 3, stride: 2, padding: 1, conv_cfg: { type: 'Conv2dAdaptivePadding' }, norm_cfg: { type: 'BN' } });
    assert.ok(m.conv instanceof Conv2dAdaptivePadding);
    assert.ok(m.conv.layerNames().includes('Conv2d'));
    assert.deepEqual(analyzeComplexity(m, [3, 9, 9]).outputShape, [1, 8, 5, 5]);
  });
});
