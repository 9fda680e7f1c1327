import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { ReLU } from '../../nn/activation';
import { ConvModule, LayerCfg, buildActivationLayer, buildConvLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Pair, pair } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Module, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { AdaptivePadding } from '../../nn/transformer';
import { Feat } from '../types';
import { SELayer } from '../utils/se_layer';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';
import { assignConv, fuseKernelBn, padKernel, torchConvWeight } from './mobileone';

/** Options of {@link RepMLPPatchEmbed}. */
export interface RepMLPPatchEmbedOptions {
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Embedding dimension. @default 768 */
  embed_dims?: number;
  /** Convolution type. @default 'Conv2d' */
  conv_type?: string;
  /** Patch size. @default 16 */
  kernel_size?: Pair;
  /** Patch stride (None: kernel_size). @default None */
  stride?: Pair | null;
  /** 'corner' / 'same' adaptive padding, or a number. @default 'corner' */
  padding?: 'corner' | 'same' | number;
  /** Dilation. @default 1 */
  dilation?: Pair;
  /** Bias of the projection. @default True */
  bias?: boolean;
  /** Norm after the projection. @default None */
  norm_cfg?: LayerCfg | null;
  /** Input size, to compute init_out_size. @default None */
  input_size?: Pair | null;
}

/**
 * RepMLP's patch embedding: MMCV's PatchEmbed (adaptive padding, strided conv `projection`, `norm`)
 * followed by a ReLU, keeping the feature map (NHWC) instead of flattening it to tokens.
 */
export class RepMLPPatchEmbed extends Layer {
  readonly adaptivePadding: AdaptivePadding | null;
  readonly projection: Conv2d;
  readonly norm: Layer | null;
  readonly relu: ReLU;
  readonly initOutSize: [number, number] | null;

