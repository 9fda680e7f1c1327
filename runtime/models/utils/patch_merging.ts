import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { LayerCfg, buildNormLayer } from '../../nn/builders';
import { Linear, Pair, pair } from '../../nn/conv';
import { Layer } from '../../nn/layer';
import { Module, ShapeContext, ShapeValue } from '../../nn/module';
import { AdaptivePadding } from '../../nn/transformer';

/** Options of {@link PatchMerging}. */
export interface PatchMergingOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Kernel of the unfold. @default 2 */
  kernel_size?: Pair;
  /** Stride of the unfold (None: kernel_size). @default None */
  stride?: Pair | null;
  /** 'corner' / 'same' adaptive padding, or a number (zero padding of the unfold). @default 'corner' */
  padding?: 'corner' | 'same' | number;
  /** Dilation of the unfold. @default 1 */
  dilation?: Pair;
  /** Bias of the reduction layer. @default False */
  bias?: boolean;
  /** Norm config (None: no norm). @default dict(type='LN') */
  norm_cfg?: LayerCfg | null;
  /** Norm after the reduction on out_channels (Swin V2, MMCls's PatchMerging) instead of before it on the unfolded channels (MMCV's). @default False */
  is_post_norm?: boolean;
}

/**
 * Patch merging (MMCV's `PatchMerging`; with `is_post_norm` MMCls's Swin V2 variant): an
 * `nn.Unfold` of k x k patches (feature index c * k*k + ki * k + kj, as unfold orders them), a
 * norm and a linear reduction. Tokens [B, H*W, C] in, [B, H'*W', C'] out.
 */
export class PatchMerging extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly dilation: [number, number];
  readonly pad: [number, number];
  readonly isPostNorm: boolean;
  readonly adapPadding: AdaptivePadding | null;
  readonly norm: Layer | null;
  readonly reduction: Linear;

  constructor(o: PatchMergingOptions) {
    super();
    this.inChannels = o.in_channels;
    this.outChannels = o.out_channels;
    this.kernel = pair(o.kernel_size ?? 2, 'kernel_size');
    this.stride = pair(o.stride || (o.kernel_size ?? 2), 'stride');
    this.dilation = pair(o.dilation ?? 1, 'dilation');
    this.isPostNorm = o.is_post_norm ?? false;
    const padding = o.padding ?? 'corner';
    // MMCV names the padding `adap_padding`, MMCls's post-norm variant `adaptive_padding`.
    const padName = this.isPostNorm ? 'adaptive_padding' : 'adap_padding';
    if (typeof padding === 'string') {
      this.adapPadding = this.addModule(padName, new AdaptivePadding({ kernel_size: this.kernel, stride: this.stride, dilation: this.dilation, padding }));
      this.pad = [0, 0];
    } else {
      this.adapPadding = null;
      this.pad = pair(padding, 'padding');
    }
    const sampleDim = this.kernel[0] * this.kernel[1] * o.in_channels;
    const normCfg = o.norm_cfg === undefined ? { type: 'LN' } : o.norm_cfg;
    // Registration order is the state-dict order: MMCV builds norm then reduction, MMCls's V2 the reverse.
    if (this.isPostNorm) {
      this.reduction = this.addModule('reduction', new Linear({ in_features: sampleDim, out_features: o.out_channels, bias: o.bias ?? false }));
      this.norm = normCfg ? this.addModule('norm', buildNormLayer(normCfg, o.out_channels)[1]) : null;
    } else {
      this.norm = normCfg ? this.addModule('norm', buildNormLayer(normCfg, sampleDim)[1]) : null;
      this.reduction = this.addModule('reduction', new Linear({ in_features: sampleDim, out_features: o.out_channels, bias: o.bias ?? false }));
    }
  }

  /** Output grid of an (already adaptively padded) H x W map. */
  outSize(h: number, w: number): [number, number] {
    const oh = Math.floor((h + 2 * this.pad[0] - this.dilation[0] * (this.kernel[0] - 1) - 1) / this.stride[0]) + 1;
    const ow = Math.floor((w + 2 * this.pad[1] - this.dilation[1] * (this.kernel[1] - 1) - 1) / this.stride[1]) + 1;
    return [oh, ow];
  }

  /** `nn.Unfold` on an NHWC map: [B, oh*ow, C*kh*kw] with PyTorch's channel order. */
  unfold(x: tf.Tensor): { tokens: tf.Tensor; size: [number, number] } {
    if (this.pad[0] || this.pad[1]) x = tf.pad(x, [[0, 0], [this.pad[0], this.pad[0]], [this.pad[1], this.pad[1]], [0, 0]]);
    const [b, h, w, c] = x.shape;
    const [oh, ow] = this.outSize(h - 2 * this.pad[0], w - 2 * this.pad[1]);
    const parts: tf.Tensor[] = [];
    for (let ki = 0; ki < this.kernel[0]; ki++) {
      for (let kj = 0; kj < this.kernel[1]; kj++) {
        const y0 = ki * this.dilation[0];
        const x0 = kj * this.dilation[1];
        parts.push(
          tf.stridedSlice(x, [0, y0, x0, 0], [b, y0 + (oh - 1) * this.stride[0] + 1, x0 + (ow - 1) * this.stride[1] + 1, c], [1, this.stride[0], this.stride[1], 1]),
        );
      }
    }
    const stacked = tf.stack(parts, 4); // [B, oh, ow, C, kh*kw]
    return { tokens: tf.reshape(stacked, [b, oh * ow, c * this.kernel[0] * this.kernel[1]]), size: [oh, ow] };
  }

  forward(x: tf.Tensor, hw: [number, number]): { tokens: tf.Tensor; size: [number, number] } {
    const [b, l, c] = x.shape;
    const [h, w] = hw;
    if (l !== h * w) throw new MmclsError(`PatchMerging: input feature has wrong size (${l} tokens for ${h}x${w})`, { code: 'model.shape' });
    let m = tf.reshape(x, [b, h, w, c]);
    if (this.adapPadding) m = this.adapPadding.forward(m);
    let { tokens, size } = this.unfold(m);
    if (this.isPostNorm) {
      tokens = this.reduction.forward(tokens);
      if (this.norm) tokens = this.norm.forward(tokens);
    } else {
      if (this.norm) tokens = this.norm.forward(tokens);
      tokens = this.reduction.forward(tokens);
    }
    return { tokens, size };
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    const [b, , c] = tokens;
    let [h, w] = hw;
    if (this.adapPadding) [, , h, w] = this.adapPadding.inferShape([b, c, h, w], ctx) as number[];
    const [oh, ow] = this.outSize(h, w);
    // The unfold (aten::im2col) moves data only: no FLOPs.
    let t = [b, oh * ow, c * this.kernel[0] * this.kernel[1]];
    if (this.isPostNorm) {
      t = this.reduction.inferShape(t, ctx) as number[];
      if (this.norm) this.norm.inferShape(t, ctx);
    } else {
      if (this.norm) this.norm.inferShape(t, ctx);
      t = this.reduction.inferShape(t, ctx) as number[];
    }
    return [t, [oh, ow]];
  }
}
