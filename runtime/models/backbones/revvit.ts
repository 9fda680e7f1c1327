import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildNormLayer } from '../../nn/builders';
import { Linear, Pair, pair } from '../../nn/conv';
import { Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Module, Parameter, ShapeContext, ShapeValue, StateEntry, asShape, lazy } from '../../nn/module';
import { FFN, MultiheadAttention, PatchEmbed, resizePosEmbed, upsampleFlops } from '../../nn/transformer';
import { initParameter, initialize } from '../../nn/init';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { resolveArch } from './deit3';
import { ArchSetting, preparePosEmbed } from './vision_transformer';

/** RevVisionTransformer's arch presets. */
export const REVVIT_ARCH_ZOO: Record<string, ArchSetting> = {};
for (const [names, s] of [
  [['s', 'small'], { embed_dims: 768, num_layers: 8, num_heads: 8, feedforward_channels: 768 * 3 }],
  [['b', 'base'], { embed_dims: 768, num_layers: 12, num_heads: 12, feedforward_channels: 3072 }],
  [['l', 'large'], { embed_dims: 1024, num_layers: 24, num_heads: 16, feedforward_channels: 4096 }],
  [['h', 'huge'], { embed_dims: 1280, num_layers: 32, num_heads: 16, feedforward_channels: 5120 }],
  [['deit-t', 'deit-tiny'], { embed_dims: 192, num_layers: 12, num_heads: 3, feedforward_channels: 192 * 4 }],
  [['deit-s', 'deit-small'], { embed_dims: 384, num_layers: 12, num_heads: 6, feedforward_channels: 384 * 4 }],
  [['deit-b', 'deit-base'], { embed_dims: 768, num_layers: 12, num_heads: 12, feedforward_channels: 768 * 4 }],
] as [string[], ArchSetting][]) {
  for (const n of names) REVVIT_ARCH_ZOO[n] = s;
}

/** Options of {@link RevTransformerEncoderLayer}. */
export interface RevTransformerEncoderLayerOptions {
  embed_dims: number;
  num_heads: number;
  feedforward_channels: number;
  drop_rate?: number;
  attn_drop_rate?: number;
  drop_path_rate?: number;
  num_fcs?: number;
  qkv_bias?: boolean;
  act_cfg?: LayerCfg;
  norm_cfg?: LayerCfg;
  layer_id?: number;
}

/**
 * One reversible layer on the two streams: y1 = x1 + attn(ln1(x2)), y2 = x2 + ffn(ln2(y1)).
 * Stochastic depth drops both branches of a sample together (MMCls reseeds the same mask for both).
 */
export class RevTransformerEncoderLayer extends Module {
  readonly ln1: Layer;
  readonly attn: MultiheadAttention;
  readonly ln2: Layer;
  readonly ffn: FFN;
  readonly dropPathRate: number;
  readonly layerId: number;

  constructor(o: RevTransformerEncoderLayerOptions) {
    super();
    const c = o.embed_dims;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.dropPathRate = o.drop_path_rate ?? 0;
    this.layerId = o.layer_id ?? 0;
    const [n1, norm1] = buildNormLayer(normCfg, c, 1);
    this.ln1 = this.addModule(n1, norm1);
    this.attn = this.addModule(
      'attn',
      new MultiheadAttention({ embed_dims: c, num_heads: o.num_heads, attn_drop: o.attn_drop_rate ?? 0, proj_drop: o.drop_rate ?? 0, qkv_bias: o.qkv_bias ?? true }),
    );
    const [n2, norm2] = buildNormLayer(normCfg, c, 2);
    this.ln2 = this.addModule(n2, norm2);
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: c,
        feedforward_channels: o.feedforward_channels,
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.drop_rate ?? 0,
        act_cfg: o.act_cfg ?? { type: 'GELU' },
        add_identity: false,
      }),
    );
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    initialize(this.ffn, { type: 'Xavier', layer: 'Linear', distribution: 'uniform' });
    this.ffn.apply((m) => {
      if (m instanceof Linear && m.bias) {
        const bias = m.bias;
        tf.tidy(() => bias.assign(tf.randomNormal(bias.shape, 0, 1e-6)));
      }
    });
  }

  /** The two streams in, the two streams out. */
  forward(x1: tf.Tensor, x2: tf.Tensor): [tf.Tensor, tf.Tensor] {
    let scale: tf.Tensor | null = null;
    if (this.training && this.dropPathRate > 0) {
      const keep = 1 - this.dropPathRate;
      const maskShape = [x1.shape[0], ...Array(x1.rank - 1).fill(1)];
      scale = tf.div(tf.floor(tf.add(tf.randomUniform(maskShape), keep)), keep);
    }
    const drop = (t: tf.Tensor): tf.Tensor => (scale ? tf.mul(t, scale) : t);
    const y1 = tf.add(x1, drop(this.attn.forward(this.ln1.forward(x2))));
    const y2 = tf.add(x2, drop(this.ffn.forward(this.ln2.forward(y1))));
    return [y1, y2];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    this.attn.inferShape(this.ln1.inferShape(x, ctx), ctx);
    this.ffn.inferShape(this.ln2.inferShape(x, ctx), ctx);
    return x;
  }
}

