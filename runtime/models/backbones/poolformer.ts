import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath, Dropout } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { AvgPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/** Options of {@link PoolFormerPatchEmbed}. */
export interface PoolFormerPatchEmbedOptions {
  /** Kernel size of the convolution. @default 16 */
  patch_size?: number;
  /** Stride of the convolution. @default 16 */
  stride?: number;
  /** Zero padding of the convolution. @default 0 */
  padding?: number;
  /** Input channels. @default 3 */
  in_chans?: number;
  /** Output channels. @default 768 */
  embed_dim?: number;
}

/** PoolFormer's patch embedding (and down-sampling): one convolution (`proj`), feature maps in and out. */
export class PoolFormerPatchEmbed extends Layer {
  readonly proj: Conv2d;
  readonly norm: Layer;

  constructor(o: PoolFormerPatchEmbedOptions = {}) {
    super();
    const k = o.patch_size ?? 16;
    this.proj = this.addModule(
      'proj',
      new Conv2d({ in_channels: o.in_chans ?? 3, out_channels: o.embed_dim ?? 768, kernel_size: k, stride: o.stride ?? 16, padding: o.padding ?? 0 }),
    );
    this.norm = this.addModule('norm', new Identity());
  }

  /** MMCls names this class PatchEmbed (models/backbones/poolformer.py). */
  override get typeName(): string {
    return 'PatchEmbed';
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.norm.forward(this.proj.forward(x));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.norm.inferShape(this.proj.inferShape(x, ctx), ctx);
  }
}

/** PoolFormer's token mixer: average pooling (stride 1, padding excluded from the average) minus the input. */
export class Pooling extends Layer {
  readonly pool: AvgPool2d;

  constructor(poolSize = 3) {
    super();
    this.pool = this.addModule('pool', new AvgPool2d({ kernel_size: poolSize, stride: 1, padding: Math.floor(poolSize / 2), count_include_pad: false }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.sub(this.pool.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    // The subtraction is element-wise: no FLOPs in MMEngine's counter.
    return this.pool.inferShape(x, ctx);
  }
}

/** PoolFormer's MLP of two 1x1 convolutions (`fc1`, `fc2`) with an activation and dropout. */
export class PoolFormerMlp extends Layer {
  readonly fc1: Conv2d;
  readonly act: Layer;
  readonly fc2: Conv2d;
  readonly drop: Dropout;

  constructor(o: { in_features: number; hidden_features?: number; out_features?: number; act_cfg?: LayerCfg; drop?: number }) {
    super();
    const hidden = o.hidden_features || o.in_features;
    const out = o.out_features || o.in_features;
    this.fc1 = this.addModule('fc1', new Conv2d({ in_channels: o.in_features, out_channels: hidden, kernel_size: 1 }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
    this.fc2 = this.addModule('fc2', new Conv2d({ in_channels: hidden, out_channels: out, kernel_size: 1 }));
    this.drop = this.addModule('drop', new Dropout({ p: o.drop ?? 0 }));
  }

  /** MMCls names this class Mlp. */
  override get typeName(): string {
    return 'Mlp';
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.drop.forward(this.act.forward(this.fc1.forward(x)));
    return this.drop.forward(this.fc2.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = this.act.inferShape(this.fc1.inferShape(x, ctx), ctx);
    y = this.drop.inferShape(y, ctx);
    return this.drop.inferShape(this.fc2.inferShape(y, ctx), ctx);
  }
}

/** Options of {@link PoolFormerBlock}. */
export interface PoolFormerBlockOptions {
  /** Channels of the block. */
  dim: number;
  /** Window of the pooling token mixer. @default 3 */
  pool_size?: number;
  /** Expansion ratio of the MLP. @default 4. */
  mlp_ratio?: number;
  /** Normalisation config. @default dict(type='GN', num_groups=1) */
  norm_cfg?: LayerCfg;
  /** Activation of the MLP. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Dropout rate in the MLP. @default 0. */
  drop?: number;
  /** Stochastic depth rate. @default 0. */
  drop_path?: number;
  /** Initial value of the two layer scales. @default 1e-5 */
  layer_scale_init_value?: number;
}

/**
 * PoolFormer block: x + drop_path(layer_scale_1 * (pool(norm1(x)) - norm1(x))), then
 * x + drop_path(layer_scale_2 * mlp(norm2(x))).
 */
export class PoolFormerBlock extends Layer {
  readonly norm1: Layer;
  readonly tokenMixer: Pooling;
  readonly norm2: Layer;
  readonly mlp: PoolFormerMlp;
  readonly dropPath: Layer;
  readonly layerScale1: Parameter;
  readonly layerScale2: Parameter;

  constructor(o: PoolFormerBlockOptions) {
    super();
    const dim = o.dim;
    const normCfg = o.norm_cfg ?? { type: 'GN', num_groups: 1 };
    const ls = o.layer_scale_init_value ?? 1e-5;
    // PyTorch lists a module's own parameters before its children's in the state dict.
    this.layerScale1 = this.registerParameter('layer_scale_1', lazy([dim], () => tf.fill([dim], ls)))!;
    this.layerScale2 = this.registerParameter('layer_scale_2', lazy([dim], () => tf.fill([dim], ls)))!;
    this.norm1 = this.addModule('norm1', buildNormLayer(normCfg, dim)[1]);
    this.tokenMixer = this.addModule('token_mixer', new Pooling(o.pool_size ?? 3));
    this.norm2 = this.addModule('norm2', buildNormLayer(normCfg, dim)[1]);
    this.mlp = this.addModule('mlp', new PoolFormerMlp({ in_features: dim, hidden_features: Math.trunc(dim * (o.mlp_ratio ?? 4)), act_cfg: o.act_cfg, drop: o.drop ?? 0 }));
    const dpr = o.drop_path ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = tf.add(x, this.dropPath.forward(tf.mul(this.layerScale1.variable, this.tokenMixer.forward(this.norm1.forward(x)))));
    return tf.add(x, this.dropPath.forward(tf.mul(this.layerScale2.variable, this.mlp.forward(this.norm2.forward(x)))));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    this.dropPath.inferShape(this.tokenMixer.inferShape(this.norm1.inferShape(x, ctx), ctx), ctx);
    return this.dropPath.inferShape(this.mlp.inferShape(this.norm2.inferShape(x, ctx), ctx), ctx);
  }
}

/** Blocks, channels, MLP ratios and layer-scale initial value of a PoolFormer. */
export type PoolFormerArch = {
  /** Number of blocks of each stage. */
  layers: number[];
  /** Channels of each stage. */
  embed_dims: number[];
  /** MLP expansion ratio of each stage (default [4, 4, 4, 4]). */
  mlp_ratios?: number[];
  /** Initial value of the layer scales (default 1e-5). */
  layer_scale_init_value?: number;
};

/** The preset names of {@link PoolFormer}. */
export type PoolFormerArchName = 's12' | 's24' | 's36' | 'm36' | 'm48';

const ARCH_SETTINGS: Record<PoolFormerArchName, Required<PoolFormerArch>> = {
  s12: { layers: [2, 2, 6, 2], embed_dims: [64, 128, 320, 512], mlp_ratios: [4, 4, 4, 4], layer_scale_init_value: 1e-5 },
  s24: { layers: [4, 4, 12, 4], embed_dims: [64, 128, 320, 512], mlp_ratios: [4, 4, 4, 4], layer_scale_init_value: 1e-5 },
  s36: { layers: [6, 6, 18, 6], embed_dims: [64, 128, 320, 512], mlp_ratios: [4, 4, 4, 4], layer_scale_init_value: 1e-6 },
  m36: { layers: [6, 6, 18, 6], embed_dims: [96, 192, 384, 768], mlp_ratios: [4, 4, 4, 4], layer_scale_init_value: 1e-6 },
  m48: { layers: [8, 8, 24, 8], embed_dims: [96, 192, 384, 768], mlp_ratios: [4, 4, 4, 4], layer_scale_init_value: 1e-6 },
};

/** Options of {@link PoolFormer}. */
export interface PoolFormerOptions {
  /** Preset ('s12', 's24', 's36', 'm36', 'm48') or a dict with layers, embed_dims (and optionally mlp_ratios, layer_scale_init_value). @default 's12' */
  arch?: PoolFormerArchName | PoolFormerArch;
  /** Window of the pooling token mixer. @default 3 */
  pool_size?: number;
  /** Normalisation config. @default dict(type='GN', num_groups=1) */
  norm_cfg?: LayerCfg;
  /** Activation of the MLPs. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Kernel size of the input patch embedding. @default 7 */
  in_patch_size?: number;
  /** Stride of the input patch embedding. @default 4 */
  in_stride?: number;
  /** Padding of the input patch embedding. @default 2 */
  in_pad?: number;
  /** Kernel size of the down-sampling patch embeddings. @default 3 */
  down_patch_size?: number;
  /** Stride of the down-sampling patch embeddings. @default 2 */
  down_stride?: number;
  /** Padding of the down-sampling patch embeddings. @default 1 */
  down_pad?: number;
  /** Dropout rate in the MLPs. @default 0. */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0. */
  drop_path_rate?: number;
  /** Outputs of `network` to return: 0, 2, 4, 6 are the stages, 1, 3, 5 the down-samplings (negative: 7 + index). @default -1 */
  out_indices?: number | number[];
  /** Number of `network` entries to freeze; the input patch embedding is frozen whenever frozen_stages >= 0, as in MMCls. @default 0 */
  frozen_stages?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** PoolFormer backbone (MetaFormer is Actually What You Need for Vision). */
@MODELS.registerModule()
export class PoolFormer extends BaseBackbone {
  readonly patchEmbed: PoolFormerPatchEmbed;
  readonly network: ModuleList<Layer>;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly embedDims: number[];
  private readonly norms = new Map<number, Layer>();

  constructor(options: PoolFormerOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? 's12';
    let arch: PoolFormerArch;
    if (typeof a === 'string') {
      const s = (ARCH_SETTINGS as Record<string, PoolFormerArch | undefined>)[a];
      if (!s) {
        throw new MmclsError(`Unavailable arch ${JSON.stringify(a)}, please choose from (${Object.keys(ARCH_SETTINGS).join(', ')}) or pass a dict.`, {
          code: 'model.bad-argument',
        });
      }
      arch = s;
    } else {
      if (!a || !Array.isArray(a.layers) || !Array.isArray(a.embed_dims)) {
        throw new MmclsError(`The arch dict must have "layers" and "embed_dims", but got ${JSON.stringify(a)}.`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    const layers = arch.layers;
    const embedDims = arch.embed_dims;
    this.embedDims = [...embedDims];
    const mlpRatios = arch.mlp_ratios ?? [4, 4, 4, 4];
    const ls = arch.layer_scale_init_value ?? 1e-5;
    const normCfg = options.norm_cfg ?? { type: 'GN', num_groups: 1 };
    const actCfg = options.act_cfg ?? { type: 'GELU' };
    const total = layers.reduce((s, d) => s + d, 0);
    const rate = options.drop_path_rate ?? 0;

    this.patchEmbed = this.addModule(
      'patch_embed',
      new PoolFormerPatchEmbed({ patch_size: options.in_patch_size ?? 7, stride: options.in_stride ?? 4, padding: options.in_pad ?? 2, in_chans: 3, embed_dim: embedDims[0] }),
    );
    this.network = this.addModule('network', new ModuleList<Layer>());
    let before = 0;
    for (let i = 0; i < layers.length; i++) {
      const blocks: Layer[] = [];
      for (let j = 0; j < layers[i]; j++) {
        blocks.push(
          new PoolFormerBlock({
            dim: embedDims[i],
            pool_size: options.pool_size ?? 3,
            mlp_ratio: mlpRatios[i],
            norm_cfg: normCfg,
            act_cfg: actCfg,
            drop: options.drop_rate ?? 0,
            // MMCls's basic_blocks: rate * index / (total - 1).
            drop_path: total > 1 ? (rate * (j + before)) / (total - 1) : 0,
            layer_scale_init_value: ls,
          }),
        );
      }
      before += layers[i];
      this.network.push(new Sequential(...blocks));
      if (i >= layers.length - 1) break;
      if (embedDims[i] !== embedDims[i + 1]) {
        this.network.push(
          new PoolFormerPatchEmbed({
            patch_size: options.down_patch_size ?? 3,
            stride: options.down_stride ?? 2,
            padding: options.down_pad ?? 1,
            in_chans: embedDims[i],
            embed_dim: embedDims[i + 1],
          }),
        );
      }
    }

    const oi = options.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const j = i < 0 ? 7 + i : i;
      if (j < 0 || j >= this.network.length) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });
    for (const i of this.outIndices) {
      this.norms.set(i, this.addModule(`norm${i}`, buildNormLayer(normCfg, embedDims[Math.floor((i + 1) / 2)])[1]));
    }
    this.frozenStages = options.frozen_stages ?? 0;
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
    super.train(mode);
    this.freezeStages();
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.patchEmbed.forward(x);
    const outs: Feat[] = [];
    this.network.toArray().forEach((block, idx) => {
      x = block.forward(x);
      const norm = this.norms.get(idx);
      if (norm) outs.push(norm.forward(x));
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'PoolFormer');
    x = this.patchEmbed.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    this.network.toArray().forEach((block, idx) => {
      x = shapeInList(this.network, block, x, ctx);
      const norm = this.norms.get(idx);
      if (norm) outs.push(norm.inferShape(x, ctx));
    });
    return outs;
  }
}
