import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { assignConv, fuseKernelBn, padKernel, torchConvWeight } from './mobileone';

/** MMCls's `conv_bn`: a Sequential of a bias-free convolution `conv` and a norm `bn`. */
export function convBn(inCh: number, outCh: number, kernel: number, stride: number, padding: number | null, groups: number, dilation = 1, normCfg: LayerCfg = { type: 'BN' }): Sequential {
  const pad = padding ?? Math.floor(kernel / 2);
  return new Sequential(
    ['conv', new Conv2d({ in_channels: inCh, out_channels: outCh, kernel_size: kernel, stride, padding: pad, dilation, groups, bias: false })],
    ['bn', buildNormLayer(normCfg, outCh)[1]],
  );
}

/** MMCls's `conv_bn_relu`: {@link convBn} plus a ReLU `nonlinear`. */
export function convBnRelu(inCh: number, outCh: number, kernel: number, stride: number, padding: number | null, groups: number): Sequential {
  const pad = padding ?? Math.floor(kernel / 2);
  return new Sequential(
    ['conv', new Conv2d({ in_channels: inCh, out_channels: outCh, kernel_size: kernel, stride, padding: pad, groups, bias: false })],
    ['bn', buildNormLayer({ type: 'BN' }, outCh)[1]],
    ['nonlinear', buildActivationLayer({ type: 'ReLU' })],
  );
}

/** Options of {@link ReparamLargeKernelConv}. */
export interface ReparamLargeKernelConvOptions {
  /** Input channels. */
  in_channels: number;
  /** Output channels. */
  out_channels: number;
  /** Size of the large kernel (padding kernel_size // 2). */
  kernel_size: number;
  /** Stride. */
  stride: number;
  /** Groups of both convolutions. */
  groups: number;
  /** Size of the parallel small kernel (None: no small branch). */
  small_kernel: number | null;
  /** Build the merged (deployment) form: one convolution `lkb_reparam` with bias. @default False */
  small_kernel_merged?: boolean;
}

/**
 * A large-kernel convolution with BN (`lkb_origin`) plus a parallel small-kernel one (`small_conv`),
 * summed; `mergeKernel` folds both BNs and zero-pads the small kernel into one convolution `lkb_reparam`.
 */
export class ReparamLargeKernelConv extends Layer {
  readonly kernelSize: number;
  readonly smallKernel: number | null;
  smallKernelMerged: boolean;
  lkbReparam: Conv2d | null = null;
  lkbOrigin: Sequential | null = null;
  smallConv: Sequential | null = null;
  private readonly o: ReparamLargeKernelConvOptions;

  constructor(o: ReparamLargeKernelConvOptions) {
    super();
    this.o = o;
    this.kernelSize = o.kernel_size;
    this.smallKernel = o.small_kernel ?? null;
    this.smallKernelMerged = o.small_kernel_merged ?? false;
    if (this.smallKernelMerged) {
      this.lkbReparam = this.addModule('lkb_reparam', this.reparamConv());
    } else {
      this.lkbOrigin = this.addModule('lkb_origin', convBn(o.in_channels, o.out_channels, o.kernel_size, o.stride, Math.floor(o.kernel_size / 2), o.groups));
      if (this.smallKernel !== null) {
        if (this.smallKernel > o.kernel_size) {
          throw new MmclsError(`small_kernel (${this.smallKernel}) must not exceed kernel_size (${o.kernel_size})`, { code: 'model.bad-argument' });
        }
        this.smallConv = this.addModule('small_conv', convBn(o.in_channels, o.out_channels, this.smallKernel, o.stride, Math.floor(this.smallKernel / 2), o.groups));
      }
    }
  }

  private reparamConv(): Conv2d {
    const o = this.o;
    return new Conv2d({ in_channels: o.in_channels, out_channels: o.out_channels, kernel_size: o.kernel_size, stride: o.stride, padding: Math.floor(o.kernel_size / 2), groups: o.groups, bias: true });
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (this.lkbReparam) return this.lkbReparam.forward(x);
    const out = this.lkbOrigin!.forward(x);
    return this.smallConv ? tf.add(out, this.smallConv.forward(x)) : out;
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    if (this.lkbReparam) return this.lkbReparam.inferShape(x, ctx) as number[];
    const y = this.lkbOrigin!.inferShape(x, ctx) as number[];
    if (this.smallConv) this.smallConv.inferShape(x, ctx);
    return y;
  }

