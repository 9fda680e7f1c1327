import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';
import { MODELS } from '../registry';
import { GELU, HSigmoid, HSwish, LeakyReLU, ReLU, ReLU6, Sigmoid, SiLU, Tanh, Dropout, DropPath } from './activation';
import { Conv2d, Conv2dOptions, Padding2d, Pair } from './conv';
import { Conv2dAdaptivePadding } from './conv2d_adaptive_padding';
import { Identity, Layer } from './layer';
import { ShapeContext, ShapeValue } from './module';
import { BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm, _BatchNorm } from './norm';

/** A layer config such as `norm_cfg=dict(type='BN', requires_grad=True)`. */
export type LayerCfg = { type: string; [key: string]: unknown };

function cfgError(what: string, cfg: unknown, expected: string): MmclsError {
  return new MmclsError(`${what}: unknown type in ${JSON.stringify(cfg)}; expected one of ${expected}`, {
    code: 'model.bad-layer-cfg',
  });
}

/** LayerNorm over the channels of an image (MMCls's `LN2d`); channels are last here, so it is a LayerNorm. */
@MODELS.registerModule('LN2d')
export class LayerNorm2d extends LayerNorm {}

const NORMS: Record<string, { abbr: string; make: (c: number, args: Record<string, unknown>) => Layer }> = {
  BN: { abbr: 'bn', make: (c, a) => new BatchNorm2d({ num_features: c, ...a }) },
  BN2d: { abbr: 'bn', make: (c, a) => new BatchNorm2d({ num_features: c, ...a }) },
  SyncBN: { abbr: 'bn', make: (c, a) => new BatchNorm2d({ num_features: c, ...a }) },
  BN1d: { abbr: 'bn', make: (c, a) => new BatchNorm1d({ num_features: c, ...a }) },
  GN: {
    abbr: 'gn',
    make: (c, a) => {
      if (typeof a.num_groups !== 'number') {
        throw new MmclsError(`norm_cfg GN needs num_groups, got ${JSON.stringify(a)}`, { code: 'model.bad-layer-cfg' });
      }
      return new GroupNorm({ num_channels: c, num_groups: a.num_groups, eps: a.eps as number | undefined, affine: a.affine as boolean | undefined });
    },
  },
  LN: { abbr: 'ln', make: (c, a) => new LayerNorm({ normalized_shape: c, ...a }) },
  LN2d: { abbr: 'ln', make: (c, a) => new LayerNorm2d({ normalized_shape: c, ...a }) },
};

/**
 * MMCV's `build_norm_layer(cfg, num_features, postfix)`: returns the layer and its registration name
 * (`bn1`, `ln`, `gn`, ...); `requires_grad=False` freezes its parameters.
 */
export function buildNormLayer(cfg: LayerCfg, numFeatures: number, postfix: string | number = ''): [string, Layer] {
  const { type, requires_grad, ...args } = cfg;
  const spec = NORMS[type];
  if (!spec) throw cfgError('norm_cfg', cfg, Object.keys(NORMS).join(', '));
  const layer = spec.make(numFeatures, args);
  if (requires_grad === false) layer.requiresGrad(false);
  return [`${spec.abbr}${postfix}`, layer];
}

const ACTS: Record<string, (a: Record<string, unknown>) => Layer> = {
  ReLU: () => new ReLU(),
  ReLU6: () => new ReLU6(),
  LeakyReLU: (a) => new LeakyReLU(a),
  GELU: (a) => new GELU(a),
  Sigmoid: () => new Sigmoid(),
  Tanh: () => new Tanh(),
  SiLU: () => new SiLU(),
  Swish: () => new SiLU(),
  HSwish: () => new HSwish(),
  HSigmoid: (a) => new HSigmoid(a),
};

/** MMCV's `build_activation_layer(cfg)`. */
export function buildActivationLayer(cfg: LayerCfg): Layer {
  const { type, inplace: _inplace, ...args } = cfg;
  const make = ACTS[type];
  if (!make) throw cfgError('act_cfg', cfg, Object.keys(ACTS).join(', '));
  return make(args);
}

/** MMCV's `build_conv_layer(cfg, ...)`: 2-D convolutions (`Conv2d` / `Conv`, `Conv2dAdaptivePadding`). */
export function buildConvLayer(cfg: LayerCfg | null | undefined, options: Conv2dOptions): Conv2d {
  if (cfg && cfg.type === 'Conv2dAdaptivePadding') return new Conv2dAdaptivePadding(options);
  if (cfg && cfg.type !== 'Conv2d' && cfg.type !== 'Conv') throw cfgError('conv_cfg', cfg, 'Conv2d, Conv, Conv2dAdaptivePadding');
  return new Conv2d(options);
}

