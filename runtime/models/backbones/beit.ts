import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { Dropout } from '../../nn/activation';
import { LayerCfg, buildDropout, buildNormLayer } from '../../nn/builders';
import { Linear, Pair, pair } from '../../nn/conv';
import { Layer, ModuleList } from '../../nn/layer';
import { Buffer, InitCfg, Module, Parameter, ShapeContext, ShapeValue, StateEntry, asShape, lazy } from '../../nn/module';
import { FFN, PatchEmbed, resizePosEmbed, upsampleFlops } from '../../nn/transformer';
import { initParameter, initialize } from '../../nn/init';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';
import { resolveArch } from './deit3';
import { resizeRelativePositionBiasTable } from '../utils/window_msa';
import { ARCH_ZOO, ArchSetting, preparePosEmbed } from './vision_transformer';

/**
 * BEiT's relative position index for a `wh` x `ww` patch grid: entry [i, j] picks the row of the
 * bias table for token i attending to token j. With the class token (index 0) the table has three
 * more rows: cls to token (n - 3), token to cls (n - 2) and cls to cls (n - 1).
 */
export function relativePositionIndex(wh: number, ww: number, withClsToken = true): { index: Int32Array; size: number; numRelativeDistance: number } {
  const numRelativeDistance = (2 * wh - 1) * (2 * ww - 1) + (withClsToken ? 3 : 0);
  const n = wh * ww;
  const extra = withClsToken ? 1 : 0;
  const size = n + extra;
  const index = new Int32Array(size * size);
  for (let i = 0; i < n; i++) {
    const hi = Math.floor(i / ww);
    const wi = i % ww;
    for (let j = 0; j < n; j++) {
      const hj = Math.floor(j / ww);
      const wj = j % ww;
      index[(i + extra) * size + j + extra] = (hi - hj + wh - 1) * (2 * ww - 1) + (wi - wj + ww - 1);
    }
  }
  if (withClsToken) {
    for (let j = 0; j < size; j++) index[j] = numRelativeDistance - 3;
    for (let i = 0; i < size; i++) index[i * size] = numRelativeDistance - 2;
    index[0] = numRelativeDistance - 1;
  }
  return { index, size, numRelativeDistance };
}

/** Looks the bias table [L, heads] up with the index [N, N]: [heads, N, N]. */
function gatherBias(table: tf.Tensor, index: tf.Tensor, size: number): tf.Tensor {
  const heads = table.shape[1]!;
  const flat = tf.gather(table, tf.reshape(index, [-1]));
  return tf.transpose(tf.reshape(flat, [size, size, heads]), [2, 0, 1]);
}

/** Options of {@link RelativePositionBias}. */
export interface RelativePositionBiasOptions {
  /** Patch grid (height, width). */
  window_size: [number, number];
  /** Attention heads. */
  num_heads: number;
  /** Whether the sequence starts with a class token. @default True */
  with_cls_token?: boolean;
}

/** BEiT's relative position bias shared by all layers (`use_shared_rel_pos_bias=True`). */
export class RelativePositionBias extends Module {
  readonly windowSize: [number, number];
  readonly size: number;
  readonly relativePositionBiasTable: Parameter;
  readonly relativePositionIndex: Buffer;

  constructor(o: RelativePositionBiasOptions) {
    super();
    this.windowSize = o.window_size;
    const { index, size, numRelativeDistance } = relativePositionIndex(o.window_size[0], o.window_size[1], o.with_cls_token ?? true);
    this.size = size;
    this.relativePositionBiasTable = this.registerParameter(
      'relative_position_bias_table',
      lazy([numRelativeDistance, o.num_heads], () => tf.zeros([numRelativeDistance, o.num_heads])),
    )!;
    this.relativePositionIndex = this.registerBuffer('relative_position_index', lazy([size, size], () => tf.tensor2d(index, [size, size], 'int32'), 'int32'), 'int64');
  }

