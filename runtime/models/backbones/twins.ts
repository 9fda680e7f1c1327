import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildDropout, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Module, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { initialize } from '../../nn/init';
import { FFN, PatchEmbed } from '../../nn/transformer';
import { Feat } from '../types';
import { ConditionalPositionEncoding } from '../utils/position_encoding';
import { BaseBackbone } from './base_backbone';
import { dropPathRates, normalizeOutIndices } from './swin_transformer';

/** Options of {@link GlobalSubsampledAttention}. */
export interface GlobalSubsampledAttentionOptions {
  /** Embedding dimension. */
  embed_dims: number;
  /** Number of heads. */
  num_heads: number;
  /** Norm after the spatial reduction. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Bias of the q and kv projections. @default True */
  qkv_bias?: boolean;
  /** Kernel and stride of the spatial-reduction convolution (1: none). @default 1 */
  sr_ratio?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop?: number;
  /** Dropout or DropPath on the output. @default dict(type='Dropout', drop_prob=0.) */
  dropout_layer?: LayerCfg | null;
  /** Scale of q·k (None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
}

/**
 * Global sub-sampled attention (GSA) of Twins: queries from every token, keys and values from the
 * map reduced by an sr_ratio x sr_ratio strided convolution and a norm. Built like MMCls's (a
 * MultiheadAttention whose fused `qkv` is replaced by `q` and `kv`), so its keys come in that order.
 */
export class GlobalSubsampledAttention extends Module {
  readonly embedDims: number;
  readonly numHeads: number;
  readonly headDims: number;
  readonly scale: number;
  readonly srRatio: number;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;
  readonly outDrop: Layer;
  readonly q: Linear;
  readonly kv: Linear;
  readonly sr: Conv2d | null;
  readonly norm: Layer | null;

  constructor(o: GlobalSubsampledAttentionOptions) {
    super();
    this.embedDims = o.embed_dims;
    this.numHeads = o.num_heads;
    this.headDims = Math.floor(o.embed_dims / o.num_heads);
    this.scale = o.qk_scale || this.headDims ** -0.5;
    const c = o.embed_dims;
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: c, out_features: c }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop ?? 0 }));
    this.outDrop = this.addModule('out_drop', buildDropout(o.dropout_layer === undefined ? { type: 'Dropout', drop_prob: 0 } : o.dropout_layer));
    this.addModule('gamma1', new Identity());
    const bias = o.qkv_bias ?? true;
    this.q = this.addModule('q', new Linear({ in_features: c, out_features: c, bias }));
    this.kv = this.addModule('kv', new Linear({ in_features: c, out_features: 2 * c, bias }));
    this.srRatio = o.sr_ratio ?? 1;
    if (this.srRatio > 1) {
      this.sr = this.addModule('sr', new Conv2d({ in_channels: c, out_channels: c, kernel_size: this.srRatio, stride: this.srRatio }));
      this.norm = this.addModule('norm', buildNormLayer(o.norm_cfg ?? { type: 'LN' }, c)[1]);
    } else {
      this.sr = null;
      this.norm = null;
    }
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    if (hw[0] * hw[1] !== n) throw new MmclsError('The product of h and w of hw_shape must be N, which is the 2nd dim number of the input Tensor x.', { code: 'model.shape' });
    const q = tf.transpose(tf.reshape(this.q.forward(x), [b, n, h, c / h]), [0, 2, 1, 3]);
    let kvIn = x;
    if (this.sr && this.norm) {
      const m = this.sr.forward(tf.reshape(x, [b, hw[0], hw[1], c]));
      kvIn = this.norm.forward(tf.reshape(m, [b, -1, c]));
    }
    const kv = tf.transpose(tf.reshape(this.kv.forward(kvIn), [b, -1, 2, h, this.headDims]), [2, 0, 3, 1, 4]);
    const [k, v] = tf.unstack(kv, 0);
    let attn = tf.softmax(tf.mul(tf.matMul(q, k, false, true), this.scale), -1);
    attn = this.attnDrop.forward(attn);
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, c]);
    return this.outDrop.forward(this.projDrop.forward(this.proj.forward(y)));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    const [b, n, c] = tokens;
    this.q.inferShape(tokens, ctx);
    let kvIn = tokens;
    if (this.sr && this.norm) {
      const [, , oh, ow] = this.sr.inferShape([b, c, hw[0], hw[1]], ctx) as number[];
      kvIn = this.norm.inferShape([b, oh * ow, c], ctx) as number[];
    }
    this.kv.inferShape(kvIn, ctx);
    const m = kvIn[1];
    const h = this.numHeads;
    const d = this.headDims;
    ctx.add('matmul', b * h * n * m * d, b * h * n * m);
    ctx.add('matmul', b * h * n * m * d, b * h * n * d);
    return this.proj.inferShape(tokens, ctx);
  }
}

