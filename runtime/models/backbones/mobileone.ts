import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { LayerCfg, buildActivationLayer, buildConvLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, fromTorchLayout, toTorchLayout } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { Feat } from '../types';
import { SELayer, SELayerOptions } from '../utils/se_layer';
import { BaseBackbone } from './base_backbone';

// ------------------------------------------------------------------ re-parameterisation helpers

/** A convolution's weight in PyTorch's layout (OIHW), as a new tensor. */
export function torchConvWeight(conv: Conv2d): tf.Tensor4D {
  return tf.tidy(() => tf.reshape(toTorchLayout(conv.weight.variable, conv.weight.layout), conv.weight.torchShape as [number, number, number, number]));
}

/**
 * Folds an eval-mode batch norm into the preceding convolution kernel (OIHW):
 * `w' = w * gamma / std`, `b' = beta - running_mean * gamma / std`, `std = sqrt(running_var + eps)`.
 */
export function fuseKernelBn(kernel: tf.Tensor4D, norm: Layer): [tf.Tensor4D, tf.Tensor1D] {
  if (!(norm instanceof _BatchNorm) || !norm.runningMean || !norm.runningVar) {
    throw new MmclsError("Switch is not allowed when norm_cfg['type'] != 'BN' (re-parameterisation folds batch norms with running statistics).", {
      code: 'model.bad-argument',
    });
  }
  return tf.tidy(() => {
    const std = tf.sqrt(tf.add(norm.runningVar!.variable, norm.eps));
    const gamma = norm.weight ? norm.weight.variable : tf.onesLike(std);
    const beta = norm.bias ? norm.bias.variable : tf.zerosLike(std);
    const t = tf.div(gamma, std);
    const w = tf.mul(kernel, tf.reshape(t, [-1, 1, 1, 1])) as tf.Tensor4D;
    const b = tf.sub(beta, tf.mul(norm.runningMean!.variable, t)) as tf.Tensor1D;
    return [w, b];
  });
}

/** The kernel (OIHW) of a `kernel x kernel` grouped convolution that is the identity (what a lone BN branch convolves with). */
export function identityKernel(channels: number, groups: number, kernel: number): tf.Tensor4D {
  const inputDim = channels / groups;
  const data = new Float32Array(channels * inputDim * kernel * kernel);
  const c = Math.floor(kernel / 2);
  for (let i = 0; i < channels; i++) data[((i * inputDim + (i % inputDim)) * kernel + c) * kernel + c] = 1;
  return tf.tensor4d(data, [channels, inputDim, kernel, kernel]);
}

/** Zero-pads a kernel (OIHW) by `pad` on each spatial side (`F.pad(w, [pad, pad, pad, pad])`). */
export function padKernel(kernel: tf.Tensor4D, pad: number): tf.Tensor4D {
  return tf.pad(kernel, [[0, 0], [0, 0], [pad, pad], [pad, pad]]);
}

/** Writes a PyTorch-layout weight (OIHW) and a bias into a convolution built here. */
export function assignConv(conv: Conv2d, weight: tf.Tensor4D, bias: tf.Tensor1D): void {
  tf.tidy(() => {
    conv.weight.assign(tf.reshape(fromTorchLayout(weight, conv.weight.layout), conv.weight.shape));
    if (!conv.bias) throw new Error('assignConv: the convolution has no bias');
    conv.bias.assign(bias);
  });
}

/** The shape of a sum of branches (they all give the same shape). */
export function firstShape(shapes: ShapeValue[]): ShapeValue {
  if (!shapes.length) throw new MmclsError('re-parameterisable block without branches', { code: 'model.bad-argument' });
  return shapes[shapes.length - 1];
}

// ------------------------------------------------------------------ MobileOne

/** Options of {@link MobileOneBlock}. */
export interface MobileOneBlockOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Kernel size of the conv branches; above 1 adds a 1x1 `branch_scale`. */
  kernel_size: number;
  /** Number of conv branches. */
  num_convs: number;
  /** Stride. @default 1 */
  stride?: number;
  /** Padding of the conv branches. @default 1 */
  padding?: number;
  /** Dilation of the conv branches. @default 1 */
  dilation?: number;
  /** Groups of all convolutions. @default 1 */
  groups?: number;
  /** SE layer config (None: no SE). @default None */
  se_cfg?: Omit<SELayerOptions, 'channels'> | null;
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
 * MobileOne's block: a BN identity branch (same shape), a 1x1 `branch_scale` (kernel > 1) and
 * `num_convs` conv-BN branches, summed, then SE and the activation; `switchToDeploy` folds all
 * branches into one convolution `branch_reparam`.
 */
