import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout, DropPath } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { Buffer, InitCfg, Module, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { BatchNorm2d, LayerNorm } from '../../nn/norm';
import { Feat } from '../types';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** Options of {@link ConvBN2d}. */
export interface ConvBN2dOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Kernel size. @default 1 */
  kernel_size?: number;
  /** Stride. @default 1 */
  stride?: number;
  /** Zero padding. @default 0 */
  padding?: number;
  /** Dilation. @default 1 */
  dilation?: number;
  /** Groups. @default 1 */
  groups?: number;
  /** Initial value of the batch norm's weight. @default 1.0 */
  bn_weight_init?: number;
}

/** TinyViT's `ConvBN2d`: a bias-free conv (`conv2d`) and a batch norm (`bn2d`). */
export class ConvBN2d extends Sequential {
  readonly conv2d: Conv2d;
  readonly bn2d: BatchNorm2d;
  readonly bnWeightInit: number;

  constructor(o: ConvBN2dOptions) {
    const conv = new Conv2d({
      in_channels: o.in_channels,
      out_channels: o.out_channels,
      kernel_size: o.kernel_size ?? 1,
      stride: o.stride ?? 1,
      padding: o.padding ?? 0,
      dilation: o.dilation ?? 1,
      groups: o.groups ?? 1,
      bias: false,
    });
    const bn = new BatchNorm2d({ num_features: o.out_channels });
    super(['conv2d', conv], ['bn2d', bn]);
    this.conv2d = conv;
    this.bn2d = bn;
    this.bnWeightInit = o.bn_weight_init ?? 1;
  }

  /** PyTorch sets the batch norm's weight at construction; here it is set when the weights are initialised. */
  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was || this.bnWeightInit === 1) return;
    const weight = this.bn2d.weight!;
    const v = this.bnWeightInit;
    tf.tidy(() => weight.assign(tf.fill(weight.shape, v)));
  }
}

/** TinyViT's patch embedding: two stride-2 3x3 ConvBN2d (`seq.0`, `seq.2`) with an activation between. */
export class TinyViTPatchEmbed extends Layer {
  override get typeName(): string {
    return 'PatchEmbed';
  }

  readonly seq: Sequential;

  constructor(o: { in_channels: number; embed_dim: number; act_cfg?: LayerCfg }) {
    super();
    const e = o.embed_dim;
    this.seq = this.addModule(
      'seq',
      new Sequential(
        new ConvBN2d({ in_channels: o.in_channels, out_channels: Math.floor(e / 2), kernel_size: 3, stride: 2, padding: 1 }),
        buildActivationLayer(o.act_cfg ?? { type: 'GELU' }),
        new ConvBN2d({ in_channels: Math.floor(e / 2), out_channels: e, kernel_size: 3, stride: 2, padding: 1 }),
      ),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.seq.forward(x);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    return asShape(this.seq.inferShape(x, ctx), 'PatchEmbed');
  }
}

/**
 * TinyViT's patch merging: 1x1 ConvBN2d, activation, stride-2 depth-wise 3x3 ConvBN2d, activation,
 * 1x1 ConvBN2d; takes a map or tokens of its `resolution`, returns tokens.
 */
export class TinyViTPatchMerging extends Layer {
  override get typeName(): string {
    return 'PatchMerging';
  }

  readonly resolution: [number, number];
  readonly outResolution: [number, number];
  readonly act: Layer;
  readonly conv1: ConvBN2d;
  readonly conv2: ConvBN2d;
  readonly conv3: ConvBN2d;

