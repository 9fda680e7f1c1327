import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { DropPath } from '../../nn/activation';
import { LayerCfg, buildActivationLayer, buildNormLayer } from '../../nn/builders';
import { Conv2d } from '../../nn/conv';
import { Identity, Layer, ModuleList, Sequential } from '../../nn/layer';
import { InitCfg, Module, Parameter, ShapeContext, ShapeValue, asShape, lazy } from '../../nn/module';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

// ------------------------------------------------------------------ position tables

/** 1-D sin-cos embedding of `pos` with `dim` channels ([sin | cos], MAE's formula). */
function sincos1d(dim: number, pos: number[]): number[][] {
  const half = dim / 2;
  const omega = Array.from({ length: half }, (_, i) => 1 / Math.pow(10000, Math.fround(Math.fround(i) / (dim / 2))));
  return pos.map((p) => {
    const out = omega.map((o) => p * o);
    return [...out.map(Math.sin), ...out.map(Math.cos)];
  });
}

/** 2-D sin-cos embedding [grid*grid, dim] (MMCls's `get_2d_sincos_pos_embed`, w first in the grid). */
export function sincos2d(dim: number, grid: number): number[][] {
  const gw: number[] = [];
  const gh: number[] = [];
  for (let i = 0; i < grid; i++) {
    for (let j = 0; j < grid; j++) {
      gw.push(j);
      gh.push(i);
    }
  }
  const a = sincos1d(dim / 2, gw);
  const b = sincos1d(dim / 2, gh);
  return a.map((row, i) => [...row, ...b[i]]);
}

function cubic1(x: number, A: number): number {
  return ((A + 2) * x - (A + 3)) * x * x + 1;
}
function cubic2(x: number, A: number): number {
  return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
}

/** PyTorch's bicubic taps (A = -0.75, align_corners=False, borders clamped) for `outSize` from `inSize`. */
function bicubicTaps(inSize: number, outSize: number): { idx: number[]; w: number[] }[] {
  const scale = inSize / outSize;
  const A = -0.75;
  const taps: { idx: number[]; w: number[] }[] = [];
  for (let o = 0; o < outSize; o++) {
    const src = inSize === outSize ? o : (o + 0.5) * scale - 0.5;
    const f = Math.floor(src);
    const t = src - f;
    const w = [cubic2(t + 1, A), cubic1(t, A), cubic1(1 - t, A), cubic2(2 - t, A)];
    const idx = [-1, 0, 1, 2].map((d) => Math.min(Math.max(f + d, 0), inSize - 1));
    taps.push({ idx, w });
  }
  return taps;
}

/**
 * The Grapher's fixed relative-position term: `-interp(2 P Pᵀ / dim)` of shape [n, n / r²], where P is
 * the 2-D sin-cos embedding of the sqrt(n) x sqrt(n) grid and `interp` is a bicubic resize of the columns.
 */
export function vigRelativePos(dim: number, n: number, r: number): Float32Array {
  const grid = Math.floor(Math.sqrt(n));
  const p = sincos2d(dim, grid).map((row) => row.map(Math.fround));
  const rows = p.length;
  const m = Math.floor(n / (r * r));
  const colTaps = bicubicTaps(rows, m);
  const rowTaps = bicubicTaps(rows, n);
  const rel = (i: number, j: number): number => {
    let s = 0;
    const a = p[i];
    const b = p[j];
    for (let c = 0; c < dim; c++) s += a[c] * b[c];
    return Math.fround((2 * s) / dim);
  };
  const out = new Float32Array(n * m);
  for (let i = 0; i < n; i++) {
    const rt = rowTaps[i];
    for (let j = 0; j < m; j++) {
      const ct = colTaps[j];
      let v = 0;
      for (let a = 0; a < 4; a++) {
        if (rt.w[a] === 0) continue;
        let inner = 0;
        for (let b = 0; b < 4; b++) if (ct.w[b] !== 0) inner += ct.w[b] * rel(rt.idx[a], ct.idx[b]);
        v += rt.w[a] * inner;
      }
      out[i * m + j] = -v;
    }
  }
  return out;
}

/** `torch.linspace(start, end, steps)` in float32, as PyTorch's CPU kernel computes it. */
export function linspaceF32(start: number, end: number, steps: number): number[] {
  if (steps === 1) return [Math.fround(start)];
  const step = Math.fround((end - start) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) =>
    i < half ? Math.fround(start + Math.fround(step * i)) : Math.fround(end - Math.fround(step * (steps - i - 1))),
  );
}