export class MobileOneBlock extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly numConvBranches: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  readonly convCfg: LayerCfg | null;
  readonly normCfg: LayerCfg;
  deploy: boolean;
  readonly se: Layer;
  branchReparam: Conv2d | null = null;
  branchNorm: Layer | null = null;
  branchScale: Sequential | null = null;
  branchConvList: ModuleList<Sequential> | null = null;
  readonly act: Layer;

  constructor(o: MobileOneBlockOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.inChannels = o.in_channels;
    this.outChannels = o.out_channels;
    this.kernelSize = o.kernel_size;
    this.numConvBranches = o.num_convs;
    this.stride = o.stride ?? 1;
    this.padding = o.padding ?? 1;
    this.dilation = o.dilation ?? 1;
    this.groups = o.groups ?? 1;
    this.convCfg = o.conv_cfg ?? null;
    this.normCfg = o.norm_cfg ?? { type: 'BN' };
    this.deploy = o.deploy ?? false;
    this.se = this.addModule('se', o.se_cfg ? new SELayer({ channels: this.outChannels, ...o.se_cfg }) : new Identity());
    if (this.deploy) {
      this.branchReparam = this.addModule('branch_reparam', this.reparamConv());
    } else {
      if (this.outChannels === this.inChannels && this.stride === 1) {
        this.branchNorm = this.addModule('branch_norm', buildNormLayer(this.normCfg, this.inChannels)[1]);
      }
      if (this.kernelSize > 1) this.branchScale = this.addModule('branch_scale', this.createConvBn(1, 1, 0));
      const list = new ModuleList<Sequential>();
      for (let i = 0; i < this.numConvBranches; i++) list.push(this.createConvBn(this.kernelSize, this.dilation, this.padding));
      this.branchConvList = this.addModule('branch_conv_list', list);
    }
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'ReLU' }));
  }

  private createConvBn(kernel: number, dilation: number, padding: number): Sequential {
    const conv = buildConvLayer(this.convCfg, {
      in_channels: this.inChannels,
      out_channels: this.outChannels,
      kernel_size: kernel,
      groups: this.groups,
      stride: this.stride,
      dilation,
      padding,
      bias: false,
    });
    return new Sequential(['conv', conv], ['norm', buildNormLayer(this.normCfg, this.outChannels)[1]]);
  }

  private reparamConv(): Conv2d {
    return buildConvLayer(this.convCfg, {
      in_channels: this.inChannels,
      out_channels: this.outChannels,
      kernel_size: this.kernelSize,
      groups: this.groups,
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      bias: true,
    });
  }

  private inner(x: tf.Tensor): tf.Tensor {
    if (this.deploy) return this.branchReparam!.forward(x);
    const outs: tf.Tensor[] = [];
    if (this.branchNorm) outs.push(this.branchNorm.forward(x));
    if (this.branchScale) outs.push(this.branchScale.forward(x));
    for (const b of this.branchConvList!) outs.push(b.forward(x));
    return outs.length === 1 ? outs[0] : tf.addN(outs);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.act.forward(this.se.forward(this.inner(x)));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y: ShapeValue;
    if (this.deploy) {
      y = this.branchReparam!.inferShape(x, ctx);
    } else {
      const shapes: ShapeValue[] = [];
      if (this.branchNorm) shapes.push(this.branchNorm.inferShape(x, ctx));
      if (this.branchScale) shapes.push(this.branchScale.inferShape(x, ctx));
      // The list is a module of its own in the complexity table, though it is never called.
      ctx.enter(this.branchConvList!);
      try {
        for (const b of this.branchConvList!) shapes.push(b.inferShape(x, ctx));
      } finally {
        ctx.exit(this.branchConvList!);
      }
      y = firstShape(shapes);
    }
    return this.act.inferShape(this.se.inferShape(y, ctx), ctx);
  }

  /** The fused kernel (OIHW) and bias of all branches (MMCls's `reparameterize`). */
  reparameterize(): [tf.Tensor4D, tf.Tensor1D] {
    if (this.deploy) throw new MmclsError('MobileOneBlock: already in deploy mode', { code: 'model.bad-argument' });
    return tf.tidy(() => {
      const ws: tf.Tensor4D[] = [];
      const bs: tf.Tensor1D[] = [];
      const fuse = (branch: Sequential): void => {
        const [w, b] = fuseKernelBn(torchConvWeight(branch.getChild('conv') as Conv2d), branch.getChild('norm') as Layer);
        ws.push(w);
        bs.push(b);
      };
      for (const b of this.branchConvList!) fuse(b);
      if (this.branchScale) {
        fuse(this.branchScale);
        ws[ws.length - 1] = padKernel(ws[ws.length - 1], Math.floor(this.kernelSize / 2));
      }
      if (this.branchNorm) {
        const [w, b] = fuseKernelBn(identityKernel(this.inChannels, this.groups, this.kernelSize), this.branchNorm);
        ws.push(w);
        bs.push(b);
      }
      return [tf.addN(ws), tf.addN(bs)];
    });
  }

  /** Switches to the deploy form: one convolution `branch_reparam` (with bias) replaces the branches. */
  switchToDeploy(): void {
    if (this.deploy) return;
    if (this.normCfg.type !== 'BN') {
      throw new MmclsError("Switch is not allowed when norm_cfg['type'] != 'BN'.", { code: 'model.bad-argument' });
    }
    const [w, b] = this.reparameterize();
    const conv = this.reparamConv();
    assignConv(conv, w, b);
    tf.dispose([w, b]);
    for (const m of [this.branchConvList, this.branchScale, this.branchNorm]) m?.dispose();
    this.addModule('branch_conv_list', null);
    this.addModule('branch_scale', null);
    this.addModule('branch_norm', null);
    this.branchConvList = null;
    this.branchScale = null;
    this.branchNorm = null;
    this.branchReparam = this.addModule('branch_reparam', conv);
    this.branchReparam.train(this.training);
    this.deploy = true;
  }
}