  constructor(o: RepMLPPatchEmbedOptions = {}) {
    super();
    const embed = o.embed_dims ?? 768;
    const kernel = o.kernel_size ?? 16;
    const stride = o.stride ?? kernel;
    const dilation = o.dilation ?? 1;
    const padding = o.padding ?? 'corner';
    this.adaptivePadding =
      typeof padding === 'string' ? this.addModule('adaptive_padding', new AdaptivePadding({ kernel_size: kernel, stride, dilation, padding })) : null;
    this.projection = this.addModule(
      'projection',
      buildConvLayer(o.conv_type ? { type: o.conv_type } : null, {
        in_channels: o.in_channels ?? 3,
        out_channels: embed,
        kernel_size: kernel,
        stride,
        padding: typeof padding === 'string' ? 0 : padding,
        dilation,
        bias: o.bias ?? true,
      }),
    );
    this.norm = o.norm_cfg ? this.addModule('norm', buildNormLayer(o.norm_cfg, embed)[1]) : null;
    this.relu = this.addModule('relu', new ReLU());
    if (o.input_size !== undefined && o.input_size !== null) {
      let [h, w] = pair(o.input_size);
      if (this.adaptivePadding) {
        const [ph, pw] = this.adaptivePadding.padShape(h, w);
        h += ph;
        w += pw;
      }
      this.initOutSize = this.projection.outputSize(h, w);
    } else {
      this.initOutSize = null;
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (this.adaptivePadding) x = this.adaptivePadding.forward(x);
    x = this.projection.forward(x);
    if (this.norm) x = this.norm.forward(x);
    return this.relu.forward(x);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    if (this.adaptivePadding) x = this.adaptivePadding.inferShape(x, ctx);
    x = this.projection.inferShape(x, ctx);
    if (this.norm) x = this.norm.inferShape(x, ctx);
    return this.relu.inferShape(x, ctx);
  }
}

/** Options of {@link RepMLPBlock}. */
export interface RepMLPBlockOptions {
  /** Input (and output) channels. */
  channels: number;
  /** Height of the partitions. */
  path_h: number;
  /** Width of the partitions. */
  path_w: number;
  /** Kernels of the local-perceptron conv branches (None: none). @default None */
  reparam_conv_kernels?: number[] | null;
  /** Reduction ratio of the global perceptron. @default 4 */
  globalperceptron_ratio?: number;
  /** Number of share-sets of the partition perceptron (groups of fc3). @default 1 */
  num_sharesets?: number;
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config of fc3_bn. @default dict(type='BN', requires_grad=True) */
  norm_cfg?: LayerCfg;
  /** Build the re-parameterised form (fc3 with bias, no BN, no conv branches). @default False */
  deploy?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * RepMLP block: a global perceptron (SE-style channel weights `gp`), a partition perceptron (`fc3`, a
 * grouped 1x1 conv over flattened patches, then `fc3_bn`) and a local perceptron (conv-BN branches
 * `repconv{k}` on each patch) whose sum is re-weighted by the channel weights. `localInject` folds
 * the BNs and the conv branches into fc3 (MMCls's `local_inject`).
 */
export class RepMLPBlock extends Layer {
  deploy: boolean;
  readonly channels: number;
  readonly numSharesets: number;
  readonly pathH: number;
  readonly pathW: number;
  readonly pathVecChannels: number;
  readonly convCfg: LayerCfg | null;
  readonly normCfg: LayerCfg;
  readonly gp: SELayer;
  fc3: Conv2d;
  fc3Bn: Layer;
  reparamConvKernels: number[] | null;
  private repconvs: [number, ConvModule][] = [];

  constructor(o: RepMLPBlockOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    this.deploy = o.deploy ?? false;
    this.channels = o.channels;
    this.numSharesets = o.num_sharesets ?? 1;
    this.pathH = o.path_h;
    this.pathW = o.path_w;
    this.pathVecChannels = o.path_h * o.path_w * this.numSharesets;
    this.convCfg = o.conv_cfg ?? null;
    this.normCfg = o.norm_cfg ?? { type: 'BN', requires_grad: true };
    if (this.channels % this.numSharesets !== 0) {
      throw new MmclsError(`RepMLPBlock: channels (${this.channels}) must be divisible by num_sharesets (${this.numSharesets})`, { code: 'model.bad-argument' });
    }
    this.gp = this.addModule(
      'gp',
      new SELayer({ channels: this.channels, ratio: o.globalperceptron_ratio ?? 4, return_weight: true, act_cfg: [{ type: 'ReLU' }, { type: 'Sigmoid' }] }),
    );
    this.fc3 = this.addModule('fc3', this.buildFc3(this.deploy));
    this.fc3Bn = this.addModule('fc3_bn', this.deploy ? new Identity() : buildNormLayer(this.normCfg, this.numSharesets)[1]);
    this.reparamConvKernels = o.reparam_conv_kernels ? [...o.reparam_conv_kernels] : null;
    if (!this.deploy && this.reparamConvKernels) {
      for (const k of this.reparamConvKernels) {
        const branch = new ConvModule({
          in_channels: this.numSharesets,
          out_channels: this.numSharesets,
          kernel_size: k,
          stride: 1,
          padding: Math.floor(k / 2),
          norm_cfg: { type: 'BN', requires_grad: true },
          groups: this.numSharesets,
          act_cfg: null,
        });
        this.repconvs.push([k, this.addModule(`repconv${k}`, branch)]);
      }
    }
  }

  private buildFc3(bias: boolean): Conv2d {
    return buildConvLayer(this.convCfg, {
      in_channels: this.pathVecChannels,
      out_channels: this.pathVecChannels,
      kernel_size: 1,
      stride: 1,
      padding: 0,
      bias,
      groups: this.numSharesets,
    });
  }

  private parts(h: number, w: number): [number, number] {
    if (h % this.pathH !== 0 || w % this.pathW !== 0) {
      throw new MmclsError(`RepMLPBlock: the ${h}x${w} feature map does not split into ${this.pathH}x${this.pathW} partitions`, { code: 'model.shape' });
    }
    return [h / this.pathH, w / this.pathW];
  }

  forward(inputs: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const globalVec = this.gp.forward(inputs);
      const [n, h, w, c] = inputs.shape as [number, number, number, number];
      const [hp, wp] = this.parts(h, w);
      const s = this.numSharesets;
      const g = c / s;
      const ph = this.pathH;
      const pw = this.pathW;
      // [N*hp, ph, wp, pw, G, S] -> [N*hp, wp, G, ph, pw, S]: one row per (n, hp, wp, channel group).
      const parts = tf.reshape(tf.transpose(tf.reshape(inputs, [n * hp, ph, wp, pw, g, s]), [0, 2, 4, 1, 3, 5]), [-1, ph, pw, s]);
      const rows = parts.shape[0];
      // Partition perceptron: the flattened (S, ph, pw) vector of each row through fc3.
      const fcIn = tf.reshape(tf.transpose(parts, [0, 3, 1, 2]), [rows, 1, 1, this.pathVecChannels]);
      let out = tf.transpose(tf.reshape(this.fc3.forward(fcIn), [rows, s, ph, pw]), [0, 2, 3, 1]);
      out = this.fc3Bn.forward(out);
      // Local perceptron.
      if (this.reparamConvKernels && !this.deploy && this.repconvs.length) {
        out = tf.addN([out, ...this.repconvs.map(([, b]) => b.forward(parts))]);
      }
      const back = tf.reshape(tf.transpose(tf.reshape(out, [n * hp, wp, g, ph, pw, s]), [0, 3, 1, 4, 2, 5]), [n, h, w, c]);
      return tf.mul(back, globalVec);
    });
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const shape = asShape(x, 'RepMLPBlock');
    const [n, c, h, w] = shape;
    this.gp.inferShape(shape, ctx);
    const [hp, wp] = this.parts(h, w);
    const rows = (n * hp * wp * c) / this.numSharesets;
    this.fc3.inferShape([rows, this.pathVecChannels, 1, 1], ctx);
    this.fc3Bn.inferShape([rows, this.numSharesets, this.pathH, this.pathW], ctx);
    if (this.reparamConvKernels && !this.deploy) {
      for (const [, b] of this.repconvs) b.inferShape([rows, this.numSharesets, this.pathH, this.pathW], ctx);
    }
    return [n, c, h, w];
  }

