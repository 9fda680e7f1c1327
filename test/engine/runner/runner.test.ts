import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { loadConfig } from '../../../runtime/config';
import { Hook } from '../../../runtime/engine/hooks';
import { Runner } from '../../../runtime/engine/runner';
import { restoreNativeRandom } from '../../../runtime/engine/runner_random';

const REPO = path.resolve(__dirname, '..', '..', '..');

describe('Runner in process', function () {
  this.timeout(180_000);
  let tmp: string;
  before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-runner-'))));
  after(async () => {
    restoreNativeRandom();
    await tf.setBackend('cpu');
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('training with validation keeps the number of live tensors constant (no leak per iteration or evaluation)', async () => {
    const cfg = path.join(tmp, 'tiny.py');
    fs.writeFileSync(
      cfg,
      `_base_ = ${JSON.stringify(path.join(REPO, 'configs', 'lenet', 'lenet5_fashion-mnist-mini.py'))}
train_dataloader = dict(batch_size=32, num_workers=0, dataset=dict(data_prefix=${JSON.stringify(path.join(REPO, 'data', 'fashion-mnist-mini'))}, indices=96))
val_dataloader = dict(batch_size=32, num_workers=0, dataset=dict(data_prefix=${JSON.stringify(path.join(REPO, 'data', 'fashion-mnist-mini'))}, indices=64))
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=3)
randomness = dict(seed=0)
`,
    );
    const r = await Runner.create(loadConfig(cfg), {
      mode: 'train',
      workDir: path.join(tmp, 'wd'),
      device: 'wasm',
      progress: { mode: 'none', emit() {}, consoleLine() {}, finish() {} },
    });
    const live: number[] = [];
    r.registerHook(
      new (class extends Hook {
        override afterTrainIter() {
          live.push(tf.memory().numTensors);
        }
      })(),
    );
    const { metrics } = await r.train();
    r.close();
    assert.equal(live.length, 9);
    // Iterations after the first (optimizer state created) and after each validation hold the same tensors.
    assert.deepEqual(live.slice(1), new Array<number>(8).fill(live[1]), live.join(' '));
    assert.equal(typeof metrics['accuracy/top1'], 'number');
  });
});
