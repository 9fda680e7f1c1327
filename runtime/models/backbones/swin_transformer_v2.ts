import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildNormLayer } from '../../nn/builders';
import { Pair } from '../../nn/conv';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { InitCfg, Module, Parameter, ShapeContext, ShapeValue, StateEntry, asShape, lazy } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { initParameter } from '../../nn/init';
import { FFN, FFNOptions, PatchEmbed, resizePosEmbed, upsampleFlops } from '../../nn/transformer';
import { Feat } from '../types';
import { PatchMerging, PatchMergingOptions } from '../utils/patch_merging';
import { ShiftWindowMSA, ShiftWindowMSAOptions } from '../utils/window_msa';
import { BaseBackbone } from './base_backbone';
import { dropPathRates, normalizeOutIndices, prepareAbsPosEmbed } from './swin_transformer';

/** Options of {@link SwinBlockV2}. */
export interface SwinBlockV2Options {
  /** Number of input channels. */
  embed_dims: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Height and width of the window. @default 8 */
  window_size?: number;
  /** Shift the windows by half a window. @default False */
  shift?: boolean;
  /** Extra norm at the end of the block (huge and giant). @default False */
  extra_norm?: boolean;
  /** Hidden channels of the FFN over embed_dims. @default 4.0 */
  ffn_ratio?: number;
  /** Drop-path rate after the attention and the FFN. @default 0.0 */
  drop_path?: number;
  /** Pad maps smaller than the window. @default False */
  pad_small_map?: boolean;
  /** Extra ShiftWindowMSA options. @default dict() */
  attn_cfgs?: Partial<ShiftWindowMSAOptions>;
  /** Extra FFN options. @default dict() */
  ffn_cfgs?: Partial<FFNOptions>;
  /** Norm config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Gradient checkpointing (accepted; no effect here). @default False */
  with_cp?: boolean;
  /** Window size of pre-training (0: this window). @default 0 */
  pretrained_window_size?: number;
}

/** One Swin V2 block, post-norm: x + norm1(attn(x)), then x + norm2(ffn(x)) (then norm3). */
export class SwinBlockV2 extends Module {
  readonly attn: ShiftWindowMSA;
  readonly norm1: Layer;
  readonly ffn: FFN;
  readonly norm2: Layer;
  readonly norm3: Layer | null;

  constructor(o: SwinBlockV2Options) {
    super();
    const ws = o.window_size ?? 8;
    const dropPath = { type: 'DropPath', drop_prob: o.drop_path ?? 0 };
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const pre = o.pretrained_window_size ?? 0;
    this.attn = this.addModule(
      'attn',
      new ShiftWindowMSA({
        embed_dims: o.embed_dims,
        num_heads: o.num_heads,
        shift_size: o.shift ? Math.floor(ws / 2) : 0,
        window_size: ws,
        dropout_layer: dropPath,
        pad_small_map: o.pad_small_map ?? false,
        ...(o.attn_cfgs ?? {}),
        window_msa: 'WindowMSAV2',
        pretrained_window_size: [pre, pre],
      }),
    );
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: o.embed_dims,
        feedforward_channels: Math.trunc(o.embed_dims * (o.ffn_ratio ?? 4)),
        num_fcs: 2,
        ffn_drop: 0,
        dropout_layer: dropPath,
        act_cfg: { type: 'GELU' },
        add_identity: false,
        ...(o.ffn_cfgs ?? {}),
      }),
    );
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.norm3 = o.extra_norm ? this.addModule('norm3', buildNormLayer(normCfg, o.embed_dims)[1]) : null;
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    let y = tf.add(x, this.norm1.forward(this.attn.forward(x, hw)));
    y = tf.add(y, this.norm2.forward(this.ffn.forward(y)));
    return this.norm3 ? this.norm3.forward(y) : y;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    this.norm1.inferShape(this.attn.inferShape([tokens, hw], ctx), ctx);
    this.norm2.inferShape(this.ffn.inferShape(tokens, ctx), ctx);
    if (this.norm3) this.norm3.inferShape(tokens, ctx);
    return tokens;
  }
}

