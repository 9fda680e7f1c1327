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
import { ShiftWindowMSA, ShiftWindowMSAOptions, prepareRelativePositionBiasTables } from '../utils/window_msa';
import { BaseBackbone } from './base_backbone';

/** Options of {@link SwinBlock}. */
export interface SwinBlockOptions {
  /** Number of input channels. */
  embed_dims: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Height and width of the window. @default 7 */
  window_size?: number;
  /** Shift the windows by half a window. @default False */
  shift?: boolean;
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
}

/** One Swin Transformer block: x + W-MSA(norm1(x)), then x + FFN(norm2(x)). */
export class SwinBlock extends Module {
  readonly norm1: Layer;
  readonly attn: ShiftWindowMSA;
  readonly norm2: Layer;
  readonly ffn: FFN;

  constructor(o: SwinBlockOptions) {
    super();
    const ws = o.window_size ?? 7;
    const dropPath = { type: 'DropPath', drop_prob: o.drop_path ?? 0 };
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, o.embed_dims)[1]);
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
      }),
    );
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, o.embed_dims)[1]);
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: o.embed_dims,
        feedforward_channels: Math.trunc(o.embed_dims * (o.ffn_ratio ?? 4)),
        num_fcs: 2,
        ffn_drop: 0,
        dropout_layer: dropPath,
        act_cfg: { type: 'GELU' },
        ...(o.ffn_cfgs ?? {}),
      }),
    );
  }

  forward(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    const y = tf.add(x, this.attn.forward(this.norm1.forward(x), hw));
    return this.ffn.forward(this.norm2.forward(y), y);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [tokens, hw] = x as [number[], number[]];
    this.attn.inferShape([this.norm1.inferShape(tokens, ctx), hw], ctx);
    this.ffn.inferShape(this.norm2.inferShape(tokens, ctx), ctx);
    return tokens;
  }
}

/** Options of {@link SwinBlockSequence}. */
export interface SwinBlockSequenceOptions {
  /** Number of input channels. */
  embed_dims: number;
  /** Number of blocks. */
  depth: number;
  /** Number of attention heads. */
  num_heads: number;
  /** Height and width of the window. @default 7 */
  window_size?: number;
  /** Patch merging after the blocks. @default False */
  downsample?: boolean;
  /** Extra PatchMerging options. @default dict() */
  downsample_cfg?: Partial<PatchMergingOptions>;
  /** Drop-path rate of each block (one number for all). @default 0.0 */
  drop_paths?: number | number[];
  /** Extra options of each block (one dict for all, or a list). @default dict() */
  block_cfgs?: Partial<SwinBlockOptions> | Partial<SwinBlockOptions>[];
  /** Gradient checkpointing (accepted; no effect here). @default False */
  with_cp?: boolean;
  /** Pad maps smaller than the window. @default False */
  pad_small_map?: boolean;
}

/** A Swin stage: blocks alternating plain and shifted windows, then an optional PatchMerging. */
export class SwinBlockSequence extends Module {
  readonly embedDims: number;
  readonly blocks: ModuleList<SwinBlock>;
  readonly downsample: PatchMerging | null;

  constructor(o: SwinBlockSequenceOptions) {
    super();
    const depth = o.depth;
    const dp = Array.isArray(o.drop_paths) ? o.drop_paths : Array(depth).fill(o.drop_paths ?? 0);
    const one = (o.block_cfgs ?? {}) as Partial<SwinBlockOptions>;
    const cfgs: Partial<SwinBlockOptions>[] = Array.isArray(o.block_cfgs) ? o.block_cfgs : Array.from({ length: depth }, () => ({ ...one }));
    this.embedDims = o.embed_dims;
    this.blocks = this.addModule('blocks', new ModuleList<SwinBlock>());
    for (let i = 0; i < depth; i++) {
      this.blocks.push(
        new SwinBlock({
          embed_dims: o.embed_dims,
          num_heads: o.num_heads,
          window_size: o.window_size ?? 7,
          shift: i % 2 === 1,
          drop_path: dp[i],
          with_cp: o.with_cp ?? false,
          pad_small_map: o.pad_small_map ?? false,
          ...(cfgs[i] ?? {}),
        }),
      );
    }
    this.downsample = o.downsample
      ? this.addModule('downsample', new PatchMerging({ in_channels: o.embed_dims, out_channels: 2 * o.embed_dims, norm_cfg: { type: 'LN' }, ...(o.downsample_cfg ?? {}) }))
      : null;
  }