// ------------------------------------------------------------------ graph convolutions

/** MMCls's `BasicConv`: grouped (4) 1x1 convolution, norm, activation (keys `0`, `1`, `2`). */
export class BasicConv extends Sequential {
  constructor(channels: number[], actCfg: LayerCfg | null, normCfg: LayerCfg | null, bias: boolean) {
    const layers: Layer[] = [];
    for (let i = 1; i < channels.length; i++) {
      layers.push(new Conv2d({ in_channels: channels[i - 1], out_channels: channels[i], kernel_size: 1, bias, groups: 4 }));
      if (normCfg) layers.push(buildNormLayer(normCfg, channels[channels.length - 1])[1]);
      if (actCfg) layers.push(buildActivationLayer(actCfg));
    }
    super(...layers);
  }
}

/** The graph aggregation types of `graph_conv_type`. */
export type GraphConvType = 'mr' | 'edge' | 'sage' | 'gin';

/** A graph convolution on nodes x [B, N, C] with their gathered neighbour features xj [B, N, k, C]. */
abstract class GraphConvBase extends Module {
  /** Neighbours per node (for the shape pass). */
  kNeighbours = 1;
  abstract aggregate(x: tf.Tensor, xj: tf.Tensor): tf.Tensor;
  /** NCHW shape [B, out, N, 1] for x [B, C, N, 1] with k neighbours. */
  abstract aggregateShape(x: number[], k: number, ctx: ShapeContext): number[];

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.aggregateShape(asShape(x), this.kNeighbours, ctx);
  }
}

/** Max-relative graph convolution (`MRConv2d`). */
export class MRConv2d extends GraphConvBase {
  readonly nn: BasicConv;
  constructor(cin: number, cout: number, act: LayerCfg, norm: LayerCfg | null, bias: boolean) {
    super();
    this.nn = this.addModule('nn', new BasicConv([cin * 2, cout], act, norm, bias));
  }
  aggregate(x: tf.Tensor, xj: tf.Tensor): tf.Tensor {
    const [b, n, c] = x.shape as [number, number, number];
    const rel = tf.sub(tf.max(xj, 2), x);
    // torch.cat([x, x_j], dim=2).reshape(b, 2c, n, 1): channels interleave x and x_j.
    const cat = tf.reshape(tf.stack([x, rel], 3), [b, n, 1, 2 * c]);
    return this.nn.forward(cat);
  }
  aggregateShape(x: number[], _k: number, ctx: ShapeContext): number[] {
    return asShape(this.nn.inferShape([x[0], x[1] * 2, x[2], 1], ctx));
  }
}

/** Edge convolution (`EdgeConv2d`): the MLP on [x_i, x_j - x_i], max over neighbours. */
export class EdgeConv2d extends GraphConvBase {
  readonly nn: BasicConv;
  constructor(cin: number, cout: number, act: LayerCfg, norm: LayerCfg | null, bias: boolean) {
    super();
    this.nn = this.addModule('nn', new BasicConv([cin * 2, cout], act, norm, bias));
  }
  aggregate(x: tf.Tensor, xj: tf.Tensor): tf.Tensor {
    const xi = tf.broadcastTo(tf.expandDims(x, 2), xj.shape);
    return tf.max(this.nn.forward(tf.concat([xi, tf.sub(xj, xi)], 3)), 2, true);
  }
  aggregateShape(x: number[], k: number, ctx: ShapeContext): number[] {
    const o = asShape(this.nn.inferShape([x[0], x[1] * 2, x[2], k], ctx));
    return [o[0], o[1], o[2], 1];
  }
}

/** GraphSAGE convolution: `nn2([x, max_j nn1(x_j)])`. */
export class GraphSAGE extends GraphConvBase {
  readonly nn1: BasicConv;
  readonly nn2: BasicConv;
  constructor(cin: number, cout: number, act: LayerCfg, norm: LayerCfg | null, bias: boolean) {
    super();
    this.nn1 = this.addModule('nn1', new BasicConv([cin, cin], act, norm, bias));
    this.nn2 = this.addModule('nn2', new BasicConv([cin * 2, cout], act, norm, bias));
  }
  aggregate(x: tf.Tensor, xj: tf.Tensor): tf.Tensor {
    const agg = tf.max(this.nn1.forward(xj), 2, true);
    return this.nn2.forward(tf.concat([tf.expandDims(x, 2), agg], 3));
  }
  aggregateShape(x: number[], k: number, ctx: ShapeContext): number[] {
    this.nn1.inferShape([x[0], x[1], x[2], k], ctx);
    return asShape(this.nn2.inferShape([x[0], x[1] * 2, x[2], 1], ctx));
  }
}

