import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { Feat } from '../types';
import { ChannelMultiheadAttention } from '../utils/channel_multihead_attention';
import { PositionEncodingFourier } from '../utils/position_encoding_fourier';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';
import { ConvNeXtBlock } from './convnext';

/** Options of {@link SDTAEncoder}. */
export interface SDTAEncoderOptions {
  /** Number of input (and output) channels. */
  in_channel: number;
  /** Stochastic depth rate. @default 0.0 */
  drop_path_rate?: number;
  /** Initial value of the layer scales (0 or less: none). @default 1e-6 */
  layer_scale_init_value?: number;
  /** Expansion ratio of the point-wise layers. @default 4 */
  mlp_ratio?: number;
  /** Add a Fourier position encoding before the channel attention. @default True */
  use_pos_emb?: boolean;
  /** Heads of the channel attention. @default 8 */
  num_heads?: number;
  /** Bias of the q, k, v projection. @default True */
  qkv_bias?: boolean;
  /** Attention dropout. @default 0.0 */
  attn_drop?: number;
  /** Projection dropout. @default 0.0 */
  proj_drop?: number;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Number of channel groups of the hierarchical depth-wise convolutions. @default 1 */
  scales?: number;
}

/**
 * Split depth-wise transpose attention (SDTA) encoder: channel groups through cascaded 3x3 depth-wise
 * convs (each group adds the previous group's output), optional Fourier position encoding, channel
 * attention with layer scale, then an inverted bottleneck of linear layers with layer scale.
 */
export class SDTAEncoder extends Layer {
  readonly convChannels: number;
  readonly numConvs: number;
  readonly inChannel: number;
  readonly gammaCsa: Parameter | null;
  readonly gamma: Parameter | null;
  readonly convModules: ModuleList<Conv2d>;
  readonly posEmbed: PositionEncodingFourier | null;
  readonly normCsa: Layer;
  readonly csa: ChannelMultiheadAttention;
  readonly norm: Layer;
  readonly pointwiseConv1: Linear;
  readonly act: Layer;
  readonly pointwiseConv2: Linear;
  readonly dropPath: Layer;

