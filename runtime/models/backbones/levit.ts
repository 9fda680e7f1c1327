import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d, Linear } from '../../nn/conv';
import { Identity, Layer, ModuleList } from '../../nn/layer';
import { Buffer, InitCfg, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/** Scale and shift of an eval-mode batch norm: y = x * scale + shift. */
function bnAffine(bn: _BatchNorm): { scale: tf.Tensor; shift: tf.Tensor } {
  return tf.tidy(() => {
    const inv = tf.rsqrt(tf.add(bn.runningVar!.variable, bn.eps));
    const scale = bn.weight ? tf.mul(inv, bn.weight.variable) : inv;
    let shift = tf.neg(tf.mul(bn.runningMean!.variable, scale));
    if (bn.bias) shift = tf.add(shift, bn.bias.variable);
    return { scale, shift };
  });
}

/** A layer that the deploy switch replaces by a fused layer (MMCls's `fuse()`). */
interface Fusable {
  fuse(): Layer;
}
function isFusable(l: Layer): l is Layer & Fusable {
  return typeof (l as Partial<Fusable>).fuse === 'function';
}

/** `nn.Sequential` whose children can be swapped for their fused versions (LeViT's deploy switch). */
export class LeViTSequential extends Layer {
  private layers: Layer[] = [];

  constructor(...layers: (Layer | [string, Layer])[]) {
    super();
    layers.forEach((l, i) => {
      if (Array.isArray(l)) this.layers.push(this.addModule(l[0], l[1]));
      else this.layers.push(this.addModule(String(i), l));
    });
  }

  items(): Layer[] {
    return [...this.layers];
  }

  at(i: number): Layer {
    return this.layers[i < 0 ? this.layers.length + i : i];
  }

  /** Replaces every fusable child by its fused layer (same name), recursing into the others. */
  fuseChildren(): void {
    const names = this.namedChildren().map(([n]) => n);
    this.layers = this.layers.map((l, i) => {
      if (isFusable(l)) {
        const fused = l.fuse();
        this.addModule(names[i], fused);
        return fused;
      }
      fuseParameters(l);
      return l;
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    for (const l of this.layers) x = l.forward(x);
    return x;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    for (const l of this.layers) x = l.inferShape(x, ctx);
    return x;
  }
}

/** MMCls's `fuse_parameters`: fuses conv/linear + batch norm pairs throughout `m`. */
export function fuseParameters(m: Layer | BaseBackbone): void {
  if (m instanceof LeViTSequential) {
    m.fuseChildren();
    return;
  }
  const withFuse = m as { fuseChildren?: () => void };
  if (typeof withFuse.fuseChildren === 'function') {
    withFuse.fuseChildren();
    return;
  }
  for (const [, child] of m.namedChildren()) {
    if (child instanceof Layer || child instanceof ModuleList) fuseParameters(child as Layer);
  }
}

/** Convolution (no bias) + batch norm (`ConvolutionBatchNorm`, keys `conv`, `bn`). */
export class ConvolutionBatchNorm extends Layer implements Fusable {
  readonly conv: Conv2d;
  readonly bn: _BatchNorm;
  constructor(cin: number, cout: number, o: { kernel_size?: number; stride?: number; pad?: number; norm_cfg?: LayerCfg } = {}) {
    super();
    this.conv = this.addModule('conv', new Conv2d({ in_channels: cin, out_channels: cout, kernel_size: o.kernel_size ?? 3, stride: o.stride ?? 2, padding: o.pad ?? 1, bias: false }));
    this.bn = this.addModule('bn', buildNormLayer(o.norm_cfg ?? { type: 'BN' }, cout)[1] as _BatchNorm);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.bn.forward(this.conv.forward(x));
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    return asShape(this.bn.inferShape(this.conv.inferShape(x, ctx), ctx));
  }
  /** The convolution with the batch norm folded in (a bias added). */
  fuse(): Layer {
    const c = this.conv;
    const fused = new Conv2d({ in_channels: c.inChannels, out_channels: c.outChannels, kernel_size: c.kernelSize, stride: c.stride, padding: [c.pad[0], c.pad[1], c.pad[2], c.pad[3]], groups: c.groups, bias: true });
    // Never allocated (a model built in deploy mode): the fused layer keeps its own lazy initialisation.
    if (!c.weight.materialized && !this.bn.runningVar?.materialized) return fused;
    tf.tidy(() => {
      const { scale, shift } = bnAffine(this.bn);
      fused.weight.assign(tf.mul(c.weight.variable, scale));
      fused.bias!.assign(shift);
    });
    return fused;
  }
}

/** Linear (no bias) + BatchNorm1d over the tokens (`LinearBatchNorm`, keys `linear`, `bn`). */
export class LinearBatchNorm extends Layer implements Fusable {
  readonly linear: Linear;
  readonly bn: _BatchNorm;
  constructor(inF: number, outF: number, normCfg: LayerCfg = { type: 'BN1d' }) {
    super();
    this.linear = this.addModule('linear', new Linear({ in_features: inF, out_features: outF, bias: false }));
    this.bn = this.addModule('bn', buildNormLayer(normCfg, outF)[1] as _BatchNorm);
  }
  forward(x: tf.Tensor): tf.Tensor {
    const y = this.linear.forward(x);
    return tf.reshape(this.bn.forward(tf.reshape(y, [-1, y.shape[y.rank - 1]])), y.shape);
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const y = asShape(this.linear.inferShape(x, ctx));
    const c = y[y.length - 1];
    this.bn.inferShape([y.slice(0, -1).reduce((a, b) => a * b, 1), c], ctx);
    return y;
  }
  /** The linear layer with the batch norm folded in (a bias added). */
  fuse(): Layer {
    const fused = new Linear({ in_features: this.linear.inFeatures, out_features: this.linear.outFeatures, bias: true });
    if (!this.linear.weight.materialized && !this.bn.runningVar?.materialized) return fused;
    tf.tidy(() => {
      const { scale, shift } = bnAffine(this.bn);
      fused.weight.assign(tf.mul(this.linear.weight.variable, scale));
      fused.bias!.assign(shift);
    });
    return fused;
  }
}

/** `x + drop_path(block(x))` (keys `block`, `drop_path`). */
export class LeViTResidual extends Layer {
  readonly block: Layer;
  readonly dropPath: Layer;
  constructor(block: Layer, dropPathRate = 0) {
    super();
    this.block = this.addModule('block', block);
    this.dropPath = this.addModule('drop_path', dropPathRate > 0 ? new DropPath({ drop_prob: dropPathRate }) : new Identity());
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.add(x, this.dropPath.forward(this.block.forward(x)));
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    return asShape(this.dropPath.inferShape(this.block.inferShape(x, ctx), ctx));
  }
  fuseChildren(): void {
    fuseParameters(this.block);
  }
}

/** The |dy|, |dx| offset table of LeViT's attention biases (query grid subsampled by `stride`). */
export function levitBiasIdxs(resolution: number, stride = 1): { idxs: Int32Array; numOffsets: number; nq: number; nk: number } {
  const sub = stride === 1 ? resolution : Math.floor((resolution - 1) / stride) + 1;
  const offsets = new Map<string, number>();
  const idxs: number[] = [];
  for (let a = 0; a < sub; a++) {
    for (let b = 0; b < sub; b++) {
      for (let c = 0; c < resolution; c++) {
        for (let d = 0; d < resolution; d++) {
          const key = `${Math.abs(a * stride - c)},${Math.abs(b * stride - d)}`;
          if (!offsets.has(key)) offsets.set(key, offsets.size);
          idxs.push(offsets.get(key)!);
        }
      }
    }
  }
  return { idxs: Int32Array.from(idxs), numOffsets: offsets.size, nq: sub * sub, nk: resolution * resolution };
}

/** Shared parts of LeViT's attention layers: biases per head and offset, and the attention itself. */
abstract class LeViTAttentionBase extends Layer {
  readonly numHeads: number;
  readonly keyDim: number;
  readonly scale: number;
  readonly d: number;
  readonly dh: number;
  readonly nq: number;
  readonly nk: number;
  readonly attentionBiases: Parameter;
  readonly attentionBiasIdxs: Buffer;

  constructor(keyDim: number, numHeads: number, attnRatio: number, resolution: number, stride: number) {
    super();
    this.numHeads = numHeads;
    this.keyDim = keyDim;
    this.scale = keyDim ** -0.5;
    this.d = Math.trunc(attnRatio * keyDim);
    this.dh = this.d * numHeads;
    const { idxs, numOffsets, nq, nk } = levitBiasIdxs(resolution, stride);
    this.nq = nq;
    this.nk = nk;
    this.attentionBiases = this.registerParameter('attention_biases', lazy([numHeads, numOffsets], () => tf.zeros([numHeads, numOffsets])))!;
    this.attentionBiasIdxs = this.registerBuffer('attention_bias_idxs', lazy([nq, nk], () => tf.tensor2d(idxs, [nq, nk], 'int32'), 'int32'), 'int64');
  }

  /** attention_biases[:, attention_bias_idxs]: [heads, Nq, Nk]. */
  bias(): tf.Tensor {
    return tf.reshape(tf.gather(this.attentionBiases.variable, tf.reshape(this.attentionBiasIdxs.variable, [-1]), 1), [this.numHeads, this.nq, this.nk]);
  }

  /** softmax(q kᵀ * scale + bias) v for q [B, H, Nq, kd], k [B, H, Nk, kd], v [B, H, Nk, d] → [B, Nq, H * d]. */
  attend(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor {
    const b = q.shape[0];
    const attn = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), this.scale), this.bias()), -1);
    return tf.reshape(tf.transpose(tf.matMul(attn, v), [0, 2, 1, 3]), [b, this.nq, this.dh]);
  }

  protected countAttention(b: number, ctx: ShapeContext): void {
    // q @ kᵀ and attn @ v (scaling, bias and softmax have no handle in the counter).
    ctx.add('matmul', b * this.numHeads * this.nq * this.nk * this.keyDim, b * this.numHeads * this.nq * this.nk);
    ctx.add('matmul', b * this.numHeads * this.nq * this.nk * this.d, b * this.numHeads * this.nq * this.d);
  }

  protected checkTokens(n: number): void {
    if (n !== this.nk) {
      throw new MmclsError(`LeViT attention expects ${this.nk} tokens (its resolution squared), got ${n}; the input must be img_size x img_size`, { code: 'model.shape' });
    }
  }
}

