import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, LeViT, LeViTAttention, LeViTClsHead, levitBiasIdxs } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { Module, StateEntry } from '../../runtime/nn/module';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';

/** Fills every float state-dict entry with deterministic values (running_var positive); returns them. */
function fillState(m: Module, seed: number): Map<string, StateEntry> {
  const state = new Map<string, StateEntry>();
  let s = seed;
  for (const { key, shape, kind } of m.stateDictKeys()) {
    if (key.endsWith('num_batches_tracked') || key.endsWith('attention_bias_idxs')) continue;
    void kind;
    const n = shape.reduce((a, b) => a * b, 1);
    const v = seq(n, s++);
    let data: Float32Array;
    if (key.endsWith('running_var')) data = v.map((e) => 1 + 0.5 * Math.abs(e));
    else if (key.endsWith('running_mean') || key.endsWith('.bias')) data = v.map((e) => 0.1 * e);
    else if (key.endsWith('.weight') && shape.length === 1) data = v.map((e) => 1 + 0.2 * e);
    else if (key.endsWith('attention_biases')) data = v.map((e) => 0.5 * e);
    else data = v.map((e) => e * Math.sqrt(2 / (n / shape[0])));
    state.set(key, { data, shape });
  }
  m.loadStateDict(state, { strict: false });
  return state;
}

const hswish = (v: number): number => (v * Math.min(Math.max(v + 3, 0), 6)) / 6;

/** Linear (no bias, PyTorch [out, in]) + eval BatchNorm1d on rows. */
function linBn(x: number[][], st: Map<string, StateEntry>, name: string): number[][] {
  const w = st.get(`${name}.linear.weight`)!;
  const [out, inF] = w.shape;
  const g = (k: string, i: number): number => Number(st.get(`${name}.bn.${k}`)!.data[i]);
  return x.map((row) => Array.from({ length: out }, (_, o) => {
    let s = 0;
    for (let i = 0; i < inF; i++) s += Number(w.data[o * inF + i]) * row[i];
    return ((s - g('running_mean', o)) / Math.sqrt(g('running_var', o) + 1e-5)) * g('weight', o) + g('bias', o);
  }));
}