  /** The equivalent kernel (OIHW) and bias of the two branches (MMCls's `get_equivalent_kernel_bias`). */
  getEquivalentKernelBias(): [tf.Tensor4D, tf.Tensor1D] {
    if (!this.lkbOrigin) throw new MmclsError('ReparamLargeKernelConv: already merged', { code: 'model.bad-argument' });
    return tf.tidy(() => {
      let [k, b] = fuseKernelBn(torchConvWeight(this.lkbOrigin!.getChild('conv') as Conv2d), this.lkbOrigin!.getChild('bn') as Layer);
      if (this.smallConv) {
        const [sk, sb] = fuseKernelBn(torchConvWeight(this.smallConv.getChild('conv') as Conv2d), this.smallConv.getChild('bn') as Layer);
        b = tf.add(b, sb);
        k = tf.add(k, padKernel(sk, (this.kernelSize - this.smallKernel!) / 2));
      }
      return [k, b];
    });
  }

  /** Switches to the deployment form (MMCls's `merge_kernel`). */
  mergeKernel(): void {
    if (this.smallKernelMerged) return;
    const [k, b] = this.getEquivalentKernelBias();
    const conv = this.reparamConv();
    assignConv(conv, k, b);
    tf.dispose([k, b]);
    this.lkbOrigin?.dispose();
    this.smallConv?.dispose();
    this.addModule('lkb_origin', null);
    if (this.smallConv) this.addModule('small_conv', null);
    this.lkbOrigin = this.smallConv = null;
    this.lkbReparam = this.addModule('lkb_reparam', conv);
    conv.train(this.training);
    this.smallKernelMerged = true;
  }

  /** MMCls's name for {@link mergeKernel}. */
  merge_kernel(): void {
    this.mergeKernel();
  }
}

/** 1x1-convolution FFN of RepLKNet (MMCls's ConvFFN): x + drop_path(pw2(GELU(pw1(preffn_bn(x))))). */
export class RepLKConvFFN extends Layer {
  readonly dropPath: Layer;
  readonly preffnBn: Layer;
  readonly pw1: Sequential;
  readonly pw2: Sequential;
  readonly nonlinear: Layer;

  constructor(o: { in_channels: number; internal_channels: number; out_channels: number; drop_path: number; norm_cfg?: LayerCfg; act_cfg?: LayerCfg }) {
    super();
    this.dropPath = this.addModule('drop_path', o.drop_path > 0 ? new DropPath({ drop_prob: o.drop_path }) : new Identity());
    this.preffnBn = this.addModule('preffn_bn', buildNormLayer(o.norm_cfg ?? { type: 'BN' }, o.in_channels)[1]);
    this.pw1 = this.addModule('pw1', convBn(o.in_channels, o.internal_channels, 1, 1, 0, 1));
    this.pw2 = this.addModule('pw2', convBn(o.internal_channels, o.out_channels, 1, 1, 0, 1));
    this.nonlinear = this.addModule('nonlinear', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
  }

  /** MMCls names this class ConvFFN (models/backbones/replknet.py). */
  override get typeName(): string {
    return 'ConvFFN';
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.pw2.forward(this.nonlinear.forward(this.pw1.forward(this.preffnBn.forward(x))));
    return tf.add(x, this.dropPath.forward(y));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    this.pw2.inferShape(this.nonlinear.inferShape(this.pw1.inferShape(this.preffnBn.inferShape(x, ctx), ctx), ctx), ctx);
    return x;
  }
}

/** RepLKNet block: x + drop_path(pw2(ReLU(large_kernel(pw1(prelkb_bn(x)))))). */
export class RepLKBlock extends Layer {
  readonly pw1: Sequential;
  readonly pw2: Sequential;
  readonly largeKernel: ReparamLargeKernelConv;
  readonly lkNonlinear: Layer;
  readonly prelkbBn: Layer;
  readonly dropPath: Layer;

