/**
 * The config zoo (`configs/`): every file loads, dumps round-trip, the model dicts equal the ones
 * measured on the real MMClassification, and the values the manual documents are the ones we ship.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { gunzipSync } from 'zlib';
import { dumpJson, dumpPython, loadConfig } from '../../runtime/config';

const REPO = path.resolve(__dirname, '..', '..');
const CONFIGS = path.join(REPO, 'configs');
const REFERENCE_DIR = process.env.MMCLS_REFERENCE_DIR ?? path.resolve(REPO, '..', 'shared', 'reference', 'models');
// The shared copy beside the repository, else Debian's package dataset-fashion-mnist (CI installs it).
const FULL_FASHION_MNIST = [path.resolve(REPO, '..', 'shared', 'data', 'fashion-mnist'), '/usr/share/datasets/fashion-mnist']
  .find((d) => fs.existsSync(path.join(d, 'train-images-idx3-ubyte.gz'))) ?? path.resolve(REPO, '..', 'shared', 'data', 'fashion-mnist');

function listConfigs(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listConfigs(p));
    else if (entry.isFile() && entry.name.endsWith('.py')) out.push(p);
  }
  return out.sort();
}

/**
 * The value as JSON would hold it, computed here without the engine's own dumper: tuples and lists
 * become arrays, dicts plain objects. Anything else is a bug in the value model and fails the test.
 */
function plain(v: unknown): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return v;
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), plain(x)]));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = plain(x);
    return out;
  }
  throw new Error(`unexpected value of type ${typeof v} in a config`);
}

function get(obj: unknown, keyPath: string): unknown {
  let cur: unknown = obj;
  for (const k of keyPath.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = /^\d+$/.test(k) && Array.isArray(cur) ? cur[Number(k)] : (cur as Record<string, unknown>)[k];
  }
  return cur;
}

const files = listConfigs(CONFIGS);

