import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Module, Parameter, ShapeContext, ShapeValue, lazy } from '../../nn/module';
import { Feat, asTensor } from '../types';

/** Options of {@link GeneralizedMeanPooling}. */
export interface GeneralizedMeanPoolingOptions {
  /** Initial power p of the generalized mean. @default 3.0 */
  p?: number;
  /** Lower clamp of the inputs before the power. @default 1e-06 */
  eps?: number;
  /** Whether p is learned. @default False */
  p_trainable?: boolean;
}

/** Generalized-mean pooling neck (GeM): (mean(clamp(x, eps)^p))^(1/p) over H, W. */
@MODELS.registerModule()
export class GeneralizedMeanPooling extends Module {
  readonly p: Parameter;
  readonly eps: number;

  constructor(options: GeneralizedMeanPoolingOptions = {}) {
    super();
    const p = options.p ?? 3.0;
    if (!(p >= 1)) throw new MmclsError("GeneralizedMeanPooling: 'p' must be a value greater than 1", { code: 'model.bad-argument' });
    this.p = this.registerParameter('p', lazy([1], () => tf.fill([1], p)))!;
    this.p.requiresGrad = options.p_trainable ?? false;
    this.eps = options.eps ?? 1e-6;
  }

  private one(x: Feat): tf.Tensor {
    const t = asTensor(x, 'GeneralizedMeanPooling');
    const p = this.p.variable;
    const pooled = tf.mean(tf.pow(tf.clipByValue(t, this.eps, Number.MAX_VALUE), p), [1, 2]);
    return tf.pow(pooled, tf.div(1, p));
  }

  forward(inputs: Feat[] | tf.Tensor): Feat[] {
    if (!Array.isArray(inputs)) return [this.one(inputs)];
    return inputs.map((x) => this.one(x));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    // avg_pool2d of the powered input: no fvcore handle (0 FLOPs).
    void ctx;
    const one = (s: ShapeValue): ShapeValue => {
      const v = s as number[];
      return [v[0], v[1]];
    };
    if (Array.isArray(x) && x.length && Array.isArray(x[0])) return (x as ShapeValue[]).map(one);
    return one(x);
  }
}
