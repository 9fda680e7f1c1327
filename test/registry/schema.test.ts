import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import {
  allTypes,
  checkConfig,
  componentsOf,
  locatorFromSourceMap,
  findComponent,
  findMmclsType,
  formatKeyPath,
  loadSchema,
  mmclsTypes,
  notImplemented,
  parseKeyPath,
  slotOf,
  typeOfDict,
  useSchema,
} from '../../runtime/registry/schema';
import type { ComponentSchema, OptionSchema, RegistrySchema } from '../../runtime/registry/schema-types';
import { parsePythonLiteral } from '../../runtime/registry/pyliteral';
import { editDistance, suggest } from '../../runtime/registry/suggest';
import { generateSchema } from '../../scripts/gen-schema';

const ROOT = path.resolve(__dirname, '..', '..');

describe('registry schema queries', () => {
  let toy: RegistrySchema;
  before(() => {
    toy = generateSchema({ root: ROOT, include: ['test/fixtures/registry/components'] });
  });

  it('finds components by registry and type, scope prefix allowed', () => {
    assert.equal(findComponent('TOY_MODELS', 'ToyNet', toy)?.className, 'ToyNet');
    assert.equal(findComponent('TOY_MODELS', 'mmcls.ToyNet', toy)?.className, 'ToyNet');
    assert.equal(findComponent('TOY_TRANSFORMS', 'ToyNet', toy), undefined);
    assert.deepEqual(
      componentsOf('TOY_MODELS', 'backbone', toy).map((c) => c.type),
      ['ToyNeXt', 'ToyNet', 'ToyNetV1c', 'ToyNet_CIFAR'],
    );
    assert.equal(componentsOf('TOY_MODELS', undefined, toy).length, 7);
    assert.deepEqual(allTypes(toy).slice(0, 2), [
      { registry: 'TOY_MODELS', type: 'ToyHead', category: 'head' },
      { registry: 'TOY_MODELS', type: 'ToyLoss', category: 'loss' },
    ]);
  });

  it('useSchema replaces the loaded schema', () => {
    const before = loadSchema();
    try {
      useSchema(toy);
      assert.equal(loadSchema(), toy);
      assert.equal(findComponent('TOY_MODELS', 'ToyLoss')?.type, 'ToyLoss');
    } finally {
      useSchema(before);
    }
  });

  it('locates key paths through a config source map', () => {
    const span = (line: number, column: number) => ({ line, column, endLine: line, endColumn: column + 3 });
    const map = new Map([
      ['model.backbone', { file: 'a.py', range: span(3, 14) }],
      ['model.backbone.dpth', { file: 'b.py', range: span(5, 10), keyRange: span(5, 5) }],
      ['train_pipeline.1', { file: 'a.py', range: span(9, 5) }],
    ]);
    const locate = locatorFromSourceMap(map);
    assert.deepEqual(locate('model.backbone.dpth'), { file: 'b.py', ...span(5, 5) }); // the key itself
    assert.deepEqual(locate('model.backbone.depth'), { file: 'a.py', ...span(3, 14) }); // not written: its dict
    assert.deepEqual(locate('train_pipeline[1].scale'), { file: 'a.py', ...span(9, 5) });
    assert.equal(locate('optim_wrapper.optimizer'), undefined);
  });

  it('parses and formats key paths', () => {
    assert.deepEqual(parseKeyPath('train_dataloader.dataset.pipeline[2]'), ['train_dataloader', 'dataset', 'pipeline', 2]);
    assert.deepEqual(parseKeyPath('custom_hooks.0'), ['custom_hooks', 0]);
    assert.equal(formatKeyPath(['model', 'train_cfg', 'augments', 1]), 'model.train_cfg.augments[1]');
  });

  it('knows which registry each config slot is built from', () => {
    const cases: [string, string | undefined, string?][] = [
      ['model', 'MODELS', 'classifier'],
      ['model.backbone', 'MODELS', 'backbone'],
      ['model.neck', 'MODELS', 'neck'],
      ['model.head', 'MODELS', 'head'],
      ['model.head.loss', 'MODELS', 'loss'],
      ['model.data_preprocessor', 'MODELS', 'data_preprocessor'],
      ['data_preprocessor', 'MODELS', 'data_preprocessor'],
      ['model.train_cfg.augments[1]', 'BATCH_AUGMENTS'],
      ['model.backbone.init_cfg', 'WEIGHT_INITIALIZERS'],
      ['model.backbone.init_cfg[0]', 'WEIGHT_INITIALIZERS'],
      ['model.backbone.norm_cfg', 'MODELS', 'norm'],
      ['train_dataloader.dataset', 'DATASETS'],
      ['val_dataloader.dataset', 'DATASETS'],
      ['train_dataloader.dataset.dataset', 'DATASETS'],
      ['train_dataloader.dataset.datasets[1]', 'DATASETS'],
      ['train_dataloader.dataset.pipeline[0]', 'TRANSFORMS'],
      ['train_dataloader.dataset.dataset.pipeline[3]', 'TRANSFORMS'],
      ['train_pipeline[2]', 'TRANSFORMS'],
      ['test_pipeline[0]', 'TRANSFORMS'],
      ['train_dataloader.sampler', 'DATA_SAMPLERS'],
      ['val_evaluator', 'METRICS'],
      ['val_evaluator[1]', 'METRICS'],
      ['test_evaluator', 'METRICS'],
      ['optim_wrapper', 'OPTIM_WRAPPERS'],
      ['optim_wrapper.optimizer', 'OPTIMIZERS'],
      ['optim_wrapper.constructor', 'OPTIM_WRAPPER_CONSTRUCTORS'],
      ['param_scheduler', 'PARAM_SCHEDULERS'],
      ['param_scheduler[0]', 'PARAM_SCHEDULERS'],
      ['default_hooks.checkpoint', 'HOOKS'],
      ['default_hooks.logger', 'HOOKS'],
      ['custom_hooks[0]', 'HOOKS'],
      ['visualizer', 'VISUALIZERS'],
      ['visualizer.vis_backends[0]', 'VISBACKENDS'],
      ['vis_backends[0]', 'VISBACKENDS'],
      ['train_cfg', 'LOOPS'],
      ['val_cfg', 'LOOPS'],
      ['log_processor', 'LOG_PROCESSORS'],
      ['train_dataloader', undefined],
      ['model.train_cfg', undefined],
      ['model.backbone.depth', undefined],
      ['default_hooks', undefined],
      ['custom_hooks', undefined],
    ];
    for (const [p, registry, category] of cases) {
      const slot = slotOf(p, undefined, toy);
      assert.equal(slot?.registry, registry, p);
      if (category) assert.equal(slot?.category, category, p);
    }
    assert.equal(slotOf('optim_wrapper.constructor', undefined, toy)?.typeIsString, true);
  });

  it('gives the type of a dict whose slot has a default type', () => {
    const train = slotOf('train_cfg', undefined, toy)!;
    assert.equal(typeOfDict(train, { by_epoch: true, max_epochs: 3 }), 'EpochBasedTrainLoop');
    assert.equal(typeOfDict(train, { by_epoch: false, max_iters: 3 }), 'IterBasedTrainLoop');
    assert.equal(typeOfDict(train, { type: 'mmengine.IterBasedTrainLoop' }), 'IterBasedTrainLoop');
    assert.equal(typeOfDict(slotOf('optim_wrapper', undefined, toy)!, { optimizer: {} }), 'OptimWrapper');
    assert.equal(typeOfDict(slotOf('model.backbone', undefined, toy)!, { depth: 50 }), undefined);
  });

  it('finds slots the table does not know from the parent component options', () => {
    // The fixture components also stand in for MODELS here (the table maps `model.backbone` to MODELS).
    const asModels: RegistrySchema = {
      ...toy,
      components: [...toy.components, ...toy.components.filter((c) => c.registry === 'TOY_MODELS').map((c) => ({ ...c, registry: 'MODELS' }))],
    };
    const cfg = { model: { type: 'ImageClassifier', backbone: { type: 'ToyNet', depth: 50, aux_head: { type: 'ToyHead' }, aux_loss: {} } } };
    const head = slotOf('model.backbone.aux_head', cfg, asModels);
    assert.deepEqual(head, { registry: 'TOY_MODELS', category: 'head', source: 'schema' });
    assert.deepEqual(slotOf('model.backbone.aux_loss', cfg, asModels), { registry: 'TOY_MODELS', category: 'loss', source: 'schema' });
    // Grandchildren: ToyHead's loss.
    assert.deepEqual(slotOf('model.backbone.aux_head.loss', cfg, asModels), { registry: 'TOY_MODELS', category: 'loss', source: 'schema' });
    // Not a component option: the table's answer (none for depth).
    assert.equal(slotOf('model.backbone.depth', cfg, asModels), undefined);
    assert.equal(slotOf('model.backbone.init_cfg', cfg, asModels)?.registry, 'WEIGHT_INITIALIZERS');
  });
});

