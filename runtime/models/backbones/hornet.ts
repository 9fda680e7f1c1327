import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath, GELU } from '../../nn/activation';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy, shapeNumel } from '../../nn/module';
import { LayerScale } from '../../nn/transformer';
import { Feat } from '../types';
import { shapeInList } from '../utils/shape_in_list';
import { BaseBackbone } from './base_backbone';

/**
 * HorNet's LayerNorm over the channels. 'channels_last' is `F.layer_norm` (5 FLOPs per element as
 * MMEngine counts it); 'channels_first' is written out with mean/pow/sqrt in MMCls, which MMEngine's
 * counter does not count. Channels are last here in both cases.
 */
export class HorNetLayerNorm extends Layer {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly eps: number;
  readonly dataFormat: 'channels_last' | 'channels_first';

  constructor(normalizedShape: number, eps = 1e-6, dataFormat: 'channels_last' | 'channels_first' = 'channels_last') {
    super();
    if (dataFormat !== 'channels_last' && dataFormat !== 'channels_first') {
      throw new MmclsError('data_format must be channels_last or channels_first', { code: 'model.bad-argument' });
    }
    this.weight = this.registerParameter('weight', lazy([normalizedShape], () => tf.ones([normalizedShape])))!;
    this.bias = this.registerParameter('bias', lazy([normalizedShape], () => tf.zeros([normalizedShape])))!;
    this.eps = eps;
    this.dataFormat = dataFormat;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const { mean, variance } = tf.moments(x, x.rank - 1, true);
    const xn = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.eps)));
    return tf.add(tf.mul(xn, this.weight.variable), this.bias.variable);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    if (this.dataFormat === 'channels_last') ctx.add('layer_norm', 5 * shapeNumel(x), 0);
    return x;
  }
}

/** Real matrices of a 1-D discrete Fourier transform: cos and sin of 2*pi*j*k/n for j < rows, k < n. */
function dftMatrices(rows: number, n: number, weights?: (j: number) => number): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const c = new Float32Array(rows * n);
  const s = new Float32Array(rows * n);
  for (let j = 0; j < rows; j++) {
    const w = weights ? weights(j) : 1;
    for (let k = 0; k < n; k++) {
      const a = (2 * Math.PI * ((j * k) % n)) / n;
      c[j * n + k] = w * Math.cos(a);
      s[j * n + k] = w * Math.sin(a);
    }
  }
  return { cos: tf.tensor2d(c, [rows, n]), sin: tf.tensor2d(s, [rows, n]) };
}

/** x @ m over the last axis of x. */
function lastMatMul(x: tf.Tensor, m: tf.Tensor2D): tf.Tensor {
  const shape = x.shape;
  const y = tf.matMul(tf.reshape(x, [-1, shape[shape.length - 1]]), m);
  return tf.reshape(y, [...shape.slice(0, -1), m.shape[1]]);
}

/**
 * HorNet's global-local filter: pre-norm, half the channels through a 3x3 depth-wise conv, the other
 * half filtered in the frequency domain (rfft2 with 'ortho' norm, times a learnable complex weight,
 * irfft2), channels interleaved, post-norm. The transforms are written as real DFT matrix products,
 * which TensorFlow.js differentiates everywhere.
 */
export class GlobalLocalFilter extends Layer {
  readonly complexWeight: Parameter;
  readonly dw: Conv2d;
  readonly preNorm: HorNetLayerNorm;
  readonly postNorm: HorNetLayerNorm;
  readonly h: number;
  readonly w: number;

  constructor(dim: number, h = 14, w = 8) {
    super();
    const half = Math.floor(dim / 2);
    this.h = h;
    this.w = w;
    // PyTorch lists a module's own parameters before its children's: complex_weight comes first.
    this.complexWeight = this.registerParameter('complex_weight', lazy([half, h, w, 2], () => tf.mul(tf.randomNormal([half, h, w, 2]), 0.02)))!;
    this.dw = this.addModule('dw', new Conv2d({ in_channels: half, out_channels: half, kernel_size: 3, padding: 1, bias: false, groups: half }));
    this.preNorm = this.addModule('pre_norm', new HorNetLayerNorm(dim, 1e-6, 'channels_first'));
    this.postNorm = this.addModule('post_norm', new HorNetLayerNorm(dim, 1e-6, 'channels_first'));
  }