/** LeViT attention with biases by offset (`Attention`: qkv, proj). */
export class LeViTAttention extends LeViTAttentionBase {
  qkv: Layer;
  readonly proj: LeViTSequential;
  constructor(dim: number, keyDim: number, numHeads: number, attnRatio: number, actCfg: LayerCfg, resolution: number) {
    super(keyDim, numHeads, attnRatio, resolution, 1);
    this.qkv = this.addModule('qkv', new LinearBatchNorm(dim, this.dh + keyDim * numHeads * 2));
    this.proj = this.addModule('proj', new LeViTSequential(buildActivationLayer(actCfg), new LinearBatchNorm(this.dh, dim)));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape;
    this.checkTokens(n);
    const qkv = tf.transpose(tf.reshape(this.qkv.forward(x), [b, n, this.numHeads, -1]), [0, 2, 1, 3]);
    const [q, k, v] = tf.split(qkv, [this.keyDim, this.keyDim, this.d], -1);
    return this.proj.forward(this.attend(q, k, v));
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    this.qkv.inferShape(x, ctx);
    this.countAttention(x[0], ctx);
    return asShape(this.proj.inferShape([x[0], x[1], this.dh], ctx));
  }
  fuseChildren(): void {
    if (isFusable(this.qkv)) this.qkv = this.addModule('qkv', this.qkv.fuse());
    this.proj.fuseChildren();
  }
}