/** GIN convolution: `nn((1 + eps) x + sum_j x_j)` with a learnt `eps`. */
export class GINConv2d extends GraphConvBase {
  readonly nn: BasicConv;
  readonly eps: Parameter;
  constructor(cin: number, cout: number, act: LayerCfg, norm: LayerCfg | null, bias: boolean) {
    super();
    this.nn = this.addModule('nn', new BasicConv([cin, cout], act, norm, bias));
    this.eps = this.registerParameter('eps', lazy([1], () => tf.zeros([1])))!;
  }
  aggregate(x: tf.Tensor, xj: tf.Tensor): tf.Tensor {
    const agg = tf.sum(xj, 2);
    return this.nn.forward(tf.expandDims(tf.add(tf.mul(tf.add(1, this.eps.variable), x), agg), 2));
  }
  aggregateShape(x: number[], _k: number, ctx: ShapeContext): number[] {
    return asShape(this.nn.inferShape(x, ctx));
  }
}

/** `DenseDilatedKnnGraph`: k * dilation nearest neighbours by L2-normalised features, every dilation-th kept. */
export class DenseDilatedKnnGraph extends Module {
  constructor(readonly k: number, readonly dilation: number, readonly useStochastic: boolean, readonly epsilon: number) {
    super();
  }

  /** Neighbour indices [B, N, k] of x [B, N, C] among y [B, M, C] (or x), plus `relativePos` [1, N, M]. */
  neighbours(x: tf.Tensor, y: tf.Tensor | null, relativePos: tf.Tensor | null): tf.Tensor {
    return tf.tidy(() => {
      const normalize = (t: tf.Tensor): tf.Tensor => tf.div(t, tf.maximum(tf.norm(t, 2, -1, true), 1e-12));
      const xn = normalize(x);
      const yn = y ? normalize(y) : xn;
      const inner = tf.mul(-2, tf.matMul(xn, yn, false, true));
      const xs = tf.sum(tf.mul(xn, xn), -1, true);
      const ys = tf.transpose(tf.sum(tf.mul(yn, yn), -1, true), [0, 2, 1]);
      let dist = tf.add(tf.add(xs, inner), ys);
      if (relativePos) dist = tf.add(dist, relativePos);
      const kk = this.k * this.dilation;
      const m = dist.shape[2]!;
      if (kk > m) {
        throw new MmclsError(`Vig: k * dilation = ${kk} neighbours asked among ${m} nodes; use a larger input or a smaller k`, { code: 'model.shape' });
      }
      const { indices } = tf.topk(tf.neg(dist), kk);
      const d = this.dilation;
      let pick: number[];
      if (this.useStochastic && this.training && Math.random() < this.epsilon) {
        // DenseDilated's stochastic branch: k random positions among the k * dilation nearest.
        pick = Array.from(tf.util.createShuffledIndices(kk)).slice(0, this.k);
      } else {
        if (d === 1) return indices;
        pick = Array.from({ length: this.k }, (_, i) => i * d);
      }
      return tf.gather(indices, tf.tensor1d(pick, 'int32'), 2);
    });
  }

  /**
   * Neighbour features [B, N, k, C] of the nodes x [B, N, C], taken from y [B, M, C] (or x). The graph
   * is built without gradient (as under torch.no_grad); the gradient flows into the gathered features.
   */
  gather(x: tf.Tensor, y: tf.Tensor | null, relativePos: tf.Tensor | null): tf.Tensor {
    const src = y ?? x;
    const [b, n] = x.shape as [number, number, number];
    const [, m, c] = src.shape as [number, number, number];
    const k = this.k;
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const q = args[0] as tf.Tensor;
      const s = args[1] as tf.Tensor;
      const save = args[2] as tf.GradSaveFunc;
      const flat = tf.tidy(() => {
        const idx = this.neighbours(q, y ? s : null, relativePos);
        return tf.reshape(tf.add(idx, tf.reshape(tf.range(0, b * m, m, 'int32'), [b, 1, 1])), [-1]);
      });
      save([flat]);
      const value = tf.tidy(() => tf.reshape(tf.gather(tf.reshape(s, [b * m, c]), flat), [b, n, k, c]));
      return {
        value,
        gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => [
          tf.zerosLike(q),
          tf.reshape(tf.unsortedSegmentSum(tf.reshape(dy as tf.Tensor, [-1, c]), saved[0] as tf.Tensor1D, b * m), [b, m, c]),
        ],
      };
    });
    return f(x, src);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    // x: [B, C, N, M] encoded as [B, C, N] plus M: fvcore counts the x @ yᵀ of the pairwise distance.
    const [b, c, n, m] = asShape(x);
    ctx.add('matmul', b * n * m * c, b * n * m);
    return [b, n, this.k];
  }
}