  get outChannels(): number {
    return this.downsample ? this.downsample.outChannels : this.embedDims;
  }

  forwardBlocks(x: tf.Tensor, hw: [number, number]): tf.Tensor {
    for (const b of this.blocks) x = b.forward(x, hw);
    return x;
  }

  /** Shape pass of the blocks (costs counted under this stage). */
  shapeBlocks(tokens: number[], hw: number[], ctx: ShapeContext): void {
    ctx.enter(this);
    try {
      ctx.enter(this.blocks);
      try {
        for (const b of this.blocks) b.inferShape([tokens, hw], ctx);
      } finally {
        ctx.exit(this.blocks);
      }
    } finally {
      ctx.exit(this);
    }
  }

  /** Shape pass of the patch merging (counted under this stage, wherever it is called from). */
  shapeDownsample(tokens: number[], hw: number[], ctx: ShapeContext): [number[], number[]] {
    ctx.enter(this);
    try {
      return this.downsample!.inferShape([tokens, hw], ctx) as [number[], number[]];
    } finally {
      ctx.exit(this);
    }
  }
}

type SwinArch = { embed_dims: number; depths: number[]; num_heads: number[] };

const ARCH_ZOO: Record<string, SwinArch> = {};
for (const [names, s] of [
  [['t', 'tiny'], { embed_dims: 96, depths: [2, 2, 6, 2], num_heads: [3, 6, 12, 24] }],
  [['s', 'small'], { embed_dims: 96, depths: [2, 2, 18, 2], num_heads: [3, 6, 12, 24] }],
  [['b', 'base'], { embed_dims: 128, depths: [2, 2, 18, 2], num_heads: [4, 8, 16, 32] }],
  [['l', 'large'], { embed_dims: 192, depths: [2, 2, 18, 2], num_heads: [6, 12, 24, 48] }],
] as [string[], SwinArch][]) {
  for (const n of names) ARCH_ZOO[n] = s;
}

/** `torch.linspace(0, rate, n)` as float32 values, the stochastic depth decay rule. */
export function dropPathRates(rate: number, n: number): number[] {
  if (n === 1) return [Math.fround(0)];
  return Array.from({ length: n }, (_, i) => Math.fround((rate * i) / (n - 1)));
}

/** Positive stage indices (negative count from the end). */
export function normalizeOutIndices(outIndices: number | number[], numStages: number, who: string): number[] {
  const list = typeof outIndices === 'number' ? [outIndices] : [...outIndices];
  return list.map((i) => {
    const j = i < 0 ? numStages + i : i;
    if (!Number.isInteger(j) || j < 0 || j >= numStages) {
      throw new MmclsError(`${who}: invalid out_indices ${i} (there are ${numStages} stages)`, { code: 'model.bad-argument' });
    }
    return j;
  });
}