  /** The bias [heads, N, N]. */
  forward(): tf.Tensor {
    return gatherBias(this.relativePositionBiasTable.variable, this.relativePositionIndex.variable, this.size);
  }

  protected override forwardShape(_x: ShapeValue, _ctx: ShapeContext): ShapeValue {
    return [this.relativePositionBiasTable.shape[1], this.size, this.size];
  }
}

/** Options of {@link BEiTAttention}. */
export interface BEiTAttentionOptions {
  /** Embedding dimension. */
  embed_dims: number;
  /** Attention heads. */
  num_heads: number;
  /** Patch grid (height, width) the relative position bias is made for; None without it. */
  window_size: [number, number] | null;
  /** A relative position bias table of this layer's own. */
  use_rel_pos_bias: boolean;
  /** 'qv_bias': learnable q and v biases (k has none); True: one qkv bias; False: none. @default 'qv_bias' */
  bias?: 'qv_bias' | boolean;
  /** Scale of q·k (None: head_dims ** -0.5). @default None */
  qk_scale?: number | null;
  /** Dropout on the attention weights. @default 0.0 */
  attn_drop_rate?: number;
  /** Dropout after the output projection. @default 0.0 */
  proj_drop_rate?: number;
}

/** Multi-head self-attention of BEiT: q/v biases and a relative position bias added to q·k. */
export class BEiTAttention extends Module {
  readonly embedDims: number;
  readonly numHeads: number;
  readonly scale: number;
  readonly bias: 'qv_bias' | boolean;
  readonly qBias: Parameter | null;
  readonly vBias: Parameter | null;
  readonly relativePositionBiasTable: Parameter | null;
  readonly relativePositionIndex: Buffer | null;
  readonly windowSize: [number, number] | null;
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;
  private readonly tokens: number;

  constructor(o: BEiTAttentionOptions) {
    super();
    this.embedDims = o.embed_dims;
    this.numHeads = o.num_heads;
    if (this.embedDims % this.numHeads !== 0) {
      throw new MmclsError(`embed_dims ${this.embedDims} is not divisible by num_heads ${this.numHeads}`, { code: 'model.bad-argument' });
    }
    this.scale = o.qk_scale || (this.embedDims / this.numHeads) ** -0.5;
    this.bias = o.bias ?? 'qv_bias';
    const c = this.embedDims;
    if (this.bias === 'qv_bias') {
      this.qBias = this.registerParameter('q_bias', lazy([c], () => tf.zeros([c])))!;
      this.vBias = this.registerParameter('v_bias', lazy([c], () => tf.zeros([c])))!;
    } else {
      this.qBias = null;
      this.vBias = null;
    }
    if (o.use_rel_pos_bias) {
      if (!o.window_size) throw new MmclsError('BEiTAttention: use_rel_pos_bias needs a window_size', { code: 'model.bad-argument' });
      this.windowSize = o.window_size;
      const { index, size, numRelativeDistance } = relativePositionIndex(o.window_size[0], o.window_size[1], true);
      this.tokens = size;
      this.relativePositionBiasTable = this.registerParameter(
        'relative_position_bias_table',
        lazy([numRelativeDistance, this.numHeads], () => tf.zeros([numRelativeDistance, this.numHeads])),
      )!;
      this.relativePositionIndex = this.registerBuffer(
        'relative_position_index',
        lazy([size, size], () => tf.tensor2d(index, [size, size], 'int32'), 'int32'),
        'int64',
      );
    } else {
      this.windowSize = null;
      this.tokens = 0;
      this.relativePositionBiasTable = null;
      this.relativePositionIndex = null;
    }
    this.qkv = this.addModule('qkv', new Linear({ in_features: c, out_features: c * 3, bias: this.bias === true }));
    this.attnDrop = this.addModule('attn_drop', new Dropout({ p: o.attn_drop_rate ?? 0 }));
    this.proj = this.addModule('proj', new Linear({ in_features: c, out_features: c }));
    this.projDrop = this.addModule('proj_drop', new Dropout({ p: o.proj_drop_rate ?? 0 }));
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (this.relativePositionBiasTable) initParameter(this.relativePositionBiasTable, { type: 'TruncNormal', std: 0.02 });
  }

