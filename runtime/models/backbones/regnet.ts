import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ReLU } from '../../nn/activation';
import { LayerCfg, buildConvLayer, buildNormLayer } from '../../nn/builders';
import { Layer } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { Bottleneck, ResBlock, ResLayer } from './resnet';

/** The parameters of a RegNet design space point (Designing Network Design Spaces). */
export type RegNetArch = {
  /** Initial width. */
  w0: number;
  /** Slope of the widths. */
  wa: number;
  /** Width multiplier between quantised stages. */
  wm: number;
  /** Channels per group of the 3x3 convolutions. */
  group_w: number;
  /** Number of blocks. */
  depth: number;
  /** Bottleneck ratio. */
  bot_mul: number;
};

/** The preset names of {@link RegNet}. */
export type RegNetArchName =
  | 'regnetx_400mf'
  | 'regnetx_800mf'
  | 'regnetx_1.6gf'
  | 'regnetx_3.2gf'
  | 'regnetx_4.0gf'
  | 'regnetx_6.4gf'
  | 'regnetx_8.0gf'
  | 'regnetx_12gf';

const ARCH_SETTINGS: Record<RegNetArchName, RegNetArch> = {
  regnetx_400mf: { w0: 24, wa: 24.48, wm: 2.54, group_w: 16, depth: 22, bot_mul: 1.0 },
  regnetx_800mf: { w0: 56, wa: 35.73, wm: 2.28, group_w: 16, depth: 16, bot_mul: 1.0 },
  'regnetx_1.6gf': { w0: 80, wa: 34.01, wm: 2.25, group_w: 24, depth: 18, bot_mul: 1.0 },
  'regnetx_3.2gf': { w0: 88, wa: 26.31, wm: 2.25, group_w: 48, depth: 25, bot_mul: 1.0 },
  'regnetx_4.0gf': { w0: 96, wa: 38.65, wm: 2.43, group_w: 40, depth: 23, bot_mul: 1.0 },
  'regnetx_6.4gf': { w0: 184, wa: 60.83, wm: 2.07, group_w: 56, depth: 17, bot_mul: 1.0 },
  'regnetx_8.0gf': { w0: 80, wa: 49.56, wm: 2.88, group_w: 120, depth: 23, bot_mul: 1.0 },
  regnetx_12gf: { w0: 168, wa: 73.36, wm: 2.37, group_w: 112, depth: 19, bot_mul: 1.0 },
};

/** numpy's / Python 3's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * RegNet's per-block widths (MMCls's `generate_regnet`): a linear ramp `w0 + wa * i` quantised to
 * powers of `wm` times `w0`, then to multiples of `divisor`. Returns the widths and the stage count.
 */
export function generateRegNet(w0: number, wa: number, wm: number, depth: number, divisor = 8): [number[], number] {
  if (!(wa >= 0) || !(w0 > 0) || !(wm > 1) || w0 % divisor !== 0) {
    throw new MmclsError(`RegNet arch needs wa >= 0, w0 > 0, wm > 1 and w0 divisible by ${divisor}; got w0=${w0}, wa=${wa}, wm=${wm}`, {
      code: 'model.bad-argument',
    });
  }
  const widths: number[] = [];
  for (let i = 0; i < depth; i++) {
    const cont = i * wa + w0;
    const k = roundHalfEven(Math.log(cont / w0) / Math.log(wm));
    widths.push(Math.trunc(roundHalfEven((w0 * Math.pow(wm, k)) / divisor) * divisor));
  }
  return [widths, new Set(widths).size];
}

/** Consecutive runs of equal widths: the stage widths and the number of blocks of each. */
export function stagesFromBlocks(widths: number[]): [number[], number[]] {
  const stageWidths: number[] = [];
  const stageBlocks: number[] = [];
  for (const w of widths) {
    if (stageWidths.length && stageWidths[stageWidths.length - 1] === w) stageBlocks[stageBlocks.length - 1]++;
    else {
      stageWidths.push(w);
      stageBlocks.push(1);
    }
  }
  return [stageWidths, stageBlocks];
}

/** Makes the widths compatible with the group widths (MMCls's `adjust_width_group`). */
export function adjustWidthGroup(widths: number[], bottleneckRatio: number[], groups: number[]): [number[], number[]] {
  let bw = widths.map((w, i) => Math.trunc(w * bottleneckRatio[i]));
  const g = groups.map((gi, i) => Math.min(gi, bw[i]));
  bw = bw.map((w, i) => Math.trunc(roundHalfEven(w / g[i]) * g[i]));
  return [bw.map((w, i) => Math.trunc(w / bottleneckRatio[i])), g];
}

/** Options of {@link RegNet}. */
export interface RegNetOptions {
  /** Preset ('regnetx_400mf', 'regnetx_800mf', 'regnetx_1.6gf', 'regnetx_3.2gf', 'regnetx_4.0gf', 'regnetx_6.4gf', 'regnetx_8.0gf', 'regnetx_12gf') or a dict of w0, wa, wm, group_w, depth, bot_mul. */
  arch: RegNetArchName | RegNetArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Output channels of the stem. @default 32 */
  stem_channels?: number;
  /** Base channels (not used by the blocks, whose widths come from arch). @default 32 */
  base_channels?: number;
  /** Stride of the first block of each stage. @default (2, 2, 2, 2) */
  strides?: number[];
  /** Dilation of each stage. @default (1, 1, 1, 1) */
  dilations?: number[];
  /** Stages whose output is returned. @default (3, ) */
  out_indices?: number[];
  /** 'pytorch': stride on the 3x3 conv; 'caffe': on the first 1x1 conv. @default 'pytorch' */
  style?: 'pytorch' | 'caffe';
  /** Deep stem (not implemented for RegNet, as in MMCls). @default False */
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
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * RegNet backbone (Designing Network Design Spaces): ResNeXt bottlenecks (expansion 1) whose stage
 * widths and group counts come from the RegNet parameters; a 3x3 stride-2 stem and no max pooling.
 */
@MODELS.registerModule()
export class RegNet extends BaseBackbone {
  readonly stageWidths: number[];
  readonly groupWidths: number[];
  readonly stageBlocks: number[];
  readonly numStages: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly zeroInitResidual: boolean;
  readonly featDim: number;
  readonly resLayers: string[] = [];
  readonly conv1: Layer;
  readonly norm1: Layer;
  readonly relu: ReLU;

