import { strict as assert } from 'assert';
import * as path from 'path';
import { REGISTRIES } from '../../runtime/registry';
import { generateSchema } from '../../scripts/gen-schema';

const ROOT = path.resolve(__dirname, '..', '..');

describe('registry schema of the runtime', () => {
  it('names each component under the registry and type that loading its file registers', () => {
    const schema = generateSchema({ root: ROOT, include: ['runtime'] });
    for (const c of schema.components) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require(path.join(ROOT, c.location.file));
      const reg = REGISTRIES[c.registry];
      assert.ok(reg, `${c.location.file}: ${c.registry} is not one of the registries in runtime/registry/index.ts`);
      const cls = reg.get(c.type);
      assert.ok(cls, `${c.location.file}: loading it does not register ${c.type} in ${c.registry}`);
      assert.equal(cls.name, c.className, `${c.registry}.${c.type}`);
    }
    for (const c of schema.components) {
      const names = c.options.map((o) => o.name);
      assert.equal(new Set(names).size, names.length, `${c.type} has duplicate options`);
      assert.ok(!names.includes('type'), `${c.type}: "type" is not an option`);
    }
  });
});