  /** The fc3 weight (PyTorch layout [P, P/S, 1, 1]) and bias equivalent to fc3, fc3_bn and the conv branches. */
  getEquivalentFc3(): [tf.Tensor4D, tf.Tensor1D] {
    if (this.deploy) throw new MmclsError('RepMLPBlock: already in deploy mode', { code: 'model.bad-argument' });
    return tf.tidy(() => {
      const pp = this.pathH * this.pathW;
      const [fw, fb] = fuseRepeated(torchConvWeight(this.fc3), this.fc3Bn);
      if (!this.reparamConvKernels || !this.repconvs.length) return [fw, fb];
      const largest = Math.max(...this.reparamConvKernels);
      const kernels: tf.Tensor4D[] = [];
      const biases: tf.Tensor1D[] = [];
      for (const [k, b] of this.repconvs) {
        const [kw, kb] = fuseKernelBn(torchConvWeight(b.conv), b.norm!);
        kernels.push(padKernel(kw, (largest - k) / 2));
        biases.push(kb);
      }
      const total = tf.addN(kernels) as tf.Tensor4D; // [S, 1, k, k]
      const totalBias = tf.addN(biases) as tf.Tensor1D;
      // conv -> fc: convolve one-hot patches; out[i, o, s] is output o of channel s for input position i.
      const eye = tf.tile(tf.reshape(tf.eye(pp), [pp, this.pathH, this.pathW, 1]), [1, 1, 1, this.numSharesets]) as tf.Tensor4D;
      const dw = tf.transpose(total, [2, 3, 0, 1]) as tf.Tensor4D; // [k, k, S, 1]
      const p = Math.floor(largest / 2);
      const resp = tf.depthwiseConv2d(tf.pad(eye, [[0, 0], [p, p], [p, p], [0, 0]]), dw, 1, 'valid', 'NHWC');
      const repW = tf.reshape(tf.transpose(tf.reshape(resp, [pp, pp, this.numSharesets]), [2, 1, 0]), fw.shape);
      const repB = repeatInterleave(totalBias, pp);
      return [tf.add(fw, repW) as tf.Tensor4D, tf.add(fb, repB) as tf.Tensor1D];
    });
  }

