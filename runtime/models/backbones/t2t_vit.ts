import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildNormLayer } from '../../nn/builders';
import { Linear, Pair, pair } from '../../nn/conv';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { Buffer, InitCfg, Module, Parameter, ShapeContext, ShapeValue, StateEntry, asShape, lazy } from '../../nn/module';
import { FFN, MultiheadAttention, resizePosEmbed, upsampleFlops } from '../../nn/transformer';
import { initParameter } from '../../nn/init';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { preparePosEmbed } from './vision_transformer';

/** Options of {@link Unfold}. */
export interface UnfoldOptions {
  /** Kernel size. */
  kernel_size: Pair;
  /** Stride. @default 1 */
  stride?: Pair;
  /** Zero padding on both sides. @default 0 */
  padding?: Pair;
  /** Dilation. @default 1 */
  dilation?: Pair;
}

/**
 * `nn.Unfold` on an NHWC map, transposed: [B, H, W, C] in, [B, L, C*kh*kw] out with PyTorch's feature
 * order (c * kh*kw + ki * kw + kj). It moves data only (fvcore: `aten::im2col`, no FLOPs).
 */
export class Unfold extends Layer {
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];

  constructor(o: UnfoldOptions) {
    super();
    this.kernel = pair(o.kernel_size, 'kernel_size');
    this.stride = pair(o.stride ?? 1, 'stride');
    this.padding = pair(o.padding ?? 0, 'padding');
    this.dilation = pair(o.dilation ?? 1, 'dilation');
  }

  /** Output grid of an H x W input (MMCls's `_get_unfold_size`). */
  outSize(h: number, w: number): [number, number] {
    const oh = Math.floor((h + 2 * this.padding[0] - this.dilation[0] * (this.kernel[0] - 1) - 1) / this.stride[0]) + 1;
    const ow = Math.floor((w + 2 * this.padding[1] - this.dilation[1] * (this.kernel[1] - 1) - 1) / this.stride[1]) + 1;
    return [oh, ow];
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, h, w, c] = x.shape;
    const [oh, ow] = this.outSize(h, w);
    const [ph, pw] = this.padding;
    if (ph || pw) x = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]]);
    const parts: tf.Tensor[] = [];
    for (let ki = 0; ki < this.kernel[0]; ki++) {
      for (let kj = 0; kj < this.kernel[1]; kj++) {
        const y0 = ki * this.dilation[0];
        const x0 = kj * this.dilation[1];
        parts.push(tf.stridedSlice(x, [0, y0, x0, 0], [b, y0 + (oh - 1) * this.stride[0] + 1, x0 + (ow - 1) * this.stride[1] + 1, c], [1, this.stride[0], this.stride[1], 1]));
      }
    }
    return tf.reshape(tf.stack(parts, 4), [b, oh * ow, c * this.kernel[0] * this.kernel[1]]);
  }

  protected override shapeOf(x: number[]): number[] {
    const [b, c, h, w] = x;
    const [oh, ow] = this.outSize(h, w);
    return [b, c * this.kernel[0] * this.kernel[1], oh * ow];
  }
}

/** Options of {@link T2TTransformerLayer}. */
export interface T2TTransformerLayerOptions {
  /** Feature dimension. */
  embed_dims: number;
  /** Attention heads. */
  num_heads: number;
  /** Hidden channels of the FFN. */
  feedforward_channels: number;
  /** Input token dimension (None: embed_dims); when set, the attention adds v instead of its input. @default None */
  input_dims?: number | null;
  /** Dropout after the attention projection and in the FFN. @default 0.0 */
  drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Fully connected layers of the FFN. @default 2 */
  num_fcs?: number;
  /** Bias of the qkv projection. @default False */
  qkv_bias?: boolean;
  /** Scale of q·k (None: (input_dims // num_heads) ** -0.5, as the official code). @default None */
  qk_scale?: number | null;
  /** Activation of the FFN. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** T2T-ViT's transformer layer: ViT's pre-norm layer whose input may be wider than its output. */
export class T2TTransformerLayer extends Layer {
  readonly vShortcut: boolean;
  readonly ln1: Layer;
  readonly attn: MultiheadAttention;
  readonly ln2: Layer;
  readonly ffn: FFN;

