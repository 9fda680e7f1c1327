import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ReLU } from '../../nn/activation';
import { LayerCfg, buildConvLayer, buildNormLayer } from '../../nn/builders';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Module, ShapeContext, ShapeValue, asShape, asTuple } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { Feat } from '../types';
import { shapeInList } from '../utils/shape_in_list';
import { Upsample } from '../utils/upsample';
import { BaseBackbone } from './base_backbone';
import { BasicBlock, BlockOptions, Bottleneck, ResBlock, ResLayer } from './resnet';

/** Block types of an HRNet stage. */
export type HRNetBlockType = 'BASIC' | 'BOTTLENECK';

/** One stage of an HRNet `extra` dict. */
export interface HRNetStageCfg {
  /** Number of HRModules in the stage. */
  num_modules: number;
  /** Number of branches (resolutions). */
  num_branches: number;
  /** Block type: 'BASIC' or 'BOTTLENECK'. */
  block: HRNetBlockType;
  /** Number of blocks of each branch. */
  num_blocks: number[];
  /** Base channels of each branch. */
  num_channels: number[];
}

/** The four stages of an HRNet. */
export interface HRNetExtra {
  stage1: HRNetStageCfg;
  stage2: HRNetStageCfg;
  stage3: HRNetStageCfg;
  stage4: HRNetStageCfg;
}

const BLOCKS: Record<HRNetBlockType, { make: (o: BlockOptions) => ResBlock; expansion: number }> = {
  BASIC: { make: (o) => new BasicBlock(o), expansion: 1 },
  BOTTLENECK: { make: (o) => new Bottleneck(o), expansion: 4 },
};

function blockOf(type: string): { make: (o: BlockOptions) => ResBlock; expansion: number } {
  const b = (BLOCKS as Record<string, { make: (o: BlockOptions) => ResBlock; expansion: number } | undefined>)[type];
  if (!b) throw new MmclsError(`HRNet: block must be 'BASIC' or 'BOTTLENECK', got ${JSON.stringify(type)}`, { code: 'model.bad-argument' });
  return b;
}

/** `nn.ModuleList` whose entries may be None (an HRModule's fuse row keeps None on its diagonal). */
class NullableList extends Module {
  readonly items: (Layer | null)[];
  constructor(items: (Layer | null)[]) {
    super();
    this.items = items.map((m, i) => this.addModule(String(i), m));
  }
}

/** Options of {@link HRModule}. */
export interface HRModuleOptions {
  num_branches: number;
  block: HRNetBlockType;
  num_blocks: number[];
  in_channels: number[];
  num_channels: number[];
  multiscale_output?: boolean;
  conv_cfg?: LayerCfg | null;
  norm_cfg?: LayerCfg;
}

/**
 * High-resolution module: one ResLayer per branch, then every output branch sums all branches
 * (1x1 conv + BN + nearest upsampling from lower resolutions, stacked stride-2 3x3 convs from higher
 * ones) and applies ReLU.
 */
export class HRModule extends Module {
  readonly numBranches: number;
  readonly inChannels: number[];
  readonly branches: ModuleList<ResLayer>;
  readonly fuseLayers: ModuleList<NullableList> | null;
  readonly relu: ReLU;

