import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MODELS } from '../../runtime/registry';
import { Module } from '../../runtime/nn';
import '../../runtime/models';
import { analyzeComplexity, formatSize, formatSummary, formatTable } from '../../runtime/analysis/complexity';
import { missingTypes, readReference, referenceFiles } from '../../runtime/analysis/reference';

const REF_DIR = process.env.MMCLS_REFERENCE_DIR ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'reference', 'models');

describe('complexity analysis by shape inference', () => {
  it('matches per_module [flops, params, activations] of every implemented reference model', function () {
    if (!fs.existsSync(REF_DIR)) this.skip();
    let checked = 0;
    for (const file of referenceFiles(REF_DIR)) {
      const ref = readReference(file);
      if (missingTypes(ref.model_cfg).length || !ref.complexity?.per_module) continue;
      const model = MODELS.build<Module>(ref.model_cfg);
      model.eval();
      const [, c, h, w] = ref.input_shape;
      const r = analyzeComplexity(model, [c, h, w]);
      assert.equal(r.flops, ref.flops_total, file);
      assert.equal(r.params, ref.params_total, file);
      assert.equal(r.activations, ref.complexity.activations_total, file);
      const ours = new Map(r.modules.map((m) => [m.name, [m.flops, m.params, m.activations]]));
      for (const [name, expected] of Object.entries(ref.complexity.per_module)) {
        assert.deepEqual(ours.get(name), expected, `${path.basename(file)}: ${name}`);
      }
      checked++;
    }
    assert.ok(checked >= 2);
  });

  it("reproduces the manual's ViT-B/16 example (17.582G FLOPs, 91.234M params, 23.895M activations)", () => {
    const model = MODELS.build<Module>({
      type: 'ImageClassifier',
      backbone: { type: 'VisionTransformer', arch: 'b', img_size: 224, patch_size: 16, drop_rate: 0.1 },
      neck: null,
      head: { type: 'VisionTransformerClsHead', num_classes: 1000, in_channels: 768, hidden_dim: 3072 },
    });
    model.eval();
    const r = analyzeComplexity(model, [3, 224, 224]);
    assert.equal(formatSummary(r), ['='.repeat(30), 'Input shape: (3, 224, 224)', 'Flops: 17.582G', 'Params: 91.234M', 'Activation: 23.895M', '='.repeat(30)].join('\n'));
    const rows = formatTable(model, r).split('\n').map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    const byName = new Map(rows.map((c) => [c[0], c.slice(1)]));
    assert.deepEqual(byName.get('model'), ['91.234M', '17.582G', '23.895M']);
    assert.deepEqual(byName.get('backbone.cls_token'), ['(1, 1, 768)', '', '']);
    assert.deepEqual(byName.get('backbone.patch_embed.projection'), ['0.591M', '0.116G', '0.151M']);
    assert.deepEqual(byName.get('backbone.layers.11'), ['7.088M', '1.455G', '1.979M']);
    assert.deepEqual(byName.get('backbone.ln1'), ['1.536K', '0.756M', '0']);
    assert.deepEqual(byName.get('head.layers.pre_logits.weight'), ['(3072, 768)', '', '']);
    assert.ok(!byName.has('head.loss_module') && !byName.has('data_preprocessor'));
  });

  it('formats sizes as fvcore does', () => {
    assert.equal(formatSize(17581972224), '17.582G');
    assert.equal(formatSize(756000), '0.756M');
    assert.equal(formatSize(1536), '1.536K');
    assert.equal(formatSize(94), '94');
    assert.equal(formatSize(48000), '48K');
  });

  it('counts a larger input proportionally and rejects a bad shape', () => {
    const model = MODELS.build<Module>({ type: 'ImageClassifier', backbone: { type: 'ResNet', depth: 18 }, neck: { type: 'GlobalAveragePooling' }, head: { type: 'LinearClsHead', num_classes: 10, in_channels: 512 } });
    model.eval();
    const a = analyzeComplexity(model, [3, 224, 224]);
    const b = analyzeComplexity(model, [3, 448, 448]);
    assert.ok(Math.abs(b.flops / a.flops - 4) < 0.01);
    assert.equal(a.params, b.params);
    assert.throws(() => analyzeComplexity(model, [3, 224]));
  });
});

describe('mmcls flops', () => {
  const bin = path.join(__dirname, '..', '..', 'bin', 'mmcls');
  const built = fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'runtime', 'cli', 'commands', 'flops.js'));

  it('prints JSON for a config, with --shape', function () {
    if (!built) this.skip();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-flops-'));
    const cfg = path.join(dir, 'r18.py');
    fs.writeFileSync(cfg, "model = dict(type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18), neck=dict(type='GlobalAveragePooling'), head=dict(type='LinearClsHead', num_classes=10, in_channels=512))\n");
    const r = spawnSync(bin, ['flops', cfg, '--shape', '32', '--format', 'json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(out.input_shape, [3, 32, 32]);
    assert.equal(out.flops, 556654592);
    assert.equal(out.params, 11173962);
    assert.equal(out.activations, 614400);
    assert.deepEqual(out.modules[0], { name: '', flops: 556654592, params: 11173962, activations: 614400 });
    const t = spawnSync(bin, ['flops', cfg, '--shape', '32', '40'], { encoding: 'utf8' });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /Input shape: \(3, 32, 40\)/);
    assert.match(t.stdout, /\| module +\| #parameters or shape +\| #flops +\| #activations +\|/);
    const bad = spawnSync(bin, ['flops', cfg, '--shape', 'x'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--shape takes one or two positive integers/);
  });
});
