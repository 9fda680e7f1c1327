import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { Grapher, ImageClassifier, PyramidVig, Vig, VigClsHead, linspaceF32, sincos2d, vigRelativePos } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { Sequential } from '../../runtime/nn/layer';
import { Module, StateEntry } from '../../runtime/nn/module';
import { _BatchNorm } from '../../runtime/nn/norm';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';

/** erf by its Taylor series (float64; |x| < 4 is all the tests need). */
function erf(x: number): number {
  if (Math.abs(x) >= 4) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= (-x * x) / n;
    sum += term / (2 * n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));

/** Fills every float state-dict entry of `m` with deterministic values (running_var kept positive); returns them. */
function fillState(m: Module, seed: number): Map<string, StateEntry> {
  const state = new Map<string, StateEntry>();
  let s = seed;
  for (const { key, shape, tensor } of m.stateDictKeys()) {
    if (key.endsWith('num_batches_tracked')) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const v = seq(n, s++);
    let data: Float32Array;
    if (key.endsWith('running_var')) data = v.map((e) => 1 + 0.5 * Math.abs(e));
    else if (key.endsWith('running_mean') || key.endsWith('.bias')) data = v.map((e) => 0.1 * e);
    else if (key.endsWith('.weight') && shape.length === 1) data = v.map((e) => 1 + 0.2 * e);
    else if (key.endsWith('relative_pos')) data = v.map((e) => 0.3 * e);
    else data = v.map((e) => e * Math.sqrt(2 / (n / shape[0])));
    void tensor;
    state.set(key, { data, shape });
  }
  m.loadStateDict(state, { strict: false });
  return state;
}

type Rows = number[][];

/** 1x1 convolution (groups) + eval batch norm on node rows [N][Cin], weights in PyTorch's layout. */
function convBn(x: Rows, st: Map<string, StateEntry>, conv: string, bn: string, groups = 1): Rows {
  const w = st.get(`${conv}.weight`)!;
  const b = st.get(`${conv}.bias`)?.data;
  const [cout, cinG] = w.shape;
  const g = st.get(`${bn}.weight`)!.data;
  const beta = st.get(`${bn}.bias`)!.data;
  const rm = st.get(`${bn}.running_mean`)!.data;
  const rv = st.get(`${bn}.running_var`)!.data;
  const outPerG = cout / groups;
  return x.map((row) => {
    const out: number[] = [];
    for (let o = 0; o < cout; o++) {
      const grp = Math.floor(o / outPerG);
      let s = b ? Number(b[o]) : 0;
      for (let i = 0; i < cinG; i++) s += Number(w.data[o * cinG + i]) * row[grp * cinG + i];
      out.push(((s - Number(rm[o])) / Math.sqrt(Number(rv[o]) + 1e-5)) * Number(g[o]) + Number(beta[o]));
    }
    return out;
  });
}

/** k-NN as MMCls builds it: L2-normalised rows, squared distance (+ relative), k * d nearest, every d-th. */
function knn(x: Rows, y: Rows, k: number, d: number, rel: ArrayLike<number> | null): number[][] {
  const norm = (r: number[]): number[] => {
    const l = Math.max(Math.sqrt(r.reduce((a, v) => a + v * v, 0)), 1e-12);
    return r.map((v) => v / l);
  };
  const xn = x.map(norm);
  const yn = y.map(norm);
  return xn.map((a, i) => {
    const dist = yn.map((b, j) => a.reduce((s, v, c) => s + (v - b[c]) ** 2, 0) + (rel ? Number(rel[i * y.length + j]) : 0));
    const order = dist.map((v, j) => [v, j]).sort((p, q) => p[0] - q[0] || p[1] - q[1]).map((p) => p[1]);
    return order.slice(0, k * d).filter((_, t) => t % d === 0);
  });
}