  /** Folds fc3_bn and the conv branches into fc3 (with bias); the block is then in deploy form. */
  localInject(): void {
    if (this.deploy) return;
    const [w, b] = this.getEquivalentFc3();
    for (const [k, m] of this.repconvs) {
      m.dispose();
      this.addModule(`repconv${k}`, null);
    }
    this.repconvs = [];
    this.fc3.dispose();
    this.fc3Bn.dispose();
    const fc3 = this.buildFc3(true);
    assignConv(fc3, w, b);
    tf.dispose([w, b]);
    this.fc3 = this.addModule('fc3', fc3);
    this.fc3Bn = this.addModule('fc3_bn', new Identity());
    this.fc3.train(this.training);
    this.deploy = true;
  }
}

/** Repeats each element `times` times in place (`repeat_interleave`). */
function repeatInterleave(v: tf.Tensor1D, times: number): tf.Tensor1D {
  return tf.reshape(tf.tile(tf.reshape(v, [-1, 1]), [1, times]), [-1]);
}

/** MMCls's `fuse_bn` where the BN has fewer channels than the conv has outputs (each BN channel covers a block of them). */
function fuseRepeated(kernel: tf.Tensor4D, norm: Layer): [tf.Tensor4D, tf.Tensor1D] {
  if (!(norm instanceof _BatchNorm) || !norm.runningMean || !norm.runningVar) {
    throw new MmclsError("Switch is not allowed when norm_cfg['type'] != 'BN' (re-parameterisation folds batch norms with running statistics).", {
      code: 'model.bad-argument',
    });
  }
  return tf.tidy(() => {
    const repeat = kernel.shape[0] / norm.numFeatures;
    const std = tf.sqrt(tf.add(norm.runningVar!.variable, norm.eps));
    const gamma = norm.weight ? norm.weight.variable : tf.onesLike(std);
    const beta = norm.bias ? norm.bias.variable : tf.zerosLike(std);
    const t = tf.div(gamma, std) as tf.Tensor1D;
    const w = tf.mul(kernel, tf.reshape(repeatInterleave(t, repeat), [-1, 1, 1, 1])) as tf.Tensor4D;
    const b = tf.sub(beta, tf.mul(norm.runningMean!.variable, t)) as tf.Tensor1D;
    return [w, repeatInterleave(b, repeat)];
  });
}

/** Options of {@link RepMLPConvFFN}. */
export interface RepMLPConvFFNOptions {
  /** Input channels. */
  in_channels: number;
  /** Hidden channels (None: in_channels). @default None */
  hidden_channels?: number | null;
  /** Output channels (None: in_channels). @default None */
  out_channels?: number | null;
  /** Normalisation config. @default dict(type='BN', requires_grad=True) */
  norm_cfg?: LayerCfg;
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
}

/** RepMLP's ConvFFN (MMCls's class name): 1x1 conv-BN (`ffn_fc1`), activation, 1x1 conv-BN (`ffn_fc2`). */
export class RepMLPConvFFN extends Layer {
  readonly ffnFc1: ConvModule;
  readonly ffnFc2: ConvModule;
  readonly act: Layer;