  constructor(o: T2TTransformerLayerOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.vShortcut = o.input_dims !== undefined && o.input_dims !== null;
    const inputDims = o.input_dims || o.embed_dims;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const dropPath = { type: 'DropPath', drop_prob: o.drop_path_rate ?? 0 };
    const [n1, norm1] = buildNormLayer(normCfg, inputDims, 1);
    this.ln1 = this.addModule(n1, norm1);
    this.attn = this.addModule(
      'attn',
      new MultiheadAttention({
        input_dims: inputDims,
        embed_dims: o.embed_dims,
        num_heads: o.num_heads,
        attn_drop: o.attn_drop_rate ?? 0,
        proj_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        qkv_bias: o.qkv_bias ?? false,
        qk_scale: o.qk_scale || Math.floor(inputDims / o.num_heads) ** -0.5,
        v_shortcut: this.vShortcut,
      }),
    );
    const [n2, norm2] = buildNormLayer(normCfg, o.embed_dims, 2);
    this.ln2 = this.addModule(n2, norm2);
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: o.embed_dims,
        feedforward_channels: o.feedforward_channels,
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        act_cfg: o.act_cfg ?? { type: 'GELU' },
      }),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    const a = this.attn.forward(this.ln1.forward(x));
    x = this.vShortcut ? a : tf.add(x, a);
    return this.ffn.forward(this.ln2.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const y = this.attn.inferShape(this.ln1.inferShape(x, ctx), ctx);
    this.ffn.inferShape(this.ln2.inferShape(y, ctx), ctx);
    return y;
  }
}

/** Options of {@link T2TModule} (T2T_ViT's `t2t_cfg` plus what the backbone passes). */
export interface T2TModuleOptions {
  /** Input image size. @default 224 */
  img_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Output token dimension. @default 384 */
  embed_dims?: number;
  /** Token dimension inside the T2T attention layers. @default 64 */
  token_dims?: number;
  /** Performer attention (not implemented in MMCls either). @default False */
  use_performer?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Tokens-to-Token module: three soft splits (unfolds, strides 4, 2, 2) with two attention layers between them. */
export class T2TModule extends Module {
  readonly embedDims: number;
  readonly softSplit0: Unfold;
  readonly softSplit1: Unfold;
  readonly softSplit2: Unfold;
  readonly attention1: T2TTransformerLayer;
  readonly attention2: T2TTransformerLayer;
  readonly project: Linear;
  readonly initOutSize: [number, number];

  constructor(o: T2TModuleOptions = {}) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.embedDims = o.embed_dims ?? 384;
    const inCh = o.in_channels ?? 3;
    const tokenDims = o.token_dims ?? 64;
    this.softSplit0 = this.addModule('soft_split0', new Unfold({ kernel_size: 7, stride: 4, padding: 2 }));
    this.softSplit1 = this.addModule('soft_split1', new Unfold({ kernel_size: 3, stride: 2, padding: 1 }));
    this.softSplit2 = this.addModule('soft_split2', new Unfold({ kernel_size: 3, stride: 2, padding: 1 }));
    if (o.use_performer) throw new MmclsError("T2T_ViT: Performer hasn't been implemented (t2t_cfg.use_performer must be False)", { code: 'model.unsupported' });
    this.attention1 = this.addModule('attention1', new T2TTransformerLayer({ input_dims: inCh * 7 * 7, embed_dims: tokenDims, num_heads: 1, feedforward_channels: tokenDims }));
    this.attention2 = this.addModule('attention2', new T2TTransformerLayer({ input_dims: tokenDims * 3 * 3, embed_dims: tokenDims, num_heads: 1, feedforward_channels: tokenDims }));
    this.project = this.addModule('project', new Linear({ in_features: tokenDims * 3 * 3, out_features: this.embedDims }));
    // MMCls: img_size // (4 * 2 * 2), from the first element when a pair is given.
    const side = Math.floor(pair(o.img_size ?? 224, 'img_size')[0] / 16);
    this.initOutSize = [side, side];
  }

  forward(x: tf.Tensor): { tokens: tf.Tensor; size: [number, number] } {
    let hw = this.softSplit0.outSize(x.shape[1]!, x.shape[2]!);
    let t = this.softSplit0.forward(x);
    const steps: [T2TTransformerLayer, Unfold][] = [[this.attention1, this.softSplit1], [this.attention2, this.softSplit2]];
    for (const [attn, split] of steps) {
      t = attn.forward(t);
      const [b, , c] = t.shape;
      const map = tf.reshape(t, [b, hw[0], hw[1], c]);
      hw = split.outSize(hw[0], hw[1]);
      t = split.forward(map);
    }
    return { tokens: this.project.forward(t), size: hw };
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'T2TModule');
    const s0 = this.softSplit0.inferShape(x, ctx) as number[];
    let hw = this.softSplit0.outSize(asShape(x)[2], asShape(x)[3]);
    let t = [b, s0[2], s0[1]];
    const steps: [T2TTransformerLayer, Unfold][] = [[this.attention1, this.softSplit1], [this.attention2, this.softSplit2]];
    for (const [attn, split] of steps) {
      t = attn.inferShape(t, ctx) as number[];
      const s = split.inferShape([b, t[2], hw[0], hw[1]], ctx) as number[];
      hw = split.outSize(hw[0], hw[1]);
      t = [b, s[2], s[1]];
    }
    return [this.project.inferShape(t, ctx), hw];
  }
}

