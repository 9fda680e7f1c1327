import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { ConvModule, LayerCfg } from '../../nn/builders';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { Feat } from '../types';
import { InvertedResidual } from '../utils/inverted_residual';
import { makeDivisible } from '../utils/make_divisible';
import { SELayer, SELayerOptions } from '../utils/se_layer';
import { BaseBackbone } from './base_backbone';

/** Options of {@link EdgeResidual}. */
export interface EdgeResidualOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Output channels of the first (full) convolution. */
  mid_channels: number;
  /** Kernel size of the first convolution. @default 3 */
  kernel_size?: number;
  /** Stride of the second (1x1) convolution, 1 or 2. @default 1 */
  stride?: number;
  /** SE layer options (None: no SE layer). @default None */
  se_cfg?: SELayerOptions | null;
  /** Add the input when the shape is kept. @default True */
  with_residual?: boolean;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Stochastic depth rate of the residual branch. @default 0. */
  drop_path_rate?: number;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** EfficientNet-EdgeTPU's edge residual block (fused MBConv): a full kxk conv, optional SE, a 1x1 conv. */
export class EdgeResidual extends Layer {
  readonly withResidual: boolean;
  readonly dropPath: Layer;
  readonly conv1: ConvModule;
  readonly se: SELayer | null = null;
  readonly conv2: ConvModule;

