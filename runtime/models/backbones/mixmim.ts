import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath, Dropout } from '../../nn/activation';
import { LayerCfg, buildNormLayer } from '../../nn/builders';
import { Linear, Pair } from '../../nn/conv';
import { initialize } from '../../nn/init';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { FFN, PatchEmbed, PatchEmbedOptions } from '../../nn/transformer';
import { Feat } from '../types';
import { PatchMerging } from '../utils/patch_merging';
import { WindowMSA, windowPartition, windowReverse } from '../utils/window_msa';
import { BaseBackbone } from './base_backbone';

/** Options of {@link MixMIMWindowAttention}. */
export interface MixMIMWindowAttentionOptions {
  /** Number of input channels. */
  embed_dims: number;
  /** Height and width of the window. */
  window_size: [number, number];
  /** Number of attention heads. */
  num_heads: number;
  /** Bias of the qkv projection. @default True */
  qkv_bias?: boolean;
  /** Scale of q (None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop_rate?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * MixMIM's window attention: Swin's WindowMSA whose optional mask is a per-token 0/1 group map
 * [B*nW, N, 1] (pre-training mixes two images): tokens attend only within their own group.
 */
export class MixMIMWindowAttention extends WindowMSA {
  constructor(o: MixMIMWindowAttentionOptions) {
    super({
      embed_dims: o.embed_dims,
      window_size: o.window_size,
      num_heads: o.num_heads,
      qkv_bias: o.qkv_bias ?? true,
      qk_scale: o.qk_scale ?? null,
      attn_drop: o.attn_drop_rate ?? 0,
      proj_drop: o.proj_drop_rate ?? 0,
    });
    this.initCfg = o.init_cfg ?? null;
  }

  /** `x`: windows [B*nW, N, C]; `mask`: the token groups [B*nW, N, 1] (or [B*nW, N]), or null. */
  override forward(x: tf.Tensor, mask: tf.Tensor | null = null): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, 3, h, c / h]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(qkv, 0);
    let attn = tf.matMul(tf.mul(q, this.scale), k, false, true);
    attn = tf.add(attn, tf.expandDims(this.positionBias(), 0));
    if (mask) {
      const m = tf.reshape(mask, [b, 1, 1, n]);
      const mt = tf.reshape(mask, [b, 1, n, 1]);
      const same = tf.add(tf.mul(m, mt), tf.mul(tf.sub(1, m), tf.sub(1, mt)));
      attn = tf.sub(attn, tf.mul(1e30, tf.sub(1, same)));
    }
    attn = this.attnDrop.forward(tf.softmax(attn, -1));
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, c]);
    return this.projDrop.forward(this.proj.forward(y));
  }
}

/** Options of {@link MixMIMBlock}. */
export interface MixMIMBlockOptions {
  /** Feature dimension. */
  embed_dims: number;
  /** Input resolution [H, W] of this layer. */
  input_resolution: [number, number];
  /** Number of attention heads. */
  num_heads: number;
  /** Window size (the resolution when that is smaller). @default 7 */
  window_size?: number;
  /** MLP ratio of the FFN. @default 4.0 */
  mlp_ratio?: number;
  /** Number of linear layers of the FFN. @default 2 */
  num_fcs?: number;
  /** Bias of the qkv projection. @default True */
  qkv_bias?: boolean;
  /** Dropout after projections. @default 0.0 */
  proj_drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Activation of the FFN. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MixMIM block: a ViT encoder layer (`ln1`, `attn`, `ln2`, `ffn`) whose attention works in non-shifted windows. */
export class MixMIMBlock extends Layer {
  readonly embedDims: number;
  readonly inputResolution: [number, number];
  readonly numHeads: number;
  readonly windowSize: number;
  readonly ln1: Layer;
  readonly attn: MixMIMWindowAttention;
  readonly ln2: Layer;
  readonly ffn: FFN;
  readonly dropPath: Layer;

