import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath, ReLU } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer } from '../../nn/layer';
import { InitCfg, Module, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { BatchNorm2d, LayerNorm } from '../../nn/norm';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../../nn/pooling';
import { AdaptivePadding } from '../../nn/transformer';
import { initParameter } from '../../nn/init';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { TransformerEncoderLayer } from './vision_transformer';

/** Options of {@link ConformerConvBlock}. */
export interface ConformerConvBlockOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels (the bottleneck has a quarter of them). */
  out_channels: number;
  /** Stride of the 3x3 convolution. @default 1 */
  stride?: number;
  /** Groups of the 3x3 convolution. @default 1 */
  groups?: number;
  /** Stochastic depth rate of the residual branch. @default 0.0 */
  drop_path_rate?: number;
  /** A 1x1 conv + norm on the shortcut. @default False */
  with_residual_conv?: boolean;
  /** Normalisation config. @default dict(type='BN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU', inplace=True) */
  act_cfg?: LayerCfg;
}

/**
 * Conformer's `ConvBlock`: a bottleneck (1x1, 3x3, 1x1) whose 3x3 input may be fused with a
 * feature map from the transformer branch; returns the output and the 3x3 conv's activation.
 */
export class ConformerConvBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Layer;
  readonly act1: Layer;
  readonly conv2: Conv2d;
  readonly bn2: Layer;
  readonly act2: Layer;
  readonly conv3: Conv2d;
  readonly bn3: Layer;
  readonly act3: Layer;
  readonly residualConv: Conv2d | null;
  readonly residualBn: Layer | null;
  readonly withResidualConv: boolean;
  readonly dropPath: Layer;

  constructor(o: ConformerConvBlockOptions) {
    super();
    const mid = Math.floor(o.out_channels / 4);
    const stride = o.stride ?? 1;
    const normCfg = o.norm_cfg ?? { type: 'BN', eps: 1e-6 };
    const actCfg = o.act_cfg ?? { type: 'ReLU', inplace: true };
    this.conv1 = this.addModule('conv1', new Conv2d({ in_channels: o.in_channels, out_channels: mid, kernel_size: 1, bias: false }));
    this.bn1 = this.addModule('bn1', buildNormLayer(normCfg, mid)[1]);
    this.act1 = this.addModule('act1', buildActivationLayer(actCfg));
    this.conv2 = this.addModule('conv2', new Conv2d({ in_channels: mid, out_channels: mid, kernel_size: 3, stride, groups: o.groups ?? 1, padding: 1, bias: false }));
    this.bn2 = this.addModule('bn2', buildNormLayer(normCfg, mid)[1]);
    this.act2 = this.addModule('act2', buildActivationLayer(actCfg));
    this.conv3 = this.addModule('conv3', new Conv2d({ in_channels: mid, out_channels: o.out_channels, kernel_size: 1, bias: false }));
    this.bn3 = this.addModule('bn3', buildNormLayer(normCfg, o.out_channels)[1]);
    this.act3 = this.addModule('act3', buildActivationLayer(actCfg));
    this.withResidualConv = o.with_residual_conv ?? false;
    if (this.withResidualConv) {
      this.residualConv = this.addModule('residual_conv', new Conv2d({ in_channels: o.in_channels, out_channels: o.out_channels, kernel_size: 1, stride, bias: false }));
      this.residualBn = this.addModule('residual_bn', buildNormLayer(normCfg, o.out_channels)[1]);
    } else {
      this.residualConv = null;
      this.residualBn = null;
    }
    const dpr = o.drop_path_rate ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
  }

  /** Zeroes the last norm's weight (Conformer's init: each block starts as its shortcut). */
  zeroInitLastBn(): void {
    const w = this.bn3.getParameter('weight');
    if (w) tf.tidy(() => w.assign(tf.zeros(w.shape)));
  }

  /** [output, conv2 activation]; `fusion` (same shape as conv1's output) is added before conv2. */
  forward(x: tf.Tensor, fusion: tf.Tensor | null = null): [tf.Tensor, tf.Tensor] {
    let h = this.act1.forward(this.bn1.forward(this.conv1.forward(x)));
    if (fusion) h = tf.add(h, fusion);
    const x2 = this.act2.forward(this.bn2.forward(this.conv2.forward(h)));
    let y = this.dropPath.forward(this.bn3.forward(this.conv3.forward(x2)));
    const identity = this.residualConv ? this.residualBn!.forward(this.residualConv.forward(x)) : x;
    y = this.act3.forward(tf.add(y, identity));
    return [y, x2];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let h = this.act1.inferShape(this.bn1.inferShape(this.conv1.inferShape(x, ctx), ctx), ctx);
    const x2 = this.act2.inferShape(this.bn2.inferShape(this.conv2.inferShape(h, ctx), ctx), ctx);
    h = this.dropPath.inferShape(this.bn3.inferShape(this.conv3.inferShape(x2, ctx), ctx), ctx);
    if (this.residualConv) this.residualBn!.inferShape(this.residualConv.inferShape(x, ctx), ctx);
    return [this.act3.inferShape(h, ctx), x2];
  }
}