/** Options of {@link SwinBlockV2Sequence}. */
export interface SwinBlockV2SequenceOptions {
  /** Number of input channels. */
  embed_dims: number;
  /** Number of blocks. */
  depth: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Height and width of the window. @default 8 */
  window_size?: number;
  /** Patch merging before the blocks. @default False */
  downsample?: boolean;
  /** Extra PatchMerging options. @default dict() */
  downsample_cfg?: Partial<PatchMergingOptions>;
  /** Drop-path rate of each block (one number for all). @default 0.0 */
  drop_paths?: number | number[];
  /** Extra options of each block (one dict for all, or a list). @default dict() */
  block_cfgs?: Partial<SwinBlockV2Options> | Partial<SwinBlockV2Options>[];
  /** Gradient checkpointing (accepted; no effect here). @default False */
  with_cp?: boolean;
  /** Pad maps smaller than the window. @default False */
  pad_small_map?: boolean;
  /** An extra norm ends every n-th block (0: none). @default 0 */
  extra_norm_every_n_blocks?: number;
  /** Window size of pre-training (0: this window). @default 0 */
  pretrained_window_size?: number;
}

/** A Swin V2 stage: an optional PatchMerging first, then the blocks. */
export class SwinBlockV2Sequence extends Module {
  readonly outChannels: number;
  readonly downsample: PatchMerging | null;
  readonly blocks: ModuleList<SwinBlockV2>;

  constructor(o: SwinBlockV2SequenceOptions) {
    super();
    const depth = o.depth;
    const dp = Array.isArray(o.drop_paths) ? o.drop_paths : Array(depth).fill(o.drop_paths ?? 0);
    const one = (o.block_cfgs ?? {}) as Partial<SwinBlockV2Options>;
    const cfgs: Partial<SwinBlockV2Options>[] = Array.isArray(o.block_cfgs) ? o.block_cfgs : Array.from({ length: depth }, () => ({ ...one }));
    if (o.downsample) {
      this.outChannels = 2 * o.embed_dims;
      this.downsample = this.addModule(
        'downsample',
        new PatchMerging({ in_channels: o.embed_dims, out_channels: this.outChannels, norm_cfg: { type: 'LN' }, ...(o.downsample_cfg ?? {}) }),
      );
    } else {
      this.outChannels = o.embed_dims;
      this.downsample = null;
    }
    const every = o.extra_norm_every_n_blocks ?? 0;
    this.blocks = this.addModule('blocks', new ModuleList<SwinBlockV2>());
    for (let i = 0; i < depth; i++) {
      this.blocks.push(
        new SwinBlockV2({
          embed_dims: this.outChannels,
          num_heads: o.num_heads,
          window_size: o.window_size ?? 8,
          shift: i % 2 === 1,
          extra_norm: every > 0 && (i + 1) % every === 0,
          drop_path: dp[i],
          with_cp: o.with_cp ?? false,
          pad_small_map: o.pad_small_map ?? false,
          pretrained_window_size: o.pretrained_window_size ?? 0,
          ...(cfgs[i] ?? {}),
        }),
      );
    }
  }

  forward(x: tf.Tensor, hw: [number, number]): { tokens: tf.Tensor; size: [number, number] } {
    let size = hw;
    if (this.downsample) ({ tokens: x, size } = this.downsample.forward(x, hw));
    for (const b of this.blocks) x = b.forward(x, size);
    return { tokens: x, size };
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let [tokens, hw] = x as [number[], number[]];
    if (this.downsample) [tokens, hw] = this.downsample.inferShape([tokens, hw], ctx) as [number[], number[]];
    ctx.enter(this.blocks);
    try {
      for (const b of this.blocks) b.inferShape([tokens, hw], ctx);
    } finally {
      ctx.exit(this.blocks);
    }
    return [tokens, hw];
  }
}

type SwinV2Arch = { embed_dims: number; depths: number[]; num_heads: number[]; extra_norm_every_n_blocks: number };

