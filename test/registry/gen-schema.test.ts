import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import { generateSchema } from '../../scripts/gen-schema';
import type { ComponentSchema, OptionSchema, RegistrySchema } from '../../runtime/registry/schema-types';

const ROOT = path.resolve(__dirname, '..', '..');
const FIXTURES = 'test/fixtures/registry/components';

/** 1-based line and column of `needle` in a fixture file, found by plain text search. */
function posOf(file: string, needle: string, within = ''): { line: number; column: number } {
  const lines = fs.readFileSync(path.join(ROOT, FIXTURES, file), 'utf8').split('\n');
  const idx = lines.findIndex((l) => l.includes(needle) && l.includes(within));
  assert.ok(idx >= 0, `${needle} not in ${file}`);
  return { line: idx + 1, column: lines[idx].indexOf(needle) + 1 };
}

function pick(o: OptionSchema): Partial<OptionSchema> {
  const { name, required, kind, declaredIn } = o;
  return { name, required, kind, declaredIn, ...('default' in o ? { default: o.default } : {}) };
}

describe('registry schema generator', () => {
  let schema: RegistrySchema;
  const comp = (registry: string, type: string): ComponentSchema => {
    const c = schema.components.find((x) => x.registry === registry && x.type === type);
    assert.ok(c, `${registry}.${type} missing`);
    return c;
  };

  before(() => {
    schema = generateSchema({ root: ROOT, include: [FIXTURES] });
  });

  it('finds every registered class, its registry and name, sorted', () => {
    assert.deepEqual(
      schema.components.map((c) => `${c.registry}.${c.type}`),
      [
        'TOY_MODELS.ToyHead',
        'TOY_MODELS.ToyLoss',
        'TOY_MODELS.ToyNeXt',
        'TOY_MODELS.ToyNet',
        'TOY_MODELS.ToyNetV1c',
        'TOY_MODELS.ToyNet_CIFAR',
        'TOY_MODELS.ToyPool',
        'TOY_TRANSFORMS.ToyFlip',
        'TOY_TRANSFORMS.ToyRandomFlip',
        'TOY_TRANSFORMS.ToyResize',
      ],
    );
    assert.deepEqual(schema.registries, ['TOY_MODELS', 'TOY_TRANSFORMS']);
    assert.equal(schema.version, 1);
  });

  it('records the class doc, summary, bases, category and the position of the class name', () => {
    const net = comp('TOY_MODELS', 'ToyNet');
    assert.equal(net.className, 'ToyNet');
    assert.equal(net.summary, 'A toy residual network.');
    assert.equal(net.doc, 'A toy residual network. It stands for ResNet in these tests.\n\nMore text about it.');
    assert.deepEqual(net.bases, ['BaseBackbone']);
    assert.equal(net.category, 'backbone'); // from the superclass name
    assert.equal(net.optionsType, 'ToyNetOptions');
    assert.equal(net.allowsExtra, false);
    assert.deepEqual(net.location, { file: `${FIXTURES}/toynet.ts`, ...posOf('toynet.ts', 'ToyNet ', 'export class') });
    assert.equal(comp('TOY_MODELS', 'ToyHead').category, 'head'); // from @category
    assert.equal(comp('TOY_MODELS', 'ToyPool').category, 'neck');
    assert.equal(comp('TOY_TRANSFORMS', 'ToyFlip').category, undefined);
  });

  it('reads options: types, kinds, required, parsed @default, docs, inherited interfaces', () => {
    const net = comp('TOY_MODELS', 'ToyNet');
    const byName = Object.fromEntries(net.options.map((o) => [o.name, o]));
    assert.deepEqual(
      net.options.map((o) => o.name),
      ['depth', 'in_channels', 'style', 'out_indices', 'strides', 'norm_cfg', 'frozen', 'aux_head', 'lr_mult', 'aux_loss', 'init_cfg'],
    );
    assert.deepEqual(pick(byName.depth), {
      name: 'depth',
      required: true,
      kind: { kind: 'enum', values: [18, 34, 50] },
      declaredIn: 'ToyNetOptions',
    });
    assert.equal(byName.depth.doc, 'Depth of the network, one of 18, 34, 50.');
    assert.equal(byName.depth.type, '18 | 34 | 50');
    assert.deepEqual(pick(byName.in_channels), {
      name: 'in_channels',
      required: false,
      kind: { kind: 'integer' },
      declaredIn: 'ToyNetOptions',
      default: 3,
    });
    assert.equal(byName.in_channels.defaultText, '3');
    assert.equal(byName.in_channels.doc, 'Number of input channels.');
    // A type alias is expanded in `kind`, kept in `type`.
    assert.equal(byName.style.type, 'ToyStyle');
    assert.deepEqual(byName.style.kind, { kind: 'enum', values: ['pytorch', 'caffe'] });
    assert.equal(byName.style.default, 'pytorch');
    assert.deepEqual(byName.out_indices.kind, {
      kind: 'union',
      anyOf: [{ kind: 'array', items: { kind: 'number' } }, { kind: 'number' }],
    });
    assert.deepEqual(byName.out_indices.default, [3]); // (3, )
    assert.deepEqual(byName.strides.kind, { kind: 'tuple', items: [{ kind: 'number' }, { kind: 'number' }] });
    assert.deepEqual(byName.strides.default, [1, 2]);
    assert.deepEqual(byName.norm_cfg.default, { type: 'BN', requires_grad: true }); // dict(...)
    assert.deepEqual(byName.norm_cfg.kind, { kind: 'dict' });
    assert.equal(byName.frozen.default, false);
    assert.deepEqual(byName.aux_head.kind, {
      kind: 'union',
      anyOf: [{ kind: 'config', registry: 'TOY_MODELS', category: 'head' }, { kind: 'null' }],
    });
    assert.equal(byName.aux_head.default, null);
    assert.deepEqual(byName.lr_mult.kind, { kind: 'dict', values: { kind: 'number' } });
    assert.deepEqual(byName.lr_mult.default, { stem: 0.1 });
    // JSDoc @registry / @category turn a ConfigDict into a nested component config.
    assert.deepEqual(byName.aux_loss.kind, {
      kind: 'union',
      anyOf: [{ kind: 'config', registry: 'TOY_MODELS', category: 'loss' }, { kind: 'null' }],
    });
    assert.deepEqual(byName.aux_loss.tags, { registry: 'TOY_MODELS', category: 'loss' });
    assert.equal(byName.init_cfg.declaredIn, 'BaseToyOptions');
    assert.equal(byName.init_cfg.location.file, `${FIXTURES}/base.ts`);
    assert.equal(byName.init_cfg.location.line, posOf('base.ts', 'init_cfg?').line);
  });

  it('inherits options through interface extends and class extends', () => {
    const v1c = comp('TOY_MODELS', 'ToyNetV1c');
    assert.deepEqual(v1c.bases, ['ToyNet', 'BaseBackbone']);
    assert.equal(v1c.category, 'backbone');
    const names = v1c.options.map((o) => o.name);
    assert.deepEqual(names.slice(0, 3), ['deep_stem', 'depth', 'in_channels']);
    assert.equal(names.length, 12);
    const depth = v1c.options.find((o) => o.name === 'depth');
    assert.deepEqual(depth?.kind, { kind: 'enum', values: [18, 50] }); // the override wins
    assert.equal(v1c.options.find((o) => o.name === 'deep_stem')?.default, true);
    // No constructor of its own: the superclass's options, under its registered name.
    const cifar = comp('TOY_MODELS', 'ToyNet_CIFAR');
    assert.equal(cifar.className, 'ToyNetCifar');
    assert.equal(cifar.optionsType, 'ToyNetOptions');
    assert.deepEqual(
      cifar.options.map((o) => o.name),
      comp('TOY_MODELS', 'ToyNet').options.map((o) => o.name),
    );
    // No constructor, but a `<Class>Options` interface: that one.
    const next = comp('TOY_MODELS', 'ToyNeXt');
    assert.equal(next.optionsType, 'ToyNeXtOptions');
    assert.deepEqual(next.options.map((o) => o.name).slice(0, 2), ['groups', 'depth']);
    assert.equal(next.options.length, 12);
  });

  it('reads type-alias intersections, index signatures, enums, aliases via add()', () => {
    const head = comp('TOY_MODELS', 'ToyHead');
    assert.deepEqual(
      head.options.map((o) => [o.name, o.declaredIn, o.required]),
      [
        ['num_classes', 'ToyHeadOptions', true],
        ['loss', 'ToyHeadOptions', false],
        ['init_cfg', 'BaseToyOptions', false],
      ],
    );
    assert.deepEqual(head.options[1].kind, { kind: 'config', registry: 'TOY_MODELS', category: 'loss' });
    assert.deepEqual(head.options[1].default, { type: 'ToyLoss' });
    // @injected: set by the parent, so no @default is asked for (no warning below).
    const lossOpts = comp('TOY_MODELS', 'ToyLoss').options;
    assert.deepEqual(lossOpts.map((o) => [o.name, o.injected ?? false]), [['reduction', false], ['loss_weight', false], ['num_classes', true]]);
    const pool = comp('TOY_MODELS', 'ToyPool');
    assert.deepEqual(pool.options, []);
    assert.equal(pool.allowsExtra, false);
    const flip = comp('TOY_TRANSFORMS', 'ToyFlip');
    assert.equal(flip.allowsExtra, true);
    const alias = comp('TOY_TRANSFORMS', 'ToyRandomFlip');
    assert.equal(alias.aliasOf, 'ToyFlip');
    assert.equal(alias.className, 'ToyFlip');
    assert.deepEqual(alias.options, flip.options);
    const resize = comp('TOY_TRANSFORMS', 'ToyResize');
    const interp = resize.options.find((o) => o.name === 'interpolation');
    assert.deepEqual(interp?.kind, { kind: 'enum', values: ['nearest', 'bilinear'] });
    assert.deepEqual(resize.options.find((o) => o.name === 'scale')?.kind, {
      kind: 'union',
      anyOf: [{ kind: 'number' }, { kind: 'tuple', items: [{ kind: 'number' }, { kind: 'number' }] }],
    });
  });

  it('warns about convention gaps, at their positions', () => {
    const got = schema.warnings.map((w) => `${w.location.line}: ${w.message}`);
    const at = (needle: string, within = '') => posOf('transforms.ts', needle, within).line;
    assert.deepEqual(got, [
      `${at('scale:')}: option scale of ToyResizeOptions has no JSDoc sentence`,
      `${at('interpolation?:')}: option interpolation of ToyResizeOptions has no JSDoc sentence`,
      `${at('interpolation?:')}: optional option interpolation of ToyResizeOptions has no @default tag (MMClassification's default as a Python literal)`,
      `${at('keep_ratio?:')}: option keep_ratio of ToyResizeOptions has no JSDoc sentence`,
      `${at('keep_ratio?:')}: optional option keep_ratio of ToyResizeOptions has no @default tag (MMClassification's default as a Python literal)`,
      `${at('ToyResize ', 'export class')}: registered class ToyResize has no JSDoc (the text users see on hover)`,
    ]);
  });

  it('is deterministic and can scan single files', () => {
    const again = generateSchema({ root: ROOT, include: [FIXTURES] });
    assert.equal(JSON.stringify(again), JSON.stringify(schema));
    const one = generateSchema({ root: ROOT, include: [`${FIXTURES}/toyhead.ts`] });
    assert.deepEqual(
      one.components.map((c) => c.type),
      ['ToyHead', 'ToyLoss', 'ToyPool'],
    );
  });

  it('writes the schema file from the command line', () => {
    const out = path.join(ROOT, '.tmp', `schema-test-${process.pid}.json`);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { main } = require('../../scripts/gen-schema') as typeof import('../../scripts/gen-schema');
    const write = process.stdout.write;
    let printed = '';
    process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
    let rc: number;
    let strictRc: number;
    let written: unknown;
    try {
      rc = main(['--root', ROOT, '--out', out, '--quiet', FIXTURES]);
      written = JSON.parse(fs.readFileSync(out, 'utf8'));
      main(['--root', ROOT, '--out', out, '--quiet', FIXTURES]); // nothing changed: skipped
      strictRc = main(['--root', ROOT, '--out', out, '--quiet', '--strict', `${FIXTURES}/transforms.ts`]);
    } finally {
      process.stdout.write = write;
      fs.rmSync(out, { force: true });
    }
    assert.equal(rc, 0);
    assert.match(printed, /^registry schema: 10 components in 2 registries, 6 warnings, \d+ ms -> .*\nregistry schema: up to date/);
    assert.deepEqual(written, schema);
    assert.equal(strictRc, 1); // --strict fails on warnings
  });
});
