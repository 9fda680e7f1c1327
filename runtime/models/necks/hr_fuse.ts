import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { ModuleList } from '../../nn/layer';
import { InitCfg, Module, ShapeContext, ShapeValue, asShape, asTuple } from '../../nn/module';
import { Bottleneck, ResLayer } from '../backbones/resnet';
import { Feat, asTensor } from '../types';
import { shapeInList } from '../utils/shape_in_list';

/** Options of {@link HRFuseScales}. */
export interface HRFuseScalesOptions {
  /** Input channels of the four scales (the HRNet outputs, e.g. (18, 36, 72, 144)). */
  in_channels: number[];
  /** Channels of the fused feature map. @default 2048 */
  out_channels?: number;
  /** Normalisation config of the downsampling and final layers. @default dict(type='BN', momentum=0.1) */
  norm_cfg?: LayerCfg;
  /** Initialisation config. @default dict(type='Normal', layer='Linear', std=0.01) */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * Fuses the multi-scale HRNet outputs into one map: each scale goes through a Bottleneck to
 * 128/256/512/1024 channels, the highest resolution is downsampled (3x3 stride-2 ConvModule) and
 * added to the next one, and a 1x1 ConvModule gives `out_channels`. Returns a one-tuple.
 */
@MODELS.registerModule()
export class HRFuseScales extends Module {
  readonly inChannels: number[];
  readonly outChannels: number;
  readonly increaseLayers: ModuleList<ResLayer>;
  readonly downsampleLayers: ModuleList<ConvModule>;
  readonly finalLayer: ConvModule;

  constructor(options: HRFuseScalesOptions) {
    super();
    this.initCfg = options.init_cfg === undefined ? { type: 'Normal', layer: 'Linear', std: 0.01 } : options.init_cfg;
    this.inChannels = [...options.in_channels];
    this.outChannels = options.out_channels ?? 2048;
    const normCfg = options.norm_cfg ?? { type: 'BN', momentum: 0.1 };
    const widths = [128, 256, 512, 1024];
    if (this.inChannels.length > widths.length) {
      throw new MmclsError(`HRFuseScales: at most ${widths.length} scales are supported, got in_channels ${JSON.stringify(this.inChannels)}`, {
        code: 'model.bad-argument',
      });
    }
    this.increaseLayers = this.addModule(
      'increase_layers',
      new ModuleList<ResLayer>(
        this.inChannels.map(
          (c, i) => new ResLayer({ block: (o) => new Bottleneck(o), in_channels: c, out_channels: widths[i], num_blocks: 1, stride: 1, expansion: 4 }),
        ),
      ),
    );
    const downs: ConvModule[] = [];
    for (let i = 0; i < this.inChannels.length - 1; i++) {
      downs.push(new ConvModule({ in_channels: widths[i], out_channels: widths[i + 1], kernel_size: 3, stride: 2, padding: 1, norm_cfg: normCfg, bias: false }));
    }
    this.downsampleLayers = this.addModule('downsample_layers', new ModuleList<ConvModule>(downs));
    // MMCls builds the final layer from out_channels[3] (1024) whatever the number of scales.
    this.finalLayer = this.addModule('final_layer', new ConvModule({ in_channels: widths[3], out_channels: this.outChannels, kernel_size: 1, norm_cfg: normCfg, bias: false }));
  }

  private check(n: number): void {
    if (n !== this.inChannels.length) {
      throw new MmclsError(`HRFuseScales expects a tuple of ${this.inChannels.length} feature maps, got ${n}`, { code: 'model.shape' });
    }
  }

  forward(inputs: Feat[] | tf.Tensor): Feat[] {
    const xs = Array.isArray(inputs) ? inputs.map((f) => asTensor(f, 'HRFuseScales')) : [inputs];
    this.check(xs.length);
    let feat = this.increaseLayers.at(0).forward(xs[0]);
    for (let i = 0; i < this.downsampleLayers.length; i++) {
      feat = tf.add(this.downsampleLayers.at(i).forward(feat), this.increaseLayers.at(i + 1).forward(xs[i + 1]));
    }
    return [this.finalLayer.forward(feat)];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const xs = asTuple(x, 'HRFuseScales');
    this.check(xs.length);
    let feat = shapeInList(this.increaseLayers, this.increaseLayers.at(0), xs[0], ctx);
    for (let i = 0; i < this.downsampleLayers.length; i++) {
      feat = shapeInList(this.downsampleLayers, this.downsampleLayers.at(i), feat, ctx);
      shapeInList(this.increaseLayers, this.increaseLayers.at(i + 1), xs[i + 1], ctx);
    }
    return [asShape(this.finalLayer.inferShape(feat, ctx), 'HRFuseScales')];
  }
}