  /** `x` [B, N, C]; `relPosBias` [heads, N, N] from a shared {@link RelativePositionBias}. */
  forward(x: tf.Tensor, relPosBias: tf.Tensor | null = null): tf.Tensor {
    const [b, n, c] = x.shape;
    const h = this.numHeads;
    const d = c / h;
    let qkv = this.qkv.forward(x);
    if (this.qBias && this.vBias) qkv = tf.add(qkv, tf.concat([this.qBias.variable, tf.zeros([c]), this.vBias.variable], 0));
    const parts = tf.transpose(tf.reshape(qkv, [b, n, 3, h, d]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.unstack(parts, 0);
    let attn = tf.matMul(tf.mul(q, this.scale), k, false, true);
    if (this.relativePositionBiasTable && this.relativePositionIndex) {
      if (n !== this.tokens) {
        throw new MmclsError(
          `BEiTAttention: the relative position bias is made for ${this.tokens} tokens (window ${this.windowSize!.join('x')} and the class token), got ${n}; use the img_size the model was built with`,
          { code: 'model.shape' },
        );
      }
      attn = tf.add(attn, gatherBias(this.relativePositionBiasTable.variable, this.relativePositionIndex.variable, this.tokens));
    }
    if (relPosBias) attn = tf.add(attn, relPosBias);
    attn = this.attnDrop.forward(tf.softmax(attn, -1));
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, c]);
    return this.projDrop.forward(this.proj.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, n, c] = asShape(x, 'BEiTAttention');
    this.qkv.inferShape(x, ctx);
    const h = this.numHeads;
    const d = c / h;
    ctx.add('matmul', b * h * n * n * d, b * h * n * n);
    ctx.add('matmul', b * h * n * n * d, b * h * n * d);
    return this.proj.inferShape([b, n, c], ctx);
  }
}

/** Options of {@link BEiTTransformerEncoderLayer}. */
export interface BEiTTransformerEncoderLayerOptions {
  embed_dims: number;
  num_heads: number;
  feedforward_channels: number;
  /** Initial value of gamma_1 / gamma_2 (0 disables them). */
  layer_scale_init_value: number;
  window_size: [number, number] | null;
  use_rel_pos_bias: boolean;
  drop_rate?: number;
  attn_drop_rate?: number;
  drop_path_rate?: number;
  num_fcs?: number;
  bias?: 'qv_bias' | boolean;
  act_cfg?: LayerCfg;
  norm_cfg?: LayerCfg;
}

/** One BEiT layer: x + drop_path(gamma_1 * attn(ln1(x))), then x + drop_path(gamma_2 * ffn(ln2(x))). */
export class BEiTTransformerEncoderLayer extends Module {
  readonly gamma1: Parameter | null;
  readonly gamma2: Parameter | null;
  readonly ln1: Layer;
  readonly attn: BEiTAttention;
  readonly ln2: Layer;
  readonly ffn: FFN;
  readonly dropPath: Layer;

