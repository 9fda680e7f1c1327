/** The generated zoo of `npm run bench:config` is what it claims to be: loadable, three levels deep. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadConfig } from '../../runtime/config';
import { generateZoo } from '../../scripts/bench-config';

describe('bench:config zoo', () => {
  let root = '';
  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-bench-zoo-test-'));
  });
  after(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('generates the requested number of configs, each loading through three levels of inheritance', () => {
    const files = generateZoo(root, 30);
    assert.equal(files.length, 30);
    for (const f of files) {
      const cfg = loadConfig(f);
      const primary = f.endsWith('_primary.py');
      // A primary reads itself and 4 bases; a variant also reads its primary.
      assert.equal(cfg.files.length, primary ? 5 : 6, `${path.basename(f)} read ${cfg.files.join(', ')}`);
      assert.equal(cfg.value.default_scope, 'mmcls');
      assert.ok(cfg.value.model && typeof cfg.value.model === 'object');
    }
    // The variants exercise the features the zoo uses: _delete_, base references in arithmetic.
    const byName = (n: string): string => files.find((f) => f.endsWith(n)) as string;
    const cos = loadConfig(byName('algo0_variant1.py')).value.param_scheduler;
    assert.deepEqual(cos, { type: 'CosineAnnealingLR', T_max: 100, by_epoch: true });
    const refs = loadConfig(byName('algo0_variant6.py')).value as Record<string, Record<string, unknown>>;
    assert.equal(refs.val_dataloader.batch_size, 32);
    assert.equal(refs.test_dataloader.batch_size, 64);
  });
});