  /** The complex weight resized to the spectrum's [a, b] (bilinear, align_corners=True) when they differ: [C, a, b, 2]. */
  private weightFor(a: number, b: number): tf.Tensor {
    const wgt = this.complexWeight.variable;
    if (this.h === a && this.w === b) return wgt;
    return tf.image.resizeBilinear(wgt as tf.Tensor4D, [a, b], true);
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = this.preNorm.forward(x);
    const [n, a, b, c2] = x.shape as [number, number, number, number];
    const c = c2 / 2;
    const [x1n, x2n] = tf.split(x, 2, 3);
    const x1 = this.dw.forward(x1n);
    // [N, C, a, b]: the transforms run over the last two axes.
    const x2 = tf.transpose(x2n, [0, 3, 1, 2]);
    const bw = Math.floor(b / 2) + 1;
    const norm = 1 / Math.sqrt(a * b);
    const fb = dftMatrices(bw, b);
    const fa = dftMatrices(a, a);
    // rfft over b: X = sum_k x_k e^{-2 pi i m k / b}.
    const xr = lastMatMul(x2, tf.transpose(fb.cos) as tf.Tensor2D);
    const xi = tf.neg(lastMatMul(x2, tf.transpose(fb.sin) as tf.Tensor2D));
    // fft over a (move a last, matrices are symmetric).
    const tr = tf.transpose(xr, [0, 1, 3, 2]);
    const ti = tf.transpose(xi, [0, 1, 3, 2]);
    const yr = tf.mul(tf.add(lastMatMul(tr, fa.cos), lastMatMul(ti, fa.sin)), norm);
    const yi = tf.mul(tf.sub(lastMatMul(ti, fa.cos), lastMatMul(tr, fa.sin)), norm);
    // Complex weight [C, a, bw, 2] as [C, bw, a] to match [N, C, bw, a].
    const wgt = this.weightFor(a, bw);
    const [wr, wi] = tf.split(wgt, 2, 3).map((t) => tf.transpose(tf.reshape(t, [c, a, bw]), [0, 2, 1]));
    const zr = tf.sub(tf.mul(yr, wr), tf.mul(yi, wi));
    const zi = tf.add(tf.mul(yr, wi), tf.mul(yi, wr));
    // Inverse fft over a.
    const ur = tf.sub(lastMatMul(zr, fa.cos), lastMatMul(zi, fa.sin));
    const ui = tf.add(lastMatMul(zi, fa.cos), lastMatMul(zr, fa.sin));
    // Inverse real fft over b (Hermitian symmetry: the middle bins count twice).
    const weightOf = (m: number): number => (m === 0 || (b % 2 === 0 && m === b / 2) ? 1 : 2);
    const ib = dftMatrices(bw, b, weightOf);
    const vr = tf.transpose(ur, [0, 1, 3, 2]);
    const vi = tf.transpose(ui, [0, 1, 3, 2]);
    const out = tf.mul(tf.sub(lastMatMul(vr, ib.cos), lastMatMul(vi, ib.sin)), norm);
    const y2 = tf.transpose(out, [0, 2, 3, 1]);
    tf.dispose([fb.cos, fb.sin, fa.cos, fa.sin, ib.cos, ib.sin]);
    // torch.cat([x1.unsqueeze(2), x2.unsqueeze(2)], dim=2).reshape(B, 2C, a, b): channels interleaved.
    const y = tf.reshape(tf.stack([x1, y2], 4), [n, a, b, 2 * c]);
    return this.postNorm.forward(y);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [n, c2, a, b] = asShape(this.preNorm.inferShape(x, ctx), 'GlobalLocalFilter');
    this.dw.inferShape([n, c2 / 2, a, b], ctx);
    const bw = Math.floor(b / 2) + 1;
    // rfft2/irfft2 and the complex product have no handle in MMEngine's counter; the weight's
    // bilinear resize (only when the spectrum differs from it) counts 4 per output element.
    if (this.h !== a || this.w !== bw) ctx.add('upsample_bilinear2d', 4 * 2 * (c2 / 2) * a * bw, 0);
    return this.postNorm.inferShape([n, c2, a, b], ctx);
  }
}