/** Options of {@link SwinTransformer}. */
export interface SwinTransformerOptions {
  /** Preset ('tiny', 'small', 'base', 'large' or 't', 's', 'b', 'l') or a dict of embed_dims, depths, num_heads. @default 'tiny' */
  arch?: 'tiny' | 'small' | 'base' | 'large' | 't' | 's' | 'b' | 'l' | SwinArch;
  /** The usual input size (the absolute position embedding is made for it). @default 224 */
  img_size?: Pair;
  /** Patch size of the patch embedding. @default 4 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Height and width of the attention windows. @default 7 */
  window_size?: number;
  /** Dropout after the patch embedding. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over all blocks). @default 0.1 */
  drop_path_rate?: number;
  /** Stages whose output is returned (each gets a norm `norm{i}`). @default (3, ) */
  out_indices?: number | number[];
  /** Output a stage after its patch merging rather than before. @default False */
  out_after_downsample?: boolean;
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
  /** Extra options of each stage (one dict for all, or a list), e.g. dict(block_cfgs=dict(window_size=12)). @default dict() */
  stage_cfgs?: Partial<SwinBlockSequenceOptions> | Partial<SwinBlockSequenceOptions>[];
  /** Extra PatchEmbed options. @default dict() */
  patch_cfg?: { [key: string]: unknown };
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Swin Transformer backbone (Hierarchical Vision Transformer using Shifted Windows). */
@MODELS.registerModule()
export class SwinTransformer extends BaseBackbone {
  readonly embedDims: number;
  readonly depths: number[];
  readonly numHeads: number[];
  readonly numLayers: number;
  readonly outIndices: number[];
  readonly outAfterDownsample: boolean;
  readonly useAbsPosEmbed: boolean;
  readonly interpolateMode: 'bicubic' | 'bilinear' | 'nearest';
  readonly frozenStages: number;
  readonly normEval: boolean;
  readonly patchEmbed: PatchEmbed;
  readonly patchResolution: [number, number];
  readonly absolutePosEmbed: Parameter | null;
  readonly dropAfterPos: Dropout;
  readonly stages: ModuleList<SwinBlockSequence>;
  readonly numFeatures: number[];
  readonly norms = new Map<number, Layer>();

