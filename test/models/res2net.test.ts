import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { Bottle2neck, ImageClassifier, Res2Net } from '../../runtime/models';
import { Module, StateEntry } from '../../runtime/nn';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { at, maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';

const res2net = (backbone: Record<string, unknown>): ImageClassifier =>
  MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone: { type: 'Res2Net', ...backbone },
    neck: { type: 'GlobalAveragePooling' },
    head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 2048 },
  });

/** Gradients of a squared-output loss for every trainable variable: [finite, non-zero] counts. */
function gradStats(m: Module & { forward(x: tf.Tensor): unknown }, x: tf.Tensor): { vars: number; finite: number; nonzero: number } {
  m.train();
  const vars = m.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.mean(tf.square((m.forward(x) as tf.Tensor[])[0])) as tf.Scalar, vars);
  let finite = 0;
  let nonzero = 0;
  for (const v of vars) {
    const a = tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]);
    if (Number.isFinite(a)) finite++;
    if (a > 0) nonzero++;
  }
  value.dispose();
  tf.dispose(Object.values(grads));
  return { vars: vars.length, finite, nonzero };
}

describe('Res2Net', () => {
  it('model zoo parameter counts and FLOPs (Res2Net-50-26w-8s, Res2Net-101-26w-4s)', () => {
    for (const [cfg, params, flops] of [
      [{ depth: 50, scales: 8, base_width: 26, deep_stem: false, avg_down: false }, 48.4, 8.39],
      [{ depth: 101, scales: 4, base_width: 26, deep_stem: false, avg_down: false }, 45.21, 8.12],
    ] as [Record<string, unknown>, number, number][]) {
      const m = res2net(cfg);
      m.eval();
      const r = analyzeComplexity(m, [3, 224, 224]);
      assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
      assert.ok(Math.abs(r.flops / 1e9 - flops) / flops < 0.01, `${r.flops}`);
    }
  });

  it("defaults (deep stem, avg_down): a 1x1 average pooling heads even the stride-1 shortcut, as in MMCls's Res2Layer", () => {
    const keys = res2net({ depth: 50 }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.ok(keys.includes('backbone.stem.0.conv.weight 32x3x3x3'));
    assert.ok(keys.includes('backbone.layer1.0.downsample.1.weight 256x64x1x1'));
    assert.ok(keys.includes('backbone.layer2.0.downsample.1.weight 512x256x1x1'));
    assert.ok(!keys.some((k) => k.startsWith('backbone.layer1.0.downsample.0.weight')));
    // width = floor(64 * 26 / 64) = 26 per scale, 4 scales.
    assert.ok(keys.includes('backbone.layer1.0.conv1.weight 104x64x1x1'));
    assert.ok(keys.includes('backbone.layer1.0.convs.2.weight 26x26x3x3'));
    assert.ok(!keys.some((k) => k.includes('convs.3')));
  });

  it('block key order: conv1, bn1, conv3, bn3, downsample, convs, bns; out_indices shapes of the docstring', () => {
    const m = res2net({ depth: 50, scales: 8, base_width: 14, deep_stem: false, avg_down: false });
    const keys = m.stateDictKeys().map((e) => e.key).filter((k) => k.startsWith('backbone.layer1.0.') && k.endsWith('weight'));
    assert.deepEqual(keys.slice(0, 6), [
      'backbone.layer1.0.conv1.weight', 'backbone.layer1.0.bn1.weight', 'backbone.layer1.0.conv3.weight',
      'backbone.layer1.0.bn3.weight', 'backbone.layer1.0.downsample.0.weight', 'backbone.layer1.0.downsample.1.weight',
    ]);
    assert.equal(keys[6], 'backbone.layer1.0.convs.0.weight');
    assert.equal(keys[13], 'backbone.layer1.0.bns.0.weight');
    const bb = new Res2Net({ depth: 50, scales: 4, base_width: 26, out_indices: [0, 1, 2, 3] });
    assert.deepEqual(analyzeComplexity(bb, [3, 32, 32]).outputShape, [[1, 256, 8, 8], [1, 512, 4, 4], [1, 1024, 2, 2], [1, 2048, 1, 1]]);
    assert.throws(() => new Res2Net({ depth: 34 as 50 }), /invalid depth 34/);
    assert.throws(() => new Res2Net({ depth: 50, scales: 1 }), /degenerates to ResNet/);
  });

  describe('the hierarchical split, checked with identity convolutions', () => {
    before(useTestBackend);

    /** Weights that make every conv an identity (3x3: centre tap) and every batch norm exact identity. */
    function identityState(b: Bottle2neck): Map<string, StateEntry> {
      const out = new Map<string, StateEntry>();
      for (const { key, shape } of b.stateDictKeys()) {
        const n = shape.reduce((a, v) => a * v, 1);
        const d = new Float32Array(n);
        if (key.endsWith('num_batches_tracked')) {
          out.set(key, { data: new BigInt64Array(1), shape, dtype: 'int64' });
          continue;
        }
        if (key.endsWith('running_var')) d.fill(1 - 1e-5);
        else if (key.endsWith('.weight') && shape.length === 1) d.fill(1);
        else if (key.endsWith('.weight')) {
          const [o, , kh, kw] = shape;
          for (let i = 0; i < o; i++) d[at(shape, [i, i, kh >> 1, kw >> 1])] = 1;
        }
        out.set(key, { data: d, shape });
      }
      return out;
    }

    for (const stageType of ['normal', 'stage'] as const) {
      it(`${stageType} block: group i is ${stageType === 'normal' ? 'x0 + ... + xi, the last group passes' : 'xi, the last group is 3x3-average-pooled'}`, () => {
        const c = 8;
        const [h, w] = [4, 5];
        const b = new Bottle2neck({ in_channels: c, out_channels: c, scales: 4, base_width: 64, base_channels: 64, stage_type: stageType });
        assert.equal(b.width, 2);
        b.loadStateDict(identityState(b));
        b.eval();
        // Positive input: every ReLU passes it through.
        const x = seq(c * h * w, 5).map((v) => v + 1.5);
        const y = tf.tidy(() => b.forward(nchwToNhwc(x, [1, c, h, w])));
        const got = nhwcToNchw(y);
        y.dispose();
        const want = new Float64Array(c * h * w);
        const xv = (ch: number, i: number, j: number): number => x[at([1, c, h, w], [0, ch, i, j])];
        for (let ch = 0; ch < c; ch++) {
          const g = Math.floor(ch / 2);
          const k = ch % 2;
          for (let i = 0; i < h; i++)
            for (let j = 0; j < w; j++) {
              let r: number;
              if (g === 3) {
                if (stageType === 'normal') r = xv(ch, i, j);
                else {
                  // AvgPool2d(3, stride 1, padding 1), count_include_pad: always divided by 9.
                  r = 0;
                  for (let u = i - 1; u <= i + 1; u++) for (let v = j - 1; v <= j + 1; v++) if (u >= 0 && u < h && v >= 0 && v < w) r += xv(ch, u, v);
                  r /= 9;
                }
              } else if (stageType === 'stage') r = xv(ch, i, j);
              else {
                r = 0;
                for (let gg = 0; gg <= g; gg++) r += xv(gg * 2 + k, i, j);
              }
              want[at([1, c, h, w], [0, ch, i, j])] = r + xv(ch, i, j);
            }
        }
        assert.ok(maxAbsDiff(got, want) < 1e-5, `max diff ${maxAbsDiff(got, want)}`);
      });
    }

    it('training: every parameter of two stages (deep stem, avg_down) gets a finite, non-zero gradient', () => {
      const m = new Res2Net({ depth: 50, num_stages: 2, strides: [1, 2], dilations: [1, 1], out_indices: [1], zero_init_residual: false });
      m.initWeights();
      const x = tf.tensor4d(seq(2 * 24 * 24 * 3, 9), [2, 24, 24, 3]);
      const r = gradStats(m, x);
      x.dispose();
      m.dispose();
      assert.equal(r.vars, 120);
      assert.deepEqual([r.finite, r.nonzero], [r.vars, r.vars]);
    });
  });
});