/** Grapher by hand (eval mode) on one image's nodes [H*W][C]; `type` mr or edge; y pooled by r. */
function grapherByHand(x: Rows, h: number, w: number, st: Map<string, StateEntry>, k: number, d: number, r: number, type: 'mr' | 'edge' | 'sage' | 'gin'): Rows {
  const c = x[0].length;
  const f = convBn(x, st, 'fc1.0', 'fc1.1');
  let y = f;
  if (r > 1) {
    y = [];
    for (let i = 0; i < h / r; i++) {
      for (let j = 0; j < w / r; j++) {
        const acc = new Array(c).fill(0);
        for (let a = 0; a < r; a++) for (let b = 0; b < r; b++) f[(i * r + a) * w + j * r + b].forEach((v, ch) => (acc[ch] += v / (r * r)));
        y.push(acc);
      }
    }
  }
  const nb = knn(f, y, k, d, (st.get('relative_pos')?.data as Float32Array | undefined) ?? null);
  let g: Rows;
  if (type === 'mr') {
    const z = f.map((row, n) => {
      const out: number[] = [];
      row.forEach((v, ch) => out.push(v, Math.max(...nb[n].map((j) => y[j][ch])) - v));
      return out;
    });
    g = convBn(z, st, 'graph_conv.gconv.nn.0', 'graph_conv.gconv.nn.1', 4).map((row) => row.map(gelu));
  } else if (type === 'sage') {
    g = f.map((row, n) => {
      const per = nb[n].map((j) => convBn([y[j]], st, 'graph_conv.gconv.nn1.0', 'graph_conv.gconv.nn1.1', 4)[0].map(gelu));
      const agg = per[0].map((_, o) => Math.max(...per.map((p) => p[o])));
      return convBn([[...row, ...agg]], st, 'graph_conv.gconv.nn2.0', 'graph_conv.gconv.nn2.1', 4)[0].map(gelu);
    });
  } else if (type === 'gin') {
    const eps = Number(st.get('graph_conv.gconv.eps')!.data[0]);
    const z = f.map((row, n) => row.map((v, ch) => (1 + eps) * v + nb[n].reduce((s, j) => s + y[j][ch], 0)));
    g = convBn(z, st, 'graph_conv.gconv.nn.0', 'graph_conv.gconv.nn.1', 4).map((row) => row.map(gelu));
  } else {
    g = f.map((row, n) => {
      const per = nb[n].map((j) => convBn([[...row, ...y[j].map((v, ch) => v - row[ch])]], st, 'graph_conv.gconv.nn.0', 'graph_conv.gconv.nn.1', 4)[0].map(gelu));
      return per[0].map((_, o) => Math.max(...per.map((p) => p[o])));
    });
  }
  const out = convBn(g, st, 'fc2.0', 'fc2.1');
  return out.map((row, n) => row.map((v, ch) => v + x[n][ch]));
}