  constructor(o: SDTAEncoderOptions) {
    super();
    const c = o.in_channel;
    this.inChannel = c;
    const scales = o.scales ?? 1;
    this.convChannels = Math.max(Math.ceil(c / scales), Math.floor(c / scales));
    this.numConvs = scales === 1 ? scales : scales - 1;
    if (Math.ceil(c / this.convChannels) <= this.numConvs) {
      throw new MmclsError(`SDTAEncoder: ${c} channels in groups of ${this.convChannels} leave no group after the ${this.numConvs} convolutions (scales=${scales})`, {
        code: 'model.bad-argument',
      });
    }
    const ls = o.layer_scale_init_value ?? 1e-6;
    this.gammaCsa = this.registerParameter('gamma_csa', ls > 0 ? lazy([c], () => tf.fill([c], ls)) : null);
    this.gamma = this.registerParameter('gamma', ls > 0 ? lazy([c], () => tf.fill([c], ls)) : null);
    const cc = this.convChannels;
    this.convModules = this.addModule(
      'conv_modules',
      new ModuleList<Conv2d>(Array.from({ length: this.numConvs }, () => new Conv2d({ in_channels: cc, out_channels: cc, kernel_size: 3, padding: 1, groups: cc }))),
    );
    this.posEmbed = o.use_pos_emb ?? true ? this.addModule('pos_embed', new PositionEncodingFourier({ embed_dims: c })) : null;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.normCsa = this.addModule('norm_csa', buildNormLayer(normCfg, c)[1]);
    this.csa = this.addModule(
      'csa',
      new ChannelMultiheadAttention({ embed_dims: c, num_heads: o.num_heads ?? 8, qkv_bias: o.qkv_bias ?? true, attn_drop: o.attn_drop ?? 0, proj_drop: o.proj_drop ?? 0 }),
    );
    this.norm = this.addModule('norm', buildNormLayer(normCfg, c)[1]);
    const mlp = o.mlp_ratio ?? 4;
    this.pointwiseConv1 = this.addModule('pointwise_conv1', new Linear({ in_features: c, out_features: mlp * c }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.pointwiseConv2 = this.addModule('pointwise_conv2', new Linear({ in_features: mlp * c, out_features: c }));
    const dpr = o.drop_path_rate ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
  }

  /** Channel sizes of torch.split(x, conv_channels, dim=1). */
  private splitSizes(): number[] {
    const sizes: number[] = [];
    for (let s = 0; s < this.inChannel; s += this.convChannels) sizes.push(Math.min(this.convChannels, this.inChannel - s));
    return sizes;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const shortcut = x;
    const [b, h, w, c] = x.shape;
    const spx = tf.split(x, this.splitSizes(), 3);
    let sp: tf.Tensor | null = null;
    const outs: tf.Tensor[] = [];
    for (let i = 0; i < this.numConvs; i++) {
      sp = i === 0 ? spx[0] : tf.add(sp!, spx[i]);
      sp = this.convModules.at(i).forward(sp);
      outs.push(sp);
    }
    let y = tf.reshape(tf.concat([...outs, spx[this.numConvs]], 3), [b, h * w, c]);
    if (this.posEmbed) y = tf.add(y, tf.reshape(this.posEmbed.forward(b, h, w), [b, h * w, c]));
    let attn = this.csa.forward(this.normCsa.forward(y));
    if (this.gammaCsa) attn = tf.mul(attn, this.gammaCsa.variable);
    y = tf.reshape(tf.add(y, this.dropPath.forward(attn)), [b, h, w, c]);
    y = this.pointwiseConv2.forward(this.act.forward(this.pointwiseConv1.forward(this.norm.forward(y))));
    if (this.gamma) y = tf.mul(y, this.gamma.variable);
    return tf.add(shortcut, this.dropPath.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, c, h, w] = asShape(x, 'SDTAEncoder');
    const sizes = this.splitSizes();
    for (let i = 0; i < this.numConvs; i++) shapeInList(this.convModules, this.convModules.at(i), [b, sizes[i], h, w], ctx);
    if (this.posEmbed) this.posEmbed.inferShape([b, c, h, w], ctx);
    const tokens = [b, h * w, c];
    this.csa.inferShape(this.normCsa.inferShape(tokens, ctx), ctx);
    let y: ShapeValue = this.norm.inferShape([b, h, w, c], ctx);
    y = this.pointwiseConv2.inferShape(this.act.inferShape(this.pointwiseConv1.inferShape(y, ctx), ctx), ctx);
    return this.dropPath.inferShape([b, c, h, w], ctx);
  }
}

/** Channels, depths and attention heads of an EdgeNeXt. */
export type EdgeNeXtArch = {
  /** Channels of each stage. */
  channels: number[];
  /** Number of blocks of each stage. */
  depths: number[];
  /** Heads of the channel attention of each stage. */
  num_heads: number[];
};

/** The preset names of {@link EdgeNeXt}. */
export type EdgeNeXtArchName = 'xxsmall' | 'xsmall' | 'small' | 'base';

const ARCH_SETTINGS: Record<EdgeNeXtArchName, EdgeNeXtArch> = {
  xxsmall: { channels: [24, 48, 88, 168], depths: [2, 2, 6, 2], num_heads: [4, 4, 4, 4] },
  xsmall: { channels: [32, 64, 100, 192], depths: [3, 3, 9, 3], num_heads: [4, 4, 4, 4] },
  small: { channels: [48, 96, 160, 304], depths: [3, 3, 9, 3], num_heads: [8, 8, 8, 8] },
  base: { channels: [80, 160, 288, 584], depths: [3, 3, 9, 3], num_heads: [8, 8, 8, 8] },
};

/** Options of {@link EdgeNeXt}. */
export interface EdgeNeXtOptions {
  /** Preset ('xxsmall', 'xsmall', 'small', 'base') or a dict of channels, depths and num_heads. @default 'xxsmall' */
  arch?: EdgeNeXtArchName | EdgeNeXtArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Number of SDTA (global) blocks at the end of each stage. @default [0, 1, 1, 1] */
  global_blocks?: number[];
  /** Global block type of each stage: 'None' or 'SDTA'. @default ['None', 'SDTA', 'SDTA', 'SDTA'] */
  global_block_type?: ('None' | 'SDTA')[];
  /** Stochastic depth rate (linearly increasing over blocks). @default 0.0 */
  drop_path_rate?: number;
  /** Initial value of the layer scales of the ConvNeXt blocks. @default 1e-6 */
  layer_scale_init_value?: number;
  /** Point-wise convolutions of the ConvNeXt blocks as linear layers. @default True */
  linear_pw_conv?: boolean;
  /** Expansion ratio of the SDTA point-wise layers. @default 4 */
  mlp_ratio?: number;
  /** Depth-wise kernel size of the ConvNeXt blocks of each stage. @default [3, 5, 7, 9] */
  conv_kernel_sizes?: number[];
  /** Fourier position encoding in the SDTA channel attention of each stage. @default [False, True, False, False] */
  use_pos_embd_csa?: boolean[];
  /** A Fourier position encoding added after the first stage. @default False */
  use_pos_embd_global?: boolean;
  /** Channel groups of the SDTA blocks of each stage. @default [2, 2, 3, 4] */
  d2_scales?: number[];
  /** Normalisation config. @default dict(type='LN2d', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Stages whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Number of stages (with their downsample layers) to freeze. @default 0 */
  frozen_stages?: number;
  /** Average over the feature map before the final norm (outputs [N, C], norm LN). @default True */
  gap_before_final_norm?: boolean;
  /** Activation of the ConvNeXt blocks. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** EdgeNeXt backbone (Efficiently Amalgamated CNN-Transformer Architecture for Mobile Vision Applications). */
@MODELS.registerModule()
export class EdgeNeXt extends BaseBackbone {
  readonly channels: number[];
  readonly depths: number[];
  readonly numHeads: number[];
  readonly numStages: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly gapBeforeFinalNorm: boolean;
  readonly posEmbed: PositionEncodingFourier | null;
  readonly downsampleLayers: ModuleList<Sequential>;
  readonly stages: ModuleList<Sequential>;
  private readonly norms = new Map<number, Layer>();

  constructor(options: EdgeNeXtOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? 'xxsmall';
    let arch: EdgeNeXtArch;
    if (typeof a === 'string') {
      const s = (ARCH_SETTINGS as Record<string, EdgeNeXtArch | undefined>)[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs {${Object.keys(ARCH_SETTINGS).map((k) => `'${k}'`).join(', ')}}`, { code: 'model.bad-argument' });
      arch = s;
    } else {
      const keys = Object.keys(a ?? {}).sort().join(',');
      if (keys !== 'channels,depths,num_heads') {
        throw new MmclsError(`Custom arch needs a dict with keys {'channels', 'depths', 'num_heads'}, got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    this.channels = [...arch.channels];
    this.depths = [...arch.depths];
    this.numHeads = [...arch.num_heads];
    this.numStages = this.depths.length;
    const globalBlocks = options.global_blocks ?? [0, 1, 1, 1];
    for (const g of options.global_block_type ?? ['None', 'SDTA', 'SDTA', 'SDTA']) {
      if (g !== 'None' && g !== 'SDTA') throw new MmclsError(`Global block type ${g} is not supported`, { code: 'model.bad-argument' });
    }
    const oi = options.out_indices ?? -1;
    // MMCls resolves negative indices against 4 stages.
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const r = i < 0 ? 4 + i : i;
      if (r < 0) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return r;
    });
    this.frozenStages = options.frozen_stages ?? 0;
    this.gapBeforeFinalNorm = options.gap_before_final_norm ?? true;
    const normCfg = options.norm_cfg ?? { type: 'LN2d', eps: 1e-6 };
    const actCfg = options.act_cfg ?? { type: 'GELU' };
    const kernels = options.conv_kernel_sizes ?? [3, 5, 7, 9];
    const posCsa = options.use_pos_embd_csa ?? [false, true, false, false];
    const scales = options.d2_scales ?? [2, 2, 3, 4];
    this.posEmbed = options.use_pos_embd_global ? this.addModule('pos_embed', new PositionEncodingFourier({ embed_dims: this.channels[0] })) : null;
    const total = this.depths.reduce((s, d) => s + d, 0);
    const rate = options.drop_path_rate ?? 0;
    const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));

    this.downsampleLayers = this.addModule('downsample_layers', new ModuleList<Sequential>());
    this.downsampleLayers.push(
      new Sequential(
        new Conv2d({ in_channels: options.in_channels ?? 3, out_channels: this.channels[0], kernel_size: 4, stride: 4 }),
        buildNormLayer(normCfg, this.channels[0])[1],
      ),
    );
    this.stages = this.addModule('stages', new ModuleList<Sequential>());
    let blockIdx = 0;
    for (let i = 0; i < this.numStages; i++) {
      const depth = this.depths[i];
      const c = this.channels[i];
      if (i >= 1) {
        this.downsampleLayers.push(
          new Sequential(buildNormLayer(normCfg, this.channels[i - 1])[1], new Conv2d({ in_channels: this.channels[i - 1], out_channels: c, kernel_size: 2, stride: 2 })),
        );
      }
      const blocks: Layer[] = [];
      for (let j = 0; j < depth; j++) {
        if (j > depth - globalBlocks[i] - 1) {
          blocks.push(
            new SDTAEncoder({
              in_channel: c,
              drop_path_rate: dpr[blockIdx + j],
              mlp_ratio: options.mlp_ratio ?? 4,
              scales: scales[i],
              use_pos_emb: posCsa[i],
              num_heads: this.numHeads[i],
            }),
          );
        } else {
          blocks.push(
            new ConvNeXtBlock({
              in_channels: c,
              dw_conv_cfg: { kernel_size: kernels[i], padding: Math.floor(kernels[i] / 2) },
              norm_cfg: normCfg,
              act_cfg: actCfg,
              linear_pw_conv: options.linear_pw_conv ?? true,
              drop_path_rate: dpr[blockIdx + j],
              layer_scale_init_value: options.layer_scale_init_value ?? 1e-6,
            }),
          );
        }
      }
      blockIdx += depth;
      this.stages.push(new Sequential(...blocks));
      if (this.outIndices.includes(i)) {
        const outNorm = this.gapBeforeFinalNorm ? { type: 'LN' } : normCfg;
        this.norms.set(i, this.addModule(`norm${i}`, buildNormLayer(outNorm, c)[1]));
      }
    }
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages && i < this.numStages; i++) {
      for (const m of [this.downsampleLayers.at(i), this.stages.at(i)]) {
        m.eval();
        m.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    super.train(mode);
    this.freezeStages();
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = this.stages.at(i).forward(this.downsampleLayers.at(i).forward(x));
      if (this.posEmbed && i === 0) {
        const [b, h, w] = x.shape;
        x = tf.add(x, this.posEmbed.forward(b, h, w));
      }
      const norm = this.norms.get(i);
      if (norm) {
        if (this.gapBeforeFinalNorm) outs.push(norm.forward(tf.mean(x, [1, 2])));
        else outs.push(norm.forward(x));
      }
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'EdgeNeXt');
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = shapeInList(this.downsampleLayers, this.downsampleLayers.at(i), x, ctx);
      x = shapeInList(this.stages, this.stages.at(i), x, ctx);
      if (this.posEmbed && i === 0) this.posEmbed.inferShape(x, ctx);
      const norm = this.norms.get(i);
      if (norm) {
        const [n, c] = asShape(x, 'EdgeNeXt');
        // x.mean([-2, -1]) is aten::mean: no FLOPs in MMEngine's counter.
        outs.push(this.gapBeforeFinalNorm ? norm.inferShape([n, c], ctx) : norm.inferShape(x, ctx));
      }
    }
    return outs;
  }
}
