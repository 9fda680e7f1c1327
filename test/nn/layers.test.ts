import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, GELU, GroupNorm, HSigmoid, HSwish, LayerNorm, Linear, MaxPool2d,
  MultiheadAttention, resizePosEmbed, StateEntry,
} from '../../runtime/nn';
import { at, maxAbsDiff, nchwToNhwc, nhwcToNchw, seq, useTestBackend } from './helpers';

/** PyTorch's conv2d on NCHW data with OIHW weights, in float64. */
function naiveConv(
  x: Float32Array, [n, c, h, w]: number[], wt: Float32Array, [o, cg, kh, kw]: number[], bias: Float32Array | null,
  o2: { stride: [number, number]; pad: [number, number, number, number]; dil: [number, number]; groups: number },
): { data: Float64Array; shape: number[] } {
  const [sh, sw] = o2.stride;
  const [pt, pb, pl, pr] = o2.pad;
  const [dh, dw] = o2.dil;
  const oh = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float64Array(n * o * oh * ow);
  const og = o / o2.groups;
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / og);
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let s = bias ? bias[oc] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const y = i * sh - pt + u * dh;
                const xx = j * sw - pl + v * dw;
                if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
                s += x[at([n, c, h, w], [b, g * cg + ci, y, xx])] * wt[at([o, cg, kh, kw], [oc, ci, u, v])];
              }
          out[at([n, o, oh, ow], [b, oc, i, j])] = s;
        }
    }
  return { data: out, shape: [n, o, oh, ow] };
}

function loadTorch(m: { loadStateDict(s: Map<string, StateEntry>): unknown }, entries: [string, Float32Array, number[]][]): void {
  m.loadStateDict(new Map(entries.map(([k, d, s]) => [k, { data: d, shape: s }])));
}