  constructor(o: RepMLPConvFFNOptions) {
    super();
    const out = o.out_channels || o.in_channels;
    const hidden = o.hidden_channels || o.in_channels;
    const norm = o.norm_cfg ?? { type: 'BN', requires_grad: true };
    this.ffnFc1 = this.addModule('ffn_fc1', new ConvModule({ in_channels: o.in_channels, out_channels: hidden, kernel_size: 1, stride: 1, padding: 0, norm_cfg: norm, act_cfg: null }));
    this.ffnFc2 = this.addModule('ffn_fc2', new ConvModule({ in_channels: hidden, out_channels: out, kernel_size: 1, stride: 1, padding: 0, norm_cfg: norm, act_cfg: null }));
    this.act = this.addModule('act', buildActivationLayer(o.act_cfg ?? { type: 'GELU' }));
  }

  /** MMCls names this class ConvFFN (models/backbones/repmlp.py). */
  override get typeName(): string {
    return 'ConvFFN';
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.ffnFc2.forward(this.act.forward(this.ffnFc1.forward(x)));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.ffnFc2.inferShape(this.act.inferShape(this.ffnFc1.inferShape(x, ctx), ctx), ctx);
  }
}

/** Options of {@link RepMLPNetUnit}. */
export interface RepMLPNetUnitOptions {
  /** Input (and output) channels. */
  channels: number;
  /** Height of the partitions. */
  path_h: number;
  /** Width of the partitions. */
  path_w: number;
  /** Kernels of the local-perceptron conv branches (None: none). */
  reparam_conv_kernels: number[] | null;
  /** Reduction ratio of the global perceptron. */
  globalperceptron_ratio: number;
  /** Normalisation config. @default dict(type='BN', requires_grad=True) */
  norm_cfg?: LayerCfg;
  /** Expansion of the ConvFFN. @default 4 */
  ffn_expand?: number;
  /** Number of share-sets of the partition perceptron. @default 1 */
  num_sharesets?: number;
  /** Build the re-parameterised form. @default False */
  deploy?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** One RepMLPNet unit: x + RepMLPBlock(BN(x)), then y + ConvFFN(BN(y)). */
export class RepMLPNetUnit extends Layer {
  readonly repmlpBlock: RepMLPBlock;
  readonly ffnBlock: RepMLPConvFFN;
  readonly norm1: Layer;
  readonly norm2: Layer;

