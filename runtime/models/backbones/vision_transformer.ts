import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildNormLayer } from '../../nn/builders';
import { Linear, Pair, pair } from '../../nn/conv';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, StateEntry, asShape, lazy } from '../../nn/module';
import { FFN, MultiheadAttention, PatchEmbed, resizePosEmbed, upsampleFlops } from '../../nn/transformer';
import { initParameter, initialize } from '../../nn/init';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/** Options of {@link TransformerEncoderLayer}. */
export interface TransformerEncoderLayerOptions {
  embed_dims: number;
  num_heads: number;
  feedforward_channels: number;
  layer_scale_init_value?: number;
  drop_rate?: number;
  attn_drop_rate?: number;
  drop_path_rate?: number;
  num_fcs?: number;
  qkv_bias?: boolean;
  act_cfg?: LayerCfg;
  norm_cfg?: LayerCfg;
}

/** One pre-norm ViT encoder layer: x + attn(ln1(x)), then x + ffn(ln2(x)). */
export class TransformerEncoderLayer extends Layer {
  readonly ln1: Layer;
  readonly attn: MultiheadAttention;
  readonly ln2: Layer;
  readonly ffn: FFN;

  constructor(o: TransformerEncoderLayerOptions) {
    super();
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const [n1, norm1] = buildNormLayer(normCfg, o.embed_dims, 1);
    this.ln1 = this.addModule(n1, norm1);
    const dropPath = { type: 'DropPath', drop_prob: o.drop_path_rate ?? 0 };
    this.attn = this.addModule(
      'attn',
      new MultiheadAttention({
        embed_dims: o.embed_dims,
        num_heads: o.num_heads,
        attn_drop: o.attn_drop_rate ?? 0,
        proj_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        qkv_bias: o.qkv_bias ?? true,
        layer_scale_init_value: o.layer_scale_init_value ?? 0,
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
        layer_scale_init_value: o.layer_scale_init_value ?? 0,
      }),
    );
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    // MMCls: xavier-uniform weights and N(0, 1e-6) biases for the FFN's linear layers.
    initialize(this.ffn, { type: 'Xavier', layer: 'Linear', distribution: 'uniform' });
    this.ffn.apply((m) => {
      if (m instanceof Linear && m.bias) {
        const b = m.bias;
        tf.tidy(() => b.assign(tf.randomNormal(b.shape, 0, 1e-6)));
      }
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = tf.add(x, this.attn.forward(this.ln1.forward(x)));
    return this.ffn.forward(this.ln2.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    this.attn.inferShape(this.ln1.inferShape(x, ctx), ctx);
    this.ffn.inferShape(this.ln2.inferShape(x, ctx), ctx);
    return x;
  }
}

/** embed_dims, num_layers, num_heads and feedforward_channels of a ViT-style arch. */
export type ArchSetting = { embed_dims: number; num_layers: number; num_heads: number; feedforward_channels: number };

/** VisionTransformer's arch presets (BEiT shares them). */
export const ARCH_ZOO: Record<string, ArchSetting> = {};
function arch(names: string[], s: ArchSetting): void {
  for (const n of names) ARCH_ZOO[n] = s;
}
arch(['s', 'small'], { embed_dims: 768, num_layers: 8, num_heads: 8, feedforward_channels: 768 * 3 });
arch(['b', 'base'], { embed_dims: 768, num_layers: 12, num_heads: 12, feedforward_channels: 3072 });
arch(['l', 'large'], { embed_dims: 1024, num_layers: 24, num_heads: 16, feedforward_channels: 4096 });
arch(['h', 'huge'], { embed_dims: 1280, num_layers: 32, num_heads: 16, feedforward_channels: 5120 });
arch(['eva-g', 'eva-giant'], { embed_dims: 1408, num_layers: 40, num_heads: 16, feedforward_channels: 6144 });
arch(['deit-t', 'deit-tiny'], { embed_dims: 192, num_layers: 12, num_heads: 3, feedforward_channels: 192 * 4 });
arch(['deit-s', 'deit-small'], { embed_dims: 384, num_layers: 12, num_heads: 6, feedforward_channels: 384 * 4 });
arch(['deit-b', 'deit-base'], { embed_dims: 768, num_layers: 12, num_heads: 12, feedforward_channels: 768 * 4 });

/**
 * Interpolates the checkpoint entry `key` (a [1, extra + h*w, C] position embedding of a square grid)
 * to `param`'s grid when their shapes differ (MMCls's `_prepare_pos_embed` load hook).
 */
export function preparePosEmbed(
  state: Map<string, StateEntry>,
  key: string,
  param: Parameter | null,
  grid: [number, number],
  mode: 'bicubic' | 'bilinear' | 'nearest',
  numExtraTokens: number,
): void {
  const e = state.get(key);
  if (!param || !e || e.shape.length !== 3 || e.shape.join(',') === param.torchShape.join(',')) return;
  const side = Math.floor(Math.sqrt(e.shape[1] - numExtraTokens));
  if (side * side + numExtraTokens !== e.shape[1]) return;
  const data = e.data instanceof Float32Array ? e.data : Float32Array.from(e.data as ArrayLike<number>, Number);
  const resized = tf.tidy(
    () => resizePosEmbed(tf.tensor3d(data, e.shape as [number, number, number]), [side, side], grid, mode, numExtraTokens).dataSync() as Float32Array,
  );
  state.set(key, { data: resized.slice(), shape: [1, numExtraTokens + grid[0] * grid[1], e.shape[2]], dtype: 'float32' });
}

/** Options of {@link VisionTransformer}. */
export interface VisionTransformerOptions {
  /** Preset ('base', 'small', 'large', 'huge', 'deit-tiny', 'deit-small', 'deit-base', 'eva-giant' and short forms) or a dict of embed_dims, num_layers, num_heads, feedforward_channels. @default 'base' */
  arch?: string | ArchSetting;
  /** Input image size the position embedding is made for. @default 224 */
  img_size?: Pair;
  /** Patch size. @default 16 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Layers whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Dropout after the position embedding and inside the layers. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over layers). @default 0.0 */
  drop_path_rate?: number;
  /** Bias of the qkv projections. @default True */
  qkv_bias?: boolean;
  /** Normalisation config. @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Layer norm after the last layer. @default True */
  final_norm?: boolean;
  /** Keep the class token in the sequence. @default True */
  with_cls_token?: boolean;
  /** Average the patch tokens (and norm them with ln2) as the patch output. @default False */
  avg_token?: boolean;
  /** Layers to freeze; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Output [patch_token, cls_token] per stage (MMCls 1.0.0rc) rather than the patch tokens only. @default True */
  output_cls_token?: boolean;
  /** Output type (newer MMPretrain): 'raw', 'cls_token', 'featmap' or 'avg_featmap'; overrides output_cls_token/avg_token. @default None */
  out_type?: 'raw' | 'cls_token' | 'featmap' | 'avg_featmap' | null;
  /** BEiT-style layers (not supported here). @default False */
  beit_style?: boolean;
  /** Layer-scale initial value of the layers (0 disables it). @default 0.0 */
  layer_scale_init_value?: number;
  /** Interpolation of the position embedding for other input sizes. @default 'bicubic' */
  interpolate_mode?: 'bicubic' | 'bilinear' | 'nearest';
  /** Extra PatchEmbed options. @default dict() */
  patch_cfg?: { [key: string]: unknown };
  /** Extra options of each layer (one dict for all, or a list). @default dict() */
  layer_cfgs?: { [key: string]: unknown } | { [key: string]: unknown }[];
  /** Layer norm before the layers (CLIP). @default False */
  pre_norm?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Vision Transformer backbone (An Image is Worth 16x16 Words), with the DeiT presets. */
@MODELS.registerModule()
export class VisionTransformer extends BaseBackbone {
  readonly embedDims: number;
  readonly numLayers: number;
  readonly imgSize: [number, number];
  readonly patchResolution: [number, number];
  /** Tokens before the patches (1: cls; DistilledVisionTransformer: cls and dist). */
  static readonly NUM_EXTRA_TOKENS: number = 1;
  readonly numExtraTokens: number;
  readonly withClsToken: boolean;
  readonly outputClsToken: boolean;
  readonly avgToken: boolean;
  readonly outType: 'raw' | 'cls_token' | 'featmap' | 'avg_featmap' | null;
  readonly finalNorm: boolean;
  readonly outIndices: number[];
  readonly interpolateMode: 'bicubic' | 'bilinear' | 'nearest';
  readonly frozenStages: number;
  readonly clsToken: Parameter;
  readonly posEmbed: Parameter;
  readonly patchEmbed: PatchEmbed;
  readonly dropAfterPos: Dropout;
  readonly layers: ModuleList<TransformerEncoderLayer>;
  readonly preNorm: Layer;
  readonly ln1: Layer | null;
  readonly ln2: Layer | null;

  constructor(options: VisionTransformerOptions = {}) {
    super(options.init_cfg ?? null);
    this.numExtraTokens = (new.target as typeof VisionTransformer).NUM_EXTRA_TOKENS;
    const o = options;
    const a = o.arch ?? 'base';
    let setting: ArchSetting;
    if (typeof a === 'string') {
      const s = ARCH_ZOO[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs ${Object.keys(ARCH_ZOO).join(', ')}`, { code: 'model.bad-argument' });
      setting = s;
    } else {
      for (const k of ['embed_dims', 'num_layers', 'num_heads', 'feedforward_channels']) {
        if (!(k in a)) throw new MmclsError(`Custom arch needs a dict with keys embed_dims, num_layers, num_heads, feedforward_channels; ${k} is missing`, { code: 'model.bad-argument' });
      }
      setting = a;
    }
    if (o.beit_style) throw new MmclsError('VisionTransformer: beit_style=True is not supported', { code: 'model.unsupported' });
    this.embedDims = setting.embed_dims;
    this.numLayers = setting.num_layers;
    this.imgSize = pair(o.img_size ?? 224, 'img_size');
    const normCfg = o.norm_cfg ?? { type: 'LN', eps: 1e-6 };
    const preNorm = o.pre_norm ?? false;

    this.outType = o.out_type ?? null;
    if (this.outType !== null && !['raw', 'cls_token', 'featmap', 'avg_featmap'].includes(this.outType)) {
      throw new MmclsError(`Unsupported out_type ${this.outType}, please choose from raw, cls_token, featmap, avg_featmap`, { code: 'model.bad-argument' });
    }
    this.withClsToken = o.with_cls_token ?? true;
    this.outputClsToken = this.outType === null ? (o.output_cls_token ?? true) : this.outType === 'cls_token';
    this.avgToken = this.outType === null ? (o.avg_token ?? false) : this.outType === 'avg_featmap';
    if (this.outputClsToken && !this.withClsToken) {
      throw new MmclsError('with_cls_token must be True if set output_cls_token to True (or out_type to cls_token)', { code: 'model.bad-argument' });
    }

    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({
        in_channels: o.in_channels ?? 3,
        input_size: this.imgSize,
        embed_dims: this.embedDims,
        conv_type: 'Conv2d',
        kernel_size: o.patch_size ?? 16,
        stride: o.patch_size ?? 16,
        bias: !preNorm,
        ...(o.patch_cfg ?? {}),
      }),
    );
    this.patchResolution = this.patchEmbed.initOutSize!;
    const numPatches = this.patchResolution[0] * this.patchResolution[1];
    // PyTorch lists a module's own parameters before its children's.
    this.clsToken = this.registerParameter('cls_token', lazy([1, 1, this.embedDims], () => tf.zeros([1, 1, this.embedDims])))!;
    this.interpolateMode = o.interpolate_mode ?? 'bicubic';
    this.posEmbed = this.registerParameter('pos_embed', lazy([1, numPatches + this.numExtraTokens, this.embedDims], () => tf.zeros([1, numPatches + this.numExtraTokens, this.embedDims])))!;
    this.dropAfterPos = this.addModule('drop_after_pos', new Dropout({ p: o.drop_rate ?? 0 }));

    const outIdx = typeof o.out_indices === 'number' ? [o.out_indices] : [...(o.out_indices ?? [-1])];
    this.outIndices = outIdx.map((i) => {
      const j = i < 0 ? this.numLayers + i : i;
      if (j < 0 || j > this.numLayers) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });

    const dpr = o.drop_path_rate ?? 0;
    const layerCfgs = Array.isArray(o.layer_cfgs) ? o.layer_cfgs : Array(this.numLayers).fill(o.layer_cfgs ?? {});
    this.layers = this.addModule('layers', new ModuleList<TransformerEncoderLayer>());
    for (let i = 0; i < this.numLayers; i++) {
      this.layers.push(
        new TransformerEncoderLayer({
          embed_dims: this.embedDims,
          num_heads: setting.num_heads,
          feedforward_channels: setting.feedforward_channels,
          layer_scale_init_value: o.layer_scale_init_value ?? 0,
          drop_rate: o.drop_rate ?? 0,
          drop_path_rate: this.numLayers > 1 ? (dpr * i) / (this.numLayers - 1) : 0,
          qkv_bias: o.qkv_bias ?? true,
          norm_cfg: normCfg,
          ...(layerCfgs[i] ?? {}),
        } as TransformerEncoderLayerOptions),
      );
    }
    this.frozenStages = o.frozen_stages ?? -1;
    this.preNorm = this.addModule('pre_norm', preNorm ? buildNormLayer(normCfg, this.embedDims)[1] : new Identity());
    this.finalNorm = o.final_norm ?? true;
    this.ln1 = this.finalNorm ? this.addModule('ln1', buildNormLayer(normCfg, this.embedDims, 1)[1]) : null;
    this.ln2 = this.avgToken ? this.addModule('ln2', buildNormLayer(normCfg, this.embedDims, 2)[1]) : null;
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

  /** MMCls's `_prepare_pos_embed`: a checkpoint's `pos_embed` made for another input size is interpolated to this one. */
  protected override prepareStateDict(state: Map<string, StateEntry>, prefix: string): void {
    preparePosEmbed(state, `${prefix}pos_embed`, this.posEmbed, this.patchResolution, this.interpolateMode, this.numExtraTokens);
  }

  private freezeStages(): void {
    this.posEmbed.requiresGrad = false;
    this.dropAfterPos.eval();
    this.patchEmbed.eval();
    this.patchEmbed.requiresGrad(false);
    this.clsToken.requiresGrad = false;
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
    let h = tf.concat([...this.extraTokens().map((t) => tf.tile(t, [b, 1, 1])), tokens], 1);
    h = tf.add(h, resizePosEmbed(this.posEmbed.variable, this.patchResolution, size, this.interpolateMode, this.numExtraTokens));
    h = this.dropAfterPos.forward(h);
    if (!this.withClsToken) h = tf.slice(h, [0, 1, 0], [-1, -1, -1]);
    h = this.preNorm.forward(h);
    const outs: Feat[] = [];
    const layers = this.layers.toArray();
    layers.forEach((layer, i) => {
      h = layer.forward(h);
      if (i === layers.length - 1 && this.ln1) h = this.ln1.forward(h);
      if (this.outIndices.includes(i)) outs.push(this.formatOutput(h, size));
    });
    return outs;
  }

  /** Tokens before the patches in the sequence the layers see (DeiT3 adds its cls token after the position embedding). */
  protected sequenceExtraTokens(): number {
    return this.withClsToken ? this.numExtraTokens : 0;
  }

  /** The learned tokens put before the patches, in order. */
  protected extraTokens(): tf.Tensor[] {
    return [this.clsToken.variable];
  }

  protected formatOutput(h: tf.Tensor, [ph, pw]: [number, number]): Feat {
    const [b, , c] = h.shape;
    const clsToken = this.withClsToken ? tf.reshape(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [b, c]) : null;
    const patches = this.withClsToken ? tf.slice(h, [0, 1, 0], [-1, -1, -1]) : h;
    if (this.outType === 'raw') return h;
    if (this.outType === 'cls_token') return clsToken;
    let patchToken: tf.Tensor = tf.reshape(patches, [b, ph, pw, c]);
    if (this.avgToken) patchToken = this.ln2!.forward(tf.mean(tf.reshape(patches, [b, ph * pw, c]), 1));
    if (this.outType === null && this.outputClsToken) return [patchToken, clsToken];
    return patchToken;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'VisionTransformer');
    const [tok, size] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    const [ph, pw] = size;
    const c = this.embedDims;
    if (ph !== this.patchResolution[0] || pw !== this.patchResolution[1]) {
      ctx.add(`upsample_${this.interpolateMode}2d`, upsampleFlops(this.interpolateMode, c * ph * pw), 0);
    }
    let h: ShapeValue = [b, tok[1] + this.sequenceExtraTokens(), c];
    h = this.preNorm.inferShape(this.dropAfterPos.inferShape(h, ctx), ctx);
    const outs: ShapeValue[] = [];
    const layers = this.layers.toArray();
    ctx.enter(this.layers);
    try {
      layers.forEach((layer, i) => {
        h = layer.inferShape(h, ctx);
        if (i === layers.length - 1 && this.ln1) {
          ctx.exit(this.layers);
          h = this.ln1.inferShape(h, ctx);
          ctx.enter(this.layers);
        }
        if (this.outIndices.includes(i)) {
          const patch: number[] = this.avgToken ? [b, c] : [b, c, ph, pw];
          if (this.avgToken) this.ln2!.inferShape([b, c], ctx);
          if (this.outType === 'raw') outs.push(h);
          else if (this.outType === 'cls_token') outs.push([b, c]);
          else if (this.outType === null && this.outputClsToken) outs.push([patch, [b, c]]);
          else outs.push(patch);
        }
      });
    } finally {
      ctx.exit(this.layers);
    }
    return outs;
  }
}


/** Options of {@link DistilledVisionTransformer} (VisionTransformer's). */
export interface DistilledVisionTransformerOptions extends VisionTransformerOptions {}

/** DeiT's distilled Vision Transformer: a distillation token after the class token. */
@MODELS.registerModule()
export class DistilledVisionTransformer extends VisionTransformer {
  static override readonly NUM_EXTRA_TOKENS: number = 2;
  readonly distToken: Parameter;

  constructor(options: DistilledVisionTransformerOptions = {}) {
    super({ ...options, arch: options.arch ?? 'deit-base' });
    this.distToken = this.registerParameter('dist_token', lazy([1, 1, this.embedDims], () => tf.zeros([1, 1, this.embedDims])))!;
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (!(this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained')) {
      initParameter(this.distToken, { type: 'TruncNormal', std: 0.02 });
    }
  }

  protected override extraTokens(): tf.Tensor[] {
    return [this.clsToken.variable, this.distToken.variable];
  }

  protected override formatOutput(h: tf.Tensor, [ph, pw]: [number, number]): Feat {
    const [b, , c] = h.shape;
    const patchToken = tf.reshape(tf.slice(h, [0, 2, 0], [-1, -1, -1]), [b, ph, pw, c]);
    if (!this.outputClsToken) return patchToken;
    const cls = tf.reshape(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [b, c]);
    const dist = tf.reshape(tf.slice(h, [0, 1, 0], [-1, 1, -1]), [b, c]);
    return [patchToken, cls, dist];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const outs = super.forwardShape(x, ctx) as ShapeValue[];
    return outs.map((o) => (Array.isArray(o) && Array.isArray(o[0]) && (o as ShapeValue[]).length === 2 ? [...(o as ShapeValue[]), (o as ShapeValue[])[1]] : o));
  }
}