  constructor(o: BEiTTransformerEncoderLayerOptions) {
    super();
    const c = o.embed_dims;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const ls = o.layer_scale_init_value;
    if (ls > 0) {
      this.gamma1 = this.registerParameter('gamma_1', lazy([c], () => tf.fill([c], ls)))!;
      this.gamma2 = this.registerParameter('gamma_2', lazy([c], () => tf.fill([c], ls)))!;
    } else {
      this.gamma1 = null;
      this.gamma2 = null;
    }
    const [n1, norm1] = buildNormLayer(normCfg, c, 1);
    this.ln1 = this.addModule(n1, norm1);
    // As in MMCls, the attention gets no dropout rates (its drop-rate arguments go unused there).
    this.attn = this.addModule(
      'attn',
      new BEiTAttention({ embed_dims: c, num_heads: o.num_heads, window_size: o.window_size, use_rel_pos_bias: o.use_rel_pos_bias, bias: o.bias ?? 'qv_bias' }),
    );
    const [n2, norm2] = buildNormLayer(normCfg, c, 2);
    this.ln2 = this.addModule(n2, norm2);
    const dropPath = { type: 'DropPath', drop_prob: o.drop_path_rate ?? 0 };
    this.ffn = this.addModule(
      'ffn',
      new FFN({
        embed_dims: c,
        feedforward_channels: o.feedforward_channels,
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        act_cfg: o.act_cfg ?? { type: 'GELU' },
        add_identity: false,
      }),
    );
    this.dropPath = this.addModule('drop_path', buildDropout(dropPath));
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    // MMCls's TransformerEncoderLayer: xavier-uniform weights and N(0, 1e-6) biases for the FFN.
    initialize(this.ffn, { type: 'Xavier', layer: 'Linear', distribution: 'uniform' });
    this.ffn.apply((m) => {
      if (m instanceof Linear && m.bias) {
        const bias = m.bias;
        tf.tidy(() => bias.assign(tf.randomNormal(bias.shape, 0, 1e-6)));
      }
    });
  }

  forward(x: tf.Tensor, relPosBias: tf.Tensor | null = null): tf.Tensor {
    let a = this.attn.forward(this.ln1.forward(x), relPosBias);
    if (this.gamma1) a = tf.mul(this.gamma1.variable, a);
    x = tf.add(x, this.dropPath.forward(a));
    let f = this.ffn.forward(this.ln2.forward(x));
    if (this.gamma2) f = tf.mul(this.gamma2.variable, f);
    return tf.add(x, this.dropPath.forward(f));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    this.attn.inferShape(this.ln1.inferShape(x, ctx), ctx);
    this.ffn.inferShape(this.ln2.inferShape(x, ctx), ctx);
    return x;
  }
}

/** Options of {@link BEiT}. */
export interface BEiTOptions {
  /** VisionTransformer preset ('base', 'large', 'eva-giant', ...) or a dict of embed_dims, num_layers, num_heads, feedforward_channels. @default 'base' */
  arch?:
    | 's' | 'small' | 'b' | 'base' | 'l' | 'large' | 'h' | 'huge' | 'eva-g' | 'eva-giant'
    | 'deit-t' | 'deit-tiny' | 'deit-s' | 'deit-small' | 'deit-b' | 'deit-base'
    | ArchSetting;
  /** Input image size the position embeddings are made for. @default 224 */
  img_size?: Pair;
  /** Patch size. @default 16 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Layers whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Dropout after the position embedding and in the FFNs. @default 0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over layers). @default 0 */
  drop_path_rate?: number;
  /** Normalisation config. @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Layer norm (ln1) after the last layer. @default False */
  final_norm?: boolean;
  /** Keep the class token in the sequence. @default True */
  with_cls_token?: boolean;
  /** Average the patch tokens and norm them with ln2 as the patch output. @default True */
  avg_token?: boolean;
  /** Layers to freeze; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Output [patch_token, cls_token] per stage rather than the patch output only. @default False */
  output_cls_token?: boolean;
  /** Absolute position embedding as in ViT (`pos_embed`). @default False */
  use_abs_pos_emb?: boolean;
  /** A relative position bias table in every layer. @default True */
  use_rel_pos_bias?: boolean;
  /** One relative position bias (`rel_pos_bias`) shared by all layers. @default False */
  use_shared_rel_pos_bias?: boolean;
  /** Initial value of the layers' gamma_1 / gamma_2 (0 disables them). @default 0.1 */
  layer_scale_init_value?: number;
  /** Interpolation of the position embedding for other input sizes. @default 'bicubic' */
  interpolate_mode?: 'bicubic' | 'bilinear' | 'nearest';
  /** Extra PatchEmbed options. @default dict() */
  patch_cfg?: { [key: string]: unknown };
  /** Extra options of each layer, e.g. dict(bias=True) for a full qkv bias (one dict for all, or a list). @default dict() */
  layer_cfgs?: { [key: string]: unknown } | { [key: string]: unknown }[];
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** BEiT backbone (BEiT: BERT Pre-Training of Image Transformers); also BEiT v2 and EVA. */
@MODELS.registerModule()
export class BEiT extends BaseBackbone {
  static readonly NUM_EXTRA_TOKENS = 1;
  readonly embedDims: number;
  readonly numLayers: number;
  readonly imgSize: [number, number];
  readonly patchResolution: [number, number];
  readonly withClsToken: boolean;
  readonly outputClsToken: boolean;
  readonly avgToken: boolean;
  readonly finalNorm: boolean;
  readonly frozenStages: number;
  readonly outIndices: number[];
  readonly interpolateMode: 'bicubic' | 'bilinear' | 'nearest';
  readonly useRelPosBias: boolean;
  readonly clsToken: Parameter;
  readonly posEmbed: Parameter | null;
  readonly patchEmbed: PatchEmbed;
  readonly dropAfterPos: Dropout;
  readonly relPosBias: RelativePositionBias | null;
  readonly layers: ModuleList<BEiTTransformerEncoderLayer>;
  readonly ln1: Layer | null;
  readonly ln2: Layer | null;