/** Options shared by the two Twins encoder layers. */
export interface TwinsEncoderLayerOptions {
  /** Feature dimension. */
  embed_dims: number;
  /** Number of heads. */
  num_heads: number;
  /** Hidden channels of the FFN. */
  feedforward_channels: number;
  /** Dropout after the attention projection and inside the FFN. @default 0.0 */
  drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Fully connected layers of the FFN. @default 2 */
  num_fcs?: number;
  /** Bias of the q, k, v projections. @default True */
  qkv_bias?: boolean;
  /** Scale of q·k (LSA; None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
  /** Activation of the FFN. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Norm config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Spatial reduction ratio (GSA). @default 1 */
  sr_ratio?: number;
  /** Window size (LSA). @default 1 */
  window_size?: number;
}

/** Pre-norm layer around GSA or LSA: x + drop_path(attn(norm1(x))), x + drop_path(ffn(norm2(x))). */
abstract class TwinsEncoderLayer extends Module {
  readonly norm1: Layer;
  abstract readonly attn: Module & { forward(x: tf.Tensor, hw: [number, number]): tf.Tensor };
  readonly norm2: Layer;
  readonly ffn: FFN;
  readonly dropPath: Layer;

  protected constructor(o: TwinsEncoderLayerOptions, makeAttn: () => Module) {
    super();
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, o.embed_dims, 1)[1]);
    this.addModule('attn', makeAttn());
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, o.embed_dims, 2)[1]);
    const dp = o.drop_path_rate ?? 0;
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: o.embed_dims,
        feedforward_channels: o.feedforward_channels,
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.drop_rate ?? 0,
        dropout_layer: { type: 'DropPath', drop_prob: dp },
        act_cfg: o.act_cfg ?? { type: 'GELU' },
        add_identity: false,
      }),
    );
    this.dropPath = this.addModule('drop_path', dp > 0 ? buildDropout({ type: 'DropPath', drop_prob: dp }) : new Identity());
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    const y = tf.add(x, this.dropPath.forward(this.attn.forward(this.norm1.forward(x), hw)));
    return tf.add(y, this.dropPath.forward(this.ffn.forward(this.norm2.forward(y))));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    this.attn.inferShape([this.norm1.inferShape(tokens, ctx), hw], ctx);
    this.ffn.inferShape(this.norm2.inferShape(tokens, ctx), ctx);
    return tokens;
  }
}

/** Twins encoder layer with global sub-sampled attention. */
export class GSAEncoderLayer extends TwinsEncoderLayer {
  readonly attn: GlobalSubsampledAttention;
  constructor(o: TwinsEncoderLayerOptions) {
    super(o, () =>
      new GlobalSubsampledAttention({
        embed_dims: o.embed_dims,
        num_heads: o.num_heads,
        attn_drop: o.attn_drop_rate ?? 0,
        proj_drop: o.drop_rate ?? 0,
        dropout_layer: { type: 'DropPath', drop_prob: o.drop_path_rate ?? 0 },
        qkv_bias: o.qkv_bias ?? true,
        norm_cfg: o.norm_cfg ?? { type: 'LN' },
        sr_ratio: o.sr_ratio ?? 1,
      }),
    );
    this.attn = this.getChild('attn') as GlobalSubsampledAttention;
  }
}

/**
 * The attention mask of locally-grouped attention over a map padded by (padB, padR), exactly as
 * MMCls builds it: `mask[:, -pad_b:, :] = 1` with pad_b = 0 marks every row (Python's `-0:` is the
 * whole axis), so padded positions are masked only when both paddings are non-zero. Returns
 * [nWin, ws*ws, ws*ws] with -1000 between a masked and an unmasked position, or null when nothing
 * is masked.
 */
