import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../runtime/backend';
import { conv2dBackpropFilterIm2col, depthwiseBackpropFilterIm2col, setIm2colMaxElements } from '../../runtime/backend/conv-grad-ops';
import { ConvSpec, refConv, refNumericalGrads, refOutShape } from './reference-conv';
import { lossWeights, relErr, rng } from './helpers';

/** Convolution configurations: strides, same / valid / explicit padding, dilation, depthwise multipliers, batch > 1. */
const SPECS: Array<ConvSpec & { name: string }> = [
  { name: 'conv 3x3 s1 same', x: [2, 6, 7, 3], w: [3, 3, 3, 4], strides: [1, 1], dilations: [1, 1], pad: 'same', depthwise: false },
  { name: 'conv 3x3 s2 same (odd size)', x: [2, 7, 7, 3], w: [3, 3, 3, 4], strides: [2, 2], dilations: [1, 1], pad: 'same', depthwise: false },
  { name: 'conv 3x3 s2 same (even size)', x: [1, 8, 6, 2], w: [3, 3, 2, 3], strides: [2, 2], dilations: [1, 1], pad: 'same', depthwise: false },
  { name: 'conv 1x1 s2 valid (downsample)', x: [2, 7, 6, 4], w: [1, 1, 4, 3], strides: [2, 2], dilations: [1, 1], pad: 'valid', depthwise: false },
  { name: 'conv 3x2 s[2,3] valid', x: [2, 9, 10, 2], w: [3, 2, 2, 3], strides: [2, 3], dilations: [1, 1], pad: 'valid', depthwise: false },
  { name: 'conv 7x7 s2 explicit 3 (ResNet stem)', x: [1, 11, 10, 3], w: [7, 7, 3, 2], strides: [2, 2], dilations: [1, 1], pad: [3, 3, 3, 3], depthwise: false },
  { name: 'conv 3x3 s3 explicit asymmetric', x: [2, 8, 9, 2], w: [3, 3, 2, 2], strides: [3, 3], dilations: [1, 1], pad: [1, 2, 0, 1], depthwise: false },
  { name: 'conv 2x2 s2 valid (patch embed)', x: [2, 8, 8, 3], w: [2, 2, 3, 5], strides: [2, 2], dilations: [1, 1], pad: 'valid', depthwise: false },
  { name: 'conv 3x3 dilation 2 same', x: [2, 8, 7, 2], w: [3, 3, 2, 3], strides: [1, 1], dilations: [2, 2], pad: 'same', depthwise: false },
  { name: 'conv 3x3 dilation [2,3] explicit', x: [1, 9, 10, 2], w: [3, 3, 2, 2], strides: [1, 1], dilations: [2, 3], pad: [2, 2, 3, 3], depthwise: false },
  { name: 'depthwise 3x3 s1 same', x: [2, 6, 7, 3], w: [3, 3, 3, 1], strides: [1, 1], dilations: [1, 1], pad: 'same', depthwise: true },
  { name: 'depthwise 3x3 s2 same mult 2', x: [2, 7, 6, 3], w: [3, 3, 3, 2], strides: [2, 2], dilations: [1, 1], pad: 'same', depthwise: true },
  { name: 'depthwise 5x5 s2 valid', x: [2, 9, 9, 2], w: [5, 5, 2, 1], strides: [2, 2], dilations: [1, 1], pad: 'valid', depthwise: true },
  { name: 'depthwise 3x3 explicit asymmetric mult 3', x: [1, 6, 6, 2], w: [3, 3, 2, 3], strides: [1, 1], dilations: [1, 1], pad: [0, 2, 1, 1], depthwise: true },
  { name: 'depthwise 3x3 dilation 2 same', x: [2, 8, 8, 2], w: [3, 3, 2, 1], strides: [1, 1], dilations: [2, 2], pad: 'same', depthwise: true },
];

function tfPad(p: ConvSpec['pad']): 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]] {
  return typeof p === 'string' ? p : [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];
}

function runTf(spec: ConvSpec, x: Float32Array, w: Float32Array, r: Float32Array): { y: Float32Array; gx: Float32Array; gw: Float32Array } {
  return tf.tidy(() => {
    const f = (a: tf.Tensor, b: tf.Tensor) => spec.depthwise
      ? tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, spec.strides, tfPad(spec.pad), 'NHWC', spec.dilations)
      : tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, spec.strides, tfPad(spec.pad), 'NHWC', spec.dilations);
    const xt = tf.tensor(x, spec.x);
    const wt = tf.tensor(w, spec.w);
    const y = f(xt, wt);
    const rt = tf.tensor(r, y.shape);
    const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), rt)))([xt, wt]);
    return { y: y.dataSync() as Float32Array, gx: gx.dataSync() as Float32Array, gw: gw.dataSync() as Float32Array };
  });
}

function data(shape: number[], seed: number): Float32Array {
  const g = rng(seed);
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => g() * 2 - 1);
}

