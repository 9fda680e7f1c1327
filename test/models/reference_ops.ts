/**
 * Plain-JavaScript NCHW reference operators (PyTorch semantics, loops over indices) and a
 * deterministic state-dict fill, for checking model blocks against values computed independently
 * of TensorFlow.js. Batch size 1 throughout.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ImageClassifier } from '../../runtime/models';
import { Module, StateEntry } from '../../runtime/nn/module';
import { ClsDataSample } from '../../runtime/structures';
import { seq } from '../nn/helpers';

/** A single image, channels first, row-major. */
export interface Img {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

export function img(c: number, h: number, w: number, data?: ArrayLike<number>): Img {
  const out = new Float64Array(c * h * w);
  if (data) for (let i = 0; i < out.length; i++) out[i] = data[i];
  return { c, h, w, data: out };
}

/** `nn.Conv2d` (weight OIHW as a state dict holds it). */
export function conv2d(
  x: Img,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  o: { out: number; k: number; stride?: number; pad?: number; groups?: number; dilation?: number },
): Img {
  const stride = o.stride ?? 1;
  const pad = o.pad ?? 0;
  const groups = o.groups ?? 1;
  const dil = o.dilation ?? 1;
  const oh = Math.floor((x.h + 2 * pad - dil * (o.k - 1) - 1) / stride) + 1;
  const ow = Math.floor((x.w + 2 * pad - dil * (o.k - 1) - 1) / stride) + 1;
  const cinG = x.c / groups;
  const coutG = o.out / groups;
  const y = img(o.out, oh, ow);
  for (let co = 0; co < o.out; co++) {
    const g = Math.floor(co / coutG);
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let s = bias ? bias[co] : 0;
        for (let ci = 0; ci < cinG; ci++) {
          const cin = g * cinG + ci;
          for (let u = 0; u < o.k; u++) {
            const ii = i * stride - pad + u * dil;
            if (ii < 0 || ii >= x.h) continue;
            for (let v = 0; v < o.k; v++) {
              const jj = j * stride - pad + v * dil;
              if (jj < 0 || jj >= x.w) continue;
              s += weight[((co * cinG + ci) * o.k + u) * o.k + v] * x.data[(cin * x.h + ii) * x.w + jj];
            }
          }
        }
        y.data[(co * oh + i) * ow + j] = s;
      }
    }
  }
  return y;
}

/** Eval-mode batch norm from a state dict's `prefix.weight/bias/running_mean/running_var`. */
export function bnEval(x: Img, sd: Map<string, StateEntry>, prefix: string, eps = 1e-5): Img {
  const w = sd.get(`${prefix}.weight`)!.data;
  const b = sd.get(`${prefix}.bias`)!.data;
  const m = sd.get(`${prefix}.running_mean`)!.data;
  const v = sd.get(`${prefix}.running_var`)!.data;
  const y = img(x.c, x.h, x.w);
  const hw = x.h * x.w;
  for (let c = 0; c < x.c; c++) {
    const scale = Number(w[c]) / Math.sqrt(Number(v[c]) + eps);
    for (let k = 0; k < hw; k++) y.data[c * hw + k] = (x.data[c * hw + k] - Number(m[c])) * scale + Number(b[c]);
  }
  return y;
}

export function map(x: Img, f: (v: number) => number): Img {
  return { ...x, data: x.data.map(f) };
}

export const relu = (v: number): number => Math.max(0, v);
export const hswish = (v: number): number => (v * Math.min(6, Math.max(0, v + 3))) / 6;
export const hsigmoid = (v: number): number => Math.min(1, Math.max(0, (v + 3) / 6));

/** `nn.MaxPool2d` (padding with -inf) or `nn.AvgPool2d` (count_include_pad=True), floor mode. */
export function pool(x: Img, kind: 'max' | 'avg', k: number, stride: number, pad = 0): Img {
  const oh = Math.floor((x.h + 2 * pad - k) / stride) + 1;
  const ow = Math.floor((x.w + 2 * pad - k) / stride) + 1;
  const y = img(x.c, oh, ow);
  for (let c = 0; c < x.c; c++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let s = kind === 'max' ? -Infinity : 0;
        for (let u = 0; u < k; u++) {
          for (let v = 0; v < k; v++) {
            const ii = i * stride - pad + u;
            const jj = j * stride - pad + v;
            if (ii < 0 || ii >= x.h || jj < 0 || jj >= x.w) continue;
            const val = x.data[(c * x.h + ii) * x.w + jj];
            s = kind === 'max' ? Math.max(s, val) : s + val;
          }
        }
        y.data[(c * oh + i) * ow + j] = kind === 'max' ? s : s / (k * k);
      }
    }
  }
  return y;
}