describe('checkConfig', () => {
  it('checks every component dict of a config without building it', () => {
    const toy = generateSchema({ root: ROOT, include: ['test/fixtures/registry/components'] });
    const rename: Record<string, string> = { TOY_MODELS: 'MODELS', TOY_TRANSFORMS: 'TRANSFORMS' };
    const schema: RegistrySchema = {
      ...toy,
      components: [...toy.components, ...toy.components.map((c) => ({ ...c, registry: rename[c.registry] }))],
    };
    const config = {
      model: {
        backbone: { type: 'mmcls.ToyNet', dpth: 50 },
        neck: { type: 'GlobalAveragePooling' },
        head: { type: 'ToyHead', num_classes: 10, loss: { type: 'ToyLos' } },
      },
      train_pipeline: [{ type: 'ToyFlip', direction: 'horizontal' }, { type: 'ToyResize', scale: 'big' }],
      optim_wrapper: { optimizer: { type: 'SGD', lr: 0.1 }, constructor: 'NoSuchConstructor' },
      train_cfg: { by_epoch: true, max_epochs: 3 },
      custom_hooks: [{ type: 'mmdet.SomethingHook' }],
    };
    const got = [...checkConfig({ model: { type: 'ToyNet', depth: 50 } }, schema), ...checkConfig(config, schema)].map((p) => [
      p.severity,
      p.code,
      p.path,
      p.message,
    ]);
    const byPath = new Map(got.map((g) => [`${g[2]} ${g[1]}`, g]));
    assert.deepEqual(
      got.map((g) => `${g[2]} ${g[1]}`),
      [
        'model registry.wrong-category',
        'model.backbone.dpth registry.unknown-arg',
        'model.backbone.depth registry.missing-arg',
        'model.neck registry.not-implemented',
        'model.head.loss registry.unknown-type',
        'train_pipeline[1].scale registry.bad-value',
        'optim_wrapper.constructor registry.unknown-type',
        'optim_wrapper.optimizer registry.not-implemented',
      ],
    );
    assert.equal(byPath.get('model registry.wrong-category')?.[3], 'ToyNet is a backbone, but model expects a classifier.');
    assert.equal(byPath.get('model registry.wrong-category')?.[0], 'warning');
    assert.match(String(byPath.get('model.backbone.dpth registry.unknown-arg')?.[3]), /^ToyNet: unknown argument "dpth"; did you mean "depth"\?/);
    assert.equal(byPath.get('model.neck registry.not-implemented')?.[0], 'info');
    assert.equal(
      byPath.get('model.neck registry.not-implemented')?.[3],
      'MMClassification has GlobalAveragePooling (neck), but mmcls does not implement it yet.',
    );
    // TOY_MODELS: the slot comes from ToyHead's option type, not from the table.
    assert.equal(byPath.get('model.head.loss registry.unknown-type')?.[3], '"ToyLos" is not a type in TOY_MODELS (loss). Did you mean "ToyLoss"?');
    assert.equal(byPath.get('optim_wrapper.constructor registry.unknown-type')?.[3], '"NoSuchConstructor" is not a type in OPTIM_WRAPPER_CONSTRUCTORS.');
  });
});

