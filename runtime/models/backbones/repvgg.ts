import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ConvModule, LayerCfg, buildActivationLayer, buildConvLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Identity, Layer, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { SELayer, SELayerOptions } from '../utils/se_layer';
import { BaseBackbone } from './base_backbone';
import { assignConv, firstShape, fuseKernelBn, identityKernel, padKernel, torchConvWeight } from './mobileone';

/** Options of {@link RepVGGBlock}. */
export interface RepVGGBlockOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Stride of the 3x3 and 1x1 convolutions. @default 1 */
  stride?: number;
  /** Padding of the 3x3 convolution. @default 1 */
  padding?: number;
  /** Dilation of the 3x3 convolution. @default 1 */
  dilation?: number;
  /** Groups of the 3x3 and 1x1 convolutions. @default 1 */
  groups?: number;
  /** Padding mode of the 3x3 convolution (only 'zeros'). @default 'zeros' */
  padding_mode?: 'zeros';
  /** SE layer config (None: no SE). @default None */
  se_cfg?: Omit<SELayerOptions, 'channels'> | null;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Build the fused single-conv form. @default False */
  deploy?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * RepVGG's block: 3x3 conv-BN + 1x1 conv-BN + BN identity (same shape), summed, optional SE, then
 * the activation; `switchToDeploy` folds the branches into one 3x3 convolution `branch_reparam`.
 */
