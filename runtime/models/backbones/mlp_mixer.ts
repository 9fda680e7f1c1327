import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { LayerCfg, buildNormLayer } from '../../nn/builders';
import { Linear, Pair, pair } from '../../nn/conv';
import { Layer, ModuleList } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { FFN, PatchEmbed, PatchEmbedOptions } from '../../nn/transformer';
import { initialize } from '../../nn/init';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/** Options of {@link MixerBlock}. */
export interface MixerBlockOptions {
  /** Number of patch tokens. */
  num_tokens: number;
  /** Feature dimension. */
  embed_dims: number;
  /** Hidden dimension of the token-mixing FFN. */
  tokens_mlp_dims: number;
  /** Hidden dimension of the channel-mixing FFN. */
  channels_mlp_dims: number;
  /** Dropout after the FFN layers. @default 0. */
  drop_rate?: number;
  /** Stochastic depth rate. @default 0. */
  drop_path_rate?: number;
  /** Number of fully connected layers of the FFNs. @default 2 */
  num_fcs?: number;
  /** Activation of the FFNs. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MLP-Mixer block: a token-mixing FFN over the transposed tokens, then a channel-mixing FFN, each after a LayerNorm with a residual. */
export class MixerBlock extends Layer {
  readonly norm1: Layer;
  readonly tokenMix: FFN;
  readonly norm2: Layer;
  readonly channelMix: FFN;

  constructor(o: MixerBlockOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    const normCfg = o.norm_cfg ?? { type: 'LN' };
    const act = o.act_cfg ?? { type: 'GELU' };
    const dropPath = { type: 'DropPath', drop_prob: o.drop_path_rate ?? 0 };
    const [n1, norm1] = buildNormLayer(normCfg, o.embed_dims, 1);
    this.norm1 = this.addModule(n1, norm1);
    this.tokenMix = this.addModule(
      'token_mix',
      new FFN({
        embed_dims: o.num_tokens,
        feedforward_channels: o.tokens_mlp_dims,
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        act_cfg: act,
        add_identity: false,
      }),
    );
    const [n2, norm2] = buildNormLayer(normCfg, o.embed_dims, 2);
    this.norm2 = this.addModule(n2, norm2);
    this.channelMix = this.addModule(
      'channel_mix',
      new FFN({
        embed_dims: o.embed_dims,
        feedforward_channels: o.channels_mlp_dims,
        num_fcs: o.num_fcs ?? 2,
        ffn_drop: o.drop_rate ?? 0,
        dropout_layer: dropPath,
        act_cfg: act,
      }),
    );
  }

  override initWeights(): void {
    const was = this.isInit;
    super.initWeights();
    if (was) return;
    // MMCls: xavier-uniform weights and N(0, 1e-6) biases for the linear layers of both FFNs.
    for (const ffn of [this.tokenMix, this.channelMix]) {
      initialize(ffn, { type: 'Xavier', layer: 'Linear', distribution: 'uniform' });
      ffn.apply((m) => {
        if (m instanceof Linear && m.bias) {
          const b = m.bias;
          tf.tidy(() => b.assign(tf.randomNormal(b.shape, 0, 1e-6)));
        }
      });
    }
  }

  /** x: [B, L, C] tokens. */
  forward(x: tf.Tensor): tf.Tensor {
    const out = tf.transpose(this.norm1.forward(x), [0, 2, 1]);
    x = tf.add(x, tf.transpose(this.tokenMix.forward(out), [0, 2, 1]));
    return this.channelMix.forward(this.norm2.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, l, c] = asShape(this.norm1.inferShape(x, ctx), 'MixerBlock');
    this.tokenMix.inferShape([b, c, l], ctx);
    this.channelMix.inferShape(this.norm2.inferShape(x, ctx), ctx);
    return x;
  }
}

/** embed_dims, num_layers, tokens_mlp_dims and channels_mlp_dims of an MLP-Mixer. */
export type MlpMixerArch = { embed_dims: number; num_layers: number; tokens_mlp_dims: number; channels_mlp_dims: number };

const S: MlpMixerArch = { embed_dims: 512, num_layers: 8, tokens_mlp_dims: 256, channels_mlp_dims: 2048 };
const B: MlpMixerArch = { embed_dims: 768, num_layers: 12, tokens_mlp_dims: 384, channels_mlp_dims: 3072 };
const L: MlpMixerArch = { embed_dims: 1024, num_layers: 24, tokens_mlp_dims: 512, channels_mlp_dims: 4096 };
const ARCH_ZOO: Record<string, MlpMixerArch> = { s: S, small: S, b: B, base: B, l: L, large: L };

/** Options of {@link MlpMixer}. */
export interface MlpMixerOptions {
  /** Preset ('s', 'small', 'b', 'base', 'l', 'large') or a dict with embed_dims, num_layers, tokens_mlp_dims and channels_mlp_dims. @default 'base' */
  arch?: 's' | 'small' | 'b' | 'base' | 'l' | 'large' | MlpMixerArch;
  /** Input image size (the token count is fixed by it). @default 224 */
  img_size?: Pair;
  /** Patch size of the patch embedding. @default 16 */
  patch_size?: Pair;
  /** Layers whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Dropout after the FFN layers. @default 0. */
  drop_rate?: number;
  /** Stochastic depth rate (the same for every block). @default 0. */
  drop_path_rate?: number;
  /** Normalisation config. @default dict(type='LN') */
  norm_cfg?: LayerCfg;
  /** Activation of the FFNs. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Extra options of the patch embedding. @default dict() */
  patch_cfg?: Partial<PatchEmbedOptions>;
  /** Extra options of each mixer block (one dict for all, or one per block). @default dict() */
  layer_cfgs?: Partial<MixerBlockOptions> | Partial<MixerBlockOptions>[];
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** MLP-Mixer backbone (MLP-Mixer: An all-MLP Architecture for Vision); outputs [N, C, L] token maps ([N, L, C] here). */
@MODELS.registerModule()
export class MlpMixer extends BaseBackbone {
  readonly embedDims: number;
  readonly numLayers: number;
  readonly imgSize: [number, number];
  readonly patchEmbed: PatchEmbed;
  readonly patchResolution: [number, number];
  readonly outIndices: number[];
  readonly layers: ModuleList<MixerBlock>;
  readonly norm1: Layer;

