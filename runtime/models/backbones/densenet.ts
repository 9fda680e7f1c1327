import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { AvgPool2d, MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** DenseNet's bottleneck layer: norm-act-1x1 conv (bn_size * growth_rate) then norm-act-3x3 conv (growth_rate), on the concatenation of all earlier features. */
export class DenseLayer extends Layer {
  readonly norm1: Layer;
  readonly conv1: Conv2d;
  readonly act: Layer;
  readonly norm2: Layer;
  readonly conv2: Conv2d;
  readonly dropRate: number;
  private readonly dropout: Dropout | null;

  constructor(o: { in_channels: number; growth_rate: number; bn_size: number; norm_cfg?: LayerCfg; act_cfg?: LayerCfg; drop_rate?: number }) {
    super();
    const norm = o.norm_cfg ?? { type: 'BN' };
    const mid = o.bn_size * o.growth_rate;
    this.norm1 = this.addModule('norm1', buildNormLayer(norm, o.in_channels)[1]);
    this.conv1 = this.addModule('conv1', new Conv2d({ in_channels: o.in_channels, out_channels: mid, kernel_size: 1, stride: 1, bias: false }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'ReLU' }));
    this.norm2 = this.addModule('norm2', buildNormLayer(norm, mid)[1]);
    this.conv2 = this.addModule('conv2', new Conv2d({ in_channels: mid, out_channels: o.growth_rate, kernel_size: 3, stride: 1, padding: 1, bias: false }));
    this.dropRate = o.drop_rate ?? 0;
    // F.dropout in PyTorch: no module of its own, so not part of the state dict.
    this.dropout = this.dropRate > 0 ? new Dropout({ p: this.dropRate }) : null;
  }

  /** The new `growth_rate` channels for the features produced so far (given as one concatenated tensor). */
  forward(x: tf.Tensor): tf.Tensor {
    const bottleneck = this.conv1.forward(this.act.forward(this.norm1.forward(x)));
    let out = this.conv2.forward(this.act.forward(this.norm2.forward(bottleneck)));
    if (this.dropout) {
      this.dropout.training = this.training;
      out = this.dropout.forward(out);
    }
    return out;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const b = this.conv1.inferShape(this.act.inferShape(this.norm1.inferShape(x, ctx), ctx), ctx);
    return this.conv2.inferShape(this.act.inferShape(this.norm2.inferShape(b, ctx), ctx), ctx);
  }
}

/** A dense block: each layer sees the concatenation of the block input and all earlier layers' outputs; the block returns them all concatenated. */
export class DenseBlock extends Layer {
  readonly block: ModuleList<DenseLayer>;

  constructor(o: { num_layers: number; in_channels: number; bn_size: number; growth_rate: number; norm_cfg?: LayerCfg; act_cfg?: LayerCfg; drop_rate?: number }) {
    super();
    this.block = this.addModule('block', new ModuleList<DenseLayer>());
    for (let i = 0; i < o.num_layers; i++) {
      this.block.push(
        new DenseLayer({
          in_channels: o.in_channels + i * o.growth_rate,
          growth_rate: o.growth_rate,
          bn_size: o.bn_size,
          norm_cfg: o.norm_cfg,
          act_cfg: o.act_cfg,
          drop_rate: o.drop_rate,
        }),
      );
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    let features = x;
    for (const layer of this.block) features = tf.concat([features, layer.forward(features)], 3);
    return features;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let s = asShape(x, 'DenseBlock');
    for (const layer of this.block) {
      const y = asShape(shapeInList(this.block, layer, s, ctx), 'DenseLayer');
      s = [s[0], s[1] + y[1], s[2], s[3]];
    }
    return s;
  }
}

/** Preset of {@link DenseNet}. */
export type DenseNetArch = {
  /** Channels each layer of a dense block adds (k). */
  growth_rate: number;
  /** Number of layers of each dense block. */
  depths: number[];
  /** Output channels of the stem. */
  init_channels: number;
};

/** The preset names of {@link DenseNet}. */
export type DenseNetArchName = '121' | '169' | '201' | '161';

const ARCH_SETTINGS: Record<DenseNetArchName, DenseNetArch> = {
  '121': { growth_rate: 32, depths: [6, 12, 24, 16], init_channels: 64 },
  '169': { growth_rate: 32, depths: [6, 12, 32, 32], init_channels: 64 },
  '201': { growth_rate: 32, depths: [6, 12, 48, 32], init_channels: 64 },
  '161': { growth_rate: 48, depths: [6, 12, 36, 24], init_channels: 96 },
};

/** Options of {@link DenseNet}. */
export interface DenseNetOptions {
  /** Preset ('121', '169', '201', '161') or a dict with growth_rate, depths and init_channels. @default '121' */
  arch?: DenseNetArchName | DenseNetArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Expansion of the 1x1 bottleneck convolution (bn_size * growth_rate channels). @default 4 */
  bn_size?: number;
  /** Dropout rate after each dense layer. @default 0 */
  drop_rate?: number;
  /** Channel reduction of the transition layers. @default 0.5 */
  compression_factor?: number;
  /** Gradient checkpointing of the bottlenecks (no effect here). @default False */
  memory_efficient?: boolean;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Stages whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Number of stages (dense block and transition) to freeze; 0 freezes nothing. @default 0 */
  frozen_stages?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** DenseNet backbone (Densely Connected Convolutional Networks). */
@MODELS.registerModule()
export class DenseNet extends BaseBackbone {
  readonly growthRate: number;
  readonly depths: number[];
  readonly initChannels: number;
  readonly numStages: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly act: Layer;
  readonly stem: Sequential;
  readonly stages: ModuleList<DenseBlock>;
  readonly transitions: ModuleList<Sequential>;