/** Concatenation along channels. */
export function cat(...xs: Img[]): Img {
  const c = xs.reduce((a, x) => a + x.c, 0);
  const y = img(c, xs[0].h, xs[0].w);
  let off = 0;
  for (const x of xs) {
    y.data.set(x.data, off);
    off += x.data.length;
  }
  return y;
}

/** Channels [from, to). */
export function channels(x: Img, from: number, to: number): Img {
  const hw = x.h * x.w;
  return img(to - from, x.h, x.w, x.data.slice(from * hw, to * hw));
}

/** ShuffleNet's channel shuffle: channel g * (C / groups) + i goes to position i * groups + g. */
export function shuffle(x: Img, groups: number): Img {
  const hw = x.h * x.w;
  const per = x.c / groups;
  const y = img(x.c, x.h, x.w);
  for (let g = 0; g < groups; g++) {
    for (let i = 0; i < per; i++) y.data.set(x.data.subarray((g * per + i) * hw, (g * per + i + 1) * hw), (i * groups + g) * hw);
  }
  return y;
}

/** Global average per channel, as a 1x1 image. */
export function gap(x: Img): Img {
  const hw = x.h * x.w;
  const y = img(x.c, 1, 1);
  for (let c = 0; c < x.c; c++) {
    let s = 0;
    for (let k = 0; k < hw; k++) s += x.data[c * hw + k];
    y.data[c] = s / hw;
  }
  return y;
}

/** Per-channel product of x with a 1x1 image of channel weights. */
export function scaleChannels(x: Img, w: Img): Img {
  const hw = x.h * x.w;
  return { ...x, data: x.data.map((v, k) => v * w.data[Math.floor(k / hw)]) };
}

export function add(a: Img, b: Img): Img {
  return { ...a, data: a.data.map((v, k) => v + b.data[k]) };
}

/**
 * Fills every float state entry of `m` deterministically (seeded by the key), loads it, and returns
 * the state dict as loaded (PyTorch layouts). Running variances are kept in [1, 1.5], norm weights
 * near 1, conv weights scaled by 1 / sqrt(fan-in), so activations stay of order 1.
 */
export function fillState(m: Module, salt = 0): Map<string, StateEntry> {
  const sd = m.stateDict();
  for (const [key, e] of sd) {
    if (key.endsWith('num_batches_tracked')) continue;
    let phase = salt;
    for (const ch of key) phase += 0.01 * ch.charCodeAt(0);
    const n = e.data.length;
    const fanIn = e.shape.length >= 2 ? n / e.shape[0] : 1;
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = Math.sin(0.37 * i + phase);
      if (key.endsWith('running_var')) out[i] = 1 + 0.5 * Math.abs(v);
      else if (key.endsWith('running_mean')) out[i] = 0.1 * v;
      else if (key.endsWith('.weight') && e.shape.length >= 2) out[i] = v * Math.sqrt(2 / fanIn);
      else if (key.endsWith('.weight')) out[i] = 1 + 0.1 * v;
      else out[i] = 0.1 * v;
    }
    sd.set(key, { ...e, data: out });
  }
  m.loadStateDict(sd);
  return sd;
}

/** Weight data of a state-dict key. */
export function w(sd: Map<string, StateEntry>, key: string): ArrayLike<number> {
  const e = sd.get(key);
  if (!e) throw new Error(`no key ${key}`);
  return e.data as unknown as ArrayLike<number>;
}

/**
 * One training step of a classifier on a deterministic batch of two 3-channel images: the names
 * of trainable parameters whose gradient is not finite, and of those whose gradient is all zeros.
 */
export function trainStepGradients(m: ImageClassifier, size: number): { count: number; nonFinite: string[]; zero: string[]; maxAbs: Record<string, number> } {
  m.initWeights();
  m.train();
  const x = tf.tensor4d(seq(2 * size * size * 3, 7), [2, size, size, 3]);
  const samples = [0, 3].map((l) => new ClsDataSample().set_gt_label(l));
  const vars = m.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(m.loss(x, samples))) as tf.Scalar, vars);
  const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
  const nonFinite: string[] = [];
  const zero: string[] = [];
  const maxAbs: Record<string, number> = {};
  if (!Number.isFinite(value.dataSync()[0])) nonFinite.push('(loss)');
  for (const [v, g] of Object.entries(grads)) {
    const d = g.dataSync();
    const name = names.get(v) ?? v;
    if (!d.every((e) => Number.isFinite(e))) nonFinite.push(name);
    if (!d.some((e) => e !== 0)) zero.push(name);
    let peak = 0;
    for (let i = 0; i < d.length; i++) peak = Math.max(peak, Math.abs(d[i] as number));
    maxAbs[name] = peak;
  }
  const count = Object.keys(grads).length;
  tf.dispose([x, value, ...Object.values(grads)]);
  return { count, nonFinite, zero, maxAbs };
}