  constructor(options: BEiTOptions = {}) {
    super(options.init_cfg ?? null);
    const o = options;
    const setting = resolveArch(o.arch ?? 'base', ARCH_ZOO);
    this.embedDims = setting.embed_dims;
    this.numLayers = setting.num_layers;
    this.imgSize = pair(o.img_size ?? 224, 'img_size');
    const normCfg = o.norm_cfg ?? { type: 'LN', eps: 1e-6 };
    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({
        in_channels: o.in_channels ?? 3,
        input_size: this.imgSize,
        embed_dims: this.embedDims,
        conv_type: 'Conv2d',
        kernel_size: o.patch_size ?? 16,
        stride: o.patch_size ?? 16,
        ...(o.patch_cfg ?? {}),
      }),
    );
    this.patchResolution = this.patchEmbed.initOutSize!;
    const numPatches = this.patchResolution[0] * this.patchResolution[1];

    this.withClsToken = o.with_cls_token ?? true;
    this.outputClsToken = o.output_cls_token ?? false;
    if (this.outputClsToken && !this.withClsToken) {
      throw new MmclsError('with_cls_token must be True if set output_cls_token to True', { code: 'model.bad-argument' });
    }
    const c = this.embedDims;
    this.clsToken = this.registerParameter('cls_token', lazy([1, 1, c], () => tf.zeros([1, 1, c])))!;
    this.interpolateMode = o.interpolate_mode ?? 'bicubic';
    const nPos = numPatches + BEiT.NUM_EXTRA_TOKENS;
    this.posEmbed = o.use_abs_pos_emb ?? false ? this.registerParameter('pos_embed', lazy([1, nPos, c], () => tf.zeros([1, nPos, c])))! : null;
    this.dropAfterPos = this.addModule('drop_after_pos', new Dropout({ p: o.drop_rate ?? 0 }));

    this.useRelPosBias = o.use_rel_pos_bias ?? true;
    const shared = o.use_shared_rel_pos_bias ?? false;
    if (this.useRelPosBias && shared) {
      throw new MmclsError('`use_rel_pos_bias` and `use_shared_rel_pos_bias` cannot be set to True at the same time', { code: 'model.bad-argument' });
    }
    if ((this.useRelPosBias || shared) && !this.withClsToken) {
      throw new MmclsError('BEiT: the relative position bias is made for a sequence with the class token; set with_cls_token=True', {
        code: 'model.bad-argument',
      });
    }
    this.relPosBias = shared
      ? this.addModule('rel_pos_bias', new RelativePositionBias({ window_size: this.patchResolution, num_heads: setting.num_heads }))
      : null;