describe('configs/ zoo', function () {
  let tmp = '';
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-configs-test-'));
  });
  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('has the configs the manual and the reference data name', () => {
    const rel = new Set(files.map((f) => path.relative(CONFIGS, f).split(path.sep).join('/')));
    for (const name of [
      '_base_/default_runtime.py',
      '_base_/models/resnet50.py',
      '_base_/datasets/imagenet_bs32.py',
      '_base_/datasets/cifar10_bs16.py',
      '_base_/schedules/imagenet_bs256.py',
      '_base_/schedules/cifar10_bs128.py',
      '_base_/datasets/pipelines/rand_aug.py',
      'resnet/resnet50_8xb32_in1k.py',
      'resnet/resnet18_8xb16_cifar10.py',
      'mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
      'vision_transformer/vit-base-p16_pt-32xb128-mae_in1k-224.py',
      'vision_transformer/vit-base-p16_ft-64xb64_in1k-384.py',
      'deit/deit-small_pt-4xb256_in1k.py',
      'lenet/lenet5_mnist.py',
      'lenet/lenet5_fashion-mnist.py',
      'lenet/lenet5_fashion-mnist-mini.py',
      'tutorial/resnet50_finetune_cifar.py',
      'resnest/_randaug_policies.py',
      'resnest/resnest50_32xb64_in1k.py',
    ]) {
      assert.ok(rel.has(name), `configs/${name} is missing`);
    }
  });

  describe('every file loads, and its Python and JSON dumps give the same config back', () => {
    for (const file of files) {
      const rel = path.relative(CONFIGS, file);
      it(rel, () => {
        const cfg = loadConfig(file);
        assert.ok(cfg.value !== null && typeof cfg.value === 'object');
        assert.ok(cfg.files.length >= 1);

        const py = dumpPython(cfg.value);
        const dumped = path.join(tmp, rel.split(path.sep).join('__'));
        fs.writeFileSync(dumped, py);
        const again = loadConfig(dumped);
        assert.deepStrictEqual(again.value, cfg.value, `re-reading the Python dump of ${rel} changed it`);
        // A fixpoint: what deepStrictEqual cannot see (key order, `1.0` versus `1`) survives too.
        assert.equal(dumpPython(again.value), py, `the Python dump of ${rel} is not stable`);
        assert.deepEqual(again.files.length, 1, 'a dump stands alone (no _base_)');

        const json: unknown = JSON.parse(dumpJson(cfg.value));
        assert.deepStrictEqual(json, plain(cfg.value), `the JSON dump of ${rel} differs from the config`);
      });
    }
  });

  describe('model dicts equal the ones measured on MMClassification 1.0.0rc6', () => {
    const refs = fs.existsSync(REFERENCE_DIR)
      ? fs.readdirSync(REFERENCE_DIR).filter((f) => f.endsWith('.json') && !f.startsWith('_'))
      : [];
    let compared = 0;
    for (const ref of refs.sort()) {
      const data = JSON.parse(fs.readFileSync(path.join(REFERENCE_DIR, ref), 'utf8')) as {
        config: string;
        model_cfg: unknown;
        data_preprocessor_cfg?: unknown;
      };
      const file = path.join(CONFIGS, data.config);
      if (!fs.existsSync(file)) continue;
      compared++;
      it(data.config, () => {
        const value = plain(loadConfig(file).value);
        assert.deepStrictEqual(get(value, 'model'), data.model_cfg);
        if (data.data_preprocessor_cfg !== undefined) {
          assert.deepStrictEqual(get(value, 'data_preprocessor'), data.data_preprocessor_cfg);
        }
      });
    }
    it('covers the reference configs that the zoo has', function () {
      if (!refs.length) this.skip();
      // With the shipped reference folder: 24 of its 32 configs are in the zoo (ResNet family,
      // MobileNetV2, LeNet-5 and 17 other families); another folder needs only some overlap.
      const expected = process.env.MMCLS_REFERENCE_DIR === undefined ? 24 : 1;
      assert.ok(compared >= expected, `only ${compared} reference configs found in configs/`);
    });
  });

  describe('values as the manual documents them', () => {
    const load = (rel: string): unknown => plain(loadConfig(path.join(CONFIGS, rel)).value);

    it('resnet50_8xb32_in1k: the four bases of the walk-through, merged', () => {
      const c = load('resnet/resnet50_8xb32_in1k.py');
      assert.equal(get(c, 'default_scope'), 'mmcls');
      assert.deepEqual(get(c, 'optim_wrapper'), {
        optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9, weight_decay: 0.0001 },
      });
      assert.deepEqual(get(c, 'param_scheduler'), {
        type: 'MultiStepLR',
        by_epoch: true,
        milestones: [30, 60, 90],
        gamma: 0.1,
      });
      assert.deepEqual(get(c, 'train_cfg'), { by_epoch: true, max_epochs: 100, val_interval: 1 });
      assert.deepEqual(get(c, 'auto_scale_lr'), { base_batch_size: 256 });
      assert.deepEqual(get(c, 'default_hooks.logger'), { type: 'LoggerHook', interval: 100 });
      assert.deepEqual(get(c, 'default_hooks.checkpoint'), { type: 'CheckpointHook', interval: 1 });
      assert.deepEqual(get(c, 'default_hooks.visualization'), { type: 'VisualizationHook', enable: false });
      assert.deepEqual(get(c, 'env_cfg'), {
        cudnn_benchmark: false,
        mp_cfg: { mp_start_method: 'fork', opencv_num_threads: 0 },
        dist_cfg: { backend: 'nccl' },
      });
      assert.deepEqual(get(c, 'visualizer'), {
        type: 'ClsVisualizer',
        vis_backends: [{ type: 'LocalVisBackend' }],
        name: 'visualizer',
      });
      assert.equal(get(c, 'log_level'), 'INFO');
      assert.equal(get(c, 'load_from'), null);
      assert.equal(get(c, 'resume'), false);
      assert.deepEqual(get(c, 'randomness'), { seed: null, deterministic: false });
      assert.deepEqual(get(c, 'train_dataloader.dataset'), {
        type: 'ImageNet',
        data_root: 'data/imagenet',
        ann_file: 'meta/train.txt',
        data_prefix: 'train',
        pipeline: [
          { type: 'LoadImageFromFile' },
          { type: 'RandomResizedCrop', scale: 224 },
          { type: 'RandomFlip', prob: 0.5, direction: 'horizontal' },
          { type: 'PackClsInputs' },
        ],
      });
      assert.deepEqual(get(c, 'test_dataloader'), get(c, 'val_dataloader'));
      assert.deepEqual(get(c, 'val_evaluator'), { type: 'Accuracy', topk: [1, 5] });
    });

    it('the fine-tuning recipe: CIFAR-10 pipelines resized to 224, lr 0.01, decay at epoch 15', () => {
      const c = load('tutorial/resnet50_finetune_cifar.py');
      assert.equal(get(c, 'model.head.num_classes'), 10);
      assert.equal(get(c, 'model.head.in_channels'), 2048);
      assert.equal(get(c, 'model.backbone.frozen_stages'), 2);
      assert.equal(get(c, 'model.backbone.init_cfg.prefix'), 'backbone');
      assert.deepEqual(get(c, 'train_dataloader.dataset.pipeline.2'), { type: 'Resize', scale: 224 });
      assert.equal(get(c, 'train_dataloader.batch_size'), 16);
      assert.equal(get(c, 'optim_wrapper.optimizer.lr'), 0.01);
      assert.deepEqual(get(c, 'param_scheduler.milestones'), [15]);
      assert.equal(get(c, 'train_cfg.max_epochs'), 200);
      const one = load('tutorial/resnet50_finetune_cifar_1xb128.py');
      assert.equal(get(one, 'train_dataloader.batch_size'), 128);
      assert.deepEqual(get(one, 'train_dataloader.dataset.pipeline'), get(c, 'train_dataloader.dataset.pipeline'));
    });

    it('_delete_ replaces the base scheduler instead of merging into it', () => {
      const c = load('tutorial/resnet50_8xb32-coslr-delete_in1k.py');
      assert.deepEqual(get(c, 'param_scheduler'), { type: 'CosineAnnealingLR', by_epoch: true });
    });

    it('{{_base_.policies}} brings the policies file into the RandAugment transform', () => {
      const c = load('resnest/resnest50_32xb64_in1k.py');
      const policies = get(c, 'train_dataloader.dataset.pipeline.1.policies') as unknown[];
      assert.equal(policies.length, 16);
      assert.deepEqual(policies[0], { type: 'AutoContrast', prob: 0.5 });
      assert.deepEqual(get(c, 'policies'), policies);
    });

    it('intermediate variables and comprehensions: pad_val is the rounded BGR mean', () => {
      const c = load('deit/deit-small_pt-4xb256_in1k.py');
      const randAug = get(c, 'train_dataloader.dataset.pipeline.3') as Record<string, unknown>;
      assert.equal(randAug.type, 'RandAugment');
      assert.deepEqual(get(randAug, 'hparams.pad_val'), [104, 116, 124]);
      assert.deepEqual(get(c, 'train_dataloader.dataset.pipeline.4.fill_color'), [103.53, 116.28, 123.675]);
      assert.equal(get(c, 'train_dataloader.dataset.pipeline.4.max_area_ratio'), 1 / 3);
      assert.equal(get(c, 'train_dataloader.batch_size'), 256);
      assert.equal(get(c, 'optim_wrapper.optimizer.lr'), 0.001);
      assert.deepEqual(Object.keys(get(c, 'optim_wrapper.paramwise_cfg.custom_keys') as object).sort(), [
        '.absolute_pos_embed',
        '.cls_token',
        '.pos_embed',
        '.relative_position_bias_table',
      ]);
    });

    it('lenet5_fashion-mnist: Fashion-MNIST, its own mean and std, SGD lr 0.01, batch 128, 5 epochs', () => {
      const c = load('lenet/lenet5_fashion-mnist.py');
      for (const split of ['train', 'val', 'test']) {
        assert.equal(get(c, `${split}_dataloader.dataset.type`), 'FashionMNIST');
        assert.equal(get(c, `${split}_dataloader.dataset.data_prefix`), 'data/fashion-mnist');
        assert.equal(get(c, `${split}_dataloader.batch_size`), 128);
      }
      assert.equal(get(c, 'train_dataloader.dataset.test_mode'), false);
      assert.equal(get(c, 'test_dataloader.dataset.test_mode'), true);
      assert.deepEqual(get(c, 'data_preprocessor'), { mean: [72.94], std: [90.02], num_classes: 10 });
      assert.deepEqual(get(c, 'optim_wrapper.optimizer'), {
        type: 'SGD',
        lr: 0.01,
        momentum: 0.9,
        weight_decay: 0.0001,
      });
      assert.equal(get(c, 'train_cfg.max_epochs'), 5);
      assert.deepEqual(get(c, 'model'), get(load('lenet/lenet5_mnist.py'), 'model'));
    });

    it('lenet5_fashion-mnist-mini reads the bundled subset', () => {
      const c = load('lenet/lenet5_fashion-mnist-mini.py');
      for (const split of ['train', 'val', 'test']) {
        const prefix = get(c, `${split}_dataloader.dataset.data_prefix`) as string;
        assert.equal(prefix, 'data/fashion-mnist-mini');
        assert.ok(fs.existsSync(path.join(REPO, prefix, 'train-images-idx3-ubyte.gz')));
        assert.equal(get(c, `${split}_dataloader.dataset.type`), 'FashionMNIST');
      }
      assert.equal(get(c, 'train_cfg.max_epochs'), 5);
    });
  });
});