  constructor(o: MixMIMBlockOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.embedDims = o.embed_dims;
    this.inputResolution = [o.input_resolution[0], o.input_resolution[1]];
    this.numHeads = o.num_heads;
    let ws = o.window_size ?? 7;
    if (Math.min(...this.inputResolution) <= ws) ws = Math.min(...this.inputResolution);
    this.windowSize = ws;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const dp = o.drop_path_rate ?? 0;
    this.ln1 = this.addModule('ln1', buildNormLayer(normCfg, o.embed_dims, 1)[1]);
    this.attn = this.addModule(
      'attn',
      new MixMIMWindowAttention({
        embed_dims: o.embed_dims,
        window_size: [ws, ws],
        num_heads: o.num_heads,
        qkv_bias: o.qkv_bias ?? true,
        attn_drop_rate: o.attn_drop_rate ?? 0,
        proj_drop_rate: o.proj_drop_rate ?? 0,
      }),
    );
    this.ln2 = this.addModule('ln2', buildNormLayer(normCfg, o.embed_dims, 2)[1]);
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: o.embed_dims,
        feedforward_channels: Math.floor((o.mlp_ratio ?? 4) * o.embed_dims),
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.proj_drop_rate ?? 0,
        dropout_layer: { type: 'DropPath', drop_prob: dp },
        act_cfg: o.act_cfg ?? { type: 'GELU' },
      }),
    );
    this.dropPath = this.addModule('drop_path', dp > 0 ? new DropPath({ drop_prob: dp }) : new Identity());
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    // MMCls's TransformerEncoderLayer.init_weights: Xavier-uniform FFN weights, N(0, 1e-6) biases.
    initialize(this.ffn, { type: 'Xavier', layer: 'Linear', distribution: 'uniform' });
    this.ffn.apply((m) => {
      if (m instanceof Linear && m.bias) {
        const b = m.bias;
        tf.tidy(() => b.assign(tf.randomNormal(b.shape, 0, 1e-6)));
      }
    });
  }

  private checkTokens(l: number): void {
    const [h, w] = this.inputResolution;
    if (l !== h * w) throw new MmclsError(`MixMIMBlock: expected ${h}x${w} = ${h * w} tokens, got ${l} (the input size must be img_size)`, { code: 'model.shape' });
    if (h % this.windowSize !== 0 || w % this.windowSize !== 0) {
      throw new MmclsError(`MixMIMBlock: the ${h}x${w} resolution is not a multiple of the window size ${this.windowSize}`, { code: 'model.shape' });
    }
  }

  /** `x` [B, H*W, C]; `attnMask` the token groups [1 or B, H*W, 1] (pre-training) or null. */
  forward(x: tf.Tensor, attnMask: tf.Tensor | null = null): tf.Tensor {
    const [h, w] = this.inputResolution;
    const [b, l, c] = x.shape as [number, number, number];
    this.checkTokens(l);
    const ws = this.windowSize;
    const windows = tf.reshape(windowPartition(tf.reshape(this.ln1.forward(x), [b, h, w, c]), ws), [-1, ws * ws, c]);
    let mask: tf.Tensor | null = null;
    if (attnMask) {
      const m = tf.reshape(tf.tile(attnMask, [b / attnMask.shape[0], 1, 1]), [b, h, w, 1]);
      mask = tf.reshape(windowPartition(m, ws), [-1, ws * ws, 1]);
    }
    const attn = tf.reshape(this.attn.forward(windows, mask), [-1, ws, ws, c]);
    const y = tf.add(x, this.dropPath.forward(tf.reshape(windowReverse(attn, h, w, ws), [b, h * w, c])));
    return this.ffn.forward(this.ln2.forward(y), y);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = asShape(x, 'MixMIMBlock');
    const [b, l, c] = s;
    this.checkTokens(l);
    this.ln1.inferShape(s, ctx);
    const ws = this.windowSize;
    this.attn.inferShape([(b * l) / (ws * ws), ws * ws, c], ctx);
    this.ffn.inferShape(this.ln2.inferShape(s, ctx), ctx);
    return s;
  }
}

/** Options of {@link MixMIMLayer}. */
export interface MixMIMLayerOptions {
  /** Feature dimension. */
  embed_dims: number;
  /** Input resolution [H, W]. */
  input_resolution: [number, number];
  /** Number of blocks. */
  depth: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Window size. */
  window_size: number;
  /** MLP ratio. @default 4.0 */
  mlp_ratio?: number;
  /** Bias of the qkv projections. @default True */
  qkv_bias?: boolean;
  /** Dropout after projections. @default 0.0 */
  proj_drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate of each block. @default [0.0] */
  drop_path_rate?: number[];
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Append a patch merging (to 2 x embed_dims). @default False */
  downsample?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  use_checkpoint?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** One MixMIM stage: `blocks`, then an optional patch merging `downsample`. */
export class MixMIMLayer extends Layer {
  readonly inputResolution: [number, number];
  readonly blocks: ModuleList<MixMIMBlock>;
  readonly downsample: PatchMerging | null;