  constructor(options: MlpMixerOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? 'base';
    let arch: MlpMixerArch;
    if (typeof a === 'string') {
      const s = ARCH_ZOO[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs {${Object.keys(ARCH_ZOO).join(', ')}}`, { code: 'model.bad-argument' });
      arch = s;
    } else {
      const keys = ['embed_dims', 'num_layers', 'tokens_mlp_dims', 'channels_mlp_dims'];
      if (!a || typeof a !== 'object' || Object.keys(a).length !== keys.length || !keys.every((k) => k in a)) {
        throw new MmclsError(`Custom arch needs a dict with keys {${keys.join(', ')}}`, { code: 'model.bad-argument' });
      }
      arch = a;
    }
    this.embedDims = arch.embed_dims;
    this.numLayers = arch.num_layers;
    const imgSize = options.img_size ?? 224;
    this.imgSize = pair(imgSize, 'img_size');
    const patch = options.patch_size ?? 16;
    this.patchEmbed = this.addModule(
      'patch_embed',
      new PatchEmbed({ input_size: imgSize, embed_dims: this.embedDims, conv_type: 'Conv2d', kernel_size: patch, stride: patch, ...(options.patch_cfg ?? {}) }),
    );
    this.patchResolution = this.patchEmbed.initOutSize!;
    const numPatches = this.patchResolution[0] * this.patchResolution[1];

    const oi = options.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const j = i < 0 ? this.numLayers + i : i;
      if (j < 0 || j >= this.numLayers) throw new MmclsError(`Invalid out_indices ${i}`, { code: 'model.bad-argument' });
      return j;
    });

    const cfgs = options.layer_cfgs ?? {};
    const layerCfgs = Array.isArray(cfgs) ? cfgs : Array(this.numLayers).fill(cfgs);
    this.layers = this.addModule('layers', new ModuleList<MixerBlock>());
    for (let i = 0; i < this.numLayers; i++) {
      this.layers.push(
        new MixerBlock({
          num_tokens: numPatches,
          embed_dims: this.embedDims,
          tokens_mlp_dims: arch.tokens_mlp_dims,
          channels_mlp_dims: arch.channels_mlp_dims,
          drop_rate: options.drop_rate ?? 0,
          drop_path_rate: options.drop_path_rate ?? 0,
          act_cfg: options.act_cfg ?? { type: 'GELU' },
          norm_cfg: options.norm_cfg ?? { type: 'LN' },
          ...(layerCfgs[i] ?? {}),
        }),
      );
    }
    const [n1, norm1] = buildNormLayer(options.norm_cfg ?? { type: 'LN' }, this.embedDims, 1);
    this.norm1 = this.addModule(n1, norm1);
  }

  private checkSize(h: number, w: number): void {
    if (h !== this.imgSize[0] || w !== this.imgSize[1]) {
      throw new MmclsError(
        `The MLP-Mixer doesn't support dynamic input shape. Please input images with shape (${this.imgSize.join(', ')}), got (${h}, ${w})`,
        { code: 'model.shape' },
      );
    }
  }

  /** Outputs are [N, L, C] here (MMCls's [N, C, L] after its transpose, channels last). */
  forward(x: tf.Tensor): Feat[] {
    this.checkSize(x.shape[1]!, x.shape[2]!);
    let t = this.patchEmbed.forward(x).tokens;
    const outs: Feat[] = [];
    this.layers.toArray().forEach((layer, i) => {
      t = layer.forward(t);
      if (i === this.numLayers - 1) t = this.norm1.forward(t);
      if (this.outIndices.includes(i)) outs.push(t);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = asShape(x, 'MlpMixer');
    this.checkSize(s[2], s[3]);
    let [t] = this.patchEmbed.inferShape(x, ctx) as [number[], number[]];
    const outs: ShapeValue[] = [];
    ctx.enter(this.layers);
    try {
      this.layers.toArray().forEach((layer, i) => {
        t = layer.inferShape(t, ctx) as number[];
        if (i === this.numLayers - 1) {
          ctx.exit(this.layers);
          try {
            t = this.norm1.inferShape(t, ctx) as number[];
          } finally {
            ctx.enter(this.layers);
          }
        }
        if (this.outIndices.includes(i)) outs.push([t[0], t[2], t[1]]);
      });
    } finally {
      ctx.exit(this.layers);
    }
    return outs;
  }
}
