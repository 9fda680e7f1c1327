import { strict as assert } from 'assert';
import * as path from 'path';
import { MmclsError } from '../../runtime/errors';
import { Registry, RegistryArgumentError } from '../../runtime/registry/registry';
import { generateSchema } from '../../scripts/gen-schema';
import { fixtureSchema, TOY_MODELS, TOY_TRANSFORMS } from '../fixtures/registry/components/registries';
import { ToyHead, ToyLoss } from '../fixtures/registry/components/toyhead';
import { ToyNet, ToyNetV1c } from '../fixtures/registry/components/toynet';
import { ToyFlip } from '../fixtures/registry/components/transforms';

const ROOT = path.resolve(__dirname, '..', '..');

/** Runs `fn`, which must throw an MmclsError, and returns it. */
function thrown(fn: () => unknown): MmclsError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof MmclsError, `expected MmclsError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

describe('Registry.build argument checks', () => {
  before(() => {
    fixtureSchema.current = generateSchema({ root: ROOT, include: ['test/fixtures/registry/components'] });
  });
  after(() => {
    fixtureSchema.current = undefined;
  });

  it('builds a valid config with the given arguments', () => {
    const net = TOY_MODELS.build<ToyNet>({ type: 'ToyNet', depth: 50, style: 'caffe', out_indices: [1, 3] });
    assert.ok(net instanceof ToyNet);
    assert.equal(net.options.depth, 50);
    assert.equal(net.options.style, 'caffe');
    assert.deepEqual(net.options.out_indices, [1, 3]);
    assert.equal(net.options.in_channels, 3);
    // A union admits each member; None is fine where the default is None.
    TOY_MODELS.build({ type: 'ToyNet', depth: 18, out_indices: 3, aux_head: null, init_cfg: [{ type: 'Kaiming' }] });
    // Subclass with its own options.
    assert.ok(TOY_MODELS.build({ type: 'ToyNetV1c', depth: 18, deep_stem: false }) instanceof ToyNetV1c);
  });

  it('reports an unknown argument with the type, the valid ones and the nearest match', () => {
    const e = thrown(() => TOY_MODELS.build({ type: 'ToyNet', depth: 50, out_indice: [3] }));
    assert.equal(e.code, 'registry.unknown-arg');
    assert.equal(
      e.message,
      'ToyNet (TOY_MODELS): unknown argument "out_indice"; did you mean "out_indices"? Valid arguments: depth, ' +
        'in_channels, style, out_indices, strides, norm_cfg, frozen, aux_head, lr_mult, aux_loss, init_cfg.',
    );
    assert.ok(e instanceof RegistryArgumentError);
    assert.deepEqual(
      e.problems.map((p) => [p.code, p.arg, p.suggestion]),
      [['registry.unknown-arg', 'out_indice', 'out_indices']],
    );
    // Far from every valid name: no suggestion.
    const far = thrown(() => TOY_MODELS.build({ type: 'ToyNet', depth: 50, zzz: 1 }));
    assert.match(far.message, /unknown argument "zzz"\. Valid arguments: depth, /);
    // Transposed letters and case count as one edit each.
    assert.match(thrown(() => TOY_MODELS.build({ type: 'ToyNet', depth: 50, frzoen: true })).message, /did you mean "frozen"/);
    // A class without options says so.
    assert.match(thrown(() => TOY_MODELS.build({ type: 'ToyPool', dim: 2 })).message, /ToyPool takes no arguments/);
  });

  it('reports missing required arguments', () => {
    const e = thrown(() => TOY_MODELS.build({ type: 'ToyNet', style: 'caffe' }));
    assert.equal(e.code, 'registry.missing-arg');
    assert.equal(
      e.message,
      'ToyNet (TOY_MODELS): missing required argument "depth" (one of 18, 34, 50: Depth of the network, one of 18, 34, 50.).',
    );
    // Defaults (MMEngine's default_args) count as given.
    const head = TOY_MODELS.build<ToyHead>({ type: 'ToyHead' }, { num_classes: 10 });
    assert.equal(head.options.num_classes, 10);
  });

  it('reports values of the wrong kind', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ in_channels: '3' }, /argument "in_channels" must be an integer, got '3'\.$/],
      [{ in_channels: 2.5 }, /argument "in_channels" must be an integer, got 2\.5\./],
      [{ in_channels: null }, /argument "in_channels" must be an integer, got None\./],
      [{ frozen: 1 }, /argument "frozen" must be True or False, got 1\./],
      [{ out_indices: 'last' }, /argument "out_indices" must be a list of numbers or a number, got 'last'\./],
      [{ strides: [1] }, /argument "strides" must be a tuple \(a number, a number\), got \[1\]\./],
      [{ norm_cfg: ['BN'] }, /argument "norm_cfg" must be a dict, got \['BN'\]\./],
      [{ lr_mult: { stem: 'x' } }, /argument "lr_mult" must be a dict of numbers, got \{'stem': 'x'\}\./],
      [{ aux_head: 'ToyHead' }, /argument "aux_head" must be a config dict\(type=\.\.\.\) of TOY_MODELS \(head\) or None, got 'ToyHead'\./],
      [{ depth: 51 }, /argument "depth" must be one of 18, 34, 50, got 51\./],
      [{ depth: '50' }, /argument "depth" must be one of 18, 34, 50, got '50'\./],
    ];
    for (const [extra, re] of cases) {
      const e = thrown(() => TOY_MODELS.build({ type: 'ToyNet', depth: 50, ...extra }));
      assert.equal(e.code, 'registry.bad-value', JSON.stringify(extra));
      assert.match(e.message, re);
    }
  });

  it('suggests the nearest enum value', () => {
    const e = thrown(() => TOY_MODELS.build({ type: 'ToyNet', depth: 50, style: 'pytorh' }));
    assert.equal(e.code, 'registry.bad-value');
    assert.equal(e.message, `ToyNet (TOY_MODELS): argument "style" must be one of 'pytorch', 'caffe', got 'pytorh'; did you mean 'pytorch'?`);
    // Extra keys pass where the options have an index signature; enum values are still checked.
    TOY_TRANSFORMS.build({ type: 'ToyFlip', prob: 0.3, anything: 1 });
    const f = thrown(() => TOY_TRANSFORMS.build({ type: 'ToyRandomFlip', direction: 'diagonl' }));
    assert.match(f.message, /^ToyRandomFlip \(TOY_TRANSFORMS\): argument "direction" must be one of 'horizontal', 'vertical', 'diagonal', got 'diagonl'; did you mean 'diagonal'\?$/);
  });

  it('lists several problems in one error', () => {
    const e = thrown(() => TOY_MODELS.build({ type: 'ToyNet', dpth: 50, style: 1 }, undefined, { path: 'model.backbone' }));
    assert.ok(e instanceof RegistryArgumentError);
    assert.equal(e.code, 'registry.unknown-arg');
    assert.deepEqual(
      e.problems.map((p) => [p.code, p.path]),
      [
        ['registry.unknown-arg', 'model.backbone.dpth'],
        ['registry.missing-arg', 'model.backbone.depth'],
        ['registry.bad-value', 'model.backbone.style'],
      ],
    );
    assert.match(e.message, /^ToyNet \(TOY_MODELS\) at model\.backbone: 3 problems:\n  - unknown argument "dpth"; did you mean "depth"\?/);
  });

  it('names the key path and points at the config position', () => {
    const asked: string[] = [];
    const locate = (p: string) => {
      asked.push(p);
      return { file: 'configs/x.py', line: 7, column: 5 };
    };
    const e = thrown(() =>
      TOY_MODELS.build({ type: 'ToyNet', depth: 50, out_indice: 3 }, undefined, { path: 'model.backbone', locate }),
    );
    assert.match(e.message, /^ToyNet \(TOY_MODELS\) at model\.backbone: unknown argument "out_indice"/);
    assert.deepEqual(asked, ['model.backbone.out_indice']);
    assert.deepEqual(e.location, { file: 'configs/x.py', line: 7, column: 5 });
    assert.equal(e.format().startsWith('configs/x.py:7:5: ToyNet'), true);
  });

  it('finds the key path of nested builds from the parent', () => {
    // ToyNet builds aux_head, which builds its loss: both errors name their place in the config.
    const head = thrown(() =>
      TOY_MODELS.build({ type: 'ToyNet', depth: 50, aux_head: { type: 'ToyHead', num_class: 3 } }, undefined, { path: 'model.backbone' }),
    );
    assert.match(head.message, /^ToyHead \(TOY_MODELS\) at model\.backbone\.aux_head: 2 problems:/);
    const loss = thrown(() =>
      TOY_MODELS.build(
        { type: 'ToyNet', depth: 50, aux_head: { type: 'ToyHead', num_classes: 3, loss: { type: 'ToyLoss', reduction: 'meen' } } },
        undefined,
        { path: 'model.backbone' },
      ),
    );
    assert.equal(
      loss.message,
      `ToyLoss (TOY_MODELS) at model.backbone.aux_head.loss: argument "reduction" must be one of 'none', 'mean', 'sum', got 'meen'; did you mean 'mean'?`,
    );
    // After an error the build stack is empty again: a fresh top-level build has no path.
    assert.match(thrown(() => TOY_MODELS.build({ type: 'ToyLoss', reduction: 'x' })).message, /^ToyLoss \(TOY_MODELS\): /);
  });

  it('resolves scope prefixes as MMEngine does', () => {
    assert.ok(TOY_MODELS.build({ type: 'mmcls.ToyNet', depth: 18 }) instanceof ToyNet);
    assert.ok(TOY_MODELS.build({ type: 'ToyLoss', _scope_: 'mmcls' }) instanceof ToyLoss);
    assert.equal(TOY_MODELS.get('mmcls.ToyLoss'), ToyLoss);
    assert.equal(TOY_MODELS.has('mmengine.ToyLoss'), true);
    const e = thrown(() => TOY_MODELS.build({ type: 'mmdet.ToyNet', depth: 18 }));
    assert.equal(e.code, 'registry.unknown-scope');
    assert.match(e.message, /scope "mmdet"/);
    // Checks apply to scoped names too.
    assert.equal(thrown(() => TOY_MODELS.build({ type: 'mmcls.ToyNet' })).code, 'registry.missing-arg');
  });

  it('reports an unknown type with the nearest registered one', () => {
    const e = thrown(() => TOY_MODELS.build({ type: 'ToyNt', depth: 18 }, undefined, { path: 'model.backbone' }));
    assert.equal(e.code, 'registry.unknown-type');
    assert.match(e.message, /^"ToyNt" is not a type in the TOY_MODELS registry at model\.backbone\. Did you mean "ToyNet"\? Known types: ToyHead, ToyLoss, ToyNeXt, ToyNet, /);
    assert.match(thrown(() => TOY_MODELS.build({ type: 'toynet_cifar' })).message, /Did you mean "ToyNet_CIFAR"\?/);
  });

  it('lists the types of the category a known slot expects', () => {
    const toy = fixtureSchema.current!;
    const models = new Registry('MODELS', {
      schema: { ...toy, components: toy.components.map((c) => ({ ...c, registry: 'MODELS' })) },
    });
    models.add(ToyNet);
    models.add(ToyLoss);
    const e = thrown(() => models.build({ type: 'ToyLos' }, undefined, { path: 'model.head.loss' }));
    assert.equal(e.message, '"ToyLos" is not a type in the MODELS registry at model.head.loss. Did you mean "ToyLoss"? Known loss types: ToyLoss.');
    const b = thrown(() => models.build({ type: 'ToyNt' }, undefined, { path: 'model.backbone' }));
    assert.match(b.message, /Did you mean "ToyNet"\? Known backbone types: ToyNeXt, ToyNet, ToyNetV1c, ToyNet_CIFAR\.$/);
  });

  it("says when MMClassification has a type that is not implemented here", () => {
    const models = new Registry('MODELS', { schema: null });
    class ResNet {
      constructor(readonly options: unknown) {}
    }
    models.add(ResNet);
    const e = thrown(() => models.build({ type: 'ResNeSt', depth: 50 }));
    assert.equal(e.code, 'registry.unknown-type');
    assert.equal(
      e.message,
      '"ResNeSt" is not a type in the MODELS registry. MMClassification has ResNeSt (backbone), but mmcls does not implement it yet. ' +
        'Did you mean "ResNet"? Known types: ResNet.',
    );
    const empty = new Registry('HOOKS', { schema: null });
    assert.match(thrown(() => empty.build({ type: 'EMAHook' })).message, /MMClassification has EMAHook, but .* The registry is empty/);
  });

  it('builds classes registered at run time without checks (plugins)', () => {
    class MyPlugin {
      constructor(readonly options: Record<string, unknown>) {}
    }
    TOY_MODELS.add(MyPlugin, 'MyPluginForTest');
    const p = TOY_MODELS.build<MyPlugin>({ type: 'MyPluginForTest', whatever: [1, 2] });
    assert.deepEqual(p.options, { whatever: [1, 2] });
    // A class that only shares a name with a schema entry is not checked against it either.
    const reg = new Registry('TOY_MODELS', { schema: () => fixtureSchema.current });
    class ToyLossLookalike {
      constructor(readonly options: unknown) {}
    }
    reg.add(ToyLossLookalike, 'ToyLoss');
    reg.build({ type: 'ToyLoss', unrelated: true });
  });

  it('skips checks when asked, or when the registry has no schema', () => {
    TOY_MODELS.build({ type: 'ToyLoss', reduction: 'bogus' }, undefined, { check: false });
    const reg = new Registry('TOY_MODELS', { schema: null });
    reg.add(ToyFlip);
    reg.build({ type: 'ToyFlip', direction: 'bogus' });
  });

  it('accepts a class as type and checks it under its registered name', () => {
    assert.ok(TOY_MODELS.build({ type: ToyLoss }) instanceof ToyLoss);
    assert.equal(thrown(() => TOY_MODELS.build({ type: ToyLoss, reduction: 'x' })).code, 'registry.bad-value');
  });

  it('keeps the structural errors', () => {
    assert.equal(thrown(() => TOY_MODELS.build([1])).code, 'registry.not-a-dict');
    assert.equal(thrown(() => TOY_MODELS.build({ depth: 1 })).code, 'registry.no-type');
    assert.throws(() => TOY_MODELS.add(class ToyNet {}), /already registered/);
    assert.deepEqual(TOY_TRANSFORMS.keys().sort(), ['ToyFlip', 'ToyRandomFlip', 'ToyResize']);
  });
});