export function lsaMask(hp: number, wp: number, ws: number, padB: number, padR: number): Float32Array | null {
  const mark = new Uint8Array(hp * wp);
  const fillRows = padB === 0 ? 0 : hp - padB;
  for (let y = fillRows; y < hp; y++) for (let x = 0; x < wp; x++) mark[y * wp + x] = 1;
  const fillCols = padR === 0 ? 0 : wp - padR;
  for (let y = 0; y < hp; y++) for (let x = fillCols; x < wp; x++) mark[y * wp + x] = 1;
  if (mark.every((v) => v === mark[0])) return null;
  const nh = hp / ws;
  const nw = wp / ws;
  const n = ws * ws;
  const out = new Float32Array(nh * nw * n * n);
  for (let wi = 0; wi < nh; wi++) {
    for (let wj = 0; wj < nw; wj++) {
      const base = (wi * nw + wj) * n * n;
      for (let a = 0; a < n; a++) {
        const ma = mark[(wi * ws + Math.floor(a / ws)) * wp + wj * ws + (a % ws)];
        for (let bb = 0; bb < n; bb++) {
          const mb = mark[(wi * ws + Math.floor(bb / ws)) * wp + wj * ws + (bb % ws)];
          out[base + a * n + bb] = ma !== mb ? -1000 : 0;
        }
      }
    }
  }
  return out;
}

/** Options of {@link LocallyGroupedSelfAttention}. */
export interface LocallyGroupedSelfAttentionOptions {
  /** Number of input channels. */
  embed_dims: number;
  /** Number of heads. @default 8 */
  num_heads?: number;
  /** Bias of the qkv projection. @default False */
  qkv_bias?: boolean;
  /** Scale of q·k (None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop_rate?: number;
  /** Window size of the local groups. @default 1 */
  window_size?: number;
}

/** Locally-grouped self-attention (LSA) of Twins-SVT: attention inside ws x ws windows of the zero-padded map. */
export class LocallyGroupedSelfAttention extends Module {
  readonly embedDims: number;
  readonly numHeads: number;
  readonly scale: number;
  readonly windowSize: number;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;

  constructor(o: LocallyGroupedSelfAttentionOptions) {
    super();
    const heads = o.num_heads ?? 8;
    if (o.embed_dims % heads !== 0) {
      throw new MmclsError(`dim ${o.embed_dims} should be divided by num_heads ${heads}`, { code: 'model.bad-argument' });
    }
    this.embedDims = o.embed_dims;
    this.numHeads = heads;
    this.scale = o.qk_scale || Math.floor(o.embed_dims / heads) ** -0.5;
    this.qkv = this.addModule('qkv', new Linear({ in_features: o.embed_dims, out_features: o.embed_dims * 3, bias: o.qkv_bias ?? false }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop_rate ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: o.embed_dims, out_features: o.embed_dims }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop_rate ?? 0 }));
    this.windowSize = o.window_size ?? 1;
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    const [b, n, c] = x.shape;
    const [h, w] = hw;
    const ws = this.windowSize;
    const padR = (ws - (w % ws)) % ws;
    const padB = (ws - (h % ws)) % ws;
    let m = tf.reshape(x, [b, h, w, c]);
    if (padR || padB) m = tf.pad(m, [[0, 0], [0, padB], [0, padR], [0, 0]]);
    const hp = h + padB;
    const wp = w + padR;
    const gh = hp / ws;
    const gw = wp / ws;
    const nn = ws * ws;
    const heads = this.numHeads;
    // [B, gh, gw, ws, ws, C]
    const groups = tf.transpose(tf.reshape(m, [b, gh, ws, gw, ws, c]), [0, 1, 3, 2, 4, 5]);
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(groups), [b, gh * gw, nn, 3, heads, c / heads]), [3, 0, 1, 4, 2, 5]);
    const [q, k, v] = tf.unstack(qkv, 0); // [B, G, heads, nn, d]
    let attn = tf.mul(tf.matMul(q, k, false, true), this.scale);
    const maskData = lsaMask(hp, wp, ws, padB, padR);
    if (maskData) attn = tf.add(attn, tf.reshape(tf.tensor(maskData), [1, gh * gw, 1, nn, nn]));
    attn = this.attnDrop.forward(tf.softmax(attn, -1));
    let y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 1, 3, 2, 4]), [b, gh, gw, ws, ws, c]);
    y = tf.reshape(tf.transpose(y, [0, 1, 3, 2, 4, 5]), [b, hp, wp, c]);
    if (padR || padB) y = tf.slice(y, [0, 0, 0, 0], [b, h, w, c]);
    return this.projDrop.forward(this.proj.forward(tf.reshape(y, [b, n, c])));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    const [b, , c] = tokens;
    const ws = this.windowSize;
    const hp = Math.ceil(hw[0] / ws) * ws;
    const wp = Math.ceil(hw[1] / ws) * ws;
    const g = (hp / ws) * (wp / ws);
    this.qkv.inferShape([b, hp / ws, wp / ws, ws, ws, c], ctx);
    const nn = ws * ws;
    const d = c / this.numHeads;
    ctx.add('matmul', b * g * this.numHeads * nn * nn * d, b * g * this.numHeads * nn * nn);
    ctx.add('matmul', b * g * this.numHeads * nn * nn * d, b * g * this.numHeads * nn * d);
    return this.proj.inferShape(tokens, ctx);
  }
}

