import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../runtime/errors';
import {
  BatchNorm2d, Conv2d, ConvModule, Linear, ReLU, Sequential, StateEntry, initialize, setCheckpointLoader, Module,
} from '../../runtime/nn';
import { seq, useTestBackend } from './helpers';

class Block extends Module {
  conv1: Conv2d;
  bn1: BatchNorm2d;
  relu: ReLU;
  fc: Linear;
  constructor() {
    super();
    this.conv1 = this.addModule('conv1', new Conv2d({ in_channels: 2, out_channels: 3, kernel_size: 3, bias: false }));
    this.bn1 = this.addModule('bn1', new BatchNorm2d({ num_features: 3 }));
    this.relu = this.addModule('relu', new ReLU());
    this.fc = this.addModule('fc', new Linear({ in_features: 3, out_features: 2 }));
  }
}

class Net extends Module {
  backbone: Block;
  head: Sequential;
  constructor() {
    super();
    this.backbone = this.addModule('backbone', new Block());
    this.head = this.addModule('head', new Sequential(new Linear({ in_features: 2, out_features: 2 }), new ReLU()));
  }
}

function sdOf(entries: [string, number[]][]): Map<string, StateEntry> {
  return new Map(entries.map(([k, s], i) => [k, { data: seq(s.reduce((a, b) => a * b, 1), i + 1), shape: s }]));
}