/** How {@link TwoStreamFusion} joins the two halves of the channels. */
export type FusionMode = 'add' | 'max' | 'min' | 'avg' | 'concat';

/** Joins the two streams (concatenated on the channels): their sum, max, min, mean, or the concatenation itself. */
export class TwoStreamFusion extends Layer {
  readonly mode: FusionMode;
  constructor(mode: FusionMode) {
    super();
    if (!['add', 'max', 'min', 'avg', 'concat'].includes(mode)) {
      throw new MmclsError(`RevVisionTransformer: fusion_mode ${JSON.stringify(mode)} is not supported; use one of add, max, min, avg, concat`, {
        code: 'model.unsupported',
      });
    }
    this.mode = mode;
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (this.mode === 'concat') return x;
    const [a, b] = tf.split(x, 2, -1);
    if (this.mode === 'add') return tf.add(a, b);
    if (this.mode === 'max') return tf.maximum(a, b);
    if (this.mode === 'min') return tf.minimum(a, b);
    return tf.div(tf.add(a, b), 2);
  }

  protected override shapeOf(x: number[], _ctx: ShapeContext): number[] {
    return this.mode === 'concat' ? x : [...x.slice(0, -1), x[x.length - 1] / 2];
  }
}

/** Options of {@link RevVisionTransformer}. */
export interface RevVisionTransformerOptions {
  /** Preset ('small', 'base', 'large', 'huge', 'deit-tiny', 'deit-small', 'deit-base' and short forms) or a dict of embed_dims, num_layers, num_heads, feedforward_channels. @default 'base' */
  arch?:
    | 's' | 'small' | 'b' | 'base' | 'l' | 'large' | 'h' | 'huge'
    | 'deit-t' | 'deit-tiny' | 'deit-s' | 'deit-small' | 'deit-b' | 'deit-base'
    | ArchSetting;
  /** Input image size the position embedding is made for. @default 224 */
  img_size?: Pair;
  /** Patch size. @default 16 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Output layer: only the last one (-1) is supported. @default -1 */
  out_indices?: number | number[];
  /** Dropout after the position embedding and inside the layers. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over layers). @default 0.0 */
  drop_path_rate?: number;
  /** Bias of the qkv projections. @default True */
  qkv_bias?: boolean;
  /** Normalisation config. @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Layer norm (over both streams, 2 x embed_dims channels) after the last layer. @default True */
  final_norm?: boolean;
  /** Keep the class token in the sequence; RevViT supports only False. @default False */
  with_cls_token?: boolean;
  /** Average the patch tokens as the output. @default True */
  avg_token?: boolean;
  /** Layers to freeze; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Output [patch_token, cls_token]; needs with_cls_token, so only False works. @default False */
  output_cls_token?: boolean;
  /** Interpolation of the position embedding for other input sizes. @default 'bicubic' */
  interpolate_mode?: 'bicubic' | 'bilinear' | 'nearest';
  /** Extra PatchEmbed options. @default dict() */
  patch_cfg?: { [key: string]: unknown };
  /** Extra options of each layer (one dict for all, or a list). @default dict() */
  layer_cfgs?: { [key: string]: unknown } | { [key: string]: unknown }[];
  /** How the two streams are joined at the end: 'concat', 'add', 'max', 'min' or 'avg'. @default 'concat' */
  fusion_mode?: FusionMode;
  /** Ordinary back-propagation instead of the reversible one. Here gradients always come from ordinary automatic differentiation (the same values, without the memory saving). @default False */
  no_custom_backward?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * Reversible Vision Transformer (Reversible Vision Transformers): the tokens are doubled into two
 * streams that reversible layers update in turn; the streams are normed together and fused at the end.
 */
@MODELS.registerModule()
export class RevVisionTransformer extends BaseBackbone {
  static readonly NUM_EXTRA_TOKENS = 1;
  readonly embedDims: number;
  readonly numLayers: number;
  readonly imgSize: [number, number];
  readonly patchResolution: [number, number];
  readonly withClsToken: boolean;
  readonly outputClsToken: boolean;
  readonly avgToken: boolean;
  readonly finalNorm: boolean;
  readonly frozenStages: number;
  readonly outIndices: number[];
  readonly interpolateMode: 'bicubic' | 'bilinear' | 'nearest';
  readonly noCustomBackward: boolean;
  readonly clsToken: Parameter;
  readonly posEmbed: Parameter;
  readonly patchEmbed: PatchEmbed;
  readonly dropAfterPos: Dropout;
  readonly layers: ModuleList<RevTransformerEncoderLayer>;
  readonly fusionLayer: TwoStreamFusion;
  readonly ln1: Layer | null;