/** Twins encoder layer with locally-grouped self-attention. */
export class LSAEncoderLayer extends TwinsEncoderLayer {
  readonly attn: LocallyGroupedSelfAttention;
  constructor(o: TwinsEncoderLayerOptions) {
    super(o, () =>
      new LocallyGroupedSelfAttention({
        embed_dims: o.embed_dims,
        num_heads: o.num_heads,
        qkv_bias: o.qkv_bias ?? true,
        qk_scale: o.qk_scale ?? null,
        attn_drop_rate: o.attn_drop_rate ?? 0,
        proj_drop_rate: o.drop_rate ?? 0,
        window_size: o.window_size ?? 1,
      }),
    );
    this.attn = this.getChild('attn') as LocallyGroupedSelfAttention;
  }
}

type PCPVTArch = {
  embed_dims: number[];
  depths: number[];
  num_heads: number[];
  patch_sizes: number[];
  strides: number[];
  mlp_ratios: number[];
  sr_ratios: number[];
};
type SVTArch = PCPVTArch & { window_sizes: number[] };

const PCPVT_ZOO: Record<string, PCPVTArch> = {};
const common = { embed_dims: [64, 128, 320, 512], num_heads: [1, 2, 5, 8], patch_sizes: [4, 2, 2, 2], strides: [4, 2, 2, 2], mlp_ratios: [8, 8, 4, 4], sr_ratios: [8, 4, 2, 1] };
for (const [names, depths] of [
  [['s', 'small'], [3, 4, 6, 3]],
  [['b', 'base'], [3, 4, 18, 3]],
  [['l', 'large'], [3, 8, 27, 3]],
] as [string[], number[]][]) {
  for (const n of names) PCPVT_ZOO[n] = { ...common, depths };
}
const SVT_ZOO: Record<string, SVTArch> = {};
const svt = { patch_sizes: [4, 2, 2, 2], strides: [4, 2, 2, 2], mlp_ratios: [4, 4, 4, 4], sr_ratios: [8, 4, 2, 1], window_sizes: [7, 7, 7, 7] };
for (const [names, s] of [
  [['s', 'small'], { embed_dims: [64, 128, 256, 512], depths: [2, 2, 10, 4], num_heads: [2, 4, 8, 16] }],
  [['b', 'base'], { embed_dims: [96, 192, 384, 768], depths: [2, 2, 18, 2], num_heads: [3, 6, 12, 24] }],
  [['l', 'large'], { embed_dims: [128, 256, 512, 1024], depths: [2, 2, 18, 2], num_heads: [4, 8, 16, 32] }],
] as [string[], { embed_dims: number[]; depths: number[]; num_heads: number[] }][]) {
  for (const n of names) SVT_ZOO[n] = { ...svt, ...s };
}

/** Options of {@link PCPVT}. */
export interface PCPVTOptions {
  /** Preset ('small', 'base', 'large' or 's', 'b', 'l') or a dict of lists embed_dims, depths, num_heads, patch_sizes, strides, mlp_ratios, sr_ratios (one entry per stage). */
  arch: 'small' | 'base' | 'large' | 's' | 'b' | 'l' | PCPVTArch;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Stages whose output is returned. @default (3, ) */
  out_indices?: number | number[];
  /** Bias of the q, k, v projections. @default False */
  qkv_bias?: boolean;
  /** Dropout rate. @default 0.0 */
  drop_rate?: number;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over all layers). @default 0.0 */
  drop_path_rate?: number;
  /** Norm config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** A norm after every stage, or one flag per stage. @default False */
  norm_after_stage?: boolean | boolean[];
  /** Initialisation config (None: truncated-normal linear layers, unit norms, He-normal convolutions). @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Twins-PCPVT backbone (Twins: Revisiting the Design of Spatial Attention in Vision Transformers): GSA layers with a conditional position encoding after each stage's first layer. */
