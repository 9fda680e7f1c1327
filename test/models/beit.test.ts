import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { BEiT, BEiTAttention, BEiTTransformerEncoderLayer, ImageClassifier, RelativePositionBias, relativePositionIndex } from '../../runtime/models';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { Module, StateEntry } from '../../runtime/nn/module';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

const CONFIGS = path.resolve(__dirname, '..', '..', 'configs');

/** Every state entry of `m` set to `seq` values (integer buffers keep theirs); `override` replaces some. */
function fill(m: Module, override: (key: string, n: number) => Float32Array | undefined = () => undefined): Map<string, StateEntry> {
  const own = m.stateDict();
  const sd = new Map<string, StateEntry>();
  m.stateDictKeys().forEach(({ key, shape, kind }, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (kind === 'buffer') sd.set(key, own.get(key)!);
    else sd.set(key, { data: override(key, n) ?? seq(n, 200 + i), shape });
  });
  return sd;
}

describe('BEiT', () => {
  before(useTestBackend);

  describe('configs: parameters and FLOPs as the model zoo publishes them (BEiT, BEiT v2, EVA)', () => {
    const zoo: [string, number, number][] = [
      ['beit/beit-base-p16_8xb64_in1k', 86.53, 17.58],
      ['beitv2/beitv2-base-p16_8xb64_in1k', 86.53, 17.58],
      ['eva/eva-l-p14_8xb16_in1k-196px', 304.14, 61.57],
      ['eva/eva-l-p14_8xb16_in1k-336px', 304.53, 191.1],
      ['eva/eva-g-p14_8xb16_in1k-336px', 1013.01, 620.64],
      ['eva/eva-g-p14_8xb16_in1k-560px', 1014.45, 1906.76],
    ];
    for (const [name, params, flops] of zoo) {
      it(name, () => {
        const cfg = loadConfig(path.join(CONFIGS, `${name}.py`)).value as Record<string, unknown>;
        const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), name);
        assert.ok(Math.abs(result.params / 1e6 - params) <= 0.006, `params ${result.params}`);
        assert.ok(Math.abs(result.flops / 1e9 - flops) <= 0.006, `flops ${result.flops}`);
      });
    }
  });

  it('relative position index of a 2x2 window with the class token (written out by hand)', () => {
    const { index, size, numRelativeDistance } = relativePositionIndex(2, 2);
    assert.equal(size, 5);
    assert.equal(numRelativeDistance, 3 * 3 + 3);
    // Token p = (row, col): (0,0) (0,1) (1,0) (1,1); entry (dh + 1) * 3 + (dw + 1); cls row 9, cls column 10, cls-cls 11.
    assert.deepEqual(Array.from(index), [
      11, 9, 9, 9, 9,
      10, 4, 3, 1, 0,
      10, 5, 4, 2, 1,
      10, 7, 6, 4, 3,
      10, 8, 7, 5, 4,
    ]);
    const noCls = relativePositionIndex(2, 3, false);
    assert.equal(noCls.numRelativeDistance, 3 * 5);
    assert.deepEqual(Array.from(noCls.index.slice(0, 6)), [7, 6, 5, 2, 1, 0]);
  });

  it('state-dict keys: BEiT (q/v biases, relative position bias, gamma_1/gamma_2), EVA (abs pos_embed, qkv bias) and the shared bias', () => {
    const arch = { embed_dims: 8, num_layers: 1, num_heads: 2, feedforward_channels: 16 };
    const keys = (o: Record<string, unknown>): string[] => new BEiT({ arch, img_size: 8, patch_size: 4, ...o }).stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`);
    const ffn = ['layers.0.ffn.layers.0.0.weight 16x8', 'layers.0.ffn.layers.0.0.bias 16', 'layers.0.ffn.layers.1.weight 8x16', 'layers.0.ffn.layers.1.bias 8'];
    const patch = ['patch_embed.projection.weight 8x3x4x4', 'patch_embed.projection.bias 8'];
    assert.deepEqual(keys({}), [
      'cls_token 1x1x8', ...patch,
      'layers.0.gamma_1 8', 'layers.0.gamma_2 8', 'layers.0.ln1.weight 8', 'layers.0.ln1.bias 8',
      'layers.0.attn.q_bias 8', 'layers.0.attn.v_bias 8', 'layers.0.attn.relative_position_bias_table 12x2', 'layers.0.attn.relative_position_index 5x5',
      'layers.0.attn.qkv.weight 24x8', 'layers.0.attn.proj.weight 8x8', 'layers.0.attn.proj.bias 8',
      'layers.0.ln2.weight 8', 'layers.0.ln2.bias 8', ...ffn, 'ln2.weight 8', 'ln2.bias 8',
    ]);
    assert.deepEqual(keys({ use_abs_pos_emb: true, use_rel_pos_bias: false, layer_scale_init_value: 0, layer_cfgs: { bias: true } }), [
      'cls_token 1x1x8', 'pos_embed 1x5x8', ...patch, 'layers.0.ln1.weight 8', 'layers.0.ln1.bias 8',
      'layers.0.attn.qkv.weight 24x8', 'layers.0.attn.qkv.bias 24', 'layers.0.attn.proj.weight 8x8', 'layers.0.attn.proj.bias 8',
      'layers.0.ln2.weight 8', 'layers.0.ln2.bias 8', ...ffn, 'ln2.weight 8', 'ln2.bias 8',
    ]);
    const shared = keys({ use_rel_pos_bias: false, use_shared_rel_pos_bias: true, final_norm: true, avg_token: false });
    assert.deepEqual(shared.slice(3, 5), ['rel_pos_bias.relative_position_bias_table 12x2', 'rel_pos_bias.relative_position_index 5x5']);
    assert.deepEqual(shared.slice(-2), ['ln1.weight 8', 'ln1.bias 8']);
    const m = new BEiT({ arch, img_size: 8, patch_size: 4 });
    const buf = m.namedBuffers().find(([k]) => k.endsWith('relative_position_index'))![1];
    assert.equal(buf.torchDtype, 'int64');
    assert.throws(() => new BEiT({ use_rel_pos_bias: true, use_shared_rel_pos_bias: true }), /cannot be set to True at the same time/);
  });

  it('attention: q and v biases (no k bias), q scaled, the relative position bias added to q·k (float64 reference)', () => {
    const c = 4;
    const heads = 2;
    const d = c / heads;
    const attn = new BEiTAttention({ embed_dims: c, num_heads: heads, window_size: [2, 2], use_rel_pos_bias: true });
    attn.eval();
    const sd = fill(attn);
    attn.loadStateDict(sd);
    const n = 5;
    const xd = seq(n * c, 5);
    const x = tf.tensor3d(xd, [1, n, c]);
    const y = attn.forward(x);
    // Reference: PyTorch layouts (weights [out, in]).
    const W = sd.get('qkv.weight')!.data as Float32Array;
    const qb = sd.get('q_bias')!.data as Float32Array;
    const vb = sd.get('v_bias')!.data as Float32Array;
    const table = sd.get('relative_position_bias_table')!.data as Float32Array; // [12, heads]
    const index = relativePositionIndex(2, 2).index;
    const P = sd.get('proj.weight')!.data as Float32Array;
    const pb = sd.get('proj.bias')!.data as Float32Array;
    const qkv: number[][] = [];
    for (let t = 0; t < n; t++) {
      const row: number[] = [];
      for (let o = 0; o < 3 * c; o++) {
        let s = o < c ? qb[o] : o >= 2 * c ? vb[o - 2 * c] : 0;
        for (let i = 0; i < c; i++) s += W[o * c + i] * xd[t * c + i];
        row.push(s);
      }
      qkv.push(row);
    }
    const out: number[] = new Array(n * c).fill(0);
    const ctx: number[][] = Array.from({ length: n }, () => new Array(c).fill(0));
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < n; i++) {
        const logits: number[] = [];
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let k = 0; k < d; k++) s += qkv[i][h * d + k] * d ** -0.5 * qkv[j][c + h * d + k];
          logits.push(s + table[index[i * n + j] * heads + h]);
        }
        const mx = Math.max(...logits);
        const e = logits.map((v) => Math.exp(v - mx));
        const z = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < n; j++) for (let k = 0; k < d; k++) ctx[i][h * d + k] += (e[j] / z) * qkv[j][2 * c + h * d + k];
      }
    }
    for (let t = 0; t < n; t++) for (let o = 0; o < c; o++) {
      let s = pb[o];
      for (let i = 0; i < c; i++) s += P[o * c + i] * ctx[t][i];
      out[t * c + o] = s;
    }
    assert.ok(maxAbsDiff(y.dataSync(), out) < 1e-5);

    // A shared bias passed in is added on top; the table of RelativePositionBias gives [heads, N, N].
    const shared = new RelativePositionBias({ window_size: [2, 2], num_heads: heads });
    shared.loadStateDict(fill(shared));
    const bias = shared.forward();
    assert.deepEqual(bias.shape, [heads, n, n]);
    const tb = shared.relativePositionBiasTable.variable.dataSync();
    assert.equal(bias.dataSync()[1 * n * n + 2 * n + 3], tb[index[2 * n + 3] * heads + 1]);
    const y2 = attn.forward(x, bias);
    assert.ok(maxAbsDiff(y2.dataSync(), y.dataSync()) > 1e-4);
    tf.dispose([x, y, y2, bias]);
  });

  it('a layer is x + gamma_1 * attn(ln1(x)), then + gamma_2 * ffn(ln2(.)) with no identity inside the FFN', () => {
    // Zero output weights make attn() the proj bias and ffn() the second fc bias: the layer adds
    // gamma_1 * proj.bias + gamma_2 * fc2.bias to every token (an FFN shortcut would add ln2(x) as well).
    const layer = new BEiTTransformerEncoderLayer({ embed_dims: 4, num_heads: 2, feedforward_channels: 8, layer_scale_init_value: 0.1, window_size: [2, 2], use_rel_pos_bias: true });
    layer.eval();
    const sd = fill(layer, (k, n) => (k === 'attn.proj.weight' || k === 'ffn.layers.1.weight' ? new Float32Array(n) : undefined));
    layer.loadStateDict(sd);
    const xd = seq(5 * 4, 8);
    const x = tf.tensor3d(xd, [1, 5, 4]);
    const y = layer.forward(x);
    const g1 = sd.get('gamma_1')!.data as Float32Array;
    const g2 = sd.get('gamma_2')!.data as Float32Array;
    const pb = sd.get('attn.proj.bias')!.data as Float32Array;
    const fb = sd.get('ffn.layers.1.bias')!.data as Float32Array;
    const expected = Array.from(xd, (v, i) => v + g1[i % 4] * pb[i % 4] + g2[i % 4] * fb[i % 4]);
    assert.ok(maxAbsDiff(y.dataSync(), expected) < 1e-6);
    tf.dispose([x, y]);
  });

  it('outputs: averaged patch tokens through ln2 (default), [patch map, cls] with avg_token=False and output_cls_token=True', () => {
    const arch = { embed_dims: 8, num_layers: 2, num_heads: 2, feedforward_channels: 16 };
    const m = new BEiT({ arch, img_size: 8, patch_size: 4, out_indices: [0, 1] });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(2 * 8 * 8 * 3, 4), [2, 8, 8, 3]);
    const outs = m.forward(x) as tf.Tensor[];
    assert.deepEqual(outs.map((o) => o.shape), [[2, 8], [2, 8]]);
    const ctx = { enter() {}, exit() {}, add() {} };
    assert.deepEqual(m.inferShape([2, 3, 8, 8], ctx), [[2, 8], [2, 8]]);
    const m2 = new BEiT({ arch, img_size: 8, patch_size: 4, avg_token: false, output_cls_token: true, use_abs_pos_emb: true, use_rel_pos_bias: false });
    m2.initWeights();
    m2.eval();
    const [[patch, cls]] = m2.forward(x) as tf.Tensor[][];
    assert.deepEqual(patch.shape, [2, 2, 2, 8]);
    assert.deepEqual(cls.shape, [2, 8]);
    // The absolute position embedding is interpolated for another size; the relative bias cannot be.
    const big = tf.tensor4d(seq(1 * 12 * 12 * 3, 4), [1, 12, 12, 3]);
    const [[p2]] = m2.forward(big) as tf.Tensor[][];
    assert.deepEqual(p2.shape, [1, 3, 3, 8]);
    assert.throws(() => m.forward(big), (e: unknown) => e instanceof MmclsError && /made for 5 tokens/.test(e.message));
    tf.dispose([x, ...outs, patch, cls, big, p2]);
    m.dispose();
    m2.dispose();
  });

  it('frozen_stages freezes the patch embedding, the class token and the first layers', () => {
    const m = new BEiT({ arch: { embed_dims: 8, num_layers: 2, num_heads: 2, feedforward_channels: 16 }, img_size: 8, patch_size: 4, frozen_stages: 1 });
    m.train();
    const frozen = m.namedParameters().filter(([, p]) => !p.requiresGrad).map(([k]) => k);
    assert.ok(frozen.includes('cls_token') && frozen.includes('patch_embed.projection.weight') && frozen.includes('layers.0.gamma_1'));
    assert.ok(!frozen.some((k) => k.startsWith('layers.1.') || k.startsWith('ln2')));
    assert.equal(m.layers.at(0).training, false);
  });

  it('checkpoint loading: a shared table goes to every layer, tables and pos_embed of another size are resized', () => {
    const arch = { embed_dims: 8, num_layers: 2, num_heads: 2, feedforward_channels: 16 };
    // Pre-trained with the shared bias at 8x8 (2x2 patches): 3*3 + 3 rows.
    const pre = new BEiT({ arch, img_size: 8, patch_size: 4, use_rel_pos_bias: false, use_shared_rel_pos_bias: true, use_abs_pos_emb: true });
    const ckpt = fill(pre);
    const fine = new BEiT({ arch, img_size: 8, patch_size: 4, use_abs_pos_emb: true });
    const report = fine.loadStateDict(ckpt, { strict: false });
    // As in MMCls, the layers' index buffers are not in such a checkpoint; they keep the values built here.
    assert.deepEqual(report.missing, ['layers.0.attn.relative_position_index', 'layers.1.attn.relative_position_index']);
    assert.deepEqual(report.unexpected, []);
    const table = ckpt.get('rel_pos_bias.relative_position_bias_table')!.data as Float32Array;
    for (const i of [0, 1]) {
      const t = fine.getSubmodule(`layers.${i}.attn`)!.getParameter('relative_position_bias_table')!.variable.dataSync();
      assert.deepEqual(Array.from(t), Array.from(table));
    }
    // Fine-tuning at 12x12 (3x3 patches): 5*5 + 3 rows; the class-token rows are kept, the index rebuilt.
    const big = new BEiT({ arch, img_size: 12, patch_size: 4, use_abs_pos_emb: true });
    const own = fine.stateDict();
    const r2 = big.loadStateDict(own, { strict: false });
    assert.equal(r2.mismatched.length, 0);
    assert.deepEqual(r2.missing, ['layers.0.attn.relative_position_index', 'layers.1.attn.relative_position_index']);
    const t0 = own.get('layers.0.attn.relative_position_bias_table')!.data as Float32Array;
    const t1 = big.getSubmodule('layers.0.attn')!.getParameter('relative_position_bias_table')!.variable.dataSync();
    assert.equal(t1.length, 28 * 2);
    assert.deepEqual(Array.from(t1.slice(25 * 2)), Array.from(t0.slice(9 * 2)));
    // The centre of the 3x3 offset grid (offset 0, 0) sits at the centre of the 5x5 one.
    assert.ok(Math.abs(t1[12 * 2] - t0[4 * 2]) < 1e-6);
    const idx = big.getSubmodule('layers.0.attn')!.getBuffer('relative_position_index')!.variable.dataSync();
    assert.deepEqual(Array.from(idx), Array.from(relativePositionIndex(3, 3).index));
    const pos = big.posEmbed!.variable.dataSync();
    assert.equal(pos.length, 10 * 8);
    assert.deepEqual(Array.from(pos.slice(0, 8)), Array.from((own.get('pos_embed')!.data as Float32Array).slice(0, 8)), 'the cls slot is kept');
    [pre, fine, big].forEach((m) => m.dispose());
  });

  const gradCases: [string, Record<string, unknown>][] = [
    ['BEiT (relative position bias per layer, q/v biases, layer scale)', {}],
    ['BEiT with the shared relative position bias', { use_rel_pos_bias: false, use_shared_rel_pos_bias: true }],
    ['EVA style (absolute position embedding, full qkv bias, no layer scale)', { use_abs_pos_emb: true, use_rel_pos_bias: false, layer_scale_init_value: 0, layer_cfgs: { bias: true } }],
  ];
  for (const [name, extra] of gradCases) {
    it(`one training step: ${name}, every parameter gets a finite, non-zero gradient`, () => {
      const m = MODELS.build<ImageClassifier>({
        type: 'ImageClassifier',
        backbone: { type: 'BEiT', arch: { embed_dims: 16, num_layers: 2, num_heads: 2, feedforward_channels: 32 }, img_size: 16, patch_size: 8, ...extra },
        head: { type: 'LinearClsHead', num_classes: 5, in_channels: 16 },
      });
      m.initWeights();
      m.train();
      const x = tf.tensor4d(seq(2 * 16 * 16 * 3, 7), [2, 16, 16, 3]);
      const samples = [0, 3].map((l) => new ClsDataSample().set_gt_label(l));
      const vars = m.trainableVariables();
      const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(m.loss(x, samples))) as tf.Scalar, vars);
      assert.ok(Number.isFinite(value.dataSync()[0]));
      assert.equal(Object.keys(grads).length, vars.length);
      const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
      for (const [v, g] of Object.entries(grads)) {
        const d = g.dataSync();
        assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${names.get(v)}`);
        assert.ok(d.some((e) => e !== 0), `zero gradient of ${names.get(v)}`);
      }
      tf.dispose([x, value, ...Object.values(grads)]);
      m.dispose();
    });
  }
});
