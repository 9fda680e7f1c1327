/** The README demo config reads the bundled subset through the runtime's own dataset classes. */
import { strict as assert } from 'assert';
import * as path from 'path';
import { loadConfig } from '../../runtime/config';
import '../../runtime/datasets';
import { DATASETS } from '../../runtime/registry';

const REPO = path.resolve(__dirname, '..', '..');

describe('lenet5_fashion-mnist-mini with the runtime datasets', () => {
  it('builds its train and test sets from the bundled subset: 2000 and 500 images, 10 balanced classes', () => {
    const cfg = loadConfig(path.join(REPO, 'configs', 'lenet', 'lenet5_fashion-mnist-mini.py')).value;
    for (const [split, n] of [
      ['train', 2000],
      ['test', 500],
    ] as const) {
      const loader = cfg[`${split}_dataloader`] as Record<string, unknown>;
      const dsCfg = { ...(loader.dataset as Record<string, unknown>) };
      assert.equal(dsCfg.type, 'FashionMNIST');
      // Resolve against the repository, whatever the working directory of the test run.
      dsCfg.data_prefix = path.join(REPO, dsCfg.data_prefix as string);
      const ds = DATASETS.build(dsCfg) as unknown as { length: number; getGtLabels(): (number | number[])[] };
      assert.equal(ds.length, n);
      const counts = new Array<number>(10).fill(0);
      for (const l of ds.getGtLabels()) counts[l as number]++;
      assert.deepEqual(counts, new Array<number>(10).fill(n / 10));
    }
  });
});