/** Conformer's `FCUDown`: CNN feature map to patch tokens (1x1 conv, average pooling, LN, GELU), after the class token. */
export class FCUDown extends Module {
  readonly downStride: number;
  readonly withClsToken: boolean;
  readonly convProject: Conv2d;
  readonly samplePooling: AvgPool2d;
  readonly ln: Layer;
  readonly act: Layer;

  constructor(o: { in_channels: number; out_channels: number; down_stride: number; with_cls_token?: boolean; norm_cfg?: LayerCfg; act_cfg?: LayerCfg }) {
    super();
    this.downStride = o.down_stride;
    this.withClsToken = o.with_cls_token ?? true;
    this.convProject = this.addModule('conv_project', new Conv2d({ in_channels: o.in_channels, out_channels: o.out_channels, kernel_size: 1 }));
    this.samplePooling = this.addModule('sample_pooling', new AvgPool2d({ kernel_size: o.down_stride, stride: o.down_stride }));
    this.ln = this.addModule('ln', buildNormLayer(o.norm_cfg ?? { type: 'LN', eps: 1e-6 }, o.out_channels)[1]);
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
  }

  forward(x: tf.Tensor, xt: tf.Tensor): tf.Tensor {
    const y = this.samplePooling.forward(this.convProject.forward(x));
    const [b, h, w, c] = y.shape;
    let t = this.act.forward(this.ln.forward(tf.reshape(y, [b, h * w, c])));
    if (this.withClsToken) t = tf.concat([tf.slice(xt, [0, 0, 0], [-1, 1, -1]), t], 1);
    return t;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, c, h, w] = this.samplePooling.inferShape(this.convProject.inferShape(x, ctx), ctx) as number[];
    const t = [b, h * w, c];
    this.act.inferShape(this.ln.inferShape(t, ctx), ctx);
    return [b, h * w + (this.withClsToken ? 1 : 0), c];
  }
}

/** Conformer's `FCUUp`: patch tokens to a CNN feature map (1x1 conv, BN, ReLU, nearest upsampling). */
export class FCUUp extends Module {
  readonly upStride: number;
  readonly withClsToken: boolean;
  readonly convProject: Conv2d;
  readonly bn: Layer;
  readonly act: Layer;

  constructor(o: { in_channels: number; out_channels: number; up_stride: number; with_cls_token?: boolean; norm_cfg?: LayerCfg; act_cfg?: LayerCfg }) {
    super();
    this.upStride = o.up_stride;
    this.withClsToken = o.with_cls_token ?? true;
    this.convProject = this.addModule('conv_project', new Conv2d({ in_channels: o.in_channels, out_channels: o.out_channels, kernel_size: 1 }));
    this.bn = this.addModule('bn', buildNormLayer(o.norm_cfg ?? { type: 'BN', eps: 1e-6 }, o.out_channels)[1]);
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'ReLU', inplace: true }));
  }

  forward(x: tf.Tensor, h: number, w: number): tf.Tensor {
    const [b, , c] = x.shape;
    const tokens = this.withClsToken ? tf.slice(x, [0, 1, 0], [-1, -1, -1]) : x;
    const y = this.act.forward(this.bn.forward(this.convProject.forward(tf.reshape(tokens, [b, h, w, c]))));
    const s = this.upStride;
    if (s === 1) return y;
    // Nearest upsampling by an integer factor: every pixel repeated s x s times (columns, then rows;
    // rank-4 tiles, which have gradients).
    const co = y.shape[3]!;
    const cols = tf.reshape(tf.tile(tf.reshape(y, [b * h, w, 1, co]), [1, 1, s, 1]), [b, h, 1, w * s * co]);
    return tf.reshape(tf.tile(cols, [1, 1, s, 1]), [b, h * s, w * s, co]);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, [h, w]] = x as [number[], number[]];
    const [b, , c] = tokens;
    const y = this.act.inferShape(this.bn.inferShape(this.convProject.inferShape([b, c, h, w], ctx), ctx), ctx) as number[];
    const out = [y[0], y[1], h * this.upStride, w * this.upStride];
    ctx.add('upsample_nearest2d', out[0] * out[1] * out[2] * out[3], 0);
    return out;
  }
}

