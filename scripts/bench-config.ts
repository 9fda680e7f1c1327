/**
 * Config engine benchmark: `npm run bench:config` (after `npm run build`).
 *
 * Generates a zoo of configs shaped like MMClassification's (bases for models,
 * datasets, schedules and the runtime; one primary config per algorithm folder
 * inheriting four bases; variants inheriting the primary: three levels) in a
 * temporary folder, loads every primary and variant with `loadConfig`, and
 * prints configs per second and the total time. As a baseline measured in the
 * same run it also loads the first config cold (first call in the process) and
 * warm (again, after the zoo, parse cache cleared), and prints their ratio.
 * Wall-clock and CPU times are both printed: on a busy machine the CPU time is
 * the steadier figure, and the ratios below are what to compare between runs:
 * the first pass (fresh process, engine warming up) and the steady pass over
 * the cost of just reading and tokenizing every file of the zoo once (measured
 * in the same process, after the passes, so with warm code).
 *
 *   node dist/scripts/bench-config.js [--count N] [--rounds R] [--keep] [--json]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type * as ConfigEngine from '../runtime/config';
import { LineMap, tokenize } from '../runtime/config/tokenizer';

// The engine is required inside main(), so that the cost of loading its modules is measured
// (it is part of what a fresh `mmcls print-config` pays).
let clearConfigCache: typeof ConfigEngine.clearConfigCache;
let loadConfig: typeof ConfigEngine.loadConfig;

/** Variants per algorithm folder; with the primary, 10 configs per folder. */
const VARIANTS_PER_FOLDER = 9;
const TARGET_CONFIGS = 600;
const TARGET_SECONDS = 0.5;

interface Options {
  count: number;
  rounds: number;
  keep: boolean;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { count: TARGET_CONFIGS, rounds: 5, keep: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep') opts.keep = true;
    else if (a === '--json') opts.json = true;
    else if ((a === '--count' || a === '--rounds') && i + 1 < argv.length) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} expects a positive integer, got '${argv[i]}'`);
      if (a === '--count') opts.count = n;
      else opts.rounds = n;
    } else {
      throw new Error(`unknown argument '${a}'; usage: [--count N] [--rounds R] [--keep] [--json]`);
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------
// The generated zoo

const MODEL_FAMILIES = ['resnet', 'vit', 'mobilenet'] as const;
type Family = (typeof MODEL_FAMILIES)[number];

function modelBase(i: number): { text: string; family: Family } {
  const family = MODEL_FAMILIES[i % MODEL_FAMILIES.length];
  const classes = 1000;
  if (family === 'resnet') {
    const depth = [18, 34, 50, 101, 152][i % 5];
    const channels = depth < 50 ? 512 : 2048;
    return {
      family,
      text: `# model settings
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=${depth},
        num_stages=4,
        out_indices=(3, ),
        style='pytorch'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=${classes},
        in_channels=${channels},
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
`,
    };
  }
  if (family === 'vit') {
    const [arch, dims] = [['deit-tiny', 192], ['deit-small', 384], ['deit-base', 768]][i % 3] as [string, number];
    return {
      family,
      text: `# model settings
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch='${arch}',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.${i % 3}),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=${classes},
        in_channels=${dims},
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
    ),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ],
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]),
)
`,
    };
  }
  const widen = [0.5, 0.75, 1.0, 1.4][i % 4];
  return {
    family,
    text: `# model settings
widen_factor = ${widen.toFixed(2)}
model = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=widen_factor),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=${classes},
        in_channels=int(1280 * max(1.0, widen_factor)),
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
    ))
`,
  };
}

function datasetBase(i: number): string {
  const batch = [32, 64, 128, 256][i % 4];
  const crop = [224, 192, 256, 288][i % 4];
  if (i % 5 === 4) {
    return `# dataset settings
dataset_type = 'CIFAR${i % 2 ? '100' : '10'}'
data_preprocessor = dict(
    num_classes=${i % 2 ? 100 : 10},
    # RGB format normalization parameters
    mean=[125.307, 122.961, 113.8575],
    std=[51.5865, 50.847, 51.255],
    # loaded images are already RGB format
    to_rgb=False)