/** A MobileOne architecture: per-stage blocks, width factors, conv branches and SE blocks (the last ones of a stage). */
export interface MobileOneArch {
  /** Number of blocks in each of the 4 stages. */
  num_blocks: number[];
  /** Width factor of each stage (times 64, 128, 256, 512). */
  width_factor: number[];
  /** Number of conv branches of the blocks of each stage. */
  num_conv_branches: number[];
  /** Number of blocks with an SE layer at the end of each stage. */
  num_se_blocks: number[];
}

/** The preset architectures s0-s4. */
export type MobileOneArchName = 's0' | 's1' | 's2' | 's3' | 's4';

export const MOBILEONE_ARCHS: Record<MobileOneArchName, MobileOneArch> = {
  s0: { num_blocks: [2, 8, 10, 1], width_factor: [0.75, 1.0, 1.0, 2.0], num_conv_branches: [4, 4, 4, 4], num_se_blocks: [0, 0, 0, 0] },
  s1: { num_blocks: [2, 8, 10, 1], width_factor: [1.5, 1.5, 2.0, 2.5], num_conv_branches: [1, 1, 1, 1], num_se_blocks: [0, 0, 0, 0] },
  s2: { num_blocks: [2, 8, 10, 1], width_factor: [1.5, 2.0, 2.5, 4.0], num_conv_branches: [1, 1, 1, 1], num_se_blocks: [0, 0, 0, 0] },
  s3: { num_blocks: [2, 8, 10, 1], width_factor: [2.0, 2.5, 3.0, 4.0], num_conv_branches: [1, 1, 1, 1], num_se_blocks: [0, 0, 0, 0] },
  s4: { num_blocks: [2, 8, 10, 1], width_factor: [3.0, 3.5, 3.5, 4.0], num_conv_branches: [1, 1, 1, 1], num_se_blocks: [0, 0, 5, 1] },
};

/** Options of {@link MobileOne}. */
export interface MobileOneOptions {
  /** Architecture: 's0', 's1', 's2', 's3', 's4', or a dict with num_blocks, width_factor, num_conv_branches and num_se_blocks (4 items each). */
  arch: MobileOneArchName | MobileOneArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Stages whose output is returned (0-3; negative counts from the end). @default (3, ) */
  out_indices?: number | number[];
  /** Stages to freeze (0 freezes the stem stage0); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Config of the SE layers of the blocks that have one. @default dict(ratio=16) */
  se_cfg?: Omit<SELayerOptions, 'channels'>;
  /** Build the re-parameterised (deploy) form: one convolution per block. @default False */
  deploy?: boolean;
  /** Keep batch norms in eval mode during training. @default False */
  norm_eval?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MobileOne backbone (An Improved One millisecond Mobile Backbone), re-parameterisable. */
@MODELS.registerModule()
export class MobileOne extends BaseBackbone {
  readonly arch: MobileOneArch;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  deploy: boolean;
  readonly stage0: MobileOneBlock;
  readonly stages: string[] = [];
  /** Output channels of each stage. */
  readonly channels: number[] = [];