export class RepVGGBlock extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  readonly convCfg: LayerCfg | null;
  readonly normCfg: LayerCfg;
  deploy: boolean;
  branchReparam: Conv2d | null = null;
  branchNorm: Layer | null = null;
  branch3x3: Sequential | null = null;
  branch1x1: Sequential | null = null;
  readonly seLayer: SELayer | null;
  readonly act: Layer;

  constructor(o: RepVGGBlockOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.inChannels = o.in_channels;
    this.outChannels = o.out_channels;
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 1;
    this.dilation = o.dilation ?? 1;
    this.groups = o.groups ?? 1;
    if ((o.padding_mode ?? 'zeros') !== 'zeros') {
      throw new MmclsError(`RepVGGBlock: padding_mode ${JSON.stringify(o.padding_mode)} is not supported; use 'zeros'`, { code: 'model.unsupported' });
    }
    this.convCfg = o.conv_cfg ?? null;
    this.normCfg = o.norm_cfg ?? { type: 'BN' };
    this.deploy = o.deploy ?? false;
    if (this.deploy) {
      this.branchReparam = this.addModule('branch_reparam', this.reparamConv());
    } else {
      if (this.outChannels === this.inChannels && this.stride === 1 && this.padding === this.dilation) {
        this.branchNorm = this.addModule('branch_norm', buildNormLayer(this.normCfg, this.inChannels)[1]);
      }
      this.branch3x3 = this.addModule('branch_3x3', this.createConvBn(3, this.dilation, this.padding));
      this.branch1x1 = this.addModule('branch_1x1', this.createConvBn(1, 1, 0));
    }
    this.seLayer = o.se_cfg ? this.addModule('se_layer', new SELayer({ channels: this.outChannels, ...o.se_cfg })) : null;
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'ReLU' }));
  }

  private createConvBn(kernel: number, dilation: number, padding: number): Sequential {
    const conv = buildConvLayer(this.convCfg, {
      in_channels: this.inChannels,
      out_channels: this.outChannels,
      kernel_size: kernel,
      stride: this.stride,
      dilation,
      padding,
      groups: this.groups,
      bias: false,
    });
    return new Sequential(['conv', conv], ['norm', buildNormLayer(this.normCfg, this.outChannels)[1]]);
  }

  private reparamConv(): Conv2d {
    return buildConvLayer(this.convCfg, {
      in_channels: this.inChannels,
      out_channels: this.outChannels,
      kernel_size: 3,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
      bias: true,
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    let y: tf.Tensor;
    if (this.deploy) {
      y = this.branchReparam!.forward(x);
    } else {
      const outs = [this.branch3x3!.forward(x), this.branch1x1!.forward(x)];
      if (this.branchNorm) outs.push(this.branchNorm.forward(x));
      y = tf.addN(outs);
    }
    // MMCls leaves the SE layer out of the deploy form's forward pass, so that a switched D2se
    // no longer computes what it was trained to; here the SE layer follows both forms.
    if (this.seLayer) y = this.seLayer.forward(y);
    return this.act.forward(y);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y: ShapeValue;
    if (this.deploy) {
      y = this.branchReparam!.inferShape(x, ctx);
    } else {
      const shapes = [this.branch3x3!.inferShape(x, ctx), this.branch1x1!.inferShape(x, ctx)];
      if (this.branchNorm) shapes.push(this.branchNorm.inferShape(x, ctx));
      y = firstShape(shapes.slice(0, 1));
    }
    if (this.seLayer) y = this.seLayer.inferShape(y, ctx);
    return this.act.inferShape(y, ctx);
  }

  /** The fused 3x3 kernel (OIHW) and bias of the three branches (MMCls's `reparameterize`). */
  reparameterize(): [tf.Tensor4D, tf.Tensor1D] {
    if (this.deploy) throw new MmclsError('RepVGGBlock: already in deploy mode', { code: 'model.bad-argument' });
    return tf.tidy(() => {
      const [w3, b3] = fuseKernelBn(torchConvWeight(this.branch3x3!.getChild('conv') as Conv2d), this.branch3x3!.getChild('norm') as Layer);
      const [w1, b1] = fuseKernelBn(torchConvWeight(this.branch1x1!.getChild('conv') as Conv2d), this.branch1x1!.getChild('norm') as Layer);
      const ws: tf.Tensor4D[] = [w3, padKernel(w1, 1)];
      const bs: tf.Tensor1D[] = [b3, b1];
      if (this.branchNorm) {
        const [wn, bn] = fuseKernelBn(identityKernel(this.inChannels, this.groups, 3), this.branchNorm);
        ws.push(wn);
        bs.push(bn);
      }
      return [tf.addN(ws), tf.addN(bs)];
    });
  }

  /** Switches to the deploy form: one 3x3 convolution `branch_reparam` (with bias) replaces the branches. */
  switchToDeploy(): void {
    if (this.deploy) return;
    if (this.normCfg.type !== 'BN') {
      throw new MmclsError("Switch is not allowed when norm_cfg['type'] != 'BN'.", { code: 'model.bad-argument' });
    }
    const [w, b] = this.reparameterize();
    const conv = this.reparamConv();
    assignConv(conv, w, b);
    tf.dispose([w, b]);
    for (const m of [this.branch3x3, this.branch1x1, this.branchNorm]) m?.dispose();
    this.addModule('branch_3x3', null);
    this.addModule('branch_1x1', null);
    this.addModule('branch_norm', null);
    this.branch3x3 = this.branch1x1 = this.branchNorm = null;
    this.branchReparam = this.addModule('branch_reparam', conv);
    this.branchReparam.train(this.training);
    this.deploy = true;
  }
}

/** MTSPPF block of the YOLOX-PAI RepVGG: 1x1 conv, three chained 5x5 max pools, concatenation, 1x1 conv. */
export class MTSPPF extends Layer {
  readonly conv1: ConvModule;
  readonly conv2: ConvModule;
  readonly maxpool: MaxPool2d;

  constructor(o: { in_channels: number; out_channels: number; norm_cfg?: LayerCfg; act_cfg?: LayerCfg; kernel_size?: number }) {
    super();
    const hidden = Math.floor(o.in_channels / 2);
    const common = { norm_cfg: o.norm_cfg ?? { type: 'BN' }, act_cfg: o.act_cfg ?? { type: 'ReLU' } };
    const k = o.kernel_size ?? 5;
    this.conv1 = this.addModule('conv1', new ConvModule({ in_channels: o.in_channels, out_channels: hidden, kernel_size: 1, stride: 1, ...common }));
    this.conv2 = this.addModule('conv2', new ConvModule({ in_channels: hidden * 4, out_channels: o.out_channels, kernel_size: 1, stride: 1, ...common }));
    this.maxpool = this.addModule('maxpool', new MaxPool2d({ kernel_size: k, stride: 1, padding: Math.floor(k / 2) }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const a = this.conv1.forward(x);
    const y1 = this.maxpool.forward(a);
    const y2 = this.maxpool.forward(y1);
    return this.conv2.forward(tf.concat([a, y1, y2, this.maxpool.forward(y2)], 3));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const a = asShape(this.conv1.inferShape(x, ctx));
    const y1 = this.maxpool.inferShape(a, ctx);
    const y2 = this.maxpool.inferShape(y1, ctx);
    this.maxpool.inferShape(y2, ctx);
    return this.conv2.inferShape([a[0], a[1] * 4, a[2], a[3]], ctx);
  }
}

/** A RepVGG architecture. */
export interface RepVGGArch {
  /** Number of blocks in each stage. */
  num_blocks: number[];
  /** Width factor of each stage (stage i has base_channels * 2**i * factor channels). */
  width_factor: number[];
  /** Groups of the blocks that use grouped convolutions, by block index (the stem is 0), or None. */
  group_layer_map: Record<number, number> | null;
  /** SE layer config of every block, or None. */
  se_cfg: Omit<SELayerOptions, 'channels'> | null;
  /** Upper bound of the stem channels (min with base_channels * width_factor[0]); 64 when left out. */
  stem_channels?: number;
}

/** The preset architectures. */
export type RepVGGArchName = 'A0' | 'A1' | 'A2' | 'B0' | 'B1' | 'B1g2' | 'B1g4' | 'B2' | 'B2g2' | 'B2g4' | 'B3' | 'B3g2' | 'B3g4' | 'D2se' | 'yolox-pai-small';

const GROUPWISE_LAYERS = [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26];
const G2: Record<number, number> = Object.fromEntries(GROUPWISE_LAYERS.map((l) => [l, 2]));
const G4: Record<number, number> = Object.fromEntries(GROUPWISE_LAYERS.map((l) => [l, 4]));
const A = [2, 4, 14, 1];
const B = [4, 6, 16, 1];

export const REPVGG_ARCHS: Record<RepVGGArchName, RepVGGArch> = {
  A0: { num_blocks: A, width_factor: [0.75, 0.75, 0.75, 2.5], group_layer_map: null, se_cfg: null },
  A1: { num_blocks: A, width_factor: [1, 1, 1, 2.5], group_layer_map: null, se_cfg: null },
  A2: { num_blocks: A, width_factor: [1.5, 1.5, 1.5, 2.75], group_layer_map: null, se_cfg: null },
  B0: { num_blocks: B, width_factor: [1, 1, 1, 2.5], group_layer_map: null, se_cfg: null, stem_channels: 64 },
  B1: { num_blocks: B, width_factor: [2, 2, 2, 4], group_layer_map: null, se_cfg: null },
  B1g2: { num_blocks: B, width_factor: [2, 2, 2, 4], group_layer_map: G2, se_cfg: null },
  B1g4: { num_blocks: B, width_factor: [2, 2, 2, 4], group_layer_map: G4, se_cfg: null },
  B2: { num_blocks: B, width_factor: [2.5, 2.5, 2.5, 5], group_layer_map: null, se_cfg: null },
  B2g2: { num_blocks: B, width_factor: [2.5, 2.5, 2.5, 5], group_layer_map: G2, se_cfg: null },
  B2g4: { num_blocks: B, width_factor: [2.5, 2.5, 2.5, 5], group_layer_map: G4, se_cfg: null },
  B3: { num_blocks: B, width_factor: [3, 3, 3, 5], group_layer_map: null, se_cfg: null },
  B3g2: { num_blocks: B, width_factor: [3, 3, 3, 5], group_layer_map: G2, se_cfg: null },
  B3g4: { num_blocks: B, width_factor: [3, 3, 3, 5], group_layer_map: G4, se_cfg: null },
  D2se: { num_blocks: [8, 14, 24, 1], width_factor: [2.5, 2.5, 2.5, 5], group_layer_map: null, se_cfg: { ratio: 16, divisor: 1 } },
  'yolox-pai-small': { num_blocks: [3, 5, 7, 3], width_factor: [1, 1, 1, 1], group_layer_map: null, se_cfg: null, stem_channels: 32 },
};

/** Options of {@link RepVGG}. */
export interface RepVGGOptions {
  /** Architecture: 'A0', 'A1', 'A2', 'B0', 'B1', 'B1g2', 'B1g4', 'B2', 'B2g2', 'B2g4', 'B3', 'B3g2', 'B3g4', 'D2se', 'yolox-pai-small', or a dict with num_blocks, width_factor, group_layer_map, se_cfg (and optionally stem_channels). */
  arch: RepVGGArchName | RepVGGArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Base channels, scaled by 2**i and the width factors. @default 64 */
  base_channels?: number;
  /** Stages whose output is returned. @default (3, ) */
  out_indices?: number[];
  /** Stride of the first block of each stage. @default (2, 2, 2, 2) */
  strides?: number[];
  /** Dilation of each stage. @default (1, 1, 1, 1) */
  dilations?: number[];
  /** Stages to freeze (0 freezes the stem); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Build the re-parameterised (deploy) form: one 3x3 convolution per block. @default False */
  deploy?: boolean;
  /** Keep batch norms in eval mode during training. @default False */
  norm_eval?: boolean;
  /** Add the MTSPPF block after the last stage (YOLOX-PAI). @default False */
  add_ppf?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** RepVGG backbone (RepVGG: Making VGG-style ConvNets Great Again), re-parameterisable. */
@MODELS.registerModule()
export class RepVGG extends BaseBackbone {
  readonly arch: RepVGGArch;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  deploy: boolean;
  readonly stem: RepVGGBlock;
  readonly stages: string[] = [];
  readonly ppf: Layer;
  /** Output channels of each stage. */
  readonly channels: number[] = [];

  constructor(options: RepVGGOptions) {
    const initCfg = options.init_cfg === undefined
      ? [{ type: 'Kaiming', layer: ['Conv2d'] }, { type: 'Constant', val: 1, layer: ['_BatchNorm', 'GroupNorm'] }]
      : options.init_cfg;
    super(initCfg);
    const archIn = options.arch;
    let arch: RepVGGArch;
    if (typeof archIn === 'string') {
      if (!(archIn in REPVGG_ARCHS)) {
        throw new MmclsError(`"arch": "${archIn}" is not one of the arch_settings (${Object.keys(REPVGG_ARCHS).join(', ')})`, { code: 'model.bad-argument' });
      }
      arch = REPVGG_ARCHS[archIn as RepVGGArchName];
    } else if (archIn && typeof archIn === 'object') {
      arch = archIn;
    } else {
      throw new MmclsError(`Expect "arch" to be either a string or a dict, got ${JSON.stringify(archIn)}`, { code: 'model.bad-argument' });
    }
    const strides = [...(options.strides ?? [2, 2, 2, 2])];
    const dilations = [...(options.dilations ?? [1, 1, 1, 1])];
    const outIndices = [...(options.out_indices ?? [3])];
    if (!(arch.num_blocks.length === arch.width_factor.length && arch.width_factor.length === strides.length && strides.length === dilations.length)) {
      throw new MmclsError('RepVGG: num_blocks, width_factor, strides and dilations must have the same length', { code: 'model.bad-argument' });
    }
    if (Math.max(...outIndices) >= arch.num_blocks.length) {
      throw new MmclsError(`RepVGG: out_indices ${JSON.stringify(outIndices)} must be below the number of stages (${arch.num_blocks.length})`, { code: 'model.bad-argument' });
    }
    const groupMap = arch.group_layer_map ?? null;
    if (groupMap !== null) {
      const total = arch.num_blocks.reduce((a, b) => a + b, 0);
      if (Math.max(...Object.keys(groupMap).map(Number)) > total) {
        throw new MmclsError(`RepVGG: group_layer_map names block ${Math.max(...Object.keys(groupMap).map(Number))}, beyond the ${total} blocks`, { code: 'model.bad-argument' });
      }
    }
    this.arch = arch;
    this.outIndices = outIndices;
    this.deploy = options.deploy ?? false;
    this.frozenStages = options.frozen_stages ?? -1;
    this.normEval = options.norm_eval ?? false;
    const base = options.base_channels ?? 64;
    const common = {
      conv_cfg: options.conv_cfg ?? null,
      norm_cfg: options.norm_cfg ?? { type: 'BN' },
      act_cfg: options.act_cfg ?? { type: 'ReLU' },
      with_cp: options.with_cp ?? false,
      deploy: this.deploy,
      se_cfg: arch.se_cfg ?? null,
    };
    let channels = Math.min(arch.stem_channels ?? 64, Math.trunc(base * arch.width_factor[0]));
    this.stem = this.addModule('stem', new RepVGGBlock({ in_channels: options.in_channels ?? 3, out_channels: channels, stride: 2, ...common }));
    let blockIdx = 1;
    let outChannels = channels;
    for (let i = 0; i < arch.num_blocks.length; i++) {
      outChannels = Math.trunc(base * 2 ** i * arch.width_factor[i]);
      const blocks: Layer[] = [];
      for (let j = 0; j < arch.num_blocks[i]; j++) {
        const groups = groupMap !== null ? (groupMap[blockIdx] ?? 1) : 1;
        // MMCls hands the backbone's init_cfg to every block of the stages.
        blocks.push(new RepVGGBlock({ in_channels: channels, out_channels: outChannels, stride: j === 0 ? strides[i] : 1, padding: dilations[i], dilation: dilations[i], groups, ...common, init_cfg: initCfg }));
        channels = outChannels;
        blockIdx++;
      }
      const name = `stage_${i + 1}`;
      this.addModule(name, new Sequential(...blocks));
      this.stages.push(name);
      this.channels.push(outChannels);
    }
    this.ppf = this.addModule('ppf', options.add_ppf ? new MTSPPF({ in_channels: outChannels, out_channels: outChannels, norm_cfg: common.norm_cfg, act_cfg: common.act_cfg, kernel_size: 5 }) : new Identity());
    this.train(true);
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.stem.eval();
      this.stem.requiresGrad(false);
    }
    for (let i = 0; i < this.frozenStages; i++) {
      const stage = this.getChild(`stage_${i + 1}`);
      if (stage) {
        stage.eval();
        stage.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.stem.forward(x);
    const outs: Feat[] = [];
    this.stages.forEach((name, i) => {
      x = (this.getChild(name) as Layer).forward(x);
      if (i + 1 === this.stages.length) x = this.ppf.forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    x = this.stem.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    this.stages.forEach((name, i) => {
      x = (this.getChild(name) as Layer).inferShape(x, ctx);
      if (i + 1 === this.stages.length) x = this.ppf.inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  /** Folds every block into one 3x3 convolution (fewer parameters and FLOPs, same outputs in eval mode). */
  switchToDeploy(): void {
    for (const [, m] of this.namedModules()) if (m instanceof RepVGGBlock) m.switchToDeploy();
    this.deploy = true;
  }

  /** MMCls's name for {@link switchToDeploy}. */
  switch_to_deploy(): void {
    this.switchToDeploy();
  }
}