describe('checkConfig and builder conventions', () => {
  const opt = (name: string, required: boolean, extra: Partial<OptionSchema> = {}): OptionSchema => ({
    name,
    type: 'unknown',
    kind: { kind: 'any' },
    required,
    doc: '',
    declaredIn: 'X',
    location: { file: 'x.ts', line: 1, column: 1 },
    ...extra,
  });
  const comp = (registry: string, type: string, options: OptionSchema[]): ComponentSchema => ({
    registry,
    type,
    className: type,
    summary: '',
    doc: '',
    bases: [],
    allowsExtra: false,
    options,
    location: { file: 'x.ts', line: 1, column: 1 },
  });
  const schema: RegistrySchema = {
    version: 1,
    registries: ['DATA_SAMPLERS', 'OPTIM_WRAPPERS', 'OPTIMIZERS', 'LOOPS', 'MODELS'],
    components: [
      comp('DATA_SAMPLERS', 'DefaultSampler', [opt('dataset', true), opt('shuffle', false)]),
      comp('OPTIM_WRAPPERS', 'OptimWrapper', [opt('optimizer', true), opt('clip_grad', false)]),
      comp('OPTIMIZERS', 'SGD', [opt('params', true), opt('lr', true)]),
      comp('LOOPS', 'EpochBasedTrainLoop', [opt('max_epochs', true), opt('val_interval', false)]),
      comp('MODELS', 'Head', [opt('num_classes', true), opt('in_channels', true, { injected: true })]),
    ],
    warnings: [],
  };

  it('does not ask configs for injected options nor for keys the builder consumes', () => {
    const config = {
      train_dataloader: { sampler: { type: 'DefaultSampler', shuffle: true } },
      optim_wrapper: { optimizer: { type: 'SGD', lr: 0.1 }, paramwise_cfg: { norm_decay_mult: 0 } },
      train_cfg: { by_epoch: true, max_epochs: 3 },
      model: { head: { type: 'Head', num_classes: 3 } },
    };
    assert.deepEqual(checkConfig(config, schema), []);
    // Without the consumed keys or the injection the same dicts are findings.
    const bad = checkConfig({ optim_wrapper: { optimizer: { type: 'SGD' }, paramwise: {} }, train_cfg: { by_epoch: true } }, schema);
    assert.deepEqual(
      bad.map((p) => `${p.code} ${p.path}`),
      ['registry.unknown-arg optim_wrapper.paramwise', 'registry.missing-arg optim_wrapper.optimizer.lr', 'registry.missing-arg train_cfg.max_epochs'],
    );
    // Left out `type` where the slot has none by default: nothing to check against.
    assert.deepEqual(checkConfig({ model: { head: { num_classes: 'x' } } }, schema), []);
  });
});

