import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ReLU, Dropout } from '../../nn/activation';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { Linear } from '../../nn/conv';
import { Layer, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape, shapeNumel } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/**
 * MMCls's `make_vgg_layer`: `num_blocks` 3x3 ConvModules (with bias, padding = dilation) and a 2x2
 * max pooling, as a flat list (VGG puts them all into one `features` Sequential).
 */
export function makeVggLayer(
  inChannels: number,
  outChannels: number,
  numBlocks: number,
  o: { conv_cfg?: LayerCfg | null; norm_cfg?: LayerCfg | null; act_cfg?: LayerCfg | null; dilation?: number; ceil_mode?: boolean } = {},
): Layer[] {
  const layers: Layer[] = [];
  const dilation = o.dilation ?? 1;
  for (let i = 0; i < numBlocks; i++) {
    layers.push(
      new ConvModule({
        in_channels: inChannels,
        out_channels: outChannels,
        kernel_size: 3,
        dilation,
        padding: dilation,
        bias: true,
        conv_cfg: o.conv_cfg ?? null,
        norm_cfg: o.norm_cfg ?? null,
        act_cfg: o.act_cfg === undefined ? { type: 'ReLU' } : o.act_cfg,
      }),
    );
    inChannels = outChannels;
  }
  layers.push(new MaxPool2d({ kernel_size: 2, stride: 2, ceil_mode: o.ceil_mode ?? false }));
  return layers;
}

/**
 * Flattens an NHWC batch in PyTorch's NCHW order (`x.view(x.size(0), -1)`): value (c, h, w) lands
 * at c * H * W + h * W + w, so the first fc layer of a checkpoint applies as trained.
 */
export function flattenNCHW(x: tf.Tensor): tf.Tensor {
  if (x.rank !== 4) return tf.reshape(x, [x.shape[0], -1]);
  return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]);
}

class FlattenNCHW extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return flattenNCHW(x);
  }

  protected override shapeOf(x: number[], _ctx: ShapeContext): number[] {
    return [x[0], shapeNumel(x.slice(1))];
  }
}

const ARCH_SETTINGS: Record<number, number[]> = {
  11: [1, 1, 2, 2, 2],
  13: [2, 2, 2, 2, 2],
  16: [2, 2, 3, 3, 3],
  19: [2, 2, 4, 4, 4],
};