/** Token grid subsampling (`Subsample`): every stride-th row and column. */
export class Subsample extends Layer {
  constructor(readonly stride: number, readonly resolution: number) {
    super();
  }
  forward(x: tf.Tensor): tf.Tensor {
    const [b, , c] = x.shape;
    const r = this.resolution;
    const g = tf.reshape(x, [b, r, r, c]);
    const s = tf.stridedSlice(g, [0, 0, 0, 0], [b, r, r, c], [1, this.stride, this.stride, 1]);
    return tf.reshape(s, [b, -1, c]);
  }
  protected override shapeOf(x: number[]): number[] {
    const sub = Math.floor((this.resolution - 1) / this.stride) + 1;
    return [x[0], sub * sub, x[2]];
  }
}

/** LeViT's shrinking attention (`AttentionSubsample`: kv, q = subsample + projection, proj). */
export class LeViTAttentionSubsample extends LeViTAttentionBase {
  readonly subResolution: number;
  kv: Layer;
  readonly q: LeViTSequential;
  readonly proj: LeViTSequential;
  constructor(inDim: number, outDim: number, keyDim: number, numHeads: number, attnRatio: number, actCfg: LayerCfg, stride: number, resolution: number) {
    super(keyDim, numHeads, attnRatio, resolution, stride);
    this.subResolution = Math.floor((resolution - 1) / stride) + 1;
    this.kv = this.addModule('kv', new LinearBatchNorm(inDim, this.dh + keyDim * numHeads));
    this.q = this.addModule('q', new LeViTSequential(new Subsample(stride, resolution), new LinearBatchNorm(inDim, keyDim * numHeads)));
    this.proj = this.addModule('proj', new LeViTSequential(buildActivationLayer(actCfg), new LinearBatchNorm(this.dh, outDim)));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const [b, n] = x.shape;
    this.checkTokens(n);
    const kv = tf.transpose(tf.reshape(this.kv.forward(x), [b, n, this.numHeads, -1]), [0, 2, 1, 3]);
    const [k, v] = tf.split(kv, [this.keyDim, this.d], -1);
    const q = tf.transpose(tf.reshape(this.q.forward(x), [b, this.nq, this.numHeads, this.keyDim]), [0, 2, 1, 3]);
    return this.proj.forward(this.attend(q, k, v));
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    this.kv.inferShape(x, ctx);
    this.q.inferShape(x, ctx);
    this.countAttention(x[0], ctx);
    return asShape(this.proj.inferShape([x[0], this.nq, this.dh], ctx));
  }
  fuseChildren(): void {
    if (isFusable(this.kv)) this.kv = this.addModule('kv', this.kv.fuse());
    this.q.fuseChildren();
    this.proj.fuseChildren();
  }
}

