/**
 * Parity of the webgpu backend with cpu: every runtime/nn layer (forward output, and gradients of
 * a fixed random projection of it with respect to the input and every parameter, on small shapes)
 * and a few SGD steps of LeNet5, tolerance 1e-4 relative to the largest value of each tensor.
 * Used by test/webgpu/parity.test.ts and by scripts/webgpu-check.ts (the GPU machine check).
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../runtime/backend';
import {
  AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Conv2dAdaptivePadding, ConvModule, DropPath, Dropout, FFN, GELU, GroupNorm, HSigmoid,
  HSwish, Identity, LayerNorm, LayerNorm2d, LayerScale, LeakyReLU, Linear, MaxPool2d, Module, MultiheadAttention, PatchEmbed, ReLU,
  ReLU6, Sequential, SiLU, Sigmoid, Tanh,
} from '../runtime/nn';
import { MODELS } from '../runtime/registry';
import { ClsDataSample } from '../runtime/structures';
import { ImageClassifier } from '../runtime/models';
// Registers every model component (the import above is type-only; a bundle has no autoload).
import '../runtime/models';

/** Deterministic pseudo-random numbers in [-1, 1) (the same generator as test/nn). */
export function seq(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Compares two arrays: max |a - b| <= rtol * max|ref| + atol. Returns a message on failure. */
export function compare(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, rtol = 1e-4, atol = 1e-6): string | undefined {
  if (got.length !== ref.length) return `${what}: ${got.length} values vs ${ref.length}`;
  let maxRef = 0;
  let maxDiff = 0;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(got[i]) && got[i] !== ref[i]) return `${what}[${i}]: ${got[i]} vs ${ref[i]}`;
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    const d = Math.abs(got[i] - ref[i]);
    if (d > maxDiff) { maxDiff = d; at = i; }
  }
  if (maxDiff > rtol * maxRef + atol) {
    return `${what}: max |webgpu - cpu| = ${maxDiff.toExponential(2)} at [${at}] (${got[at]} vs ${ref[at]}), max |cpu| = ${maxRef.toExponential(2)}, relative ${(maxDiff / Math.max(maxRef, 1e-30)).toExponential(2)} > ${rtol}`;
  }
  return undefined;
}

/** Reads a tensor asynchronously (webgpu in Node.js has no synchronous read). */
export async function values(t: tf.Tensor): Promise<Float32Array> {
  return Float32Array.from(await t.data());
}

export interface LayerCase {
  name: string;
  make: () => Module;
  shape: number[];
  forward?: (m: Module, x: tf.Tensor) => tf.Tensor;
  eval?: boolean;
  scale?: number;
}

type Fwd = { forward(x: tf.Tensor): tf.Tensor };