    const outIdx = typeof o.out_indices === 'number' ? [o.out_indices] : [...(o.out_indices ?? [-1])];
    this.outIndices = outIdx.map((i) => {
      const j = i < 0 ? this.numLayers + i : i;
      if (j < 0 || j > this.numLayers) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });

    const dpr = o.drop_path_rate ?? 0;
    const layerCfgs = Array.isArray(o.layer_cfgs) ? o.layer_cfgs : Array(this.numLayers).fill(o.layer_cfgs ?? {});
    this.layers = this.addModule('layers', new ModuleList<BEiTTransformerEncoderLayer>());
    for (let i = 0; i < this.numLayers; i++) {
      this.layers.push(
        new BEiTTransformerEncoderLayer({
          embed_dims: c,
          num_heads: setting.num_heads,
          feedforward_channels: setting.feedforward_channels,
          layer_scale_init_value: o.layer_scale_init_value ?? 0.1,
          window_size: this.patchResolution,
          use_rel_pos_bias: this.useRelPosBias,
          drop_rate: o.drop_rate ?? 0,
          drop_path_rate: this.numLayers > 1 ? (dpr * i) / (this.numLayers - 1) : 0,
          norm_cfg: normCfg,
          ...(layerCfgs[i] ?? {}),
        } as BEiTTransformerEncoderLayerOptions),
      );
    }
    this.frozenStages = o.frozen_stages ?? -1;
    this.finalNorm = o.final_norm ?? false;
    this.ln1 = this.finalNorm ? this.addModule('ln1', buildNormLayer(normCfg, c, 1)[1]) : null;
    this.avgToken = o.avg_token ?? true;
    this.ln2 = this.avgToken ? this.addModule('ln2', buildNormLayer(normCfg, c, 2)[1]) : null;
    if (this.frozenStages > 0) this.freezeStages();
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    if (this.posEmbed && !(this.initCfg && !Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained')) {
      initParameter(this.posEmbed, { type: 'TruncNormal', std: 0.02 });
    }
  }

  /**
   * MMCls's load hooks: a shared `rel_pos_bias` table of a checkpoint is copied into every layer when
   * the layers have their own; relative position bias tables made for another grid are resized (the
   * three class-token rows kept) and their index buffers dropped; `pos_embed` is interpolated.
   */
  protected override prepareStateDict(state: Map<string, StateEntry>, prefix: string): void {
    preparePosEmbed(state, `${prefix}pos_embed`, this.posEmbed, this.patchResolution, this.interpolateMode, BEiT.NUM_EXTRA_TOKENS);
    const sharedKey = `${prefix}rel_pos_bias.relative_position_bias_table`;
    const shared = state.get(sharedKey);
    if (this.useRelPosBias && shared) {
      for (let i = 0; i < this.numLayers; i++) state.set(`${prefix}layers.${i}.attn.relative_position_bias_table`, shared);
      state.delete(sharedKey);
      // The index is rebuilt by every layer.
      state.delete(`${prefix}rel_pos_bias.relative_position_index`);
    }
    for (const { key, shape } of this.stateDictKeys(prefix.replace(/\.$/, ''))) {
      if (!key.endsWith('relative_position_bias_table')) continue;
      const e = state.get(key);
      if (!e || e.shape.length !== 2 || e.shape[0] === shape[0]) continue;
      const [l1, heads] = e.shape;
      const src = Math.floor(Math.sqrt(l1 - 3));
      const dst = Math.floor(Math.sqrt(shape[0] - 3));
      const data = e.data instanceof Float32Array ? e.data : Float32Array.from(e.data as ArrayLike<number>, Number);
      const grid = resizeRelativePositionBiasTable(src, dst, data.subarray(0, (l1 - 3) * heads), heads);
      const out = new Float32Array(grid.length + 3 * heads);
      out.set(grid);
      out.set(data.subarray((l1 - 3) * heads), grid.length);
      state.set(key, { data: out, shape: [dst * dst + 3, heads], dtype: 'float32' });
      state.delete(key.replace('bias_table', 'index'));
    }
  }