/** LeViT's MLP (keys `linear1`, `activation`, `linear2`). */
export class LeViTMLP extends Layer {
  linear1: Layer;
  readonly activation: Layer;
  linear2: Layer;
  constructor(dim: number, mlpRatio: number, actCfg: LayerCfg) {
    super();
    const h = dim * mlpRatio;
    this.linear1 = this.addModule('linear1', new LinearBatchNorm(dim, h));
    this.activation = this.addModule('activation', buildActivationLayer(actCfg));
    this.linear2 = this.addModule('linear2', new LinearBatchNorm(h, dim));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.linear2.forward(this.activation.forward(this.linear1.forward(x)));
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    return asShape(this.linear2.inferShape(this.activation.inferShape(this.linear1.inferShape(x, ctx), ctx), ctx));
  }
  fuseChildren(): void {
    if (isFusable(this.linear1)) this.linear1 = this.addModule('linear1', this.linear1.fuse());
    if (isFusable(this.linear2)) this.linear2 = this.addModule('linear2', this.linear2.fuse());
  }
}

/** LeViT's convolutional patch embedding (`HybridBackbone`: four stride-2 conv + BN, Hardswish between). */
export class HybridBackbone extends Layer {
  readonly patchEmbed: LeViTSequential;
  constructor(embedDim: number, actCfg: LayerCfg = { type: 'HSwish' }, normCfg: LayerCfg = { type: 'BN' }) {
    super();
    const ins = [3, embedDim / 8, embedDim / 4, embedDim / 2];
    const outs = [embedDim / 8, embedDim / 4, embedDim / 2, embedDim];
    const layers: Layer[] = [];
    ins.forEach((cin, i) => {
      layers.push(new ConvolutionBatchNorm(cin, outs[i], { norm_cfg: normCfg }));
      if (i < ins.length - 1) layers.push(buildActivationLayer(actCfg));
    });
    this.patchEmbed = this.addModule('patch_embed', new LeViTSequential(...layers));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.patchEmbed.forward(x);
  }
  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    return asShape(this.patchEmbed.inferShape(x, ctx));
  }
  fuseChildren(): void {
    this.patchEmbed.fuseChildren();
  }
}