  constructor(options: RegNetOptions) {
    super(options.init_cfg ?? null);
    const o = options;
    let arch: RegNetArch;
    if (typeof o.arch === 'string') {
      const s = (ARCH_SETTINGS as Record<string, RegNetArch | undefined>)[o.arch];
      if (!s) {
        throw new MmclsError(`"arch": "${o.arch}" is not one of the arch_settings (${Object.keys(ARCH_SETTINGS).join(', ')})`, { code: 'model.bad-argument' });
      }
      arch = s;
    } else if (o.arch && typeof o.arch === 'object') {
      for (const k of ['w0', 'wa', 'wm', 'group_w', 'depth', 'bot_mul'] as const) {
        if (typeof o.arch[k] !== 'number') throw new MmclsError(`RegNet arch dict needs a number for ${k}`, { code: 'model.bad-argument' });
      }
      arch = o.arch;
    } else {
      throw new MmclsError(`Expect "arch" to be either a string or a dict, got ${JSON.stringify(o.arch)}`, { code: 'model.bad-argument' });
    }
    const [widths, numStages] = generateRegNet(arch.w0, arch.wa, arch.wm, arch.depth);
    const [stageWidths0, stageBlocks] = stagesFromBlocks(widths);
    const bot = Array.from({ length: numStages }, () => arch.bot_mul);
    const [stageWidths, groupWidths] = adjustWidthGroup(
      stageWidths0,
      bot,
      Array.from({ length: numStages }, () => arch.group_w),
    );
    this.stageWidths = stageWidths;
    this.groupWidths = groupWidths;
    if (numStages < 1 || numStages > 4) throw new MmclsError(`RegNet arch gives ${numStages} stages; 1 to 4 are supported`, { code: 'model.bad-argument' });
    this.numStages = numStages;
    const strides = o.strides ?? [2, 2, 2, 2];
    const dilations = o.dilations ?? [1, 1, 1, 1];
    if (strides.length !== numStages || dilations.length !== numStages) {
      throw new MmclsError(`strides and dilations must have ${numStages} entries (the stages of this arch)`, { code: 'model.bad-argument' });
    }
    this.outIndices = [...(o.out_indices ?? [3])];
    if (Math.max(...this.outIndices) >= numStages) {
      throw new MmclsError(`out_indices ${JSON.stringify(this.outIndices)} must be below the number of stages (${numStages})`, { code: 'model.bad-argument' });
    }
    if (o.deep_stem) throw new MmclsError('deep_stem has not been implemented for RegNet', { code: 'model.unsupported' });
    this.frozenStages = o.frozen_stages ?? -1;
    this.normEval = o.norm_eval ?? false;
    this.zeroInitResidual = o.zero_init_residual ?? true;
    this.stageBlocks = stageBlocks.slice(0, numStages);
    const convCfg = o.conv_cfg ?? null;
    const normCfg = o.norm_cfg ?? { type: 'BN', requires_grad: true };
    const style = o.style ?? 'pytorch';
    const stem = o.stem_channels ?? 32;

    this.conv1 = this.addModule('conv1', buildConvLayer(convCfg, { in_channels: o.in_channels ?? 3, out_channels: stem, kernel_size: 3, stride: 2, padding: 1, bias: false }));
    const [normName, norm] = buildNormLayer(normCfg, stem, 1);
    this.norm1 = this.addModule(normName, norm);
    this.relu = this.addModule('relu', new ReLU());

    let inCh = stem;
    this.stageBlocks.forEach((numBlocks, i) => {
      const width = Math.trunc(roundHalfEven(this.stageWidths[i] * bot[i]));
      const groups = Math.floor(width / this.groupWidths[i]);
      const layer = new ResLayer({
        block: (bo) => new Bottleneck(bo),
        num_blocks: numBlocks,
        in_channels: inCh,
        out_channels: this.stageWidths[i],
        expansion: 1,
        stride: strides[i],
        avg_down: o.avg_down ?? false,
        conv_cfg: convCfg,
        norm_cfg: normCfg,
        blockOptions: {
          dilation: dilations[i],
          style,
          base_channels: this.stageWidths[i],
          groups,
          width_per_group: this.groupWidths[i],
        },
      });
      const name = `layer${i + 1}`;
      this.addModule(name, layer);
      this.resLayers.push(name);
      inCh = this.stageWidths[i];
    });
    this.featDim = this.stageWidths[this.stageWidths.length - 1];
    this.freezeStages();
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.norm1.eval();
      for (const m of [this.conv1, this.norm1]) m.requiresGrad(false);
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

  forward(x: tf.Tensor): Feat[] {
    x = this.relu.forward(this.norm1.forward(this.conv1.forward(x)));
    const outs: Feat[] = [];
    this.resLayers.forEach((name, i) => {
      x = (this.getChild(name) as Layer).forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'RegNet');
    x = this.relu.inferShape(this.norm1.inferShape(this.conv1.inferShape(x, ctx), ctx), ctx);
    const outs: ShapeValue[] = [];
    this.resLayers.forEach((name, i) => {
      x = (this.getChild(name) as Layer).inferShape(x, ctx);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }
}
