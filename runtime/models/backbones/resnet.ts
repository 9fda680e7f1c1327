import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ReLU, DropPath } from '../../nn/activation';
import { LayerCfg, buildConvLayer, buildNormLayer, ConvModule } from '../../nn/builders';
import { Identity, Layer, Sequential } from '../../nn/layer';
import { InitCfg, Module, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { AvgPool2d, MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { SELayer } from '../utils/se_layer';

const EPS = 1e-5;

export interface BlockOptions {
  in_channels: number;
  out_channels: number;
  expansion?: number;
  stride?: number;
  dilation?: number;
  downsample?: Layer | null;
  style?: 'pytorch' | 'caffe';
  conv_cfg?: LayerCfg | null;
  norm_cfg?: LayerCfg;
  drop_path_rate?: number;
  /** ResNeXt: groups of the 3x3 conv. */
  groups?: number;
  /** ResNeXt: channels per group. */
  width_per_group?: number;
  /** ResNeXt: the network's base channels. */
  base_channels?: number;
  /** SE-ResNet: squeeze ratio of the SE layer (None: no SE layer). */
  se_ratio?: number | null;
}

/** A residual block with an identity (or downsample) shortcut. */
export abstract class ResBlock extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly expansion: number;
  readonly midChannels: number;
  downsample: Layer | null = null;
  dropPath: Layer | null = null;
  relu!: ReLU;

  constructor(o: BlockOptions, defaultExpansion: number) {
    super();
    this.inChannels = o.in_channels;
    this.outChannels = o.out_channels;
    this.expansion = o.expansion ?? defaultExpansion;
    if (this.outChannels % this.expansion !== 0) {
      throw new MmclsError(`out_channels ${this.outChannels} is not divisible by expansion ${this.expansion}`, {
        code: 'model.bad-argument',
      });
    }
    this.midChannels = this.outChannels / this.expansion;
  }

  /** The residual branch. */
  protected abstract residual(x: tf.Tensor): tf.Tensor;
  protected abstract residualShape(x: ShapeValue, ctx: ShapeContext): ShapeValue;

  /** Hook for SE blocks: applied to the residual branch before the addition. */
  protected extra(out: tf.Tensor): tf.Tensor {
    return out;
  }
  protected extraShape(x: ShapeValue, _ctx: ShapeContext): ShapeValue {
    return x;
  }

  /** The modules of the residual branch's last norm (zero_init_residual). */
  abstract lastNorm(): _BatchNorm | null;

  forward(x: tf.Tensor): tf.Tensor {
    const identity = this.downsample ? this.downsample.forward(x) : x;
    let out = this.extra(this.residual(x));
    if (this.dropPath) out = this.dropPath.forward(out);
    return this.relu.forward(tf.add(out, identity));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let out = this.extraShape(this.residualShape(x, ctx), ctx);
    if (this.dropPath) out = this.dropPath.inferShape(out, ctx);
    if (this.downsample) this.downsample.inferShape(x, ctx);
    return this.relu.inferShape(out, ctx);
  }
}

/** ResNet's BasicBlock (two 3x3 convs). */
export class BasicBlock extends ResBlock {
  readonly conv1: Layer;
  readonly bn1: Layer;
  readonly conv2: Layer;
  readonly bn2: Layer;

  constructor(o: BlockOptions) {
    super(o, 1);
    const normCfg = o.norm_cfg ?? { type: 'BN' };
    const stride = o.stride ?? 1;
    const dilation = o.dilation ?? 1;
    const [n1, norm1] = buildNormLayer(normCfg, this.midChannels, 1);
    const [n2, norm2] = buildNormLayer(normCfg, this.outChannels, 2);
    this.conv1 = this.addModule('conv1', buildConvLayer(o.conv_cfg, {
      in_channels: this.inChannels, out_channels: this.midChannels, kernel_size: 3, stride, padding: dilation, dilation, bias: false,
    }));
    this.bn1 = this.addModule(n1, norm1);
    this.conv2 = this.addModule('conv2', buildConvLayer(o.conv_cfg, {
      in_channels: this.midChannels, out_channels: this.outChannels, kernel_size: 3, padding: 1, bias: false,
    }));
    this.bn2 = this.addModule(n2, norm2);
    this.relu = this.addModule('relu', new ReLU());
    this.downsample = this.addModule('downsample', o.downsample ?? null);
    this.dropPath = this.addModule('drop_path', (o.drop_path_rate ?? 0) > EPS ? new DropPath({ drop_prob: o.drop_path_rate }) : new Identity());
  }

  protected residual(x: tf.Tensor): tf.Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.bn2.forward(this.conv2.forward(out));
    return out;
  }

  protected residualShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let out = this.conv1.inferShape(x, ctx);
    out = this.relu.inferShape(this.bn1.inferShape(out, ctx), ctx);
    return this.bn2.inferShape(this.conv2.inferShape(out, ctx), ctx);
  }

  lastNorm(): _BatchNorm | null {
    return this.bn2 instanceof _BatchNorm ? this.bn2 : null;
  }
}