/** A LeViT architecture. */
export interface LeViTArch {
  /** Embedding dimensions of the stages. */
  embed_dims: number[];
  /** Attention key dimensions of the stages. */
  key_dims: number[];
  /** Attention heads of the stages. */
  num_heads: number[];
  /** Blocks (attention + MLP) of the stages. */
  depths: number[];
}

/** The preset LeViT architectures. */
export type LeViTArchName = '128s' | '128' | '192' | '256' | '384';

export const LEVIT_ARCHS: Record<LeViTArchName, LeViTArch> = {
  '128s': { embed_dims: [128, 256, 384], num_heads: [4, 6, 8], depths: [2, 3, 4], key_dims: [16, 16, 16] },
  '128': { embed_dims: [128, 256, 384], num_heads: [4, 8, 12], depths: [4, 4, 4], key_dims: [16, 16, 16] },
  '192': { embed_dims: [192, 288, 384], num_heads: [3, 5, 6], depths: [4, 4, 4], key_dims: [32, 32, 32] },
  '256': { embed_dims: [256, 384, 512], num_heads: [4, 6, 8], depths: [4, 4, 4], key_dims: [32, 32, 32] },
  '384': { embed_dims: [384, 512, 768], num_heads: [6, 9, 12], depths: [4, 4, 4], key_dims: [32, 32, 32] },
};

