/**
 * Plain-loop reference computations for the attention tests (Swin, Swin V2, Twins): no tensors,
 * written from the papers' / MMCls's definitions so the layers are checked against independent
 * arithmetic. Linear weights are PyTorch's [out, in] row-major arrays.
 */

export type Vec = number[];

export function linear(x: Vec, w: ArrayLike<number>, b: ArrayLike<number> | null, outF: number): Vec {
  const inF = x.length;
  const y: Vec = [];
  for (let o = 0; o < outF; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < inF; i++) s += w[o * inF + i] * x[i];
    y.push(s);
  }
  return y;
}

export function softmax(v: Vec): Vec {
  const m = Math.max(...v);
  const e = v.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

export function layerNorm(x: Vec, w: ArrayLike<number> | null, b: ArrayLike<number> | null, eps = 1e-5): Vec {
  const n = x.length;
  const mean = x.reduce((a, c) => a + c, 0) / n;
  const v = x.reduce((a, c) => a + (c - mean) ** 2, 0) / n;
  return x.map((c, i) => ((c - mean) / Math.sqrt(v + eps)) * (w ? w[i] : 1) + (b ? b[i] : 0));
}

export interface NaiveAttnSpec {
  /** Projected q, k, v of every token: [tokens][C]. */
  q: Vec[];
  k: Vec[];
  v: Vec[];
  heads: number;
  /** Score of (head, query a, key b) before softmax, given q·k (per head). */
  score: (h: number, a: number, b: number, dot: number, qa: Vec, kb: Vec) => number;
}

/** Multi-head attention output [tokens][C] (heads concatenated) before the output projection. */
export function attend(spec: NaiveAttnSpec): Vec[] {
  const { q, k, v, heads } = spec;
  const c = q[0].length;
  const d = c / heads;
  const out: Vec[] = q.map(() => new Array(c).fill(0));
  for (let h = 0; h < heads; h++) {
    const sl = (t: Vec): Vec => t.slice(h * d, (h + 1) * d);
    for (let a = 0; a < q.length; a++) {
      const qa = sl(q[a]);
      const scores = k.map((kk, b) => {
        const kb = sl(kk);
        const dot = qa.reduce((s, x, i) => s + x * kb[i], 0);
        return spec.score(h, a, b, dot, qa, kb);
      });
      const p = softmax(scores);
      for (let b = 0; b < k.length; b++) for (let j = 0; j < d; j++) out[a][h * d + j] += p[b] * v[b][h * d + j];
    }
  }
  return out;
}

/** Splits a fused qkv projection of each token into q, k, v ([3, heads, d] order, as MMCls reshapes it). */
export function splitQkv(qkv: Vec[]): { q: Vec[]; k: Vec[]; v: Vec[] } {
  const c = qkv[0].length / 3;
  return { q: qkv.map((t) => t.slice(0, c)), k: qkv.map((t) => t.slice(c, 2 * c)), v: qkv.map((t) => t.slice(2 * c)) };
}

/** Swin's relative position offset index of window tokens a and b (row-major in a Wh x Ww window). */
export function relIndex(a: number, b: number, wh: number, ww: number): number {
  const [ia, ja] = [Math.floor(a / ww), a % ww];
  const [ib, jb] = [Math.floor(b / ww), b % ww];
  return (ia - ib + wh - 1) * (2 * ww - 1) + (ja - jb + ww - 1);
}

/**
 * Shifted-window attention of MMCls's ShiftWindowMSA on one H x W x C map (batch 1), by loops:
 * zero-pad to multiples of ws, roll by -shift, attend inside each ws x ws window with `windowAttn`
 * (given the window's tokens and their region labels), roll back, crop.
 */
export function naiveShiftWindow(
  x: Vec[][],
  ws: number,
  shift: number,
  windowAttn: (tokens: Vec[], labels: number[]) => Vec[],
): Vec[][] {
  const h = x.length;
  const w = x[0].length;
  const c = x[0][0].length;
  const hp = Math.ceil(h / ws) * ws;
  const wp = Math.ceil(w / ws) * ws;
  const padded = (i: number, j: number): Vec => (i < h && j < w ? x[i][j] : new Array(c).fill(0));
  const mod = (a: number, n: number): number => ((a % n) + n) % n;
  const rolled = (i: number, j: number): Vec => padded(mod(i + shift, hp), mod(j + shift, wp));
  const region = (i: number, n: number): number => (shift === 0 ? 0 : i < n - ws ? 0 : i < n - shift ? 1 : 2);
  const outRolled: Vec[][] = Array.from({ length: hp }, () => new Array(wp));
  for (let wi = 0; wi < hp / ws; wi++) {
    for (let wj = 0; wj < wp / ws; wj++) {
      const coords: [number, number][] = [];
      for (let a = 0; a < ws * ws; a++) coords.push([wi * ws + Math.floor(a / ws), wj * ws + (a % ws)]);
      const res = windowAttn(
        coords.map(([i, j]) => rolled(i, j)),
        coords.map(([i, j]) => region(i, hp) * 3 + region(j, wp)),
      );
      coords.forEach(([i, j], a) => (outRolled[i][j] = res[a]));
    }
  }
  const out: Vec[][] = [];
  for (let i = 0; i < h; i++) {
    out.push([]);
    for (let j = 0; j < w; j++) out[i].push(outRolled[mod(i - shift, hp)][mod(j - shift, wp)]);
  }
  return out;
}
