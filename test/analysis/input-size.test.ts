import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf } from '../../runtime/analysis/config-flops';

const ROOT = path.resolve(__dirname, '..', '..');
const REF_DIR = process.env.MMCLS_REFERENCE_DIR ?? path.resolve(ROOT, '..', 'shared', 'reference', 'models');

describe('analysis: the input size of a config (FLOPs lens and `mmcls flops` without --shape)', () => {
  it('equals the input MMClassification was measured with, for every reference config in configs/', function () {
    if (!fs.existsSync(REF_DIR)) this.skip();
    let checked = 0;
    for (const f of fs.readdirSync(REF_DIR).filter((x) => x.endsWith('.json') && !x.startsWith('_'))) {
      const ref = JSON.parse(fs.readFileSync(path.join(REF_DIR, f), 'utf8')) as { config: string; input_shape: number[] };
      const file = path.join(ROOT, 'configs', ref.config);
      if (!fs.existsSync(file)) continue;
      const cfg = loadConfig(file).value as Record<string, unknown>;
      assert.deepEqual(inputSizeOf(cfg), ref.input_shape.slice(2), `${ref.config} (${f})`);
      checked++;
    }
    assert.ok(checked >= 10, `only ${checked} reference configs found in configs/`);
  });

  it('LeNet-5 on Fashion-MNIST is 32×32 (its Resize), CIFAR without a resize 32, MNIST 28, nothing known 224', () => {
    const lenet = loadConfig(path.join(ROOT, 'configs', 'lenet', 'lenet5_fashion-mnist.py')).value as Record<string, unknown>;
    assert.deepEqual(inputSizeOf(lenet), [32, 32]);
    const ds = (type: string, pipeline: unknown[]) => ({ test_dataloader: { dataset: { type, pipeline } } });
    assert.deepEqual(inputSizeOf(ds('CIFAR10', [{ type: 'PackClsInputs' }])), [32, 32]);
    assert.deepEqual(inputSizeOf(ds('MNIST', [{ type: 'PackClsInputs' }])), [28, 28]);
    assert.deepEqual(inputSizeOf(ds('ImageNet', [{ type: 'Resize', scale: [320, 240] }])), [240, 320]);
    assert.deepEqual(inputSizeOf({ model: { backbone: { img_size: 384 } } }), [384, 384]);
    assert.deepEqual(inputSizeOf({}), [224, 224]);
  });
});
