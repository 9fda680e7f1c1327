import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { GlobalLocalFilter, GnConv, HorNet, HorNetBlock, ImageClassifier } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { StateEntry } from '../../runtime/nn/module';
import { maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';
import { configFigures } from './config_figures';

/** Channel LayerNorm (eps 1e-6) of NCHW data, by hand. */
function chanNorm(x: ArrayLike<number>, C: number, HW: number, g: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const out = new Float64Array(C * HW);
  for (let i = 0; i < HW; i++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[c * HW + i];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[c * HW + i] - m) ** 2;
    v /= C;
    for (let c = 0; c < C; c++) out[c * HW + i] = ((x[c * HW + i] - m) / Math.sqrt(v + 1e-6)) * g[c] + b[c];
  }
  return out;
}

describe('HorNet', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs as the model zoo publishes them', () => {
    // [arch, head in_channels, input size, params M, FLOPs G] (HorNet-B is 15.58 in the summary table and 15.59 in the algorithm table).
    const zoo: [string, number, number, number, number][] = [
      ['tiny', 512, 224, 22.41, 3.98], ['tiny-gf', 512, 224, 22.99, 3.90], ['small', 768, 224, 49.53, 8.83], ['small-gf', 768, 224, 50.40, 8.71],
      ['base', 1024, 224, 87.26, 15.58], ['base-gf', 1024, 224, 88.42, 15.42], ['large', 1536, 224, 194.54, 34.83], ['large-gf', 1536, 224, 196.29, 34.58],
      ['large-gf384', 1536, 384, 201.23, 101.63],
    ];
    for (const [arch, c, size, params, flops] of zoo) {
      it(`HorNet-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({ type: 'ImageClassifier', backbone: { type: 'HorNet', arch }, neck: { type: 'GlobalAveragePooling' }, head: { type: 'LinearClsHead', num_classes: 1000, in_channels: c } });
        m.eval();
        const r = analyzeComplexity(m, [3, size, size]);
        assert.ok(Math.abs(r.params / 1e6 - params) <= 0.005, `params ${r.params}`);
        // The zoo rounds to 2 decimals.
        assert.ok(Math.abs(r.flops / 1e9 - flops) <= Math.max(0.005, 0.0005 * flops), `flops ${r.flops}`);
      });
    }
  });

  it('state-dict keys of a block (gnConv with DW and GF filters, layer scales) and of the backbone', () => {
    const keys = (o: Record<string, unknown>): string[] => new HorNetBlock({ dim: 8, order: 2, ...o }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(keys({}), [
      'norm1.weight 8', 'norm1.bias 8', 'gnconv.proj_in.weight 16x8x1x1', 'gnconv.proj_in.bias 16', 'gnconv.dwconv.weight 12x1x7x7', 'gnconv.dwconv.bias 12',
      'gnconv.proj_out.weight 8x8x1x1', 'gnconv.proj_out.bias 8', 'gnconv.projs.0.weight 8x4x1x1', 'gnconv.projs.0.bias 8',
      'norm2.weight 8', 'norm2.bias 8', 'pwconv1.weight 32x8', 'pwconv1.bias 32', 'pwconv2.weight 8x32', 'pwconv2.bias 8', 'gamma1.weight 8', 'gamma2.weight 8',
    ]);
    assert.deepEqual(keys({ dw_cfg: { type: 'GF', h: 4, w: 3 } }).slice(4, 10), [
      'gnconv.dwconv.complex_weight 6x4x3x2', 'gnconv.dwconv.dw.weight 6x1x3x3', 'gnconv.dwconv.pre_norm.weight 12', 'gnconv.dwconv.pre_norm.bias 12',
      'gnconv.dwconv.post_norm.weight 12', 'gnconv.dwconv.post_norm.bias 12',
    ]);
    assert.equal(new HorNetBlock({ dim: 8, use_layer_scale: false }).stateDictKeys().some((e) => e.key.startsWith('gamma')), false);
    const m = new HorNet({ arch: 'tiny', out_indices: [1, 3] });
    const all = m.stateDictKeys().map((e) => e.key);
    assert.deepEqual(all.slice(0, 4), ['downsample_layers.0.0.weight', 'downsample_layers.0.0.bias', 'downsample_layers.0.1.weight', 'downsample_layers.0.1.bias']);
    assert.deepEqual(all.slice(-4), ['norm1.weight', 'norm1.bias', 'norm3.weight', 'norm3.bias']);
    // Layer scales start at 1e-5 (MMCls's LayerScale).
    const blk = new HorNetBlock({ dim: 4 });
    assert.ok(Math.abs((blk.gamma1.parameters()[0].variable.dataSync()[0]) - 1e-5) < 1e-12);
  });

  it('gnConv of order 3 by hand: proj_in split, scaled depth-wise conv, recursive gating, proj_out (NCHW)', () => {
    const dim = 4, order = 3, H = 3, W = 3, k = 3;
    const g = new GnConv(dim, order, { type: 'DW', kernel_size: k }, 0.5);
    const dims = [1, 2, 4];
    const sum = 7;
    const sd: Record<string, StateEntry> = {};
    const put = (key: string, shape: number[], seed: number): Float32Array => {
      const d = seq(shape.reduce((a, b) => a * b, 1), seed);
      sd[key] = { data: d, shape };
      return d;
    };
    const wi = put('proj_in.weight', [2 * dim, dim, 1, 1], 1), bi = put('proj_in.bias', [2 * dim], 2);
    const wd = put('dwconv.weight', [sum, 1, k, k], 3), bd = put('dwconv.bias', [sum], 4);
    const wo = put('proj_out.weight', [dim, dim, 1, 1], 5), bo = put('proj_out.bias', [dim], 6);
    const pw = [put('projs.0.weight', [2, 1, 1, 1], 7), put('projs.1.weight', [4, 2, 1, 1], 8)];
    const pb = [put('projs.0.bias', [2], 9), put('projs.1.bias', [4], 10)];
    g.loadStateDict(sd);
    const x = seq(dim * H * W, 11);
    const HW = H * W;
    const pix = (cout: number, cin: number, w: ArrayLike<number>, b: ArrayLike<number>, v: ArrayLike<number>): Float64Array => {
      const o = new Float64Array(cout * HW);
      for (let co = 0; co < cout; co++) for (let i = 0; i < HW; i++) {
        let s = b[co];
        for (let ci = 0; ci < cin; ci++) s += w[co * cin + ci] * v[ci * HW + i];
        o[co * HW + i] = s;
      }
      return o;
    };
    const fused = pix(2 * dim, dim, wi, bi, x);
    const abc = fused.slice(dims[0] * HW);
    const dw = new Float64Array(sum * HW);
    for (let c = 0; c < sum; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) {
      let s = bd[c];
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
        const hh = h + i - 1, ww = w + j - 1;
        if (hh >= 0 && hh < H && ww >= 0 && ww < W) s += wd[c * k * k + i * k + j] * abc[c * HW + hh * W + ww];
      }
      dw[c * HW + h * W + w] = 0.5 * s;
    }
    let off = 0;
    const parts = dims.map((d) => { const p = dw.slice(off * HW, (off + d) * HW); off += d; return p; });
    let cur = fused.slice(0, dims[0] * HW).map((v, i) => v * parts[0][i]);
    for (let i = 0; i < order - 1; i++) {
      const p = pix(dims[i + 1], dims[i], pw[i], pb[i], cur);
      cur = p.map((v, j) => v * parts[i + 1][j]);
    }
    const want = pix(dim, dim, wo, bo, cur);
    const got = tf.tidy(() => nhwcToNchw(g.forward(nchwToNhwc(x, [1, dim, H, W]))));
    assert.ok(maxAbsDiff(got, want) < 1e-5, `max diff ${maxAbsDiff(got, want)}`);
    g.dispose();
  });

  for (const [H, W, h, w] of [[4, 6, 4, 4], [5, 5, 5, 3], [4, 6, 3, 2]] as [number, number, number, number][]) {
    it(`GlobalLocalFilter on ${H}x${W} (weight ${h}x${w}${h === H && w === Math.floor(W / 2) + 1 ? '' : ', resized bilinearly'}) equals rfft2 / complex product / irfft2 written as plain sums`, () => {
      const C = 4, half = 2;
      const f = new GlobalLocalFilter(C, h, w);
      const sd: Record<string, StateEntry> = {};
      const put = (key: string, shape: number[], seed: number): Float32Array => {
        const d = seq(shape.reduce((a, b) => a * b, 1), seed);
        sd[key] = { data: d, shape };
        return d;
      };
      const cw = put('complex_weight', [half, h, w, 2], 1);
      const wd = put('dw.weight', [half, 1, 3, 3], 2);
      const g1 = put('pre_norm.weight', [C], 3), b1 = put('pre_norm.bias', [C], 4);
      const g2 = put('post_norm.weight', [C], 5), b2 = put('post_norm.bias', [C], 6);
      f.loadStateDict(sd);
      const x = seq(C * H * W, 7);
      const HW = H * W;
      const n = chanNorm(x, C, HW, g1, b1);
      const bw = Math.floor(W / 2) + 1;
      // Weight at the spectrum size: bilinear with align_corners=True when sizes differ.
      const wAt = (c: number, p: number, q: number, r: number): number => {
        const src = (i: number, out: number, inn: number): number => (out > 1 ? (i * (inn - 1)) / (out - 1) : 0);
        const y = src(p, H, h), xx = src(q, bw, w);
        const y0 = Math.floor(y), x0 = Math.floor(xx), y1 = Math.min(y0 + 1, h - 1), x1 = Math.min(x0 + 1, w - 1);
        const dy = y - y0, dx = xx - x0;
        const v = (yy: number, xq: number): number => cw[((c * h + yy) * w + xq) * 2 + r];
        return v(y0, x0) * (1 - dy) * (1 - dx) + v(y0, x1) * (1 - dy) * dx + v(y1, x0) * dy * (1 - dx) + v(y1, x1) * dy * dx;
      };
      const out = new Float64Array(C * HW);
      for (let c = 0; c < half; c++) {
        // Depth-wise 3x3 on the first half.
        for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
          let s = 0;
          for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) {
            const ii = i + a - 1, jj = j + b - 1;
            if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += wd[c * 9 + a * 3 + b] * n[c * HW + ii * W + jj];
          }
          out[2 * c * HW + i * W + j] = s;
        }
        // rfft2 (ortho) of the second half, times the weight, full Hermitian spectrum, inverse DFT.
        const xs = n.slice((half + c) * HW, (half + c + 1) * HW);
        const Fr = new Float64Array(H * W), Fi = new Float64Array(H * W);
        for (let p = 0; p < H; p++) for (let q = 0; q < bw; q++) {
          let re = 0, im = 0;
          for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
            const ang = -2 * Math.PI * ((p * i) / H + (q * j) / W);
            re += xs[i * W + j] * Math.cos(ang);
            im += xs[i * W + j] * Math.sin(ang);
          }
          re /= Math.sqrt(HW);
          im /= Math.sqrt(HW);
          const wr = wAt(c, p, q, 0), wi = wAt(c, p, q, 1);
          Fr[p * W + q] = re * wr - im * wi;
          Fi[p * W + q] = re * wi + im * wr;
        }
        // irfft2 keeps the real part of the inverse of the Hermitian extension (X[p, W-q] = conj X[-p, q]).
        for (let p = 0; p < H; p++) for (let q = bw; q < W; q++) {
          const pp = (H - p) % H, qq = W - q;
          Fr[p * W + q] = Fr[pp * W + qq];
          Fi[p * W + q] = -Fi[pp * W + qq];
        }
        // torch drops the imaginary parts that break the symmetry of the DC / Nyquist columns: symmetrise them.
        for (const q of W % 2 === 0 ? [0, W / 2] : [0]) {
          for (let p = 0; p < H; p++) {
            const pp = (H - p) % H;
            if (pp < p) continue;
            const re = (Fr[p * W + q] + Fr[pp * W + q]) / 2, im = (Fi[p * W + q] - Fi[pp * W + q]) / 2;
            Fr[p * W + q] = re; Fi[p * W + q] = im;
            Fr[pp * W + q] = re; Fi[pp * W + q] = -im;
          }
        }
        for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) {
          let re = 0;
          for (let p = 0; p < H; p++) for (let q = 0; q < W; q++) {
            const ang = 2 * Math.PI * ((p * i) / H + (q * j) / W);
            re += Fr[p * W + q] * Math.cos(ang) - Fi[p * W + q] * Math.sin(ang);
          }
          out[(2 * c + 1) * HW + i * W + j] = re / Math.sqrt(HW);
        }
      }
      const want = chanNorm(out, C, HW, g2, b2);
      const got = tf.tidy(() => nhwcToNchw(f.forward(nchwToNhwc(x, [1, C, H, W]))));
      assert.ok(maxAbsDiff(got, want) < 2e-4, `max diff ${maxAbsDiff(got, want)}`);
      f.dispose();
    });
  }

  it('outputs (GAP before the final norm or feature maps), out_indices and frozen stages', () => {
    const arch = { base_dim: 4, depths: [1, 1, 1, 1], orders: [2, 2, 3, 3], dw_cfg: Array(4).fill({ type: 'DW', kernel_size: 3 }) };
    const m = new HorNet({ arch, out_indices: [0, -1] });
    const x = tf.zeros([1, 32, 32, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[1, 4], [1, 32]]);
    const n = new HorNet({ arch, out_indices: [2], gap_before_final_norm: false });
    const o2 = n.forward(x) as tf.Tensor[];
    assert.deepEqual(o2[0].shape, [1, 2, 2, 16]);
    const f = new HorNet({ arch, frozen_stages: 1, out_indices: [0, 3] });
    f.train();
    for (const i of [0, 1]) assert.ok([...f.downsampleLayers.at(i).parameters(), ...f.stages.at(i).parameters()].every((p) => !p.requiresGrad));
    assert.ok(f.stages.at(2).parameters().every((p) => p.requiresGrad));
    assert.equal(f.getChild('norm0')!.parameters()[0].requiresGrad, false);
    assert.equal(f.getChild('norm3')!.parameters()[0].requiresGrad, true);
    assert.equal(f.stages.at(0).training, false);
    assert.throws(() => new HorNet({ arch: 'huge' as 'tiny' }), /not in default archs/);
    tf.dispose([x, ...outs, ...o2]);
  });

  it('one training step of a tiny HorNet (DW and GF filters) gives every parameter a finite, non-zero gradient', () => {
    const arch = { base_dim: 4, depths: [1, 1, 1, 1], orders: [2, 2, 3, 3], dw_cfg: [{ type: 'DW', kernel_size: 7 }, { type: 'DW', kernel_size: 7 }, { type: 'GF', h: 2, w: 2 }, { type: 'GF', h: 1, w: 1 }] };
    checkGradients({ type: 'HorNet', arch}, null, 32, 32);
  });

  describe('configs: the zoo parameter counts and FLOPs at 224x224', () => {
    const cases: [string, number, number][] = [
      ['hornet-tiny_8xb128_in1k.py', 22.41, 3.98], ['hornet-tiny-gf_8xb128_in1k.py', 22.99, 3.90], ['hornet-small_8xb64_in1k.py', 49.53, 8.83],
      ['hornet-small-gf_8xb64_in1k.py', 50.40, 8.71], ['hornet-base_8xb64_in1k.py', 87.26, 15.58], ['hornet-base-gf_8xb64_in1k.py', 88.42, 15.42],
    ];
    for (const [file, params, flops] of cases) {
      it(`configs/hornet/${file}`, () => {
        const r = configFigures(`hornet/${file}`);
        assert.deepEqual(r.inputShape, [3, 224, 224]);
        assert.equal((r.params / 1e6).toFixed(2), params.toFixed(2));
        assert.equal((r.flops / 1e9).toFixed(2), flops.toFixed(2));
      });
    }
  });
});