  constructor(o: RepMLPNetUnitOptions) {
    super();
    this.initCfg = o.init_cfg ?? null;
    const norm = o.norm_cfg ?? { type: 'BN', requires_grad: true };
    this.repmlpBlock = this.addModule(
      'repmlp_block',
      new RepMLPBlock({
        channels: o.channels,
        path_h: o.path_h,
        path_w: o.path_w,
        reparam_conv_kernels: o.reparam_conv_kernels,
        globalperceptron_ratio: o.globalperceptron_ratio,
        num_sharesets: o.num_sharesets ?? 1,
        deploy: o.deploy ?? false,
      }),
    );
    this.ffnBlock = this.addModule('ffn_block', new RepMLPConvFFN({ in_channels: o.channels, hidden_channels: o.channels * (o.ffn_expand ?? 4) }));
    this.norm1 = this.addModule('norm1', buildNormLayer(norm, o.channels)[1]);
    this.norm2 = this.addModule('norm2', buildNormLayer(norm, o.channels)[1]);
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = tf.add(x, this.repmlpBlock.forward(this.norm1.forward(x)));
    return tf.add(y, this.ffnBlock.forward(this.norm2.forward(y)));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const y = this.repmlpBlock.inferShape(this.norm1.inferShape(x, ctx), ctx);
    this.ffnBlock.inferShape(this.norm2.inferShape(y, ctx), ctx);
    return y;
  }
}

/** A RepMLPNet architecture. */
export interface RepMLPNetArch {
  /** Channels of each stage. */
  channels: number[];
  /** Units in each stage. */
  depths: number[];
  /** Share-sets of the partition perceptron in each stage. */
  sharesets_nums: number[];
}

const REPMLP_B: RepMLPNetArch = { channels: [96, 192, 384, 768], depths: [2, 2, 12, 2], sharesets_nums: [1, 4, 32, 128] };
export const REPMLP_ARCHS: Record<string, RepMLPNetArch> = { b: REPMLP_B, base: REPMLP_B };

/** Options of {@link RepMLPNet}. */
export interface RepMLPNetOptions {
  /** Architecture: 'b' / 'base' (case-insensitive), or a dict with channels, depths and sharesets_nums. */
  arch: string | RepMLPNetArch;
  /** Input image size (the network only accepts this size). @default 224 */
  img_size?: Pair;
  /** Input channels. @default 3 */
  in_channels?: number;
  /** Patch size of the patch embedding. @default 4 */
  patch_size?: Pair;
  /** Stages whose outputs are returned. @default (3, ) */
  out_indices?: number[] | number;
  /** Kernels of the local-perceptron conv branches (None: none). @default (3, ) */
  reparam_conv_kernels?: number[] | null;
  /** Reduction ratio of the global perceptron. @default 4 */
  globalperceptron_ratio?: number;
  /** Convolution config of the downsample layers. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config. @default dict(type='BN', requires_grad=True) */
  norm_cfg?: LayerCfg;
  /** Extra patch-embedding config. @default dict() */
  patch_cfg?: Partial<RepMLPPatchEmbedOptions>;
  /** Normalise the last stage's output. @default True */
  final_norm?: boolean;
  /** Build the re-parameterised (deploy) form. @default False */
  deploy?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** RepMLPNet backbone (RepMLP: Re-parameterizing Convolutions into Fully-connected Layers for Image Recognition). */
@MODELS.registerModule()
export class RepMLPNet extends BaseBackbone {
  readonly archSettings: RepMLPNetArch;
  readonly imgSize: [number, number];
  readonly patchSize: [number, number];
  readonly numStage: number;
  readonly outIndice: number[];
  readonly patchEmbed: RepMLPPatchEmbed;
  readonly patchResolution: [number, number];
  readonly stages: ModuleList<Sequential>;
  readonly downsampleLayers: ModuleList<ConvModule>;
  readonly finalNorm: Layer;
  /** Whether the blocks are in the re-parameterised form. */
  deploy: boolean;

