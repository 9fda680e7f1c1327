import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { LayerCfg } from '../../nn/builders';
import { Pair } from '../../nn/conv';
import { InitCfg } from '../../nn/module';
import { resizePosEmbed } from '../../nn/transformer';
import { Feat } from '../types';
import { ArchSetting, VisionTransformer, VisionTransformerOptions } from './vision_transformer';

/** DeiT3's arch presets (its 'small'/'medium' differ from VisionTransformer's). */
export const DEIT3_ARCH_ZOO: Record<string, ArchSetting> = {};
for (const [names, s] of [
  [['s', 'small'], { embed_dims: 384, num_layers: 12, num_heads: 6, feedforward_channels: 1536 }],
  [['m', 'medium'], { embed_dims: 512, num_layers: 12, num_heads: 8, feedforward_channels: 2048 }],
  [['b', 'base'], { embed_dims: 768, num_layers: 12, num_heads: 12, feedforward_channels: 3072 }],
  [['l', 'large'], { embed_dims: 1024, num_layers: 24, num_heads: 16, feedforward_channels: 4096 }],
  [['h', 'huge'], { embed_dims: 1280, num_layers: 32, num_heads: 16, feedforward_channels: 5120 }],
] as [string[], ArchSetting][]) {
  for (const n of names) DEIT3_ARCH_ZOO[n] = s;
}

/** Resolves an arch name or dict against a preset table, with MMCls's messages. */
export function resolveArch(arch: string | ArchSetting, zoo: Record<string, ArchSetting>): ArchSetting {
  if (typeof arch === 'string') {
    const s = zoo[arch.toLowerCase()];
    if (!s) throw new MmclsError(`Arch ${arch} is not in default archs ${Object.keys(zoo).join(', ')}`, { code: 'model.bad-argument' });
    return s;
  }
  for (const k of ['embed_dims', 'num_layers', 'num_heads', 'feedforward_channels']) {
    if (!arch || typeof arch !== 'object' || !(k in arch)) {
      throw new MmclsError(`Custom arch needs a dict with keys embed_dims, num_layers, num_heads, feedforward_channels; ${k} is missing`, {
        code: 'model.bad-argument',
      });
    }
  }
  return arch;
}

/** Options of {@link DeiT3}. */
export interface DeiT3Options {
  /** Preset ('small', 'medium', 'base', 'large', 'huge' and short forms) or a dict of embed_dims, num_layers, num_heads, feedforward_channels. @default 'base' */
  arch?: 's' | 'small' | 'm' | 'medium' | 'b' | 'base' | 'l' | 'large' | 'h' | 'huge' | ArchSetting;
  /** Input image size the position embedding is made for. @default 224 */
  img_size?: Pair;
  /** Patch size. @default 16 */
  patch_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Layers whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Dropout after the position embedding and inside the layers. @default 0.0 */
  drop_rate?: number;
  /** Stochastic depth rate (linearly increasing over layers). @default 0.0 */
  drop_path_rate?: number;
  /** Bias of the qkv projections. @default True */
  qkv_bias?: boolean;
  /** Normalisation config. @default dict(type='LN', eps=1e-6) */
  norm_cfg?: LayerCfg;
  /** Layer norm after the last layer. @default True */
  final_norm?: boolean;
  /** Keep the class token in the sequence. @default True */
  with_cls_token?: boolean;
  /** Output [patch_token, cls_token] per stage rather than the patch tokens only. @default True */
  output_cls_token?: boolean;
  /** LayerScale (initial value 1e-5) on the attention and FFN outputs of every layer (`gamma1`, `gamma2`). @default True */
  use_layer_scale?: boolean;
  /** Interpolation of the position embedding for other input sizes. @default 'bicubic' */
  interpolate_mode?: 'bicubic' | 'bilinear' | 'nearest';
  /** Extra PatchEmbed options. @default dict() */
  patch_cfg?: { [key: string]: unknown };
  /** Extra options of each layer (one dict for all, or a list). @default dict() */
  layer_cfgs?: { [key: string]: unknown } | { [key: string]: unknown }[];
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** A layer cfg with DeiT3's `use_layer_scale` written as the shared layer's layer-scale value. */
function layerCfg(c: { [key: string]: unknown }): { [key: string]: unknown } {
  if (!('use_layer_scale' in c)) return c;
  const { use_layer_scale, ...rest } = c;
  return { ...rest, layer_scale_init_value: use_layer_scale ? 1e-5 : 0 };
}

/**
 * DeiT III backbone (DeiT III: Revenge of the ViT): a ViT with LayerScale in every layer whose class
 * token is put before the patches after the position embedding (so `pos_embed` covers the patches only).
 */
@MODELS.registerModule()
export class DeiT3 extends VisionTransformer {
  static override readonly NUM_EXTRA_TOKENS: number = 0;
  readonly useLayerScale: boolean;

  constructor(options: DeiT3Options = {}) {
    const o = options;
    const useLayerScale = o.use_layer_scale ?? true;
    const layerCfgs = Array.isArray(o.layer_cfgs) ? o.layer_cfgs.map(layerCfg) : layerCfg(o.layer_cfgs ?? {});
    const vit: VisionTransformerOptions = {
      arch: resolveArch(o.arch ?? 'base', DEIT3_ARCH_ZOO),
      img_size: o.img_size ?? 224,
      patch_size: o.patch_size ?? 16,
      in_channels: o.in_channels ?? 3,
      out_indices: o.out_indices ?? -1,
      drop_rate: o.drop_rate ?? 0,
      drop_path_rate: o.drop_path_rate ?? 0,
      qkv_bias: o.qkv_bias ?? true,
      norm_cfg: o.norm_cfg ?? { type: 'LN', eps: 1e-6 },
      final_norm: o.final_norm ?? true,
      with_cls_token: o.with_cls_token ?? true,
      output_cls_token: o.output_cls_token ?? true,
      layer_scale_init_value: useLayerScale ? 1e-5 : 0,
      interpolate_mode: o.interpolate_mode ?? 'bicubic',
      patch_cfg: o.patch_cfg ?? {},
      layer_cfgs: layerCfgs,
      init_cfg: o.init_cfg ?? null,
    };
    super(vit);
    this.useLayerScale = useLayerScale;
  }

  override forward(x: tf.Tensor): Feat[] {
    const b = x.shape[0];
    const { tokens, size } = this.patchEmbed.forward(x);
    let h = tf.add(tokens, resizePosEmbed(this.posEmbed.variable, this.patchResolution, size, this.interpolateMode, 0));
    h = this.dropAfterPos.forward(h);
    if (this.withClsToken) h = tf.concat([tf.tile(this.clsToken.variable, [b, 1, 1]), h], 1);
    const outs: Feat[] = [];
    const layers = this.layers.toArray();
    layers.forEach((layer, i) => {
      h = layer.forward(h);
      if (i === layers.length - 1 && this.ln1) h = this.ln1.forward(h);
      if (this.outIndices.includes(i)) outs.push(this.formatOutput(h, size));
    });
    return outs;
  }

  protected override sequenceExtraTokens(): number {
    return this.withClsToken ? 1 : 0;
  }
}