/** MMCV's `build_dropout(cfg)` (`Dropout` or `DropPath`, with `drop_prob`). */
export function buildDropout(cfg: LayerCfg | null | undefined): Layer {
  if (!cfg) return new Identity();
  const { type, ...args } = cfg;
  if (type === 'DropPath') return new DropPath(args as { drop_prob?: number });
  if (type === 'Dropout') return new Dropout(args as { drop_prob?: number; p?: number });
  throw cfgError('dropout_layer', cfg, 'Dropout, DropPath');
}

/** Options of {@link ConvModule} (MMCV's conv-norm-activation block). */
export interface ConvModuleOptions {
  /** Number of input channels. */
  in_channels: number;
  /** Number of output channels. */
  out_channels: number;
  /** Kernel size. */
  kernel_size: Pair;
  /** Stride. @default 1 */
  stride?: Pair;
  /** Zero padding. @default 0 */
  padding?: Padding2d;
  /** Dilation. @default 1 */
  dilation?: Pair;
  /** Number of groups. @default 1 */
  groups?: number;
  /** Convolution bias; 'auto' means no bias when a norm follows. @default 'auto' */
  bias?: boolean | 'auto';
  /** Convolution config. @default None */
  conv_cfg?: LayerCfg | null;
  /** Normalisation config (None: no norm). @default None */
  norm_cfg?: LayerCfg | null;
  /** Activation config (None: no activation). @default dict(type='ReLU') */
  act_cfg?: LayerCfg | null;
  /** Accepted for compatibility; no effect. @default True */
  inplace?: boolean;
  /** Order of the three layers. @default ('conv', 'norm', 'act') */
  order?: ['conv', 'norm', 'act'] | string[];
}

/** MMCV's `ConvModule`: conv (`conv`), norm (`bn`/`gn`/...), activation (`activate`). */
@MODELS.registerModule()
export class ConvModule extends Layer {
  readonly conv: Conv2d;
  readonly norm: Layer | null;
  readonly normName: string | null;
  readonly activate: Layer | null;
  private readonly order: string[];
  private readonly actCfg: LayerCfg | null;

  constructor(options: ConvModuleOptions) {
    super();
    const normCfg = options.norm_cfg ?? null;
    const actCfg = options.act_cfg === undefined ? { type: 'ReLU' } : options.act_cfg;
    this.actCfg = actCfg;
    this.order = [...(options.order ?? ['conv', 'norm', 'act'])];
    const bias = options.bias ?? 'auto';
    this.conv = this.addModule(
      'conv',
      buildConvLayer(options.conv_cfg, {
        in_channels: options.in_channels,
        out_channels: options.out_channels,
        kernel_size: options.kernel_size,
        stride: options.stride,
        padding: options.padding,
        dilation: options.dilation,
        groups: options.groups,
        bias: bias === 'auto' ? !normCfg : bias,
      }),
    );
    if (normCfg) {
      const normChannels = this.order.indexOf('norm') > this.order.indexOf('conv') ? options.out_channels : options.in_channels;
      const [name, norm] = buildNormLayer(normCfg, normChannels);
      this.normName = name;
      this.norm = this.addModule(name, norm);
    } else {
      this.norm = null;
      this.normName = null;
    }
    this.activate = actCfg ? this.addModule('activate', buildActivationLayer(actCfg)) : null;
  }

  override initWeights(): void {
    if (this.isInit) return;
    // MMCV: unless init_cfg says otherwise, Kaiming (fan_out, normal) for the conv, 1/0 for the norm.
    if (!this.initCfg) {
      const leaky = this.actCfg?.type === 'LeakyReLU';
      const a = leaky ? ((this.actCfg?.negative_slope as number | undefined) ?? 0.01) : 0;
      const w = this.conv.weight;
      tf.tidy(() => {
        const [o, i, kh, kw] = w.torchShape;
        const std = Math.sqrt(2 / (1 + (leaky ? a * a : 0))) / Math.sqrt(o * kh * kw);
        void i;
        w.assign(tf.randomNormal(w.shape, 0, std));
        if (this.conv.bias) this.conv.bias.assign(tf.zerosLike(this.conv.bias.variable));
      });
      if (this.norm instanceof _BatchNorm || this.norm instanceof GroupNorm) {
        const nw = this.norm.weight;
        const nb = this.norm.bias;
        tf.tidy(() => {
          if (nw) nw.assign(tf.onesLike(nw.variable));
          if (nb) nb.assign(tf.zerosLike(nb.variable));
        });
      }
    }
    super.initWeights();
  }

  forward(x: tf.Tensor): tf.Tensor {
    for (const step of this.order) {
      if (step === 'conv') x = this.conv.forward(x);
      else if (step === 'norm' && this.norm) x = this.norm.forward(x);
      else if (step === 'act' && this.activate) x = this.activate.forward(x);
    }
    return x;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    for (const step of this.order) {
      if (step === 'conv') x = this.conv.inferShape(x, ctx);
      else if (step === 'norm' && this.norm) x = this.norm.inferShape(x, ctx);
      else if (step === 'act' && this.activate) x = this.activate.inferShape(x, ctx);
    }
    return x;
  }
}