/** Options of {@link VGG}. */
export interface VGGOptions {
  /** Depth of the network, one of 11, 13, 16, 19. */
  depth: 11 | 13 | 16 | 19;
  /** Number of classes of the built-in classifier (three fc layers); 0 or less builds none. @default -1 */
  num_classes?: number;
  /** Number of stages (1-5). @default 5 */
  num_stages?: number;
  /** Dilation of the convolutions of each stage (one per stage). @default (1, 1, 1, 1, 1) */
  dilations?: number[];
  /** Stages whose output is returned (None: (5, ), the classifier scores, when num_classes > 0, else (4, ), the last feature map); the classifier output is appended whenever num_classes > 0. @default None */
  out_indices?: number[] | null;
  /** Stages to freeze (parameters fixed, eval mode); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config (None: no batch norm, as in VGG-11; dict(type='BN') for the -BN models). @default None */
  norm_cfg?: LayerCfg | null;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg | null;
  /** Keep batch norms in eval mode during training. @default False */
  norm_eval?: boolean;
  /** Round the max pooling output size up. @default False */
  ceil_mode?: boolean;
  /** Keep the last max pooling of the last stage. @default True */
  with_last_pool?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1., layer=['_BatchNorm']), dict(type='Normal', std=0.01, layer=['Linear'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** VGG backbone (Very Deep Convolutional Networks for Large-Scale Image Recognition). */
@MODELS.registerModule()
export class VGG extends BaseBackbone {
  readonly stageBlocks: number[];
  readonly numClasses: number;
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly outIndices: number[];
  /** [start, end) indices into `features` of each stage (PyTorch's `range_sub_modules`). */
  readonly rangeSubModules: [number, number][] = [];
  readonly features: Sequential;
  readonly classifier: Sequential | null = null;
  private readonly flatten = new FlattenNCHW();

  constructor(options: VGGOptions) {
    super(
      options.init_cfg === undefined
        ? [
            { type: 'Kaiming', layer: ['Conv2d'] },
            { type: 'Constant', val: 1, layer: ['_BatchNorm'] },
            { type: 'Normal', std: 0.01, layer: ['Linear'] },
          ]
        : options.init_cfg,
    );
    const blocks = ARCH_SETTINGS[options.depth];
    if (!blocks) throw new MmclsError(`invalid depth ${options.depth} for vgg (use 11, 13, 16 or 19)`, { code: 'model.bad-argument' });
    const numStages = options.num_stages ?? 5;
    if (!(Number.isInteger(numStages) && numStages >= 1 && numStages <= 5)) {
      throw new MmclsError(`num_stages must be in 1..5, got ${numStages}`, { code: 'model.bad-argument' });
    }
    this.stageBlocks = blocks.slice(0, numStages);
    const dilations = options.dilations ?? [1, 1, 1, 1, 1];
    if (dilations.length !== numStages) {
      throw new MmclsError(`dilations (${JSON.stringify(dilations)}) must have one entry per stage (num_stages=${numStages})`, { code: 'model.bad-argument' });
    }
    this.numClasses = options.num_classes ?? -1;
    this.frozenStages = options.frozen_stages ?? -1;
    this.normEval = options.norm_eval ?? false;
    const outIndices = options.out_indices ?? (this.numClasses > 0 ? [5] : [4]);
    if (outIndices.length === 0 || Math.max(...outIndices) > numStages) {
      throw new MmclsError(`out_indices ${JSON.stringify(outIndices)}: the largest must be at most num_stages (${numStages})`, { code: 'model.bad-argument' });
    }
    this.outIndices = [...outIndices];

    let inChannels = 3;
    let start = 0;
    const layers: Layer[] = [];
    this.stageBlocks.forEach((numBlocks, i) => {
      const outChannels = i < 4 ? 64 * 2 ** i : 512;
      layers.push(
        ...makeVggLayer(inChannels, outChannels, numBlocks, {
          conv_cfg: options.conv_cfg,
          norm_cfg: options.norm_cfg ?? null,
          act_cfg: options.act_cfg === undefined ? { type: 'ReLU' } : options.act_cfg,
          dilation: dilations[i],
          ceil_mode: options.ceil_mode,
        }),
      );
      inChannels = outChannels;
      this.rangeSubModules.push([start, start + numBlocks + 1]);
      start += numBlocks + 1;
    });
    if (!(options.with_last_pool ?? true)) {
      layers.pop();
      this.rangeSubModules[this.rangeSubModules.length - 1][1] -= 1;
    }
    this.features = this.addModule('features', new Sequential(...layers));
    if (this.numClasses > 0) {
      this.classifier = this.addModule(
        'classifier',
        new Sequential(
          new Linear({ in_features: 512 * 7 * 7, out_features: 4096 }),
          new ReLU(),
          new Dropout(),
          new Linear({ in_features: 4096, out_features: 4096 }),
          new ReLU(),
          new Dropout(),
          new Linear({ in_features: 4096, out_features: this.numClasses }),
        ),
      );
    }
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages && i < this.rangeSubModules.length; i++) {
      const [a, b] = this.rangeSubModules[i];
      for (let j = a; j < b; j++) {
        const m = this.features.at(j);
        m.eval();
        m.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    this.rangeSubModules.forEach(([a, b], i) => {
      for (let j = a; j < b; j++) x = this.features.at(j).forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    if (this.classifier) outs.push(this.classifier.forward(this.flatten.forward(x)));
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'VGG');
    const outs: ShapeValue[] = [];
    ctx.enter(this.features);
    try {
      this.rangeSubModules.forEach(([a, b], i) => {
        for (let j = a; j < b; j++) x = this.features.at(j).inferShape(x, ctx);
        if (this.outIndices.includes(i)) outs.push(x);
      });
    } finally {
      ctx.exit(this.features);
    }
    if (this.classifier) {
      const flat = asShape(this.flatten.inferShape(x, ctx), 'VGG');
      if (flat[1] !== 512 * 7 * 7) {
        throw new MmclsError(
          `VGG classifier expects a 512x7x7 feature map (a 224x224 input), got ${flat[1]} values per sample; use num_classes=-1 with a neck for other input sizes`,
          { code: 'model.shape' },
        );
      }
      outs.push(this.classifier.inferShape(flat, ctx));
    }
    return outs;
  }
}
