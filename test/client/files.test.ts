import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { listCheckpoints, listScalarFiles } from '../../client/core/checkpoints';
import { orderKeys, parseScalars } from '../../client/core/scalars';

describe('client/checkpoints and scalars: reading a work dir', () => {
  let wd: string;
  before(() => {
    wd = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-client-'));
    const touch = (f: string, t: number, text = 'x') => {
      fs.mkdirSync(path.dirname(path.join(wd, f)), { recursive: true });
      fs.writeFileSync(path.join(wd, f), text);
      fs.utimesSync(path.join(wd, f), t, t);
    };
    touch('epoch_1.safetensors', 1000);
    touch('epoch_2.safetensors', 2000);
    touch('epoch_3.safetensors', 3000);
    touch('best_accuracy_top1_epoch_2.safetensors', 2001);
    touch('tiny.py', 4000);
    touch('20260101_000000/vis_data/scalars.json', 1000, '{}');
    touch('20260102_000000/vis_data/scalars.json', 500, '{}');
    touch('20260102_000000/20260102_000000.log', 500);
    fs.writeFileSync(path.join(wd, 'last_checkpoint'), path.join(wd, 'epoch_2.safetensors'));
  });
  after(() => fs.rmSync(wd, { recursive: true, force: true }));

  it('lists checkpoints: last_checkpoint first, then best, then newest', () => {
    assert.deepEqual(listCheckpoints(wd).map((c) => `${c.kind}:${path.basename(c.file)}`), [
      'latest:epoch_2.safetensors',
      'best:best_accuracy_top1_epoch_2.safetensors',
      'periodic:epoch_3.safetensors',
      'periodic:epoch_1.safetensors',
    ]);
    assert.deepEqual(listCheckpoints(path.join(wd, 'missing')), []);
  });

  it('lists run folders with scalars.json, newest timestamp first', () => {
    assert.deepEqual(listScalarFiles(wd).map((f) => path.relative(wd, f)), [path.join('20260102_000000', 'vis_data', 'scalars.json'), path.join('20260101_000000', 'vis_data', 'scalars.json')]);
  });

  it('parses scalars.json into series per key (training by iteration, validation by epoch)', () => {
    const text = [
      '{"lr": 0.01, "data_time": 0.1, "loss": 2.3, "time": 0.5, "epoch": 1, "iter": 1, "memory": 0, "step": 1}',
      '{"lr": 0.01, "data_time": 0.1, "loss": 2.1, "time": 0.5, "epoch": 1, "iter": 2, "memory": 0, "step": 2}',
      '{"accuracy/top1": 12.5, "data_time": 0.06, "time": 0.15, "step": 1}',
      '{"lr": 0.005, "loss": "NaN", "step": 3}',
      '{"lr": 0.0',
    ].join('\n');
    const r = parseScalars(text, 'run');
    const by = Object.fromEntries(r.series.map((s) => [s.key, s]));
    assert.deepEqual(Object.keys(by).sort(), ['accuracy/top1', 'loss', 'lr']);
    assert.deepEqual(by.loss, { key: 'loss', x: [1, 2], y: [2.3, 2.1] });
    assert.deepEqual(by.lr.x, [1, 2, 3]);
    assert.deepEqual(by['accuracy/top1'], { key: 'accuracy/top1', x: [1], y: [12.5] });
    assert.deepEqual(orderKeys([r, { label: 'b', series: [{ key: 'loss_cls', x: [], y: [] }, { key: 'grad_norm', x: [], y: [] }] }]), ['loss', 'loss_cls', 'lr', 'grad_norm', 'accuracy/top1']);
  });
});
