import { strict as assert } from 'assert';
import * as path from 'path';
import { loadStateDictFile } from '../../runtime/engine/checkpoint';
import { BatchNorm2d, Conv2d, Linear, Module } from '../../runtime/nn';
import { useTestBackend } from '../nn/helpers';

class Backbone extends Module {
  conv1 = this.addModule('conv1', new Conv2d({ in_channels: 3, out_channels: 4, kernel_size: 3, bias: false }));
  bn1 = this.addModule('bn1', new BatchNorm2d({ num_features: 4 }));
}
class Head extends Module {
  fc = this.addModule('fc', new Linear({ in_features: 4, out_features: 5 }));
}
class Tiny extends Module {
  backbone = this.addModule('backbone', new Backbone());
  head = this.addModule('head', new Head());
}

const values = (n: number, scale = 1, shift = 0): number[] => Array.from({ length: n }, (_, i) => (((i * 37) % 101) / 101) * scale + shift);

describe('loading a PyTorch .pth written by torch.save into a model', () => {
  before(useTestBackend);

  it('converts OIHW / [out, in] to the layouts here, decodes fp16/bf16, reports the rest', () => {
    const file = path.join(__dirname, '..', 'fixtures', 'checkpoint', 'mmcls_zip.pth');
    const model = new Tiny();
    const report = model.loadStateDict(loadStateDictFile(file), { strict: false });
    assert.deepEqual(report.missing, ['backbone.bn1.bias']);
    assert.ok(report.unexpected.includes('layout.transposed') && !report.unexpected.includes('backbone.conv1.weight'));
    assert.equal(report.mismatched.length, 0);
    // conv1.weight[o, i, h, w] = values(108, 2, -1)[((o*3 + i)*3 + h)*3 + w]; stored HWIO here.
    const conv = model.backbone.conv1.weight.variable.arraySync() as number[][][][];
    const cv = values(108, 2, -1);
    for (const [o, i, h, w] of [[0, 0, 0, 0], [3, 2, 1, 0], [1, 2, 2, 2]]) {
      assert.ok(Math.abs(conv[h][w][i][o] - cv[((o * 3 + i) * 3 + h) * 3 + w]) < 1e-6);
    }
    // head.fc.weight (fp16 in the file) is [out=5, in=4] in PyTorch, [in, out] here.
    const fc = model.head.fc.weight.variable.arraySync() as number[][];
    const fv = values(20, 4, -2);
    assert.ok(Math.abs(fc[3][1] - fv[1 * 4 + 3]) < 4e-3);
    const bias = model.head.fc.bias!.variable.dataSync();
    assert.ok(Math.abs(bias[4] - values(5, 8, -4)[4]) < 4e-2);
    assert.equal(Number(model.stateDict().get('backbone.bn1.num_batches_tracked')!.data[0]), 1234567);
    // And back out in PyTorch's layout.
    const out = model.stateDict().get('backbone.conv1.weight')!;
    assert.deepEqual(out.shape, [4, 3, 3, 3]);
    assert.ok(Array.from(out.data as Float32Array).every((v, k) => Math.abs(v - cv[k]) < 1e-6));
  });
});
