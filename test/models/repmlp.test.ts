import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier, RepMLPBlock, RepMLPNet } from '../../runtime/models';
import { analyzeComplexity } from '../../runtime/analysis/complexity';
import { filledStateDict } from '../../runtime/analysis/reference';
import { MmclsError } from '../../runtime/errors';
import { StateEntry } from '../../runtime/nn/module';
import { nchwToNhwc, nhwcToNchw, seq, useTestBackend } from '../nn/helpers';
import { checkGradients } from './gradient_step';

const TINY = { channels: [8, 16], depths: [1, 1], sharesets_nums: [2, 4] };

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let r = 0;
  for (let i = 0; i < a.length; i++) {
    m = Math.max(m, Math.abs(a[i] - b[i]));
    r = Math.max(r, Math.abs(b[i]));
  }
  return m / r;
}

function get(sd: Map<string, StateEntry>, k: string): Float32Array {
  const e = sd.get(k);
  if (!e) throw new Error(`missing ${k}`);
  return Float32Array.from(e.data as Float32Array);
}

/** Eval-mode BN of one value. */
function bn(sd: Map<string, StateEntry>, p: string, c: number, v: number): number {
  const [w, b, m, r] = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => get(sd, `${p}.${n}`)[c]);
  return ((v - m) / Math.sqrt(r + 1e-5)) * w + b;
}

/**
 * RepMLPBlock written out from the paper's definition on NCHW arrays: channel weights from the
 * global perceptron, then per (H/ph x W/pw) partition and channel c (share-set s = c % S) the
 * fc3 matrix of set s, its BN, and the BN'd depth-wise conv branches (zero padding inside the
 * partition).
 */
function handBlock(sd: Map<string, StateEntry>, x: Float32Array, n: number, c: number, h: number, w: number, ph: number, pw: number, s: number, kernels: number[]): Float32Array {
  const pp = ph * pw;
  const idx = (b: number, ch: number, y: number, xx: number): number => ((b * c + ch) * h + y) * w + xx;
  const out = new Float32Array(x.length);
  const w1 = get(sd, 'gp.conv1.conv.weight');
  const b1 = get(sd, 'gp.conv1.conv.bias');
  const w2 = get(sd, 'gp.conv2.conv.weight');
  const b2 = get(sd, 'gp.conv2.conv.bias');
  const sq = b1.length;
  const fc3 = get(sd, 'fc3.weight'); // [S*pp, pp]
  for (let b = 0; b < n; b++) {
    const mean = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      let t = 0;
      for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) t += x[idx(b, ch, y, xx)];
      mean[ch] = t / (h * w);
    }
    const hid = new Float64Array(sq);
    for (let j = 0; j < sq; j++) {
      let t = b1[j];
      for (let ch = 0; ch < c; ch++) t += w1[j * c + ch] * mean[ch];
      hid[j] = Math.max(t, 0);
    }
    const gv = new Float64Array(c);
    for (let ch = 0; ch < c; ch++) {
      let t = b2[ch];
      for (let j = 0; j < sq; j++) t += w2[ch * sq + j] * hid[j];
      gv[ch] = 1 / (1 + Math.exp(-t));
    }
    for (let hp = 0; hp < h / ph; hp++) {
      for (let wp = 0; wp < w / pw; wp++) {
        for (let ch = 0; ch < c; ch++) {
          const set = ch % s;
          const px = (i: number, j: number): number => (i < 0 || j < 0 || i >= ph || j >= pw ? 0 : x[idx(b, ch, hp * ph + i, wp * pw + j)]);
          for (let o = 0; o < pp; o++) {
            let t = 0;
            for (let i = 0; i < pp; i++) t += fc3[(set * pp + o) * pp + i] * px(Math.floor(i / pw), i % pw);
            let v = bn(sd, 'fc3_bn', set, t);
            const oy = Math.floor(o / pw);
            const ox = o % pw;
            for (const k of kernels) {
              const kw = get(sd, `repconv${k}.conv.weight`); // [S, 1, k, k]
              let conv = 0;
              for (let dy = 0; dy < k; dy++) {
                for (let dx = 0; dx < k; dx++) conv += kw[(set * k + dy) * k + dx] * px(oy + dy - Math.floor(k / 2), ox + dx - Math.floor(k / 2));
              }
              v += bn(sd, `repconv${k}.bn`, set, conv);
            }
            out[idx(b, ch, hp * ph + oy, wp * pw + ox)] = v * gv[ch];
          }
        }
      }
    }
  }
  return out;
}