const ARCH_ZOO: Record<string, SwinV2Arch> = {};
for (const [names, s] of [
  [['t', 'tiny'], { embed_dims: 96, depths: [2, 2, 6, 2], num_heads: [3, 6, 12, 24], extra_norm_every_n_blocks: 0 }],
  [['s', 'small'], { embed_dims: 96, depths: [2, 2, 18, 2], num_heads: [3, 6, 12, 24], extra_norm_every_n_blocks: 0 }],
  [['b', 'base'], { embed_dims: 128, depths: [2, 2, 18, 2], num_heads: [4, 8, 16, 32], extra_norm_every_n_blocks: 0 }],
  [['l', 'large'], { embed_dims: 192, depths: [2, 2, 18, 2], num_heads: [6, 12, 24, 48], extra_norm_every_n_blocks: 0 }],
  [['h', 'huge'], { embed_dims: 352, depths: [2, 2, 18, 2], num_heads: [8, 16, 32, 64], extra_norm_every_n_blocks: 6 }],
  [['g', 'giant'], { embed_dims: 512, depths: [2, 2, 42, 4], num_heads: [16, 32, 64, 128], extra_norm_every_n_blocks: 6 }],
] as [string[], SwinV2Arch][]) {
  for (const n of names) ARCH_ZOO[n] = s;
}

/** Options of {@link SwinTransformerV2}. */
export interface SwinTransformerV2Options {
  /** Preset ('tiny', 'small', 'base', 'large', 'huge', 'giant' or their initials) or a dict of embed_dims, depths, num_heads, extra_norm_every_n_blocks. @default 'tiny' */
  arch?: 'tiny' | 'small' | 'base' | 'large' | 'huge' | 'giant' | 't' | 's' | 'b' | 'l' | 'h' | 'g' | SwinV2Arch;
  /** The usual input size (the absolute position embedding is made for it). @default 256 */
  img_size?: Pair;
  /** Patch size of the patch embedding. @default 4 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Window size, one for all stages or one per stage. @default 8 */
  window_size?: number | number[];
  /** Dropout after the patch embedding. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over all blocks). @default 0.1 */
  drop_path_rate?: number;
  /** Stages whose output is returned (each gets a norm `norm{i}`). @default (3, ) */
  out_indices?: number | number[];
  /** Add an absolute position embedding to the patches. @default False */
  use_abs_pos_embed?: boolean;
  /** Interpolation of the absolute position embedding for other input sizes. @default 'bicubic' */
  interpolate_mode?: 'bicubic' | 'bilinear' | 'nearest';
  /** Gradient checkpointing (accepted; no effect here). @default False */
  with_cp?: boolean;
  /** Stages to freeze (the patch embedding too); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Keep batch-norm layers in eval mode while training. @default False */
  norm_eval?: boolean;
  /** Pad maps smaller than the window (detection); False keeps classification's behaviour. @default False */
  pad_small_map?: boolean;
  /** Norm of the output features (None: none). @default dict(type='LN') */
  norm_cfg?: LayerCfg | null;
  /** Extra options of each stage (one dict for all, or a list); replacing it drops the post-norm patch merging default. @default dict(downsample_cfg=dict(is_post_norm=True)) */
  stage_cfgs?: Partial<SwinBlockV2SequenceOptions> | Partial<SwinBlockV2SequenceOptions>[];
  /** Extra PatchEmbed options. @default dict() */
  patch_cfg?: { [key: string]: unknown };
  /** Window size of pre-training per stage (0: the stage's own window). @default [0, 0, 0, 0] */
  pretrained_window_sizes?: number[];
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Swin Transformer V2 backbone (Scaling Up Capacity and Resolution): scaled cosine attention, log-spaced continuous position bias, post-norm. */
@MODELS.registerModule()
export class SwinTransformerV2 extends BaseBackbone {
  readonly embedDims: number;
  readonly depths: number[];
  readonly numHeads: number[];
  readonly numLayers: number;
  readonly windowSizes: number[];
  readonly outIndices: number[];
  readonly useAbsPosEmbed: boolean;
  readonly interpolateMode: 'bicubic' | 'bilinear' | 'nearest';
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly patchEmbed: PatchEmbed;
  readonly patchResolution: [number, number];
  readonly absolutePosEmbed: Parameter | null;
  readonly dropAfterPos: Dropout;
  readonly stages: ModuleList<SwinBlockV2Sequence>;
  readonly numFeatures: number[];
  readonly norms = new Map<number, Layer>();