  constructor(o: HRModuleOptions) {
    super();
    const n = o.num_branches;
    for (const [what, list] of [['NUM_BLOCKS', o.num_blocks], ['NUM_CHANNELS', o.num_channels], ['NUM_INCHANNELS', o.in_channels]] as const) {
      if (list.length !== n) throw new MmclsError(`NUM_BRANCHES(${n}) != ${what}(${list.length})`, { code: 'model.bad-argument' });
    }
    this.numBranches = n;
    this.inChannels = [...o.in_channels];
    const block = blockOf(o.block);
    const normCfg = o.norm_cfg ?? { type: 'BN' };
    const convCfg = o.conv_cfg ?? null;
    this.branches = this.addModule(
      'branches',
      new ModuleList<ResLayer>(
        o.num_blocks.map(
          (nb, i) =>
            new ResLayer({
              block: block.make,
              num_blocks: nb,
              in_channels: this.inChannels[i],
              out_channels: o.num_channels[i] * block.expansion,
              expansion: block.expansion,
              conv_cfg: convCfg,
              norm_cfg: normCfg,
            }),
        ),
      ),
    );
    if (n === 1) {
      this.fuseLayers = null;
    } else {
      const c = this.inChannels;
      const rows: NullableList[] = [];
      const numOut = o.multiscale_output ?? true ? n : 1;
      for (let i = 0; i < numOut; i++) {
        const row: (Layer | null)[] = [];
        for (let j = 0; j < n; j++) {
          if (j > i) {
            row.push(
              new Sequential(
                buildConvLayer(convCfg, { in_channels: c[j], out_channels: c[i], kernel_size: 1, stride: 1, padding: 0, bias: false }),
                buildNormLayer(normCfg, c[i])[1],
                new Upsample({ scale_factor: 2 ** (j - i), mode: 'nearest' }),
              ),
            );
          } else if (j === i) {
            row.push(null);
          } else {
            const downs: Layer[] = [];
            for (let k = 0; k < i - j; k++) {
              const last = k === i - j - 1;
              const cout = last ? c[i] : c[j];
              const parts: Layer[] = [
                buildConvLayer(convCfg, { in_channels: c[j], out_channels: cout, kernel_size: 3, stride: 2, padding: 1, bias: false }),
                buildNormLayer(normCfg, cout)[1],
              ];
              if (!last) parts.push(new ReLU());
              downs.push(new Sequential(...parts));
            }
            row.push(new Sequential(...downs));
          }
        }
        rows.push(new NullableList(row));
      }
      this.fuseLayers = this.addModule('fuse_layers', new ModuleList<NullableList>(rows));
    }
    this.relu = this.addModule('relu', new ReLU());
  }

  forward(xs: tf.Tensor[]): tf.Tensor[] {
    if (xs.length !== this.numBranches) {
      throw new MmclsError(`HRModule expects ${this.numBranches} inputs, got ${xs.length}`, { code: 'model.shape' });
    }
    if (this.numBranches === 1) return [this.branches.at(0).forward(xs[0])];
    const ys = xs.map((x, i) => this.branches.at(i).forward(x));
    const out: tf.Tensor[] = [];
    for (const row of this.fuseLayers!) {
      let y: tf.Tensor | null = null;
      row.items.forEach((layer, j) => {
        const t = layer ? layer.forward(ys[j]) : ys[j];
        y = y ? tf.add(y, t) : t;
      });
      out.push(this.relu.forward(y!));
    }
    return out;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const xs = asTuple(x, 'HRModule');
    if (this.numBranches === 1) return [shapeInList(this.branches, this.branches.at(0), xs[0], ctx)];
    const ys = xs.map((s, i) => shapeInList(this.branches, this.branches.at(i), s, ctx));
    const out: ShapeValue[] = [];
    for (const row of this.fuseLayers!) {
      ctx.enter(this.fuseLayers!);
      try {
        let shape: ShapeValue = null;
        row.items.forEach((layer, j) => {
          shape = layer ? shapeInList(row, layer, ys[j], ctx) : ys[j];
        });
        out.push(this.relu.inferShape(shape, ctx));
      } finally {
        ctx.exit(this.fuseLayers!);
      }
    }
    return out;
  }
}

type StageSetting = [number, number, HRNetBlockType, number[], number[]];

const W = (c: number): StageSetting[] => [
  [1, 1, 'BOTTLENECK', [4], [64]],
  [1, 2, 'BASIC', [4, 4], [c, 2 * c]],
  [4, 3, 'BASIC', [4, 4, 4], [c, 2 * c, 4 * c]],
  [3, 4, 'BASIC', [4, 4, 4, 4], [c, 2 * c, 4 * c, 8 * c]],
];

/** The preset names of {@link HRNet}. */
export type HRNetArchName = 'w18' | 'w30' | 'w32' | 'w40' | 'w44' | 'w48' | 'w64';

const ARCH_ZOO: Record<HRNetArchName, StageSetting[]> = {
  w18: W(18),
  w30: W(30),
  w32: W(32),
  w40: W(40),
  w44: W(44),
  w48: W(48),
  w64: W(64),
};