/** ResNet's Bottleneck (1x1, 3x3, 1x1 convs). */
export class Bottleneck extends ResBlock {
  readonly conv1: Layer;
  readonly bn1: Layer;
  readonly conv2: Layer;
  readonly bn2: Layer;
  readonly conv3: Layer;
  readonly bn3: Layer;

  readonly seLayer: SELayer | null = null;

  constructor(o: BlockOptions) {
    super(o, 4);
    const groups = o.groups ?? 1;
    let mid = this.midChannels;
    if (groups !== 1) {
      // ResNeXt: the middle width comes from groups x width_per_group, scaled with the stage.
      const base = o.base_channels ?? 64;
      if (mid % base !== 0) throw new MmclsError(`mid_channels ${mid} is not divisible by base_channels ${base}`, { code: 'model.bad-argument' });
      mid = Math.floor((groups * (o.width_per_group ?? 4) * mid) / base);
    }
    const normCfg = o.norm_cfg ?? { type: 'BN' };
    const stride = o.stride ?? 1;
    const dilation = o.dilation ?? 1;
    const style = o.style ?? 'pytorch';
    if (style !== 'pytorch' && style !== 'caffe') {
      throw new MmclsError(`style must be 'pytorch' or 'caffe', got ${JSON.stringify(style)}`, { code: 'model.bad-argument' });
    }
    const conv1Stride = style === 'pytorch' ? 1 : stride;
    const conv2Stride = style === 'pytorch' ? stride : 1;
    const [n1, norm1] = buildNormLayer(normCfg, mid, 1);
    const [n2, norm2] = buildNormLayer(normCfg, mid, 2);
    const [n3, norm3] = buildNormLayer(normCfg, this.outChannels, 3);
    this.conv1 = this.addModule('conv1', buildConvLayer(o.conv_cfg, {
      in_channels: this.inChannels, out_channels: mid, kernel_size: 1, stride: conv1Stride, bias: false,
    }));
    this.bn1 = this.addModule(n1, norm1);
    this.conv2 = this.addModule('conv2', buildConvLayer(o.conv_cfg, {
      in_channels: mid, out_channels: mid, kernel_size: 3, stride: conv2Stride, padding: dilation, dilation, groups, bias: false,
    }));
    this.bn2 = this.addModule(n2, norm2);
    this.conv3 = this.addModule('conv3', buildConvLayer(o.conv_cfg, {
      in_channels: mid, out_channels: this.outChannels, kernel_size: 1, bias: false,
    }));
    this.bn3 = this.addModule(n3, norm3);
    this.relu = this.addModule('relu', new ReLU());
    this.downsample = this.addModule('downsample', o.downsample ?? null);
    this.dropPath = this.addModule('drop_path', (o.drop_path_rate ?? 0) > EPS ? new DropPath({ drop_prob: o.drop_path_rate }) : new Identity());
    if (o.se_ratio !== undefined && o.se_ratio !== null) {
      this.seLayer = this.addModule('se_layer', new SELayer({ channels: this.outChannels, ratio: o.se_ratio }));
    }
  }

  protected override extra(out: tf.Tensor): tf.Tensor {
    return this.seLayer ? this.seLayer.forward(out) : out;
  }

  protected override extraShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.seLayer ? this.seLayer.inferShape(x, ctx) : x;
  }

  protected residual(x: tf.Tensor): tf.Tensor {
    let out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    out = this.relu.forward(this.bn2.forward(this.conv2.forward(out)));
    return this.bn3.forward(this.conv3.forward(out));
  }

  protected residualShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let out = this.relu.inferShape(this.bn1.inferShape(this.conv1.inferShape(x, ctx), ctx), ctx);
    out = this.relu.inferShape(this.bn2.inferShape(this.conv2.inferShape(out, ctx), ctx), ctx);
    return this.bn3.inferShape(this.conv3.inferShape(out, ctx), ctx);
  }

  lastNorm(): _BatchNorm | null {
    return this.bn3 instanceof _BatchNorm ? this.bn3 : null;
  }
}