@MODELS.registerModule()
export class PCPVT extends BaseBackbone {
  readonly archSettings: PCPVTArch;
  readonly depths: number[];
  readonly embedDims: number[];
  readonly numStage: number;
  readonly outIndices: number[];
  readonly normAfterStage: boolean[];
  readonly dpr: number[];
  readonly patchEmbeds: ModuleList<PatchEmbed>;
  readonly positionEncodingDrops: ModuleList<Dropout>;
  readonly stages: ModuleList<ModuleList<TwinsEncoderLayer>>;
  readonly positionEncodings: ModuleList<ConditionalPositionEncoding>;
  readonly stageNorms: Layer[] = [];

  constructor(options: PCPVTOptions) {
    super(options.init_cfg ?? null);
    const o = options;
    const zoo: Record<string, PCPVTArch> = new.target === SVT ? SVT_ZOO : PCPVT_ZOO;
    const keys = new.target === SVT
      ? ['depths', 'embed_dims', 'mlp_ratios', 'num_heads', 'patch_sizes', 'sr_ratios', 'strides', 'window_sizes']
      : ['depths', 'embed_dims', 'mlp_ratios', 'num_heads', 'patch_sizes', 'sr_ratios', 'strides'];
    const a = o.arch;
    if (typeof a === 'string') {
      const found = zoo[a.toLowerCase()];
      if (!found) throw new MmclsError(`Arch ${a} is not in default archs ${Object.keys(zoo).join(', ')}`, { code: 'model.bad-argument' });
      this.archSettings = found;
    } else {
      if (!a || typeof a !== 'object' || Object.keys(a).sort().join(',') !== keys.join(',')) {
        throw new MmclsError(`Custom arch needs a dict with keys ${keys.join(', ')}.`, { code: 'model.bad-argument' });
      }
      this.archSettings = a;
    }
    const s = this.archSettings;
    this.depths = [...s.depths];
    this.embedDims = [...s.embed_dims];
    this.numStage = this.depths.length;
    for (const [k, v] of Object.entries(s)) {
      if (!Array.isArray(v) || v.length !== this.numStage) {
        throw new MmclsError(`Length of setting item in arch dict must be type of list and have the same length (${k}).`, { code: 'model.bad-argument' });
      }
    }
    this.patchEmbeds = this.addModule('patch_embeds', new ModuleList<PatchEmbed>());
    this.positionEncodingDrops = this.addModule('position_encoding_drops', new ModuleList<Dropout>());
    // Registered before the position encodings (PyTorch's order), filled after them.
    this.stages = this.addModule('stages', new ModuleList<ModuleList<TwinsEncoderLayer>>());
    for (let i = 0; i < this.numStage; i++) {
      this.patchEmbeds.push(
        new PatchEmbed({
          in_channels: i === 0 ? o.in_channels ?? 3 : this.embedDims[i - 1],
          embed_dims: this.embedDims[i],
          conv_type: 'Conv2d',
          kernel_size: s.patch_sizes[i],
          stride: s.strides[i],
          padding: 'corner',
          norm_cfg: { type: 'LN' },
        }),
      );
      this.positionEncodingDrops.push(new Dropout({ p: o.drop_rate ?? 0 }));
    }
    this.positionEncodings = this.addModule(
      'position_encodings',
      new ModuleList(this.embedDims.map((d) => new ConditionalPositionEncoding({ in_channels: d, embed_dims: d }))),
    );
    const total = this.depths.reduce((x, y) => x + y, 0);
    this.dpr = dropPathRates(o.drop_path_rate ?? 0, total);
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    let cur = 0;
    const windowSizes = (s as SVTArch).window_sizes;
    for (let k = 0; k < this.numStage; k++) {
      const blocks = new ModuleList<TwinsEncoderLayer>();
      for (let i = 0; i < this.depths[k]; i++) {
        const layer: TwinsEncoderLayerOptions = {
          embed_dims: this.embedDims[k],
          num_heads: s.num_heads[k],
          feedforward_channels: s.mlp_ratios[k] * this.embedDims[k],
          attn_drop_rate: o.attn_drop_rate ?? 0,
          drop_rate: o.drop_rate ?? 0,
          drop_path_rate: this.dpr[cur + i],
          num_fcs: 2,
          qkv_bias: o.qkv_bias ?? false,
          act_cfg: { type: 'GELU' },
          norm_cfg: normCfg,
          sr_ratio: s.sr_ratios[k],
        };
        // SVT: locally-grouped attention in the even-numbered layers of each stage.
        if (windowSizes && i % 2 === 0) blocks.push(new LSAEncoderLayer({ ...layer, window_size: windowSizes[k] }));
        else blocks.push(new GSAEncoderLayer(layer));
      }
      this.stages.push(blocks);
      cur += this.depths[k];
    }
    this.outIndices = normalizeOutIndices(o.out_indices ?? [3], this.numStage, new.target.name);
    const nas = o.norm_after_stage ?? false;
    if (typeof nas !== 'boolean' && !Array.isArray(nas)) throw new MmclsError('norm_after_stage should be bool or List[bool].', { code: 'model.bad-argument' });
    this.normAfterStage = typeof nas === 'boolean' ? Array(this.numStage).fill(nas) : [...nas];
    if (this.normAfterStage.length !== this.numStage) {
      throw new MmclsError(`Number of norm_after_stage(${this.normAfterStage.length}) should be equal to the number of stages(${this.numStage}).`, {
        code: 'model.bad-argument',
      });
    }
    this.normAfterStage.forEach((has, i) => {
      const layer = has && normCfg ? buildNormLayer(normCfg, this.embedDims[i])[1] : new Identity();
      this.stageNorms.push(this.addModule(`norm_after_stage${i}`, layer));
    });
  }

