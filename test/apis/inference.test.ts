import { strict as assert } from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { InferenceResult } from '../../runtime/apis/inference';

const REPO = path.join(__dirname, '..', '..');
const DATA = path.join(REPO, 'data', 'fashion-mnist-mini');
const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

describe('apis/inference: inferenceModel (mmcls classify)', function () {
  this.timeout(180_000);
  let tmp: string;
  let out: { testScores: number[]; result: InferenceResult; errors: string[] };

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-infer-'));
    const cfgFile = path.join(tmp, 'tiny.py');
    fs.writeFileSync(cfgFile, `_base_ = ${JSON.stringify(path.join(REPO, 'configs', 'lenet', 'lenet5_fashion-mnist-mini.py'))}
data_root = ${JSON.stringify(DATA)}
train_dataloader = dict(batch_size=32, num_workers=0, dataset=dict(data_prefix=data_root, indices=64))
val_dataloader = dict(batch_size=8, num_workers=0, dataset=dict(data_prefix=data_root, indices=8))
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(type='LoggerHook', interval=1))
train_cfg = dict(max_epochs=1)
randomness = dict(seed=1)
`);
    const tsx = path.join(REPO, 'node_modules', 'tsx', 'dist', 'cli.mjs');
    const text = execFileSync(process.execPath, [tsx, path.join(REPO, 'test', 'fixtures', 'apis', 'infer-check.ts'), cfgFile, tmp, DATA], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    out = JSON.parse(text.trim().split('\n').pop() as string);
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('gives the scores the test loop gives for the same image (PNG file vs the IDX data set), top-k sorted, with class names', () => {
    const { testScores, result: r } = out;
    assert.equal(r.num_classes, 10);
    assert.equal(r.topk.length, 5);
    assert.ok(Math.abs(testScores.reduce((a, b) => a + b, 0) - 1) < 1e-4, 'softmax scores sum to 1');
    const best = testScores.map((s, i) => ({ s, i })).sort((a, b) => b.s - a.s || a.i - b.i);
    assert.deepEqual(r.topk.map((t) => t.index), best.slice(0, 5).map((b) => b.i));
    for (const t of r.topk) {
      assert.ok(Math.abs(t.score - testScores[t.index]) < 1e-5, `${t.index}: ${t.score} vs ${testScores[t.index]}`);
      assert.equal(t.label, FASHION[t.index]);
    }
    assert.equal(r.pred_label, r.topk[0].index);
    assert.equal(r.pred_class, FASHION[r.pred_label]);
  });

  it('says what is missing', () => {
    assert.equal(out.errors.length, 2);
    assert.match(out.errors[0], /checkpoint not found/);
    assert.match(out.errors[1], /image not found/);
  });
});