export type BlockClass = new (o: BlockOptions) => ResBlock;

/** MMCls's ResLayer: a Sequential of blocks, the first one with stride and downsample. */
export class ResLayer extends Sequential {
  constructor(o: {
    block: (o: BlockOptions) => ResBlock;
    num_blocks: number;
    in_channels: number;
    out_channels: number;
    expansion: number;
    stride?: number;
    avg_down?: boolean;
    conv_cfg?: LayerCfg | null;
    norm_cfg?: LayerCfg;
    blockOptions?: Partial<BlockOptions>;
    /** Drop-path rate of each block. */
    dprs?: number[];
  }) {
    super();
    const stride = o.stride ?? 1;
    const normCfg = o.norm_cfg ?? { type: 'BN' };
    let downsample: Layer | null = null;
    if (stride !== 1 || o.in_channels !== o.out_channels) {
      const parts: Layer[] = [];
      let convStride = stride;
      if (o.avg_down && stride !== 1) {
        convStride = 1;
        parts.push(new AvgPool2d({ kernel_size: stride, stride, ceil_mode: true, count_include_pad: false }));
      }
      parts.push(buildConvLayer(o.conv_cfg, { in_channels: o.in_channels, out_channels: o.out_channels, kernel_size: 1, stride: convStride, bias: false }));
      parts.push(buildNormLayer(normCfg, o.out_channels)[1]);
      downsample = new Sequential(...parts);
    }
    for (let i = 0; i < o.num_blocks; i++) {
      this.append(
        o.block({
          ...o.blockOptions,
          in_channels: i === 0 ? o.in_channels : o.out_channels,
          out_channels: o.out_channels,
          expansion: o.expansion,
          stride: i === 0 ? stride : 1,
          downsample: i === 0 ? downsample : null,
          conv_cfg: o.conv_cfg,
          norm_cfg: normCfg,
          drop_path_rate: o.dprs ? o.dprs[i] : 0,
        }),
      );
    }
  }
}

/** Options of {@link ResNet}. */
export interface ResNetOptions {
  /** Network depth, one of 18, 34, 50, 101, 152. */
  depth: 18 | 34 | 50 | 101 | 152;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Output channels of the stem. @default 64 */
  stem_channels?: number;
  /** Middle channels of the first stage (doubled at each stage). @default 64 */
  base_channels?: number;
  /** Ratio of output to middle channels in a block (None: 1 for BasicBlock, 4 for Bottleneck). @default None */
  expansion?: number | null;
  /** Number of stages, 1 to 4. @default 4 */
  num_stages?: number;
  /** Stride of the first block of each stage. @default (1, 2, 2, 2) */
  strides?: number[];
  /** Dilation of each stage. @default (1, 1, 1, 1) */
  dilations?: number[];
  /** Stages whose output is returned. @default (3, ) */
  out_indices?: number[];
  /** 'pytorch': stride on the 3x3 conv; 'caffe': on the first 1x1 conv. @default 'pytorch' */
  style?: 'pytorch' | 'caffe';
  /** Replace the 7x7 stem conv with three 3x3 convs. @default False */
  deep_stem?: boolean;
  /** Downsample shortcuts with an average pooling then a stride-1 conv. @default False */
  avg_down?: boolean;
  /** Stages to freeze (stop gradients, eval mode); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', requires_grad=True) */
  norm_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training (frozen statistics). @default False */
  norm_eval?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialise the last norm of each residual branch to zero. @default True */
  zero_init_residual?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0.0 */
  drop_path_rate?: number;
}

const ARCH: Record<number, [kind: 'basic' | 'bottleneck', blocks: number[]]> = {
  18: ['basic', [2, 2, 2, 2]],
  34: ['basic', [3, 4, 6, 3]],
  50: ['bottleneck', [3, 4, 6, 3]],
  101: ['bottleneck', [3, 4, 23, 3]],
  152: ['bottleneck', [3, 8, 36, 3]],
};