/**
 * Sinusoid position encoding table [1, n_position, embed_dims] (Attention Is All You Need):
 * sin on even, cos on odd dimensions of pos / 10000^(2*(i//2)/embed_dims), computed in float64.
 */
export function getSinusoidEncoding(nPosition: number, embedDims: number): Float32Array {
  const out = new Float32Array(nPosition * embedDims);
  for (let p = 0; p < nPosition; p++) {
    for (let i = 0; i < embedDims; i++) {
      const angle = p / Math.pow(10000, (2 * Math.floor(i / 2)) / embedDims);
      out[p * embedDims + i] = i % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    }
  }
  return out;
}

/** Options of {@link T2T_ViT}. */
export interface T2T_ViTOptions {
  /** Expected input image size (the position embedding's grid is img_size // 16). @default 224 */
  img_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Embedding dimension. @default 384 */
  embed_dims?: number;
  /** Transformer layers in the encoder. @default 14 */
  num_layers?: number;
  /** Layers whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Dropout after the position embedding. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over layers). @default 0.0 */
  drop_path_rate?: number;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Layer norm after the last layer. @default True */
  final_norm?: boolean;
  /** Keep the class token in the encoder's input. @default True */
  with_cls_token?: boolean;
  /** Output [patch_token, cls_token] per stage. @default True */
  output_cls_token?: boolean;
  /** Interpolation of the position embedding for other input sizes. @default 'bicubic' */
  interpolate_mode?: 'bicubic' | 'bilinear' | 'nearest';
  /** Extra options of the Tokens-to-Token module (token_dims, use_performer). @default dict() */
  t2t_cfg?: { token_dims?: number; use_performer?: boolean };
  /** Options of each encoder layer (one dict for all, or a list). @default dict() */
  layer_cfgs?: { [key: string]: unknown } | { [key: string]: unknown }[];
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Tokens-to-Token Vision Transformer (T2T-ViT: Training Vision Transformers from Scratch on ImageNet). */
@MODELS.registerModule()
export class T2T_ViT extends BaseBackbone {
  static readonly NUM_EXTRA_TOKENS = 1;
  readonly embedDims: number;
  readonly numLayers: number;
  readonly tokensToToken: T2TModule;
  readonly patchResolution: [number, number];
  readonly withClsToken: boolean;
  readonly outputClsToken: boolean;
  readonly clsToken: Parameter;
  readonly interpolateMode: 'bicubic' | 'bilinear' | 'nearest';
  readonly posEmbed: Buffer;
  readonly dropAfterPos: Dropout;
  readonly outIndices: number[];
  readonly encoder: ModuleList<T2TTransformerLayer>;
  readonly finalNorm: boolean;
  readonly norm: Layer;