describe('nn Module', () => {
  before(useTestBackend);

  it('lists state-dict keys in PyTorch order with PyTorch shapes, without allocating weights', () => {
    const net = new Net();
    assert.deepEqual(
      net.stateDictKeys().map((e) => [e.key, e.shape]),
      [
        ['backbone.conv1.weight', [3, 2, 3, 3]],
        ['backbone.bn1.weight', [3]],
        ['backbone.bn1.bias', [3]],
        ['backbone.bn1.running_mean', [3]],
        ['backbone.bn1.running_var', [3]],
        ['backbone.bn1.num_batches_tracked', []],
        ['backbone.fc.weight', [2, 3]],
        ['backbone.fc.bias', [2]],
        ['head.0.weight', [2, 2]],
        ['head.0.bias', [2]],
      ],
    );
    assert.ok(net.parameters().every((p) => !p.materialized));
    assert.equal(net.numParameters(), 54 + 3 + 3 + 6 + 2 + 4 + 2);
    assert.deepEqual(net.namedModules().map(([n]) => n), ['', 'backbone', 'backbone.conv1', 'backbone.bn1', 'backbone.relu', 'backbone.fc', 'head', 'head.0', 'head.1']);
    assert.deepEqual(net.namedBuffers().map(([n]) => n), ['backbone.bn1.running_mean', 'backbone.bn1.running_var', 'backbone.bn1.num_batches_tracked']);
  });

  it('converts layouts once on load and back on save (round trip is exact)', () => {
    const net = new Net();
    const sd = sdOf(net.stateDictKeys().map((e) => [e.key, e.shape]));
    sd.get('backbone.bn1.num_batches_tracked')!.data = new Float32Array([7]);
    const report = net.loadStateDict(sd);
    assert.equal(report.loaded, 10);
    const back = net.stateDict();
    for (const [k, v] of sd) {
      assert.deepEqual(back.get(k)!.shape, v.shape, k);
      assert.deepEqual(Array.from(back.get(k)!.data as Float32Array, Number), Array.from(v.data as Float32Array, Number), k);
    }
    assert.equal(back.get('backbone.bn1.num_batches_tracked')!.dtype, 'int64');
    // HWIO inside: weight[o=1, i=0, h=2, w=1] of PyTorch is variable[h=2, w=1, i=0, o=1].
    const torchW = sd.get('backbone.conv1.weight')!.data as Float32Array;
    const inside = net.backbone.conv1.weight.variable.arraySync() as number[][][][];
    assert.equal(inside[2][1][0][1], torchW[((1 * 2 + 0) * 3 + 2) * 3 + 1]);
    // Linear: [in, out] inside, [out, in] in PyTorch.
    const fcW = sd.get('backbone.fc.weight')!.data as Float32Array;
    const fcInside = net.backbone.fc.weight.variable.arraySync() as number[][];
    assert.equal(fcInside[2][1], fcW[1 * 3 + 2]);
  });

  it('reports missing, unexpected and mis-shaped keys (strict throws, non-strict loads the rest)', () => {
    const net = new Net();
    const keys = net.stateDictKeys().map((e): [string, number[]] => [e.key, e.shape]).filter(([k]) => k !== 'head.0.bias');
    keys.push(['head.2.weight', [1]]);
    const sd = sdOf(keys);
    sd.set('backbone.fc.weight', { data: seq(6), shape: [3, 2] });
    assert.throws(() => net.loadStateDict(sd), (e: unknown) => {
      assert.ok(e instanceof MmclsError);
      assert.match(e.message, /missing keys in source state_dict: head\.0\.bias/);
      assert.match(e.message, /unexpected key in source state_dict: head\.2\.weight/);
      assert.match(e.message, /size mismatch for backbone\.fc\.weight: copying a param with shape \[3, 2\] from checkpoint, the shape in current model is \[2, 3\]/);
      return true;
    });
    const report = net.loadStateDict(sd, { strict: false });
    assert.deepEqual(report.missing, ['head.0.bias']);
    assert.deepEqual(report.unexpected, ['head.2.weight']);
    assert.equal(report.mismatched.length, 1);
    assert.equal(report.loaded, 8);
  });

  it('train/eval propagate; frozen parameters are not trainable', () => {
    const net = new Net();
    net.eval();
    assert.ok(net.namedModules().every(([, m]) => !m.training));
    net.train();
    assert.ok(net.backbone.bn1.training);
    net.backbone.requiresGrad(false);
    const trainable = net.trainableVariables();
    assert.equal(trainable.length, 2);
    assert.equal(net.numParameters(true), 6);
  });

  it('init_cfg: layer matching by class and base names, override, bias', () => {
    const net = new Net();
    initialize(net, [
      { type: 'Constant', val: 0.5, bias: 0.25, layer: ['Linear'] },
      { type: 'Constant', val: 2, layer: '_BatchNorm' },
    ]);
    const sd = net.stateDict();
    assert.ok(Array.from(sd.get('backbone.fc.weight')!.data as Float32Array).every((v) => v === 0.5));
    assert.ok(Array.from(sd.get('head.0.bias')!.data as Float32Array).every((v) => v === 0.25));
    assert.ok(Array.from(sd.get('backbone.bn1.weight')!.data as Float32Array).every((v) => v === 2));
    initialize(net, { type: 'Constant', val: 1, layer: 'Conv2d', override: { name: 'head', type: 'Constant', val: 3 } });
    const sd2 = net.stateDict();
    assert.ok(Array.from(sd2.get('backbone.conv1.weight')!.data as Float32Array).every((v) => v === 1));
    assert.ok(Array.from(sd2.get('head.0.weight')!.data as Float32Array).every((v) => v === 3));
    assert.ok(Array.from(sd2.get('backbone.fc.weight')!.data as Float32Array).every((v) => v === 0.5));
  });

  it('init_cfg Kaiming (fan_out, normal) has std sqrt(2 / fan_out) in PyTorch terms', () => {
    const conv = new Conv2d({ in_channels: 16, out_channels: 64, kernel_size: 3 });
    initialize(conv, { type: 'Kaiming', layer: 'Conv2d' });
    const w = conv.stateDict().get('weight')!.data as Float32Array;
    const std = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
    const expected = Math.sqrt(2 / (64 * 9));
    assert.ok(Math.abs(std - expected) / expected < 0.05, `std ${std} vs ${expected}`);
    const bias = conv.stateDict().get('bias')!.data as Float32Array;
    assert.ok(bias.every((v) => v === 0));
  });

  it('init_cfg TruncNormal stays within [a, b]; Pretrained loads through the installed reader with prefix', () => {
    const lin = new Linear({ in_features: 50, out_features: 40 });
    initialize(lin, { type: 'TruncNormal', layer: 'Linear', std: 1, a: -0.5, b: 0.5 });
    const w = lin.stateDict().get('weight')!.data as Float32Array;
    assert.ok(w.every((v) => v >= -0.5 && v <= 0.5));
    const block = new Net().backbone;
    const full = new Net();
    const sd = sdOf(full.stateDictKeys().map((e) => [e.key, e.shape]));
    setCheckpointLoader((file) => {
      assert.equal(file, 'ckpt.pth');
      return sd;
    });
    try {
      block.initCfg = { type: 'Pretrained', checkpoint: 'ckpt.pth', prefix: 'backbone.' };
      block.initWeights();
      assert.deepEqual(Array.from(block.stateDict().get('fc.bias')!.data as Float32Array), Array.from(sd.get('backbone.fc.bias')!.data as Float32Array));
    } finally {
      setCheckpointLoader(null);
    }
  });

  it('ConvModule registers conv, bn, activate and leaves out the conv bias when a norm follows', () => {
    const m = new ConvModule({ in_channels: 2, out_channels: 4, kernel_size: 3, padding: 1, norm_cfg: { type: 'BN', requires_grad: false } });
    assert.deepEqual(m.stateDictKeys().map((e) => e.key), ['conv.weight', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    assert.deepEqual(m.namedModules().map(([n]) => n), ['', 'conv', 'bn', 'activate']);
    assert.equal(m.numParameters(true), 72);
    const y = m.forward(tf.ones([1, 5, 5, 2]));
    assert.deepEqual(y.shape, [1, 5, 5, 4]);
  });
});