train_pipeline = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackClsInputs'),
]

test_pipeline = [
    dict(type='PackClsInputs'),
]

train_dataloader = dict(
    batch_size=${batch / 2},
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_prefix='data/cifar${i % 2 ? '100' : '10'}',
        test_mode=False,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=${batch / 2},
    num_workers=2,
    dataset=dict(
        type=dataset_type,
        data_prefix='data/cifar${i % 2 ? '100' : '10'}/',
        test_mode=True,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
`;
  }
  return `# dataset settings
dataset_type = 'ImageNet'
data_preprocessor = dict(
    num_classes=1000,
    # RGB format normalization parameters
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    # convert image from BGR to RGB
    to_rgb=True,
)

bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=${crop},
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=${5 + (i % 5)},
        magnitude_std=0.5,
        hparams=dict(
            pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackClsInputs'),
]

test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='ResizeEdge',
        scale=${Math.round((crop * 256) / 224)},
        edge='short',
        backend='pillow',
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=${crop}),
    dict(type='PackClsInputs'),
]

train_dataloader = dict(
    batch_size=${batch},
    num_workers=5,
    dataset=dict(
        type=dataset_type,
        data_root='data/imagenet',
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)

val_dataloader = dict(
    batch_size=${batch},
    num_workers=5,
    dataset=dict(
        type=dataset_type,
        data_root='data/imagenet',
        ann_file='meta/val.txt',
        data_prefix='val',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, 5))

# If you want standard test, please manually configure the test dataset
test_dataloader = val_dataloader
test_evaluator = val_evaluator
`;
}

function scheduleBase(i: number): string {
  const epochs = [100, 200, 300][i % 3];
  if (i % 2 === 0) {
    const step = epochs / 10;
    return `# optimizer
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001))

# learning policy
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[${3 * step}, ${6 * step}, ${9 * step}], gamma=0.1)

# train, val, test setting
train_cfg = dict(by_epoch=True, max_epochs=${epochs}, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# NOTE: \`auto_scale_lr\` is for automatically scaling LR,
# based on the actual training batch size.
auto_scale_lr = dict(base_batch_size=256)
`;
  }
  return `# for batch in each gpu is 128, 8 gpu
# lr = 5e-4 * 128 * 8 / 512 = 0.001
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW',
        lr=5e-4 * 1024 / 512,
        weight_decay=0.05,
        eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.absolute_pos_embed': dict(decay_mult=0.0),
            '.relative_position_bias_table': dict(decay_mult=0.0)
        }),
)

# learning policy
param_scheduler = [
    # warm up learning rate scheduler
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=${epochs / 15},
        # update by iter
        convert_to_iter_based=True),
    # main learning rate scheduler
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=${epochs / 15})
]

# train, val, test setting
train_cfg = dict(by_epoch=True, max_epochs=${epochs}, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# NOTE: \`auto_scale_lr\` is for automatically scaling LR,
# based on the actual training batch size.
auto_scale_lr = dict(base_batch_size=1024)
`;
}

const RUNTIME_BASE = `# defaults to use registries in mmcls
default_scope = 'mmcls'

# configure default hooks
default_hooks = dict(
    # record the time of every iteration.
    timer=dict(type='IterTimerHook'),
    # print log every 100 iterations.
    logger=dict(type='LoggerHook', interval=100),
    # enable the parameter scheduler.
    param_scheduler=dict(type='ParamSchedulerHook'),
    # save checkpoint per epoch.
    checkpoint=dict(type='CheckpointHook', interval=1),
    # set sampler seed in distributed environment.
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # validation results visualization, set True to enable it.
    visualization=dict(type='VisualizationHook', enable=False),
)

# configure environment
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='ClsVisualizer', vis_backends=vis_backends, name='visualizer')

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=None, deterministic=False)
`;

function primary(folder: number, model: number, dataset: number, schedule: number, family: Family): string {
  const modelOverride =
    family === 'resnet'
      ? `model = dict(backbone=dict(frozen_stages=${folder % 4 - 1}, norm_eval=${folder % 2 ? 'True' : 'False'}))`
      : family === 'vit'
        ? `model = dict(backbone=dict(drop_path_rate=0.1 * ${folder % 3}), head=dict(num_classes=1000))`
        : `model = dict(head=dict(loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, _delete_=True)))`;
  return `_base_ = [
    '../_base_/models/model_${model}.py',
    '../_base_/datasets/dataset_${dataset}.py',
    '../_base_/schedules/schedule_${schedule}.py',
    '../_base_/default_runtime.py',
]

