import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { Layer } from '../../nn/layer';
import { ShapeContext, shapeNumel } from '../../nn/module';

/**
 * `nn.Upsample(scale_factor=s, mode='nearest')` for an integer factor: every pixel of an NHWC map is
 * repeated s x s times (PyTorch's nearest index floor(i / s) is exactly that for integer s).
 */
export class Upsample extends Layer {
  readonly scaleFactor: number;
  readonly mode: 'nearest';

  constructor(o: { scale_factor: number; mode?: 'nearest' }) {
    super();
    if (!Number.isInteger(o.scale_factor) || o.scale_factor < 1) {
      throw new MmclsError(`Upsample: only integer scale factors are supported, got ${o.scale_factor}`, { code: 'model.unsupported' });
    }
    if ((o.mode ?? 'nearest') !== 'nearest') {
      throw new MmclsError(`Upsample: only mode='nearest' is supported, got ${JSON.stringify(o.mode)}`, { code: 'model.unsupported' });
    }
    this.scaleFactor = o.scale_factor;
    this.mode = 'nearest';
  }

  forward(x: tf.Tensor): tf.Tensor {
    const s = this.scaleFactor;
    if (s === 1) return x;
    const [n, h, w, c] = x.shape;
    // Rank-4 tiles only (TensorFlow.js has no tile gradient above rank 5): columns, then rows.
    const cols = tf.reshape(tf.tile(tf.reshape(x, [n * h, w, 1, c]), [1, 1, s, 1]), [n, h, 1, w * s * c]);
    return tf.reshape(tf.tile(cols, [1, 1, s, 1]), [n, h * s, w * s, c]);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const out = [x[0], x[1], x[2] * this.scaleFactor, x[3] * this.scaleFactor];
    // fvcore's upsample_nearest2d handle: one flop per output element.
    ctx.add('upsample_nearest2d', shapeNumel(out), 0);
    return out;
  }
}