  constructor(options: DenseNetOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? '121';
    let arch: DenseNetArch;
    if (typeof a === 'string') {
      const preset = ARCH_SETTINGS[a as DenseNetArchName];
      if (!preset) {
        throw new MmclsError(`Unavailable arch ${JSON.stringify(a)}, please choose from (${Object.keys(ARCH_SETTINGS).join(', ')}) or pass a dict`, {
          code: 'model.bad-argument',
        });
      }
      arch = preset;
    } else {
      if (!a || typeof a !== 'object' || !('growth_rate' in a) || !('depths' in a) || !('init_channels' in a)) {
        throw new MmclsError(`Custom arch needs a dict with keys growth_rate, depths and init_channels, got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    this.growthRate = arch.growth_rate;
    this.depths = [...arch.depths];
    this.initChannels = arch.init_channels;
    const normCfg = options.norm_cfg ?? { type: 'BN' };
    const actCfg = options.act_cfg ?? { type: 'ReLU' };
    this.act = this.addModule('act', buildActivationLayer(actCfg));
    this.numStages = this.depths.length;

    const oi = options.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const j = i < 0 ? this.numStages + i : i;
      if (j < 0) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });
    this.frozenStages = options.frozen_stages ?? 0;

    this.stem = this.addModule(
      'stem',
      new Sequential(
        new Conv2d({ in_channels: options.in_channels ?? 3, out_channels: this.initChannels, kernel_size: 7, stride: 2, padding: 3, bias: false }),
        buildNormLayer(normCfg, this.initChannels)[1],
        this.act,
        new MaxPool2d({ kernel_size: 3, stride: 2, padding: 1 }),
      ),
    );
    this.stages = this.addModule('stages', new ModuleList<DenseBlock>());
    this.transitions = this.addModule('transitions', new ModuleList<Sequential>());
    const compression = options.compression_factor ?? 0.5;
    let channels = this.initChannels;
    for (let i = 0; i < this.numStages; i++) {
      const depth = this.depths[i];
      this.stages.push(
        new DenseBlock({
          num_layers: depth,
          in_channels: channels,
          bn_size: options.bn_size ?? 4,
          growth_rate: this.growthRate,
          norm_cfg: normCfg,
          act_cfg: actCfg,
          drop_rate: options.drop_rate ?? 0,
        }),
      );
      channels += depth * this.growthRate;
      if (i !== this.numStages - 1) {
        const out = Math.floor(channels * compression);
        this.transitions.push(
          new Sequential(
            ['norm', buildNormLayer(normCfg, channels)[1]],
            ['act', buildActivationLayer(actCfg)],
            ['conv', new Conv2d({ in_channels: channels, out_channels: out, kernel_size: 1, stride: 1, bias: false })],
            ['pool', new AvgPool2d({ kernel_size: 2, stride: 2 })],
          ),
        );
        channels = out;
      } else {
        // The last "transition" is only norm and activation (as in the original repository).
        this.transitions.push(new Sequential(buildNormLayer(normCfg, channels)[1], this.act));
      }
    }
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages && i < this.numStages; i++) {
      for (const m of [this.transitions.at(i), this.stages.at(i)]) {
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
    x = this.stem.forward(x);
    const outs: Feat[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = this.transitions.at(i).forward(this.stages.at(i).forward(x));
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'DenseNet');
    x = this.stem.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numStages; i++) {
      x = shapeInList(this.stages, this.stages.at(i), x, ctx);
      x = shapeInList(this.transitions, this.transitions.at(i), x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    }
    return outs;
  }
}
