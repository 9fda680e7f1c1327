/**
 * Float64 convolutions written from the definition (TensorFlow's padding arithmetic, NHWC,
 * HWIO / [KH, KW, C, M] filters), independent of tfjs, for checking values and gradients.
 */

export interface ConvSpec {
  x: number[]; // [N, H, W, C]
  w: number[]; // conv: [KH, KW, C, CO]; depthwise: [KH, KW, C, M]
  strides: [number, number];
  dilations: [number, number];
  pad: 'same' | 'valid' | [number, number, number, number]; // explicit: top, bottom, left, right
  depthwise: boolean;
}

function outAndPad(size: number, k: number, s: number, d: number, pad: ConvSpec['pad'], axis: 0 | 1): { out: number; before: number } {
  const eff = (k - 1) * d + 1;
  if (pad === 'valid') return { out: Math.ceil((size - eff + 1) / s), before: 0 };
  if (pad === 'same') {
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + eff - size, 0);
    return { out, before: Math.floor(total / 2) };
  }
  const before = axis === 0 ? pad[0] : pad[2];
  const after = axis === 0 ? pad[1] : pad[3];
  return { out: Math.floor((size + before + after - eff) / s) + 1, before };
}

export function refOutShape(spec: ConvSpec): number[] {
  const [n, h, w] = spec.x;
  const [kh, kw, c, m] = spec.w;
  const oh = outAndPad(h, kh, spec.strides[0], spec.dilations[0], spec.pad, 0).out;
  const ow = outAndPad(w, kw, spec.strides[1], spec.dilations[1], spec.pad, 1).out;
  return [n, oh, ow, spec.depthwise ? c * m : m];
}

export function refConv(spec: ConvSpec, x: ArrayLike<number>, w: ArrayLike<number>): Float64Array {
  const [n, h, wd, c] = spec.x;
  const [kh, kw, , m] = spec.w;
  const [sh, sw] = spec.strides;
  const [dh, dw] = spec.dilations;
  const ph = outAndPad(h, kh, sh, dh, spec.pad, 0);
  const pw = outAndPad(wd, kw, sw, dw, spec.pad, 1);
  const co = spec.depthwise ? c * m : m;
  const y = new Float64Array(n * ph.out * pw.out * co);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < ph.out; oy++) {
      for (let ox = 0; ox < pw.out; ox++) {
        const yo = ((b * ph.out + oy) * pw.out + ox) * co;
        for (let i = 0; i < kh; i++) {
          const iy = oy * sh + i * dh - ph.before;
          if (iy < 0 || iy >= h) continue;
          for (let j = 0; j < kw; j++) {
            const ix = ox * sw + j * dw - pw.before;
            if (ix < 0 || ix >= wd) continue;
            const xo = ((b * h + iy) * wd + ix) * c;
            for (let ci = 0; ci < c; ci++) {
              const xv = x[xo + ci];
              const wo = ((i * kw + j) * c + ci) * m;
              if (spec.depthwise) {
                for (let q = 0; q < m; q++) y[yo + ci * m + q] += xv * w[wo + q];
              } else {
                for (let q = 0; q < m; q++) y[yo + q] += xv * w[wo + q];
              }
            }
          }
        }
      }
    }
  }
  return y;
}

/** Central differences of sum(refConv(x, w) * r) in float64: exact up to rounding, the loss being bilinear. */
export function refNumericalGrads(spec: ConvSpec, x: Float64Array, w: Float64Array, r: ArrayLike<number>, eps = 1e-3): [Float64Array, Float64Array] {
  const loss = (xv: Float64Array, wv: Float64Array) => {
    const y = refConv(spec, xv, wv);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * r[i];
    return s;
  };
  const grad = (v: Float64Array, f: (u: Float64Array) => number) => {
    const g = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) {
      const keep = v[i];
      v[i] = keep + eps;
      const lp = f(v);
      v[i] = keep - eps;
      const lm = f(v);
      v[i] = keep;
      g[i] = (lp - lm) / (2 * eps);
    }
    return g;
  };
  return [grad(x, (u) => loss(u, w)), grad(w, (u) => loss(x, u))];
}