  constructor(o: { resolution: [number, number]; in_channels: number; out_channels: number; act_cfg?: LayerCfg }) {
    super();
    this.resolution = o.resolution;
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    const c = o.out_channels;
    this.conv1 = this.addModule('conv1', new ConvBN2d({ in_channels: o.in_channels, out_channels: c, kernel_size: 1 }));
    this.conv2 = this.addModule('conv2', new ConvBN2d({ in_channels: c, out_channels: c, kernel_size: 3, stride: 2, padding: 1, groups: c }));
    this.conv3 = this.addModule('conv3', new ConvBN2d({ in_channels: c, out_channels: c, kernel_size: 1 }));
    this.outResolution = [Math.floor(o.resolution[0] / 2), Math.floor(o.resolution[1] / 2)];
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank === 3) x = tf.reshape(x, [x.shape[0], this.resolution[0], this.resolution[1], x.shape[2]!]);
    let y = this.act.forward(this.conv1.forward(x));
    y = this.act.forward(this.conv2.forward(y));
    y = this.conv3.forward(y);
    const [b, h, w, c] = y.shape;
    return tf.reshape(y, [b, h * w, c]);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const map = x.length === 3 ? [x[0], x[2], this.resolution[0], this.resolution[1]] : x;
    let y = this.act.inferShape(this.conv1.inferShape(map, ctx), ctx);
    y = this.act.inferShape(this.conv2.inferShape(y, ctx), ctx);
    const [b, c, h, w] = asShape(this.conv3.inferShape(y, ctx), 'PatchMerging');
    return [b, h * w, c];
  }
}

/** TinyViT's MBConv: 1x1 expand, depth-wise 3x3, 1x1 project (batch norm weight 0), residual, activation. */
export class MBConvBlock extends Layer {
  readonly conv1: ConvBN2d;
  readonly act: Layer;
  readonly conv2: ConvBN2d;
  readonly conv3: ConvBN2d;
  readonly dropPath: Layer;

