import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath, ReLU } from '../../nn/activation';
import { LayerCfg, buildConvLayer, buildNormLayer } from '../../nn/builders';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { AvgPool2d } from '../../nn/pooling';
import { BlockOptions, ResBlock, ResNet, ResNetOptions } from './resnet';

const EPS = 1e-5;

/** Options of {@link Bottle2neck}: a ResNet bottleneck's, plus the Res2Net split. */
export interface Bottle2neckOptions extends BlockOptions {
  /** Number of channel groups (scales) of the hierarchical 3x3 convs; more than 1. @default 4 */
  scales?: number;
  /** Channels of each scale at base_channels middle channels. @default 26 */
  base_width?: number;
  /** The network's base channels. @default 64 */
  base_channels?: number;
  /** 'stage' for the first block of a stage (no hierarchy, pooled last group), else 'normal'. @default 'normal' */
  stage_type?: 'normal' | 'stage';
}

/**
 * Res2Net's bottleneck: the 3x3 conv of a ResNet bottleneck is replaced by `scales - 1` 3x3 convs
 * over channel groups, each group adding the previous group's output (hierarchical residual-like
 * connections). Registration order (conv1, bn1, conv3, bn3, downsample, convs, bns) is MMCls's.
 */
export class Bottle2neck extends ResBlock {
  readonly conv1: Layer;
  readonly bn1: Layer;
  readonly conv3: Layer;
  readonly bn3: Layer;
  readonly pool: AvgPool2d | null = null;
  readonly convs: ModuleList<Layer>;
  readonly bns: ModuleList<Layer>;
  readonly scales: number;
  readonly width: number;
  readonly stageType: 'normal' | 'stage';

  constructor(o: Bottle2neckOptions) {
    super(o, 4);
    const scales = o.scales ?? 4;
    if (!(scales > 1)) throw new MmclsError('Res2Net degenerates to ResNet when scales = 1.', { code: 'model.bad-argument' });
    const style = o.style ?? 'pytorch';
    if (style !== 'pytorch' && style !== 'caffe') {
      throw new MmclsError(`style must be 'pytorch' or 'caffe', got ${JSON.stringify(style)}`, { code: 'model.bad-argument' });
    }
    const stride = o.stride ?? 1;
    const dilation = o.dilation ?? 1;
    const conv1Stride = style === 'pytorch' ? 1 : stride;
    const conv2Stride = style === 'pytorch' ? stride : 1;
    const normCfg = o.norm_cfg ?? { type: 'BN' };
    const width = Math.floor(this.midChannels * ((o.base_width ?? 26) / (o.base_channels ?? 64)));
    this.scales = scales;
    this.width = width;
    this.stageType = o.stage_type ?? 'normal';

    const [n1, norm1] = buildNormLayer(normCfg, width * scales, 1);
    const [n3, norm3] = buildNormLayer(normCfg, this.outChannels, 3);
    this.conv1 = this.addModule('conv1', buildConvLayer(o.conv_cfg, {
      in_channels: this.inChannels, out_channels: width * scales, kernel_size: 1, stride: conv1Stride, bias: false,
    }));
    this.bn1 = this.addModule(n1, norm1);
    this.conv3 = this.addModule('conv3', buildConvLayer(o.conv_cfg, { in_channels: width * scales, out_channels: this.outChannels, kernel_size: 1, bias: false }));
    this.bn3 = this.addModule(n3, norm3);
    this.relu = this.addModule('relu', new ReLU());
    this.downsample = this.addModule('downsample', o.downsample ?? null);
    this.dropPath = this.addModule('drop_path', (o.drop_path_rate ?? 0) > EPS ? new DropPath({ drop_prob: o.drop_path_rate }) : new Identity());
    if (this.stageType === 'stage') this.pool = this.addModule('pool', new AvgPool2d({ kernel_size: 3, stride: conv2Stride, padding: 1 }));
    this.convs = this.addModule('convs', new ModuleList<Layer>());
    this.bns = this.addModule('bns', new ModuleList<Layer>());
    for (let i = 0; i < scales - 1; i++) {
      this.convs.push(buildConvLayer(o.conv_cfg, {
        in_channels: width, out_channels: width, kernel_size: 3, stride: conv2Stride, padding: dilation, dilation, bias: false,
      }));
      this.bns.push(buildNormLayer(normCfg, width, i + 1)[1]);
    }
  }

  protected residual(x: tf.Tensor): tf.Tensor {
    const out = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    const spx = tf.split(out, this.scales, 3);
    let sp = this.relu.forward(this.bns.at(0).forward(this.convs.at(0).forward(spx[0])));
    const parts: tf.Tensor[] = [sp];
    for (let i = 1; i < this.scales - 1; i++) {
      sp = this.stageType === 'stage' ? spx[i] : tf.add(sp, spx[i]);
      sp = this.relu.forward(this.bns.at(i).forward(this.convs.at(i).forward(sp)));
      parts.push(sp);
    }
    const last = spx[this.scales - 1];
    parts.push(this.stageType === 'stage' ? this.pool!.forward(last) : last);
    return this.bn3.forward(this.conv3.forward(tf.concat(parts, 3)));
  }