  constructor(options: SwinTransformerOptions = {}) {
    super(options.init_cfg ?? null);
    const o = options;
    const a = o.arch ?? 'tiny';
    let s: SwinArch;
    if (typeof a === 'string') {
      const found = ARCH_ZOO[a.toLowerCase()];
      if (!found) throw new MmclsError(`Arch ${a} is not in default archs ${Object.keys(ARCH_ZOO).join(', ')}`, { code: 'model.bad-argument' });
      s = found;
    } else {
      const keys = Object.keys(a).sort().join(',');
      if (keys !== 'depths,embed_dims,num_heads') {
        throw new MmclsError(`Custom arch needs a dict with keys embed_dims, depths, num_heads; got ${keys}`, { code: 'model.bad-argument' });
      }
      s = a;
    }
    this.embedDims = s.embed_dims;
    this.depths = [...s.depths];
    this.numHeads = [...s.num_heads];
    this.numLayers = this.depths.length;
    this.outIndices = normalizeOutIndices(o.out_indices ?? [3], this.numLayers, 'SwinTransformer');
    this.outAfterDownsample = o.out_after_downsample ?? false;
    this.useAbsPosEmbed = o.use_abs_pos_embed ?? false;
    this.interpolateMode = o.interpolate_mode ?? 'bicubic';
    this.frozenStages = o.frozen_stages ?? -1;
    this.normEval = o.norm_eval ?? false;

    const patch = o.patch_size ?? 4;
    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({
        in_channels: o.in_channels ?? 3,
        input_size: o.img_size ?? 224,
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
    this.stages = this.addModule('stages', new ModuleList<SwinBlockSequence>());
    const dims = [this.embedDims];
    const stageCfgs = o.stage_cfgs ?? {};
    for (let i = 0; i < this.numLayers; i++) {
      const stageCfg: Partial<SwinBlockSequenceOptions> | undefined = Array.isArray(stageCfgs) ? stageCfgs[i] : { ...stageCfgs };
      const stage = new SwinBlockSequence({
        embed_dims: dims[dims.length - 1],
        depth: this.depths[i],
        num_heads: this.numHeads[i],
        window_size: o.window_size ?? 7,
        downsample: i < this.numLayers - 1,
        drop_paths: dpr.slice(0, this.depths[i]),
        with_cp: o.with_cp ?? false,
        pad_small_map: o.pad_small_map ?? false,
        ...(stageCfg ?? {}),
      });
      this.stages.push(stage);
      dpr = dpr.slice(this.depths[i]);
      dims.push(stage.outChannels);
    }
    this.numFeatures = this.outAfterDownsample ? dims.slice(1) : dims.slice(0, -1);
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
      h = stage.forwardBlocks(h, hw);
      if (stage.downsample && this.outAfterDownsample) ({ tokens: h, size: hw } = stage.downsample.forward(h, hw));
      if (this.outIndices.includes(i)) {
        const out = this.norms.get(i)!.forward(h);
        outs.push(tf.reshape(out, [-1, hw[0], hw[1], this.numFeatures[i]]));
      }
      if (stage.downsample && !this.outAfterDownsample) ({ tokens: h, size: hw } = stage.downsample.forward(h, hw));
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'SwinTransformer');
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
        stage.shapeBlocks(tokens, hw, ctx);
        if (stage.downsample && this.outAfterDownsample) [tokens, hw] = stage.shapeDownsample(tokens, hw, ctx);
        if (this.outIndices.includes(i)) {
          ctx.exit(this.stages);
          this.norms.get(i)!.inferShape(tokens, ctx);
          ctx.enter(this.stages);
          outs.push([b, this.numFeatures[i], hw[0], hw[1]]);
        }
        if (stage.downsample && !this.outAfterDownsample) [tokens, hw] = stage.shapeDownsample(tokens, hw, ctx);
      });
    } finally {
      ctx.exit(this.stages);
    }
    return outs;
  }

  /**
   * MMCls's load hooks: an absolute position embedding of another grid is interpolated, relative
   * position bias tables of another window size are interpolated (their index buffers dropped),
   * and checkpoints older than the stage norms (`norm.*`, `attn_mask`) are converted.
   */
  protected override prepareStateDict(state: Map<string, StateEntry>, prefix: string): void {
    const last = this.numLayers - 1;
    const ownNorm = `${prefix}norm${last}.`;
    for (const key of [...state.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      if (rest.startsWith('norm.') && this.norms.has(last) && !state.has(ownNorm + rest.slice(5))) {
        state.set(ownNorm + rest.slice(5), state.get(key)!);
        state.delete(key);
      } else if (rest.includes('attn_mask')) {
        state.delete(key);
      }
    }
    prepareAbsPosEmbed(state, prefix, this.absolutePosEmbed, this.patchResolution, this.interpolateMode);
    const own = new Map(this.stateDictKeys().map((e) => [prefix + e.key, e.shape]));
    prepareRelativePositionBiasTables(state, own);
  }
}

/** Interpolates a checkpoint's `absolute_pos_embed` of another grid to this model's (MMCls's `_prepare_abs_pos_embed`). */
export function prepareAbsPosEmbed(
  state: Map<string, StateEntry>,
  prefix: string,
  param: Parameter | null,
  grid: [number, number],
  mode: 'bicubic' | 'bilinear' | 'nearest',
): void {
  const name = `${prefix}absolute_pos_embed`;
  const e = state.get(name);
  if (!param || !e || e.shape.join(',') === param.torchShape.join(',')) return;
  const side = Math.floor(Math.sqrt(e.shape[1]));
  const data = e.data instanceof Float32Array ? e.data : Float32Array.from(e.data as ArrayLike<number>, Number);
  const resized = tf.tidy(() => resizePosEmbed(tf.tensor3d(data, e.shape as [number, number, number]), [side, side], grid, mode, 0).dataSync() as Float32Array);
  state.set(name, { data: resized.slice(), shape: [1, grid[0] * grid[1], e.shape[2]], dtype: 'float32' });
}