describe('backend: convolution gradients on wasm', function () {
  this.timeout(60000);

  for (const [i, spec] of SPECS.entries()) {
    it(`${spec.name}: forward and both gradients match float64 definitions and the cpu backend`, async () => {
      const x = data(spec.x, 100 + i);
      const w = data(spec.w, 200 + i);
      const outShape = refOutShape(spec);
      const r = lossWeights(outShape, 300 + i);

      const yRef = refConv(spec, x, w);
      const [gxRef, gwRef] = refNumericalGrads(spec, Float64Array.from(x), Float64Array.from(w), r);

      await initBackend('wasm');
      const onWasm = runTf(spec, x, w, r);
      await initBackend('cpu');
      const onCpu = runTf(spec, x, w, r);

      assert.equal(onWasm.y.length, yRef.length, 'output size');
      assert.ok(relErr(onWasm.y, yRef) < 1e-5, `forward vs float64: ${relErr(onWasm.y, yRef)}`);
      assert.ok(relErr(onWasm.gx, gxRef) < 1e-5, `dL/dx vs numerical float64: ${relErr(onWasm.gx, gxRef)}`);
      assert.ok(relErr(onWasm.gw, gwRef) < 1e-5, `dL/dw vs numerical float64: ${relErr(onWasm.gw, gwRef)}`);
      // The cpu backend's own kernels (dilation: through the shared gradient) agree too.
      assert.ok(relErr(onWasm.gx, onCpu.gx) < 1e-5, `dL/dx wasm vs cpu: ${relErr(onWasm.gx, onCpu.gx)}`);
      assert.ok(relErr(onWasm.gw, onCpu.gw) < 1e-5, `dL/dw wasm vs cpu: ${relErr(onWasm.gw, onCpu.gw)}`);
    });
  }

  it('Conv2DBackpropFilter / Conv2DBackpropInput kernels: NCHW and dimRoundingMode agree with cpu', async () => {
    const cases: Array<{ x: [number, number, number, number]; f: [number, number, number, number]; attrs: Record<string, unknown> }> = [
      { x: [2, 3, 7, 6], f: [3, 3, 3, 4], attrs: { strides: [2, 2], pad: 'same', dataFormat: 'NCHW' } },
      { x: [2, 7, 6, 3], f: [3, 3, 3, 4], attrs: { strides: [2, 2], pad: 1, dimRoundingMode: 'ceil', dataFormat: 'NHWC' } },
      { x: [1, 8, 8, 2], f: [2, 2, 2, 3], attrs: { strides: [2, 2], pad: 0, dimRoundingMode: 'floor', dataFormat: 'NHWC' } },
    ];
    for (const c of cases) {
      const run = () => tf.tidy(() => {
        const x = tf.tensor(data(c.x, 1), c.x) as tf.Tensor4D;
        const filter = tf.tensor(data(c.f, 2), c.f) as tf.Tensor4D;
        const a = c.attrs as { strides: [number, number]; pad: 'same' | number; dimRoundingMode?: 'ceil' | 'floor'; dataFormat: 'NHWC' | 'NCHW' };
        const info = tf.backend_util.computeConv2DInfo(c.x, c.f,
          a.strides, 1, a.pad, a.dimRoundingMode, false, a.dataFormat === 'NCHW' ? 'channelsFirst' : 'channelsLast');
        const dy = tf.tensor(data(info.outShape, 3), info.outShape);
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...c.attrs, filterShape: c.f } as tf.NamedAttrMap) as tf.Tensor;
        const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...c.attrs, inputShape: c.x } as tf.NamedAttrMap) as tf.Tensor;
        return [dw.dataSync().slice(), dx.dataSync().slice(), dx.shape] as const;
      });
      await initBackend('cpu');
      const cpu = run();
      await initBackend('wasm');
      const wasm = run();
      assert.deepEqual(wasm[2], cpu[2]);
      assert.ok(relErr(wasm[0], cpu[0]) < 1e-5, `filter grad ${JSON.stringify(c.attrs)}: ${relErr(wasm[0], cpu[0])}`);
      assert.ok(relErr(wasm[1], cpu[1]) < 1e-5, `input grad ${JSON.stringify(c.attrs)}: ${relErr(wasm[1], cpu[1])}`);
    }
  });

  it('the im2col filter gradients (depthwise with dilation) agree, also batch slice by batch slice', async () => {
    await initBackend('wasm');
    const prev = setIm2colMaxElements(2000); // one sample's matrix is 6*7*27 = 1134 elements: slices of 1
    try {
      for (const spec of [SPECS[0], SPECS[1], SPECS[11], SPECS[13]]) {
        const x = data(spec.x, 5);
        const w = data(spec.w, 6);
        const outShape = refOutShape(spec);
        const r = lossWeights(outShape, 7);
        const [, gwRef] = refNumericalGrads(spec, Float64Array.from(x), Float64Array.from(w), r);
        const pad = tfPad(spec.pad);
        const gw = tf.tidy(() => {
          const xt = tf.tensor4d(x, spec.x as [number, number, number, number]);
          const dy = tf.tensor4d(r, outShape as [number, number, number, number]);
          const shape = spec.w as [number, number, number, number];
          return (spec.depthwise
            ? depthwiseBackpropFilterIm2col(xt, dy, shape, spec.strides, spec.dilations, pad)
            : conv2dBackpropFilterIm2col(xt, dy, shape, spec.strides, pad)).dataSync();
        });
        assert.ok(relErr(gw, gwRef) < 1e-5, `${spec.name} filter grad: ${relErr(gw, gwRef)}`);
      }
    } finally {
      setIm2colMaxElements(prev);
    }
  });

  it('the wasm gradient kernels leak no tensors and no backend buffers', async () => {
    await initBackend('wasm');
    const spec = SPECS[1];
    const x = data(spec.x, 1);
    const w = data(spec.w, 2);
    const r = lossWeights(refOutShape(spec), 3);
    runTf(spec, x, w, r); // warm-up
    const be = tf.backend();
    const tensors = tf.memory().numTensors;
    const ids = be.numDataIds();
    for (const s of [SPECS[1], SPECS[8], SPECS[11], SPECS[14]]) runTf(s, data(s.x, 1), data(s.w, 2), lossWeights(refOutShape(s), 3));
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(be.numDataIds(), ids);
  });
});
