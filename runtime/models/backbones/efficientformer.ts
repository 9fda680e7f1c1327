import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath, Dropout } from '../../nn/activation';
import { ConvModule, LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { Buffer, InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { LayerScale } from '../../nn/transformer';
import { Feat } from '../types';
import { Pooling } from './poolformer';
import { BaseBackbone } from './base_backbone';

/** Index of every (query, key) pair into the table of distinct |dy|, |dx| offsets on a resolution x resolution grid. */
export function attentionBiasIdxs(resolution: number): { idxs: Int32Array; numOffsets: number; n: number } {
  const points: [number, number][] = [];
  for (let i = 0; i < resolution; i++) for (let j = 0; j < resolution; j++) points.push([i, j]);
  const offsets = new Map<string, number>();
  const n = points.length;
  const idxs = new Int32Array(n * n);
  let k = 0;
  for (const p1 of points) {
    for (const p2 of points) {
      const key = `${Math.abs(p1[0] - p2[0])},${Math.abs(p1[1] - p2[1])}`;
      if (!offsets.has(key)) offsets.set(key, offsets.size);
      idxs[k++] = offsets.get(key)!;
    }
  }
  return { idxs, numOffsets: offsets.size, n };
}

/** Options of {@link AttentionWithBias}. */
export interface AttentionWithBiasOptions {
  /** The embedding dimension. */
  embed_dims: number;
  /** Parallel attention heads. @default 8 */
  num_heads?: number;
  /** The dimension of q and k. @default 32 */
  key_dim?: number;
  /** The dimension of v is `key_dim * attn_ratio`. @default 4. */
  attn_ratio?: number;
  /** Height and width of the attention bias grid (tokens must number resolution**2). @default 7 */
  resolution?: number;
}

/** Multi-head attention with a learnt bias per head and per |dy|, |dx| offset (`attention_biases` indexed by the integer buffer `attention_bias_idxs`). */
export class AttentionWithBias extends Layer {
  readonly numHeads: number;
  readonly scale: number;
  readonly keyDim: number;
  readonly d: number;
  readonly dh: number;
  readonly n: number;
  readonly attentionBiases: Parameter;
  readonly attentionBiasIdxs: Buffer;
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(o: AttentionWithBiasOptions) {
    super();
    this.numHeads = o.num_heads ?? 8;
    this.keyDim = o.key_dim ?? 32;
    this.scale = this.keyDim ** -0.5;
    const ratio = o.attn_ratio ?? 4;
    this.d = Math.trunc(ratio * this.keyDim);
    this.dh = this.d * this.numHeads;
    const nhKd = this.keyDim * this.numHeads;
    const { idxs, numOffsets, n } = attentionBiasIdxs(o.resolution ?? 7);
    this.n = n;
    const h = this.numHeads;
    this.attentionBiases = this.registerParameter('attention_biases', lazy([h, numOffsets], () => tf.zeros([h, numOffsets])))!;
    this.attentionBiasIdxs = this.registerBuffer('attention_bias_idxs', lazy([n, n], () => tf.tensor2d(idxs, [n, n], 'int32'), 'int32'), 'int64');
    this.qkv = this.addModule('qkv', new Linear({ in_features: o.embed_dims, out_features: this.dh + nhKd * 2 }));
    this.proj = this.addModule('proj', new Linear({ in_features: this.dh, out_features: o.embed_dims }));
  }

  /** The [heads, N, N] bias: attention_biases[:, attention_bias_idxs]. */
  bias(): tf.Tensor {
    return tf.tidy(() => {
      const idx = tf.reshape(this.attentionBiasIdxs.variable, [-1]);
      return tf.reshape(tf.gather(this.attentionBiases.variable, idx, 1), [this.numHeads, this.n, this.n]);
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape;
    if (n !== this.n) {
      throw new MmclsError(`AttentionWithBias: expected ${this.n} tokens (its resolution squared), got ${n}; EfficientFormer needs 224x224 inputs (or a matching resolution).`, {
        code: 'model.shape',
      });
    }
    const h = this.numHeads;
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, h, -1]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(qkv, [this.keyDim, this.keyDim, this.d], -1);
    let attn = tf.add(tf.mul(tf.matMul(q, k, false, true), this.scale), this.bias());
    attn = tf.softmax(attn, -1);
    const y = tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, n, this.dh]);
    return this.proj.forward(y);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const [b, n] = x;
    this.qkv.inferShape(x, ctx);
    const h = this.numHeads;
    // q @ k^T and attn @ v (the bias lookup, the scaling and the softmax have no handle in the counter).
    ctx.add('matmul', b * h * n * n * this.keyDim, b * h * n * n);
    ctx.add('matmul', b * h * n * n * this.d, b * h * n * this.d);
    return this.proj.inferShape([b, n, this.dh], ctx) as number[];
  }
}

/** Flattens a feature map into tokens: PyTorch's (B, C, H, W) to (B, H*W, C); NHWC here, so a reshape. */
export class Flat extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    const [b, h, w, c] = x.shape;
    return tf.reshape(x, [b, h * w, c]);
  }

  protected override shapeOf(x: number[]): number[] {
    const [b, c, h, w] = x;
    return [b, h * w, c];
  }
}