/** Options of {@link ConvTransBlock}. */
export interface ConvTransBlockOptions {
  in_channels: number;
  out_channels: number;
  embed_dims: number;
  conv_stride?: number;
  groups?: number;
  with_residual_conv?: boolean;
  down_stride?: number;
  num_heads?: number;
  mlp_ratio?: number;
  qkv_bias?: boolean;
  with_cls_token?: boolean;
  drop_rate?: number;
  attn_drop_rate?: number;
  drop_path_rate?: number;
  last_fusion?: boolean;
}

/** Conformer's `ConvTransBlock`: a conv block and a transformer layer coupled both ways (FCU down and up). */
export class ConvTransBlock extends Module {
  readonly cnnBlock: ConformerConvBlock;
  readonly fusionBlock: ConformerConvBlock;
  readonly squeezeBlock: FCUDown;
  readonly expandBlock: FCUUp;
  readonly transBlock: TransformerEncoderLayer;
  readonly downStride: number;
  readonly lastFusion: boolean;

  constructor(o: ConvTransBlockOptions) {
    super();
    const groups = o.groups ?? 1;
    const dpr = o.drop_path_rate ?? 0;
    const ds = o.down_stride ?? 4;
    const withCls = o.with_cls_token ?? true;
    this.lastFusion = o.last_fusion ?? false;
    this.downStride = ds;
    this.cnnBlock = this.addModule(
      'cnn_block',
      new ConformerConvBlock({ in_channels: o.in_channels, out_channels: o.out_channels, with_residual_conv: o.with_residual_conv ?? false, stride: o.conv_stride ?? 1, groups }),
    );
    this.fusionBlock = this.addModule(
      'fusion_block',
      this.lastFusion
        ? new ConformerConvBlock({ in_channels: o.out_channels, out_channels: o.out_channels, stride: 2, with_residual_conv: true, groups, drop_path_rate: dpr })
        : new ConformerConvBlock({ in_channels: o.out_channels, out_channels: o.out_channels, groups, drop_path_rate: dpr }),
    );
    this.squeezeBlock = this.addModule('squeeze_block', new FCUDown({ in_channels: Math.floor(o.out_channels / 4), out_channels: o.embed_dims, down_stride: ds, with_cls_token: withCls }));
    this.expandBlock = this.addModule('expand_block', new FCUUp({ in_channels: o.embed_dims, out_channels: Math.floor(o.out_channels / 4), up_stride: ds, with_cls_token: withCls }));
    this.transBlock = this.addModule(
      'trans_block',
      new TransformerEncoderLayer({
        embed_dims: o.embed_dims,
        num_heads: o.num_heads ?? 12,
        feedforward_channels: Math.floor(o.embed_dims * (o.mlp_ratio ?? 4)),
        drop_rate: o.drop_rate ?? 0,
        drop_path_rate: dpr,
        attn_drop_rate: o.attn_drop_rate ?? 0,
        qkv_bias: o.qkv_bias ?? false,
        norm_cfg: { type: 'LN', eps: 1e-6 },
      }),
    );
  }