  constructor(options: RevVisionTransformerOptions = {}) {
    super(options.init_cfg ?? null);
    const o = options;
    const setting = resolveArch(o.arch ?? 'base', REVVIT_ARCH_ZOO);
    this.embedDims = setting.embed_dims;
    this.numLayers = setting.num_layers;
    this.imgSize = pair(o.img_size ?? 224, 'img_size');
    this.noCustomBackward = o.no_custom_backward ?? false;
    const normCfg = o.norm_cfg ?? { type: 'LN', eps: 1e-6 };
    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({
        in_channels: o.in_channels ?? 3,
        input_size: this.imgSize,
        embed_dims: this.embedDims,
        conv_type: 'Conv2d',
        kernel_size: o.patch_size ?? 16,
        stride: o.patch_size ?? 16,
        ...(o.patch_cfg ?? {}),
      }),
    );
    this.patchResolution = this.patchEmbed.initOutSize!;
    const numPatches = this.patchResolution[0] * this.patchResolution[1];
    this.withClsToken = o.with_cls_token ?? false;
    this.outputClsToken = o.output_cls_token ?? false;
    if (this.outputClsToken && !this.withClsToken) {
      throw new MmclsError('with_cls_token must be True if set output_cls_token to True', { code: 'model.bad-argument' });
    }
    if (this.withClsToken) throw new MmclsError('RevVisionTransformer: with_cls_token=True is not supported', { code: 'model.unsupported' });
    const c = this.embedDims;
    this.clsToken = this.registerParameter('cls_token', lazy([1, 1, c], () => tf.zeros([1, 1, c])))!;
    this.interpolateMode = o.interpolate_mode ?? 'bicubic';
    const nPos = numPatches + RevVisionTransformer.NUM_EXTRA_TOKENS;
    this.posEmbed = this.registerParameter('pos_embed', lazy([1, nPos, c], () => tf.zeros([1, nPos, c])))!;
    this.dropAfterPos = this.addModule('drop_after_pos', new Dropout({ p: o.drop_rate ?? 0 }));

    const outIdx = typeof o.out_indices === 'number' ? [o.out_indices] : [...(o.out_indices ?? [-1])];
    this.outIndices = outIdx.map((i) => {
      const j = i < 0 ? this.numLayers + i : i;
      if (j < 0 || j > this.numLayers) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });
    if (this.outIndices.length !== 1 || this.outIndices[0] !== this.numLayers - 1) {
      throw new MmclsError(`RevVisionTransformer: only the last layer can be output (out_indices=-1), got ${JSON.stringify(o.out_indices)}`, {
        code: 'model.unsupported',
      });
    }