  constructor(o: EdgeResidualOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    const stride = o.stride ?? 1;
    if (stride !== 1 && stride !== 2) {
      throw new MmclsError(`EdgeResidual: stride must be 1 or 2, got ${stride}`, { code: 'model.bad-argument' });
    }
    const kernel = o.kernel_size ?? 3;
    const dpr = o.drop_path_rate ?? 0;
    const common = { conv_cfg: o.conv_cfg ?? null, norm_cfg: o.norm_cfg ?? { type: 'BN' } };
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
    this.withResidual = stride === 1 && o.in_channels === o.out_channels && (o.with_residual ?? true);
    this.conv1 = this.addModule(
      'conv1',
      new ConvModule({
        in_channels: o.in_channels, out_channels: o.mid_channels, kernel_size: kernel, stride: 1, padding: Math.floor(kernel / 2), ...common,
        act_cfg: o.act_cfg ?? { type: 'ReLU' },
      }),
    );
    if (o.se_cfg) this.se = this.addModule('se', new SELayer(o.se_cfg));
    this.conv2 = this.addModule(
      'conv2',
      new ConvModule({ in_channels: o.mid_channels, out_channels: o.out_channels, kernel_size: 1, stride, padding: 0, ...common, act_cfg: null }),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    let out = this.conv1.forward(x);
    if (this.se) out = this.se.forward(out);
    out = this.conv2.forward(out);
    return this.withResidual ? tf.add(x, this.dropPath.forward(out)) : out;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let out = this.conv1.inferShape(x, ctx);
    if (this.se) out = this.se.inferShape(out, ctx);
    out = this.conv2.inferShape(out, ctx);
    return this.withResidual ? this.dropPath.inferShape(out, ctx) : out;
  }
}

/** One block: [kernel_size, out_channels, se_ratio, stride, expand_ratio, block_type (-1 conv, 0 MBConv, 1 edge)]. */
type BlockSetting = [number, number, number, number, number, number];

/** MMCls's `model_scaling`: width scaling of every block, then depth scaling of the middle layers. */
export function modelScaling(layerSetting: BlockSetting[][], archSetting: [number, number, number]): BlockSetting[][] {
  const scaled = layerSetting.map((layer) => layer.map((b) => [b[0], makeDivisible(b[1] * archSetting[0], 8), b[2], b[3], b[4], b[5]] as BlockSetting));
  // Split each middle layer where the output channels change.
  const split: BlockSetting[][] = [scaled[0]];
  for (const layer of scaled.slice(1, -1)) {
    const idx = [0];
    for (let i = 0; i < layer.length - 1; i++) if (layer[i + 1][1] !== layer[i][1]) idx.push(i + 1);
    idx.push(layer.length);
    for (let i = 0; i < idx.length - 1; i++) split.push(layer.slice(idx[i], idx[i + 1]));
  }
  split.push(scaled[scaled.length - 1]);

  const middle = split.slice(1, -1);
  const numLayers = middle.map((l) => l.length);
  const newLayers = numLayers.map((n) => Math.ceil(archSetting[1] * n));
  const merged: BlockSetting[][] = [split[0]];
  middle.forEach((layer, i) => {
    const tmp = newLayers[i] <= numLayers[i] ? layer.slice(0, newLayers[i]) : [...layer, ...Array(newLayers[i] - numLayers[i]).fill(layer[layer.length - 1])];
    // A group whose first block keeps the resolution joins the previous layer.
    if (tmp[0][3] === 1 && i !== 0) merged[merged.length - 1] = [...merged[merged.length - 1], ...tmp];
    else merged.push([...tmp]);
  });
  merged.push(split[split.length - 1]);
  return merged;
}

const LAYER_SETTINGS: Record<'b' | 'e', BlockSetting[][]> = {
  b: [
    [[3, 32, 0, 2, 0, -1]],
    [[3, 16, 4, 1, 1, 0]],
    [[3, 24, 4, 2, 6, 0], [3, 24, 4, 1, 6, 0]],
    [[5, 40, 4, 2, 6, 0], [5, 40, 4, 1, 6, 0]],
    [[3, 80, 4, 2, 6, 0], [3, 80, 4, 1, 6, 0], [3, 80, 4, 1, 6, 0], [5, 112, 4, 1, 6, 0], [5, 112, 4, 1, 6, 0], [5, 112, 4, 1, 6, 0]],
    [[5, 192, 4, 2, 6, 0], [5, 192, 4, 1, 6, 0], [5, 192, 4, 1, 6, 0], [5, 192, 4, 1, 6, 0], [3, 320, 4, 1, 6, 0]],
    [[1, 1280, 0, 1, 0, -1]],
  ],
  e: [
    [[3, 32, 0, 2, 0, -1]],
    [[3, 24, 0, 1, 3, 1]],
    [[3, 32, 0, 2, 8, 1], [3, 32, 0, 1, 8, 1]],
    [[3, 48, 0, 2, 8, 1], [3, 48, 0, 1, 8, 1], [3, 48, 0, 1, 8, 1], [3, 48, 0, 1, 8, 1]],
    [
      [5, 96, 0, 2, 8, 0], [5, 96, 0, 1, 8, 0], [5, 96, 0, 1, 8, 0], [5, 96, 0, 1, 8, 0], [5, 96, 0, 1, 8, 0],
      [5, 144, 0, 1, 8, 0], [5, 144, 0, 1, 8, 0], [5, 144, 0, 1, 8, 0], [5, 144, 0, 1, 8, 0],
    ],
    [[5, 192, 0, 2, 8, 0], [5, 192, 0, 1, 8, 0]],
    [[1, 1280, 0, 1, 0, -1]],
  ],
};

/** Width factor, depth factor and resolution of each architecture. */
const ARCH_SETTINGS: Record<string, [number, number, number]> = {
  b0: [1.0, 1.0, 224],
  b1: [1.0, 1.1, 240],
  b2: [1.1, 1.2, 260],
  b3: [1.2, 1.4, 300],
  b4: [1.4, 1.8, 380],
  b5: [1.6, 2.2, 456],
  b6: [1.8, 2.6, 528],
  b7: [2.0, 3.1, 600],
  b8: [2.2, 3.6, 672],
  l2: [4.3, 5.3, 800],
  es: [1.0, 1.0, 224],
  em: [1.0, 1.1, 240],
  el: [1.2, 1.4, 300],
};

/** Options of {@link EfficientNet}. */
export interface EfficientNetOptions {
  /** Architecture: 'b0' to 'b8', 'l2' (NoisyStudent), or the EdgeTPU variants 'es', 'em', 'el'. @default 'b0' */
  arch?: 'b0' | 'b1' | 'b2' | 'b3' | 'b4' | 'b5' | 'b6' | 'b7' | 'b8' | 'l2' | 'es' | 'em' | 'el';
  /** Stochastic depth rate (linearly increasing over the blocks). @default 0. */
  drop_path_rate?: number;
  /** Layers whose output is returned (0: stem conv, 1-5: block layers, 6: final 1x1 conv). @default (6, ) */
  out_indices?: number[];
  /** Number of leading layers to freeze (0: none). @default 0 */
  frozen_stages?: number;
  /** Convolution config (TensorFlow's "SAME" padding by default). @default dict(type='Conv2dAdaptivePadding') */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', eps=1e-3) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='Swish') */
  act_cfg?: LayerCfg;
  /** Keep batch norms in eval mode during training (frozen statistics). @default False */
  norm_eval?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer='Conv2d'), dict(type='Constant', layer=['_BatchNorm', 'GroupNorm'], val=1)] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** EfficientNet backbone (EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks). */
@MODELS.registerModule()
export class EfficientNet extends BaseBackbone {
  readonly layers: ModuleList<Layer>;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  /** Channels of the last layer's output. */
  readonly outChannels: number;
  /** The scaled layer settings (after model_scaling). */
  readonly layerSetting: BlockSetting[][];