# model settings
${modelOverride}

# dataset settings
train_dataloader = dict(batch_size=${[32, 64, 128][folder % 3]})

# schedule settings
optim_wrapper = dict(optimizer=dict(lr=0.0${1 + (folder % 9)}))
`;
}

function variant(k: number, folder: number): string {
  const head = `_base_ = './algo${folder}_primary.py'\n\n`;
  switch (k) {
    case 0:
      return `${head}# fine-tune on another data set
model = dict(head=dict(num_classes=${10 + folder}))
train_dataloader = dict(
    batch_size=32,
    dataset=dict(data_root='mydata/set${folder}/train'),
)
val_dataloader = dict(
    batch_size=64,
    dataset=dict(data_root='mydata/set${folder}/val'),
)
test_dataloader = val_dataloader
`;
    case 1:
      return `${head}# cosine schedule instead of the base's
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=${100 + folder}, by_epoch=True, _delete_=True)
`;
    case 2:
      return `${head}crop = ${224 + 32 * (folder % 3)}
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=int(crop * 1.14), edge='short'),
    dict(type='CenterCrop', crop_size=crop),
    dict(type='PackClsInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
`;
    case 3:
      return `${head}# longer training with warm-up
max_epochs = ${300 + folder}
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        end=5,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=5, T_max=max_epochs - 5),
]
`;
    case 4:
      return `${head}# mixed precision
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
`;
    case 5:
      return `${head}default_hooks = dict(
    logger=dict(interval=${10 + folder}),
    checkpoint=dict(save_best='auto', max_keep_ckpts=3),
)
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
`;
    case 6:
      return `${head}# evaluate with the training batch size, and the same pipeline in test
val_dataloader = dict(batch_size={{_base_.train_dataloader.batch_size}})
train_pipeline = {{_base_.train_pipeline}}
test_dataloader = dict(batch_size=2 * {{_base_.train_dataloader.batch_size}})
`;
    case 7:
      return `${head}model = dict(
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.${1 + (folder % 8)}),
        dict(type='CutMix', alpha=1.0),
    ], probs=[0.3, 0.7]))
`;
    default:
      return `${head}# load pre-trained weights, train on a coarse label set
