import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Layer, Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue } from '../../nn/module';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/** `fn(x) + x` (key prefix `fn`). */
export class Residual extends Layer {
  readonly fn: Layer;

  constructor(fn: Layer) {
    super();
    this.fn = this.addModule('fn', fn);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.add(this.fn.forward(x), x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.fn.inferShape(x, ctx);
  }
}

/** A ConvMixer architecture. */
export interface ConvMixerArch {
  /** Channels of the patch embedding (kept through the network). */
  embed_dims: number;
  /** Number of ConvMixer layers. */
  depth: number;
  /** Patch size (kernel and stride of the stem convolution). */
  patch_size: number;
  /** Kernel size of the depth-wise convolutions. */
  kernel_size: number;
}

/** The preset architectures. */
export type ConvMixerArchName = '768/32' | '1024/20' | '1536/20';

export const CONVMIXER_ARCHS: Record<ConvMixerArchName, ConvMixerArch> = {
  '768/32': { embed_dims: 768, depth: 32, patch_size: 7, kernel_size: 7 },
  '1024/20': { embed_dims: 1024, depth: 20, patch_size: 14, kernel_size: 9 },
  '1536/20': { embed_dims: 1536, depth: 20, patch_size: 7, kernel_size: 9 },
};

/** Options of {@link ConvMixer}. */
export interface ConvMixerOptions {
  /** Architecture: '768/32', '1024/20', '1536/20', or a dict with embed_dims, depth, patch_size and kernel_size. @default '768/32' */
  arch?: ConvMixerArchName | ConvMixerArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Normalisation config. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Activation after each convolution (one module shared by all layers). @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Layers whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Number of leading layers to freeze (0: none). @default 0 */
  frozen_stages?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** ConvMixer backbone (Patches Are All You Need?): patch embedding, then depth-wise / point-wise mixing layers. */
@MODELS.registerModule()
export class ConvMixer extends BaseBackbone {
  readonly embedDims: number;
  readonly depth: number;
  readonly patchSize: number;
  readonly kernelSize: number;
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly act: Layer;
  readonly stem: Sequential;
  readonly stages: Sequential;

  constructor(options: ConvMixerOptions = {}) {
    super(options.init_cfg ?? null);
    const archIn = options.arch ?? '768/32';
    let arch: ConvMixerArch;
    if (typeof archIn === 'string') {
      if (!(archIn in CONVMIXER_ARCHS)) {
        throw new MmclsError(`Unavailable arch ${JSON.stringify(archIn)}, please choose from (${Object.keys(CONVMIXER_ARCHS).join(', ')}) or pass a dict.`, { code: 'model.bad-argument' });
      }
      arch = CONVMIXER_ARCHS[archIn as ConvMixerArchName];
    } else {
      const missing = ['embed_dims', 'depth', 'patch_size', 'kernel_size'].filter((key) => !(archIn && key in archIn));
      if (missing.length) throw new MmclsError(`Custom arch needs a dict with keys embed_dims, depth, patch_size, kernel_size (missing ${missing.join(', ')})`, { code: 'model.bad-argument' });
      arch = archIn;
    }
    this.embedDims = arch.embed_dims;
    this.depth = arch.depth;
    this.patchSize = arch.patch_size;
    this.kernelSize = arch.kernel_size;
    // One activation module, registered first and shared by every layer (as in MMCls).
    this.act = this.addModule('act', buildActivationLayer(options.act_cfg ?? { type: 'GELU' }));
    const oi = options.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((idx) => {
      const v = idx < 0 ? this.depth + idx : idx;
      if (v < 0) throw new MmclsError(`Invalid out_indices ${idx}`, { code: 'model.bad-argument' });
      return v;
    });
    this.frozenStages = options.frozen_stages ?? 0;
    const normCfg = options.norm_cfg ?? { type: 'BN' };
    const d = this.embedDims;
    this.stem = this.addModule('stem', new Sequential(
      new Conv2d({ in_channels: options.in_channels ?? 3, out_channels: d, kernel_size: this.patchSize, stride: this.patchSize }),
      this.act,
      buildNormLayer(normCfg, d)[1],
    ));
    const layers: Layer[] = [];
    for (let i = 0; i < this.depth; i++) {
      layers.push(new Sequential(
        new Residual(new Sequential(
          new Conv2d({ in_channels: d, out_channels: d, kernel_size: this.kernelSize, groups: d, padding: 'same' }),
          this.act,
          buildNormLayer(normCfg, d)[1],
        )),
        new Conv2d({ in_channels: d, out_channels: d, kernel_size: 1 }),
        this.act,
        buildNormLayer(normCfg, d)[1],
      ));
    }
    this.stages = this.addModule('stages', new Sequential(...layers));
    this.train(true);
  }

  private freezeStages(): void {
    for (let i = 0; i < this.frozenStages; i++) {
      const stage = this.stages.at(i);
      stage.eval();
      stage.requiresGrad(false);
    }
  }

  override train(mode = true): this {
    super.train(mode);
    this.freezeStages();
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    x = this.stem.forward(x);
    const outs: Feat[] = [];
    this.stages.items().forEach((stage, i) => {
      x = stage.forward(x);
      if (this.outIndices.includes(i)) outs.push(x);
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    x = this.stem.inferShape(x, ctx);
    const outs: ShapeValue[] = [];
    ctx.enter(this.stages);
    try {
      this.stages.items().forEach((stage, i) => {
        x = stage.inferShape(x, ctx);
        if (this.outIndices.includes(i)) outs.push(x);
      });
    } finally {
      ctx.exit(this.stages);
    }
    return outs;
  }
}