  constructor(o: { in_channels: number; out_channels: number; expand_ratio: number; drop_path: number; act_cfg?: LayerCfg }) {
    super();
    const hidden = Math.floor(o.in_channels * o.expand_ratio);
    this.conv1 = this.addModule('conv1', new ConvBN2d({ in_channels: o.in_channels, out_channels: hidden, kernel_size: 1 }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.conv2 = this.addModule('conv2', new ConvBN2d({ in_channels: hidden, out_channels: hidden, kernel_size: 3, stride: 1, padding: 1, groups: hidden }));
    this.conv3 = this.addModule('conv3', new ConvBN2d({ in_channels: hidden, out_channels: o.out_channels, kernel_size: 1, bn_weight_init: 0 }));
    this.dropPath = this.addModule('drop_path', o.drop_path > 0 ? new DropPath({ drop_prob: o.drop_path }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    let y = this.act.forward(this.conv1.forward(x));
    y = this.act.forward(this.conv2.forward(y));
    y = this.dropPath.forward(this.conv3.forward(y));
    return this.act.forward(tf.add(y, x));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    let y = this.act.inferShape(this.conv1.inferShape(x, ctx), ctx);
    y = this.act.inferShape(this.conv2.inferShape(y, ctx), ctx);
    return asShape(this.conv3.inferShape(y, ctx), 'MBConvBlock');
  }
}

/** Pairwise offset indices of a window (TinyViT/LeViT attention biases): [N * N] and the number of distinct offsets. */
export function attentionBiasIndices(rh: number, rw: number): { idxs: Int32Array; numOffsets: number } {
  const points: [number, number][] = [];
  for (let i = 0; i < rh; i++) for (let j = 0; j < rw; j++) points.push([i, j]);
  const offsets = new Map<string, number>();
  const idxs = new Int32Array(points.length * points.length);
  let k = 0;
  for (const p1 of points) {
    for (const p2 of points) {
      const key = `${Math.abs(p1[0] - p2[0])},${Math.abs(p1[1] - p2[1])}`;
      let v = offsets.get(key);
      if (v === undefined) {
        v = offsets.size;
        offsets.set(key, v);
      }
      idxs[k++] = v;
    }
  }
  return { idxs, numOffsets: offsets.size };
}

/** Options of {@link TinyViTAttention}. */
export interface TinyViTAttentionOptions {
  /** Input channels. */
  dim: number;
  /** Channels of each head's query and key. */
  key_dim: number;
  /** Attention heads. @default 8 */
  num_heads?: number;
  /** Value channels per head as a multiple of key_dim. @default 4 */
  attn_ratio?: number;
  /** Window (height, width) the biases are learnt for. @default (14, 14) */
  resolution?: [number, number];
}

/**
 * TinyViT's attention (LeViT style): LayerNorm, one `qkv` linear split per head into q, k (key_dim)
 * and v (attn_ratio * key_dim), a learnt bias per head and window offset (`attention_biases`,
 * gathered through the integer `attention_bias_idxs`, a non-persistent buffer as in MMCls), `proj`.
 */
export class TinyViTAttention extends Layer {
  readonly numHeads: number;
  readonly keyDim: number;
  readonly scale: number;
  readonly d: number;
  readonly dh: number;
  readonly n: number;
  readonly attentionBiases: Parameter;
  readonly attentionBiasIdxs: Buffer;
  readonly norm: Layer;
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(o: TinyViTAttentionOptions) {
    super();
    const res = o.resolution ?? [14, 14];
    this.numHeads = o.num_heads ?? 8;
    this.keyDim = o.key_dim;
    this.scale = o.key_dim ** -0.5;
    const ratio = o.attn_ratio ?? 4;
    this.d = Math.floor(ratio * o.key_dim);
    this.dh = this.d * this.numHeads;
    const h = this.dh + 2 * this.keyDim * this.numHeads;
    this.norm = this.addModule('norm', new LayerNorm({ normalized_shape: o.dim }));
    this.qkv = this.addModule('qkv', new Linear({ in_features: o.dim, out_features: h }));
    this.proj = this.addModule('proj', new Linear({ in_features: this.dh, out_features: o.dim }));
    const { idxs, numOffsets } = attentionBiasIndices(res[0], res[1]);
    const n = res[0] * res[1];
    this.n = n;
    const heads = this.numHeads;
    this.attentionBiases = this.registerParameter('attention_biases', lazy([heads, numOffsets], () => tf.zeros([heads, numOffsets])))!;
    this.attentionBiasIdxs = this.registerBuffer('attention_bias_idxs', lazy([n, n], () => tf.tensor2d(idxs, [n, n], 'int32'), 'int32'), 'int64', false);
  }

  /** The biases [heads, N, N]. */
  bias(): tf.Tensor {
    const n = this.n;
    return tf.reshape(tf.gather(this.attentionBiases.variable, tf.reshape(this.attentionBiasIdxs.variable, [-1]), 1), [this.numHeads, n, n]);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape;
    const h = this.numHeads;
    if (n !== this.n) {
      throw new MmclsError(`TinyViTAttention: ${n} tokens, but the attention biases are for windows of ${this.n}`, { code: 'model.bad-input' });
    }
    const qkv = tf.reshape(this.qkv.forward(this.norm.forward(x)), [b, n, h, 2 * this.keyDim + this.d]);
    const [q, k, v] = tf.split(qkv, [this.keyDim, this.keyDim, this.d], 3).map((t) => tf.transpose(t, [0, 2, 1, 3]));
    let attn = tf.add(tf.mul(tf.matMul(q, k, false, true), this.scale), this.bias());
    attn = tf.softmax(attn, -1);
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, this.dh]);
    return this.proj.forward(y);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n] = x;
    const h = this.numHeads;
    this.qkv.inferShape(this.norm.inferShape(x, ctx), ctx);
    ctx.add('matmul', b * h * n * n * this.keyDim, b * h * n * n);
    ctx.add('matmul', b * h * n * n * this.d, b * h * n * this.d);
    return asShape(this.proj.inferShape([b, n, this.dh], ctx), 'TinyViTAttention');
  }
}

/** TinyViT's MLP: LayerNorm, fc1, activation, dropout, fc2, dropout. */
export class TinyViTMLP extends Layer {
  override get typeName(): string {
    return 'MLP';
  }

  readonly norm: Layer;
  readonly fc1: Linear;
  readonly fc2: Linear;
  readonly act: Layer;
  readonly drop: Dropout;

