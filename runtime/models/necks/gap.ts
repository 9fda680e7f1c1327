import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Module, ShapeContext, ShapeValue, shapeNumel } from '../../nn/module';
import { AdaptiveAvgPool2d } from '../../nn/pooling';
import { Feat, asTensor } from '../types';

/** Options of {@link GlobalAveragePooling}. */
export interface GlobalAveragePoolingOptions {
  /** Dimensions of the pooling: 1, 2 or 3 (2 for images). @default 2 */
  dim?: 1 | 2 | 3;
}

/** Global average pooling neck: each feature map [N, H, W, C] becomes [N, C]. */
@MODELS.registerModule()
export class GlobalAveragePooling extends Module {
  readonly dim: number;
  readonly gap: AdaptiveAvgPool2d;

  constructor(options: GlobalAveragePoolingOptions = {}) {
    super();
    this.dim = options.dim ?? 2;
    if (this.dim !== 2 && this.dim !== 1) {
      throw new MmclsError(`GlobalAveragePooling: only dim=2 (images) and dim=1 (token sequences) are supported, got ${this.dim}`, { code: 'model.unsupported' });
    }
    this.gap = this.addModule('gap', new AdaptiveAvgPool2d({ output_size: [1, 1] }));
  }

  private one(x: Feat): tf.Tensor {
    const t = asTensor(x, 'GlobalAveragePooling');
    // dim=1: PyTorch's [N, C, L] sequences are [N, L, C] here (MlpMixer's outputs).
    if (this.dim === 1) return tf.mean(t, 1);
    return tf.reshape(this.gap.forward(t), [t.shape[0], -1]);
  }

  forward(inputs: Feat[] | tf.Tensor): Feat[] {
    if (!Array.isArray(inputs)) return [this.one(inputs)];
    return inputs.map((x) => this.one(x));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const one = (s: ShapeValue): ShapeValue => {
      if (this.dim === 1) {
        const [n, c, l] = s as number[];
        // aten::adaptive_avg_pool1d has no handle in MMEngine's counter (0 FLOPs).
        void l;
        return [n, c];
      }
      const out = this.gap.inferShape(s, ctx) as number[];
      return [out[0], shapeNumel(out) / out[0]];
    };
    if (Array.isArray(x) && x.length && Array.isArray(x[0])) return (x as ShapeValue[]).map(one);
    return one(x);
  }
}
