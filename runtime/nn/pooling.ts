import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { Pair, pair } from './conv';
import { Layer } from './layer';
import { ShapeContext, shapeNumel } from './module';
import { MODELS } from '../registry';

function poolOut(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch: the last window must start inside the input or the left padding.
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/** Options of {@link MaxPool2d} (PyTorch's `nn.MaxPool2d`). */
export interface MaxPool2dOptions {
  /** Window size. */
  kernel_size: Pair;
  /** Stride (None: the kernel size). @default None */
  stride?: Pair | null;
  /** Implicit -inf padding on both sides. @default 0 */
  padding?: Pair;
  /** Window dilation. @default 1 */
  dilation?: Pair;
  /** Round the output size up instead of down. @default False */
  ceil_mode?: boolean;
}

/** `nn.MaxPool2d` over NHWC. */
@MODELS.registerModule()
export class MaxPool2d extends Layer {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly ceilMode: boolean;

  constructor(options: MaxPool2dOptions) {
    super();
    this.kernelSize = pair(options.kernel_size, 'kernel_size');
    this.stride = pair(options.stride ?? options.kernel_size, 'stride');
    this.padding = pair(options.padding ?? 0, 'padding');
    this.dilation = pair(options.dilation ?? 1, 'dilation');
    this.ceilMode = options.ceil_mode ?? false;
    if (this.dilation[0] !== 1 || this.dilation[1] !== 1) {
      throw new MmclsError('MaxPool2d: dilation other than 1 is not supported', { code: 'model.unsupported' });
    }
  }

  outputSize(h: number, w: number): [number, number] {
    return [
      poolOut(h, this.kernelSize[0], this.stride[0], this.padding[0], 1, this.ceilMode),
      poolOut(w, this.kernelSize[1], this.stride[1], this.padding[1], 1, this.ceilMode),
    ];
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [n, h, w, c] = x.shape;
    const [oh, ow] = this.outputSize(h, w);
    const [kh, kw] = this.kernelSize;
    const [sh, sw] = this.stride;
    const [ph, pw] = this.padding;
    // Pad with -inf on the top/left (and enough bottom/right for the last window), then a valid pool.
    const needH = (oh - 1) * sh + kh;
    const needW = (ow - 1) * sw + kw;
    const padB = Math.max(0, needH - h - ph);
    const padR = Math.max(0, needW - w - pw);
    let xp = x as tf.Tensor4D;
    if (ph || pw || padB || padR) {
      xp = tf.pad(xp, [[0, 0], [ph, padB], [pw, padR], [0, 0]], -3.4e38);
    }
    const y = tf.maxPool(xp, [kh, kw], [sh, sw], 'valid');
    if (y.shape[1] !== oh || y.shape[2] !== ow) {
      return tf.slice(y, [0, 0, 0, 0], [n, oh, ow, c]);
    }
    return y;
  }

  protected override shapeOf(x: number[], _ctx: ShapeContext): number[] {
    const [oh, ow] = this.outputSize(x[2], x[3]);
    // mmengine's counter has no handle for max pooling: 0 FLOPs.
    return [x[0], x[1], oh, ow];
  }
}

/** Options of {@link AvgPool2d} (PyTorch's `nn.AvgPool2d`). */
export interface AvgPool2dOptions {
  /** Window size. */
  kernel_size: Pair;
  /** Stride (None: the kernel size). @default None */
  stride?: Pair | null;
  /** Implicit zero padding on both sides. @default 0 */
  padding?: Pair;
  /** Round the output size up instead of down. @default False */
  ceil_mode?: boolean;
  /** Whether padded zeros count in the average. @default True */
  count_include_pad?: boolean;
}

/** `nn.AvgPool2d` over NHWC, with PyTorch's padding and ceil-mode averaging rules. */
@MODELS.registerModule()
export class AvgPool2d extends Layer {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;

  constructor(options: AvgPool2dOptions) {
    super();
    this.kernelSize = pair(options.kernel_size, 'kernel_size');
    this.stride = pair(options.stride ?? options.kernel_size, 'stride');
    this.padding = pair(options.padding ?? 0, 'padding');
    this.ceilMode = options.ceil_mode ?? false;
    this.countIncludePad = options.count_include_pad ?? true;
  }

  outputSize(h: number, w: number): [number, number] {
    return [
      poolOut(h, this.kernelSize[0], this.stride[0], this.padding[0], 1, this.ceilMode),
      poolOut(w, this.kernelSize[1], this.stride[1], this.padding[1], 1, this.ceilMode),
    ];
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [, h, w] = x.shape;
    const [oh, ow] = this.outputSize(h, w);
    const [kh, kw] = this.kernelSize;
    const [sh, sw] = this.stride;
    const [ph, pw] = this.padding;
    const x4 = x as tf.Tensor4D;
    const needH = (oh - 1) * sh + kh;
    const needW = (ow - 1) * sw + kw;
    const padB = Math.max(0, needH - h - ph);
    const padR = Math.max(0, needW - w - pw);
    if (!ph && !pw && !padB && !padR) return tf.avgPool(x4, [kh, kw], [sh, sw], 'valid');
    // Sum over each window of the zero-padded input, divided by PyTorch's divisor: the window clipped
    // to the padded input (count_include_pad) or to the input itself.
    const pads: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [ph, padB], [pw, padR], [0, 0]];
    const sums = tf.mul(tf.avgPool(tf.pad(x4, pads), [kh, kw], [sh, sw], 'valid'), kh * kw);
    const divisor = this.divisors(h, w, oh, ow);
    return tf.div(sums, tf.tensor4d(divisor, [1, oh, ow, 1]));
  }

  private divisors(h: number, w: number, oh: number, ow: number): Float32Array {
    const [kh, kw] = this.kernelSize;
    const [sh, sw] = this.stride;
    const [ph, pw] = this.padding;
    const out = new Float32Array(oh * ow);
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let hs = i * sh - ph;
        let ws = j * sw - pw;
        let he = Math.min(hs + kh, h + ph);
        let we = Math.min(ws + kw, w + pw);
        let size = (he - hs) * (we - ws);
        hs = Math.max(hs, 0);
        ws = Math.max(ws, 0);
        he = Math.min(he, h);
        we = Math.min(we, w);
        if (!this.countIncludePad) size = (he - hs) * (we - ws);
        out[i * ow + j] = size;
      }
    }
    return out;
  }

  protected override shapeOf(x: number[], _ctx: ShapeContext): number[] {
    const [oh, ow] = this.outputSize(x[2], x[3]);
    // mmengine's counter has no handle for aten::avg_pool2d: 0 FLOPs.
    return [x[0], x[1], oh, ow];
  }
}

