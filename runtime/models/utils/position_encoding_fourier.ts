import * as tf from '@tensorflow/tfjs-core';
import { Conv2d } from '../../nn/conv';
import { Module, ShapeContext, ShapeValue, asShape } from '../../nn/module';

/**
 * The Position Encoding Fourier module (EdgeNeXt, XCiT): sine/cosine features of the normalised
 * row and column index, `2 * in_channels` channels, projected to `embed_dims` by a 1x1 conv (`proj`).
 * The features are computed in float32 as PyTorch does (single rounding per step).
 */
export class PositionEncodingFourier extends Module {
  readonly inChannels: number;
  readonly embedDims: number;
  readonly temperature: number;
  readonly proj: Conv2d;
  private readonly dimT: Float32Array;
  private readonly cache = new Map<string, Float32Array>();

  constructor(o: { in_channels?: number; embed_dims?: number; temperature?: number } = {}) {
    super();
    this.inChannels = o.in_channels ?? 32;
    this.embedDims = o.embed_dims ?? 768;
    this.temperature = o.temperature ?? 10000;
    this.proj = this.addModule('proj', new Conv2d({ in_channels: this.inChannels * 2, out_channels: this.embedDims, kernel_size: 1 }));
    this.dimT = new Float32Array(this.inChannels);
    for (let i = 0; i < this.inChannels; i++) {
      this.dimT[i] = Math.fround(this.temperature ** Math.fround((2 * Math.floor(i / 2)) / this.inChannels));
    }
  }

  /** The un-projected features [H, W, 2 * in_channels] (row features first, then column features). */
  features(h: number, w: number): Float32Array {
    const key = `${h}x${w}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const c = this.inChannels;
    const f = Math.fround;
    const scale = f(2 * Math.PI);
    const eps = 1e-6;
    const yDen = f(h + eps);
    const xDen = f(w + eps);
    const out = new Float32Array(h * w * 2 * c);
    for (let i = 0; i < h; i++) {
      const y = f(f((i + 1) / yDen) * scale);
      for (let j = 0; j < w; j++) {
        const x = f(f((j + 1) / xDen) * scale);
        const base = (i * w + j) * 2 * c;
        for (let k = 0; k < c; k++) {
          const py = f(y / this.dimT[k]);
          const px = f(x / this.dimT[k]);
          out[base + k] = k % 2 === 0 ? Math.sin(py) : Math.cos(py);
          out[base + c + k] = k % 2 === 0 ? Math.sin(px) : Math.cos(px);
        }
      }
    }
    this.cache.set(key, out);
    return out;
  }

  /** The encoding for a batch of `b` maps of size h x w: [B, H, W, embed_dims]. */
  forward(b: number, h: number, w: number): tf.Tensor {
    const feats = tf.tensor4d(this.features(h, w), [1, h, w, 2 * this.inChannels]);
    const batch = b === 1 ? feats : tf.tile(feats, [b, 1, 1, 1]);
    return this.proj.forward(batch);
  }

  /** Shape pass for (B, H, W) given as the shape [B, C, H, W] of the map it is added to. */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, , h, w] = asShape(x, 'PositionEncodingFourier');
    return this.proj.inferShape([b, 2 * this.inChannels, h, w], ctx);
  }
}