describe("MMClassification's registry types (mmcls-types.json)", () => {
  const inventoryFile = path.join(ROOT, '..', 'shared', 'spec', 'seed-inventory.md');
  const inventory = fs.existsSync(inventoryFile) ? fs.readFileSync(inventoryFile, 'utf8') : '';
  /** Backticked names in the inventory section that starts with `heading`. */
  function namesIn(heading: string): string[] {
    const start = inventory.indexOf(heading);
    assert.ok(start >= 0, heading);
    const end = inventory.indexOf('\n### ', start + heading.length);
    const text = inventory.slice(start, end < 0 ? undefined : end);
    return [...new Set([...text.matchAll(/`([A-Z][A-Za-z0-9_]+)`/g)].map((m) => m[1]))];
  }

  it('lists every backbone, neck, head and loss of the seed under MODELS with its category', function () {
    if (!inventory) this.skip();
    const b2 = inventory.slice(inventory.indexOf('### B2.'), inventory.indexOf('Arguments the seed actually shows'));
    const backbones = [...new Set([...b2.matchAll(/`([A-Z][A-Za-z0-9_]+)`/g)].map((m) => m[1]))];
    assert.equal(backbones.length, 58);
    for (const name of backbones) assert.equal(findMmclsType(name, 'MODELS')?.category, 'backbone', name);
    for (const name of ['GlobalAveragePooling', 'GeneralizedMeanPooling', 'HRFuseScales']) {
      assert.equal(findMmclsType(name, 'MODELS')?.category, 'neck', name);
    }
    const heads = namesIn('### B4.').filter((n) => n.endsWith('Head'));
    assert.equal(heads.length, 11);
    for (const name of heads) assert.equal(findMmclsType(name, 'MODELS')?.category, 'head', name);
    for (const name of namesIn('### B5.').filter((n) => n.endsWith('Loss') && n !== 'L1Loss')) {
      assert.equal(findMmclsType(name, 'MODELS')?.category, 'loss', name);
    }
  });

  it('lists the seed transforms, metrics, hooks, samplers, schedulers, loops and visualizers', function () {
    if (!inventory) this.skip();
    const expect: [string, string[]][] = [
      ['TRANSFORMS', namesIn('### B10.')],
      ['METRICS', ['Accuracy', 'SingleLabelMetric', 'ConfusionMatrix', 'CorruptionError', 'AveragePrecision', 'MultiLabelMetric', 'VOCAveragePrecision', 'VOCMultiLabelMetric', 'RetrievalRecall']],
      ['HOOKS', ['IterTimerHook', 'LoggerHook', 'ParamSchedulerHook', 'CheckpointHook', 'DistSamplerSeedHook', 'VisualizationHook', 'ClassNumCheckHook', 'PreciseBNHook', 'PrepareProtoBeforeValLoopHook', 'SetAdaptiveMarginsHook', 'EMAHook']],
      ['DATASETS', ['CustomDataset', 'ImageNet', 'ImageNet21k', 'CIFAR10', 'CIFAR100', 'MNIST', 'FashionMNIST', 'VOC', 'CUB', 'InShop', 'BaseDataset', 'MultiLabelDataset', 'KFoldDataset', 'ConcatDataset', 'RepeatDataset', 'ClassBalancedDataset']],
      ['DATA_SAMPLERS', ['DefaultSampler']],
      ['OPTIMIZERS', ['SGD', 'Adam', 'AdamW', 'Lamb']],
      ['OPTIM_WRAPPERS', ['OptimWrapper', 'AmpOptimWrapper']],
      ['OPTIM_WRAPPER_CONSTRUCTORS', ['DefaultOptimWrapperConstructor']],
      ['PARAM_SCHEDULERS', ['ExponentialLR', 'LinearLR', 'StepLR', 'MultiStepLR', 'CosineAnnealingLR', 'LinearMomentum']],
      ['LOOPS', ['EpochBasedTrainLoop', 'IterBasedTrainLoop', 'ValLoop', 'TestLoop']],
      ['VISUALIZERS', ['ClsVisualizer']],
      ['VISBACKENDS', ['LocalVisBackend', 'TensorboardVisBackend', 'WandbVisBackend']],
      ['BATCH_AUGMENTS', ['Mixup', 'CutMix', 'ResizeMix']],
    ];
    for (const [registry, names] of expect) {
      assert.ok(names.length > 0, registry);
      for (const name of names) assert.ok(findMmclsType(name, registry), `${registry}.${name}`);
    }
    assert.equal(findMmclsType('ClsDataPreprocessor', 'MODELS')?.category, 'data_preprocessor');
    assert.equal(findMmclsType('ImageClassifier', 'MODELS')?.category, 'classifier');
  });

  it('holds every type the reference models use', function () {
    const dir = path.join(ROOT, '..', 'shared', 'reference', 'models');
    if (!fs.existsSync(dir)) this.skip();
    const seen = new Set<string>();
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json') && !x.startsWith('_'))) {
      const data = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
      for (const key of ['model_type', 'backbone_type', 'neck_type', 'head_type']) {
        const v = data[key];
        for (const t of Array.isArray(v) ? v : [v]) if (typeof t === 'string' && t !== 'None') seen.add(t);
      }
    }
    assert.ok(seen.size > 20);
    for (const t of seen) assert.ok(findMmclsType(t, 'MODELS'), t);
  });

  it('names only registries that runtime/registry declares, as do the config slots', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { REGISTRIES } = require('../../runtime/registry') as typeof import('../../runtime/registry');
    for (const t of mmclsTypes()) assert.ok(REGISTRIES[t.registry], `${t.type}: ${t.registry}`);
    for (const p of ['model', 'train_pipeline[0]', 'model.train_cfg.augments[0]', 'model.backbone.init_cfg', 'log_processor', 'val_evaluator', 'visualizer']) {
      const slot = slotOf(p, undefined, { version: 1, registries: [], components: [], warnings: [] });
      assert.ok(slot && REGISTRIES[slot.registry], p);
    }
  });

  it('has one entry per registry and type, with known sources', () => {
    const keys = mmclsTypes().map((t) => `${t.registry}.${t.type}`);
    assert.equal(new Set(keys).size, keys.length);
    for (const t of mmclsTypes()) assert.ok(['mmcls', 'mmengine', 'mmcv', 'torch'].includes(t.source), t.type);
    assert.ok(mmclsTypes('MODELS').every((t) => t.registry === 'MODELS'));
  });

  it('tells what is not implemented here', () => {
    const schema: RegistrySchema = { version: 1, registries: ['MODELS'], components: [], warnings: [] };
    assert.equal(notImplemented('MODELS', 'mmcls.ResNeSt', schema)?.category, 'backbone');
    assert.equal(notImplemented('MODELS', 'NoSuchThing', schema), undefined);
  });
});

