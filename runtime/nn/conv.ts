import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { Layer } from './layer';
import { Layout, Parameter, ShapeContext, lazy, shapeNumel } from './module';
import { MODELS } from '../registry';

export type Pair = number | [number, number];
/**
 * Convolution padding: one number (all sides), `[ph, pw]` (PyTorch), `[top, bottom, left, right]`
 * (asymmetric), or `'same'` / `'valid'` (PyTorch's strings; `'same'` puts the odd pixel bottom/right).
 */
export type Padding2d = number | [number, number] | [number, number, number, number] | 'same' | 'valid';

export function pair(v: Pair, what = 'value'): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2) return [v[0], v[1]];
  throw new MmclsError(`${what}: expected a number or a pair of numbers, got ${JSON.stringify(v)}`, {
    code: 'model.bad-argument',
  });
}

/** Padding as [top, bottom, left, right]. */
export function resolvePadding(padding: Padding2d, kernel: [number, number], dilation: [number, number]): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const th = dilation[0] * (kernel[0] - 1);
    const tw = dilation[1] * (kernel[1] - 1);
    return [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  }
  if (typeof padding === 'number') return [padding, padding, padding, padding];
  if (padding.length === 2) return [padding[0], padding[0], padding[1], padding[1]];
  if (padding.length === 4) return [padding[0], padding[1], padding[2], padding[3]];
  throw new MmclsError(`padding: expected a number, a pair, 4 numbers, 'same' or 'valid', got ${JSON.stringify(padding)}`, {
    code: 'model.bad-argument',
  });
}

function tfPad(p: [number, number, number, number]): number | [[number, number], [number, number], [number, number], [number, number]] {
  if (p[0] === p[1] && p[1] === p[2] && p[2] === p[3]) return p[0];
  return [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];
}

/** Options of {@link Conv2d} (PyTorch's `nn.Conv2d` arguments). */
export interface Conv2dOptions {
  /** Number of input channels. */
  in_channels: number;
  /** Number of output channels. */
  out_channels: number;
  /** Kernel size, one number or (h, w). */
  kernel_size: Pair;
  /** Stride. @default 1 */
  stride?: Pair;
  /** Zero padding: a number, (h, w), (top, bottom, left, right), 'same' or 'valid'. @default 0 */
  padding?: Padding2d;
  /** Dilation. @default 1 */
  dilation?: Pair;
  /** Number of groups; equal to in_channels for a depth-wise convolution. @default 1 */
  groups?: number;
  /** Whether to learn an additive bias. @default True */
  bias?: boolean;
}