    const dpr = o.drop_path_rate ?? 0;
    const layerCfgs = Array.isArray(o.layer_cfgs) ? o.layer_cfgs : Array(this.numLayers).fill(o.layer_cfgs ?? {});
    this.layers = this.addModule('layers', new ModuleList<RevTransformerEncoderLayer>());
    for (let i = 0; i < this.numLayers; i++) {
      this.layers.push(
        new RevTransformerEncoderLayer({
          embed_dims: c,
          num_heads: setting.num_heads,
          feedforward_channels: setting.feedforward_channels,
          drop_rate: o.drop_rate ?? 0,
          drop_path_rate: this.numLayers > 1 ? (dpr * i) / (this.numLayers - 1) : 0,
          qkv_bias: o.qkv_bias ?? true,
          layer_id: i,
          norm_cfg: normCfg,
          ...(layerCfgs[i] ?? {}),
        } as RevTransformerEncoderLayerOptions),
      );
    }
    this.fusionLayer = this.addModule('fusion_layer', new TwoStreamFusion(o.fusion_mode ?? 'concat'));
    this.frozenStages = o.frozen_stages ?? -1;
    this.finalNorm = o.final_norm ?? true;
    this.ln1 = this.finalNorm ? this.addModule('ln1', buildNormLayer(normCfg, c * 2, 1)[1]) : null;
    this.avgToken = o.avg_token ?? true;
    if (this.frozenStages > 0) this.freezeStages();
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (!(this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained')) {
      initParameter(this.posEmbed, { type: 'TruncNormal', std: 0.02 });
    }
  }

  /** MMCls's `_prepare_pos_embed`: a checkpoint's `pos_embed` of another input size is interpolated. */
  protected override prepareStateDict(state: Map<string, StateEntry>, prefix: string): void {
    preparePosEmbed(state, `${prefix}pos_embed`, this.posEmbed, this.patchResolution, this.interpolateMode, RevVisionTransformer.NUM_EXTRA_TOKENS);
  }

  private freezeStages(): void {
    this.posEmbed.requiresGrad = false;
    this.dropAfterPos.eval();
    this.patchEmbed.eval();
    this.patchEmbed.requiresGrad(false);
    for (let i = 1; i <= this.frozenStages; i++) {
      const m = this.layers.at(i - 1);
      m.eval();
      m.requiresGrad(false);
    }
    if (this.frozenStages === this.numLayers && this.ln1) {
      this.ln1.eval();
      this.ln1.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    super.train(mode);
    if (this.frozenStages > 0) this.freezeStages();
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    const { tokens, size } = this.patchEmbed.forward(x);
    let h = tf.concat([tf.tile(this.clsToken.variable, [b, 1, 1]), tokens], 1);
    h = tf.add(h, resizePosEmbed(this.posEmbed.variable, this.patchResolution, size, this.interpolateMode, RevVisionTransformer.NUM_EXTRA_TOKENS));
    h = this.dropAfterPos.forward(h);
    // The class token only takes part in the position embedding: RevViT runs on the patches.
    h = tf.slice(h, [0, 1, 0], [-1, -1, -1]);
    let x1 = h;
    let x2 = h;
    for (const layer of this.layers) [x1, x2] = layer.forward(x1, x2);
    h = tf.concat([x1, x2], -1);
    if (this.ln1) h = this.ln1.forward(h);
    h = this.fusionLayer.forward(h);
    const c = h.shape[2]!;
    const out = this.avgToken ? tf.mean(h, 1) : tf.reshape(h, [b, size[0], size[1], c]);
    return [out];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'RevVisionTransformer');
    const [tok, size] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    const [ph, pw] = size;
    const c = this.embedDims;
    if (ph !== this.patchResolution[0] || pw !== this.patchResolution[1]) {
      ctx.add(`upsample_${this.interpolateMode}2d`, upsampleFlops(this.interpolateMode, c * ph * pw), 0);
    }
    const h: number[] = asShape(this.dropAfterPos.inferShape([b, tok[1] + 1, c], ctx));
    const stream = [b, h[1] - 1, c];
    ctx.enter(this.layers);
    try {
      for (const layer of this.layers) layer.inferShape(stream, ctx);
    } finally {
      ctx.exit(this.layers);
    }
    let y: number[] = [b, stream[1], 2 * c];
    if (this.ln1) y = asShape(this.ln1.inferShape(y, ctx));
    y = asShape(this.fusionLayer.inferShape(y, ctx));
    return [this.avgToken ? [b, y[2]] : [b, y[2], ph, pw]];
  }
}