  constructor(o: MixMIMLayerOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.inputResolution = [o.input_resolution[0], o.input_resolution[1]];
    const dpr = o.drop_path_rate ?? [0];
    this.blocks = this.addModule('blocks', new ModuleList<MixMIMBlock>());
    for (let i = 0; i < o.depth; i++) {
      this.blocks.push(
        new MixMIMBlock({
          embed_dims: o.embed_dims,
          input_resolution: this.inputResolution,
          num_heads: o.num_heads,
          window_size: o.window_size,
          mlp_ratio: o.mlp_ratio ?? 4,
          qkv_bias: o.qkv_bias ?? true,
          proj_drop_rate: o.proj_drop_rate ?? 0,
          attn_drop_rate: o.attn_drop_rate ?? 0,
          drop_path_rate: dpr[i] ?? 0,
          norm_cfg: o.norm_cfg ?? { type: 'LN' },
        }),
      );
    }
    this.downsample = o.downsample
      ? this.addModule('downsample', new PatchMerging({ in_channels: o.embed_dims, out_channels: 2 * o.embed_dims, norm_cfg: o.norm_cfg ?? { type: 'LN' } }))
      : null;
  }

  forward(x: tf.Tensor, attnMask: tf.Tensor | null = null): tf.Tensor {
    for (const blk of this.blocks.toArray()) x = blk.forward(x, attnMask);
    if (this.downsample) x = this.downsample.forward(x, this.inputResolution).tokens;
    return x;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let s = asShape(x, 'MixMIMLayer');
    ctx.enter(this.blocks);
    try {
      for (const blk of this.blocks.toArray()) s = asShape(blk.inferShape(s, ctx));
    } finally {
      ctx.exit(this.blocks);
    }
    if (this.downsample) s = asShape((this.downsample.inferShape([s, [...this.inputResolution]], ctx) as ShapeValue[])[0]);
    return s;
  }
}

/** A MixMIM architecture. */
export interface MixMIMArch {
  /** Embedding width of the first stage. */
  embed_dims: number;
  /** Blocks per stage. */
  depths: number[];
  /** Heads per stage. */
  num_heads: number[];
}

const ARCHS: [string[], MixMIMArch][] = [
  [['b', 'base'], { embed_dims: 128, depths: [2, 2, 18, 2], num_heads: [4, 8, 16, 32] }],
  [['l', 'large'], { embed_dims: 192, depths: [2, 2, 18, 2], num_heads: [6, 12, 24, 48] }],
  [['h', 'huge'], { embed_dims: 352, depths: [2, 2, 18, 2], num_heads: [11, 22, 44, 88] }],
];
export const MIXMIM_ARCHS: Record<string, MixMIMArch> = Object.fromEntries(ARCHS.flatMap(([names, a]) => names.map((n) => [n, a])));

/** Options of {@link MixMIMTransformer}. */
export interface MixMIMTransformerOptions {
  /** Architecture: 'b' / 'base', 'l' / 'large', 'h' / 'huge', or a dict with embed_dims, depths and num_heads. @default 'base' */
  arch?: string | MixMIMArch;
  /** MLP ratio of the FFNs. @default 4 */
  mlp_ratio?: number;
  /** Input image size (the network only accepts this size). @default 224 */
  img_size?: Pair;
  /** Patch size of the patch embedding. @default 4 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Window size of each stage. @default [14, 14, 14, 7] */
  window_size?: number[];
  /** Bias of the qkv projections. @default True */
  qkv_bias?: boolean;
  /** Extra patch-embedding config. @default dict() */
  patch_cfg?: PatchEmbedOptions;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Dropout rate (after the position embedding and projections). @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Gradient checkpointing (no effect here). @default False */
  use_checkpoint?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Average over the tokens ([B, C, L] -> [B, C, 1], `nn.AdaptiveAvgPool1d(1)`; fvcore counts no FLOPs for it). */
class TokenAvgPool extends Layer {
  override get typeName(): string {
    return 'AdaptiveAvgPool1d';
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.mean(x, 1);
  }

  /** `x` is PyTorch's [B, C, L] (the tokens transposed). */
  protected override forwardShape(x: ShapeValue): ShapeValue {
    const [b, c] = asShape(x);
    return [b, c];
  }
}

/** MixMIM backbone (MixMIM: Mixed and Masked Image Modeling for Efficient Visual Representation Learning); outputs the pooled [B, C] feature. */
@MODELS.registerModule()
export class MixMIMTransformer extends BaseBackbone {
  readonly archSettings: MixMIMArch;
  readonly embedDims: number;
  readonly depths: number[];
  readonly numHeads: number[];
  readonly encoderStride = 32;
  readonly numLayers: number;
  readonly windowSize: number[];
  readonly patchEmbed: PatchEmbed;
  readonly patchResolution: [number, number];
  readonly dpr: number[];
  readonly layers: ModuleList<MixMIMLayer>;
  readonly numFeatures: number;
  readonly dropAfterPos: Dropout;
  readonly avgpool: Layer;
  readonly numPatches: number;
  readonly absolutePosEmbed: Parameter;
  readonly norm: Layer;