export const CASES: LayerCase[] = [
  { name: 'Conv2d 3x3 pad 1, bias', make: () => new Conv2d({ in_channels: 3, out_channels: 4, kernel_size: 3, padding: 1 }), shape: [2, 6, 6, 3] },
  { name: 'Conv2d 5x5 stride 2 (LeNet/ResNet stem shape)', make: () => new Conv2d({ in_channels: 2, out_channels: 4, kernel_size: 5, stride: 2, padding: 2, bias: false }), shape: [2, 9, 9, 2] },
  { name: 'Conv2d 1x1', make: () => new Conv2d({ in_channels: 4, out_channels: 6, kernel_size: 1 }), shape: [2, 4, 4, 4] },
  { name: 'Conv2d grouped', make: () => new Conv2d({ in_channels: 4, out_channels: 4, kernel_size: 3, padding: 1, groups: 2 }), shape: [1, 5, 5, 4] },
  { name: 'Conv2d depth-wise stride 2', make: () => new Conv2d({ in_channels: 3, out_channels: 3, kernel_size: 3, stride: 2, padding: 1, groups: 3 }), shape: [2, 7, 7, 3] },
  { name: 'Conv2d dilated', make: () => new Conv2d({ in_channels: 2, out_channels: 3, kernel_size: 3, dilation: 2, padding: 2 }), shape: [1, 7, 7, 2] },
  { name: 'Conv2d asymmetric padding', make: () => new Conv2d({ in_channels: 2, out_channels: 2, kernel_size: [2, 3], padding: [0, 1, 2, 0] }), shape: [1, 5, 5, 2] },
  { name: 'Conv2dAdaptivePadding depth-wise 3x3 stride 2 (EfficientNet, TensorFlow SAME)', make: () => new Conv2dAdaptivePadding({ in_channels: 3, out_channels: 3, kernel_size: 3, stride: 2, groups: 3 }), shape: [2, 8, 7, 3] },
  { name: 'Linear', make: () => new Linear({ in_features: 8, out_features: 5 }), shape: [3, 8] },
  { name: 'Linear on tokens', make: () => new Linear({ in_features: 6, out_features: 4, bias: false }), shape: [2, 3, 6] },
  { name: 'BatchNorm2d train', make: () => new BatchNorm2d({ num_features: 3 }), shape: [2, 4, 4, 3] },
  { name: 'BatchNorm2d eval', make: () => new BatchNorm2d({ num_features: 3 }), shape: [2, 4, 4, 3], eval: true },
  { name: 'BatchNorm1d train', make: () => new BatchNorm1d({ num_features: 5 }), shape: [4, 5] },
  { name: 'LayerNorm', make: () => new LayerNorm({ normalized_shape: 6 }), shape: [2, 3, 6] },
  { name: 'LayerNorm2d', make: () => new LayerNorm2d({ normalized_shape: 4 }), shape: [2, 3, 3, 4] },
  { name: 'GroupNorm', make: () => new GroupNorm({ num_groups: 2, num_channels: 4 }), shape: [2, 3, 3, 4] },
  { name: 'ReLU', make: () => new ReLU(), shape: [2, 3, 5] },
  { name: 'ReLU6', make: () => new ReLU6(), shape: [2, 3, 5], scale: 8 },
  { name: 'LeakyReLU', make: () => new LeakyReLU({ negative_slope: 0.1 }), shape: [2, 3, 5] },
  { name: 'GELU (erf)', make: () => new GELU(), shape: [2, 3, 5], scale: 3 },
  { name: 'GELU (tanh)', make: () => new GELU({ approximate: 'tanh' }), shape: [2, 3, 5], scale: 3 },
  { name: 'Sigmoid', make: () => new Sigmoid(), shape: [2, 3, 5], scale: 4 },
  { name: 'Tanh', make: () => new Tanh(), shape: [2, 3, 5], scale: 3 },
  { name: 'SiLU', make: () => new SiLU(), shape: [2, 3, 5], scale: 4 },
  { name: 'HSwish', make: () => new HSwish(), shape: [2, 3, 5], scale: 5 },
  { name: 'HSigmoid', make: () => new HSigmoid(), shape: [2, 3, 5], scale: 5 },
  { name: 'Dropout (eval)', make: () => new Dropout({ p: 0.5 }), shape: [2, 5], eval: true },
  { name: 'DropPath (eval)', make: () => new DropPath({ drop_prob: 0.5 }), shape: [2, 5], eval: true },
  { name: 'Identity', make: () => new Identity(), shape: [2, 5] },
  // More inputs than a shader stage has storage buffers (8 by default): the sum of all gradient
  // norms in clip_grad, and concatenations of many blocks.
  { name: 'addN of 20 tensors', make: () => new Identity(), shape: [2, 5], forward: (_m, x) => tf.addN(Array.from({ length: 20 }, (_, i) => tf.mul(x, i + 1))) },
  { name: 'addN of 7 tensors', make: () => new Identity(), shape: [2, 5], forward: (_m, x) => tf.addN(Array.from({ length: 7 }, (_, i) => tf.mul(x, i - 3))) },
  { name: 'concat of 20 tensors', make: () => new Identity(), shape: [2, 5], forward: (_m, x) => tf.concat(Array.from({ length: 20 }, (_, i) => tf.mul(x, i + 1)), 1) },
  { name: 'BatchNorm2d train, momentum=None (cumulative average)', make: () => new BatchNorm2d({ num_features: 3, momentum: null }), shape: [2, 4, 4, 3] },
  { name: 'MaxPool2d 3x3 stride 2 pad 1', make: () => new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }), shape: [2, 7, 7, 3] },
  { name: 'MaxPool2d 2x2 ceil_mode', make: () => new MaxPool2d({ kernel_size: 2, ceil_mode: true }), shape: [1, 5, 5, 2] },
  { name: 'AvgPool2d 2x2', make: () => new AvgPool2d({ kernel_size: 2 }), shape: [2, 6, 6, 3] },
  { name: 'AvgPool2d 3x3 pad 1 count_include_pad=False', make: () => new AvgPool2d({ kernel_size: 3, stride: 1, padding: 1, count_include_pad: false }), shape: [1, 5, 5, 2] },
  { name: 'AdaptiveAvgPool2d (1, 1)', make: () => new AdaptiveAvgPool2d({ output_size: 1 }), shape: [2, 4, 4, 3] },
  { name: 'AdaptiveAvgPool2d (2, 3) uneven bins', make: () => new AdaptiveAvgPool2d({ output_size: [2, 3] }), shape: [1, 5, 7, 2] },
  { name: 'ConvModule conv-BN-ReLU', make: () => new ConvModule({ in_channels: 3, out_channels: 4, kernel_size: 3, padding: 1, norm_cfg: { type: 'BN' }, act_cfg: { type: 'ReLU' } }), shape: [2, 5, 5, 3] },
  { name: 'Sequential', make: () => new Sequential(new Linear({ in_features: 4, out_features: 6 }), new GELU(), new Linear({ in_features: 6, out_features: 3 })), shape: [3, 4] },
  { name: 'LayerScale', make: () => new LayerScale({ dim: 6 }), shape: [2, 3, 6] },
  { name: 'MultiheadAttention', make: () => new MultiheadAttention({ embed_dims: 8, num_heads: 2 }), shape: [2, 5, 8] },
  { name: 'FFN', make: () => new FFN({ embed_dims: 6, feedforward_channels: 12 }), shape: [2, 4, 6] },
  {
    name: 'PatchEmbed', make: () => new PatchEmbed({ in_channels: 3, embed_dims: 8, kernel_size: 4, stride: 4, norm_cfg: { type: 'LN' } }), shape: [2, 8, 8, 3],
    forward: (m, x) => (m as PatchEmbed).forward(x).tokens,
  },
];