/** Options of {@link HRNet}. */
export interface HRNetOptions {
  /** Preset architecture ('w18', 'w30', 'w32', 'w40', 'w44', 'w48', 'w64'); used only when extra is None. @default 'w32' */
  arch?: HRNetArchName;
  /** Per-stage settings stage1..stage4 (num_modules, num_branches, block, num_blocks, num_channels); overrides arch. @default None */
  extra?: HRNetExtra | null;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Keep batch norms in eval mode (frozen statistics) while training. @default False */
  norm_eval?: boolean;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Zero-initialise the last norm of every residual block of stages 2-4. @default False */
  zero_init_residual?: boolean;
  /** Output all resolutions of the last stage (False: only the highest). @default True */
  multiscale_output?: boolean;
  /** Initialisation config. @default [dict(type='Kaiming', layer='Conv2d'), dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** HRNet backbone (High-Resolution Representations for Labeling Pixels and Regions): one feature map per resolution. */
@MODELS.registerModule()
export class HRNet extends BaseBackbone {
  readonly extra: HRNetExtra;
  readonly normEval: boolean;
  readonly zeroInitResidual: boolean;
  readonly conv1: Layer;
  readonly bn1: Layer;
  readonly conv2: Layer;
  readonly bn2: Layer;
  readonly relu: ReLU;
  readonly layer1: ResLayer;
  readonly transitions: ModuleList<Layer>[] = [];
  readonly stages: ModuleList<HRModule>[] = [];

  constructor(options: HRNetOptions = {}) {
    super(
      options.init_cfg === undefined
        ? [
            { type: 'Kaiming', layer: 'Conv2d' },
            { type: 'Constant', val: 1, layer: ['_BatchNorm', 'GroupNorm'] },
          ]
        : options.init_cfg,
    );
    this.extra = HRNet.parseArch(options.arch ?? 'w32', options.extra ?? null);
    for (let i = 1; i <= 4; i++) {
      const cfg = (this.extra as unknown as Record<string, HRNetStageCfg | undefined>)[`stage${i}`];
      if (!cfg) throw new MmclsError(`Missing stage${i} config in "extra".`, { code: 'model.bad-argument' });
      if (cfg.num_blocks.length !== cfg.num_branches || cfg.num_channels.length !== cfg.num_branches) {
        throw new MmclsError(`HRNet stage${i}: num_blocks and num_channels must have num_branches (${cfg.num_branches}) entries`, {
          code: 'model.bad-argument',
        });
      }
    }
    const convCfg = options.conv_cfg ?? null;
    const normCfg = options.norm_cfg ?? { type: 'BN' };
    this.normEval = options.norm_eval ?? false;
    this.zeroInitResidual = options.zero_init_residual ?? false;
    const multiscale = options.multiscale_output ?? true;

    this.conv1 = this.addModule('conv1', buildConvLayer(convCfg, { in_channels: options.in_channels ?? 3, out_channels: 64, kernel_size: 3, stride: 2, padding: 1, bias: false }));
    const [n1, norm1] = buildNormLayer(normCfg, 64, 1);
    this.bn1 = this.addModule(n1, norm1);
    this.conv2 = this.addModule('conv2', buildConvLayer(convCfg, { in_channels: 64, out_channels: 64, kernel_size: 3, stride: 2, padding: 1, bias: false }));
    const [n2, norm2] = buildNormLayer(normCfg, 64, 2);
    this.bn2 = this.addModule(n2, norm2);
    this.relu = this.addModule('relu', new ReLU());

    // Stage 1 is a plain ResLayer named layer1 (MMCls builds it with the default BN config).
    const s1 = this.extra.stage1;
    const b1 = blockOf(s1.block);
    let pre = s1.num_channels.map((c) => c * b1.expansion);
    this.layer1 = this.addModule(
      'layer1',
      new ResLayer({ block: b1.make, num_blocks: s1.num_blocks[0], in_channels: 64, out_channels: pre[0], expansion: b1.expansion }),
    );

    for (let i = 2; i <= 4; i++) {
      const cfg = this.extra[`stage${i}` as keyof HRNetExtra];
      const block = blockOf(cfg.block);
      const cur = cfg.num_channels.map((c) => c * block.expansion);
      this.transitions.push(this.addModule(`transition${i - 1}`, this.makeTransition(pre, cur, convCfg, normCfg)));
      const modules: HRModule[] = [];
      for (let m = 0; m < cfg.num_modules; m++) {
        modules.push(
          new HRModule({
            num_branches: cfg.num_branches,
            block: cfg.block,
            num_blocks: cfg.num_blocks,
            in_channels: cur,
            num_channels: cfg.num_channels,
            multiscale_output: i === 4 && !multiscale && m === cfg.num_modules - 1 ? false : true,
            conv_cfg: convCfg,
            norm_cfg: normCfg,
          }),
        );
      }
      this.stages.push(this.addModule(`stage${i}`, new ModuleList<HRModule>(modules)));
      pre = cur;
    }
  }