  constructor(options: T2T_ViTOptions = {}) {
    super(options.init_cfg ?? null);
    const o = options;
    this.embedDims = o.embed_dims ?? 384;
    this.numLayers = o.num_layers ?? 14;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.tokensToToken = this.addModule(
      'tokens_to_token',
      new T2TModule({ img_size: o.img_size ?? 224, in_channels: o.in_channels ?? 3, embed_dims: this.embedDims, ...(o.t2t_cfg ?? {}) }),
    );
    this.patchResolution = this.tokensToToken.initOutSize;
    const numPatches = this.patchResolution[0] * this.patchResolution[1];
    this.withClsToken = o.with_cls_token ?? true;
    this.outputClsToken = o.output_cls_token ?? true;
    if (this.outputClsToken && !this.withClsToken) {
      throw new MmclsError(`with_cls_token must be True if set output_cls_token to True, but got ${this.withClsToken}`, { code: 'model.bad-argument' });
    }
    this.clsToken = this.registerParameter('cls_token', lazy([1, 1, this.embedDims], () => tf.zeros([1, 1, this.embedDims])))!;
    this.interpolateMode = o.interpolate_mode ?? 'bicubic';
    const n = numPatches + T2T_ViT.NUM_EXTRA_TOKENS;
    const table = getSinusoidEncoding(n, this.embedDims);
    this.posEmbed = this.registerBuffer('pos_embed', lazy([1, n, this.embedDims], () => tf.tensor3d(table, [1, n, this.embedDims])));
    this.dropAfterPos = this.addModule('drop_after_pos', new Dropout({ p: o.drop_rate ?? 0 }));

    const outIdx = typeof o.out_indices === 'number' ? [o.out_indices] : [...(o.out_indices ?? [-1])];
    this.outIndices = outIdx.map((i) => {
      const j = i < 0 ? this.numLayers + i : i;
      if (j < 0 || j > this.numLayers) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });

    const dpr = o.drop_path_rate ?? 0;
    const layerCfgs = o.layer_cfgs ?? {};
    if (Array.isArray(layerCfgs) && layerCfgs.length < this.numLayers) {
      throw new MmclsError(`layer_cfgs has ${layerCfgs.length} entries for ${this.numLayers} layers`, { code: 'model.bad-argument' });
    }
    this.encoder = this.addModule('encoder', new ModuleList<T2TTransformerLayer>());
    for (let i = 0; i < this.numLayers; i++) {
      const cfg = Array.isArray(layerCfgs) ? layerCfgs[i] : layerCfgs;
      this.encoder.push(
        new T2TTransformerLayer({
          embed_dims: this.embedDims,
          num_heads: 6,
          feedforward_channels: 3 * this.embedDims,
          drop_path_rate: this.numLayers > 1 ? (dpr * i) / (this.numLayers - 1) : 0,
          qkv_bias: false,
          norm_cfg: normCfg,
          ...cfg,
        } as T2TTransformerLayerOptions),
      );
    }
    this.finalNorm = o.final_norm ?? true;
    this.norm = this.addModule('norm', this.finalNorm ? buildNormLayer(normCfg, this.embedDims)[1] : new Identity());
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (!(this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained')) {
      initParameter(this.clsToken, { type: 'TruncNormal', std: 0.02 });
    }
  }

  /** MMCls's `_prepare_pos_embed`: a checkpoint's `pos_embed` made for another input size is interpolated to this one. */
  protected override prepareStateDict(state: Map<string, StateEntry>, prefix: string): void {
    preparePosEmbed(state, `${prefix}pos_embed`, this.posEmbed as unknown as Parameter, this.patchResolution, this.interpolateMode, T2T_ViT.NUM_EXTRA_TOKENS);
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, null);
  }

  forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    const { tokens, size } = this.tokensToToken.forward(x);
    let h = tf.concat([tf.tile(this.clsToken.variable, [b, 1, 1]), tokens], 1);
    h = tf.add(h, resizePosEmbed(this.posEmbed.variable, this.patchResolution, size, this.interpolateMode, T2T_ViT.NUM_EXTRA_TOKENS));
    h = this.dropAfterPos.forward(h);
    if (!this.withClsToken) h = tf.slice(h, [0, 1, 0], [-1, -1, -1]);
    const outs: Feat[] = [];
    const layers = this.encoder.toArray();
    layers.forEach((layer, i) => {
      h = layer.forward(h);
      if (i === layers.length - 1 && this.finalNorm) h = this.norm.forward(h);
      if (this.outIndices.includes(i)) {
        const c = h.shape[2]!;
        const patches = this.withClsToken ? tf.slice(h, [0, 1, 0], [-1, -1, -1]) : h;
        const patchToken = tf.reshape(patches, [b, size[0], size[1], c]);
        if (this.outputClsToken) outs.push([patchToken, tf.reshape(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [b, c])]);
        else outs.push(patchToken);
      }
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'T2T_ViT');
    const [tok, size] = this.tokensToToken.inferShape(x, ctx) as [number[], number[]];
    const [ph, pw] = size;
    const c = this.embedDims;
    if (ph !== this.patchResolution[0] || pw !== this.patchResolution[1]) {
      ctx.add(`upsample_${this.interpolateMode}2d`, upsampleFlops(this.interpolateMode, c * ph * pw), 0);
    }
    let h: ShapeValue = [b, tok[1] + (this.withClsToken ? 1 : 0), c];
    h = this.dropAfterPos.inferShape(h, ctx);
    const outs: ShapeValue[] = [];
    const layers = this.encoder.toArray();
    ctx.enter(this.encoder);
    try {
      layers.forEach((layer, i) => {
        h = layer.inferShape(h, ctx);
        if (i === layers.length - 1 && this.finalNorm) {
          ctx.exit(this.encoder);
          h = this.norm.inferShape(h, ctx);
          ctx.enter(this.encoder);
        }
        if (this.outIndices.includes(i)) outs.push(this.outputClsToken ? [[b, c, ph, pw], [b, c]] : [b, c, ph, pw]);
      });
    } finally {
      ctx.exit(this.encoder);
    }
    return outs;
  }
}