export interface Result { out: Float32Array; grads: Float32Array[] }

/** Builds the layer fresh on the current backend with deterministic parameters and runs it. */
export async function runCase(c: LayerCase): Promise<Result> {
  const m = c.make();
  if (c.eval) m.eval(); else m.train();
  const params = m.parameters();
  // Away from the initial ones and zeros, so that every path matters.
  params.forEach((p, i) => p.assign(tf.tidy(() => tf.mul(tf.tensor(seq(p.numel, 17 + i), p.shape), 0.5))));
  const x = tf.variable(tf.tidy(() => tf.mul(tf.tensor(seq(c.shape.reduce((a, b) => a * b, 1), 5), c.shape), c.scale ?? 1)));
  const fwd = (t: tf.Tensor): tf.Tensor => (c.forward ? c.forward(m, t) : (m as unknown as Fwd).forward(t));
  const outT = tf.tidy(() => fwd(x));
  const proj = tf.tensor(seq(outT.size, 99), outT.shape);
  const vars = [x, ...params.map((p) => p.variable)];
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(fwd(x), proj)) as tf.Scalar, vars);
  const result: Result = { out: await values(outT), grads: [] };
  for (const v of vars) {
    if (!grads[v.name]) throw new Error(`${c.name}: no gradient for ${v === x ? 'the input' : v.name}`);
    result.grads.push(await values(grads[v.name]));
  }
  tf.dispose([outT, proj, x, ...Object.values(grads)]);
  m.dispose();
  return result;
}

