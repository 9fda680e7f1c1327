import * as tf from '@tensorflow/tfjs-core';
import { Layer } from './layer';
import { MODELS } from '../registry';

// Activations cost nothing in fvcore's counting (elementwise ops are not counted).

/** Common options of the activations (PyTorch's `inplace` has no meaning here and is accepted for compatibility). */
export interface ActivationOptions {
  /** Accepted for compatibility with PyTorch configs; has no effect. @default False */
  inplace?: boolean;
}

/** `nn.ReLU`: max(x, 0). */
@MODELS.registerModule()
export class ReLU extends Layer {
  constructor(_options: ActivationOptions = {}) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu(x);
  }
}

/** `nn.ReLU6`: min(max(x, 0), 6). */
@MODELS.registerModule()
export class ReLU6 extends Layer {
  constructor(_options: ActivationOptions = {}) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.relu6(x);
  }
}

/** Options of {@link LeakyReLU}. */
export interface LeakyReLUOptions extends ActivationOptions {
  /** Slope for negative inputs. @default 0.01 */
  negative_slope?: number;
}

/** `nn.LeakyReLU`. */
@MODELS.registerModule()
export class LeakyReLU extends Layer {
  readonly negativeSlope: number;
  constructor(options: LeakyReLUOptions = {}) {
    super();
    this.negativeSlope = options.negative_slope ?? 0.01;
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.leakyRelu(x, this.negativeSlope);
  }
}

/** Options of {@link GELU}. */
export interface GELUOptions {
  /** 'none' for the exact erf form, 'tanh' for the tanh approximation. @default 'none' */
  approximate?: 'none' | 'tanh';
}

/** `nn.GELU`: x * Φ(x), exact (erf) by default as in PyTorch. */
@MODELS.registerModule()
export class GELU extends Layer {
  readonly approximate: 'none' | 'tanh';
  constructor(options: GELUOptions = {}) {
    super();
    this.approximate = options.approximate ?? 'none';
  }
  forward(x: tf.Tensor): tf.Tensor {
    if (this.approximate === 'tanh') {
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
    }
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  }
}

/** `nn.Sigmoid`. */
@MODELS.registerModule()
export class Sigmoid extends Layer {
  constructor(_options: ActivationOptions = {}) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.sigmoid(x);
  }
}

/** `nn.Tanh`. */
@MODELS.registerModule()
export class Tanh extends Layer {
  constructor(_options: ActivationOptions = {}) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tanh(x);
  }
}

/** `nn.SiLU` (also MMCV's `Swish`): x * sigmoid(x). */
@MODELS.registerModule()
@MODELS.registerModule('Swish')
export class SiLU extends Layer {
  constructor(_options: ActivationOptions = {}) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, tf.sigmoid(x));
  }
}

/** MMCV's `HSwish`: x * ReLU6(x + 3) / 6. */
@MODELS.registerModule()
export class HSwish extends Layer {
  constructor(_options: ActivationOptions = {}) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.div(tf.mul(x, tf.relu6(tf.add(x, 3))), 6);
  }
}

/** Options of {@link HSigmoid} (MMCV's). */
export interface HSigmoidOptions {
  /** Added before dividing. @default 3.0 */
  bias?: number;
  /** Divisor. @default 6.0 */
  divisor?: number;
  /** Lower clamp. @default 0.0 */
  min_value?: number;
  /** Upper clamp. @default 1.0 */
  max_value?: number;
}

/** MMCV's `HSigmoid`: clamp((x + bias) / divisor, min_value, max_value). */
@MODELS.registerModule()
export class HSigmoid extends Layer {
  readonly biasValue: number;
  readonly divisor: number;
  readonly minValue: number;
  readonly maxValue: number;
  constructor(options: HSigmoidOptions = {}) {
    super();
    this.biasValue = options.bias ?? 3.0;
    this.divisor = options.divisor ?? 6.0;
    this.minValue = options.min_value ?? 0.0;
    this.maxValue = options.max_value ?? 1.0;
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.clipByValue(tf.div(tf.add(x, this.biasValue), this.divisor), this.minValue, this.maxValue);
  }
}

/** Options of {@link Dropout}. */
export interface DropoutOptions {
  /** Probability of zeroing an element. @default 0.5 */
  p?: number;
  /** MMCV's spelling of `p` in `dropout_layer` configs. @default None */
  drop_prob?: number | null;
  /** Accepted for compatibility; no effect. @default False */
  inplace?: boolean;
}

/** `nn.Dropout`: zeroes elements with probability p in training and rescales by 1/(1-p). */
@MODELS.registerModule()
export class Dropout extends Layer {
  readonly p: number;
  constructor(options: DropoutOptions = {}) {
    super();
    this.p = options.drop_prob ?? options.p ?? 0.5;
  }
  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    if (this.p >= 1) return tf.zerosLike(x);
    return tf.dropout(x, this.p);
  }
}

/** Options of {@link DropPath}. */
export interface DropPathOptions {
  /** Probability of dropping the whole residual path of a sample. @default 0.1 */
  drop_prob?: number;
}

/** Stochastic depth (MMCV's `DropPath`): drops whole samples of a residual branch in training. */
@MODELS.registerModule()
export class DropPath extends Layer {
  readonly dropProb: number;
  constructor(options: DropPathOptions = {}) {
    super();
    this.dropProb = options.drop_prob ?? 0.1;
  }
  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.dropProb === 0) return x;
    const keep = 1 - this.dropProb;
    const maskShape = [x.shape[0], ...Array(x.rank - 1).fill(1)];
    const mask = tf.floor(tf.add(tf.randomUniform(maskShape), keep));
    return tf.mul(tf.div(x, keep), mask);
  }
}