pretrained = 'https://example.org/checkpoints/algo${folder}.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone')),
    head=dict(num_classes=len([c for c in range(${20 + folder}) if c % 2 == 0])),
)
data_preprocessor = dict(num_classes=${10 + Math.floor((20 + folder) / 2)})
`;
  }
}

/** Writes the zoo; returns the config files to load (primaries and variants), in a stable order. */
export function generateZoo(root: string, count: number): string[] {
  const folders = Math.ceil(count / (VARIANTS_PER_FOLDER + 1));
  const nModels = Math.max(3, Math.ceil(folders / 3));
  const nDatasets = 10;
  const nSchedules = 6;
  const write = (rel: string, text: string): void => {
    const file = path.join(root, rel);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
  };
  const families: Family[] = [];
  for (let i = 0; i < nModels; i++) {
    const { text, family } = modelBase(i);
    families.push(family);
    write(`_base_/models/model_${i}.py`, text);
  }
  for (let i = 0; i < nDatasets; i++) write(`_base_/datasets/dataset_${i}.py`, datasetBase(i));
  for (let i = 0; i < nSchedules; i++) write(`_base_/schedules/schedule_${i}.py`, scheduleBase(i));
  write('_base_/default_runtime.py', RUNTIME_BASE);

  const files: string[] = [];
  for (let f = 0; f < folders && files.length < count; f++) {
    const m = f % nModels;
    const rel = `algo${f}/algo${f}_primary.py`;
    write(rel, primary(f, m, f % nDatasets, f % nSchedules, families[m]));
    files.push(path.join(root, rel));
    for (let k = 0; k < VARIANTS_PER_FOLDER && files.length < count; k++) {
      const vrel = `algo${f}/algo${f}_variant${k}.py`;
      write(vrel, variant(k, f));
      files.push(path.join(root, vrel));
    }
  }
  return files;
}

// ---------------------------------------------------------------------------

function ms(t0: bigint, t1: bigint): number {
  return Number(t1 - t0) / 1e6;
}

interface Timing {
  /** Wall-clock milliseconds. */
  wall: number;
  /** CPU milliseconds of this process (user + system): a fairer figure on a busy machine. */
  cpu: number;
}

function timed(fn: () => void): Timing {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  fn();
  const wall = ms(t0, process.hrtime.bigint());
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

/**
 * One pass over the zoo. `shared`: the parse cache starts empty and is kept during the pass, so
 * each file (bases included) is parsed once per pass, as in one `mmcls` process or the language
 * server. Otherwise the cache is cleared before every config, so every config re-reads and
 * re-parses its whole inheritance chain, as MMEngine does.
 */
function loadAll(files: string[], shared: boolean): Timing {
  clearConfigCache();
  return timed(() => {
    for (const f of files) {
      if (!shared) clearConfigCache();
      loadConfig(f);
    }
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function medianTiming(ts: Timing[]): Timing {
  return { wall: median(ts.map((t) => t.wall)), cpu: median(ts.map((t) => t.cpu)) };
}

function main(argv: string[]): void {
  const opts = parseArgs(argv);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-bench-config-'));
  try {
    const files = generateZoo(root, opts.count);
    const n = files.length;

    const engineLoad = timed(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const engine = require('../runtime/config') as typeof ConfigEngine;
      clearConfigCache = engine.clearConfigCache;
      loadConfig = engine.loadConfig;
    });

    // Baseline: the first config, cold (first use of the engine in this process, nothing cached).
    clearConfigCache();
    const cold = timed(() => loadConfig(files[0]));

    // The zoo. The first pass includes the engine's warm-up (a fresh process loading a batch).
    const passes: Timing[] = [];
    for (let r = 0; r < opts.rounds; r++) passes.push(loadAll(files, true));
    const first = passes[0];
    const steady = medianTiming(passes.length > 1 ? passes.slice(1) : passes);
    const uncached = loadAll(files, false);

    // Baseline, warm: the same first config once the engine is warmed up, nothing cached.
    const warmRuns: Timing[] = [];
    for (let i = 0; i < 21; i++) {
      clearConfigCache();
      warmRuns.push(timed(() => loadConfig(files[0])));
    }
    const warm = medianTiming(warmRuns);
    // And with its files' parses cached (what the language server sees on a keystroke elsewhere).
    const cachedRuns: Timing[] = [];
    for (let i = 0; i < 21; i++) cachedRuns.push(timed(() => loadConfig(files[0])));
    const cached = medianTiming(cachedRuns);

    // Baseline for the ratios: read and tokenize every file of the zoo once (bases included).
    const allFiles = listPy(root);
    const scanRuns: Timing[] = [];
    for (let i = 0; i < 5; i++) {
      scanRuns.push(
        timed(() => {
          for (const f of allFiles) {
            const text = fs.readFileSync(f, 'utf8');
            tokenize(text, new LineMap(text));
          }
        }),
      );
    }
    const scan = medianTiming(scanRuns);

    const perSecond = (t: Timing): number => Math.round((n / t.wall) * 1000);
    const scaled = (t: Timing): number => t.wall * (TARGET_CONFIGS / n);
    const result = {
      configs: n,
      levels: 3,
      rounds: opts.rounds,
      first_pass_ms: round(first.wall),
      first_pass_cpu_ms: round(first.cpu),
      engine_load_cpu_ms: round(engineLoad.cpu),
      read_tokenize_all_cpu_ms: round(scan.cpu),
      first_over_read_tokenize_cpu: round(first.cpu / scan.cpu),
      steady_over_read_tokenize_cpu: round(steady.cpu / scan.cpu),
      first_over_steady_cpu: round(first.cpu / steady.cpu),
      steady_pass_ms: round(steady.wall),
      steady_pass_cpu_ms: round(steady.cpu),
      uncached_pass_ms: round(uncached.wall),
      configs_per_s_first_pass: perSecond(first),
      configs_per_s_steady: perSecond(steady),
      configs_per_s_uncached: perSecond(uncached),
      first_config_cold_ms: round(cold.wall),
      first_config_warm_ms: round(warm.wall),
      first_config_warm_cached_ms: round(cached.wall),
      cold_over_warm: round(cold.wall / warm.wall),
      target: `${TARGET_CONFIGS} configs in < ${TARGET_SECONDS} s`,
      target_met_first_pass: scaled(first) < TARGET_SECONDS * 1000,
      target_met_steady: scaled(steady) < TARGET_SECONDS * 1000,
      target_met_first_pass_cpu: first.cpu * (TARGET_CONFIGS / n) < TARGET_SECONDS * 1000,
      load_average_1min: round(os.loadavg()[0]),
      cpus: os.cpus().length,
    };
    if (opts.json) {
      console.log(JSON.stringify(result));
    } else {
      const t = (x: Timing): string => `${fmt(x.wall)} ms (cpu ${fmt(x.cpu)} ms)`;
      console.log(`config engine benchmark: ${n} configs, 3 levels of inheritance (bases -> primaries -> variants)`);
      console.log(`  first pass, fresh engine:     ${t(first)}  ${result.configs_per_s_first_pass} configs/s`);
      console.log(`  steady pass (median of ${Math.max(1, opts.rounds - 1)}):  ${t(steady)}  ${result.configs_per_s_steady} configs/s`);
      console.log(`  no parse cache (MMEngine-like): ${t(uncached)}  ${result.configs_per_s_uncached} configs/s`);
      console.log(
        `  baseline, first config: cold ${fmt(cold.wall)} ms, warm ${fmt(warm.wall)} ms, cold/warm ${result.cold_over_warm.toFixed(1)}x` +
          ` (warm with parses cached: ${fmt(cached.wall)} ms)`,
      );
      console.log(
        `  cpu: engine load ${fmt(engineLoad.cpu)} ms, first pass ${fmt(first.cpu)} ms, steady ${fmt(steady.cpu)} ms;` +
          ` baseline read+tokenize all ${allFiles.length} files ${fmt(scan.cpu)} ms`,
      );
      console.log(
        `  ratios (cpu): first/baseline ${result.first_over_read_tokenize_cpu.toFixed(1)}x,` +
          ` steady/baseline ${result.steady_over_read_tokenize_cpu.toFixed(1)}x, first/steady ${result.first_over_steady_cpu.toFixed(1)}x`,
      );
      console.log(
        `  target ${result.target}: first pass cpu ${result.target_met_first_pass_cpu ? 'met' : 'NOT met'}, first pass ${result.target_met_first_pass ? 'met' : 'NOT met'},` +
          ` steady ${result.target_met_steady ? 'met' : 'NOT met'}` +
          ` (load average ${result.load_average_1min.toFixed(1)} on ${result.cpus} CPUs)`,
      );
    }
  } finally {
    if (opts.keep) console.error(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
  }
}

function listPy(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listPy(p));
    else if (e.name.endsWith('.py')) out.push(p);
  }
  return out.sort();
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function fmt(x: number): string {
  return x.toFixed(1);
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    console.error(`bench-config: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