function features(m: RepMLPNet, x: tf.Tensor): Float32Array {
  return tf.tidy(() => tf.concat((m.forward(x) as tf.Tensor[]).map((t) => tf.reshape(t, [-1])))).dataSync() as Float32Array;
}

describe('RepMLPNet', () => {
  before(useTestBackend);

  it('RepMLPBlock matches a hand-written partition / local / global perceptron (eval, 2 share-sets, kernels 1 and 3)', async () => {
    const blk = new RepMLPBlock({ channels: 8, path_h: 2, path_w: 3, reparam_conv_kernels: [1, 3], globalperceptron_ratio: 4, num_sharesets: 2 });
    blk.loadStateDict(await filledStateDict(blk), { strict: true });
    blk.eval();
    const sd = blk.stateDict();
    const [n, c, h, w] = [2, 8, 4, 6];
    const data = seq(n * c * h * w, 3);
    const x = nchwToNhwc(data, [n, c, h, w]);
    const ours = nhwcToNchw(blk.forward(x));
    const ref = handBlock(sd, data, n, c, h, w, 2, 3, 2, [1, 3]);
    assert.ok(relDiff(ours, ref) < 1e-5, `rel diff ${relDiff(ours, ref)}`);
    // local_inject folds fc3_bn and both conv branches into fc3 (with bias).
    blk.localInject();
    assert.deepEqual(
      [...blk.stateDict().keys()],
      ['gp.conv1.conv.weight', 'gp.conv1.conv.bias', 'gp.conv2.conv.weight', 'gp.conv2.conv.bias', 'fc3.weight', 'fc3.bias'],
    );
    const deployed = nhwcToNchw(blk.forward(x));
    assert.ok(relDiff(deployed, ref) < 1e-5, `deploy rel diff ${relDiff(deployed, ref)}`);
    x.dispose();
    blk.dispose();
  });

  it('state-dict keys of a unit in MMCls order; training and deploy parameter counts', () => {
    const m = new RepMLPNet({ arch: TINY, img_size: 16, reparam_conv_kernels: [1, 3], out_indices: [0, 1] });
    const keys = [...m.stateDict().keys()].filter((k) => k.startsWith('stages.0.0.'));
    const unit = [
      'repmlp_block.gp.conv1.conv.weight', 'repmlp_block.gp.conv1.conv.bias', 'repmlp_block.gp.conv2.conv.weight', 'repmlp_block.gp.conv2.conv.bias',
      'repmlp_block.fc3.weight',
      ...['fc3_bn', 'repconv1.bn', 'repconv3.bn'].flatMap((p) => [
        ...(p === 'fc3_bn' ? [] : [`repmlp_block.${p.replace('.bn', '.conv')}.weight`]),
        ...['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `repmlp_block.${p}.${s}`),
      ]),
      ...['ffn_block.ffn_fc1', 'ffn_block.ffn_fc2'].flatMap((p) => [`${p}.conv.weight`, ...['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `${p}.bn.${s}`)]),
      ...['norm1', 'norm2'].flatMap((p) => ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((s) => `${p}.${s}`)),
    ].map((k) => `stages.0.0.${k}`);
    assert.deepEqual(keys, unit);
    const top = [...new Set([...m.stateDict().keys()].map((k) => k.split('.')[0]))];
    assert.deepEqual(top, ['patch_embed', 'stages', 'downsample_layers', 'final_norm']);
    // Stage 0: 4x4 partitions, 2 share-sets: fc3 is [32, 16, 1, 1].
    assert.deepEqual(m.stateDict().get('stages.0.0.repmlp_block.fc3.weight')!.shape, [32, 16, 1, 1]);
    assert.deepEqual(m.stateDict().get('stages.1.0.repmlp_block.fc3.weight')!.shape, [16, 4, 1, 1]);
    m.dispose();
  });

  it('RepMLP-B: zoo parameters and FLOPs (68.24M, 6.71G at 224; 96.45M, 9.69G at 256), the same after switch_to_deploy minus the BNs and branches', () => {
    for (const [size, params, flops] of [[224, 68.24, 6.71], [256, 96.45, 9.69]]) {
      const cfg = (deploy: boolean): Record<string, unknown> => ({
        type: 'ImageClassifier',
        backbone: { type: 'RepMLPNet', arch: 'B', img_size: size, out_indices: [3], reparam_conv_kernels: [1, 3], deploy },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'LinearClsHead', num_classes: 1000, in_channels: 768 },
      });
      const m = MODELS.build<ImageClassifier>(cfg(false)).eval();
      const r = analyzeComplexity(m, [3, size, size]);
      assert.ok(Math.abs(r.params / 1e6 - params) < 0.006, `params ${r.params}`);
      assert.ok(Math.abs(r.flops / 1e9 - flops) < 0.006, `flops ${r.flops}`);
      const d = MODELS.build<ImageClassifier>(cfg(true)).eval();
      const rd = analyzeComplexity(d, [3, size, size]);
      // Deploy: fc3 gains a bias of P per unit, loses fc3_bn (2 S) and the k=1, 3 branches (S + 9 S + 2 * 2 S).
      const stagesP = [56, 28, 14, 7].map((p) => (p * size) / 224).map((p, i) => p * p * [1, 4, 32, 128][i]);
      const sets = [1, 4, 32, 128];
      const depth = [2, 2, 12, 2];
      let delta = 0;
      for (let i = 0; i < 4; i++) delta += depth[i] * (stagesP[i] - 2 * sets[i] - 14 * sets[i]);
      assert.equal(rd.params - r.params, delta);
      m.dispose();
      d.dispose();
    }
  });

  it('switch_to_deploy keeps the outputs (eval) and gives the deploy=True state-dict keys', async () => {
    const m = new RepMLPNet({ arch: TINY, img_size: 16, reparam_conv_kernels: [1, 3], out_indices: [0, 1] });
    m.loadStateDict(await filledStateDict(m), { strict: true });
    m.eval();
    const x = nchwToNhwc(seq(2 * 3 * 16 * 16, 9), [2, 3, 16, 16]);
    const before = features(m, x);
    assert.equal(m.deploy, false);
    m.switch_to_deploy();
    assert.equal(m.deploy, true);
    const after = features(m, x);
    assert.ok(relDiff(after, before) < 1e-5, `rel diff ${relDiff(after, before)}`);
    const deploy = new RepMLPNet({ arch: TINY, img_size: 16, reparam_conv_kernels: [1, 3], out_indices: [0, 1], deploy: true });
    assert.deepEqual(
      [...m.stateDict()].map(([k, v]) => [k, v.shape]),
      [...deploy.stateDict()].map(([k, v]) => [k, v.shape]),
    );
    x.dispose();
    m.dispose();
    deploy.dispose();
  });

  it('only accepts img_size inputs; rejects unknown archs and incomplete arch dicts', () => {
    const m = new RepMLPNet({ arch: TINY, img_size: 16 });
    const x = tf.zeros([1, 32, 32, 3]);
    assert.throws(() => m.forward(x), (e: unknown) => e instanceof MmclsError && /dynamic input shape/.test(e.message));
    x.dispose();
    m.dispose();
    assert.throws(() => new RepMLPNet({ arch: 'large' }), MmclsError);
    assert.throws(() => new RepMLPNet({ arch: { channels: [8], depths: [1] } as never }), MmclsError);
  });

  it('one training step gives every parameter a finite, non-zero gradient', () => {
    checkGradients({ type: 'RepMLPNet', arch: TINY, img_size: 16, reparam_conv_kernels: [1, 3], out_indices: [1] }, { type: 'GlobalAveragePooling' }, 16, 16);
  });
});