  constructor(options: MobileOneOptions) {
    super(options.init_cfg === undefined ? [{ type: 'Kaiming', layer: ['Conv2d'] }, { type: 'Constant', val: 1, layer: ['_BatchNorm'] }] : options.init_cfg);
    const archIn = options.arch ?? 's0';
    let arch: MobileOneArch;
    if (typeof archIn === 'string') {
      if (!(archIn in MOBILEONE_ARCHS)) {
        throw new MmclsError(`"arch": "${archIn}" is not one of the ${JSON.stringify(Object.keys(MOBILEONE_ARCHS))}`, { code: 'model.bad-argument' });
      }
      arch = MOBILEONE_ARCHS[archIn as MobileOneArchName];
    } else if (archIn && typeof archIn === 'object') {
      arch = archIn;
    } else {
      throw new MmclsError(`Expect "arch" to be either a string or a dict, got ${JSON.stringify(archIn)}`, { code: 'model.bad-argument' });
    }
    for (const k of ['num_blocks', 'width_factor', 'num_conv_branches', 'num_se_blocks'] as const) {
      const v = arch[k];
      if (!Array.isArray(v) || v.length !== 4) throw new MmclsError(`the value of ${k} in arch must be list with 4 items.`, { code: 'model.bad-argument' });
    }
    this.arch = arch;
    this.deploy = options.deploy ?? false;
    this.frozenStages = options.frozen_stages ?? -1;
    this.normEval = options.norm_eval ?? false;
    const common = {
      conv_cfg: options.conv_cfg ?? null,
      norm_cfg: options.norm_cfg ?? { type: 'BN' },
      act_cfg: options.act_cfg ?? { type: 'ReLU' },
      deploy: this.deploy,
    };
    const seCfg = options.se_cfg ?? { ratio: 16 };
    const base = [64, 128, 256, 512];
    const stemChannels = Math.min(64, Math.trunc(base[0] * arch.width_factor[0]));
    this.stage0 = this.addModule('stage0', new MobileOneBlock({ in_channels: options.in_channels ?? 3, out_channels: stemChannels, stride: 2, kernel_size: 3, num_convs: 1, ...common }));
    let inPlanes = stemChannels;
    arch.num_blocks.forEach((numBlocks, i) => {
      const planes = Math.trunc(base[i] * arch.width_factor[i]);
      const numSe = arch.num_se_blocks[i];
      if (numSe > numBlocks) throw new MmclsError('Number of SE blocks cannot exceed number of layers.', { code: 'model.bad-argument' });
      const blocks: Layer[] = [];
      for (let j = 0; j < numBlocks; j++) {
        const se = j >= numBlocks - numSe ? seCfg : null;
        // Depth-wise 3x3, then point-wise 1x1.
        blocks.push(new MobileOneBlock({ in_channels: inPlanes, out_channels: inPlanes, kernel_size: 3, num_convs: arch.num_conv_branches[i], stride: j === 0 ? 2 : 1, padding: 1, groups: inPlanes, se_cfg: se, ...common }));
        blocks.push(new MobileOneBlock({ in_channels: inPlanes, out_channels: planes, kernel_size: 1, num_convs: arch.num_conv_branches[i], stride: 1, padding: 0, se_cfg: se, ...common }));
        inPlanes = planes;
      }
      const name = `stage${i + 1}`;
      this.addModule(name, new Sequential(...blocks));
      this.stages.push(name);
      this.channels.push(planes);
    });
    const oi = options.out_indices ?? [3];
    const list = typeof oi === 'number' ? [oi] : [...oi];
    this.outIndices = list.map((idx) => {
      const v = idx < 0 ? this.stages.length + idx : idx;
      if (!(v >= 0 && v <= this.stages.length)) throw new MmclsError(`Invalid out_indices ${idx}.`, { code: 'model.bad-argument' });
      return v;
    });
    this.train(true);
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.stage0.eval();
      this.stage0.requiresGrad(false);
    }
    for (let i = 0; i < this.frozenStages; i++) {
      const stage = this.getChild(`stage${i + 1}`);
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
    x = this.stage0.forward(x);
    const outs: Feat[] = [];
    this.stages.forEach((name, i) => {
      x = (this.getChild(name) as Layer).forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    x = this.stage0.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    this.stages.forEach((name, i) => {
      x = (this.getChild(name) as Layer).inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  /** Folds every block into one convolution (fewer parameters and FLOPs, same outputs in eval mode). */
  switchToDeploy(): void {
    for (const [, m] of this.namedModules()) if (m instanceof MobileOneBlock) m.switchToDeploy();
    this.deploy = true;
  }

  /** MMCls's name for {@link switchToDeploy}. */
  switch_to_deploy(): void {
    this.switchToDeploy();
  }
}
