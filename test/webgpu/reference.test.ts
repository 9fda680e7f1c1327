import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import '../../runtime/models';
import { initBackend } from '../../runtime/backend';
import { checkReferenceModel, formatParityLine, readReference } from '../../runtime/analysis/reference';
import { requireWebGpu } from './helpers';

/**
 * The real MMClassification measurements (../shared/reference) on webgpu: the same keys, parameter
 * counts, FLOPs and logits (1e-4 relative) as PyTorch, for the smaller reference models (the
 * software adapter in CI does about 2 GFLOP/s). Skips where the reference data is not beside the clone.
 */
const REF_DIR = process.env.MMCLS_REFERENCE_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'reference', 'models');
const MODELS = ['lenet5_mnist', 'resnet18_8xb16_cifar10', 'mobilenet-v2_8xb32_in1k', 'shufflenet-v1-1x_16xb64_in1k', 'regnetx-400mf_8xb128_in1k'];

describe('reference parity on webgpu (measured on MMClassification 1.0.0rc6)', function () {
  this.timeout(600000);
  before(async function () {
    await requireWebGpu(this);
    if (!fs.existsSync(REF_DIR)) this.skip();
  });
  after(async () => { await initBackend('cpu'); });

  for (const name of MODELS) {
    it(`${name}: keys, params, FLOPs and logits`, async function () {
      const file = path.join(REF_DIR, `${name}.json`);
      if (!fs.existsSync(file)) this.skip();
      await initBackend('webgpu');
      const r = await checkReferenceModel(readReference(file), name);
      assert.equal(r.status, 'pass', formatParityLine(r));
      assert.ok(r.logitsRelError! <= 1e-4);
    });
  }
});