  private freezeStages(): void {
    if (this.posEmbed) this.posEmbed.requiresGrad = false;
    this.dropAfterPos.eval();
    this.patchEmbed.eval();
    this.patchEmbed.requiresGrad(false);
    this.clsToken.requiresGrad = false;
    for (let i = 1; i <= this.frozenStages; i++) {
      const m = this.layers.at(i - 1);
      m.eval();
      m.requiresGrad(false);
    }
    if (this.frozenStages === this.numLayers && this.ln1) {
      this.ln1.eval();
      this.ln1.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    super.train(mode);
    if (this.frozenStages > 0) this.freezeStages();
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    const { tokens, size } = this.patchEmbed.forward(x);
    let h = tf.concat([tf.tile(this.clsToken.variable, [b, 1, 1]), tokens], 1);
    if (this.posEmbed) h = tf.add(h, resizePosEmbed(this.posEmbed.variable, this.patchResolution, size, this.interpolateMode, BEiT.NUM_EXTRA_TOKENS));
    h = this.dropAfterPos.forward(h);
    const relPosBias = this.relPosBias ? this.relPosBias.forward() : null;
    if (!this.withClsToken) h = tf.slice(h, [0, 1, 0], [-1, -1, -1]);
    const outs: Feat[] = [];
    const layers = this.layers.toArray();
    layers.forEach((layer, i) => {
      h = layer.forward(h, relPosBias);
      if (i === layers.length - 1 && this.ln1) h = this.ln1.forward(h);
      if (this.outIndices.includes(i)) outs.push(this.formatOutput(h, size));
    });
    return outs;
  }

  private formatOutput(h: tf.Tensor, [ph, pw]: [number, number]): Feat {
    const [b, , c] = h.shape;
    const clsToken = this.withClsToken ? tf.reshape(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [b, c]) : null;
    const patches = this.withClsToken ? tf.slice(h, [0, 1, 0], [-1, -1, -1]) : h;
    const patchToken = this.avgToken ? this.ln2!.forward(tf.mean(patches, 1)) : tf.reshape(patches, [b, ph, pw, c]);
    return this.outputClsToken ? [patchToken, clsToken] : patchToken;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b] = asShape(x, 'BEiT');
    const [tok, size] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    const [ph, pw] = size;
    const c = this.embedDims;
    if (this.posEmbed && (ph !== this.patchResolution[0] || pw !== this.patchResolution[1])) {
      ctx.add(`upsample_${this.interpolateMode}2d`, upsampleFlops(this.interpolateMode, c * ph * pw), 0);
    }
    let h: ShapeValue = [b, tok[1] + (this.withClsToken ? 1 : 0), c];
    h = this.dropAfterPos.inferShape(h, ctx);
    if (this.relPosBias) this.relPosBias.inferShape(null, ctx);
    const outs: ShapeValue[] = [];
    const layers = this.layers.toArray();
    ctx.enter(this.layers);
    try {
      layers.forEach((layer, i) => {
        h = layer.inferShape(h, ctx);
        if (i === layers.length - 1 && this.ln1) {
          ctx.exit(this.layers);
          h = this.ln1.inferShape(h, ctx);
          ctx.enter(this.layers);
        }
        if (this.outIndices.includes(i)) {
          let patch: number[] = [b, c, ph, pw];
          if (this.avgToken) {
            ctx.exit(this.layers);
            patch = this.ln2!.inferShape([b, c], ctx) as number[];
            ctx.enter(this.layers);
          }
          outs.push(this.outputClsToken ? [patch, [b, c]] : patch);
        }
      });
    } finally {
      ctx.exit(this.layers);
    }
    return outs;
  }
}
