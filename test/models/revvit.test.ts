import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, RevTransformerEncoderLayer, RevVisionTransformer, TwoStreamFusion } from '../../runtime/models';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';
import { StateEntry } from '../../runtime/nn/module';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';
import { maxAbsDiff, seq, useTestBackend } from '../nn/helpers';

const CONFIGS = path.resolve(__dirname, '..', '..', 'configs');

describe('RevVisionTransformer', () => {
  before(useTestBackend);

  describe('configs: parameters and FLOPs as the model zoo publishes them', () => {
    const zoo: [string, number, number][] = [
      ['revvit-small_8xb256_in1k', 22.44, 4.58],
      ['revvit-base_8xb256_in1k', 87.34, 17.49],
    ];
    for (const [name, params, flops] of zoo) {
      it(name, () => {
        const cfg = loadConfig(path.join(CONFIGS, 'revvit', `${name}.py`)).value as Record<string, unknown>;
        const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), name);
        assert.ok(Math.abs(result.params / 1e6 - params) <= 0.006, `params ${result.params}`);
        assert.ok(Math.abs(result.flops / 1e9 - flops) <= 0.006, `flops ${result.flops}`);
      });
    }
  });

  it('state-dict keys: an unused cls_token, pos_embed with its slot, plain layers, ln1 over both streams', () => {
    const m = new RevVisionTransformer({ arch: { embed_dims: 8, num_layers: 1, num_heads: 2, feedforward_channels: 16 }, img_size: 8, patch_size: 4 });
    assert.deepEqual(
      m.stateDictKeys().map((e) => `${e.key} ${e.shape.join('x')}`),
      [
        'cls_token 1x1x8', 'pos_embed 1x5x8', 'patch_embed.projection.weight 8x3x4x4', 'patch_embed.projection.bias 8',
        'layers.0.ln1.weight 8', 'layers.0.ln1.bias 8', 'layers.0.attn.qkv.weight 24x8', 'layers.0.attn.qkv.bias 24',
        'layers.0.attn.proj.weight 8x8', 'layers.0.attn.proj.bias 8', 'layers.0.ln2.weight 8', 'layers.0.ln2.bias 8',
        'layers.0.ffn.layers.0.0.weight 16x8', 'layers.0.ffn.layers.0.0.bias 16', 'layers.0.ffn.layers.1.weight 8x16', 'layers.0.ffn.layers.1.bias 8',
        'ln1.weight 16', 'ln1.bias 16',
      ],
    );
    assert.ok(m.namedModules().some(([n]) => n === 'fusion_layer'));
    assert.throws(() => new RevVisionTransformer({ with_cls_token: true }), MmclsError);
    assert.throws(() => new RevVisionTransformer({ output_cls_token: true }), MmclsError);
    assert.throws(() => new RevVisionTransformer({ out_indices: [3] }), /only the last layer/);
  });

  it('a reversible layer: y1 = x1 + attn(ln1(x2)), y2 = x2 + ffn(ln2(y1)), and the inputs can be recomputed from the outputs', () => {
    const layer = new RevTransformerEncoderLayer({ embed_dims: 8, num_heads: 2, feedforward_channels: 16, norm_cfg: { type: 'LN', eps: 1e-6 } });
    layer.eval();
    const sd = new Map<string, StateEntry>();
    layer.stateDictKeys().forEach(({ key, shape }, i) => sd.set(key, { data: seq(shape.reduce((a, b) => a * b, 1), 30 + i), shape }));
    layer.loadStateDict(sd);
    const x1 = tf.tensor3d(seq(2 * 5 * 8, 1), [2, 5, 8]);
    const x2 = tf.tensor3d(seq(2 * 5 * 8, 2), [2, 5, 8]);
    const [y1, y2] = layer.forward(x1, x2);
    const f = (t: tf.Tensor): tf.Tensor => layer.attn.forward(layer.ln1.forward(t));
    const g = (t: tf.Tensor): tf.Tensor => layer.ffn.forward(layer.ln2.forward(t));
    // FFN without its shortcut: g(t) is the MLP alone (the FFN is built with add_identity=False).
    assert.ok(maxAbsDiff(y1.dataSync(), tf.add(x1, f(x2)).dataSync()) < 1e-6);
    assert.ok(maxAbsDiff(y2.dataSync(), tf.add(x2, g(y1)).dataSync()) < 1e-6);
    const r2 = tf.sub(y2, g(y1));
    const r1 = tf.sub(y1, f(r2));
    assert.ok(maxAbsDiff(r2.dataSync(), x2.dataSync()) < 1e-4);
    assert.ok(maxAbsDiff(r1.dataSync(), x1.dataSync()) < 1e-4);
    tf.dispose([x1, x2, y1, y2, r1, r2]);
  });

  it('stochastic depth drops both branches of a sample together in training (and nothing in eval)', () => {
    const layer = new RevTransformerEncoderLayer({ embed_dims: 8, num_heads: 2, feedforward_channels: 16, drop_path_rate: 1 - 1e-7 });
    layer.initWeights();
    const x1 = tf.tensor3d(seq(2 * 5 * 8, 1), [2, 5, 8]);
    const x2 = tf.tensor3d(seq(2 * 5 * 8, 2), [2, 5, 8]);
    layer.train();
    const [y1, y2] = layer.forward(x1, x2);
    assert.ok(maxAbsDiff(y1.dataSync(), x1.dataSync()) === 0 && maxAbsDiff(y2.dataSync(), x2.dataSync()) === 0);
    layer.eval();
    const [e1] = layer.forward(x1, x2);
    assert.ok(maxAbsDiff(e1.dataSync(), x1.dataSync()) > 0);
    tf.dispose([x1, x2, y1, y2, e1]);
  });

  it('the backbone: patches (no class token) doubled into two streams, normed together, fused, averaged', () => {
    const arch = { embed_dims: 8, num_layers: 2, num_heads: 2, feedforward_channels: 16 };
    const m = new RevVisionTransformer({ arch, img_size: 8, patch_size: 4 });
    m.initWeights();
    m.eval();
    const x = tf.tensor4d(seq(2 * 8 * 8 * 3, 6), [2, 8, 8, 3]);
    const [y] = m.forward(x) as tf.Tensor[];
    // By hand through the modules: tokens + pos_embed[1:], two equal streams through the layers.
    const expected = tf.tidy(() => {
      const { tokens } = m.patchEmbed.forward(x);
      const h = tf.add(tokens, tf.slice(m.posEmbed.variable, [0, 1, 0], [-1, -1, -1]));
      let a = h;
      let b = h;
      for (const l of m.layers) [a, b] = l.forward(a, b);
      return tf.mean(m.ln1!.forward(tf.concat([a, b], -1)), 1);
    });
    assert.deepEqual(y.shape, [2, 16]);
    assert.ok(maxAbsDiff(y.dataSync(), expected.dataSync()) < 1e-5);
    const ctx = { enter() {}, exit() {}, add() {} };
    assert.deepEqual(m.inferShape([2, 3, 8, 8], ctx), [[2, 16]]);
    // Other fusions halve the channels; no average gives the patch map.
    const add = new RevVisionTransformer({ arch, img_size: 8, patch_size: 4, fusion_mode: 'add', avg_token: false });
    add.initWeights();
    add.eval();
    const [z] = add.forward(x) as tf.Tensor[];
    assert.deepEqual(z.shape, [2, 2, 2, 8]);
    assert.deepEqual(add.inferShape([2, 3, 8, 8], ctx), [[2, 8, 2, 2]]);
    tf.dispose([x, y, expected, z]);
    m.dispose();
    add.dispose();
  });

  it('TwoStreamFusion: add, max, min, avg and concat of the two channel halves', () => {
    const x = tf.tensor3d([1, 5, 4, 2], [1, 1, 4]);
    const run = (mode: 'add' | 'max' | 'min' | 'avg' | 'concat'): number[] => Array.from(new TwoStreamFusion(mode).forward(x).dataSync());
    assert.deepEqual(run('add'), [5, 7]);
    assert.deepEqual(run('max'), [4, 5]);
    assert.deepEqual(run('min'), [1, 2]);
    assert.deepEqual(run('avg'), [2.5, 3.5]);
    assert.deepEqual(run('concat'), [1, 5, 4, 2]);
    assert.throws(() => new TwoStreamFusion('concat_linear' as 'add'), MmclsError);
    x.dispose();
  });

  it('one training step: every parameter gets a finite gradient, non-zero except the unused cls_token', () => {
    const m = MODELS.build<ImageClassifier>({
      type: 'ImageClassifier',
      backbone: { type: 'RevVisionTransformer', arch: { embed_dims: 16, num_layers: 2, num_heads: 2, feedforward_channels: 32 }, img_size: 16, patch_size: 8 },
      head: { type: 'LinearClsHead', num_classes: 5, in_channels: 32 },
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
      const name = names.get(v);
      assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${name}`);
      // MMCls keeps a cls_token that the forward pass drops (with_cls_token=False): no gradient reaches it.
      if (name === 'backbone.cls_token') assert.ok(d.every((e) => e === 0));
      else assert.ok(d.some((e) => e !== 0), `zero gradient of ${name}`);
    }
    tf.dispose([x, value, ...Object.values(grads)]);
    m.dispose();
  });
});