/** `DyGraphConv2d`: dynamic k-NN graph, then the graph convolution (`gconv`). */
export class DyGraphConv2d extends Module {
  readonly gconv: GraphConvBase;
  readonly dilatedKnnGraph: DenseDilatedKnnGraph;
  readonly r: number;

  constructor(cin: number, cout: number, o: { k: number; dilation: number; type: GraphConvType; act: LayerCfg; norm: LayerCfg | null; bias: boolean; useStochastic: boolean; epsilon: number; r: number }) {
    super();
    const make = { mr: MRConv2d, edge: EdgeConv2d, sage: GraphSAGE, gin: GINConv2d }[o.type];
    if (!make) throw new MmclsError(`graph_conv_type:${String(o.type)} is not supported (choose from 'mr', 'edge', 'sage', 'gin')`, { code: 'model.bad-argument' });
    this.gconv = this.addModule('gconv', new make(cin, cout, o.act, o.norm, o.bias));
    this.r = o.r;
    this.dilatedKnnGraph = this.addModule('dilated_knn_graph', new DenseDilatedKnnGraph(o.k, o.dilation, o.useStochastic, o.epsilon));
  }

  /** x [B, H, W, C] → [B, H, W, out]. */
  run(x: tf.Tensor, relativePos: tf.Tensor | null): tf.Tensor {
    const [b, h, w, c] = x.shape as [number, number, number, number];
    let y: tf.Tensor | null = null;
    if (this.r > 1) y = tf.reshape(tf.avgPool(x as tf.Tensor4D, this.r, this.r, 'valid'), [b, -1, c]);
    const nodes = tf.reshape(x, [b, h * w, c]);
    const out = this.gconv.aggregate(nodes, this.dilatedKnnGraph.gather(nodes, y, relativePos));
    return tf.reshape(out, [b, h, w, -1]);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const [b, c, h, w] = asShape(x);
    const n = h * w;
    const m = this.r > 1 ? Math.floor(h / this.r) * Math.floor(w / this.r) : n;
    this.dilatedKnnGraph.inferShape([b, c, n, m], ctx);
    const o = this.gconv.inferShape([b, c, n, 1], ctx) as number[];
    return [b, o[1], h, w];
  }
}

/** Options of a {@link Grapher}. */
export interface GrapherOptions {
  in_channels: number;
  k: number;
  dilation: number;
  graph_conv_type: GraphConvType;
  act_cfg: LayerCfg;
  norm_cfg: LayerCfg | null;
  graph_conv_bias: boolean;
  use_stochastic: boolean;
  epsilon: number;
  r: number;
  n: number;
  drop_path: number;
  relative_pos: boolean;
}

/** ViG's Grapher: fc1 (1x1 conv + BN), dynamic graph convolution to 2C, fc2 back to C, residual. */
export class Grapher extends Layer {
  readonly channels: number;
  readonly n: number;
  readonly r: number;
  readonly relativePos: Parameter | null;
  readonly fc1: Sequential;
  readonly graphConv: DyGraphConv2d;
  readonly fc2: Sequential;
  readonly dropPath: Layer;