/** EfficientFormer's MLP of two linear layers on tokens (`fc1`, `fc2`). */
export class LinearMlp extends Layer {
  readonly fc1: Linear;
  readonly act: Layer;
  readonly drop1: Dropout;
  readonly fc2: Linear;
  readonly drop2: Dropout;

  constructor(o: { in_features: number; hidden_features?: number; out_features?: number; act_cfg?: LayerCfg; drop?: number }) {
    super();
    const hidden = o.hidden_features || o.in_features;
    const out = o.out_features || o.in_features;
    this.fc1 = this.addModule('fc1', new Linear({ in_features: o.in_features, out_features: hidden }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.drop1 = this.addModule('drop1', new Dropout({ p: o.drop ?? 0 }));
    this.fc2 = this.addModule('fc2', new Linear({ in_features: hidden, out_features: out }));
    this.drop2 = this.addModule('drop2', new Dropout({ p: o.drop ?? 0 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.drop2.forward(this.fc2.forward(this.drop1.forward(this.act.forward(this.fc1.forward(x)))));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    let y = this.fc1.inferShape(x, ctx);
    y = this.act.inferShape(y, ctx);
    return this.fc2.inferShape(y, ctx) as number[];
  }
}

/** EfficientFormer's MLP of two 1x1 convolutions, each followed by a norm (`fc1`, `fc2`, `norm1`, `norm2`). */
export class ConvMlp extends Layer {
  readonly fc1: Conv2d;
  readonly act: Layer;
  readonly fc2: Conv2d;
  readonly norm1: Layer;
  readonly norm2: Layer;
  readonly drop: Dropout;

  constructor(o: { in_features: number; hidden_features?: number; out_features?: number; norm_cfg?: LayerCfg; act_cfg?: LayerCfg; drop?: number }) {
    super();
    const hidden = o.hidden_features || o.in_features;
    const out = o.out_features || o.in_features;
    const normCfg = o.norm_cfg ?? { type: 'BN' };
    this.fc1 = this.addModule('fc1', new Conv2d({ in_channels: o.in_features, out_channels: hidden, kernel_size: 1 }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.fc2 = this.addModule('fc2', new Conv2d({ in_channels: hidden, out_channels: out, kernel_size: 1 }));
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, hidden)[1]);
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, out)[1]);
    this.drop = this.addModule('drop', new Dropout({ p: o.drop ?? 0 }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.drop.forward(this.act.forward(this.norm1.forward(this.fc1.forward(x))));
    return this.drop.forward(this.norm2.forward(this.fc2.forward(y)));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    let y = this.act.inferShape(this.norm1.inferShape(this.fc1.inferShape(x, ctx), ctx), ctx);
    y = this.norm2.inferShape(this.fc2.inferShape(y, ctx), ctx);
    return y as number[];
  }
}

/** Options shared by {@link Meta3D} and {@link Meta4D}. */
export interface MetaBlockOptions {
  /** Channels. */
  dim: number;
  /** Window of the pooling token mixer (Meta4D). @default 3 */
  pool_size?: number;
  /** MLP expansion ratio. @default 4. */
  mlp_ratio?: number;
  /** Norm of the token blocks (Meta3D). @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Activation of the MLP. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Dropout rate. @default 0. */
  drop?: number;
  /** Stochastic depth rate. @default 0. */
  drop_path?: number;
  /** Whether to use the layer scales `ls1`, `ls2`. @default True */
  use_layer_scale?: boolean;
}

/** MetaFormer block on tokens (B, N, C): attention with bias, then a linear MLP, both behind LN and layer scale. */
export class Meta3D extends Layer {
  readonly norm1: Layer;
  readonly tokenMixer: AttentionWithBias;
  readonly norm2: Layer;
  readonly mlp: LinearMlp;
  readonly dropPath: Layer;
  readonly ls1: Layer;
  readonly ls2: Layer;

  constructor(o: MetaBlockOptions) {
    super();
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, o.dim)[1]);
    this.tokenMixer = this.addModule('token_mixer', new AttentionWithBias({ embed_dims: o.dim }));
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, o.dim)[1]);
    this.mlp = this.addModule('mlp', new LinearMlp({ in_features: o.dim, hidden_features: Math.trunc(o.dim * (o.mlp_ratio ?? 4)), act_cfg: o.act_cfg, drop: o.drop }));
    const dpr = o.drop_path ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
    const ls = o.use_layer_scale ?? true;
    this.ls1 = this.addModule('ls1', ls ? new LayerScale({ dim: o.dim }) : new Identity());
    this.ls2 = this.addModule('ls2', ls ? new LayerScale({ dim: o.dim }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = tf.add(x, this.dropPath.forward(this.ls1.forward(this.tokenMixer.forward(this.norm1.forward(x)))));
    return tf.add(x, this.dropPath.forward(this.ls2.forward(this.mlp.forward(this.norm2.forward(x)))));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    this.ls1.inferShape(this.tokenMixer.inferShape(this.norm1.inferShape(x, ctx), ctx), ctx);
    this.ls2.inferShape(this.mlp.inferShape(this.norm2.inferShape(x, ctx), ctx), ctx);
    return x;
  }
}

/** MetaFormer block on feature maps: pooling token mixer, then a 1x1-conv MLP with BN, both behind layer scale. */
export class Meta4D extends Layer {
  readonly tokenMixer: Pooling;
  readonly mlp: ConvMlp;
  readonly dropPath: Layer;
  readonly ls1: Layer;
  readonly ls2: Layer;

  constructor(o: MetaBlockOptions) {
    super();
    this.tokenMixer = this.addModule('token_mixer', new Pooling(o.pool_size ?? 3));
    this.mlp = this.addModule('mlp', new ConvMlp({ in_features: o.dim, hidden_features: Math.trunc(o.dim * (o.mlp_ratio ?? 4)), act_cfg: o.act_cfg, drop: o.drop }));
    const dpr = o.drop_path ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
    const ls = o.use_layer_scale ?? true;
    this.ls1 = this.addModule('ls1', ls ? new LayerScale({ dim: o.dim }) : new Identity());
    this.ls2 = this.addModule('ls2', ls ? new LayerScale({ dim: o.dim }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = tf.add(x, this.dropPath.forward(this.ls1.forward(this.tokenMixer.forward(x))));
    return tf.add(x, this.dropPath.forward(this.ls2.forward(this.mlp.forward(x))));
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    this.ls1.inferShape(this.tokenMixer.inferShape(x, ctx), ctx);
    this.ls2.inferShape(this.mlp.inferShape(x, ctx), ctx);
    return x;
  }
}

/** Blocks, channels, down-samplings and number of attention blocks of an EfficientFormer. */
export type EfficientFormerArch = {
  /** Number of blocks of each stage. */
  layers: number[];
  /** Channels of each stage. */
  embed_dims: number[];
  /** Whether each stage starts with a stride-2 convolution. */
  downsamples: boolean[];
  /** Number of attention (Meta3D) blocks at the end of the last stage. */
  vit_num: number;
};

/** The preset names of {@link EfficientFormer}. */
export type EfficientFormerArchName = 'l1' | 'l3' | 'l7';

const ARCH_SETTINGS: Record<EfficientFormerArchName, EfficientFormerArch> = {
  l1: { layers: [3, 2, 6, 4], embed_dims: [48, 96, 224, 448], downsamples: [false, true, true, true], vit_num: 1 },
  l3: { layers: [4, 4, 12, 6], embed_dims: [64, 128, 320, 512], downsamples: [false, true, true, true], vit_num: 4 },
  l7: { layers: [6, 6, 18, 8], embed_dims: [96, 192, 384, 768], downsamples: [false, true, true, true], vit_num: 8 },
};

/** Options of {@link EfficientFormer}. */
export interface EfficientFormerOptions {
  /** Preset ('l1', 'l3', 'l7') or a dict with exactly layers, embed_dims, downsamples, vit_num. @default 'l1' */
  arch?: EfficientFormerArchName | EfficientFormerArch;
  /** Number of input channels. @default 3 */
  in_channels?: number;
  /** Window of the pooling token mixers. @default 3 */
  pool_size?: number;
  /** MLP expansion ratio of the attention (Meta3D) blocks; the pooling blocks keep 4, as in MMCls. @default 4 */
  mlp_ratios?: number;
  /** Reshape the last stage's tokens back to a feature map (B, C, H, W) before its norm (downstream tasks). @default False */
  reshape_last_feat?: boolean;
  /** Stages to output (negative: 4 + index). @default -1 */
  out_indices?: number | number[];
  /** Stages to freeze (the stem too from 0); -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Activation of the MLPs. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Dropout rate. @default 0. */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0. */
  drop_path_rate?: number;
  /** Whether the blocks use layer scales. @default True */
  use_layer_scale?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * EfficientFormer backbone (EfficientFormer: Vision Transformers at MobileNet Speed). Without
 * `reshape_last_feat`, the last stage's output is a token sequence (B, C, N) in PyTorch's layout
 * ([B, N, C] tensors here), to be pooled by GlobalAveragePooling(dim=1).
 */
@MODELS.registerModule()
export class EfficientFormer extends BaseBackbone {
  readonly patchEmbed: Sequential;
  readonly network: ModuleList<Sequential>;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly embedDims: number[];
  readonly downsamples: boolean[];
  readonly vitNum: number;
  readonly reshapeLastFeat: boolean;
  private readonly norms = new Map<number, Layer>();

  constructor(options: EfficientFormerOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? 'l1';
    let arch: EfficientFormerArch;
    if (typeof a === 'string') {
      const s = (ARCH_SETTINGS as Record<string, EfficientFormerArch | undefined>)[a];
      if (!s) {
        throw new MmclsError(`Unavailable arch ${JSON.stringify(a)}, please choose from (${Object.keys(ARCH_SETTINGS).join(', ')}) or pass a dict.`, {
          code: 'model.bad-argument',
        });
      }
      arch = s;
    } else {
      const keys = a && typeof a === 'object' ? Object.keys(a).sort() : [];
      if (keys.join(',') !== 'downsamples,embed_dims,layers,vit_num') {
        throw new MmclsError(`The arch dict must have {layers, embed_dims, downsamples, vit_num}, but got ${JSON.stringify(keys)}.`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    const { layers, embed_dims: embedDims, downsamples, vit_num: vitNum } = arch;
    if (!Array.isArray(layers) || !Array.isArray(embedDims) || !Array.isArray(downsamples) || layers.length !== embedDims.length || layers.length !== downsamples.length) {
      throw new MmclsError('EfficientFormer: layers, embed_dims and downsamples must be lists of the same length.', { code: 'model.bad-argument' });
    }
    if (!(vitNum >= 0) || vitNum > layers[layers.length - 1]) {
      throw new MmclsError(`EfficientFormer: vit_num must be between 0 and the last stage's number of layers, got ${vitNum}.`, { code: 'model.bad-argument' });
    }
    this.embedDims = [...embedDims];
    this.downsamples = [...downsamples];
    this.vitNum = vitNum;
    this.reshapeLastFeat = options.reshape_last_feat ?? false;
    const inCh = options.in_channels ?? 3;
    const actCfg = options.act_cfg ?? { type: 'GELU' };
    const ls = options.use_layer_scale ?? true;
    const rate = options.drop_path_rate ?? 0;
    const total = layers.reduce((s, d) => s + d, 0);

    const stem = embedDims[0];
    this.patchEmbed = this.addModule(
      'patch_embed',
      new Sequential(
        new ConvModule({ in_channels: inCh, out_channels: Math.floor(stem / 2), kernel_size: 3, stride: 2, padding: 1, bias: true, norm_cfg: { type: 'BN' } }),
        new ConvModule({ in_channels: Math.floor(stem / 2), out_channels: stem, kernel_size: 3, stride: 2, padding: 1, bias: true, norm_cfg: { type: 'BN' } }),
      ),
    );

    this.network = this.addModule('network', new ModuleList<Sequential>());
    let before = 0;
    for (let i = 0; i < layers.length; i++) {
      const cin = i !== 0 ? embedDims[i - 1] : embedDims[i];
      const cout = embedDims[i];
      const blocks: Layer[] = [];
      if (downsamples[i]) {
        blocks.push(new ConvModule({ in_channels: cin, out_channels: cout, kernel_size: 3, stride: 2, padding: 1, bias: true, norm_cfg: { type: 'BN' }, act_cfg: null }));
      }
      if (i === 3 && vitNum === layers[i]) blocks.push(new Flat());
      for (let j = 0; j < layers[i]; j++) {
        const common = {
          dim: cout,
          act_cfg: actCfg,
          drop: options.drop_rate ?? 0,
          drop_path: total > 1 ? (rate * (j + before)) / (total - 1) : 0,
          use_layer_scale: ls,
        };
        if (i === 3 && layers[i] - j <= vitNum) {
          blocks.push(new Meta3D({ ...common, mlp_ratio: options.mlp_ratios ?? 4 }));
        } else {
          // MMCls passes no mlp_ratio to Meta4D: it keeps its default of 4.
          blocks.push(new Meta4D({ ...common, pool_size: options.pool_size ?? 3 }));
          if (i === 3 && layers[i] - j - 1 === vitNum) blocks.push(new Flat());
        }
      }
      before += layers[i];
      this.network.push(new Sequential(...blocks));
    }

    const oi = options.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const j = i < 0 ? 4 + i : i;
      if (j < 0 || j >= layers.length) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });
    for (const i of this.outIndices) {
      const cfg = !this.reshapeLastFeat && i === 3 && vitNum > 0 ? { type: 'LN' } : { type: 'GN', num_groups: 1 };
      this.norms.set(i, this.addModule(`norm${i}`, buildNormLayer(cfg, embedDims[i])[1]));
    }
    this.frozenStages = options.frozen_stages ?? -1;
    this.freezeStages();
  }

  private freezeStages(): void {
    if (this.frozenStages >= 0) {
      this.patchEmbed.eval();
      this.patchEmbed.requiresGrad(false);
    }
    for (let i = 0; i < this.frozenStages && i < this.network.length; i++) {
      const m = this.network.at(i);
      m.eval();
      m.requiresGrad(false);
      const norm = this.norms.get(i);
      if (norm) {
        norm.eval();
        norm.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => this.freezeStages());
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.patchEmbed.forward(x);
    const outs: Feat[] = [];
    const last = this.network.length - 1;
    this.network.toArray().forEach((block, idx) => {
      let [n, h, w] = x.shape;
      if (idx === last && this.downsamples[idx]) {
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
      x = block.forward(x);
      const norm = this.norms.get(idx);
      if (!norm) return;
      if (idx === last && x.rank === 3 && this.reshapeLastFeat) {
        outs.push(norm.forward(tf.reshape(x, [n, h, w, -1])));
      } else {
        // A token output stays [B, N, C] here: PyTorch's permuted (B, C, N).
        outs.push(norm.forward(x));
      }
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'EfficientFormer');
    x = this.patchEmbed.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    const last = this.network.length - 1;
    this.network.toArray().forEach((block, idx) => {
      let [n, , h, w] = x as number[];
      if (idx === last && this.downsamples[idx]) {
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
      x = block.inferShape(x, ctx);
      const norm = this.norms.get(idx);
      if (!norm) return;
      const s = x as number[];
      if (idx === last && s.length === 3) {
        if (this.reshapeLastFeat) outs.push(norm.inferShape([n, s[2], h, w], ctx));
        else {
          const o = norm.inferShape(s, ctx) as number[];
          outs.push([o[0], o[2], o[1]]);
        }
      } else outs.push(norm.inferShape(s, ctx));
    });
    return outs;
  }
}