  constructor(o: { in_channels: number; hidden_channels?: number | null; out_channels?: number | null; act_cfg?: LayerCfg; drop?: number }) {
    super();
    const out = o.out_channels || o.in_channels;
    const hidden = o.hidden_channels || o.in_channels;
    this.norm = this.addModule('norm', new LayerNorm({ normalized_shape: o.in_channels }));
    this.fc1 = this.addModule('fc1', new Linear({ in_features: o.in_channels, out_features: hidden }));
    this.fc2 = this.addModule('fc2', new Linear({ in_features: hidden, out_features: out }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.drop = this.addModule('drop', new Dropout({ p: o.drop ?? 0 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.drop.forward(this.act.forward(this.fc1.forward(this.norm.forward(x))));
    return this.drop.forward(this.fc2.forward(y));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const y = this.act.inferShape(this.fc1.inferShape(this.norm.inferShape(x, ctx), ctx), ctx);
    return asShape(this.fc2.inferShape(y, ctx), 'MLP');
  }
}

/** Options of {@link TinyViTBlock}. */
export interface TinyViTBlockOptions {
  /** Channels. */
  in_channels: number;
  /** Token grid (H, W) the block is built for. */
  resolution: [number, number];
  /** Attention heads. */
  num_heads: number;
  /** Window size. @default 7 */
  window_size?: number;
  /** MLP hidden ratio. @default 4.0 */
  mlp_ratio?: number;
  /** Dropout in the MLP. @default 0.0 */
  drop?: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path?: number;
  /** Kernel of the depth-wise local conv. @default 3 */
  local_conv_size?: number;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
}

/**
 * TinyViT block: window attention (zero-padded windows, residual), a depth-wise ConvBN2d on the
 * grid (no residual), then the MLP (residual). Tokens [B, H*W, C] of the built resolution.
 */
export class TinyViTBlock extends Layer {
  readonly resolution: [number, number];
  readonly windowSize: number;
  readonly dropPath: Layer;
  readonly attn: TinyViTAttention;
  readonly mlp: TinyViTMLP;
  readonly localConv: ConvBN2d;

  constructor(o: TinyViTBlockOptions) {
    super();
    const c = o.in_channels;
    this.resolution = o.resolution;
    this.windowSize = o.window_size ?? 7;
    if (this.windowSize <= 0) throw new MmclsError('window_size must be greater than 0', { code: 'model.bad-argument' });
    if (c % o.num_heads !== 0) throw new MmclsError(`dim ${c} must be divisible by num_heads ${o.num_heads}`, { code: 'model.bad-argument' });
    const dp = o.drop_path ?? 0;
    this.dropPath = this.addModule('drop_path', dp > 0 ? new DropPath({ drop_prob: dp }) : new Identity());
    const ws = this.windowSize;
    this.attn = this.addModule('attn', new TinyViTAttention({ dim: c, key_dim: c / o.num_heads, num_heads: o.num_heads, attn_ratio: 1, resolution: [ws, ws] }));
    this.mlp = this.addModule('mlp', new TinyViTMLP({ in_channels: c, hidden_channels: Math.floor(c * (o.mlp_ratio ?? 4)), act_cfg: o.act_cfg ?? { type: 'GELU' }, drop: o.drop ?? 0 }));
    const k = o.local_conv_size ?? 3;
    this.localConv = this.addModule('local_conv', new ConvBN2d({ in_channels: c, out_channels: c, kernel_size: k, stride: 1, padding: Math.floor(k / 2), groups: c }));
  }

  private windows(): { padB: number; padR: number; nH: number; nW: number } {
    const [h, w] = this.resolution;
    const ws = this.windowSize;
    const padB = (ws - (h % ws)) % ws;
    const padR = (ws - (w % ws)) % ws;
    return { padB, padR, nH: (h + padB) / ws, nW: (w + padR) / ws };
  }

  private checkTokens(l: number): void {
    const [h, w] = this.resolution;
    if (l !== h * w) {
      throw new MmclsError(`TinyViTBlock: input feature has wrong size (${l} tokens for a ${h}x${w} grid); TinyViT runs at the img_size it was built for`, {
        code: 'model.bad-input',
      });
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [h, w] = this.resolution;
    const [b, l, c] = x.shape;
    this.checkTokens(l);
    const ws = this.windowSize;
    let y: tf.Tensor;
    if (h === ws && w === ws) {
      y = this.attn.forward(x);
    } else {
      const { padB, padR, nH, nW } = this.windows();
      let m = tf.reshape(x, [b, h, w, c]);
      if (padB > 0 || padR > 0) m = tf.pad(m, [[0, 0], [0, padB], [0, padR], [0, 0]]);
      const win = tf.reshape(tf.transpose(tf.reshape(m, [b, nH, ws, nW, ws, c]), [0, 1, 3, 2, 4, 5]), [b * nH * nW, ws * ws, c]);
      const out = this.attn.forward(win);
      let back = tf.reshape(tf.transpose(tf.reshape(out, [b, nH, nW, ws, ws, c]), [0, 1, 3, 2, 4, 5]), [b, h + padB, w + padR, c]);
      if (padB > 0 || padR > 0) back = tf.slice(back, [0, 0, 0, 0], [-1, h, w, -1]);
      y = tf.reshape(back, [b, l, c]);
    }
    let z = tf.add(x, this.dropPath.forward(y));
    z = tf.reshape(this.localConv.forward(tf.reshape(z, [b, h, w, c])), [b, l, c]);
    return tf.add(z, this.dropPath.forward(this.mlp.forward(z)));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, l, c] = x;
    this.checkTokens(l);
    const [h, w] = this.resolution;
    const ws = this.windowSize;
    if (h === ws && w === ws) this.attn.inferShape(x, ctx);
    else {
      const { nH, nW } = this.windows();
      this.attn.inferShape([b * nH * nW, ws * ws, c], ctx);
    }
    this.localConv.inferShape([b, c, h, w], ctx);
    this.mlp.inferShape(x, ctx);
    return x;
  }
}

/** A TinyViT stage: blocks (MBConv or TinyViT blocks), then an optional patch merging. */
export class TinyViTStage extends Layer {
  readonly blocks: ModuleList<Layer>;
  readonly downsample: TinyViTPatchMerging | null;
  /** Token grid after the stage. */
  readonly resolution: [number, number];

  /** MMCls's class: 'ConvStage' (MBConv blocks) or 'BasicStage' (attention blocks). */
  private readonly kind: 'ConvStage' | 'BasicStage';

  constructor(blocks: Layer[], downsample: TinyViTPatchMerging | null, resolution: [number, number], kind: 'ConvStage' | 'BasicStage' = 'BasicStage') {
    super();
    this.kind = kind;
    this.blocks = this.addModule('blocks', new ModuleList<Layer>(blocks));
    this.downsample = this.addModule('downsample', downsample);
    this.resolution = downsample ? downsample.outResolution : resolution;
  }

  override get typeName(): string {
    return this.kind;
  }

  forward(x: tf.Tensor): tf.Tensor {
    for (const blk of this.blocks) x = blk.forward(x);
    return this.downsample ? this.downsample.forward(x) : x;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    for (const blk of this.blocks) x = shapeInList(this.blocks, blk, x, ctx);
    return this.downsample ? this.downsample.inferShape(x, ctx) : x;
  }
}

/** Channels, heads and depths of a TinyViT. */
export type TinyViTArch = {
  /** Channels of each stage. */
  channels: number[];
  /** Attention heads of each stage (the first stage is convolutional). */
  num_heads: number[];
  /** Blocks of each stage. */
  depths: number[];
};

/** The preset names of {@link TinyViT}. */
export type TinyViTArchName = '5m' | '11m' | '21m';

const ARCH_SETTINGS: Record<TinyViTArchName, TinyViTArch> = {
  '5m': { channels: [64, 128, 160, 320], num_heads: [2, 4, 5, 10], depths: [2, 2, 6, 2] },
  '11m': { channels: [64, 128, 256, 448], num_heads: [2, 4, 8, 14], depths: [2, 2, 6, 2] },
  '21m': { channels: [96, 192, 384, 576], num_heads: [3, 6, 12, 18], depths: [2, 2, 6, 2] },
};

/** Options of {@link TinyViT}. */
export interface TinyViTOptions {
  /** Preset ('5m', '11m', '21m') or a dict of channels, num_heads and depths. @default '5m' */
  arch?: TinyViTArchName | TinyViTArch;
  /** Input image size the model is built for (the attention stages need exactly this size). @default (224, 224) */
  img_size?: number | [number, number];
  /** Window size of each stage (the first stage has none). @default [7, 7, 14, 7] */
  window_size?: number[];
  /** Number of input channels. @default 3 */
  in_channels?: number;
  /** MLP hidden ratio. @default 4.0 */
  mlp_ratio?: number;
  /** Dropout in the MLPs. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0.1 */
  drop_path_rate?: number;
  /** Gradient checkpointing (accepted for compatibility; no effect here). @default False */
  use_checkpoint?: boolean;
  /** Expansion ratio of the MBConv blocks. @default 4.0 */
  mbconv_expand_ratio?: number;
  /** Kernel of the local depth-wise convs. @default 3 */
  local_conv_size?: number;
  /** Layer-wise learning-rate decay (unused in MMCls too). @default 1.0 */
  layer_lr_decay?: number;
  /** Stages whose output is returned (negative counts from 4). @default -1 */
  out_indices?: number | number[];
  /** Number of stages to freeze. @default 0 */
  frozen_stages?: number;
  /** Average the tokens before the output norm (outputs [N, C]); otherwise [N, C, H, W] maps. @default True */
  gap_before_final_norm?: boolean;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation of the outputs. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** TinyViT backbone (TinyViT: Fast Pretraining Distillation for Small Vision Transformers). */
@MODELS.registerModule()
export class TinyViT extends BaseBackbone {
  readonly channels: number[];
  readonly numHeads: number[];
  readonly depths: number[];
  readonly windowSizes: number[];
  readonly imgSize: [number, number];
  readonly numStages: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly gapBeforeFinalNorm: boolean;
  readonly patchEmbed: TinyViTPatchEmbed;
  readonly stages: ModuleList<TinyViTStage>;
  private readonly norms = new Map<number, Layer>();

  constructor(o: TinyViTOptions = {}) {
    super(o.init_cfg ?? null);
    const a = o.arch ?? '5m';
    let arch: TinyViTArch;
    if (typeof a === 'string') {
      const s = (ARCH_SETTINGS as Record<string, TinyViTArch | undefined>)[a];
      if (!s) throw new MmclsError(`Unavaiable arch, please choose from ({'5m', '11m', '21m'}) or pass a dict, got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
      arch = s;
    } else {
      if (!a || !a.channels || !a.num_heads || !a.depths) {
        throw new MmclsError(`The arch dict must have "channels", "num_heads", "depths" keys, but got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    this.channels = [...arch.channels];
    this.numHeads = [...arch.num_heads];
    this.depths = [...arch.depths];
    this.windowSizes = [...(o.window_size ?? [7, 7, 14, 7])];
    const img = o.img_size ?? [224, 224];
    this.imgSize = typeof img === 'number' ? [img, img] : [img[0], img[1]];
    this.numStages = this.channels.length;
    const oi = o.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const r = i < 0 ? 4 + i : i;
      if (r < 0) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return r;
    });
    this.frozenStages = o.frozen_stages ?? 0;
    this.gapBeforeFinalNorm = o.gap_before_final_norm ?? true;
    const actCfg = o.act_cfg ?? { type: 'GELU' };
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    // MMCls builds the stem with GELU whatever act_cfg says.
    this.patchEmbed = this.addModule('patch_embed', new TinyViTPatchEmbed({ in_channels: o.in_channels ?? 3, embed_dim: this.channels[0], act_cfg: { type: 'GELU' } }));
    const patches: [number, number] = [Math.floor(this.imgSize[0] / 4), Math.floor(this.imgSize[1] / 4)];
    const total = this.depths.reduce((s, d) => s + d, 0);
    const rate = o.drop_path_rate ?? 0.1;
    // torch.linspace(0, rate, total) in float32.
    const dpr = Array.from({ length: total }, (_, i) => Math.fround(total > 1 ? (rate * i) / (total - 1) : 0));
    this.stages = this.addModule('stages', new ModuleList<TinyViTStage>());
    let start = 0;
    for (let i = 0; i < this.numStages; i++) {
      const depth = this.depths[i];
      const c = this.channels[i];
      const res: [number, number] = [Math.floor(patches[0] / 2 ** i), Math.floor(patches[1] / 2 ** i)];
      const dp = dpr.slice(start, start + depth);
      start += depth;
      const outCh = this.channels[Math.min(i + 1, this.numStages - 1)];
      const down = i < this.numStages - 1 ? new TinyViTPatchMerging({ resolution: res, in_channels: c, out_channels: outCh, act_cfg: actCfg }) : null;
      const blocks: Layer[] = [];
      for (let j = 0; j < depth; j++) {
        if (i >= 1) {
          blocks.push(
            new TinyViTBlock({
              in_channels: c,
              resolution: res,
              num_heads: this.numHeads[i],
              window_size: this.windowSizes[i],
              mlp_ratio: o.mlp_ratio ?? 4,
              drop: o.drop_rate ?? 0,
              drop_path: dp[j],
              local_conv_size: o.local_conv_size ?? 3,
              act_cfg: actCfg,
            }),
          );
        } else {
          blocks.push(new MBConvBlock({ in_channels: c, out_channels: c, expand_ratio: o.mbconv_expand_ratio ?? 4, drop_path: dp[j] }));
        }
      }
      this.stages.push(new TinyViTStage(blocks, down, res, i >= 1 ? 'BasicStage' : 'ConvStage'));
      if (this.outIndices.includes(i)) this.norms.set(i, this.addModule(`norm${i}`, buildNormLayer(normCfg, outCh)[1]));
    }
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages && i < this.numStages; i++) {
      const s = this.stages.at(i);
      s.eval();
      s.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages());
  }

  /** The attention stages are built for the patch grid of img_size: other inputs cannot run (as in MMCls). */
  private checkInput(h: number, w: number): void {
    const ph = Math.floor(this.imgSize[0] / 4);
    const pw = Math.floor(this.imgSize[1] / 4);
    if (Math.floor(h / 4) !== ph || Math.floor(w / 4) !== pw) {
      throw new MmclsError(`TinyViT: input feature has wrong size: the model is built for ${this.imgSize[0]}x${this.imgSize[1]} images (img_size), got ${h}x${w}`, {
        code: 'model.bad-input',
      });
    }
  }

  forward(x: tf.Tensor): Feat[] {
    this.checkInput(x.shape[1]!, x.shape[2]!);
    const outs: Feat[] = [];
    x = this.patchEmbed.forward(x);
    for (let i = 0; i < this.numStages; i++) {
      const stage = this.stages.at(i);
      x = stage.forward(x);
      const norm = this.norms.get(i);
      if (norm) {
        if (x.rank !== 3) x = tf.reshape(x, [x.shape[0], -1, x.shape[3]!]);
        if (this.gapBeforeFinalNorm) outs.push(norm.forward(tf.mean(x, 1)));
        else {
          const [b, , c] = x.shape;
          outs.push(tf.reshape(norm.forward(x), [b, stage.resolution[0], stage.resolution[1], c]));
        }
      }
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [, , ih, iw] = asShape(x, 'TinyViT');
    this.checkInput(ih, iw);
    let h: number[] = asShape(this.patchEmbed.inferShape(x, ctx), 'TinyViT');
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numStages; i++) {
      const stage = this.stages.at(i);
      h = asShape(shapeInList(this.stages, stage, h, ctx), 'TinyViT');
      const norm = this.norms.get(i);
      if (norm) {
        const tok = h.length === 3 ? h : [h[0], h[2] * h[3], h[1]];
        const [b, , c] = tok;
        // x.mean(1) is aten::mean: no FLOPs in the counter.
        if (this.gapBeforeFinalNorm) outs.push(norm.inferShape([b, c], ctx));
        else {
          norm.inferShape(tok, ctx);
          outs.push([b, c, stage.resolution[0], stage.resolution[1]]);
        }
      }
    }
    return outs;
  }
}