  constructor(o: RepMLPNetOptions) {
    super(o.init_cfg ?? null);
    if (typeof o.arch === 'string') {
      const a = REPMLP_ARCHS[o.arch.toLowerCase()];
      if (!a) throw new MmclsError(`Arch ${o.arch} is not in default archs {${Object.keys(REPMLP_ARCHS).join(', ')}}`, { code: 'model.bad-argument' });
      this.archSettings = a;
    } else {
      const keys = o.arch && typeof o.arch === 'object' ? Object.keys(o.arch).sort().join(',') : '';
      if (keys !== 'channels,depths,sharesets_nums') {
        throw new MmclsError("Custom arch needs a dict with keys {'channels', 'depths', 'sharesets_nums'}.", { code: 'model.bad-argument' });
      }
      this.archSettings = o.arch;
    }
    this.deploy = o.deploy ?? false;
    this.imgSize = pair(o.img_size ?? 224);
    this.patchSize = pair(o.patch_size ?? 4);
    const normCfg = o.norm_cfg ?? { type: 'BN', requires_grad: true };
    this.numStage = this.archSettings.channels.length;
    for (const v of Object.values(this.archSettings)) {
      if (!Array.isArray(v) || v.length !== this.numStage) {
        throw new MmclsError('Length of setting item in arch dict must be type of list and have the same length.', { code: 'model.bad-argument' });
      }
    }
    const { channels, depths, sharesets_nums: sharesets } = this.archSettings;
    this.patchEmbed = this.addModule(
      'patch_embed',
      new RepMLPPatchEmbed({
        in_channels: o.in_channels ?? 3,
        input_size: this.imgSize,
        embed_dims: channels[0],
        conv_type: 'Conv2d',
        kernel_size: this.patchSize,
        stride: this.patchSize,
        norm_cfg: normCfg,
        bias: false,
        ...(o.patch_cfg ?? {}),
      }),
    );
    this.patchResolution = this.patchEmbed.initOutSize!;
    const kernels = o.reparam_conv_kernels === undefined ? [3] : o.reparam_conv_kernels;
    this.stages = this.addModule('stages', new ModuleList<Sequential>());
    this.downsampleLayers = this.addModule('downsample_layers', new ModuleList<ConvModule>());
    for (let i = 0; i < this.numStage; i++) {
      const units: RepMLPNetUnit[] = [];
      for (let j = 0; j < depths[i]; j++) {
        units.push(
          new RepMLPNetUnit({
            channels: channels[i],
            path_h: Math.floor(this.patchResolution[0] / 2 ** i),
            path_w: Math.floor(this.patchResolution[1] / 2 ** i),
            reparam_conv_kernels: kernels,
            globalperceptron_ratio: o.globalperceptron_ratio ?? 4,
            norm_cfg: normCfg,
            ffn_expand: 4,
            num_sharesets: sharesets[i],
            deploy: o.deploy ?? false,
          }),
        );
      }
      this.stages.push(new Sequential(...units));
      if (i < this.numStage - 1) {
        this.downsampleLayers.push(
          new ConvModule({
            in_channels: channels[i],
            out_channels: channels[i + 1],
            kernel_size: 2,
            stride: 2,
            padding: 0,
            conv_cfg: o.conv_cfg ?? null,
            norm_cfg: normCfg,
            inplace: true,
          }),
        );
      }
    }
    const oi = o.out_indices ?? [3];
    this.outIndice = typeof oi === 'number' ? [oi] : [...oi];
    this.finalNorm = this.addModule('final_norm', o.final_norm ?? true ? buildNormLayer(normCfg, channels[this.numStage - 1])[1] : new Identity());
  }

  private checkSize(h: number, w: number): void {
    if (h !== this.imgSize[0] || w !== this.imgSize[1]) {
      throw new MmclsError(`The Rep-MLP doesn't support dynamic input shape. Please input images with shape ${this.imgSize.join('x')} (got ${h}x${w})`, {
        code: 'model.shape',
      });
    }
  }

  forward(x: tf.Tensor): Feat[] {
    this.checkSize(x.shape[1]!, x.shape[2]!);
    const outs: Feat[] = [];
    x = this.patchEmbed.forward(x);
    for (let i = 0; i < this.numStage; i++) {
      x = this.stages.at(i).forward(x);
      if (i < this.numStage - 1) x = this.downsampleLayers.at(i).forward(x);
      if (this.outIndice.includes(i)) outs.push(i === this.numStage - 1 ? this.finalNorm.forward(x) : x);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const s = asShape(x, 'RepMLPNet');
    this.checkSize(s[2], s[3]);
    const outs: ShapeValue[] = [];
    x = this.patchEmbed.inferShape(s, ctx);
    for (let i = 0; i < this.numStage; i++) {
      x = shapeInList(this.stages, this.stages.at(i), x, ctx);
      if (i < this.numStage - 1) x = shapeInList(this.downsampleLayers, this.downsampleLayers.at(i), x, ctx);
      if (this.outIndice.includes(i)) outs.push(i === this.numStage - 1 ? this.finalNorm.inferShape(x, ctx) : x);
    }
    return outs;
  }

  /** Re-parameterises every RepMLP block (MMCls's `switch_to_deploy`): the same outputs in eval mode. */
  switchToDeploy(): void {
    this.apply((m: Module) => {
      if (m instanceof RepMLPBlock) m.localInject();
    });
    this.deploy = true;
  }

  /** MMCls's name for {@link switchToDeploy}. */
  switch_to_deploy(): void {
    this.switchToDeploy();
  }
}