  constructor(options: SwinTransformerV2Options = {}) {
    super(options.init_cfg ?? null);
    const o = options;
    const a = o.arch ?? 'tiny';
    let s: SwinV2Arch;
    if (typeof a === 'string') {
      const found = ARCH_ZOO[a.toLowerCase()];
      if (!found) throw new MmclsError(`Arch ${a} is not in default archs ${Object.keys(ARCH_ZOO).join(', ')}`, { code: 'model.bad-argument' });
      s = found;
    } else {
      const keys = Object.keys(a).sort().join(',');
      if (keys !== 'depths,embed_dims,extra_norm_every_n_blocks,num_heads') {
        throw new MmclsError(`Custom arch needs a dict with keys embed_dims, depths, num_heads, extra_norm_every_n_blocks; got ${keys}`, {
          code: 'model.bad-argument',
        });
      }
      s = a;
    }
    this.embedDims = s.embed_dims;
    this.depths = [...s.depths];
    this.numHeads = [...s.num_heads];
    this.numLayers = this.depths.length;
    this.outIndices = normalizeOutIndices(o.out_indices ?? [3], this.numLayers, 'SwinTransformerV2');
    this.useAbsPosEmbed = o.use_abs_pos_embed ?? false;
    this.interpolateMode = o.interpolate_mode ?? 'bicubic';
    this.frozenStages = o.frozen_stages ?? -1;
    this.normEval = o.norm_eval ?? false;
    const ws = o.window_size ?? 8;
    if (typeof ws === 'number') this.windowSizes = Array(this.numLayers).fill(ws);
    else if (Array.isArray(ws)) {
      if (ws.length !== this.numLayers) {
        throw new MmclsError(`Length of window_sizes ${ws.length} is not equal to length of stages ${this.numLayers}.`, { code: 'model.bad-argument' });
      }
      this.windowSizes = [...ws];
    } else throw new MmclsError('window_size should be a Sequence or int.', { code: 'model.bad-argument' });

    const patch = o.patch_size ?? 4;
    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({
        in_channels: o.in_channels ?? 3,
        input_size: o.img_size ?? 256,
        embed_dims: this.embedDims,
        conv_type: 'Conv2d',
        kernel_size: patch,
        stride: patch,
        norm_cfg: { type: 'LN' },
        ...(o.patch_cfg ?? {}),
      }),
    );
    this.patchResolution = this.patchEmbed.initOutSize!;
    if (this.useAbsPosEmbed) {
      const shape = [1, this.patchResolution[0] * this.patchResolution[1], this.embedDims];
      this.absolutePosEmbed = this.registerParameter('absolute_pos_embed', lazy(shape, () => tf.zeros(shape)))!;
    } else {
      this.absolutePosEmbed = null;
    }
    this.dropAfterPos = this.addModule('drop_after_pos', new Dropout({ p: o.drop_rate ?? 0 }));