  constructor(o: GrapherOptions) {
    super();
    const c = o.in_channels;
    this.channels = c;
    this.n = o.n;
    this.r = o.r;
    this.fc1 = this.addModule('fc1', new Sequential(new Conv2d({ in_channels: c, out_channels: c, kernel_size: 1 }), buildNormLayer({ type: 'BN' }, c)[1]));
    this.graphConv = this.addModule('graph_conv', new DyGraphConv2d(c, c * 2, {
      k: o.k, dilation: o.dilation, type: o.graph_conv_type, act: o.act_cfg, norm: o.norm_cfg, bias: o.graph_conv_bias,
      useStochastic: o.use_stochastic, epsilon: o.epsilon, r: o.r,
    }));
    this.graphConv.gconv.kNeighbours = o.k;
    this.fc2 = this.addModule('fc2', new Sequential(new Conv2d({ in_channels: c * 2, out_channels: c, kernel_size: 1 }), buildNormLayer({ type: 'BN' }, c)[1]));
    this.dropPath = this.addModule('drop_path', o.drop_path > 0 ? new DropPath({ drop_prob: o.drop_path }) : new Identity());
    if (o.relative_pos) {
      const m = Math.floor(o.n / (o.r * o.r));
      const shape = [1, o.n, m];
      const p = this.registerParameter('relative_pos', lazy(shape, () => tf.tensor3d(vigRelativePos(c, o.n, o.r), [1, o.n, m])))!;
      p.requiresGrad = false;
      this.relativePos = p;
    } else {
      this.relativePos = null;
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    const [, h, w] = x.shape as [number, number, number, number];
    if (this.relativePos && h * w !== this.n) {
      throw new MmclsError(`Grapher: built for ${this.n} nodes, got a ${h}x${w} map; the Vig models take 224x224 images`, { code: 'model.shape' });
    }
    const rel = this.relativePos ? this.relativePos.variable : null;
    let y = this.fc1.forward(x);
    y = this.graphConv.run(y, rel);
    y = this.fc2.forward(y);
    return tf.add(this.dropPath.forward(y), x);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    let y = asShape(this.fc1.inferShape(x, ctx));
    y = asShape(this.graphConv.inferShape(y, ctx));
    y = asShape(this.fc2.inferShape(y, ctx));
    return asShape(this.dropPath.inferShape(y, ctx));
  }
}

/** ViG's FFN: 1x1 conv + BN, activation, 1x1 conv + BN, residual. */
export class VigFFN extends Layer {
  readonly fc1: Sequential;
  readonly act: Layer;
  readonly fc2: Sequential;
  readonly dropPath: Layer;

  constructor(inFeatures: number, hidden: number, actCfg: LayerCfg, dropPath: number) {
    super();
    this.fc1 = this.addModule('fc1', new Sequential(new Conv2d({ in_channels: inFeatures, out_channels: hidden, kernel_size: 1 }), buildNormLayer({ type: 'BN' }, hidden)[1]));
    this.act = this.addModule('act', buildActivationLayer(actCfg));
    this.fc2 = this.addModule('fc2', new Sequential(new Conv2d({ in_channels: hidden, out_channels: inFeatures, kernel_size: 1 }), buildNormLayer({ type: 'BN' }, inFeatures)[1]));
    this.dropPath = this.addModule('drop_path', dropPath > 0 ? new DropPath({ drop_prob: dropPath }) : new Identity());
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.fc2.forward(this.act.forward(this.fc1.forward(x)));
    return tf.add(this.dropPath.forward(y), x);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    let y = asShape(this.fc1.inferShape(x, ctx));
    y = asShape(this.act.inferShape(y, ctx));
    y = asShape(this.fc2.inferShape(y, ctx));
    return asShape(this.dropPath.inferShape(y, ctx));
  }
}

// ------------------------------------------------------------------ backbones

function resolveOutIndices(oi: number | number[], total: number): number[] {
  return (typeof oi === 'number' ? [oi] : [...oi]).map((index) => {
    const v = index < 0 ? total + index : index;
    if (!(v >= 0 && v <= total)) throw new MmclsError(`Invalid out_indices ${index}`, { code: 'model.bad-argument' });
    return v;
  });
}

function archOf<T>(settings: Record<string, T>, arch: string | T, keys: string[], who: string): T {
  if (typeof arch === 'string') {
    if (!(arch in settings)) {
      throw new MmclsError(`${who}: unavailable arch ${JSON.stringify(arch)}, choose from ${Object.keys(settings).join(', ')}`, { code: 'model.bad-argument' });
    }
    return settings[arch];
  }
  const missing = keys.filter((key) => !(arch && typeof arch === 'object' && key in (arch as object)));
  if (missing.length) throw new MmclsError(`${who}: a custom arch needs the keys ${keys.join(', ')} (missing ${missing.join(', ')})`, { code: 'model.bad-argument' });
  return arch;
}

function freezeLeading(stem: Module, blocks: ModuleList<Sequential>, frozen: number): void {
  stem.eval();
  for (let i = 0; i < frozen && i < blocks.length; i++) {
    blocks.at(i).eval();
    blocks.at(i).requiresGrad(false);
  }
}

/** A Vig architecture. */
export interface VigArch {
  /** Number of Grapher + FFN blocks. */
  num_blocks: number;
  /** Channels of every block (a multiple of 8). */
  channels: number;
}

/** The preset Vig architectures. */
export type VigArchName = 'tiny' | 'small' | 'base';

export const VIG_ARCHS: Record<VigArchName, VigArch> = {
  tiny: { num_blocks: 12, channels: 192 },
  small: { num_blocks: 16, channels: 320 },
  base: { num_blocks: 16, channels: 640 },
};

/** Options of {@link Vig}. */
export interface VigOptions {
  /** Architecture: 'tiny', 'small', 'base', or a dict with num_blocks and channels. */
  arch: VigArchName | VigArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Neighbours of the first block's k-NN graph (the last block uses 2k). @default 9 */
  k?: number;
  /** Blocks whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation config of the stem and the graph convolutions. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Whether the graph convolutions learn a bias. @default True */
  graph_conv_bias?: boolean;
  /** Graph convolution: 'mr', 'edge', 'sage' or 'gin'. @default 'mr' */
  graph_conv_type?: GraphConvType;
  /** Probability of random neighbours in training (with use_dilation and use_stochastic). @default 0.2 */
  epsilon?: number;
  /** Whether the k-NN graphs are dilated (dilation grows every 4 blocks). @default True */
  use_dilation?: boolean;
  /** Whether dilated neighbours are drawn at random in training. @default False */
  use_stochastic?: boolean;
  /** Stochastic depth rate (linearly increasing over the blocks). @default 0. */
  drop_path?: number;
  /** Whether the k-NN distance adds a fixed relative-position term. @default False */
  relative_pos?: boolean;
  /** Keep batch norms in eval mode while training. @default False */
  norm_eval?: boolean;
  /** Number of leading blocks to freeze (the stem always stays in eval mode). @default 0 */
  frozen_stages?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Vision GNN backbone (Vision GNN: An Image is Worth Graph of Nodes), isotropic version on a 14x14 node grid. */
@MODELS.registerModule()
export class Vig extends BaseBackbone {
  readonly numBlocks: number;
  readonly channels: number;
  readonly outIndices: number[];
  readonly normEval: boolean;
  readonly frozenStages: number;
  readonly stem: Sequential;
  readonly posEmbed: Parameter;
  readonly blocks: ModuleList<Sequential>;

