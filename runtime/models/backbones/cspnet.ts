import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { ComponentConfig, MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { ConvModule, LayerCfg, buildActivationLayer } from '../../nn/builders';
import { Identity, Layer, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { BlockOptions, Bottleneck as ResNetBottleneck } from './resnet';

const EPS = 1e-5;
const DEFAULT_ACT: LayerCfg = { type: 'LeakyReLU', inplace: true };
const DEFAULT_NORM: LayerCfg = { type: 'BN', eps: 1e-5 };

/** What a CSP stage passes to each of its blocks. */
interface CSPBlockArgs {
  in_channels: number;
  out_channels: number;
  expansion: number;
  drop_path_rate: number;
  conv_cfg: LayerCfg | null;
  norm_cfg: LayerCfg;
  act_cfg: LayerCfg;
  [key: string]: unknown;
}

/** Options of {@link DarknetBottleneck}. */
export interface DarknetBottleneckOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Ratio of out_channels to the hidden channels of the 1x1 conv. @default 2 */
  expansion?: number;
  /** Add the input to the output (when in_channels equals out_channels). @default True */
  add_identity?: boolean;
  /** Depth-wise separable 3x3 conv (not supported here). @default False */
  use_depthwise?: boolean;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Stochastic depth rate of the residual branch. @default 0 */
  drop_path_rate?: number;
  /** Normalisation config. @default dict(type='BN', eps=1e-5) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='LeakyReLU', inplace=True) */
  act_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Darknet's bottleneck: 1x1 conv, 3x3 conv (each conv-BN-LeakyReLU), identity added. */
export class DarknetBottleneck extends Layer {
  readonly conv1: ConvModule;
  readonly conv2: ConvModule;
  readonly addIdentity: boolean;
  readonly dropPath: Layer;

  constructor(o: DarknetBottleneckOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    if (o.use_depthwise) {
      throw new MmclsError('DarknetBottleneck: use_depthwise=True (DepthwiseSeparableConvModule) is not supported', { code: 'model.unsupported' });
    }
    const hidden = Math.trunc(o.out_channels / (o.expansion ?? 2));
    const common = { conv_cfg: o.conv_cfg ?? null, norm_cfg: o.norm_cfg ?? DEFAULT_NORM, act_cfg: o.act_cfg ?? DEFAULT_ACT };
    this.conv1 = this.addModule('conv1', new ConvModule({ in_channels: o.in_channels, out_channels: hidden, kernel_size: 1, ...common }));
    this.conv2 = this.addModule('conv2', new ConvModule({ in_channels: hidden, out_channels: o.out_channels, kernel_size: 3, stride: 1, padding: 1, ...common }));
    this.addIdentity = (o.add_identity ?? true) && o.in_channels === o.out_channels;
    const dpr = o.drop_path_rate ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > EPS ? new DropPath({ drop_prob: dpr }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    const out = this.dropPath.forward(this.conv2.forward(this.conv1.forward(x)));
    return this.addIdentity ? tf.add(out, x) : out;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.dropPath.inferShape(this.conv2.inferShape(this.conv1.inferShape(x, ctx), ctx), ctx);
  }
}

/** ResNet's bottleneck as CSP-ResNet uses it: the activation comes from act_cfg (LeakyReLU). */
class Bottleneck extends ResNetBottleneck {
  constructor(o: BlockOptions & { act_cfg?: LayerCfg }) {
    super(o);
    // Same registration slot as ResNet's ReLU, so state-dict order is unchanged.
    this.relu = this.addModule('relu', buildActivationLayer(o.act_cfg ?? { type: 'ReLU' }));
  }
}

/** ResNeXt's bottleneck as CSP-ResNeXt uses it (groups 32, 4 channels per group by default). */
class ResNeXtBottleneck extends Bottleneck {
  constructor(o: BlockOptions & { act_cfg?: LayerCfg }) {
    super({ groups: 32, width_per_group: 4, base_channels: 64, ...o });
  }
}

/** Block types of a CSP stage, by the name `arch.block_fn` gives. */
const BLOCKS: Record<CSPBlockName, (a: CSPBlockArgs) => Layer> = {
  DarknetBottleneck: (a) => new DarknetBottleneck(a),
  ResNetBottleneck: (a) => new Bottleneck(a as BlockOptions & { act_cfg: LayerCfg }),
  ResNeXtBottleneck: (a) => new ResNeXtBottleneck(a as BlockOptions & { act_cfg: LayerCfg }),
};

/** Block of a CSP stage: Darknet's, ResNet's or ResNeXt's bottleneck. */
export type CSPBlockName = 'DarknetBottleneck' | 'ResNetBottleneck' | 'ResNeXtBottleneck';

/** Options of {@link CSPStage}. */
export interface CSPStageOptions {
  /** The block of the stage. */
  block_fn: CSPBlockName;
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Start with a stride-2 3x3 conv. @default True */
  has_downsampler?: boolean;
  /** The downsampling conv grows the channels to out_channels. @default False */
  down_growth?: boolean;
  /** Ratio of the expand conv's channels to the downsampled channels. @default 0.5 */
  expand_ratio?: number;
  /** Expansion of the blocks. @default 2 */
  bottle_ratio?: number;
  /** Number of blocks. @default 1 */
  num_blocks?: number;
  /** Drop-path rate of each block (one number for all). @default 0 */
  block_dpr?: number | number[];
  /** Extra block arguments. @default {} */
  block_args?: Record<string, unknown>;
  /** Convolution config of the blocks. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', eps=1e-5) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='LeakyReLU', inplace=True) */
  act_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * Cross Stage Partial stage: optional stride-2 conv, 1x1 expand conv, split into halves xa and xb,
 * blocks and a 1x1 transition conv on xb, concat(xa, xb), 1x1 final conv.
 */
export class CSPStage extends Layer {
  readonly downsampleConv: Layer;
  readonly expandConv: ConvModule;
  readonly blocks: Sequential;
  readonly atferBlocksConv: ConvModule;
  readonly finalConv: ConvModule;

  constructor(o: CSPStageOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    const make = BLOCKS[o.block_fn];
    if (!make) {
      throw new MmclsError(`CSPStage: block_fn must be one of ${Object.keys(BLOCKS).join(', ')}, got ${JSON.stringify(o.block_fn)}`, { code: 'model.bad-argument' });
    }
    const normCfg = o.norm_cfg ?? DEFAULT_NORM;
    const actCfg = o.act_cfg ?? DEFAULT_ACT;
    const numBlocks = o.num_blocks ?? 1;
    const downChannels = o.down_growth ?? false ? o.out_channels : o.in_channels;
    const dprIn = o.block_dpr ?? 0;
    const dpr = Array.isArray(dprIn) ? dprIn : Array<number>(numBlocks).fill(dprIn);
    if (dpr.length !== numBlocks) {
      throw new MmclsError(`CSPStage: block_dpr has ${dpr.length} entries for ${numBlocks} blocks`, { code: 'model.bad-argument' });
    }
    this.downsampleConv = this.addModule(
      'downsample_conv',
      o.has_downsampler ?? true
        ? new ConvModule({
            in_channels: o.in_channels, out_channels: downChannels, kernel_size: 3, stride: 2, padding: 1,
            groups: o.block_fn === 'ResNeXtBottleneck' ? 32 : 1, norm_cfg: normCfg, act_cfg: actCfg,
          })
        : new Identity(),
    );
    const expChannels = Math.trunc(downChannels * (o.expand_ratio ?? 0.5));
    this.expandConv = this.addModule(
      'expand_conv',
      new ConvModule({ in_channels: downChannels, out_channels: expChannels, kernel_size: 1, norm_cfg: normCfg, act_cfg: o.block_fn === 'DarknetBottleneck' ? actCfg : null }),
    );
    if (expChannels % 2 !== 0) throw new MmclsError('The channel number before blocks must be divisible by 2.', { code: 'model.bad-argument' });
    const blockChannels = expChannels / 2;
    const blocks: Layer[] = [];
    for (let i = 0; i < numBlocks; i++) {
      blocks.push(make({
        in_channels: blockChannels,
        out_channels: blockChannels,
        expansion: o.bottle_ratio ?? 2,
        drop_path_rate: dpr[i],
        conv_cfg: o.conv_cfg ?? null,
        norm_cfg: normCfg,
        act_cfg: actCfg,
        ...(o.block_args ?? {}),
      }));
    }
    this.blocks = this.addModule('blocks', new Sequential(...blocks));
    // "atfer" is MMCls's spelling; it is part of the state-dict keys.
    this.atferBlocksConv = this.addModule('atfer_blocks_conv', new ConvModule({ in_channels: blockChannels, out_channels: blockChannels, kernel_size: 1, norm_cfg: normCfg, act_cfg: actCfg }));
    this.finalConv = this.addModule('final_conv', new ConvModule({ in_channels: 2 * blockChannels, out_channels: o.out_channels, kernel_size: 1, norm_cfg: normCfg, act_cfg: actCfg }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = this.expandConv.forward(this.downsampleConv.forward(x));
    const c = (x as tf.Tensor4D).shape[3];
    const split = Math.floor(c / 2);
    const [xa, xb0] = tf.split(x, [split, c - split], 3);
    const xb = this.atferBlocksConv.forward(this.blocks.forward(xb0));
    return this.finalConv.forward(tf.concat([xa, xb], 3));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [n, c, h, w] = asShape(this.expandConv.inferShape(this.downsampleConv.inferShape(x, ctx), ctx), 'CSPStage');
    const split = Math.floor(c / 2);
    const xb = asShape(this.atferBlocksConv.inferShape(this.blocks.inferShape([n, c - split, h, w], ctx), ctx), 'CSPStage');
    return this.finalConv.inferShape([n, split + xb[1], h, w], ctx);
  }
}

/** A CSPNet architecture; a single value applies to every stage. */
export interface CSPArch {
  /** The block of each stage. */
  block_fn: CSPBlockName | CSPBlockName[];
  /** Input channels of each stage. */
  in_channels: number[];
  /** Output channels of each stage. */
  out_channels: number[];
  /** Number of blocks of each stage. */
  num_blocks: number[];
  /** Expand conv ratio. */
  expand_ratio?: number | number[];
  /** Block expansion. */
  bottle_ratio?: number | number[];
  /** Whether each stage starts with a stride-2 conv. */
  has_downsampler?: boolean | boolean[];
  /** Whether the downsampling conv grows the channels. */
  down_growth?: boolean | boolean[];
  /** Extra block arguments. */
  block_args?: Record<string, unknown> | Record<string, unknown>[];
}

/** Options of {@link CSPNet}. */
export interface CSPNetOptions {
  /** Architecture: block_fn ('DarknetBottleneck', 'ResNetBottleneck' or 'ResNeXtBottleneck'), in_channels, out_channels, num_blocks, and optionally expand_ratio, bottle_ratio, has_downsampler, down_growth, block_args (one value or one per stage). */
  arch: CSPArch;
  /**
   * The stem: a MODELS layer config built with `in_channels` added, e.g.
   * `dict(type='ConvModule', out_channels=32, kernel_size=3, padding=1)` (MMCls takes a callable here).
   * @registry MODELS
   */
  stem_fn: ComponentConfig<'MODELS'>;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Stages whose output is returned (negative: from the end). @default -1 */
  out_indices?: number | number[];
  /** Freeze the stem and stages 0..frozen_stages; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Stochastic depth rate (linearly increasing over the blocks). @default 0. */
  drop_path_rate?: number;
  /** Convolution config of the blocks. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', eps=1e-5) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='LeakyReLU', inplace=True) */
  act_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training (frozen statistics). @default False */
  norm_eval?: boolean;
  /** Initialisation config. @default dict(type='Kaiming', layer='Conv2d') */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** What the CSPNet base builds from (the subclasses pass a stem builder instead of a config). */
interface CSPNetSpec extends Omit<CSPNetOptions, 'stem_fn'> {
  stem: (inChannels: number) => Layer;
}

/** The architecture with one value per stage for every key. */
interface FullArch {
  block_fn: CSPBlockName[];
  in_channels: number[];
  out_channels: number[];
  num_blocks: number[];
  expand_ratio: number[];
  bottle_ratio: number[];
  has_downsampler: boolean[];
  down_growth: boolean[];
  block_args: Record<string, unknown>[];
}

function expandArch(arch: CSPArch): FullArch {
  const n = arch.in_channels?.length;
  if (!n) throw new MmclsError('CSPNet: arch.in_channels must be a non-empty list', { code: 'model.bad-argument' });
  const tuple = <V>(v: V | V[] | undefined, name: string, dflt: V): V[] => {
    if (v === undefined) return Array<V>(n).fill(dflt);
    if (Array.isArray(v)) {
      if (v.length !== n) throw new MmclsError(`The length of ${name} (${v.length}) does not equals to the number of stages (${n})`, { code: 'model.bad-argument' });
      return [...v];
    }
    return Array<V>(n).fill(v);
  };
  return {
    block_fn: tuple(arch.block_fn, 'block_fn', 'DarknetBottleneck' as CSPBlockName),
    in_channels: tuple(arch.in_channels, 'in_channels', 0),
    out_channels: tuple(arch.out_channels, 'out_channels', 0),
    num_blocks: tuple(arch.num_blocks, 'num_blocks', 1),
    expand_ratio: tuple(arch.expand_ratio, 'expand_ratio', 0.5),
    bottle_ratio: tuple(arch.bottle_ratio, 'bottle_ratio', 2),
    has_downsampler: tuple(arch.has_downsampler, 'has_downsampler', true),
    down_growth: tuple(arch.down_growth, 'down_growth', false),
    block_args: tuple(arch.block_args, 'block_args', {}),
  };
}

function linspace(start: number, end: number, n: number): number[] {
  if (n <= 1) return n === 1 ? [start] : [];
  return Array.from({ length: n }, (_, i) => start + ((end - start) * i) / (n - 1));
}

/**
 * The Cross Stage Partial Network (CSPNet: A New Backbone that can Enhance Learning Capability of
 * CNN): a stem, then CSP stages of Darknet, ResNet or ResNeXt bottlenecks.
 */
@MODELS.registerModule()
export class CSPNet extends BaseBackbone {
  readonly stem: Layer;
  readonly stages: Sequential;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly arch: FullArch;

  constructor(options: CSPNetOptions) {
    const spec = options as CSPNetOptions & Partial<CSPNetSpec>;
    super(spec.init_cfg === undefined ? { type: 'Kaiming', layer: 'Conv2d' } : spec.init_cfg);
    this.arch = expandArch(spec.arch);
    const numStages = this.arch.in_channels.length;
    const frozen = spec.frozen_stages ?? -1;
    if (!(Number.isInteger(frozen) && frozen >= -1 && frozen < numStages)) {
      throw new MmclsError(`frozen_stages must be in range(-1, ${numStages}). But received ${frozen}`, { code: 'model.bad-argument' });
    }
    this.frozenStages = frozen;
    this.normEval = spec.norm_eval ?? false;
    const normCfg = spec.norm_cfg ?? DEFAULT_NORM;
    const actCfg = spec.act_cfg ?? DEFAULT_ACT;
    const inChannels = spec.in_channels ?? 3;
    const stem = spec.stem ? spec.stem(inChannels) : MODELS.build<Layer>(spec.stem_fn, { in_channels: inChannels });
    this.stem = this.addModule('stem', stem);

    const depths = this.arch.num_blocks;
    const dprAll = linspace(0, spec.drop_path_rate ?? 0, depths.reduce((a, b) => a + b, 0));
    const stages: Layer[] = [];
    let offset = 0;
    for (let i = 0; i < numStages; i++) {
      stages.push(new CSPStage({
        block_fn: this.arch.block_fn[i],
        in_channels: this.arch.in_channels[i],
        out_channels: this.arch.out_channels[i],
        num_blocks: depths[i],
        expand_ratio: this.arch.expand_ratio[i],
        bottle_ratio: this.arch.bottle_ratio[i],
        has_downsampler: this.arch.has_downsampler[i],
        down_growth: this.arch.down_growth[i],
        block_args: this.arch.block_args[i],
        block_dpr: dprAll.slice(offset, offset + depths[i]),
        conv_cfg: spec.conv_cfg ?? null,
        norm_cfg: normCfg,
        act_cfg: actCfg,
        init_cfg: spec.init_cfg === undefined ? { type: 'Kaiming', layer: 'Conv2d' } : spec.init_cfg,
      }));
      offset += depths[i];
    }
    this.stages = this.addModule('stages', new Sequential(...stages));
    const outIn = spec.out_indices ?? -1;
    this.outIndices = (typeof outIn === 'number' ? [outIn] : [...outIn]).map((i) => {
      const j = i < 0 ? numStages + i : i;
      if (!(Number.isInteger(j) && j >= 0 && j < numStages)) throw new MmclsError(`Invalid out_indices ${i}.`, { code: 'model.bad-argument' });
      return j;
    });
    this.freezeStages();
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.stem.eval();
      this.stem.requiresGrad(false);
    }
    for (let i = 0; i <= this.frozenStages; i++) {
      const m = this.stages.at(i);
      m.eval();
      m.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.stem.forward(x);
    const outs: Feat[] = [];
    this.stages.items().forEach((stage, i) => {
      x = stage.forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, this.typeName);
    x = this.stem.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    // The stages run one by one (the Sequential itself is not called), as in MMCls's forward.
    ctx.enter(this.stages);
    try {
      this.stages.items().forEach((stage, i) => {
        x = stage.inferShape(x, ctx);
        if (this.outIndices.includes(i)) outs.push(x);
      });
    } finally {
      ctx.exit(this.stages);
    }
    return outs;
  }
}

/** Options of {@link CSPDarkNet}. */
export interface CSPDarkNetOptions {
  /** Depth of CSP-Darknet; only 53. */
  depth: 53;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Stages whose output is returned (0-4). @default (4, ) */
  out_indices?: number | number[];
  /** Freeze the stem and stages 0..frozen_stages; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config of the blocks. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', eps=1e-5) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='LeakyReLU', inplace=True) */
  act_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training (frozen statistics). @default False */
  norm_eval?: boolean;
  /** Initialisation config. @default dict(type='Kaiming', layer='Conv2d', a=2.23606797749979, distribution='uniform', mode='fan_in', nonlinearity='leaky_relu') */
  init_cfg?: InitCfg | InitCfg[] | null;
}

const DARKNET_ARCH: Record<number, CSPArch> = {
  53: {
    block_fn: 'DarknetBottleneck',
    in_channels: [32, 64, 128, 256, 512],
    out_channels: [64, 128, 256, 512, 1024],
    num_blocks: [1, 2, 8, 8, 4],
    expand_ratio: [2, 1, 1, 1, 1],
    bottle_ratio: [2, 1, 1, 1, 1],
    has_downsampler: true,
    down_growth: true,
  },
};

/** CSP-Darknet backbone used in YOLOv4. */
@MODELS.registerModule()
export class CSPDarkNet extends CSPNet {
  constructor(options: CSPDarkNetOptions) {
    const arch = DARKNET_ARCH[options.depth];
    if (!arch) throw new MmclsError(`depth must be one of [53], but get ${options.depth}.`, { code: 'model.bad-argument' });
    const normCfg = options.norm_cfg ?? DEFAULT_NORM;
    const actCfg = options.act_cfg ?? DEFAULT_ACT;
    const spec: CSPNetSpec = {
      ...options,
      arch,
      out_indices: options.out_indices ?? [4],
      init_cfg:
        options.init_cfg === undefined
          ? { type: 'Kaiming', layer: 'Conv2d', a: Math.sqrt(5), distribution: 'uniform', mode: 'fan_in', nonlinearity: 'leaky_relu' }
          : options.init_cfg,
      stem: (inChannels) =>
        new ConvModule({ in_channels: inChannels, out_channels: arch.in_channels[0], kernel_size: 3, padding: 1, norm_cfg: normCfg, act_cfg: actCfg }),
    };
    super(spec as unknown as CSPNetOptions);
  }
}

/** Options of {@link CSPResNet}. */
export interface CSPResNetOptions {
  /** Depth of CSP-ResNet; only 50. */
  depth: 50;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Stages whose output is returned (0-3). @default (3, ) */
  out_indices?: number | number[];
  /** Freeze the stem and stages 0..frozen_stages; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Three 3x3 convs instead of the 7x7 conv and max pooling in the stem. @default False */
  deep_stem?: boolean;
  /** Convolution config of the stem and the blocks. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', eps=1e-5) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='LeakyReLU', inplace=True) */
  act_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training (frozen statistics). @default False */
  norm_eval?: boolean;
  /** Initialisation config. @default dict(type='Kaiming', layer='Conv2d') */
  init_cfg?: InitCfg | InitCfg[] | null;
}

const RESNET_ARCH: Record<number, CSPArch> = {
  50: {
    block_fn: 'ResNetBottleneck',
    in_channels: [64, 128, 256, 512],
    out_channels: [128, 256, 512, 1024],
    num_blocks: [3, 3, 5, 2],
    expand_ratio: 4,
    bottle_ratio: 2,
    has_downsampler: [false, true, true, true],
    down_growth: false,
  },
};

const RESNEXT_ARCH: Record<number, CSPArch> = {
  50: {
    block_fn: 'ResNeXtBottleneck',
    in_channels: [64, 256, 512, 1024],
    out_channels: [256, 512, 1024, 2048],
    num_blocks: [3, 3, 5, 2],
    expand_ratio: [4, 2, 2, 2],
    bottle_ratio: 4,
    has_downsampler: [false, true, true, true],
    down_growth: false,
    // CSPNet's ResNeXt blocks count their groups' width from 32 base channels instead of 64.
    block_args: { base_channels: 32 },
  },
};

function cspResNetSpec(options: CSPResNetOptions, arch: CSPArch): CSPNetSpec {
  const normCfg = options.norm_cfg ?? DEFAULT_NORM;
  const actCfg = options.act_cfg ?? DEFAULT_ACT;
  const convCfg = options.conv_cfg ?? null;
  const stemChannels = arch.in_channels[0];
  const { deep_stem: deepStem, ...rest } = options;
  return {
    ...rest,
    arch,
    out_indices: options.out_indices ?? [3],
    init_cfg: options.init_cfg === undefined ? { type: 'Kaiming', layer: 'Conv2d' } : options.init_cfg,
    stem: (inChannels) => {
      const common = { conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg };
      if (deepStem) {
        const half = Math.floor(stemChannels / 2);
        return new Sequential(
          new ConvModule({ in_channels: inChannels, out_channels: half, kernel_size: 3, stride: 2, padding: 1, ...common }),
          new ConvModule({ in_channels: half, out_channels: half, kernel_size: 3, stride: 1, padding: 1, ...common }),
          new ConvModule({ in_channels: half, out_channels: stemChannels, kernel_size: 3, stride: 1, padding: 1, ...common }),
        );
      }
      return new Sequential(
        new ConvModule({ in_channels: inChannels, out_channels: stemChannels, kernel_size: 7, stride: 2, padding: 3, ...common }),
        new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }),
      );
    },
  };
}

/** CSP-ResNet backbone: CSP stages of ResNet bottlenecks with LeakyReLU. */
@MODELS.registerModule()
export class CSPResNet extends CSPNet {
  constructor(options: CSPResNetOptions) {
    const arch = RESNET_ARCH[options.depth];
    if (!arch) throw new MmclsError(`depth must be one of [50], but get ${options.depth}.`, { code: 'model.bad-argument' });
    super(cspResNetSpec(options, arch) as unknown as CSPNetOptions);
  }
}

/** Options of {@link CSPResNeXt} (those of CSP-ResNet). */
export interface CSPResNeXtOptions extends CSPResNetOptions {}

/** CSP-ResNeXt backbone: CSP stages of ResNeXt bottlenecks (32 groups) with LeakyReLU. */
@MODELS.registerModule()
export class CSPResNeXt extends CSPNet {
  constructor(options: CSPResNeXtOptions) {
    const arch = RESNEXT_ARCH[options.depth];
    if (!arch) throw new MmclsError(`depth must be one of [50], but get ${options.depth}.`, { code: 'model.bad-argument' });
    super(cspResNetSpec(options, arch) as unknown as CSPNetOptions);
  }
}