  constructor(o: {
    in_channels: number;
    dw_channels: number;
    block_lk_size: number;
    small_kernel: number | null;
    drop_path: number;
    small_kernel_merged?: boolean;
    norm_cfg?: LayerCfg;
    act_cfg?: LayerCfg;
  }) {
    super();
    this.pw1 = this.addModule('pw1', convBnRelu(o.in_channels, o.dw_channels, 1, 1, 0, 1));
    this.pw2 = this.addModule('pw2', convBn(o.dw_channels, o.in_channels, 1, 1, 0, 1));
    this.largeKernel = this.addModule(
      'large_kernel',
      new ReparamLargeKernelConv({
        in_channels: o.dw_channels,
        out_channels: o.dw_channels,
        kernel_size: o.block_lk_size,
        stride: 1,
        groups: o.dw_channels,
        small_kernel: o.small_kernel,
        small_kernel_merged: o.small_kernel_merged ?? false,
      }),
    );
    this.lkNonlinear = this.addModule('lk_nonlinear', buildActivationLayer(o.act_cfg ?? { type: 'ReLU' }));
    this.prelkbBn = this.addModule('prelkb_bn', buildNormLayer(o.norm_cfg ?? { type: 'BN' }, o.in_channels)[1]);
    this.dropPath = this.addModule('drop_path', o.drop_path > 0 ? new DropPath({ drop_prob: o.drop_path }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    let y = this.pw1.forward(this.prelkbBn.forward(x));
    y = this.pw2.forward(this.lkNonlinear.forward(this.largeKernel.forward(y)));
    return tf.add(x, this.dropPath.forward(y));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    let y = this.pw1.inferShape(this.prelkbBn.inferShape(x, ctx), ctx);
    y = this.pw2.inferShape(this.lkNonlinear.inferShape(this.largeKernel.inferShape(y, ctx), ctx), ctx);
    return x;
  }
}

/** A RepLKNet stage: `blocks` alternating RepLKBlock and ConvFFN, and `norm` (BN for output stages, else Identity). */
export class RepLKNetStage extends Layer {
  readonly blocks: ModuleList<Layer>;
  readonly norm: Layer;

  constructor(o: {
    channels: number;
    num_blocks: number;
    stage_lk_size: number;
    drop_path: number | number[];
    small_kernel: number | null;
    dw_ratio?: number;
    ffn_ratio?: number;
    small_kernel_merged?: boolean;
    norm_intermediate_features?: boolean;
    norm_cfg?: LayerCfg;
  }) {
    super();
    this.blocks = this.addModule('blocks', new ModuleList<Layer>());
    for (let i = 0; i < o.num_blocks; i++) {
      const dp = Array.isArray(o.drop_path) ? o.drop_path[i] : o.drop_path;
      this.blocks.push(
        new RepLKBlock({
          in_channels: o.channels,
          dw_channels: Math.trunc(o.channels * (o.dw_ratio ?? 1)),
          block_lk_size: o.stage_lk_size,
          small_kernel: o.small_kernel,
          drop_path: dp,
          small_kernel_merged: o.small_kernel_merged,
        }),
      );
      this.blocks.push(new RepLKConvFFN({ in_channels: o.channels, internal_channels: Math.trunc(o.channels * (o.ffn_ratio ?? 4)), out_channels: o.channels, drop_path: dp }));
    }
    this.norm = this.addModule('norm', o.norm_intermediate_features ? buildNormLayer(o.norm_cfg ?? { type: 'BN' }, o.channels)[1] : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    for (const b of this.blocks.toArray()) x = b.forward(x);
    return x;
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    let y: ShapeValue = x;
    for (const b of this.blocks.toArray()) y = b.inferShape(y, ctx);
    return y as number[];
  }
}

/** Large kernel sizes, blocks, channels, small kernel and depth-wise ratio of a RepLKNet. */
export type RepLKNetArch = {
  /** Large kernel size of each stage. */
  large_kernel_sizes: number[];
  /** Number of blocks of each stage. */
  layers: number[];
  /** Channels of each stage. */
  channels: number[];
  /** Size of the parallel small kernel (None: none). */
  small_kernel: number | null;
  /** Expansion of the depth-wise (large kernel) channels. */
  dw_ratio: number;
};

/** The preset names of {@link RepLKNet}. */
export type RepLKNetArchName = '31B' | '31L' | 'XL';

const ARCH_SETTINGS: Record<RepLKNetArchName, RepLKNetArch> = {
  '31B': { large_kernel_sizes: [31, 29, 27, 13], layers: [2, 2, 18, 2], channels: [128, 256, 512, 1024], small_kernel: 5, dw_ratio: 1 },
  '31L': { large_kernel_sizes: [31, 29, 27, 13], layers: [2, 2, 18, 2], channels: [192, 384, 768, 1536], small_kernel: 5, dw_ratio: 1 },
  XL: { large_kernel_sizes: [27, 27, 27, 13], layers: [2, 2, 18, 2], channels: [256, 512, 1024, 2048], small_kernel: null, dw_ratio: 1.5 },
};

/** Options of {@link RepLKNet}. */
export interface RepLKNetOptions {
  /** Preset ('31B', '31L', 'XL') or a dict with large_kernel_sizes, layers, channels, small_kernel, dw_ratio. */
  arch: RepLKNetArchName | RepLKNetArch;
  /** Number of input channels. @default 3 */
  in_channels?: number;
  /** Expansion ratio of the ConvFFNs. @default 4 */
  ffn_ratio?: number;
  /** Stages to output (each gets a BN `stages.i.norm`). @default (3, ) */
  out_indices?: number[];
  /** Strides of the stages (only their number is checked, as in MMCls). @default (2, 2, 2, 2) */
  strides?: number[];
  /** Dilations of the stages (only their number is checked, as in MMCls). @default (1, 1, 1, 1) */
  dilations?: number[];
  /** Stages to freeze (the stem too from 0) when training; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Accepted for compatibility; unused, as in MMCls. @default None */
  conv_cfg?: LayerCfg | null;
  /** Accepted for compatibility; the layers use BN, as in MMCls. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Accepted for compatibility; the blocks use ReLU, as in MMCls. @default dict(type='ReLU') */
  act_cfg?: LayerCfg;
  /** Gradient checkpointing in PyTorch; no effect here. @default False */
  with_cp?: boolean;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0.3 */
  drop_path_rate?: number;
  /** Build the deployment form (large and small kernels merged into `lkb_reparam`). @default False */
  small_kernel_merged?: boolean;
  /** Accepted for compatibility; output stages are normalised (as MMCls does). @default False */
  norm_intermediate_features?: boolean;
  /** Keep batch norms in eval mode while training. @default False */
  norm_eval?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** RepLKNet backbone (Scaling Up Your Kernels to 31x31: Revisiting Large Kernel Design in CNNs). */
@MODELS.registerModule()
export class RepLKNet extends BaseBackbone {
  readonly stem: ModuleList<Sequential>;
  readonly stages: ModuleList<RepLKNetStage>;
  readonly transitions: ModuleList<Sequential>;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly numStages: number;
  smallKernelMerged: boolean;

  constructor(options: RepLKNetOptions) {
    super(
      options.init_cfg === undefined
        ? [{ type: 'Kaiming', layer: ['Conv2d'] }, { type: 'Constant', val: 1, layer: ['_BatchNorm', 'GroupNorm'] }]
        : options.init_cfg,
    );
    const a = options.arch;
    let arch: RepLKNetArch;
    if (typeof a === 'string') {
      const s = (ARCH_SETTINGS as Record<string, RepLKNetArch | undefined>)[a];
      if (!s) throw new MmclsError(`"arch": "${a}" is not one of the arch_settings (${Object.keys(ARCH_SETTINGS).join(', ')})`, { code: 'model.bad-argument' });
      arch = s;
    } else if (a && typeof a === 'object') {
      arch = a;
    } else {
      throw new MmclsError(`Expect "arch" to be either a string or a dict, got ${JSON.stringify(a)}`, { code: 'model.bad-argument' });
    }
    const strides = options.strides ?? [2, 2, 2, 2];
    const dilations = options.dilations ?? [1, 1, 1, 1];
    const n = arch.layers.length;
    if (arch.channels.length !== n || strides.length !== n || dilations.length !== n || arch.large_kernel_sizes.length !== n) {
      throw new MmclsError('RepLKNet: layers, channels, large_kernel_sizes, strides and dilations must have the same length.', { code: 'model.bad-argument' });
    }
    this.outIndices = [...(options.out_indices ?? [3])];
    if (this.outIndices.some((i) => !Number.isInteger(i) || i < 0 || i >= n)) {
      throw new MmclsError(`RepLKNet: out_indices must be stage indices in [0, ${n}), got ${JSON.stringify(this.outIndices)}`, { code: 'model.bad-argument' });
    }
    this.numStages = n;
    this.frozenStages = options.frozen_stages ?? -1;
    this.normEval = options.norm_eval ?? false;
    this.smallKernelMerged = options.small_kernel_merged ?? false;
    const inCh = options.in_channels ?? 3;
    const base = arch.channels[0];
    this.stem = this.addModule(
      'stem',
      new ModuleList<Sequential>([
        convBnRelu(inCh, base, 3, 2, 1, 1),
        convBnRelu(base, base, 3, 1, 1, base),
        convBnRelu(base, base, 1, 1, 0, 1),
        convBnRelu(base, base, 3, 2, 1, base),
      ]),
    );
    const total = arch.layers.reduce((s, d) => s + d, 0);
    const rate = options.drop_path_rate ?? 0.3;
    // torch.linspace(0, rate, total)
    const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
    this.stages = this.addModule('stages', new ModuleList<RepLKNetStage>());
    this.transitions = this.addModule('transitions', new ModuleList<Sequential>());
    let before = 0;
    for (let i = 0; i < n; i++) {
      this.stages.push(
        new RepLKNetStage({
          channels: arch.channels[i],
          num_blocks: arch.layers[i],
          stage_lk_size: arch.large_kernel_sizes[i],
          drop_path: dpr.slice(before, before + arch.layers[i]),
          small_kernel: arch.small_kernel ?? null,
          dw_ratio: arch.dw_ratio,
          ffn_ratio: options.ffn_ratio ?? 4,
          small_kernel_merged: this.smallKernelMerged,
          norm_intermediate_features: this.outIndices.includes(i),
        }),
      );
      before += arch.layers[i];
      if (i < n - 1) {
        const c1 = arch.channels[i + 1];
        this.transitions.push(new Sequential(convBnRelu(arch.channels[i], c1, 1, 1, 0, 1), convBnRelu(c1, c1, 3, 2, 1, c1)));
      }
    }
  }

  /** Whether the large kernels are merged (the deployment form); what `mmcls reparameterize` checks. */
  get deploy(): boolean {
    return this.smallKernelMerged;
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.stem.eval();
      this.stem.requiresGrad(false);
    }
    for (let i = 0; i < this.frozenStages && i < this.numStages; i++) {
      const s = this.stages.at(i);
      s.eval();
      s.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages(), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    for (const s of this.stem.toArray()) x = s.forward(x);
    const outs: Feat[] = [];
    for (let i = 0; i < this.numStages; i++) {
      const stage = this.stages.at(i);
      x = stage.forward(x);
      if (this.outIndices.includes(i)) outs.push(stage.norm.forward(x));
      if (i < this.numStages - 1) x = this.transitions.at(i).forward(x);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'RepLKNet');
    for (const s of this.stem.toArray()) x = s.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    for (let i = 0; i < this.numStages; i++) {
      const stage = this.stages.at(i);
      x = stage.inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(stage.norm.inferShape(x, ctx));
      if (i < this.numStages - 1) x = this.transitions.at(i).inferShape(x, ctx);
    }
    return outs;
  }

  /** Merges every large kernel with its small kernel and BNs (MMCls's `switch_to_deploy`). */
  switchToDeploy(): void {
    for (const [, m] of this.namedModules()) if (m instanceof ReparamLargeKernelConv) m.mergeKernel();
    this.smallKernelMerged = true;
  }

  /** MMCls's name for {@link switchToDeploy}. */
  switch_to_deploy(): void {
    this.switchToDeploy();
  }
}