/** The spatial mixer of a gnConv: 'DW' (a depth-wise conv with kernel_size) or 'GF' (a {@link GlobalLocalFilter} with h, w). */
export type HorNetDwCfg = { type: 'DW'; kernel_size?: number } | { type: 'GF'; h?: number; w?: number };

/** Recursive gated convolution (g^n conv) of HorNet. */
export class GnConv extends Layer {
  readonly order: number;
  readonly dims: number[];
  readonly projIn: Conv2d;
  readonly dwconv: Layer;
  readonly projOut: Conv2d;
  readonly projs: ModuleList<Conv2d>;
  readonly scale: number;

  constructor(dim: number, order = 5, dwCfg: HorNetDwCfg = { type: 'DW', kernel_size: 7 }, scale = 1.0) {
    super();
    this.order = order;
    this.dims = Array.from({ length: order }, (_, i) => Math.floor(dim / 2 ** i)).reverse();
    const sum = this.dims.reduce((s, d) => s + d, 0);
    this.projIn = this.addModule('proj_in', new Conv2d({ in_channels: dim, out_channels: 2 * dim, kernel_size: 1 }));
    if (dwCfg.type === 'DW') {
      const k = dwCfg.kernel_size ?? 7;
      this.dwconv = this.addModule('dwconv', new Conv2d({ in_channels: sum, out_channels: sum, kernel_size: k, padding: Math.floor((k - 1) / 2), groups: sum }));
    } else if (dwCfg.type === 'GF') {
      this.dwconv = this.addModule('dwconv', new GlobalLocalFilter(sum, dwCfg.h ?? 14, dwCfg.w ?? 8));
    } else {
      throw new MmclsError('dw_type should be `DW` or `GF`', { code: 'model.bad-argument' });
    }
    this.projOut = this.addModule('proj_out', new Conv2d({ in_channels: dim, out_channels: dim, kernel_size: 1 }));
    this.projs = this.addModule('projs', new ModuleList<Conv2d>());
    for (let i = 0; i < order - 1; i++) this.projs.push(new Conv2d({ in_channels: this.dims[i], out_channels: this.dims[i + 1], kernel_size: 1 }));
    this.scale = scale;
  }

  /** MMCls's class name. */
  override get typeName(): string {
    return 'gnConv';
  }

  forward(x: tf.Tensor): tf.Tensor {
    const sum = this.dims.reduce((s, d) => s + d, 0);
    const [y, rest] = tf.split(this.projIn.forward(x), [this.dims[0], sum], 3);
    const dw = tf.mul(this.dwconv.forward(rest), this.scale);
    const dwList = tf.split(dw, this.dims, 3);
    let out = tf.mul(y, dwList[0]);
    for (let i = 0; i < this.order - 1; i++) out = tf.mul(this.projs.at(i).forward(out), dwList[i + 1]);
    return this.projOut.forward(out);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [n, , h, w] = asShape(this.projIn.inferShape(x, ctx), 'gnConv');
    const sum = this.dims.reduce((s, d) => s + d, 0);
    this.dwconv.inferShape([n, sum, h, w], ctx);
    let s: ShapeValue = [n, this.dims[0], h, w];
    for (let i = 0; i < this.order - 1; i++) s = shapeInList(this.projs, this.projs.at(i), s, ctx);
    return this.projOut.inferShape(s, ctx);
  }
}