  forward(cnnInput: tf.Tensor, transInput: tf.Tensor): [tf.Tensor, tf.Tensor] {
    const [x, x2] = this.cnnBlock.forward(cnnInput);
    const [, h, w] = x2.shape;
    const embedding = this.squeezeBlock.forward(x2, transInput);
    const transOutput = this.transBlock.forward(tf.add(embedding, transInput));
    const transFeatures = this.expandBlock.forward(transOutput, Math.floor(h! / this.downStride), Math.floor(w! / this.downStride));
    const [y] = this.fusionBlock.forward(x, transFeatures);
    return [y, transOutput];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [cnn, trans] = x as [number[], number[]];
    const [y, x2] = this.cnnBlock.inferShape(cnn, ctx) as [number[], number[]];
    this.squeezeBlock.inferShape(x2, ctx);
    const t = this.transBlock.inferShape(trans, ctx) as number[];
    this.expandBlock.inferShape([t, [Math.floor(x2[2] / this.downStride), Math.floor(x2[3] / this.downStride)]], ctx);
    const [out] = this.fusionBlock.inferShape(y, ctx) as [number[], number[]];
    return [out, t];
  }
}

/** Conformer's arch settings. */
export type ConformerArchSetting = { embed_dims: number; channel_ratio: number; num_heads: number; depths: number };

const CONFORMER_ARCHS: Record<string, ConformerArchSetting> = {};
for (const n of ['t', 'tiny']) CONFORMER_ARCHS[n] = { embed_dims: 384, channel_ratio: 1, num_heads: 6, depths: 12 };
for (const n of ['s', 'small']) CONFORMER_ARCHS[n] = { embed_dims: 384, channel_ratio: 4, num_heads: 6, depths: 12 };
for (const n of ['b', 'base']) CONFORMER_ARCHS[n] = { embed_dims: 576, channel_ratio: 6, num_heads: 9, depths: 12 };

/** Options of {@link Conformer}. */
export interface ConformerOptions {
  /** Preset ('tiny', 'small', 'base' and short forms) or a dict of embed_dims, depths, num_heads, channel_ratio. @default 'tiny' */
  arch?: string | ConformerArchSetting;
  /** Patch size of the transformer branch (a multiple of 16). @default 16 */
  patch_size?: number;
  /** Base channels of the CNN branch. @default 64 */
  base_channels?: number;
  /** Hidden channels of the transformer FFNs over embed_dims. @default 4.0 */
  mlp_ratio?: number;
  /** Bias of the qkv projections. @default True */
  qkv_bias?: boolean;
  /** Use a class token (otherwise the mean patch token is the transformer output). @default True */
  with_cls_token?: boolean;
  /** Stochastic depth rate (linearly increasing over the transformer layers). @default 0.0 */
  drop_path_rate?: number;
  /** Kept for compatibility: MMCls stores it but never applies it. @default True */
  norm_eval?: boolean;
  /** Kept for compatibility: MMCls stores it but never applies it. @default 0 */
  frozen_stages?: number;
  /** Stages (2 to depths; negative counts from the end) whose [conv, transformer] features are returned. @default -1 */
  out_indices?: number | number[];
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Conformer backbone (Local Features Coupling Global Representations): a CNN and a transformer branch coupled stage by stage. */
@MODELS.registerModule()
export class Conformer extends BaseBackbone {
  static readonly VERSION = 1;
  readonly embedDims: number;
  readonly numFeatures: number;
  readonly depths: number;
  readonly numHeads: number;
  readonly channelRatio: number;
  readonly outIndices: number[];
  readonly normEval: boolean;
  readonly frozenStages: number;
  readonly withClsToken: boolean;
  readonly clsToken: Parameter | null;
  readonly transDpr: number[];
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly act1: ReLU;
  readonly maxpool: MaxPool2d;
  readonly autoPad: AdaptivePadding;
  readonly conv_1: ConformerConvBlock;
  readonly transPatchConv: Conv2d;
  readonly trans_1: TransformerEncoderLayer;
  readonly stages: ConvTransBlock[] = [];
  readonly finStage: number;
  readonly pooling: AdaptiveAvgPool2d;
  readonly transNorm: Layer;