    let dpr = dropPathRates(o.drop_path_rate ?? 0.1, this.depths.reduce((x, y) => x + y, 0));
    const pretrained = o.pretrained_window_sizes ?? [0, 0, 0, 0];
    const stageCfgs = o.stage_cfgs ?? { downsample_cfg: { is_post_norm: true } };
    this.stages = this.addModule('stages', new ModuleList<SwinBlockV2Sequence>());
    const dims = [this.embedDims];
    for (let i = 0; i < this.numLayers; i++) {
      const stageCfg: Partial<SwinBlockV2SequenceOptions> | undefined = Array.isArray(stageCfgs) ? stageCfgs[i] : { ...stageCfgs };
      const stage = new SwinBlockV2Sequence({
        embed_dims: dims[dims.length - 1],
        depth: this.depths[i],
        num_heads: this.numHeads[i],
        window_size: this.windowSizes[i],
        downsample: i > 0,
        drop_paths: dpr.slice(0, this.depths[i]),
        with_cp: o.with_cp ?? false,
        pad_small_map: o.pad_small_map ?? false,
        extra_norm_every_n_blocks: s.extra_norm_every_n_blocks,
        pretrained_window_size: pretrained[i] ?? 0,
        ...(stageCfg ?? {}),
      });
      this.stages.push(stage);
      dpr = dpr.slice(this.depths[i]);
      dims.push(stage.outChannels);
    }
    this.numFeatures = dims.slice(1);
    const normCfg = o.norm_cfg === undefined ? { type: 'LN' } : o.norm_cfg;
    for (const i of this.outIndices) {
      const layer = normCfg ? buildNormLayer(normCfg, this.numFeatures[i])[1] : new Identity();
      this.norms.set(i, this.addModule(`norm${i}`, layer));
    }
    if (this.frozenStages >= 0) this.freezeStages();
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained') return;
    if (this.absolutePosEmbed) initParameter(this.absolutePosEmbed, { type: 'TruncNormal', std: 0.02 });
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.patchEmbed.eval();
      this.patchEmbed.requiresGrad(false);
    }
    for (let i = 0; i <= this.frozenStages && i < this.numLayers; i++) {
      const m = this.stages.at(i);
      m.eval();
      m.requiresGrad(false);
    }
    for (const i of this.outIndices) if (i <= this.frozenStages) this.norms.get(i)!.requiresGrad(false);
  }

  override train(mode = true): this {
    super.train(mode);
    this.freezeStages();
    if (mode && this.normEval) this.apply((m) => (m instanceof _BatchNorm ? void m.eval() : undefined));
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    const { tokens, size } = this.patchEmbed.forward(x);
    let h = tokens;
    let hw: [number, number] = size;
    if (this.absolutePosEmbed) h = tf.add(h, resizePosEmbed(this.absolutePosEmbed.variable, this.patchResolution, hw, this.interpolateMode, 0));
    h = this.dropAfterPos.forward(h);
    const outs: Feat[] = [];
    this.stages.toArray().forEach((stage, i) => {
      ({ tokens: h, size: hw } = stage.forward(h, hw));
      if (this.outIndices.includes(i)) outs.push(tf.reshape(this.norms.get(i)!.forward(h), [-1, hw[0], hw[1], stage.outChannels]));
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'SwinTransformerV2');
    const [tok, size] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    let tokens = tok;
    let hw = size;
    if (this.absolutePosEmbed && (hw[0] !== this.patchResolution[0] || hw[1] !== this.patchResolution[1])) {
      ctx.add(`upsample_${this.interpolateMode}2d`, upsampleFlops(this.interpolateMode, this.embedDims * hw[0] * hw[1]), 0);
    }
    tokens = this.dropAfterPos.inferShape(tokens, ctx) as number[];
    const outs: ShapeValue[] = [];
    ctx.enter(this.stages);
    try {
      this.stages.toArray().forEach((stage, i) => {
        [tokens, hw] = stage.inferShape([tokens, hw], ctx) as [number[], number[]];
        if (this.outIndices.includes(i)) {
          ctx.exit(this.stages);
          this.norms.get(i)!.inferShape(tokens, ctx);
          ctx.enter(this.stages);
          outs.push([b, stage.outChannels, hw[0], hw[1]]);
        }
      });
    } finally {
      ctx.exit(this.stages);
    }
    return outs;
  }

  /**
   * MMCls's load hooks: the absolute position embedding is interpolated to this grid; the relative
   * position index and coordinates tables are rebuilt from the window size, so a checkpoint's
   * tables of another window size are dropped (tables of the same size are what this model builds).
   */
  protected override prepareStateDict(state: Map<string, StateEntry>, prefix: string): void {
    prepareAbsPosEmbed(state, prefix, this.absolutePosEmbed, this.patchResolution, this.interpolateMode);
    const own = new Map(this.stateDictKeys().map((e) => [prefix + e.key, e.shape]));
    for (const [key, e] of [...state]) {
      if (!key.startsWith(prefix) || !(key.endsWith('relative_position_index') || key.endsWith('relative_coords_table'))) continue;
      const mine = own.get(key);
      if (!mine || mine.join(',') !== e.shape.join(',')) state.delete(key);
    }
  }
}