  constructor(options: VigOptions) {
    super(options.init_cfg ?? null);
    const arch = archOf<VigArch>(VIG_ARCHS, options.arch, ['num_blocks', 'channels'], 'Vig');
    this.numBlocks = arch.num_blocks;
    const c = arch.channels;
    this.channels = c;
    this.outIndices = resolveOutIndices(options.out_indices ?? -1, this.numBlocks);
    const act = options.act_cfg ?? { type: 'GELU' };
    const norm = options.norm_cfg ?? { type: 'BN' };
    const inCh = options.in_channels ?? 3;
    const conv = (i: number, o: number, s: number): Conv2d => new Conv2d({ in_channels: i, out_channels: o, kernel_size: 3, stride: s, padding: 1 });
    const bn = (ch: number): Layer => buildNormLayer(norm, ch)[1];
    this.stem = this.addModule('stem', new Sequential(
      conv(inCh, c / 8, 2), bn(c / 8), buildActivationLayer(act),
      conv(c / 8, c / 4, 2), bn(c / 4), buildActivationLayer(act),
      conv(c / 4, c / 2, 2), bn(c / 2), buildActivationLayer(act),
      conv(c / 2, c, 2), bn(c), buildActivationLayer(act),
      conv(c, c, 1), bn(c),
    ));
    const k = options.k ?? 9;
    const dpr = linspaceF32(0, options.drop_path ?? 0, this.numBlocks);
    const numKnn = linspaceF32(k, 2 * k, this.numBlocks).map((v) => Math.trunc(v));
    const maxDilation = Math.floor(196 / Math.max(...numKnn));
    this.posEmbed = this.registerParameter('pos_embed', lazy([1, c, 14, 14], () => tf.zeros([1, c, 14, 14])))!;
    const useDilation = options.use_dilation ?? true;
    const blocks: Sequential[] = [];
    for (let i = 0; i < this.numBlocks; i++) {
      blocks.push(new Sequential(
        new Grapher({
          in_channels: c, k: numKnn[i], dilation: useDilation ? Math.min(Math.floor(i / 4) + 1, maxDilation) : 1,
          graph_conv_type: options.graph_conv_type ?? 'mr', act_cfg: act, norm_cfg: norm,
          graph_conv_bias: options.graph_conv_bias ?? true, use_stochastic: options.use_stochastic ?? false,
          epsilon: options.epsilon ?? 0.2, r: 1, n: 196, drop_path: dpr[i], relative_pos: options.relative_pos ?? false,
        }),
        new VigFFN(c, c * 4, act, dpr[i]),
      ));
    }
    this.blocks = this.addModule('blocks', new ModuleList(blocks));
    this.normEval = options.norm_eval ?? false;
    this.frozenStages = options.frozen_stages ?? 0;
    this.train(true);
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => freezeLeading(this.stem, this.blocks, this.frozenStages), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    // pos_embed is stored in PyTorch's [1, C, 14, 14] layout.
    let y = tf.add(this.stem.forward(x), tf.transpose(this.posEmbed.variable, [0, 2, 3, 1]));
    const outs: Feat[] = [];
    for (let i = 0; i < this.blocks.length; i++) {
      y = this.blocks.at(i).forward(y);
      if (this.outIndices.includes(i)) outs.push(y);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = asShape(this.stem.inferShape(x, ctx));
    const outs: ShapeValue[] = [];
    ctx.enter(this.blocks);
    try {
      for (let i = 0; i < this.blocks.length; i++) {
        y = asShape(this.blocks.at(i).inferShape(y, ctx));
        if (this.outIndices.includes(i)) outs.push(y);
      }
    } finally {
      ctx.exit(this.blocks);
    }
    return outs;
  }
}

/** A PyramidVig architecture. */
export interface PyramidVigArch {
  /** Blocks per stage (four stages). */
  blocks: number[];
  /** Channels per stage. */
  channels: number[];
}

/** The preset PyramidVig architectures. */
export type PyramidVigArchName = 'tiny' | 'small' | 'medium' | 'base';

export const PYRAMID_VIG_ARCHS: Record<PyramidVigArchName, PyramidVigArch> = {
  tiny: { blocks: [2, 2, 6, 2], channels: [48, 96, 240, 384] },
  small: { blocks: [2, 2, 6, 2], channels: [80, 160, 400, 640] },
  medium: { blocks: [2, 2, 16, 2], channels: [96, 192, 384, 768] },
  base: { blocks: [2, 2, 18, 2], channels: [128, 256, 512, 1024] },
};

/** Options of {@link PyramidVig}. */
export interface PyramidVigOptions {
  /** Architecture: 'tiny', 'small', 'medium', 'base', or a dict with blocks and channels (four stages). */
  arch: PyramidVigArchName | PyramidVigArch;
  /** Number of input image channels. @default 3 */
  in_channels?: number;
  /** Neighbours of every k-NN graph. @default 9 */
  k?: number;
  /** Stages whose output is returned (negative counts from the end). @default -1 */
  out_indices?: number | number[];
  /** Activation config. @default dict(type='GELU') */
  act_cfg?: LayerCfg;
  /** Normalisation config of the stem, the downsampling layers and the graph convolutions. @default dict(type='BN') */
  norm_cfg?: LayerCfg;
  /** Whether the graph convolutions learn a bias. @default True */
  graph_conv_bias?: boolean;
  /** Graph convolution: 'mr', 'edge', 'sage' or 'gin'. @default 'mr' */
  graph_conv_type?: GraphConvType;
  /** Probability of random neighbours in training (with use_stochastic). @default 0.2 */
  epsilon?: number;
  /** Whether dilated neighbours are drawn at random in training. @default False */
  use_stochastic?: boolean;
  /** Stochastic depth rate (linearly increasing over the blocks). @default 0. */
  drop_path?: number;
  /** Keep batch norms in eval mode while training. @default False */
  norm_eval?: boolean;
  /** Number of leading stages to freeze (the stem always stays in eval mode). @default 0 */
  frozen_stages?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Pyramid Vision GNN backbone: four stages at strides 4 to 32, k-NN graphs against pooled nodes, relative positions. */
@MODELS.registerModule()
export class PyramidVig extends BaseBackbone {
  readonly blockCounts: number[];
  readonly numBlocks: number;
  readonly numStages: number;
  readonly channels: number[];
  readonly outIndices: number[];
  readonly normEval: boolean;
  readonly frozenStages: number;
  readonly stem: Sequential;
  readonly posEmbed: Parameter;
  readonly stages: ModuleList<Sequential>;

