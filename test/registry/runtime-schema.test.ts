import { strict as assert } from 'assert';
import * as path from 'path';
import { REGISTRIES } from '../../runtime/registry';
import { checkValue } from '../../runtime/registry/check';
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
      assert.ok(cls, `${c.location.file}: loading it does not register ${c.type} in ${c.registry} of runtime/registry (a Registry of the same name declared elsewhere is a different object)`);
      assert.equal(cls.name, c.className, `${c.registry}.${c.type}`);
    }
    for (const c of schema.components) {
      // The documented default must pass build()'s own checks (a user may write it out).
      for (const o of c.options) {
        if (!('default' in o)) continue;
        const bad = checkValue(o, o.default);
        assert.equal(bad, undefined, `${o.location.file}:${o.location.line}: ${c.type}.${o.name}: @default ${o.defaultText} does not fit ${o.type}: ${bad?.message}`);
      }
      const names = c.options.map((o) => o.name);
      assert.equal(new Set(names).size, names.length, `${c.type} has duplicate options`);
      assert.ok(!names.includes('type'), `${c.type}: "type" is not an option`);
    }
  });
});

describe('registry autoload', () => {
  it('loads the module of a type the schema knows when it is not registered yet', function () {
    // Run in a child process: this one has already loaded every runtime module above.
    const { spawnSync } = require('child_process') as typeof import('child_process');
    const schema = generateSchema({ root: ROOT, include: ['runtime'] });
    const comp = schema.components.find((c) => c.registry === 'MODELS' && !c.aliasOf);
    if (!comp) this.skip();
    const fs = require('fs') as typeof import('fs');
    const tmp = path.join(ROOT, '.tmp', `schema-autoload-${process.pid}.json`);
    fs.mkdirSync(path.dirname(tmp), { recursive: true });
    fs.writeFileSync(tmp, JSON.stringify(schema));
    try {
      const code = `const r = require('./runtime/registry'); const before = r.MODELS.has(${JSON.stringify(comp.type)}); const cls = r.MODELS.get(${JSON.stringify(comp.type)}); console.log(JSON.stringify([before, cls && cls.name]));`;
      const res = spawnSync(process.execPath, ['--require', 'tsx/cjs', '-e', code], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, MMCLS_REGISTRY_SCHEMA: tmp },
      });
      assert.equal(res.status, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout.trim().split('\n').pop() as string), [false, comp.className]);
    } finally {
      fs.rmSync(tmp, { force: true });
    }
  });
});