describe('data/fashion-mnist-mini', () => {
  const dir = path.join(REPO, 'data', 'fashion-mnist-mini');
  const readIdx = (file: string): { dims: number[]; data: Uint8Array } => {
    const raw = gunzipSync(fs.readFileSync(file));
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const ndim = raw[3];
    const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 + 4 * i));
    return { dims, data: raw.subarray(4 + 4 * ndim) };
  };

  it('holds 2000 + 500 class-balanced 28x28 images in the IDX format, with the licence', () => {
    for (const [split, n] of [
      ['train', 2000],
      ['t10k', 500],
    ] as const) {
      const images = readIdx(path.join(dir, `${split}-images-idx3-ubyte.gz`));
      const labels = readIdx(path.join(dir, `${split}-labels-idx1-ubyte.gz`));
      assert.deepEqual(images.dims, [n, 28, 28]);
      assert.equal(images.data.length, n * 784);
      assert.deepEqual(labels.dims, [n]);
      const counts = new Array<number>(10).fill(0);
      for (const l of labels.data) counts[l]++;
      assert.deepEqual(counts, new Array<number>(10).fill(n / 10));
    }
    assert.match(fs.readFileSync(path.join(dir, 'COPYRIGHT'), 'utf8'), /Zalando/);
  });

  it('is the first images of each class of the full data set, in order', function () {
    if (!fs.existsSync(FULL_FASHION_MNIST)) this.skip();
    for (const [split, perClass] of [
      ['train', 200],
      ['t10k', 50],
    ] as const) {
      const fullLabels = readIdx(path.join(FULL_FASHION_MNIST, `${split}-labels-idx1-ubyte.gz`)).data;
      const fullImages = readIdx(path.join(FULL_FASHION_MNIST, `${split}-images-idx3-ubyte.gz`)).data;
      const miniLabels = readIdx(path.join(dir, `${split}-labels-idx1-ubyte.gz`)).data;
      const miniImages = readIdx(path.join(dir, `${split}-images-idx3-ubyte.gz`)).data;
      const seen = new Array<number>(10).fill(0);
      let j = 0;
      for (let i = 0; i < fullLabels.length && j < miniLabels.length; i++) {
        if (seen[fullLabels[i]]++ >= perClass) continue;
        assert.equal(miniLabels[j], fullLabels[i], `${split} label ${j}`);
        assert.ok(
          Buffer.from(miniImages.subarray(j * 784, (j + 1) * 784)).equals(
            Buffer.from(fullImages.subarray(i * 784, (i + 1) * 784)),
          ),
          `${split} image ${j} is not image ${i} of the full set`,
        );
        j++;
      }
      assert.equal(j, miniLabels.length);
    }
  });
});