/** ResNet backbone (Deep Residual Learning for Image Recognition). */
@MODELS.registerModule()
export class ResNet extends BaseBackbone {
  readonly depth: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly zeroInitResidual: boolean;
  readonly deepStem: boolean;
  readonly expansion: number;
  readonly resLayers: string[] = [];
  stem: Layer | null = null;
  conv1: Layer | null = null;
  norm1: Layer | null = null;
  relu: Layer | null = null;
  maxpool: Layer | null = null;
  readonly featDim: number;
  /** The options as given (subclasses read their extra options here while the base builds). */
  protected readonly opts: ResNetOptions;

  constructor(options: ResNetOptions) {
    super(
      options.init_cfg === undefined
        ? [
            { type: 'Kaiming', layer: ['Conv2d'] },
            { type: 'Constant', val: 1, layer: ['_BatchNorm', 'GroupNorm'] },
          ]
        : options.init_cfg,
    );
    const o = options;
    this.opts = options;
    const arch = ARCH[o.depth];
    if (!arch) {
      throw new MmclsError(`invalid depth ${o.depth} for resnet; expected one of 18, 34, 50, 101, 152`, { code: 'model.bad-argument' });
    }
    this.depth = o.depth;
    const stemChannels = o.stem_channels ?? 64;
    const baseChannels = o.base_channels ?? 64;
    const numStages = o.num_stages ?? 4;
    if (numStages < 1 || numStages > 4) throw new MmclsError('num_stages must be in [1, 4]', { code: 'model.bad-argument' });
    const strides = o.strides ?? [1, 2, 2, 2];
    const dilations = o.dilations ?? [1, 1, 1, 1];
    if (strides.length !== numStages || dilations.length !== numStages) {
      throw new MmclsError(`strides and dilations must have num_stages (${numStages}) entries`, { code: 'model.bad-argument' });
    }
    const outIndices = [...(o.out_indices ?? [3])].map((i) => (i < 0 ? i + numStages : i));
    for (const i of outIndices) {
      if (i < 0 || i >= numStages) throw new MmclsError(`out_indices ${i} is outside [0, ${numStages})`, { code: 'model.bad-argument' });
    }
    this.outIndices = outIndices;
    this.deepStem = o.deep_stem ?? false;
    this.frozenStages = o.frozen_stages ?? -1;
    this.normEval = o.norm_eval ?? false;
    this.zeroInitResidual = o.zero_init_residual ?? true;
    const normCfg = o.norm_cfg ?? { type: 'BN', requires_grad: true };
    const style = o.style ?? 'pytorch';
    const [kind, stageBlocks] = arch;
    this.expansion = o.expansion ?? (kind === 'basic' ? 1 : 4);

    this.makeStem(o.in_channels ?? 3, stemChannels, o.conv_cfg ?? null, normCfg);

    const blocks = stageBlocks.slice(0, numStages);
    const totalBlocks = blocks.reduce((a, b) => a + b, 0);
    const dpr = o.drop_path_rate ?? 0;
    let blockIndex = 0;
    let inCh = stemChannels;
    let outCh = baseChannels * this.expansion;
    for (let i = 0; i < numStages; i++) {
      const dprs = Array.from({ length: blocks[i] }, (_, j) => (totalBlocks > 1 ? (dpr * (blockIndex + j)) / (totalBlocks - 1) : 0));
      blockIndex += blocks[i];
      const layer = this.makeResLayer({
        kind,
        num_blocks: blocks[i],
        in_channels: inCh,
        out_channels: outCh,
        expansion: this.expansion,
        stride: strides[i],
        dilation: dilations[i],
        style,
        avg_down: o.avg_down ?? false,
        conv_cfg: o.conv_cfg ?? null,
        norm_cfg: normCfg,
        dprs,
        stage: i,
        base_channels: baseChannels,
      });
      const name = `layer${i + 1}`;
      this.addModule(name, layer);
      this.resLayers.push(name);
      inCh = outCh;
      outCh *= 2;
    }
    this.featDim = inCh;
    this.freezeStages();
  }

  /** Block options a subclass adds (ResNeXt: groups, width_per_group; SE-ResNet: se_ratio). */
  protected extraBlockOptions(): Partial<BlockOptions> {
    return {};
  }

  /** Builds one block; subclasses override. */
  protected makeBlock(kind: 'basic' | 'bottleneck', o: BlockOptions): ResBlock {
    return kind === 'basic' ? new BasicBlock(o) : new Bottleneck(o);
  }

