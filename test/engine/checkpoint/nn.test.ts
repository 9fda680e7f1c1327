import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { readCheckpoint, writeCheckpoint, toNumbers, TensorData } from '../../../runtime/engine/checkpoint';
import { BatchNorm2d, Conv2d, Sequential, loadPretrained } from '../../../runtime/nn';
import { FIX, expected } from './expected';

/** The fixture's backbone: conv1 (4x3x3x3, no bias) and bn1 (4 channels), as PyTorch names them. */
function backbone(): Sequential {
  return new Sequential(['conv1', new Conv2d({ in_channels: 3, out_channels: 4, kernel_size: 3, bias: false })], ['bn1', new BatchNorm2d({ num_features: 4 })]);
}

describe('engine/checkpoint: with runtime/nn', () => {
  let tmp: string;
  before(async () => {
    await tf.setBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-ckpt-nn-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it("loads a .pth through init_cfg=dict(type='Pretrained', prefix='backbone') with PyTorch's values", () => {
    const m = backbone();
    const report = loadPretrained(m, { type: 'Pretrained', checkpoint: path.join(FIX, 'mmcls_zip.pth'), prefix: 'backbone' });
    assert.equal(report.loaded, 5);
    assert.deepEqual(report.missing, ['bn1.bias'], 'the fixture has no bn1.bias');
    const sd = m.stateDict();
    for (const k of ['conv1.weight', 'bn1.weight', 'bn1.running_mean', 'bn1.running_var']) {
      const e = expected.state_dict[`backbone.${k}`];
      const got = sd.get(k)!;
      assert.deepEqual(got.shape, e.shape, k);
      // float32 values widened to float64 are exact: compare the first values exactly (OIHW order).
      assert.deepEqual(Array.from(got.data as Float32Array).slice(0, 6), e.first, k);
    }
    assert.equal(Number(sd.get('bn1.num_batches_tracked')!.data[0]), 1234567);
    m.dispose();
  });

  it("writes Module.stateDict() as is (int64 buffers held as Int32Array) and loads it back", async () => {
    const m = backbone();
    loadPretrained(m, { type: 'Pretrained', checkpoint: path.join(FIX, 'mmcls_zip.pth'), prefix: 'backbone' });
    const f = path.join(tmp, 'm.safetensors');
    await writeCheckpoint(f, { stateDict: m.stateDict(), meta: { epoch: 1 } });
    const c = await readCheckpoint(f);
    const nbt = c.stateDict.get('bn1.num_batches_tracked') as TensorData;
    assert.equal(nbt.dtype, 'I64');
    assert.deepEqual(toNumbers(nbt), [1234567]);
    assert.equal(c.stateDict.get('conv1.weight')!.dtype, 'F32');
    const m2 = backbone();
    const report = loadPretrained(m2, { type: 'Pretrained', checkpoint: f });
    assert.equal(report.loaded, 6);
    const sd2 = m2.stateDict();
    for (const [k, v] of m.stateDict()) assert.deepEqual(Array.from(sd2.get(k)!.data as Float32Array), Array.from(v.data as Float32Array), k);
    m.dispose();
    m2.dispose();
  });
});