  override initWeights(): void {
    if (this.isInit) return;
    if (this.initCfg) {
      super.initWeights();
      return;
    }
    // MMCls's own default: every module of the backbone, whatever its children would do.
    initialize(this, { type: 'TruncNormal', layer: 'Linear', std: 0.02, bias: 0 });
    initialize(this, { type: 'Constant', layer: ['_BatchNorm', 'GroupNorm', 'LayerNorm'], val: 1, bias: 0 });
    this.apply((m) => {
      if (m instanceof Conv2d) {
        const fanOut = Math.floor((m.kernelSize[0] * m.kernelSize[1] * m.outChannels) / m.groups);
        initialize(m, { type: 'Normal', layer: 'Conv2d', mean: 0, std: Math.sqrt(2 / fanOut), bias: 0 });
      }
    });
    this.isInit = true;
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    const b = x.shape[0];
    for (let i = 0; i < this.numStage; i++) {
      const { tokens, size } = this.patchEmbeds.at(i).forward(x);
      let h = this.positionEncodingDrops.at(i).forward(tokens);
      this.stages.at(i).toArray().forEach((blk, j) => {
        h = blk.forward(h, size);
        if (j === 0) h = this.positionEncodings.at(i).forward(h, size);
      });
      h = this.stageNorms[i].forward(h);
      x = tf.reshape(h, [b, size[0], size[1], -1]);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let img = asShape(x, this.typeName);
    const b = img[0];
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numStage; i++) {
      const enter = (m: Module): void => ctx.enter(m);
      const exit = (m: Module): void => ctx.exit(m);
      enter(this.patchEmbeds);
      const [tokens, size] = this.patchEmbeds.at(i).inferShape(img, ctx) as [number[], number[]];
      exit(this.patchEmbeds);
      let h = tokens;
      const blocks = this.stages.at(i);
      blocks.toArray().forEach((blk, j) => {
        enter(this.stages);
        enter(blocks);
        blk.inferShape([h, size], ctx);
        exit(blocks);
        exit(this.stages);
        if (j === 0) {
          enter(this.positionEncodings);
          h = this.positionEncodings.at(i).inferShape([h, size], ctx) as number[];
          exit(this.positionEncodings);
        }
      });
      this.stageNorms[i].inferShape(h, ctx);
      img = [b, h[2], size[0], size[1]];
      if (this.outIndices.includes(i)) outs.push(img);
    }
    return outs;
  }
}

/** Options of {@link SVT}. */
export interface SVTOptions extends Omit<PCPVTOptions, 'arch'> {
  /** Preset ('small', 'base', 'large' or 's', 'b', 'l') or a dict of lists embed_dims, depths, num_heads, patch_sizes, strides, mlp_ratios, sr_ratios, window_sizes (one entry per stage). */
  arch: 'small' | 'base' | 'large' | 's' | 'b' | 'l' | SVTArch;
}

/** Twins-SVT backbone: PCPVT with locally-grouped attention (LSA) in the even-numbered layers of each stage. */
@MODELS.registerModule()
export class SVT extends PCPVT {
  readonly windowSizes: number[];
  constructor(options: SVTOptions) {
    super(options);
    this.windowSizes = [...(this.archSettings as SVTArch).window_sizes];
  }
}
