import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import '../../runtime/models';
import { checkReferenceModel, fillValues, formatParityLine, readReference, referenceFiles } from '../../runtime/analysis/reference';
import { useTestBackend } from '../nn/helpers';

const REF_DIR = process.env.MMCLS_REFERENCE_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'reference', 'models');
const haveRefs = fs.existsSync(REF_DIR);

describe('reference parity (measured on MMClassification 1.0.0rc6)', function () {
  before(async function () {
    if (!haveRefs) this.skip();
    await useTestBackend();
  });

  it('the fill formula reproduces the recorded fill_check sums', () => {
    const ref = readReference(path.join(REF_DIR, 'lenet5_mnist.json'));
    for (const [key, sum, first] of ref.fill_check!) {
      const shape = ref.state_dict.find(([k]) => k === key)![1];
      const v = fillValues(key, shape);
      let s = 0;
      for (const x of v) s += x;
      assert.ok(Math.abs(s - sum) <= 1e-9 * Math.max(1, Math.abs(sum)), `${key}: ${s} vs ${sum}`);
      assert.equal(v[0], first);
    }
  });

  for (const name of ['lenet5_mnist', 'resnet18_8xb16_cifar10']) {
    it(`${name}: keys, shapes, params, FLOPs per module and logits`, async function () {
      const file = path.join(REF_DIR, `${name}.json`);
      if (!fs.existsSync(file)) this.skip();
      const r = await checkReferenceModel(readReference(file), name);
      assert.equal(r.status, 'pass', formatParityLine(r));
      assert.ok(r.logitsRelError! <= 1e-4);
    });
  }

  it('every implemented reference model: keys, shapes, parameter counts and FLOPs (no forward pass)', async function () {
    let checked = 0;
    for (const file of referenceFiles(REF_DIR)) {
      const name = path.basename(file, '.json');
      const r = await checkReferenceModel(readReference(file), name, { forward: false });
      if (r.status === 'skip') continue;
      checked++;
      assert.equal(r.status, 'pass', formatParityLine(r));
    }
    assert.ok(checked >= 2);
  });
});