/** 2-D convolution (`nn.Conv2d`); weights are HWIO here and OIHW in state dicts. */
@MODELS.registerModule()
@MODELS.registerModule('Conv')
export class Conv2d extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  readonly pad: [number, number, number, number];
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private readonly depthwise: boolean;

  constructor(options: Conv2dOptions) {
    super();
    const { in_channels: cin, out_channels: cout } = options;
    this.inChannels = cin;
    this.outChannels = cout;
    this.kernelSize = pair(options.kernel_size, 'kernel_size');
    this.stride = pair(options.stride ?? 1, 'stride');
    this.dilation = pair(options.dilation ?? 1, 'dilation');
    this.groups = options.groups ?? 1;
    if (cin % this.groups !== 0 || cout % this.groups !== 0) {
      throw new MmclsError(`Conv2d: in_channels (${cin}) and out_channels (${cout}) must be divisible by groups (${this.groups})`, {
        code: 'model.bad-argument',
      });
    }
    if (options.padding === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1)) {
      throw new MmclsError("Conv2d: padding='same' is not supported for strided convolutions (as in PyTorch)", {
        code: 'model.bad-argument',
      });
    }
    this.pad = resolvePadding(options.padding ?? 0, this.kernelSize, this.dilation);
    // A depth-wise convolution (groups == in_channels > 1) uses TensorFlow's depthwise kernel.
    this.depthwise = this.groups > 1 && this.groups === cin;
    const [kh, kw] = this.kernelSize;
    const fanIn = (cin / this.groups) * kh * kw;
    const bound = 1 / Math.sqrt(fanIn);
    let layout: Layout;
    let shape: number[];
    if (this.depthwise) {
      layout = { kind: 'depthwise2d', multiplier: cout / cin };
      shape = [kh, kw, cin, cout / cin];
    } else {
      layout = { kind: 'conv2d' };
      shape = [kh, kw, cin / this.groups, cout];
    }
    // PyTorch's default: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    this.weight = this.registerParameter('weight', lazy(shape, () => tf.randomUniform(shape, -bound, bound)), layout)!;
    this.bias = this.registerParameter('bias', options.bias ?? true ? lazy([cout], () => tf.randomUniform([cout], -bound, bound)) : null);
  }

  forward(x: tf.Tensor): tf.Tensor {
    // Checked here: a wrong shape otherwise reaches the backend's kernel, which on wasm reads out
    // of bounds ("RuntimeError: memory access out of bounds") instead of saying what is wrong.
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new MmclsError(`Conv2d(${this.inChannels}, ${this.outChannels}, kernel ${this.kernelSize.join('x')}) expects NHWC input with ${this.inChannels} channels, got [${x.shape.join(', ')}]`, { code: 'model.shape' });
    }
    const [, inH, inW] = x.shape as [number, number, number, number];
    const [oh, ow] = this.outputSize(inH, inW);
    if (oh <= 0 || ow <= 0) {
      throw new MmclsError(
        `Conv2d(${this.inChannels}, ${this.outChannels}, kernel ${this.kernelSize.join('x')}): the ${inH}x${inW} input is too small for it. ` +
          'The images reach this layer smaller than the model was built for: check the input size in the pipeline (Resize / RandomResizedCrop / CenterCrop scale).',
        { code: 'model.shape' },
      );
    }
    const x4 = x as tf.Tensor4D;
    const w = this.weight.variable as tf.Tensor4D;
    const strided = this.stride[0] > 1 || this.stride[1] > 1;
    const dilated = this.dilation[0] > 1 || this.dilation[1] > 1;
    // TensorFlow.js refuses stride > 1 together with dilation > 1: convolve densely, then subsample.
    const stride: [number, number] = strided && dilated ? [1, 1] : this.stride;
    const pad = tfPad(this.pad);
    let y: tf.Tensor4D;
    if (this.groups === 1) {
      y = tf.conv2d(x4, w, stride, pad, 'NHWC', this.dilation);
    } else if (this.depthwise) {
      y = tf.depthwiseConv2d(x4, w, stride, pad, 'NHWC', this.dilation);
    } else {
      const xs = tf.split(x4, this.groups, 3);
      const ws = tf.split(w, this.groups, 3);
      y = tf.concat(
        xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, ws[i] as tf.Tensor4D, stride, pad, 'NHWC', this.dilation)),
        3,
      ) as tf.Tensor4D;
    }
    if (strided && dilated) {
      const [n, h, wd, c] = y.shape;
      y = tf.stridedSlice(y, [0, 0, 0, 0], [n, h, wd, c], [1, this.stride[0], this.stride[1], 1]) as tf.Tensor4D;
    }
    return this.bias ? tf.add(y, this.bias.variable) : y;
  }

  /** Output spatial size for an input size (PyTorch's formula). */
  outputSize(h: number, w: number): [number, number] {
    const [kh, kw] = this.kernelSize;
    const [t, b, l, r] = this.pad;
    const oh = Math.floor((h + t + b - this.dilation[0] * (kh - 1) - 1) / this.stride[0]) + 1;
    const ow = Math.floor((w + l + r - this.dilation[1] * (kw - 1) - 1) / this.stride[1]) + 1;
    return [oh, ow];
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [n, c, h, w] = x;
    if (x.length !== 4 || c !== this.inChannels) {
      throw new MmclsError(`Conv2d expects [N, ${this.inChannels}, H, W], got [${x.join(', ')}]`, { code: 'analysis.shape' });
    }
    const [oh, ow] = this.outputSize(h, w);
    if (oh <= 0 || ow <= 0) {
      throw new MmclsError(`Conv2d: input ${h}x${w} is too small for kernel ${this.kernelSize.join('x')}`, {
        code: 'analysis.shape',
      });
    }
    const out = [n, this.outChannels, oh, ow];
    const numelOut = shapeNumel(out);
    ctx.add('conv', numelOut * (this.inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1], numelOut);
    return out;
  }
}

/** Options of {@link Linear} (PyTorch's `nn.Linear`). */
export interface LinearOptions {
  /** Size of each input sample. */
  in_features: number;
  /** Size of each output sample. */
  out_features: number;
  /** Whether to learn an additive bias. @default True */
  bias?: boolean;
}

/** Fully connected layer (`nn.Linear`) on the last axis; weights are [in, out] here, [out, in] in state dicts. */
@MODELS.registerModule()
export class Linear extends Layer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(options: LinearOptions) {
    super();
    this.inFeatures = options.in_features;
    this.outFeatures = options.out_features;
    const bound = 1 / Math.sqrt(this.inFeatures);
    this.weight = this.registerParameter(
      'weight',
      lazy([this.inFeatures, this.outFeatures], () => tf.randomUniform([this.inFeatures, this.outFeatures], -bound, bound)),
      { kind: 'linear' },
    )!;
    this.bias = this.registerParameter(
      'bias',
      options.bias ?? true ? lazy([this.outFeatures], () => tf.randomUniform([this.outFeatures], -bound, bound)) : null,
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    const shape = x.shape;
    if (shape[shape.length - 1] !== this.inFeatures) {
      throw new MmclsError(`Linear expects ${this.inFeatures} input features, got shape [${shape.join(', ')}]`, {
        code: 'model.shape',
      });
    }
    const x2 = shape.length === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, this.inFeatures]) as tf.Tensor2D;
    let y: tf.Tensor = tf.matMul(x2, this.weight.variable as tf.Tensor2D);
    if (this.bias) y = tf.add(y, this.bias.variable);
    if (shape.length !== 2) y = tf.reshape(y, [...shape.slice(0, -1), this.outFeatures]);
    return y;
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    if (x[x.length - 1] !== this.inFeatures) {
      throw new MmclsError(`Linear expects ${this.inFeatures} input features, got shape [${x.join(', ')}]`, {
        code: 'analysis.shape',
      });
    }
    const out = [...x.slice(0, -1), this.outFeatures];
    const rows = shapeNumel(x) / this.inFeatures;
    ctx.add('linear', rows * this.inFeatures * this.outFeatures, shapeNumel(out));
    return out;
  }
}