/** Options of {@link LeViT}. */
export interface LeViTOptions {
  /** Architecture: '128s', '128', '192', '256', '384', or a dict with embed_dims, key_dims, num_heads and depths. */
  arch: LeViTArchName | LeViTArch;
  /** Input image size (the attention biases are built for img_size / patch_size tokens a side). @default 224 */
  img_size?: number;
  /** Patch size of the convolutional embedding. @default 16 */
  patch_size?: number;
  /** Ratio of the value dimension to the key dimension in the attention blocks. @default 2 */
  attn_ratio?: number;
  /** Hidden-layer ratio of the MLPs (0: no MLP). @default 2 */
  mlp_ratio?: number;
  /** Activation config. @default dict(type='HSwish') */
  act_cfg?: LayerCfg;
  /** Stages whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Build the deployment structure (batch norms folded into the convolutions and linear layers). @default False */
  deploy?: boolean;
  /** Stochastic depth rate of every residual block. @default 0 */
  drop_path_rate?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** LeViT backbone (LeViT: a Vision Transformer in ConvNet's Clothing for Faster Inference). */
@MODELS.registerModule()
export class LeViT extends BaseBackbone {
  readonly embedDims: number[];
  readonly keyDims: number[];
  readonly numHeads: number[];
  readonly depths: number[];
  readonly numStages: number;
  readonly resolutions: number[] = [];
  readonly outIndices: number[];
  readonly patchEmbed: HybridBackbone;
  readonly stages: ModuleList<LeViTSequential>;
  deploy = false;

  constructor(options: LeViTOptions) {
    super(options.init_cfg ?? null);
    let arch: LeViTArch;
    if (typeof options.arch === 'string') {
      const key = options.arch.toLowerCase() as LeViTArchName;
      if (!(key in LEVIT_ARCHS)) throw new MmclsError(`Arch ${options.arch} is not in default archs {${Object.keys(LEVIT_ARCHS).join(', ')}}`, { code: 'model.bad-argument' });
      arch = LEVIT_ARCHS[key];
    } else {
      const missing = ['embed_dims', 'key_dims', 'num_heads', 'depths'].filter((k) => !(options.arch && k in (options.arch as object)));
      if (missing.length) throw new MmclsError(`Custom arch needs a dict with keys embed_dims, key_dims, num_heads, depths (missing ${missing.join(', ')})`, { code: 'model.bad-argument' });
      arch = options.arch;
    }
    this.embedDims = [...arch.embed_dims];
    this.keyDims = [...arch.key_dims];
    this.numHeads = [...arch.num_heads];
    this.depths = [...arch.depths];
    this.numStages = this.embedDims.length;
    const act = options.act_cfg ?? { type: 'HSwish' };
    const dpr = options.drop_path_rate ?? 0;
    const mlpRatio = options.mlp_ratio ?? 2;
    const attnRatio = options.attn_ratio ?? 2;
    this.patchEmbed = this.addModule('patch_embed', new HybridBackbone(this.embedDims[0]));
    let resolution = Math.floor((options.img_size ?? 224) / (options.patch_size ?? 16));
    const stages: LeViTSequential[] = [];
    for (let i = 0; i < this.numStages; i++) {
      const dim = this.embedDims[i];
      const kd = this.keyDims[i];
      const blocks: Layer[] = [];
      if (i > 0) {
        const down = new LeViTAttentionSubsample(this.embedDims[i - 1], dim, kd, Math.floor(this.embedDims[i - 1] / kd), 4, act, 2, resolution);
        blocks.push(down);
        resolution = down.subResolution;
        if (mlpRatio > 0) blocks.push(new LeViTResidual(new LeViTMLP(dim, mlpRatio, act), dpr));
      }
      this.resolutions.push(resolution);
      for (let j = 0; j < this.depths[i]; j++) {
        blocks.push(new LeViTResidual(new LeViTAttention(dim, kd, this.numHeads[i], attnRatio, act, resolution), dpr));
        if (mlpRatio > 0) blocks.push(new LeViTResidual(new LeViTMLP(dim, mlpRatio, act), dpr));
      }
      stages.push(new LeViTSequential(...blocks));
    }
    this.stages = this.addModule('stages', new ModuleList(stages));
    const oi = options.out_indices ?? -1;
    this.outIndices = (typeof oi === 'number' ? [oi] : [...oi]).map((index) => {
      const v = index < 0 ? this.numStages + index : index;
      if (!(v >= 0 && v < this.numStages)) throw new MmclsError(`Invalid out_indices ${index}.`, { code: 'model.bad-argument' });
      return v;
    });
    if (options.deploy) this.switchToDeploy();
  }

  /** Folds every batch norm into the preceding convolution or linear layer (state-dict keys change as in MMCls). */
  switchToDeploy(): void {
    if (this.deploy) return;
    this.patchEmbed.fuseChildren();
    for (const s of this.stages) s.fuseChildren();
    this.deploy = true;
  }

  forward(x: tf.Tensor): Feat[] {
    const e = this.patchEmbed.forward(x);
    const [b, h, w, c] = e.shape;
    let y = tf.reshape(e, [b, h * w, c]);
    const outs: Feat[] = [];
    this.stages.toArray().forEach((stage, i) => {
      y = stage.forward(y);
      if (this.outIndices.includes(i)) outs.push(tf.reshape(y, [b, this.resolutions[i], this.resolutions[i], y.shape[2]!]));
    });
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, c, h, w] = asShape(this.patchEmbed.inferShape(x, ctx));
    let y: number[] = [b, h * w, c];
    const outs: ShapeValue[] = [];
    ctx.enter(this.stages);
    try {
      this.stages.toArray().forEach((stage, i) => {
        y = asShape(stage.inferShape(y, ctx));
        if (this.outIndices.includes(i)) outs.push([b, y[2], this.resolutions[i], this.resolutions[i]]);
      });
    } finally {
      ctx.exit(this.stages);
    }
    return outs;
  }
}