  constructor(options: EfficientNetOptions = {}) {
    super(
      options.init_cfg === undefined
        ? [{ type: 'Kaiming', layer: 'Conv2d' }, { type: 'Constant', layer: ['_BatchNorm', 'GroupNorm'], val: 1 }]
        : options.init_cfg,
    );
    const arch = options.arch ?? 'b0';
    const archSetting = ARCH_SETTINGS[arch];
    if (!archSetting) {
      throw new MmclsError(`"${arch}" is not one of the arch_settings (${Object.keys(ARCH_SETTINGS).join(', ')})`, { code: 'model.bad-argument' });
    }
    // L2 is a scaled 'b' network.
    const base = LAYER_SETTINGS[arch === 'l2' ? 'b' : (arch[0] as 'b' | 'e')];
    const outIndices = [...(options.out_indices ?? [6])];
    for (const i of outIndices) {
      if (!(Number.isInteger(i) && i >= 0 && i < base.length)) {
        throw new MmclsError(`the item in out_indices must in range(0, ${base.length}). But received ${i}`, { code: 'model.bad-argument' });
      }
    }
    const frozen = options.frozen_stages ?? 0;
    if (!(Number.isInteger(frozen) && frozen >= 0 && frozen <= base.length)) {
      throw new MmclsError(`frozen_stages must be in range(0, ${base.length + 1}). But received ${frozen}`, { code: 'model.bad-argument' });
    }
    this.outIndices = outIndices;
    this.frozenStages = frozen;
    this.normEval = options.norm_eval ?? false;
    const convCfg = options.conv_cfg === undefined ? { type: 'Conv2dAdaptivePadding' } : options.conv_cfg;
    const normCfg = options.norm_cfg ?? { type: 'BN', eps: 1e-3 };
    const actCfg = options.act_cfg ?? { type: 'Swish' };
    const common = { conv_cfg: convCfg, norm_cfg: normCfg, act_cfg: actCfg };

    this.layerSetting = modelScaling(base, archSetting);
    const first = this.layerSetting[0][0];
    const last = this.layerSetting[this.layerSetting.length - 1][0];
    let inChannels = makeDivisible(first[1], 8);
    this.outChannels = last[1];
    this.layers = this.addModule('layers', new ModuleList<Layer>());
    this.layers.push(
      new ConvModule({ in_channels: 3, out_channels: inChannels, kernel_size: first[0], stride: first[3], padding: Math.floor(first[0] / 2), ...common }),
    );

    const middle = this.layerSetting.slice(1, -1);
    const total = middle.reduce((a, l) => a + l.length, 0);
    const dpr = linspace(0, options.drop_path_rate ?? 0, total);
    let blockIdx = 0;
    for (const layerCfg of middle) {
      const blocks: Layer[] = [];
      layerCfg.forEach((blockCfg, i) => {
        const [kernelSize, outCh, seRatio, stride, expandRatio0, blockType] = blockCfg;
        let expandRatio = expandRatio0;
        let midChannels = Math.trunc(inChannels * expandRatio);
        const outChannels = makeDivisible(outCh, 8);
        const seCfg = (mid: number): SELayerOptions | null =>
          seRatio <= 0 ? null : { channels: mid, ratio: expandRatio * seRatio, divisor: 1, act_cfg: [actCfg, { type: 'Sigmoid' }] };
        const blockOptions = {
          in_channels: inChannels,
          out_channels: outChannels,
          kernel_size: kernelSize,
          stride,
          ...common,
          drop_path_rate: dpr[blockIdx],
          with_cp: options.with_cp ?? false,
        };
        if (blockType === 1) {
          // EdgeTPU: a repeated first edge block (expand ratio 3) widens to 4 and drops its shortcut.
          let withResidual = true;
          if (i > 0 && expandRatio === 3) {
            withResidual = false;
            expandRatio = 4;
          }
          midChannels = Math.trunc(inChannels * expandRatio);
          blocks.push(new EdgeResidual({ ...blockOptions, mid_channels: midChannels, se_cfg: seCfg(midChannels), with_residual: withResidual }));
        } else {
          blocks.push(new InvertedResidual({ ...blockOptions, mid_channels: midChannels, se_cfg: seCfg(midChannels) }));
        }
        inChannels = outChannels;
        blockIdx++;
      });
      this.layers.push(new Sequential(...blocks));
    }
    this.layers.push(
      new ConvModule({ in_channels: inChannels, out_channels: this.outChannels, kernel_size: last[0], stride: last[3], padding: Math.floor(last[0] / 2), ...common }),
    );
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages; i++) {
      const m = this.layers.at(i);
      m.eval();
      m.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    this.layers.toArray().forEach((layer, i) => {
      x = layer.forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'EfficientNet');
    const outs: ShapeValue[] = [];
    // The ModuleList is never called itself; fvcore still sums its children's costs under its name.
    ctx.enter(this.layers);
    try {
      this.layers.toArray().forEach((layer, i) => {
        x = layer.inferShape(x, ctx);
        if (this.outIndices.includes(i)) outs.push(x);
      });
    } finally {
      ctx.exit(this.layers);
    }
    return outs;
  }
}

/** `torch.linspace(start, end, n)` as plain numbers. */
function linspace(start: number, end: number, n: number): number[] {
  if (n <= 1) return n === 1 ? [start] : [];
  return Array.from({ length: n }, (_, i) => start + ((end - start) * i) / (n - 1));
}
