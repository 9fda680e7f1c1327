import { strict as assert } from 'assert';
import { initBackend } from '../../runtime/backend';
import { CASES, checkParity, layerParity, leNetParity } from '../../scripts/webgpu-parity';
import { requireWebGpu } from './helpers';

/**
 * Every runtime/nn layer on webgpu against the cpu backend (plain JavaScript, float32): forward
 * output and gradients with respect to the input and every parameter; then 3 SGD steps of LeNet5.
 * Tolerance 1e-4 relative. The cases are in scripts/webgpu-parity.ts (the GPU check runs them too).
 */
describe('webgpu parity with cpu', function () {
  this.timeout(600000);
  before(async function () { await requireWebGpu(this); });
  after(async () => { await initBackend('cpu'); });

  it(`every runtime/nn layer: forward and gradients (${CASES.length} cases)`, async () => {
    // MMCLS_WEBGPU_CASES: a regular expression selecting cases by name (to bisect a failure).
    const only = process.env.MMCLS_WEBGPU_CASES ? new RegExp(process.env.MMCLS_WEBGPU_CASES) : undefined;
    assert.deepEqual(await layerParity(only), []);
  });

  it('the tolerance can fail: a perturbed result is reported', () => {
    const ref = { out: Float32Array.from([1, 2, 3]), grads: [Float32Array.from([1, -1])] };
    const bad = { out: Float32Array.from([1, 2, 3.001]), grads: [Float32Array.from([1, -1])] };
    assert.equal(checkParity('x', bad, ref).length, 1);
    assert.equal(checkParity('x', { out: ref.out, grads: ref.grads }, ref).length, 0);
    const badGrad = { out: ref.out, grads: [Float32Array.from([1, -1.001])] };
    assert.equal(checkParity('x', badGrad, ref).length, 1);
  });

  it('LeNet5: 3 SGD steps (loss, logits and weights) on webgpu as on cpu', async () => {
    const { errors } = await leNetParity();
    assert.deepEqual(errors, []);
  });
});