describe('LeViT', () => {
  before(useTestBackend);

  describe('presets: parameters and FLOPs at 224x224', () => {
    // [arch, head channels, params (with the distillation head), FLOPs]. The official paper lists 7.8M,
    // 9.2M, 11.0M, 18.9M and 39.1M parameters; the MMCls zoo lists 7.39, 8.83, 10.56, 18.38, 38.36:
    // exactly these counts less one BatchNormLinear head (the zoo counted a single head). The zoo's FLOPs
    // (0.31, 0.41, 0.67, 1.14, 2.37 G) agree to its rounding.
    const presets: [string, number, number, number, number][] = [
      ['128s', 384, 7777058, 306476384, 7.39],
      ['128', 384, 9213936, 407960320, 8.83],
      ['192', 384, 10947069, 660900416, 10.56],
      ['256', 512, 18893876, 1132395008, 18.38],
      ['384', 768, 39128836, 2359334528, 38.36],
    ];
    for (const [arch, c, params, flops, zoo] of presets) {
      it(`LeViT-${arch}`, () => {
        const m = MODELS.build<ImageClassifier>({
          type: 'ImageClassifier', backbone: { type: 'LeViT', arch }, neck: { type: 'GlobalAveragePooling' },
          head: { type: 'LeViTClsHead', num_classes: 1000, in_channels: c },
        });
        m.eval();
        const r = analyzeComplexity(m, [3, 224, 224]);
        assert.equal(r.params, params);
        assert.equal(r.flops, flops);
        const oneHead = c * 1000 + 1000 + 2 * c;
        assert.ok(Math.abs((params - oneHead) / 1e6 - zoo) < 0.005);
      });
    }
  });

  it('attention_bias_idxs: offsets numbered in order of first appearance, queries subsampled by the stride', () => {
    const a = levitBiasIdxs(2);
    assert.equal(a.numOffsets, 4);
    assert.deepEqual(Array.from(a.idxs), [0, 1, 2, 3, 1, 0, 3, 2, 2, 3, 0, 1, 3, 2, 1, 0]);
    const s = levitBiasIdxs(3, 2);
    // Queries (0,0), (0,2), (2,0), (2,2) against the 9 keys: |dy|, |dx| in {0, 1, 2}.
    assert.equal(s.nq, 4);
    assert.equal(s.numOffsets, 9);
    assert.deepEqual(Array.from(s.idxs.slice(0, 9)), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(Array.from(s.idxs.slice(9, 18)), [2, 1, 0, 5, 4, 3, 8, 7, 6]);
    const m = new LeViT({ arch: '128s' });
    const keys = m.stateDictKeys();
    const idx = keys.find((e) => e.key === 'stages.1.0.attention_bias_idxs')!;
    assert.deepEqual(idx.shape, [49, 196]);
    assert.equal((idx.tensor as { torchDtype?: string }).torchDtype, 'int64');
    assert.deepEqual(keys.find((e) => e.key === 'stages.1.0.attention_biases')!.shape, [8, 196]);
    assert.deepEqual(keys.find((e) => e.key === 'stages.0.0.block.attention_biases')!.shape, [4, 196]);
    assert.deepEqual(keys.slice(0, 2).map((e) => e.key), ['patch_embed.patch_embed.0.conv.weight', 'patch_embed.patch_embed.0.bn.weight']);
  });

  it('Attention matches a hand computation (2 heads, 2x2 tokens, batch 2)', () => {
    const att = new LeViTAttention(4, 2, 2, 2, { type: 'HSwish' }, 2);
    att.eval();
    const st = fillState(att, 21);
    const data = seq(2 * 4 * 4, 3);
    const out = att.forward(tf.tensor3d(data, [2, 4, 4])).dataSync();
    const biases = st.get('attention_biases')!.data;
    const idxs = levitBiasIdxs(2).idxs;
    const expect: number[] = [];
    for (let b = 0; b < 2; b++) {
      const x = Array.from({ length: 4 }, (_, n) => Array.from(data.slice((b * 4 + n) * 4, (b * 4 + n + 1) * 4)));
      const qkv = linBn(x, st, 'qkv'); // per token: 2 heads x (q 2, k 2, v 4)
      const heads: number[][] = x.map(() => []);
      for (let h = 0; h < 2; h++) {
        const part = (n: number, from: number, len: number): number[] => qkv[n].slice(h * 8 + from, h * 8 + from + len);
        for (let i = 0; i < 4; i++) {
          const logits = [0, 1, 2, 3].map((j) => part(i, 0, 2).reduce((s, v, c) => s + v * part(j, 2, 2)[c], 0) / Math.SQRT2 + Number(biases[h * 4 + idxs[i * 4 + j]]));
          const mx = Math.max(...logits);
          const e = logits.map((l) => Math.exp(l - mx));
          const z = e.reduce((a, v) => a + v, 0);
          const o = [0, 1, 2, 3].map((c) => [0, 1, 2, 3].reduce((s, j) => s + (e[j] / z) * part(j, 4, 4)[c], 0));
          heads[i].push(...o);
        }
      }
      expect.push(...linBn(heads.map((r) => r.map(hswish)), st, 'proj.1').flat());
    }
    assert.ok(maxAbsDiff(out, expect) < 1e-5, `max diff ${maxAbsDiff(out, expect)}`);
  });

  it('deploy: batch norms folded in give the same outputs; keys as MMCls deploy models have them', () => {
    const arch = { embed_dims: [16, 24], key_dims: [4, 4], num_heads: [2, 3], depths: [1, 1] };
    const m = new LeViT({ arch, img_size: 64, out_indices: [0, 1] });
    m.eval();
    fillState(m, 5);
    const x = tf.tensor4d(seq(2 * 64 * 64 * 3, 8), [2, 64, 64, 3]);
    const before = m.forward(x).map((t) => (t as tf.Tensor).dataSync());
    m.switchToDeploy();
    const after = m.forward(x).map((t) => (t as tf.Tensor).dataSync());
    assert.deepEqual(m.forward(x).map((t) => (t as tf.Tensor).shape), [[2, 4, 4, 16], [2, 2, 2, 24]]);
    for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(before[i], after[i]) < 1e-3 * Math.max(...Array.from(before[i]).map(Math.abs)), `out ${i}`);
    const keys = m.stateDictKeys().map((e) => e.key);
    assert.ok(keys.includes('patch_embed.patch_embed.0.bias') && keys.includes('stages.0.0.block.qkv.bias') && keys.includes('stages.1.0.q.1.weight') && keys.includes('stages.1.1.block.linear2.bias'));
    assert.ok(!keys.some((k) => k.includes('.bn.')));
    const d = new LeViT({ arch, img_size: 64, deploy: true });
    assert.deepEqual(d.stateDictKeys().map((e) => e.key), keys);

    const head = new LeViTClsHead({ in_channels: 24, num_classes: 5 });
    head.eval();
    fillState(head, 9);
    const f = tf.tensor2d(seq(2 * 24, 4), [2, 24]);
    const h0 = head.forward([f]).dataSync();
    head.switchToDeploy();
    assert.deepEqual(head.stateDictKeys().map((e) => e.key), ['head.weight', 'head.bias', 'head_dist.weight', 'head_dist.bias']);
    assert.ok(maxAbsDiff(h0, head.forward([f]).dataSync()) < 1e-4);
    tf.dispose([x, f]);
  });

  it('LeViTClsHead: the average of head and head_dist at inference; refuses to train with distillation', () => {
    const head = new LeViTClsHead({ in_channels: 3, num_classes: 2 });
    head.eval();
    const st = fillState(head, 2);
    const f = [[0.5, -1, 2]];
    const one = (name: string): number[] => {
      const g = (k: string, i: number): number => Number(st.get(`${name}.bn.${k}`)!.data[i]);
      const xn = f[0].map((v, i) => ((v - g('running_mean', i)) / Math.sqrt(g('running_var', i) + 1e-5)) * g('weight', i) + g('bias', i));
      const w = st.get(`${name}.linear.weight`)!.data;
      return [0, 1].map((o) => xn.reduce((s, v, i) => s + v * Number(w[o * 3 + i]), Number(st.get(`${name}.linear.bias`)!.data[o])));
    };
    const a = one('head');
    const b = one('head_dist');
    assert.ok(maxAbsDiff(head.forward([tf.tensor2d(f)]).dataSync(), a.map((v, i) => (v + b[i]) / 2)) < 1e-5);
    head.train();
    assert.throws(() => head.forward([tf.tensor2d(f)]), /distillation/);
  });

  it('one training step of a tiny LeViT: every parameter gets a finite, non-zero gradient', function () {
    this.timeout(120000);
    checkGradients({ type: 'LeViT', arch: { embed_dims: [16, 24], key_dims: [4, 4], num_heads: [2, 3], depths: [1, 1] }, img_size: 64, drop_path_rate: 0 }, { type: 'GlobalAveragePooling' }, 24, 64);
  });
});