/** Options of {@link HorNetBlock}. */
export interface HorNetBlockOptions {
  /** Channels. */
  dim: number;
  /** Order of the gnConv. @default 5 */
  order?: number;
  /** Spatial mixer of the gnConv. @default dict(type='DW', kernel_size=7) */
  dw_cfg?: HorNetDwCfg;
  /** Scale of the spatial mixer's output. @default 1.0 */
  scale?: number;
  /** Stochastic depth rate. @default 0. */
  drop_path_rate?: number;
  /** Layer scales (initial value 1e-5) after the gnConv and the MLP. @default True */
  use_layer_scale?: boolean;
}

/** HorNet block: x + gamma1 * gnConv(norm1(x)), then x + gamma2 * MLP(norm2(x)) (as in ConvNeXt). */
export class HorNetBlock extends Layer {
  readonly norm1: HorNetLayerNorm;
  readonly gnconv: GnConv;
  readonly norm2: HorNetLayerNorm;
  readonly pwconv1: Linear;
  readonly act: GELU;
  readonly pwconv2: Linear;
  readonly gamma1: Layer;
  readonly gamma2: Layer;
  readonly dropPath: Layer;

  constructor(o: HorNetBlockOptions) {
    super();
    const dim = o.dim;
    this.norm1 = this.addModule('norm1', new HorNetLayerNorm(dim, 1e-6, 'channels_first'));
    this.gnconv = this.addModule('gnconv', new GnConv(dim, o.order ?? 5, o.dw_cfg ?? { type: 'DW', kernel_size: 7 }, o.scale ?? 1.0));
    this.norm2 = this.addModule('norm2', new HorNetLayerNorm(dim, 1e-6));
    this.pwconv1 = this.addModule('pwconv1', new Linear({ in_features: dim, out_features: 4 * dim }));
    this.act = this.addModule('act', new GELU());
    this.pwconv2 = this.addModule('pwconv2', new Linear({ in_features: 4 * dim, out_features: dim }));
    const ls = o.use_layer_scale ?? true;
    this.gamma1 = this.addModule('gamma1', ls ? new LayerScale({ dim }) : new Identity());
    this.gamma2 = this.addModule('gamma2', ls ? new LayerScale({ dim }) : new Identity());
    const dpr = o.drop_path_rate ?? 0;
    this.dropPath = this.addModule('drop_path', dpr > 0 ? new DropPath({ drop_prob: dpr }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    x = tf.add(x, this.dropPath.forward(this.gamma1.forward(this.gnconv.forward(this.norm1.forward(x)))));
    const y = this.gamma2.forward(this.pwconv2.forward(this.act.forward(this.pwconv1.forward(this.norm2.forward(x)))));
    return tf.add(x, this.dropPath.forward(y));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    this.gnconv.inferShape(this.norm1.inferShape(x, ctx), ctx);
    const [n, c, h, w] = asShape(x, 'HorNetBlock');
    // The MLP runs on (N, H, W, C) after MMCls's permute.
    let y: ShapeValue = this.norm2.inferShape([n, h, w, c], ctx);
    y = this.pwconv2.inferShape(this.act.inferShape(this.pwconv1.inferShape(y, ctx), ctx), ctx);
    this.gamma2.inferShape(y, ctx);
    return x;
  }
}

/** base_dim, depths, orders and dw_cfg of a HorNet. */
export type HorNetArch = { base_dim: number; depths: number[]; orders: number[]; dw_cfg: HorNetDwCfg[] };

const DW: HorNetDwCfg[] = Array(4).fill({ type: 'DW', kernel_size: 7 });
const GF: HorNetDwCfg[] = [{ type: 'DW', kernel_size: 7 }, { type: 'DW', kernel_size: 7 }, { type: 'GF', h: 14, w: 8 }, { type: 'GF', h: 7, w: 4 }];
const GF384: HorNetDwCfg[] = [{ type: 'DW', kernel_size: 7 }, { type: 'DW', kernel_size: 7 }, { type: 'GF', h: 24, w: 12 }, { type: 'GF', h: 13, w: 7 }];
const arch = (base: number, dw: HorNetDwCfg[]): HorNetArch => ({ base_dim: base, depths: [2, 3, 18, 2], orders: [2, 3, 4, 5], dw_cfg: dw });
const ARCH_ZOO: Record<string, HorNetArch> = {};
for (const [names, a] of [
  [['t', 'tiny'], arch(64, DW)],
  [['t-gf', 'tiny-gf'], arch(64, GF)],
  [['s', 'small'], arch(96, DW)],
  [['s-gf', 'small-gf'], arch(96, GF)],
  [['b', 'base'], arch(128, DW)],
  [['b-gf', 'base-gf'], arch(128, GF)],
  [['b-gf384', 'base-gf384'], arch(128, GF384)],
  [['l', 'large'], arch(192, DW)],
  [['l-gf', 'large-gf'], arch(192, GF)],
  [['l-gf384', 'large-gf384'], arch(192, GF384)],
] as [string[], HorNetArch][]) {
  for (const n of names) ARCH_ZOO[n] = a;
}

/** The preset names of {@link HorNet}. */
export type HorNetArchName =
  | 't' | 'tiny' | 't-gf' | 'tiny-gf' | 's' | 'small' | 's-gf' | 'small-gf' | 'b' | 'base' | 'b-gf' | 'base-gf'
  | 'b-gf384' | 'base-gf384' | 'l' | 'large' | 'l-gf' | 'large-gf' | 'l-gf384' | 'large-gf384';

/** Options of {@link HorNet}. */
export interface HorNetOptions {
  /** Preset ('tiny', 'tiny-gf', 'small', 'small-gf', 'base', 'base-gf', 'base-gf384', 'large', 'large-gf', 'large-gf384' or their one-letter forms) or a dict with base_dim, depths, orders and dw_cfg. @default 'tiny' */
  arch?: HorNetArchName | HorNetArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Stochastic depth rate (linearly increasing over blocks). @default 0. */
  drop_path_rate?: number;
  /** Scale of the gnConv spatial mixer's output. @default 1 / 3 */
  scale?: number;
  /** Layer scales in the blocks. @default True */
  use_layer_scale?: boolean;
  /** Stages whose output is returned (negative counts from the end). @default (3, ) */
  out_indices?: number | number[];
  /** Stages (with their down-sampling layers) to freeze, 0 to frozen_stages; -1 freezes nothing. @default -1 */
  frozen_stages?: number;
  /** Gradient checkpointing (no effect here). @default False */
  with_cp?: boolean;
  /** Average over the feature map before the final norm (outputs [N, C]). @default True */
  gap_before_final_norm?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** HorNet backbone (HorNet: Efficient High-Order Spatial Interactions with Recursive Gated Convolutions). */
@MODELS.registerModule()
export class HorNet extends BaseBackbone {
  readonly dims: number[];
  readonly outIndices: number[];
  readonly frozenStages: number;
  readonly gapBeforeFinalNorm: boolean;
  readonly downsampleLayers: ModuleList<Sequential>;
  readonly stages: ModuleList<Sequential>;
  private readonly norms = new Map<number, HorNetLayerNorm>();

  constructor(options: HorNetOptions = {}) {
    super(options.init_cfg ?? null);
    const a = options.arch ?? 'tiny';
    let settings: HorNetArch;
    if (typeof a === 'string') {
      const s = ARCH_ZOO[a.toLowerCase()];
      if (!s) throw new MmclsError(`Arch ${a} is not in default archs {${Object.keys(ARCH_ZOO).join(', ')}}`, { code: 'model.bad-argument' });
      settings = s;
    } else {
      const keys = ['base_dim', 'depths', 'orders', 'dw_cfg'];
      if (!a || typeof a !== 'object' || Object.keys(a).length !== keys.length || !keys.every((k) => k in a)) {
        throw new MmclsError(`Custom arch needs a dict with keys {${keys.join(', ')}}`, { code: 'model.bad-argument' });
      }
      settings = a;
    }
    const scale = options.scale ?? 1 / 3;
    this.frozenStages = options.frozen_stages ?? -1;
    this.gapBeforeFinalNorm = options.gap_before_final_norm ?? true;
    const base = settings.base_dim;
    this.dims = [0, 1, 2, 3].map((i) => 2 ** i * base);
    const dims = this.dims;

    this.downsampleLayers = this.addModule('downsample_layers', new ModuleList<Sequential>());
    this.downsampleLayers.push(
      new Sequential(
        new Conv2d({ in_channels: options.in_channels ?? 3, out_channels: dims[0], kernel_size: 4, stride: 4 }),
        new HorNetLayerNorm(dims[0], 1e-6, 'channels_first'),
      ),
    );
    for (let i = 0; i < 3; i++) {
      this.downsampleLayers.push(
        new Sequential(new HorNetLayerNorm(dims[i], 1e-6, 'channels_first'), new Conv2d({ in_channels: dims[i], out_channels: dims[i + 1], kernel_size: 2, stride: 2 })),
      );
    }
    const total = settings.depths.reduce((s, d) => s + d, 0);
    const rate = options.drop_path_rate ?? 0;
    const dpr = Array.from({ length: total }, (_, i) => (total > 1 ? (rate * i) / (total - 1) : 0));
    this.stages = this.addModule('stages', new ModuleList<Sequential>());
    let cur = 0;
    for (let i = 0; i < 4; i++) {
      const blocks: Layer[] = [];
      for (let j = 0; j < settings.depths[i]; j++) {
        blocks.push(
          new HorNetBlock({
            dim: dims[i],
            order: settings.orders[i],
            dw_cfg: settings.dw_cfg[i],
            scale,
            drop_path_rate: dpr[cur + j],
            use_layer_scale: options.use_layer_scale ?? true,
          }),
        );
      }
      this.stages.push(new Sequential(...blocks));
      cur += settings.depths[i];
    }
    const oi = options.out_indices ?? [3];
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((i) => {
      const j = i < 0 ? this.stages.length + i : i;
      if (!(Number.isInteger(j) && j >= 0 && j < this.stages.length)) throw new MmclsError(`Invalid out_indices ${i}.`, { code: 'model.bad-argument' });
      return j;
    });
    for (const i of this.outIndices) this.norms.set(i, this.addModule(`norm${i}`, new HorNetLayerNorm(dims[i], 1e-6, 'channels_first')));
    this.freezeStages();
  }

  private freezeStages(): void {
    for (let i = 0; i <= this.frozenStages && i < 4; i++) {
      const ms: Layer[] | (Sequential | HorNetLayerNorm)[] = [this.downsampleLayers.at(i), this.stages.at(i)];
      const norm = this.norms.get(i);
      if (norm) ms.push(norm);
      for (const m of ms) {
        m.eval();
        m.requiresGrad(false);
      }
    }
  }

  override train(mode = true): this {
    super.train(mode);
    this.freezeStages();
    return this;
  }

  forward(x: tf.Tensor): Feat[] {
    const outs: Feat[] = [];
    for (let i = 0; i < 4; i++) {
      x = this.stages.at(i).forward(this.downsampleLayers.at(i).forward(x));
      const norm = this.norms.get(i);
      if (norm) {
        if (this.gapBeforeFinalNorm) {
          const gap = tf.mean(x, [1, 2], true);
          outs.push(tf.reshape(norm.forward(gap), [x.shape[0], -1]));
        } else {
          outs.push(norm.forward(x));
        }
      }
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    asShape(x, 'HorNet');
    const outs: ShapeValue[] = [];
    for (let i = 0; i < 4; i++) {
      x = shapeInList(this.downsampleLayers, this.downsampleLayers.at(i), x, ctx);
      x = shapeInList(this.stages, this.stages.at(i), x, ctx);
      const norm = this.norms.get(i);
      if (norm) {
        const [n, c, h, w] = asShape(x, 'HorNet');
        if (this.gapBeforeFinalNorm) {
          norm.inferShape([n, c, 1, 1], ctx);
          outs.push([n, c]);
        } else {
          outs.push(norm.inferShape([n, c, h, w], ctx));
        }
      }
    }
    return outs;
  }
}