  constructor(o: MixMIMTransformerOptions = {}) {
    super(o.init_cfg ?? null);
    const a = o.arch ?? 'base';
    if (typeof a === 'string') {
      const s = MIXMIM_ARCHS[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs {${Object.keys(MIXMIM_ARCHS).join(', ')}}`, { code: 'model.bad-argument' });
      this.archSettings = s;
    } else {
      for (const k of ['embed_dims', 'depths', 'num_heads']) {
        if (!a || typeof a !== 'object' || !(k in a)) {
          throw new MmclsError("Custom arch needs a dict with keys {'embed_dims', 'depths', 'num_heads'}", { code: 'model.bad-argument' });
        }
      }
      this.archSettings = a;
    }
    this.embedDims = this.archSettings.embed_dims;
    this.depths = [...this.archSettings.depths];
    this.numHeads = [...this.archSettings.num_heads];
    this.numLayers = this.depths.length;
    this.windowSize = [...(o.window_size ?? [14, 14, 14, 7])];
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const patch = o.patch_size ?? 4;
    // PyTorch registers parameters set directly on the module (absolute_pos_embed) before children.
    this.patchEmbed = new PatchEmbed({
      in_channels: o.in_channels ?? 3,
      input_size: o.img_size ?? 224,
      embed_dims: this.embedDims,
      conv_type: 'Conv2d',
      kernel_size: patch,
      stride: patch,
      norm_cfg: { type: 'LN' },
      ...(o.patch_cfg ?? {}),
    });
    this.patchResolution = this.patchEmbed.initOutSize!;
    this.numPatches = this.patchResolution[0] * this.patchResolution[1];
    this.absolutePosEmbed = this.registerParameter('absolute_pos_embed', lazy([1, this.numPatches, this.embedDims], () => tf.zeros([1, this.numPatches, this.embedDims])))!;
    this.absolutePosEmbed.requiresGrad = false;
    this.addModule('patch_embed', this.patchEmbed);
    const total = this.depths.reduce((s, d) => s + d, 0);
    const rate = o.drop_path_rate ?? 0;
    this.dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
    this.layers = this.addModule('layers', new ModuleList<MixMIMLayer>());
    let start = 0;
    for (let i = 0; i < this.numLayers; i++) {
      this.layers.push(
        new MixMIMLayer({
          embed_dims: this.embedDims * 2 ** i,
          input_resolution: [Math.floor(this.patchResolution[0] / 2 ** i), Math.floor(this.patchResolution[1] / 2 ** i)],
          depth: this.depths[i],
          num_heads: this.numHeads[i],
          window_size: this.windowSize[i],
          mlp_ratio: o.mlp_ratio ?? 4,
          qkv_bias: o.qkv_bias ?? true,
          proj_drop_rate: o.drop_rate ?? 0,
          attn_drop_rate: o.attn_drop_rate ?? 0,
          drop_path_rate: this.dpr.slice(start, start + this.depths[i]),
          norm_cfg: normCfg,
          downsample: i < this.numLayers - 1,
          use_checkpoint: o.use_checkpoint ?? false,
        }),
      );
      start += this.depths[i];
    }
    this.numFeatures = this.embedDims * 2 ** (this.numLayers - 1);
    this.dropAfterPos = this.addModule('drop_after_pos', new Dropout({ p: o.drop_rate ?? 0 }));
    this.avgpool = this.addModule('avgpool', new TokenAvgPool());
    this.norm = this.addModule('norm', buildNormLayer(normCfg, this.numFeatures)[1]);
  }

  forward(x: tf.Tensor): Feat[] {
    let h = this.patchEmbed.forward(x).tokens;
    if (h.shape[1] !== this.numPatches) {
      throw new MmclsError(`MixMIMTransformer: the input gives ${h.shape[1]} patches, the model was built for ${this.numPatches} (img_size); resize the input`, { code: 'model.shape' });
    }
    h = this.dropAfterPos.forward(tf.add(h, this.absolutePosEmbed.variable));
    for (const layer of this.layers.toArray()) h = layer.forward(h, null);
    return [this.avgpool.forward(this.norm.forward(h))];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tok] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    let h: number[] = tok;
    h = asShape(this.dropAfterPos.inferShape(h, ctx));
    ctx.enter(this.layers);
    try {
      for (const layer of this.layers.toArray()) h = asShape(layer.inferShape(h, ctx));
    } finally {
      ctx.exit(this.layers);
    }
    h = asShape(this.norm.inferShape(h, ctx));
    return [this.avgpool.inferShape([h[0], h[2], h[1]], ctx) as number[]];
  }
}