/** Options of {@link AdaptiveAvgPool2d}. */
export interface AdaptiveAvgPool2dOptions {
  /** Output size (h, w) or one number for both. */
  output_size: Pair;
}

/** `nn.AdaptiveAvgPool2d` over NHWC (PyTorch's bins: floor(i*H/oh) to ceil((i+1)*H/oh)). */
@MODELS.registerModule()
export class AdaptiveAvgPool2d extends Layer {
  readonly outputSize: [number, number];

  constructor(options: AdaptiveAvgPool2dOptions) {
    super();
    this.outputSize = pair(options.output_size, 'output_size');
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [, h, w] = x.shape;
    const [oh, ow] = this.outputSize;
    if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true);
    if (h % oh === 0 && w % ow === 0) {
      return tf.avgPool(x as tf.Tensor4D, [h / oh, w / ow], [h / oh, w / ow], 'valid');
    }
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < oh; i++) {
      const h0 = Math.floor((i * h) / oh);
      const h1 = Math.ceil(((i + 1) * h) / oh);
      const cols: tf.Tensor[] = [];
      for (let j = 0; j < ow; j++) {
        const w0 = Math.floor((j * w) / ow);
        const w1 = Math.ceil(((j + 1) * w) / ow);
        cols.push(tf.mean(tf.slice(x, [0, h0, w0, 0], [-1, h1 - h0, w1 - w0, -1]), [1, 2], true));
      }
      rows.push(tf.concat(cols, 2));
    }
    return tf.concat(rows, 1);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    ctx.add('adaptive_avg_pool2d', shapeNumel(x), 0);
    return [x[0], x[1], this.outputSize[0], this.outputSize[1]];
  }
}