describe('registry helpers', () => {
  it('parses Python literals of @default tags', () => {
    const cases: [string, unknown][] = [
      ['3', 3],
      ['-1', -1],
      ['1e-5', 1e-5],
      ["'pytorch'", 'pytorch'],
      ['"a\\nb"', 'a\nb'],
      ['None', null],
      ['True', true],
      ['(3, )', [3]],
      ['(1)', 1],
      ['[]', []],
      ['(0.485, 0.456)', [0.485, 0.456]],
      ["dict(type='BN', requires_grad=True)", { type: 'BN', requires_grad: true }],
      ["{'frameon': False}", { frameon: false }],
      ['(3. / 4., 4. / 3.)', [0.75, 4 / 3]],
      ['1 / 3', 1 / 3],
      ['-2 ** 2', -4],
      ['10 // 3', 3],
      ["('.jpg', '.png')", ['.jpg', '.png']],
    ];
    for (const [text, want] of cases) assert.deepEqual(parsePythonLiteral(text), want, text);
    for (const bad of ["float('inf')", 'foo', '(1, 2', '1 +', "'open"]) assert.throws(() => parsePythonLiteral(bad), Error, bad);
  });

  it('measures edit distance with transpositions and suggests near names', () => {
    assert.equal(editDistance('depth', 'depth'), 0);
    assert.equal(editDistance('dpeth', 'depth'), 1); // transposition
    assert.equal(editDistance('dept', 'depth'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(suggest('resnet', ['ResNet', 'ResNeXt', 'ResNeSt']), 'ResNet');
    assert.equal(suggest('outindices', ['out_indices', 'in_channels']), 'out_indices');
    assert.equal(suggest('lr', ['depth', 'style']), undefined);
    assert.equal(suggest('ResNet50', ['ResNet', 'ResNetV1c']), 'ResNet');
  });
});
