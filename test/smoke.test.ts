import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';

describe('cli', () => {
  it('prints help and exits 0', () => {
    const r = spawnSync(path.join(__dirname, '..', 'bin', 'mmcls'), ['--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Usage: mmcls/);
  });
});