export function checkParity(name: string, got: Result, ref: Result, rtol = 1e-4): string[] {
  const errors: string[] = [];
  const e = compare(`${name}: forward`, got.out, ref.out, rtol);
  if (e) errors.push(e);
  got.grads.forEach((g, i) => {
    const ge = compare(`${name}: d/d${i === 0 ? 'input' : `param ${i - 1}`}`, g, ref.grads[i], rtol);
    if (ge) errors.push(ge);
  });
  return errors;
}

/** Runs every layer case (those whose name matches `only`) on cpu then webgpu; returns the mismatches. */
export async function layerParity(only?: RegExp): Promise<string[]> {
  const errors: string[] = [];
  for (const c of CASES.filter((k) => only === undefined || only.test(k.name))) {
    await initBackend('cpu');
    const ref = await runCase(c);
    await initBackend('webgpu');
    const got = await runCase(c);
    errors.push(...checkParity(c.name, got, ref));
  }
  return errors;
}

/** LeNet5, 3 SGD steps on cpu then on webgpu: losses, weights and logits compared. */
export async function leNetParity(): Promise<{ errors: string[]; losses: number[] }> {
  const steps = async (device: string): Promise<{ losses: number[]; weights: Float32Array[]; logits: Float32Array }> => {
    await initBackend(device);
    const model = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier', backbone: { type: 'LeNet5', num_classes: 10 }, neck: null,
      head: { type: 'ClsHead', loss: { type: 'CrossEntropyLoss', loss_weight: 1.0 } },
    });
    const params = model.parameters();
    params.forEach((p, i) => p.assign(tf.tidy(() => tf.mul(tf.tensor(seq(p.numel, 31 + i), p.shape), 0.2))));
    model.train();
    const x = tf.tensor4d(seq(4 * 32 * 32, 3), [4, 32, 32, 1]);
    const labels = [0, 3, 7, 9];
    const vars = model.trainableVariables();
    const losses: number[] = [];
    for (let step = 0; step < 3; step++) {
      const value = tf.tidy(() => {
        const samples = labels.map((l) => new ClsDataSample().set_gt_label(l));
        const { value: v, grads } = tf.variableGrads(() => model.loss(x, samples).loss as tf.Scalar, vars);
        for (const w of vars) w.assign(tf.sub(w, tf.mul(grads[w.name], 0.1)));
        return v;
      });
      losses.push((await value.data())[0]);
      value.dispose();
    }
    model.eval();
    const logitsT = tf.tidy(() => model.forward(x, null, 'tensor') as tf.Tensor);
    const logits = await values(logitsT);
    const weights: Float32Array[] = [];
    for (const v of vars) weights.push(await values(v));
    tf.dispose([x, logitsT]);
    model.dispose();
    return { losses, weights, logits };
  };
  const ref = await steps('cpu');
  const got = await steps('webgpu');
  const errors: string[] = [];
  got.losses.forEach((l, i) => { if (Math.abs(l - ref.losses[i]) > 1e-4 * Math.abs(ref.losses[i])) errors.push(`LeNet5 loss at step ${i}: ${l} vs ${ref.losses[i]}`); });
  const le = compare('LeNet5 logits after 3 steps', got.logits, ref.logits);
  if (le) errors.push(le);
  got.weights.forEach((w, i) => { const e = compare(`LeNet5 weight ${i} after 3 steps`, w, ref.weights[i]); if (e) errors.push(e); });
  if (!(ref.losses[2] < ref.losses[0])) errors.push(`LeNet5: the loss does not fall on cpu: ${ref.losses.join(', ')}`);
  return { errors, losses: ref.losses };
}