describe('Vig', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224 (fvcore conventions, eval mode)', () => {
    // [type, arch, head in_channels, params, FLOPs]. vig-tiny: the MMCls reference measurement
    // (7184744 parameters, 1309029120 FLOPs). The others: the zoo's FLOPs (G) agree to the last digit;
    // its parameters agree for vig-small and pvig-small/medium/base. The zoo's vig-base (20.68M) and
    // pvig-tiny (9.46M) figures are not what these architectures have: ViG-B has 86.8M parameters in
    // its paper, and Pyramid ViG-Ti 10.7M plus 1.77M of fixed relative-position parameters (which the
    // counter includes, as it does for the other pyramid models whose figures match).
    const presets: [string, string, number, number, number][] = [
      ['Vig', 'tiny', 192, 7184744, 1309029120],
      ['Vig', 'small', 320, 22.748e6, 4.535e9],
      ['Vig', 'base', 640, 86.842e6, 17.681e9],
      ['PyramidVig', 'tiny', 384, 12.486e6, 1.714e9],
      ['PyramidVig', 'small', 640, 29.024e6, 4.572e9],
      ['PyramidVig', 'medium', 768, 51.682e6, 8.886e9],
      ['PyramidVig', 'base', 1024, 95.213e6, 16.861e9],
    ];
    for (const [type, arch, c, params, flops] of presets) {
      it(`${type}-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type, arch }, neck: { type: 'GlobalAveragePooling' },
          head: { type: 'VigClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const rep = analyzeComplexity(m, [3, 224, 224]);
        if (arch === 'tiny' && type === 'Vig') {
          assert.equal(rep.params, params);
          assert.equal(rep.flops, flops);
          assert.equal(rep.byOperator.matmul, 88510464);
        } else {
          assert.ok(Math.abs(rep.params - params) <= 500, `params ${rep.params}`);
          assert.ok(Math.abs(rep.flops - flops) <= 0.5e6, `flops ${rep.flops}`);
        }
      });
    }
  });

  it('k of each block grows linearly from k to 2k (float32 linspace, truncated), dilation every 4 blocks', () => {
    assert.deepEqual(linspaceF32(9, 18, 12).map(Math.trunc), [9, 9, 10, 11, 12, 13, 13, 14, 15, 16, 17, 18]);
    assert.deepEqual(linspaceF32(9, 18, 16).map(Math.trunc), [9, 9, 10, 10, 11, 12, 12, 13, 13, 14, 15, 15, 16, 16, 17, 18]);
    const m = new Vig({ arch: 'tiny' });
    const ks = m.blocks.toArray().map((b) => (b.at(0) as Grapher).graphConv.dilatedKnnGraph.k);
    const ds = m.blocks.toArray().map((b) => (b.at(0) as Grapher).graphConv.dilatedKnnGraph.dilation);
    assert.deepEqual(ks, [9, 9, 10, 11, 12, 13, 13, 14, 15, 16, 17, 18]);
    assert.deepEqual(ds, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
    const p = new PyramidVig({ arch: 'tiny' });
    const pd = p.stages.toArray().flatMap((s) => (s.items() as Sequential[]).filter((b) => b.at(0) instanceof Grapher).map((b) => (b.at(0) as Grapher).graphConv.dilatedKnnGraph.dilation));
    assert.deepEqual(pd, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
  });

  it('state-dict keys: pos_embed first, relative_pos before the Grapher children, gconv per type', () => {
    const keys = new Vig({ arch: 'tiny' }).stateDictKeys();
    assert.equal(keys[0].key, 'pos_embed');
    assert.deepEqual(keys[0].shape, [1, 192, 14, 14]);
    assert.deepEqual(keys.slice(1, 3).map((e) => e.key), ['stem.0.weight', 'stem.0.bias']);
    const g = (type: string, rel: boolean): string[] =>
      new Grapher({
        in_channels: 8, k: 2, dilation: 1, graph_conv_type: type as 'mr', act_cfg: { type: 'GELU' }, norm_cfg: { type: 'BN' },
        graph_conv_bias: true, use_stochastic: false, epsilon: 0.2, r: 1, n: 16, drop_path: 0, relative_pos: rel,
      }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`).filter((k) => !/running|num_batches|fc[12]\.1/.test(k));
    assert.deepEqual(g('mr', true), [
      'relative_pos 1x16x16', 'fc1.0.weight 8x8x1x1', 'fc1.0.bias 8', 'graph_conv.gconv.nn.0.weight 16x4x1x1', 'graph_conv.gconv.nn.0.bias 16',
      'graph_conv.gconv.nn.1.weight 16', 'graph_conv.gconv.nn.1.bias 16', 'fc2.0.weight 8x16x1x1', 'fc2.0.bias 8',
    ]);
    assert.ok(g('sage', false).includes('graph_conv.gconv.nn1.0.weight 8x2x1x1') && g('sage', false).includes('graph_conv.gconv.nn2.0.weight 16x4x1x1'));
    assert.equal(g('gin', false)[2], 'graph_conv.gconv.eps 1');
    assert.ok(g('edge', false).includes('graph_conv.gconv.nn.0.weight 16x4x1x1'));
    const p = new PyramidVig({ arch: 'tiny' }).stateDictKeys();
    const rel = p.filter((e) => e.key.endsWith('relative_pos')).map((e) => `${e.key} ${e.shape.join('x')}`);
    assert.deepEqual(rel.slice(0, 3), ['stages.0.0.0.relative_pos 1x3136x196', 'stages.0.1.0.relative_pos 1x3136x196', 'stages.1.1.0.relative_pos 1x784x196']);
    assert.ok(p.some((e) => e.key === 'stages.1.0.0.weight'), 'the down-sampling convolution opens stages 1 to 3');
  });

  it('relative positions: -(2 P Pᵀ / C) of the sin-cos table, columns resized bicubically for pooled nodes', () => {
    const p = sincos2d(8, 4);
    // MAE's table: first half encodes w (x), second half h (y); sin then cos.
    assert.ok(Math.abs(p[1][0] - Math.sin(1)) < 1e-6 && Math.abs(p[1][2] - Math.cos(1)) < 1e-6 && Math.abs(p[4][4] - Math.sin(1)) < 1e-6);
    const r1 = vigRelativePos(8, 16, 1);
    const dot = (i: number, j: number): number => p[i].reduce((s, v, c) => s + v * p[j][c], 0);
    for (const [i, j] of [[0, 0], [3, 7], [15, 2]]) assert.ok(Math.abs(r1[i * 16 + j] + (2 * dot(i, j)) / 8) < 1e-5);
    // 16 -> 4 columns (r = 2): scale 4, source 1.5 + 4j, PyTorch's cubic weights at t = 0.5, A = -0.75.
    const r2 = vigRelativePos(8, 16, 2);
    const w = [-0.09375, 0.59375, 0.59375, -0.09375];
    for (const [i, j] of [[0, 0], [5, 1], [9, 3]]) {
      let v = 0;
      [0, 1, 2, 3].forEach((t) => (v += w[t] * (2 * dot(i, Math.min(Math.max(4 * j + t, 0), 15))) / 8));
      assert.ok(Math.abs(r2[i * 4 + j] + v) < 1e-5, `${i},${j}`);
    }
  });

  for (const [type, r, rel] of [['mr', 1, false], ['mr', 2, true], ['edge', 1, true], ['sage', 2, true], ['gin', 1, false]] as ['mr' | 'edge' | 'sage' | 'gin', number, boolean][]) {
    it(`Grapher (${type}, r=${r}${rel ? ', relative_pos' : ''}) matches a hand computation on a 4x4 map, batch 2`, () => {
      const c = 8;
      const k = 3;
      const d = r === 1 ? 2 : 1;
      const gr = new Grapher({
        in_channels: c, k, dilation: d, graph_conv_type: type, act_cfg: { type: 'GELU' }, norm_cfg: { type: 'BN' },
        graph_conv_bias: true, use_stochastic: false, epsilon: 0.2, r, n: 16, drop_path: 0, relative_pos: rel,
      });
      gr.eval();
      const st = fillState(gr, 11);
      const data = seq(2 * 16 * c, 5);
      const x = tf.tensor4d(data, [2, 4, 4, c]);
      const out = gr.forward(x).dataSync();
      const expect: number[] = [];
      for (let b = 0; b < 2; b++) {
        const rows: Rows = Array.from({ length: 16 }, (_, n) => Array.from(data.slice((b * 16 + n) * c, (b * 16 + n + 1) * c)));
        expect.push(...grapherByHand(rows, 4, 4, st, k, d, r, type).flat());
      }
      assert.ok(maxAbsDiff(out, expect) < 1e-4, `max diff ${maxAbsDiff(out, expect)}`);
      tf.dispose(x);
    });
  }

  it('VigClsHead: fc1, BatchNorm1d, GELU, fc2 (keys and numbers)', () => {
    const head = new VigClsHead({ num_classes: 3, in_channels: 4, hidden_dim: 5 });
    assert.deepEqual(head.stateDictKeys().map((e) => e.key), [
      'fc1.weight', 'fc1.bias', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked', 'fc2.weight', 'fc2.bias',
    ]);
    head.eval();
    const st = fillState(head, 3);
    const x = seq(2 * 4, 9);
    const out = head.forward([tf.tensor2d(x, [2, 4])]).dataSync();
    const lin = (v: number[], name: string): number[] => {
      const w = st.get(`${name}.weight`)!;
      const b = st.get(`${name}.bias`)!.data;
      return Array.from({ length: w.shape[0] }, (_, o) => v.reduce((s, e, i) => s + e * Number(w.data[o * w.shape[1] + i]), Number(b[o])));
    };
    const expect: number[] = [];
    for (let n = 0; n < 2; n++) {
      const hdn = lin(Array.from(x.slice(n * 4, n * 4 + 4)), 'fc1').map((v, o) => gelu(
        ((v - Number(st.get('bn.running_mean')!.data[o])) / Math.sqrt(Number(st.get('bn.running_var')!.data[o]) + 1e-5)) * Number(st.get('bn.weight')!.data[o]) + Number(st.get('bn.bias')!.data[o])));
      expect.push(...lin(hdn, 'fc2'));
    }
    assert.ok(maxAbsDiff(out, expect) < 1e-5);
  });

  it('train(): the stem stays in eval mode; frozen_stages freezes leading blocks; norm_eval', () => {
    const m = new Vig({ arch: { num_blocks: 3, channels: 16 }, frozen_stages: 1 });
    m.train();
    const bns = (mod: Module): _BatchNorm[] => mod.namedModules().map(([, x]) => x).filter((x): x is _BatchNorm => x instanceof _BatchNorm);
    assert.ok(bns(m.stem).every((b) => !b.training));
    assert.ok(bns(m.blocks.at(0)).every((b) => !b.training) && m.blocks.at(0).parameters().every((p) => !p.requiresGrad));
    assert.ok(bns(m.blocks.at(1)).every((b) => b.training) && m.blocks.at(1).parameters().every((p) => p.requiresGrad));
    assert.ok(m.stem.parameters().every((p) => p.requiresGrad));
    const n = new PyramidVig({ arch: { blocks: [1, 1, 1, 1], channels: [8, 16, 24, 32] }, norm_eval: true });
    n.train();
    assert.ok(bns(n).every((b) => !b.training));
    assert.ok(n.parameters().filter((p) => p.requiresGrad).length === n.parameters().length - 4, 'only relative_pos is fixed');
  });

  it('out_indices: blocks (Vig) and stages (PyramidVig), shapes by the shape pass', () => {
    const m = new Vig({ arch: 'tiny', out_indices: [0, -1] });
    assert.deepEqual(m.outIndices, [0, 11]);
    const p = new PyramidVig({ arch: 'tiny', out_indices: [0, 1, 2, 3] });
    const rep = analyzeComplexity(p, [3, 224, 224]);
    assert.deepEqual(rep.outputShape, [[1, 48, 56, 56], [1, 96, 28, 28], [1, 240, 14, 14], [1, 384, 7, 7]]);
    assert.throws(() => new Vig({ arch: 'huge' as 'tiny' }), /unavailable arch/);
    assert.throws(() => new Vig({ arch: 'tiny', graph_conv_type: 'gat' as 'mr' }), /not supported/);
  });

  it('one training step of tiny variants: every trainable parameter gets a finite, non-zero gradient', function () {
    this.timeout(120000);
    for (const type of ['mr', 'edge', 'sage', 'gin']) {
      checkGradients({ type: 'Vig', arch: { num_blocks: 2, channels: 16 }, k: 3, graph_conv_type: type, drop_path: 0 }, { type: 'GlobalAveragePooling' }, 16, 224);
    }
    checkGradients({ type: 'PyramidVig', arch: { blocks: [1, 1, 1, 1], channels: [8, 16, 16, 16] }, k: 3, drop_path: 0 }, { type: 'GlobalAveragePooling' }, 16, 224);
  });

  it('one training step through VigClsHead reaches every head parameter', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier', backbone: { type: 'Vig', arch: { num_blocks: 1, channels: 8 }, k: 2 }, neck: { type: 'GlobalAveragePooling' },
      head: { type: 'VigClsHead', num_classes: 3, in_channels: 8, hidden_dim: 6 },
    });
    m.initWeights();
    m.train();
    const x = tf.tensor4d(seq(2 * 224 * 224 * 3, 4), [2, 224, 224, 3]);
    const samples = [0, 2].map((l) => new ClsDataSample().set_gt_label(l));
    const vars = m.trainableVariables();
    const { grads } = tf.variableGrads(() => tf.addN(Object.values(m.loss(x, samples))) as tf.Scalar, vars);
    const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
    const headGrads = Object.entries(grads).filter(([v]) => names.get(v)!.startsWith('head.'));
    assert.equal(headGrads.length, 6);
    for (const [v, g] of headGrads) assert.ok(g.dataSync().some((e) => e !== 0) && g.dataSync().every(Number.isFinite), names.get(v));
    tf.dispose([x, ...Object.values(grads)]);
    m.dispose();
  });
});