  constructor(options: ConformerOptions = {}) {
    super(options.init_cfg ?? null);
    const o = options;
    const a = o.arch ?? 'tiny';
    let s: ConformerArchSetting;
    if (typeof a === 'string') {
      const found = CONFORMER_ARCHS[a.toLowerCase()];
      if (!found) throw new MmclsError(`Arch ${a} is not in default archs ${Object.keys(CONFORMER_ARCHS).join(', ')}`, { code: 'model.bad-argument' });
      s = found;
    } else {
      const keys = ['embed_dims', 'depths', 'num_heads', 'channel_ratio'];
      if (Object.keys(a).length !== keys.length || !keys.every((k) => k in a)) {
        throw new MmclsError(`Custom arch needs a dict with keys ${keys.join(', ')}`, { code: 'model.bad-argument' });
      }
      s = a;
    }
    this.embedDims = this.numFeatures = s.embed_dims;
    this.depths = s.depths;
    this.numHeads = s.num_heads;
    this.channelRatio = s.channel_ratio;
    const outIdx = typeof o.out_indices === 'number' ? [o.out_indices] : [...(o.out_indices ?? [-1])];
    this.outIndices = outIdx.map((i) => {
      const j = i < 0 ? this.depths + i + 1 : i;
      if (j < 0) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });
    this.normEval = o.norm_eval ?? true;
    this.frozenStages = o.frozen_stages ?? 0;
    this.withClsToken = o.with_cls_token ?? true;
    const e = this.embedDims;
    // PyTorch's trunc_normal_(std=.02) (truncated at +-2, i.e. 100 std) at construction.
    this.clsToken = this.withClsToken ? this.registerParameter('cls_token', lazy([1, 1, e], () => tf.randomNormal([1, 1, e], 0, 0.02))) : null;
    const dpr = o.drop_path_rate ?? 0;
    this.transDpr = Array.from({ length: this.depths }, (_, i) => (this.depths > 1 ? (dpr * i) / (this.depths - 1) : 0));
    const mlpRatio = o.mlp_ratio ?? 4;
    const qkvBias = o.qkv_bias ?? true;
    const base = o.base_channels ?? 64;

    this.conv1 = this.addModule('conv1', new Conv2d({ in_channels: 3, out_channels: 64, kernel_size: 7, stride: 2, padding: 3, bias: false }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d({ num_features: 64 }));
    this.act1 = this.addModule('act1', new ReLU());
    this.maxpool = this.addModule('maxpool', new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }));
    const patchSize = o.patch_size ?? 16;
    if (patchSize % 16 !== 0) throw new MmclsError('The patch size of Conformer must be divisible by 16.', { code: 'model.bad-argument' });
    const tds = Math.floor(patchSize / 4);
    this.autoPad = this.addModule('auto_pad', new AdaptivePadding({ kernel_size: tds, stride: tds, padding: 'corner' }));

    const stage1 = Math.floor(base * this.channelRatio);
    this.conv_1 = this.addModule('conv_1', new ConformerConvBlock({ in_channels: 64, out_channels: stage1, with_residual_conv: true, stride: 1 }));
    this.transPatchConv = this.addModule('trans_patch_conv', new Conv2d({ in_channels: 64, out_channels: e, kernel_size: tds, stride: tds, padding: 0 }));
    this.trans_1 = this.addModule(
      'trans_1',
      new TransformerEncoderLayer({
        embed_dims: e,
        num_heads: this.numHeads,
        feedforward_channels: Math.floor(e * mlpRatio),
        drop_path_rate: this.transDpr[0],
        qkv_bias: qkvBias,
        norm_cfg: { type: 'LN', eps: 1e-6 },
      }),
    );
    const common = { embed_dims: e, num_heads: this.numHeads, mlp_ratio: mlpRatio, qkv_bias: qkvBias, with_cls_token: this.withClsToken };
    let fin = Math.floor(this.depths / 3) + 1;
    for (let i = 2; i < fin; i++) {
      this.addStage(i, new ConvTransBlock({ ...common, in_channels: stage1, out_channels: stage1, conv_stride: 1, with_residual_conv: false, down_stride: tds, drop_path_rate: this.transDpr[i - 1] }));
    }
    const stage2 = Math.floor(base * this.channelRatio * 2);
    let init = fin;
    fin = fin + Math.floor(this.depths / 3);
    for (let i = init; i < fin; i++) {
      const first = i === init;
      this.addStage(
        i,
        new ConvTransBlock({
          ...common,
          in_channels: first ? stage1 : stage2,
          out_channels: stage2,
          conv_stride: first ? 2 : 1,
          with_residual_conv: first,
          down_stride: Math.floor(tds / 2),
          drop_path_rate: this.transDpr[i - 1],
        }),
      );
    }
    const stage3 = Math.floor(base * this.channelRatio * 2 * 2);
    init = fin;
    fin = fin + Math.floor(this.depths / 3);
    for (let i = init; i < fin; i++) {
      const first = i === init;
      this.addStage(
        i,
        new ConvTransBlock({
          ...common,
          in_channels: first ? stage2 : stage3,
          out_channels: stage3,
          conv_stride: first ? 2 : 1,
          with_residual_conv: first,
          down_stride: Math.floor(tds / 4),
          drop_path_rate: this.transDpr[i - 1],
          last_fusion: i === this.depths,
        }),
      );
    }
    this.finStage = fin;
    this.pooling = this.addModule('pooling', new AdaptiveAvgPool2d({ output_size: 1 }));
    this.transNorm = this.addModule('trans_norm', new LayerNorm({ normalized_shape: e }));
  }