  protected residualShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const out = asShape(this.relu.inferShape(this.bn1.inferShape(this.conv1.inferShape(x, ctx), ctx), ctx), 'Bottle2neck');
    const group = [out[0], this.width, out[2], out[3]];
    // The ModuleLists are never called as such; fvcore still adds their children's costs to them.
    ctx.enter(this.convs);
    ctx.enter(this.bns);
    let sp: ShapeValue = group;
    try {
      for (let i = 0; i < this.scales - 1; i++) {
        sp = this.convs.at(i).inferShape(this.stageType === 'stage' || i === 0 ? group : sp, ctx);
        sp = this.relu.inferShape(this.bns.at(i).inferShape(sp, ctx), ctx);
      }
    } finally {
      ctx.exit(this.bns);
      ctx.exit(this.convs);
    }
    const [n, , h, w] = asShape(sp, 'Bottle2neck');
    if (this.stageType === 'stage') this.pool!.inferShape(group, ctx);
    return this.bn3.inferShape(this.conv3.inferShape([n, this.width * this.scales, h, w], ctx), ctx);
  }

  lastNorm(): _BatchNorm | null {
    return this.bn3 instanceof _BatchNorm ? this.bn3 : null;
  }
}

/** Options of {@link Res2Net}. */
export interface Res2NetOptions extends ResNetOptions {
  /** Network depth, one of 50, 101, 152. */
  depth: 50 | 101 | 152;
  /** Scales (channel groups) of the hierarchical 3x3 convs. @default 4 */
  scales?: number;
  /** Channels of each scale in the first stage. @default 26 */
  base_width?: number;
  /** 'pytorch': stride on the 3x3 convs; 'caffe': on the first 1x1 conv. @default 'pytorch' */
  style?: 'pytorch' | 'caffe';
  /** Replace the 7x7 stem conv with three 3x3 convs. @default True */
  deep_stem?: boolean;
  /** Downsample shortcuts with an average pooling then a stride-1 conv. @default True */
  avg_down?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Res2Net backbone (Res2Net: A New Multi-scale Backbone Architecture). */
@MODELS.registerModule()
export class Res2Net extends ResNet {
  constructor(options: Res2NetOptions) {
    if (![50, 101, 152].includes(options.depth)) {
      throw new MmclsError(`invalid depth ${options.depth} for Res2Net; expected one of 50, 101, 152`, { code: 'model.bad-argument' });
    }
    super({
      ...options,
      style: options.style ?? 'pytorch',
      deep_stem: options.deep_stem ?? true,
      avg_down: options.avg_down ?? true,
      init_cfg: options.init_cfg ?? null,
    });
  }

  /** MMCls's Res2Layer: the first block is a 'stage' block with the downsample shortcut. */
  protected override makeResLayer(o: {
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
    const opts = this.opts as Res2NetOptions;
    let downsample: Layer | null = null;
    if (o.stride !== 1 || o.in_channels !== o.out_channels) {
      // Unlike ResNet's ResLayer, Res2Layer pools even when the stride is 1 (a 1x1 pooling).
      downsample = o.avg_down
        ? new Sequential(
            new AvgPool2d({ kernel_size: o.stride, stride: o.stride, ceil_mode: true, count_include_pad: false }),
            buildConvLayer(o.conv_cfg, { in_channels: o.in_channels, out_channels: o.out_channels, kernel_size: 1, stride: 1, bias: false }),
            buildNormLayer(o.norm_cfg, o.out_channels)[1],
          )
        : new Sequential(
            buildConvLayer(o.conv_cfg, { in_channels: o.in_channels, out_channels: o.out_channels, kernel_size: 1, stride: o.stride, bias: false }),
            buildNormLayer(o.norm_cfg, o.out_channels)[1],
          );
    }
    const layer = new Sequential();
    for (let i = 0; i < o.num_blocks; i++) {
      layer.append(
        new Bottle2neck({
          in_channels: i === 0 ? o.in_channels : o.out_channels,
          out_channels: o.out_channels,
          expansion: o.expansion,
          stride: i === 0 ? o.stride : 1,
          dilation: o.dilation,
          style: o.style,
          downsample: i === 0 ? downsample : null,
          conv_cfg: o.conv_cfg,
          norm_cfg: o.norm_cfg,
          drop_path_rate: o.dprs[i] ?? 0,
          scales: opts.scales ?? 4,
          base_width: opts.base_width ?? 26,
          base_channels: o.base_channels,
          stage_type: i === 0 ? 'stage' : 'normal',
        }),
      );
    }
    return layer;
  }
}
