import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, MobileViT, MobileVitBlock } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';
import { configFigures } from './config_figures';

/** PyTorch's bilinear resize with align_corners=False on one NHWC image (by its formula). */
function resize(x: Float32Array, h: number, w: number, c: number, oh: number, ow: number): Float32Array {
  const out = new Float32Array(oh * ow * c);
  const src = (d: number, inS: number, outS: number): [number, number, number] => {
    const s = Math.max(((d + 0.5) * inS) / outS - 0.5, 0);
    const i0 = Math.floor(s);
    return [i0, Math.min(i0 + 1, inS - 1), s - i0];
  };
  for (let i = 0; i < oh; i++) {
    const [y0, y1, ly] = src(i, h, oh);
    for (let j = 0; j < ow; j++) {
      const [x0, x1, lx] = src(j, w, ow);
      for (let k = 0; k < c; k++) {
        const v = (a: number, b: number): number => x[(a * w + b) * c + k];
        out[(i * ow + j) * c + k] = (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1));
      }
    }
  }
  return out;
}

describe('MobileViT', function () {
  this.timeout(60000);
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 256x256 (the configs\' test size)', () => {
    // zoo: 1.27 / 2.32 / 5.58 M parameters, 0.42 / 1.05 / 2.03 G FLOPs.
    const zoo: [string, number, number, number][] = [['xx_small', 320, 1272024, 0.418], ['x_small', 384, 2317848, 1.052], ['small', 640, 5578632, 2.033]];
    for (const [arch, c, params, flops] of zoo) {
      it(`MobileViT-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type: 'MobileViT', arch }, neck: { type: 'GlobalAveragePooling' },
          head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const r = analyzeComplexity(m, [3, 256, 256]);
        assert.equal(r.params, params);
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.001, `flops ${r.flops}`);
        // No resizing at 256 (8x8 maps at the last stage); at 224 the 7x7 maps are resized to 8x8 and back.
        assert.equal(r.byOperator.upsample_bilinear2d ?? 0, 0);
        assert.ok(analyzeComplexity(m, [3, 224, 224]).byOperator.upsample_bilinear2d > 0);
      });
    }
  });

  it('state-dict keys: stem, layers.i.j (InvertedResidual then MobileVitBlock), global_rep ends with LN, conv_1x1_exp', () => {
    const m = new MobileViT({ arch: 'xx_small' });
    const all = m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.equal(all[0], 'stem.conv.weight 16x3x3x3');
    assert.ok(all.includes('layers.0.0.conv.0.conv.weight 32x16x1x1'));
    const blk = all.filter((k) => k.startsWith('layers.2.1.') && !k.includes('global_rep.0.') && !k.includes('global_rep.1.'));
    assert.deepEqual(blk, [
      'layers.2.1.local_rep.0.conv.weight 48x48x3x3', 'layers.2.1.local_rep.0.bn.weight 48', 'layers.2.1.local_rep.0.bn.bias 48',
      'layers.2.1.local_rep.0.bn.running_mean 48', 'layers.2.1.local_rep.0.bn.running_var 48', 'layers.2.1.local_rep.0.bn.num_batches_tracked ',
      'layers.2.1.local_rep.1.conv.weight 64x48x1x1',
      'layers.2.1.global_rep.2.weight 64', 'layers.2.1.global_rep.2.bias 64',
      'layers.2.1.conv_proj.conv.weight 48x64x1x1', 'layers.2.1.conv_proj.bn.weight 48', 'layers.2.1.conv_proj.bn.bias 48',
      'layers.2.1.conv_proj.bn.running_mean 48', 'layers.2.1.conv_proj.bn.running_var 48', 'layers.2.1.conv_proj.bn.num_batches_tracked ',
      'layers.2.1.conv_fusion.conv.weight 48x96x3x3', 'layers.2.1.conv_fusion.bn.weight 48', 'layers.2.1.conv_fusion.bn.bias 48',
      'layers.2.1.conv_fusion.bn.running_mean 48', 'layers.2.1.conv_fusion.bn.running_var 48', 'layers.2.1.conv_fusion.bn.num_batches_tracked ',
    ]);
    assert.ok(all.includes('layers.2.1.global_rep.0.ffn.layers.0.0.weight 128x64') && all.includes('layers.2.1.global_rep.1.attn.qkv.weight 192x64'));
    assert.equal(all[all.length - 1], 'conv_1x1_exp.bn.num_batches_tracked ');
    assert.ok(all.includes('conv_1x1_exp.conv.weight 320x80x1x1'));
    m.dispose();
  });

  for (const size of [4, 3]) {
    it(`a MobileVitBlock on ${size}x${size} maps: unfold into p*p sequences (PyTorch's order)${size === 3 ? ', bilinear resize to 4x4 and back' : ''}, fold, project, fuse with the input`, () => {
      const C = 4, D = 6, B = 2, p = 2;
      const blk = new MobileVitBlock({ in_channels: C, transformer_dim: D, ffn_dim: 8, out_channels: C, num_transformer_blocks: 1, num_heads: 2 });
      blk.initWeights();
      blk.eval();
      const x = tf.tensor4d(seq(B * size * size * C, 3), [B, size, size, C]);
      const got = blk.forward(x);
      const H = Math.ceil(size / p) * p;
      const local = blk.localRep.forward(x);
      const l = local.dataSync() as Float32Array;
      const N = (H / p) * (H / p);
      // unfold: sequence b*P + (i*p + j), token (nh*nW + nw), from pixel (nh*p + i, nw*p + j).
      const seqs = new Float32Array(B * p * p * N * D);
      const resized: Float32Array[] = [];
      for (let b = 0; b < B; b++) {
        const img = l.slice(b * size * size * D, (b + 1) * size * size * D);
        const r = size === H ? img : resize(img, size, size, D, H, H);
        resized.push(r);
        for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) for (let nh = 0; nh < H / p; nh++) for (let nw = 0; nw < H / p; nw++) for (let c = 0; c < D; c++) {
          seqs[(((b * p * p + i * p + j) * N + nh * (H / p) + nw) * D) + c] = r[(((nh * p + i) * H) + nw * p + j) * D + c];
        }
      }
      const g = blk.globalRep.forward(tf.tensor3d(seqs, [B * p * p, N, D])).dataSync();
      const folded = new Float32Array(B * size * size * D);
      for (let b = 0; b < B; b++) {
        const f = new Float32Array(H * H * D);
        for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) for (let nh = 0; nh < H / p; nh++) for (let nw = 0; nw < H / p; nw++) for (let c = 0; c < D; c++) {
          f[(((nh * p + i) * H) + nw * p + j) * D + c] = g[(((b * p * p + i * p + j) * N + nh * (H / p) + nw) * D) + c];
        }
        folded.set(size === H ? f : resize(f, H, H, D, size, size), b * size * size * D);
      }
      const proj = blk.convProj.forward(tf.tensor4d(folded, [B, size, size, D]));
      const want = blk.convFusion!.forward(tf.concat([x, proj], -1));
      assert.ok(maxAbsDiff(got.dataSync(), want.dataSync()) < 1e-4, `max diff ${maxAbsDiff(got.dataSync(), want.dataSync())}`);
      tf.dispose([x, got, local, proj, want]);
      blk.dispose();
    });
  }

  const tiny: [string, ...number[]][] = [
    ['mobilenetv2', 8, 1, 1, 2],
    ['mobilenetv2', 8, 2, 1, 2],
    ['mobilevit', 8, 2, 8, 16, 1, 2],
    ['mobilevit', 8, 2, 8, 16, 1, 2],
    ['mobilevit', 8, 2, 8, 16, 1, 2],
  ];

  it('outputs, out_indices (the last passes conv_1x1_exp), frozen stages, arch checks', () => {
    const m = new MobileViT({ arch: tiny, stem_channels: 8, out_indices: [1, -1] });
    m.eval();
    const x = tf.zeros([1, 64, 64, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[1, 16, 16, 8], [1, 2, 2, 32]]);
    assert.deepEqual(m.outIndices, [1, 4]);
    const f = new MobileViT({ arch: tiny, stem_channels: 8, frozen_stages: 2 });
    f.train();
    assert.ok(f.layers.at(1).parameters().every((p) => !p.requiresGrad) && !f.layers.at(1).training);
    assert.ok(f.layers.at(2).parameters().every((p) => p.requiresGrad) && f.stem.parameters().every((p) => p.requiresGrad));
    assert.throws(() => new MobileViT({ arch: tiny, frozen_stages: 5 }), /frozen_stages must be in range\(-1, 5\)/);
    assert.throws(() => new MobileViT({ arch: 'tiny' }), /Unavailable arch/);
    assert.equal(new MobileViT({ arch: 'XX_Small' }).conv1x1Exp.conv.outChannels, 320);
    tf.dispose([x, ...outs]);
    m.dispose();
  });

  it('one training step of a tiny MobileViT gives every trainable parameter a finite, non-zero gradient', () => {
    checkGradients({ type: 'MobileViT', arch: tiny, stem_channels: 8 }, { type: 'GlobalAveragePooling' }, 32, 64);
  });

  describe('configs: the zoo figures at the 256x256 test crop', () => {
    const cases: [string, number, number][] = [['xxsmall', 1.27, 0.418], ['xsmall', 2.32, 1.052], ['small', 5.58, 2.033]];
    for (const [arch, params, flops] of cases) {
      it(`configs/mobilevit/mobilevit-${arch}_8xb128_in1k.py`, () => {
        const r = configFigures(`mobilevit/mobilevit-${arch}_8xb128_in1k.py`);
        assert.deepEqual(r.inputShape, [3, 256, 256]);
        assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= 0.001, `flops ${r.flops}`);
      });
    }
  });
});