  /** The `extra` dict of a preset (or `extra` itself when given). */
  static parseArch(arch: string, extra: HRNetExtra | null): HRNetExtra {
    if (extra) return extra;
    const zoo = (ARCH_ZOO as Record<string, StageSetting[] | undefined>)[arch];
    if (!zoo) {
      throw new MmclsError(`Invalid arch ${JSON.stringify(arch)}, please choose arch from [${Object.keys(ARCH_ZOO).map((k) => `'${k}'`).join(', ')}], or specify \`extra\` argument directly.`, {
        code: 'model.bad-argument',
      });
    }
    const stage = (s: StageSetting): HRNetStageCfg => ({ num_modules: s[0], num_branches: s[1], block: s[2], num_blocks: [...s[3]], num_channels: [...s[4]] });
    return { stage1: stage(zoo[0]), stage2: stage(zoo[1]), stage3: stage(zoo[2]), stage4: stage(zoo[3]) };
  }

  private makeTransition(pre: number[], cur: number[], convCfg: LayerCfg | null, normCfg: LayerCfg): ModuleList<Layer> {
    const layers: Layer[] = [];
    for (let i = 0; i < cur.length; i++) {
      if (i < pre.length) {
        if (cur[i] !== pre[i]) {
          layers.push(
            new Sequential(
              buildConvLayer(convCfg, { in_channels: pre[i], out_channels: cur[i], kernel_size: 3, stride: 1, padding: 1, bias: false }),
              buildNormLayer(normCfg, cur[i])[1],
              new ReLU(),
            ),
          );
        } else {
          layers.push(new Identity());
        }
      } else {
        const downs: Layer[] = [];
        for (let j = 0; j < i + 1 - pre.length; j++) {
          const cin = pre[pre.length - 1];
          const cout = j === i - pre.length ? cur[i] : cin;
          downs.push(
            new Sequential(
              buildConvLayer(convCfg, { in_channels: cin, out_channels: cout, kernel_size: 3, stride: 2, padding: 1, bias: false }),
              buildNormLayer(normCfg, cout)[1],
              new ReLU(),
            ),
          );
        }
        layers.push(new Sequential(...downs));
      }
    }
    return new ModuleList<Layer>(layers);
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, null, this.normEval);
  }

  override initWeights(): void {
    const wasInit = this.isInit;
    super.initWeights();
    if (wasInit) return;
    if (this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained') return;
    // MMCls gives the blocks of stages 2-4 (not layer1) a zero init of their last norm.
    if (this.zeroInitResidual) {
      for (const stage of this.stages) {
        stage.apply((m) => {
          if (m instanceof ResBlock) {
            const n = m.lastNorm();
            if (n?.weight) tf.tidy(() => n.weight!.assign(tf.zerosLike(n.weight!.variable)));
            if (n?.bias) tf.tidy(() => n.bias!.assign(tf.zerosLike(n.bias!.variable)));
          }
        });
      }
    }
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.relu.forward(this.bn1.forward(this.conv1.forward(x)));
    x = this.relu.forward(this.bn2.forward(this.conv2.forward(x)));
    let xs = [this.layer1.forward(x)];
    for (let s = 0; s < 3; s++) {
      const inputs = this.transitions[s].toArray().map((layer, j) => layer.forward(j < xs.length ? xs[j] : xs[xs.length - 1]));
      xs = inputs;
      for (const m of this.stages[s]) xs = m.forward(xs);
    }
    return xs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'HRNet');
    x = this.relu.inferShape(this.bn1.inferShape(this.conv1.inferShape(x, ctx), ctx), ctx);
    x = this.relu.inferShape(this.bn2.inferShape(this.conv2.inferShape(x, ctx), ctx), ctx);
    let xs: ShapeValue[] = [this.layer1.inferShape(x, ctx)];
    for (let s = 0; s < 3; s++) {
      const t = this.transitions[s];
      const cur = xs;
      // An identity transition leaves no trace in MMEngine's counter (listed as never called): skip it.
      xs = t.toArray().map((layer, j) => {
        const src = j < cur.length ? cur[j] : cur[cur.length - 1];
        return layer instanceof Identity ? src : shapeInList(t, layer, src, ctx);
      });
      const stage = this.stages[s];
      for (const m of stage) xs = asTuple(shapeInList(stage, m, xs, ctx), 'HRNet');
    }
    return xs;
  }
}