describe('nn layers against float64 definitions', () => {
  before(useTestBackend);

  const convCases: { name: string; c: number; o: number; k: [number, number]; stride?: number; padding?: number | [number, number, number, number] | 'same'; dilation?: number; groups?: number; bias?: boolean }[] = [
    { name: 'plain 3x3', c: 3, o: 4, k: [3, 3], padding: 1 },
    { name: 'stride 2, no bias', c: 2, o: 3, k: [3, 3], stride: 2, padding: 1, bias: false },
    { name: 'dilation 2', c: 2, o: 2, k: [3, 3], padding: 2, dilation: 2 },
    { name: 'stride 2 with dilation 2', c: 2, o: 2, k: [3, 3], stride: 2, padding: 2, dilation: 2 },
    { name: 'groups 2', c: 4, o: 6, k: [3, 3], padding: 1, groups: 2 },
    { name: 'depth-wise', c: 4, o: 4, k: [3, 3], stride: 2, padding: 1, groups: 4 },
    { name: 'depth-wise multiplier 2', c: 3, o: 6, k: [3, 3], padding: 1, groups: 3 },
    { name: 'asymmetric padding', c: 2, o: 3, k: [2, 3], padding: [0, 1, 2, 0] },
    { name: "'same', even kernel", c: 2, o: 2, k: [4, 4], padding: 'same' },
  ];
  for (const cc of convCases) {
    it(`Conv2d ${cc.name}`, () => {
      const conv = new Conv2d({ in_channels: cc.c, out_channels: cc.o, kernel_size: cc.k, stride: cc.stride, padding: cc.padding, dilation: cc.dilation, groups: cc.groups, bias: cc.bias });
      const g = cc.groups ?? 1;
      const wshape = [cc.o, cc.c / g, cc.k[0], cc.k[1]];
      const wt = seq(wshape.reduce((a, b) => a * b), 7);
      const b = seq(cc.o, 9);
      loadTorch(conv, cc.bias === false ? [['weight', wt, wshape]] : [['weight', wt, wshape], ['bias', b, [cc.o]]]);
      const xs: [number, number, number, number] = [2, cc.c, 7, 8];
      const x = seq(2 * cc.c * 56, 3);
      const y = conv.forward(nchwToNhwc(x, xs));
      const p = conv.pad;
      const ref = naiveConv(x, xs, wt, wshape, cc.bias === false ? null : b, { stride: [cc.stride ?? 1, cc.stride ?? 1], pad: p, dil: [cc.dilation ?? 1, cc.dilation ?? 1], groups: g });
      assert.deepEqual([y.shape[0], y.shape[3], y.shape[1], y.shape[2]], ref.shape);
      assert.ok(maxAbsDiff(nhwcToNchw(y), ref.data) < 1e-5);
      // The state dict gives the weights back in PyTorch's layout.
      assert.ok(maxAbsDiff(conv.stateDict().get('weight')!.data as Float32Array, wt) === 0);
      assert.deepEqual(conv.stateDict().get('weight')!.shape, wshape);
    });
  }

  it('Linear on [N, L, C] matches x W^T + b', () => {
    const lin = new Linear({ in_features: 5, out_features: 3 });
    const w = seq(15, 2);
    const b = seq(3, 4);
    loadTorch(lin, [['weight', w, [3, 5]], ['bias', b, [3]]]);
    const x = seq(2 * 4 * 5, 5);
    const y = lin.forward(tf.tensor3d(x, [2, 4, 5])).dataSync();
    const ref: number[] = [];
    for (let r = 0; r < 8; r++) for (let o = 0; o < 3; o++) {
      let s = b[o];
      for (let i = 0; i < 5; i++) s += x[r * 5 + i] * w[o * 5 + i];
      ref.push(s);
    }
    assert.ok(maxAbsDiff(y, ref) < 1e-6);
  });

  it('Conv2d refuses an input that is too small or has the wrong channels, with the fix in the message (wasm read out of bounds before)', () => {
    const conv = new Conv2d({ in_channels: 1, out_channels: 2, kernel_size: 5 });
    assert.throws(() => conv.forward(tf.zeros([1, 4, 4, 1])), (e: Error & { code?: string }) => e.code === 'model.shape' && /4x4 input is too small/.test(e.message) && /Resize/.test(e.message));
    assert.throws(() => conv.forward(tf.zeros([1, 8, 8, 3])), (e: Error & { code?: string }) => e.code === 'model.shape' && /1 channels, got \[1, 8, 8, 3\]/.test(e.message));
    assert.deepEqual(conv.forward(tf.zeros([1, 5, 5, 1])).shape, [1, 1, 1, 2]);
  });

  it('BatchNorm2d momentum=None: running stats are the cumulative average over batches (factor 1 / num_batches_tracked)', async () => {
    const bn = new BatchNorm2d({ num_features: 2, momentum: null });
    bn.train();
    const xs: [number, number, number, number] = [2, 2, 3, 3];
    const batches = [seq(36, 3), seq(36, 8).map((v) => 2 * v + 1), seq(36, 21).map((v) => v - 0.5)];
    const stats = batches.map((x) => [0, 1].map((c) => {
      const vals: number[] = [];
      for (let n = 0; n < 2; n++) for (let i = 0; i < 9; i++) vals.push(x[(n * 2 + c) * 9 + i]);
      const mean = vals.reduce((a, v) => a + v, 0) / 18;
      return { mean, varU: vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 17 };
    }));
    for (const x of batches) tf.dispose(bn.forward(nchwToNhwc(x, xs)));
    const sd = await bn.stateDictAsync();
    assert.equal(Number(sd.get('num_batches_tracked')!.data[0]), 3);
    for (let c = 0; c < 2; c++) {
      // torch: f = 1 / num_batches_tracked; from the initial (0, 1) the first batch replaces them.
      const mean = stats.reduce((a, s) => a + s[c].mean, 0) / 3;
      const varU = stats.reduce((a, s) => a + s[c].varU, 0) / 3;
      assert.ok(Math.abs((sd.get('running_mean')!.data[c] as number) - mean) < 1e-5, `running_mean[${c}]`);
      assert.ok(Math.abs((sd.get('running_var')!.data[c] as number) - varU) < 1e-4, `running_var[${c}]`);
    }
    // The synchronous and asynchronous state dicts agree.
    assert.deepEqual([...bn.stateDict().keys()], [...sd.keys()]);
    for (const [k, e] of bn.stateDict()) assert.deepEqual(Array.from(e.data as ArrayLike<number>), Array.from(sd.get(k)!.data as ArrayLike<number>), k);
  });

  it('BatchNorm2d: batch statistics and running-stat update in training, running stats in eval', () => {
    const bn = new BatchNorm2d({ num_features: 3, momentum: 0.1, eps: 1e-5 });
    const w = Float32Array.from([1.5, 0.5, 2]);
    const b = Float32Array.from([0.1, -0.2, 0.3]);
    loadTorch(bn, [['weight', w, [3]], ['bias', b, [3]], ['running_mean', new Float32Array(3), [3]], ['running_var', Float32Array.from([1, 1, 1]), [3]], ['num_batches_tracked', new Float32Array(1), []]]);
    const xs: [number, number, number, number] = [2, 3, 4, 5];
    const x = seq(120, 11);
    bn.train();
    const y = nhwcToNchw(bn.forward(nchwToNhwc(x, xs)));
    const sd = bn.stateDict();
    for (let c = 0; c < 3; c++) {
      const vals: number[] = [];
      for (let n = 0; n < 2; n++) for (let i = 0; i < 20; i++) vals.push(x[(n * 3 + c) * 20 + i]);
      const mean = vals.reduce((a, v) => a + v, 0) / 40;
      const varB = vals.reduce((a, v) => a + (v - mean) ** 2, 0) / 40;
      for (let n = 0; n < 2; n++) for (let i = 0; i < 20; i++) {
        const k = (n * 3 + c) * 20 + i;
        assert.ok(Math.abs(y[k] - ((x[k] - mean) / Math.sqrt(varB + 1e-5) * w[c] + b[c])) < 1e-5);
      }
      assert.ok(Math.abs((sd.get('running_mean')!.data[c] as number) - 0.1 * mean) < 1e-6);
      assert.ok(Math.abs((sd.get('running_var')!.data[c] as number) - (0.9 + 0.1 * varB * 40 / 39)) < 1e-6);
    }
    assert.equal(Number(sd.get('num_batches_tracked')!.data[0]), 1);
    bn.eval();
    const ye = nhwcToNchw(bn.forward(nchwToNhwc(x, xs)));
    const rm = sd.get('running_mean')!.data as Float32Array;
    const rv = sd.get('running_var')!.data as Float32Array;
    for (let k = 0; k < 120; k++) {
      const c = Math.floor(k / 20) % 3;
      assert.ok(Math.abs(ye[k] - ((x[k] - rm[c]) / Math.sqrt(rv[c] + 1e-5) * w[c] + b[c])) < 1e-5);
    }
  });

  it('LayerNorm and GroupNorm normalise as PyTorch', () => {
    const ln = new LayerNorm({ normalized_shape: 4, eps: 1e-6 });
    const x = seq(12, 3);
    const y = ln.forward(tf.tensor2d(x, [3, 4])).dataSync();
    for (let r = 0; r < 3; r++) {
      const v = Array.from(x.slice(r * 4, r * 4 + 4));
      const m = v.reduce((a, b) => a + b) / 4;
      const s = v.reduce((a, b) => a + (b - m) ** 2, 0) / 4;
      for (let i = 0; i < 4; i++) assert.ok(Math.abs(y[r * 4 + i] - (v[i] - m) / Math.sqrt(s + 1e-6)) < 1e-5);
    }
    const gn = new GroupNorm({ num_groups: 2, num_channels: 4 });
    const xs: [number, number, number, number] = [1, 4, 3, 3];
    const xg = seq(36, 8);
    const yg = nhwcToNchw(gn.forward(nchwToNhwc(xg, xs)));
    for (let g = 0; g < 2; g++) {
      const v = Array.from(xg.slice(g * 18, g * 18 + 18));
      const m = v.reduce((a, b) => a + b) / 18;
      const s = v.reduce((a, b) => a + (b - m) ** 2, 0) / 18;
      for (let i = 0; i < 18; i++) assert.ok(Math.abs(yg[g * 18 + i] - (v[i] - m) / Math.sqrt(s + 1e-5)) < 1e-5);
    }
  });

  function naivePool(x: Float32Array, [n, c, h, w]: number[], k: number, s: number, p: number, oh: number, ow: number, kind: 'max' | 'avg', includePad: boolean): number[] {
    const out: number[] = [];
    for (let b = 0; b < n * c; b++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      let m = -Infinity; let sum = 0; let cnt = 0; let padCnt = 0;
      for (let u = 0; u < k; u++) for (let v = 0; v < k; v++) {
        const y = i * s - p + u; const xx = j * s - p + v;
        if (y < h + p && xx < w + p) padCnt++;
        if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
        const val = x[b * h * w + y * w + xx];
        m = Math.max(m, val); sum += val; cnt++;
      }
      out.push(kind === 'max' ? m : sum / (includePad ? padCnt : cnt));
    }
    return out;
  }

  it('MaxPool2d(3, 2, 1) and AvgPool2d with ceil_mode / count_include_pad', () => {
    const xs: [number, number, number, number] = [1, 2, 7, 7];
    const x = seq(98, 5);
    const mp = new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 });
    const y = mp.forward(nchwToNhwc(x, xs));
    assert.deepEqual(y.shape, [1, 4, 4, 2]);
    assert.ok(maxAbsDiff(nhwcToNchw(y), naivePool(x, xs, 3, 2, 1, 4, 4, 'max', false)) < 1e-7);
    const ap = new AvgPool2d({ kernel_size: 2, stride: 2, ceil_mode: true, count_include_pad: false });
    const ya = ap.forward(nchwToNhwc(x, xs));
    assert.deepEqual(ya.shape, [1, 4, 4, 2]);
    assert.ok(maxAbsDiff(nhwcToNchw(ya), naivePool(x, xs, 2, 2, 0, 4, 4, 'avg', false)) < 1e-6);
    const ap2 = new AvgPool2d({ kernel_size: 3, stride: 2, padding: 1 });
    const yb = ap2.forward(nchwToNhwc(x, xs));
    assert.ok(maxAbsDiff(nhwcToNchw(yb), naivePool(x, xs, 3, 2, 1, 4, 4, 'avg', true)) < 1e-6);
  });

  it('AdaptiveAvgPool2d uses PyTorch bins for sizes that do not divide', () => {
    const x = seq(1 * 1 * 5 * 5, 2);
    const y = new AdaptiveAvgPool2d({ output_size: 3 }).forward(nchwToNhwc(x, [1, 1, 5, 5])).dataSync();
    const bins = [[0, 2], [1, 4], [3, 5]];
    const ref: number[] = [];
    for (const [h0, h1] of bins) for (const [w0, w1] of bins) {
      let s = 0;
      for (let i = h0; i < h1; i++) for (let j = w0; j < w1; j++) s += x[i * 5 + j];
      ref.push(s / ((h1 - h0) * (w1 - w0)));
    }
    assert.ok(maxAbsDiff(y, ref) < 1e-6);
  });

  it('GELU is the exact erf form; HSwish and HSigmoid follow MMCV', () => {
    const xs = [-3, -1, -0.5, 0, 0.3, 1, 2.5];
    const y = new GELU().forward(tf.tensor1d(xs)).dataSync();
    // Φ(x) values to 7 digits.
    const phi: Record<number, number> = { [-3]: 0.0013499, [-1]: 0.1586553, [-0.5]: 0.3085375, 0: 0.5, 0.3: 0.6179114, 1: 0.8413447, 2.5: 0.9937903 };
    xs.forEach((v, i) => assert.ok(Math.abs(y[i] - v * phi[v]) < 2e-6, `gelu(${v})`));
    const hs = new HSwish().forward(tf.tensor1d([-4, -1, 0, 1, 4])).dataSync();
    assert.ok(maxAbsDiff(hs, [0, -1 * 2 / 6, 0, 4 / 6, 4]) < 1e-6);
    const hg = new HSigmoid().forward(tf.tensor1d([-4, 0, 1.5, 4])).dataSync();
    assert.ok(maxAbsDiff(hg, [0, 0.5, 0.75, 1]) < 1e-6);
  });

  it('MultiheadAttention matches softmax(q k^T / sqrt(d)) v with a fused qkv', () => {
    const mha = new MultiheadAttention({ embed_dims: 4, num_heads: 2 });
    const wq = seq(48, 3); const bq = seq(12, 4); const wp = seq(16, 5); const bp = seq(4, 6);
    loadTorch(mha, [['qkv.weight', wq, [12, 4]], ['qkv.bias', bq, [12]], ['proj.weight', wp, [4, 4]], ['proj.bias', bp, [4]]]);
    mha.eval();
    const n = 3;
    const x = seq(n * 4, 7);
    const y = mha.forward(tf.tensor3d(x, [1, n, 4])).dataSync();
    const qkv: number[][] = [];
    for (let t = 0; t < n; t++) {
      const row: number[] = [];
      for (let o = 0; o < 12; o++) { let s = bq[o]; for (let i = 0; i < 4; i++) s += x[t * 4 + i] * wq[o * 4 + i]; row.push(s); }
      qkv.push(row);
    }
    const ctx: number[][] = Array.from({ length: n }, () => [0, 0, 0, 0]);
    for (let h = 0; h < 2; h++) for (let t = 0; t < n; t++) {
      const logits: number[] = [];
      for (let u = 0; u < n; u++) { let s = 0; for (let d = 0; d < 2; d++) s += qkv[t][h * 2 + d] * qkv[u][4 + h * 2 + d]; logits.push(s / Math.sqrt(2)); }
      const mx = Math.max(...logits); const e = logits.map((l) => Math.exp(l - mx)); const z = e.reduce((a, b) => a + b);
      for (let d = 0; d < 2; d++) { let s = 0; for (let u = 0; u < n; u++) s += (e[u] / z) * qkv[u][8 + h * 2 + d]; ctx[t][h * 2 + d] = s; }
    }
    const ref: number[] = [];
    for (let t = 0; t < n; t++) for (let o = 0; o < 4; o++) { let s = bp[o]; for (let i = 0; i < 4; i++) s += ctx[t][i] * wp[o * 4 + i]; ref.push(s); }
    assert.ok(maxAbsDiff(y, ref) < 1e-5);
  });

  it('resizePosEmbed: bicubic with PyTorch coefficients (A=-0.75, clamped borders, align_corners=False)', () => {
    const c = 2;
    const src = 3;
    const dst = 5;
    const grid = seq(src * src * c, 9);
    const pe = tf.concat([tf.ones([1, 1, c]), tf.tensor3d(grid, [1, src * src, c])], 1);
    const out = resizePosEmbed(pe, [src, src], [dst, dst], 'bicubic', 1).dataSync();
    const A = -0.75;
    const cub = (t: number): number => {
      const a = Math.abs(t);
      if (a <= 1) return ((A + 2) * a - (A + 3)) * a * a + 1;
      if (a < 2) return ((A * a - 5 * A) * a + 8 * A) * a - 4 * A;
      return 0;
    };
    const cl = (i: number): number => Math.min(Math.max(i, 0), src - 1);
    for (let i = 0; i < dst; i++) for (let j = 0; j < dst; j++) for (let ch = 0; ch < c; ch++) {
      const sy = (i + 0.5) * (src / dst) - 0.5; const sx = (j + 0.5) * (src / dst) - 0.5;
      const y0 = Math.floor(sy); const x0 = Math.floor(sx);
      let s = 0;
      for (let u = -1; u <= 2; u++) for (let v = -1; v <= 2; v++) {
        s += cub(sy - (y0 + u)) * cub(sx - (x0 + v)) * grid[(cl(y0 + u) * src + cl(x0 + v)) * c + ch];
      }
      assert.ok(Math.abs(out[c + (i * dst + j) * c + ch] - s) < 1e-5);
    }
    assert.deepEqual(Array.from(out.slice(0, c)), [1, 1]);
  });
});