  constructor(options: PyramidVigOptions) {
    super(options.init_cfg ?? null);
    const arch = archOf<PyramidVigArch>(PYRAMID_VIG_ARCHS, options.arch, ['blocks', 'channels'], 'PyramidVig');
    this.blockCounts = [...arch.blocks];
    this.numBlocks = this.blockCounts.reduce((a, b) => a + b, 0);
    this.numStages = this.blockCounts.length;
    const ch = [...arch.channels];
    this.channels = ch;
    this.outIndices = resolveOutIndices(options.out_indices ?? -1, this.numStages);
    const act = options.act_cfg ?? { type: 'GELU' };
    const norm = options.norm_cfg ?? { type: 'BN' };
    const inCh = options.in_channels ?? 3;
    const conv = (i: number, o: number, s: number): Conv2d => new Conv2d({ in_channels: i, out_channels: o, kernel_size: 3, stride: s, padding: 1 });
    const bn = (c: number): Layer => buildNormLayer(norm, c)[1];
    this.stem = this.addModule('stem', new Sequential(
      conv(inCh, ch[0] / 2, 2), bn(ch[0] / 2), buildActivationLayer(act),
      conv(ch[0] / 2, ch[0], 2), bn(ch[0]), buildActivationLayer(act),
      conv(ch[0], ch[0], 1), bn(ch[0]),
    ));
    const k = options.k ?? 9;
    const dpr = linspaceF32(0, options.drop_path ?? 0, this.numBlocks);
    const numKnn = linspaceF32(k, k, this.numBlocks).map((v) => Math.trunc(v));
    const maxDilation = Math.floor(49 / Math.max(...numKnn));
    this.posEmbed = this.registerParameter('pos_embed', lazy([1, ch[0], 56, 56], () => tf.zeros([1, ch[0], 56, 56])))!;
    let hw = Math.floor((224 / 4) * 224 / 4);
    const reduceRatios = [4, 2, 1, 1];
    const stages: Sequential[] = [];
    let blockIdx = 0;
    this.blockCounts.forEach((num, s) => {
      const c = ch[s];
      const r = reduceRatios[s] ?? 1;
      const blocks: Layer[] = [];
      if (s > 0) {
        blocks.push(new Sequential(conv(ch[s - 1], c, 2), bn(c)));
        hw = Math.floor(hw / 4);
      }
      for (let j = 0; j < num; j++) {
        blocks.push(new Sequential(
          new Grapher({
            in_channels: c, k: numKnn[blockIdx], dilation: Math.min(Math.floor(blockIdx / 4) + 1, maxDilation),
            graph_conv_type: options.graph_conv_type ?? 'mr', act_cfg: act, norm_cfg: norm,
            graph_conv_bias: options.graph_conv_bias ?? true, use_stochastic: options.use_stochastic ?? false,
            epsilon: options.epsilon ?? 0.2, r, n: hw, drop_path: dpr[blockIdx], relative_pos: true,
          }),
          new VigFFN(c, c * 4, act, dpr[blockIdx]),
        ));
        blockIdx++;
      }
      stages.push(new Sequential(...blocks));
    });
    this.stages = this.addModule('stages', new ModuleList(stages));
    this.normEval = options.norm_eval ?? false;
    this.frozenStages = options.frozen_stages ?? 0;
    this.train(true);
  }

  override train(mode = true): this {
    return this.trainWithFrozen(mode, () => freezeLeading(this.stem, this.stages, this.frozenStages), this.normEval);
  }

  forward(x: tf.Tensor): Feat[] {
    let y = tf.add(this.stem.forward(x), tf.transpose(this.posEmbed.variable, [0, 2, 3, 1]));
    const outs: Feat[] = [];
    for (let i = 0; i < this.stages.length; i++) {
      y = this.stages.at(i).forward(y);
      if (this.outIndices.includes(i)) outs.push(y);
    }
    return outs;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = asShape(this.stem.inferShape(x, ctx));
    const outs: ShapeValue[] = [];
    ctx.enter(this.stages);
    try {
      for (let i = 0; i < this.stages.length; i++) {
        y = asShape(this.stages.at(i).inferShape(y, ctx));
        if (this.outIndices.includes(i)) outs.push(y);
      }
    } finally {
      ctx.exit(this.stages);
    }
    return outs;
  }
}