  protected makeResLayer(o: {
    kind: 'basic' | 'bottleneck';
    num_blocks: number;
    in_channels: number;
    out_channels: number;
    expansion: number;
    stride: number;
    dilation: number;
    style: 'pytorch' | 'caffe';
    avg_down: boolean;
    conv_cfg: LayerCfg | null;
    norm_cfg: LayerCfg;
    dprs: number[];
    stage: number;
    base_channels: number;
  }): Layer {
    return new ResLayer({
      block: (bo) => this.makeBlock(o.kind, bo),
      num_blocks: o.num_blocks,
      in_channels: o.in_channels,
      out_channels: o.out_channels,
      expansion: o.expansion,
      stride: o.stride,
      avg_down: o.avg_down,
      conv_cfg: o.conv_cfg,
      norm_cfg: o.norm_cfg,
      blockOptions: { dilation: o.dilation, style: o.style, base_channels: o.base_channels, ...this.extraBlockOptions() },
      dprs: o.dprs,
    });
  }

  protected makeStem(inChannels: number, stemChannels: number, convCfg: LayerCfg | null, normCfg: LayerCfg): void {
    if (this.deepStem) {
      const half = Math.floor(stemChannels / 2);
      this.stem = this.addModule(
        'stem',
        new Sequential(
          new ConvModule({ in_channels: inChannels, out_channels: half, kernel_size: 3, stride: 2, padding: 1, conv_cfg: convCfg, norm_cfg: normCfg }),
          new ConvModule({ in_channels: half, out_channels: half, kernel_size: 3, stride: 1, padding: 1, conv_cfg: convCfg, norm_cfg: normCfg }),
          new ConvModule({ in_channels: half, out_channels: stemChannels, kernel_size: 3, stride: 1, padding: 1, conv_cfg: convCfg, norm_cfg: normCfg }),
        ),
      );
    } else {
      this.conv1 = this.addModule('conv1', buildConvLayer(convCfg, { in_channels: inChannels, out_channels: stemChannels, kernel_size: 7, stride: 2, padding: 3, bias: false }));
      const [name, norm] = buildNormLayer(normCfg, stemChannels, 1);
      this.norm1 = this.addModule(name, norm);
      this.relu = this.addModule('relu', new ReLU());
    }
    this.maxpool = this.addModule('maxpool', new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }));
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      const stemParts: Module[] = this.deepStem ? [this.stem!] : [this.conv1!, this.norm1!];
      for (const m of stemParts) {
        m.eval();
        m.requiresGrad(false);
      }
    }
    for (let i = 1; i <= this.frozenStages; i++) {
      const m = this.getChild(`layer${i}`);
      if (m) {
        m.eval();
        m.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  override initWeights(): void {
    const wasInit = this.isInit;
    super.initWeights();
    if (wasInit) return;
    if (this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained') return;
    if (this.zeroInitResidual) {
      this.apply((m) => {
        if (m instanceof ResBlock) {
          const n = m.lastNorm();
          if (n?.weight) tf.tidy(() => n.weight!.assign(tf.zerosLike(n.weight!.variable)));
          if (n?.bias) tf.tidy(() => n.bias!.assign(tf.zerosLike(n.bias!.variable)));
        }
      });
    }
  }

  protected stemForward(x: tf.Tensor): tf.Tensor {
    if (this.deepStem) x = this.stem!.forward(x);
    else x = this.relu!.forward(this.norm1!.forward(this.conv1!.forward(x)));
    return this.maxpool!.forward(x);
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.stemForward(x);
    const outs: Feat[] = [];
    this.resLayers.forEach((name, i) => {
      x = (this.getChild(name) as Layer).forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected stemShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    if (this.deepStem) x = this.stem!.inferShape(x, ctx);
    else x = this.relu!.inferShape(this.norm1!.inferShape(this.conv1!.inferShape(x, ctx), ctx), ctx);
    return this.maxpool!.inferShape(x, ctx);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'ResNet');
    x = this.stemShape(x, ctx);
    const outs: ShapeValue[] = [];
    this.resLayers.forEach((name, i) => {
      x = (this.getChild(name) as Layer).inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }
}

/** Options of {@link ResNetV1c} (ResNet's options; deep_stem is always True). */
export interface ResNetV1cOptions extends ResNetOptions {}

/** ResNetV1c: ResNet with a deep stem (three 3x3 convs) instead of the 7x7 conv (Bag of Tricks). */
@MODELS.registerModule()
export class ResNetV1c extends ResNet {
  constructor(options: ResNetV1cOptions) {
    super({ ...options, deep_stem: true, avg_down: false });
  }
}

/** Options of {@link ResNetV1d} (ResNet's options; deep_stem and avg_down are always True). */
export interface ResNetV1dOptions extends ResNetOptions {}

/** ResNetV1d: deep stem plus average-pool downsampling in the shortcuts (Bag of Tricks). */
@MODELS.registerModule()
export class ResNetV1d extends ResNet {
  constructor(options: ResNetV1dOptions) {
    super({ ...options, deep_stem: true, avg_down: true });
  }
}

/** Options of {@link ResNet_CIFAR} (ResNet's options; deep_stem must be False). */
export interface ResNet_CIFAROptions extends ResNetOptions {}

/** ResNet for 32x32 CIFAR images: a 3x3 stride-1 stem conv and no max pooling. */
@MODELS.registerModule()
export class ResNet_CIFAR extends ResNet {
  constructor(options: ResNet_CIFAROptions) {
    if (options.deep_stem) {
      throw new MmclsError('ResNet_CIFAR does not support deep_stem', { code: 'model.bad-argument' });
    }
    super(options);
  }

  protected override makeStem(inChannels: number, stemChannels: number, convCfg: LayerCfg | null, normCfg: LayerCfg): void {
    this.conv1 = this.addModule('conv1', buildConvLayer(convCfg, { in_channels: inChannels, out_channels: stemChannels, kernel_size: 3, stride: 1, padding: 1, bias: false }));
    const [name, norm] = buildNormLayer(normCfg, stemChannels, 1);
    this.norm1 = this.addModule(name, norm);
    this.relu = this.addModule('relu', new ReLU());
  }

  protected override stemForward(x: tf.Tensor): tf.Tensor {
    return this.relu!.forward(this.norm1!.forward(this.conv1!.forward(x)));
  }

  protected override stemShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.relu!.inferShape(this.norm1!.inferShape(this.conv1!.inferShape(x, ctx), ctx), ctx);
  }
}

const DEEP_ONLY = (depth: number, who: string): void => {
  if (![50, 101, 152].includes(depth)) {
    throw new MmclsError(`invalid depth ${depth} for ${who}; expected one of 50, 101, 152`, { code: 'model.bad-argument' });
  }
};

/** Options of {@link ResNeXt}. */
export interface ResNeXtOptions extends ResNetOptions {
  /** Network depth, one of 50, 101, 152. */
  depth: 50 | 101 | 152;
  /** Groups of the 3x3 convs. @default 32 */
  groups?: number;
  /** Channels per group in the first stage. @default 4 */
  width_per_group?: number;
}

/** ResNeXt backbone (Aggregated Residual Transformations for Deep Neural Networks). */
@MODELS.registerModule()
export class ResNeXt extends ResNet {
  constructor(options: ResNeXtOptions) {
    DEEP_ONLY(options.depth, 'ResNeXt');
    super(options);
  }

  protected override extraBlockOptions(): Partial<BlockOptions> {
    const o = this.opts as ResNeXtOptions;
    return { groups: o.groups ?? 32, width_per_group: o.width_per_group ?? 4 };
  }
}

/** Options of {@link SEResNet}. */
export interface SEResNetOptions extends ResNetOptions {
  /** Network depth, one of 50, 101, 152. */
  depth: 50 | 101 | 152;
  /** Squeeze ratio of the SE layers. @default 16 */
  se_ratio?: number;
}

/** SE-ResNet backbone (Squeeze-and-Excitation Networks). */
@MODELS.registerModule()
export class SEResNet extends ResNet {
  constructor(options: SEResNetOptions) {
    DEEP_ONLY(options.depth, 'SEResNet');
    super(options);
  }

  protected override extraBlockOptions(): Partial<BlockOptions> {
    return { se_ratio: (this.opts as SEResNetOptions).se_ratio ?? 16 };
  }
}

/** Options of {@link SEResNeXt}. */
export interface SEResNeXtOptions extends SEResNetOptions {
  /** Groups of the 3x3 convs. @default 32 */
  groups?: number;
  /** Channels per group in the first stage. @default 4 */
  width_per_group?: number;
}

/** SE-ResNeXt backbone: ResNeXt blocks with Squeeze-and-Excitation. */
@MODELS.registerModule()
export class SEResNeXt extends SEResNet {
  protected override extraBlockOptions(): Partial<BlockOptions> {
    const o = this.opts as SEResNeXtOptions;
    return { se_ratio: o.se_ratio ?? 16, groups: o.groups ?? 32, width_per_group: o.width_per_group ?? 4 };
  }
}