  private addStage(i: number, block: ConvTransBlock): void {
    this.stages.push(this.addModule(`conv_trans_${i}`, block));
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained') return;
    // MMCls's _init_weights, applied to every module.
    this.apply((m) => {
      if (m instanceof Linear) {
        initParameter(m.weight, { type: 'TruncNormal', std: 0.02 });
        const b = m.bias;
        if (b) tf.tidy(() => b.assign(tf.zeros(b.shape)));
      } else if (m instanceof LayerNorm || m instanceof BatchNorm2d) {
        const w = m.getParameter('weight');
        const b = m.getParameter('bias');
        if (w) tf.tidy(() => w.assign(tf.ones(w.shape)));
        if (b) tf.tidy(() => b.assign(tf.zeros(b.shape)));
      } else if (m instanceof Conv2d) {
        // nn.init.kaiming_normal_(weight, mode='fan_out', nonlinearity='relu'): the bias is left as it is.
        initParameter(m.weight, { type: 'Kaiming', mode: 'fan_out', nonlinearity: 'relu', distribution: 'normal' });
      }
    });
    this.apply((m) => {
      if (m instanceof ConformerConvBlock) m.zeroInitLastBn();
    });
  }

  /** MMCls's Conformer stores norm_eval and frozen_stages but applies neither; so does this one. */
  override train(mode = true): this {
    return this.trainWithFrozen(mode, null);
  }

  private stageOutput(x: tf.Tensor, xt: tf.Tensor): Feat {
    const [b, , , c] = x.shape;
    const conv = tf.reshape(this.pooling.forward(x), [b, c]);
    const t = this.transNorm.forward(xt);
    const trans = this.withClsToken ? tf.reshape(tf.slice(t, [0, 0, 0], [-1, 1, -1]), [b, this.embedDims]) : tf.mean(t, 1);
    return [conv, trans];
  }

  forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    let xBase = this.maxpool.forward(this.act1.forward(this.bn1.forward(this.conv1.forward(x))));
    xBase = this.autoPad.forward(xBase);
    let [h] = this.conv_1.forward(xBase);
    const p = this.transPatchConv.forward(xBase);
    let xt: tf.Tensor = tf.reshape(p, [b, p.shape[1]! * p.shape[2]!, this.embedDims]);
    if (this.clsToken) xt = tf.concat([tf.tile(this.clsToken.variable, [b, 1, 1]), xt], 1);
    xt = this.trans_1.forward(xt);
    const outs: Feat[] = [];
    this.stages.forEach((stage, k) => {
      [h, xt] = stage.forward(h, xt);
      if (this.outIndices.includes(k + 2)) outs.push(this.stageOutput(h, xt));
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'Conformer');
    let base = this.maxpool.inferShape(this.act1.inferShape(this.bn1.inferShape(this.conv1.inferShape(x, ctx), ctx), ctx), ctx);
    base = this.autoPad.inferShape(base, ctx);
    let [h] = this.conv_1.inferShape(base, ctx) as [number[], number[]];
    const [, e, ph, pw] = this.transPatchConv.inferShape(base, ctx) as number[];
    let t = this.trans_1.inferShape([b, ph * pw + (this.withClsToken ? 1 : 0), e], ctx) as number[];
    const outs: ShapeValue[] = [];
    this.stages.forEach((stage, k) => {
      [h, t] = stage.inferShape([h, t], ctx) as [number[], number[]];
      if (this.outIndices.includes(k + 2)) {
        this.pooling.inferShape(h, ctx);
        this.transNorm.inferShape(t, ctx);
        outs.push([[b, h[1]], [b, e]]);
      }
    });
    return outs;
  }
}

