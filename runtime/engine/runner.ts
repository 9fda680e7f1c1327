/**
 * The Runner (MMEngine's): builds everything a config describes (model, data, optimizer wrapper,
 * schedulers, evaluators, hooks, loops), owns the work directory, and trains, validates or tests.
 *
 * Work directory layout (as MMEngine writes it):
 * ```
 * work_dirs/<config name>/            (work_dir; --work-dir wins over the config's work_dir)
 *   <config name>.py                   the merged config
 *   epoch_1.safetensors ...            checkpoints (CheckpointHook; safetensors, see engine/checkpoint)
 *   best_accuracy_top1_epoch_3.safetensors
 *   last_checkpoint                    path of the newest checkpoint (auto-resume reads it)
 *   20261128_101500/                   one folder per run
 *     20261128_101500.log              the log
 *     vis_data/scalars.json            one JSON object per logged step
 *     vis_data/config.py
 * ```
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { dumpPython, LoadedConfig } from '../config';
import { MmclsError } from '../errors';
import { HOOKS, LOOPS, LOG_PROCESSORS, MODELS } from '../registry';
import type { SourceLocation } from '../errors';
import { initBackend, backendFromEnvCfg, BackendInfo } from '../backend';
import type { ImageClassifier } from '../models/classifiers/image';
import type { DataLoader } from '../datasets/loader';
import type { Evaluator } from '../evaluation/evaluator';
import type { OptimWrapper, OptimizerStateDict } from './optim';
import type { ParamSchedulerLike as ParamScheduler } from './schedulers';
import { CheckpointDict, getPriority, Hook, HookName, PRIORITIES, TrainOutputs } from './hooks/hook';
import { findLatestCheckpoint } from './hooks/checkpoint_hook';
import './hooks';
import { EpochBasedTrainLoop, IterBasedTrainLoop, StopRequested, TestLoop, TrainLoop, ValLoop } from './loops';
import { LogContext, LogProcessor, Logger, LocalScalarWriter, MessageHub, ProgressReporter, createProgress, parseLogLevel, timestamp } from './logging';
import { drawSeed, getRandomState, setRandomSeed, setRandomState } from './runner_random';

type Dict = { [key: string]: unknown };

export interface RunnerOptions {
  /** 'train' builds the train loop (and val); 'test' only what testing needs. */
  mode: 'train' | 'test';
  /** --work-dir (wins over the config's work_dir). */
  workDir?: string;
  /** --resume: true (the newest checkpoint of the work_dir) or a checkpoint path. */
  resume?: boolean | string;
  /** --amp */
  amp?: boolean;
  /** --no-validate */
  noValidate?: boolean;
  /** --auto-scale-lr */
  autoScaleLr?: boolean;
  /** --device */
  device?: string;
  /** Where progress goes (bar, json lines, none). */
  progress?: ProgressReporter;
  /** test: the checkpoint to evaluate. */
  checkpoint?: string;
  /** The command line of this run (argv after the program), for the resume hint. */
  argv?: string[];
  /** test --show-dir / --show / --interval / --wait-time */
  showDir?: string;
  show?: boolean;
  interval?: number;
  waitTime?: number;
}

function isDict(v: unknown): v is Dict {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The model's input batch from a data loader batch: pseudo_collate's list of HWC images becomes one
 * NHWC tensor when they share a size, else a list of HWC tensors (the data preprocessor pads them).
 */
function toDataBatch(batch: unknown): { inputs: tf.Tensor | tf.Tensor[]; data_samples: unknown[]; dispose(): void } {
  const b = batch as { inputs: unknown; data_samples?: unknown[] };
  const ins = b.inputs as { data: Uint8Array | Float32Array; height?: number; width?: number; channels?: number; shape?: number[] }[] | { data: Uint8Array | Float32Array; shape: number[] };
  const samples = b.data_samples ?? [];
  const asTensor = (data: Uint8Array | Float32Array, shape: number[]) =>
    data instanceof Float32Array ? tf.tensor(data, shape, 'float32') : tf.tensor(Int32Array.from(data), shape, 'int32');
  if (!Array.isArray(ins)) {
    const t = asTensor(ins.data, ins.shape);
    return { inputs: t, data_samples: samples, dispose: () => t.dispose() };
  }
  if (!ins.length) throw new MmclsError('empty batch', { code: 'data.empty' });
  const { height: h, width: w, channels: c } = ins[0] as { height: number; width: number; channels: number };
  const same = ins.every((im) => im.height === h && im.width === w && im.channels === c);
  if (!same) {
    const list = ins.map((im) => asTensor(im.data, [im.height!, im.width!, im.channels!]));
    return { inputs: list, data_samples: samples, dispose: () => list.forEach((t) => t.dispose()) };
  }
  const float = ins.some((im) => im.data instanceof Float32Array);
  const per = h * w * c;
  const data = float ? new Float32Array(per * ins.length) : new Int32Array(per * ins.length);
  ins.forEach((im, i) => data.set(im.data, i * per));
  const t = float ? tf.tensor4d(data as Float32Array, [ins.length, h, w, c], 'float32') : tf.tensor4d(data as Int32Array, [ins.length, h, w, c], 'int32');
  return { inputs: t, data_samples: samples, dispose: () => t.dispose() };
}

/** A state-dict entry in PyTorch naming (dtype 'float32') turned into checkpoint TensorData and back. */
async function checkpointIo(): Promise<typeof import('./checkpoint')> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('./checkpoint') as typeof import('./checkpoint');
}

/** A shell word, quoted when needed. */
function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export class Runner {
  readonly mode: 'train' | 'test';
  readonly cfg: Dict;
  readonly configFile: string;
  readonly cfgName: string;
  readonly workDir: string;
  readonly timestamp: string;
  readonly logDir: string;
  readonly logger: Logger;
  readonly progress: ProgressReporter;
  readonly messageHub = new MessageHub();
  readonly logProcessor: LogProcessor;
  readonly options: RunnerOptions;
  readonly loaded: LoadedConfig;
  scalarWriter: LocalScalarWriter | null = null;
  backend: BackendInfo | null = null;
  seed = 0;
  deterministic = false;

  model!: ImageClassifier;
  optimWrapper: OptimWrapper | null = null;
  paramSchedulers: ParamScheduler[] = [];
  trainDataloader: DataLoader | null = null;
  valDataloader: DataLoader | null = null;
  testDataloader: DataLoader | null = null;
  valEvaluator: Evaluator | null = null;
  testEvaluator: Evaluator | null = null;
  trainLoop: TrainLoop | null = null;
  valLoop: ValLoop | null = null;
  testLoop: TestLoop | null = null;
  hooks: Hook[] = [];
  datasetMeta: Dict | undefined;

  /** Completed epochs (MMEngine's runner.epoch). */
  epoch = 0;
  /** Completed iterations (MMEngine's runner.iter). */
  iter = 0;
  /** Set while loading a checkpoint to resume (hooks such as EMAHook read it). */
  resuming = false;
  lastCheckpoint: string | null = null;
  lastValMetrics: Record<string, unknown> | null = null;
  private resumeSkip = 0;
  private stopSignal: string | null = null;
  private signalHandlers: [NodeJS.Signals, () => void][] = [];
  private cfgText = '';

  private constructor(loaded: LoadedConfig, options: RunnerOptions) {
    this.loaded = loaded;
    this.options = options;
    this.mode = options.mode;
    this.configFile = loaded.filename;
    this.cfgName = path.basename(loaded.filename).replace(/\.py$/, '');
    this.cfg = { ...loaded.value } as Dict;
    const wd = options.workDir ?? (typeof this.cfg.work_dir === 'string' ? this.cfg.work_dir : path.join('work_dirs', this.cfgName));
    this.workDir = path.resolve(wd);
    this.cfg.work_dir = wd;
    this.timestamp = timestamp();
    this.logDir = path.join(this.workDir, this.timestamp);
    this.progress = options.progress ?? createProgress('none');
    const level = parseLogLevel(this.cfg.log_level);
    this.logger = new Logger({ level, console: (l) => this.progress.consoleLine(l) });
    const lp = isDict(this.cfg.log_processor) ? { ...this.cfg.log_processor } : {};
    const trainCfg = isDict(this.cfg.train_cfg) ? this.cfg.train_cfg : {};
    if (lp.by_epoch === undefined) lp.by_epoch = trainCfg.by_epoch !== false && trainCfg.type !== 'IterBasedTrainLoop';
    this.logProcessor = LOG_PROCESSORS.build<LogProcessor>({ type: 'LogProcessor', ...lp }, undefined, { path: 'log_processor', locate: this.locate });
  }

  /** Where the config wrote a key path, for errors. */
  readonly locate = (keyPath: string): SourceLocation | undefined => {
    const e = this.loaded?.sourceMap.get(keyPath);
    if (!e) return undefined;
    return { file: e.file, line: e.range.line, column: e.range.column };
  };

  /** Builds a runner from a loaded config; nothing is trained yet. */
  static async create(loaded: LoadedConfig, options: RunnerOptions): Promise<Runner> {
    const r = new Runner(loaded, options);
    await r.setup();
    return r;
  }

  // ------------------------------------------------------------------ setup

  private async setup(): Promise<void> {
    const cfg = this.cfg;
    const o = this.options;
    fs.mkdirSync(this.logDir, { recursive: true });
    this.logger.openFile(path.join(this.logDir, `${this.timestamp}.log`));
    this.scalarWriter = new LocalScalarWriter(path.join(this.logDir, 'vis_data'));

    // What tools/train.py writes into the config before dumping it.
    let resumeFrom: string | null = null;
    if (this.mode === 'train') {
      if (o.amp) {
        const ow = isDict(cfg.optim_wrapper) ? { ...cfg.optim_wrapper } : {};
        if (ow.type === 'AmpOptimWrapper') this.logger.warning('AMP training is already enabled in your config.');
        else {
          ow.type = 'AmpOptimWrapper';
          if (ow.loss_scale === undefined) ow.loss_scale = 'dynamic';
        }
        cfg.optim_wrapper = ow;
      }
      if (o.noValidate) {
        cfg.val_cfg = null;
        cfg.val_dataloader = null;
        cfg.val_evaluator = null;
      }
      if (o.autoScaleLr) {
        const a = isDict(cfg.auto_scale_lr) ? { ...cfg.auto_scale_lr } : null;
        if (!a || a.base_batch_size === undefined) {
          throw new MmclsError("--auto-scale-lr needs auto_scale_lr = dict(base_batch_size=...) in the config (the batch size the learning rate was tuned for)", { code: 'config.auto_scale_lr' });
        }
        a.enable = true;
        cfg.auto_scale_lr = a;
      }
      if (o.resume === true) {
        cfg.resume = true;
        cfg.load_from = null;
      } else if (typeof o.resume === 'string') {
        cfg.resume = true;
        cfg.load_from = o.resume;
      }
      if (cfg.resume === true) {
        resumeFrom = typeof cfg.load_from === 'string' && cfg.load_from ? cfg.load_from : findLatestCheckpoint(this.workDir);
        if (!resumeFrom) this.logger.warning(`resume=True but no checkpoint was found in ${this.workDir}; training from scratch.`);
      }
    }
    this.cfgText = dumpPython(cfg as never);
    fs.writeFileSync(path.join(this.workDir, `${this.cfgName}.py`), this.cfgText);
    this.scalarWriter.addConfig(this.cfgText);

    // Randomness: the seed of a resumed run is the checkpoint's, so the data order continues.
    const rnd = isDict(cfg.randomness) ? cfg.randomness : {};
    let seed = typeof rnd.seed === 'number' ? rnd.seed : null;
    let resumeMeta: Dict | null = null;
    if (resumeFrom) {
      const { readCheckpoint } = await checkpointIo();
      const ck = await readCheckpoint(resumeFrom);
      resumeMeta = ck.meta as Dict;
      const s = resumeMeta.seed;
      if (typeof s === 'number') {
        if (seed !== null && seed !== s) this.logger.warning(`The random seed in the checkpoint (${s}) differs from randomness.seed (${seed}); using the checkpoint's to continue the same run.`);
        seed = s;
      }
    }
    this.seed = seed ?? drawSeed();
    this.deterministic = Boolean(rnd.deterministic);
    setRandomSeed(this.seed);

    const device = backendFromEnvCfg(cfg.env_cfg, o.device);
    this.backend = await initBackend(device);
    this.logEnv();
    this.logger.info(`Config:\n${this.cfgText}`);

    // Model.
    const modelCfg = isDict(cfg.model) ? { ...cfg.model } : null;
    if (!modelCfg) throw new MmclsError('the config has no model = dict(type=...)', { code: 'config.model' });
    if (modelCfg.data_preprocessor === undefined && isDict(cfg.data_preprocessor)) modelCfg.data_preprocessor = cfg.data_preprocessor;
    // require, not import(): the same in compiled CommonJS and under tsx's require hook (tests).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../models');
    this.model = MODELS.build<ImageClassifier>(modelCfg, undefined, { path: 'model', locate: this.locate });
    this.model.initWeights();

    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../datasets');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../evaluation');
    if (this.mode === 'train') await this.setupTrain();
    else await this.setupTest();

    this.buildHooks();
    if (resumeFrom) await this.resumeFrom(resumeFrom);
    else if (typeof cfg.load_from === 'string' && cfg.load_from) await this.loadFrom(cfg.load_from);
  }

  private logEnv(): void {
    this.logger.info(
      [
        '',
        '------------------------------------------------------------',
        'System environment:',
        `    Node.js: ${process.version}`,
        `    platform: ${process.platform} ${process.arch}`,
        `    TensorFlow.js backend: ${this.backend?.summary ?? 'unknown'}`,
        `    seed: ${this.seed}`,
        `    deterministic: ${this.deterministic}`,
        '------------------------------------------------------------',
      ].join('\n'),
    );
  }

  private buildLoader(key: string): DataLoader | null {
    const c = this.cfg[key];
    if (c === null || c === undefined) return null;
    if (!isDict(c)) throw new MmclsError(`${key} must be a dict(batch_size=..., dataset=dict(...), sampler=dict(...))`, { code: 'config.dataloader', location: this.locate(key) });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { buildDataLoader } = require('../datasets/loader') as typeof import('../datasets/loader');
    const { dataset, ...rest } = c;
    if (!isDict(dataset)) throw new MmclsError(`${key}.dataset must be a dict(type=...)`, { code: 'config.dataloader', location: this.locate(key) });
    try {
      return buildDataLoader({ ...(rest as Dict), dataset: { ...dataset } } as never, { seed: this.seed });
    } catch (e) {
      if (e instanceof MmclsError && !e.location.file) {
        throw new MmclsError(`${key}: ${e.message}`, { code: e.code, location: this.locate(`${key}.dataset`) ?? this.locate(key), cause: e });
      }
      throw e;
    }
  }

  private buildEval(key: string): Evaluator {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { buildEvaluator } = require('../evaluation/evaluator') as typeof import('../evaluation/evaluator');
    return buildEvaluator(this.cfg[key]);
  }

  private async setupTrain(): Promise<void> {
    const cfg = this.cfg;
    const trainCfg = isDict(cfg.train_cfg) ? { ...cfg.train_cfg } : null;
    if (!trainCfg) throw new MmclsError('the config has no train_cfg, e.g. train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)', { code: 'config.train_cfg' });
    this.trainDataloader = this.buildLoader('train_dataloader');
    if (!this.trainDataloader) throw new MmclsError('the config has no train_dataloader', { code: 'config.dataloader' });
    const ds = this.trainDataloader.dataset as unknown as { metainfo?: Dict };
    this.datasetMeta = ds.metainfo;
    if (trainCfg.type === undefined) trainCfg.type = trainCfg.by_epoch === false ? 'IterBasedTrainLoop' : 'EpochBasedTrainLoop';
    this.trainLoop = LOOPS.build<TrainLoop>(trainCfg, { runner: this }, { path: 'train_cfg', locate: this.locate });

    const hasVal = [cfg.val_dataloader, cfg.val_cfg, cfg.val_evaluator].map((v) => v !== null && v !== undefined);
    if (hasVal.some((x) => x) && !hasVal.every((x) => x)) {
      throw new MmclsError('val_dataloader, val_cfg and val_evaluator must be all set or all None (to train without validation, set them to None or pass --no-validate)', { code: 'config.val' });
    }
    if (hasVal[0]) {
      this.valDataloader = this.buildLoader('val_dataloader');
      this.valEvaluator = this.buildEval('val_evaluator');
      this.valEvaluator.datasetMeta = (this.valDataloader!.dataset as unknown as { metainfo?: Dict }).metainfo;
      const vc = isDict(cfg.val_cfg) ? { ...cfg.val_cfg } : {};
      this.valLoop = LOOPS.build<ValLoop>({ type: 'ValLoop', ...vc }, { runner: this }, { path: 'val_cfg', locate: this.locate });
    }

    // Optimizer wrapper (+ auto_scale_lr), then the schedulers, which record the initial lr.
    const { buildOptimWrapper, describeParams, scaleLr, setEngineLogger } = require('./optim') as typeof import('./optim');
    setEngineLogger((level, m) => (level === 'warning' ? this.logger.warning(m) : level === 'info' ? this.logger.info(m) : this.logger.debug(m)));
    if (!isDict(cfg.optim_wrapper)) throw new MmclsError('the config has no optim_wrapper = dict(optimizer=dict(type=..., lr=...))', { code: 'config.optim_wrapper' });
    this.optimWrapper = buildOptimWrapper(describeParams(this.model as never), cfg.optim_wrapper as never);
    const asl = isDict(cfg.auto_scale_lr) ? cfg.auto_scale_lr : null;
    if (asl && asl.enable) scaleLr(this.optimWrapper, asl as never, this.trainDataloader.batch_size);
    const { buildParamSchedulers } = require('./schedulers') as typeof import('./schedulers');
    const loop = this.trainLoop;
    this.paramSchedulers = buildParamSchedulers(cfg.param_scheduler ?? null, {
      optimizer: this.optimWrapper,
      maxEpochs: loop.byEpoch ? (loop as EpochBasedTrainLoop).max_epochs : 1,
      maxIters: loop.maxIters,
      epochLength: this.trainDataloader.length,
    });
  }

  private async setupTest(): Promise<void> {
    const cfg = this.cfg;
    const hasTest = [cfg.test_dataloader, cfg.test_cfg, cfg.test_evaluator].map((v) => v !== null && v !== undefined);
    if (!hasTest.every((x) => x)) {
      throw new MmclsError('testing needs test_dataloader, test_cfg and test_evaluator in the config', { code: 'config.test' });
    }
    this.testDataloader = this.buildLoader('test_dataloader');
    this.testEvaluator = this.buildEval('test_evaluator');
    this.datasetMeta = (this.testDataloader!.dataset as unknown as { metainfo?: Dict }).metainfo;
    this.testEvaluator.datasetMeta = this.datasetMeta;
    const tc = isDict(cfg.test_cfg) ? { ...cfg.test_cfg } : {};
    this.testLoop = LOOPS.build<TestLoop>({ type: 'TestLoop', ...tc }, { runner: this }, { path: 'test_cfg', locate: this.locate });
  }

  private buildHooks(): void {
    const defaults: Record<string, Dict | null> = {
      runtime_info: null,
      timer: { type: 'IterTimerHook' },
      sampler_seed: { type: 'DistSamplerSeedHook' },
      logger: { type: 'LoggerHook' },
      param_scheduler: { type: 'ParamSchedulerHook' },
      checkpoint: { type: 'CheckpointHook', interval: 1 },
    };
    const dh = this.cfg.default_hooks;
    if (isDict(dh)) for (const [k, v] of Object.entries(dh)) defaults[k] = v === null ? null : ({ ...(v as Dict) });
    if (this.mode === 'test' && (this.options.showDir || this.options.show)) {
      const v = { ...(defaults.visualization ?? { type: 'VisualizationHook' }) };
      v.enable = true;
      if (this.options.showDir) v.out_dir = this.options.showDir;
      if (this.options.show) v.show = true;
      if (this.options.interval !== undefined) v.interval = this.options.interval;
      if (this.options.waitTime !== undefined) v.wait_time = this.options.waitTime;
      defaults.visualization = v;
    }
    for (const [k, v] of Object.entries(defaults)) if (v) this.registerHook(v, `default_hooks.${k}`);
    const ch = this.cfg.custom_hooks;
    if (Array.isArray(ch)) ch.forEach((c, i) => this.registerHook({ ...(c as Dict) }, `custom_hooks.${i}`));
    else if (ch !== undefined && ch !== null) throw new MmclsError('custom_hooks must be a list of dict(type=...)', { code: 'config.custom_hooks', location: this.locate('custom_hooks') });
  }

  /** Adds a hook (a config dict or a Hook); equal priorities keep the order of registration. */
  registerHook(h: Dict | Hook, keyPath = 'custom_hooks'): Hook {
    let hook: Hook;
    let priority: unknown;
    if (h instanceof Hook) hook = h;
    else {
      hook = HOOKS.build<Hook>(h, undefined, { path: keyPath, locate: this.locate });
      priority = h.priority;
    }
    if (priority !== undefined) hook.priority = getPriority(priority);
    let i = this.hooks.length;
    while (i > 0 && this.hooks[i - 1].priority > hook.priority) i--;
    this.hooks.splice(i, 0, hook);
    return hook;
  }

  /** `Hook priority  Hook name` table, as MMEngine logs it. */
  hookInfo(): string {
    const names = Object.fromEntries(Object.entries(PRIORITIES).map(([k, v]) => [v, k]));
    return this.hooks.map((h) => `(${(names[h.priority] ?? String(h.priority)).padEnd(12)}) ${h.constructor.name}`).join('\n');
  }

  // ------------------------------------------------------------------ accessors for hooks/loops

  get maxEpochs(): number {
    const l = this.trainLoop;
    return l && l.byEpoch ? (l as EpochBasedTrainLoop).max_epochs : 1;
  }
  get maxIters(): number {
    return this.trainLoop ? this.trainLoop.maxIters : 0;
  }
  get trainLoopLength(): number {
    return this.trainDataloader ? this.trainDataloader.length : 0;
  }
  get valLoopLength(): number {
    return this.valDataloader ? this.valDataloader.length : 0;
  }
  get testLoopLength(): number {
    return this.testDataloader ? this.testDataloader.length : 0;
  }

  logContext(): LogContext {
    return { messageHub: this.messageHub, epoch: this.epoch, iter: this.iter, maxIters: this.maxIters, maxEpochs: this.maxEpochs, dataloaderLength: this.trainLoopLength };
  }

  writeScalars(scalars: Record<string, number | string>, step: number): void {
    this.scalarWriter?.addScalars(scalars, step);
  }

  async callHook(name: HookName, ...args: unknown[]): Promise<void> {
    for (const h of this.hooks) {
      const fn = h[name] as (this: Hook, runner: Runner, ...a: unknown[]) => void | Promise<void>;
      await fn.call(h, this, ...args);
    }
  }

  /** Batches of the current epoch to skip after resuming mid-epoch (read once). */
  takeResumeSkip(): number {
    const s = this.resumeSkip;
    this.resumeSkip = 0;
    return s;
  }

  // ------------------------------------------------------------------ training

  /** One training iteration: hooks, forward/backward/step, scalars, progress. */
  async runTrainIter(batchIdx: number, batch: unknown): Promise<void> {
    await this.callHook('beforeTrainIter', batchIdx, batch);
    const ow = this.optimWrapper!;
    const lr = ow.getLr().lr[0];
    this.messageHub.updateScalar('train/lr', lr);
    const outputs = await this.trainStep(batchIdx, batch);
    // MMEngine logs `memory` (MB) on a GPU; here: what the GPU backend holds (webgpu: its buffers,
    // pooled ones included). Absent on cpu/wasm, which report no GPU bytes.
    const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPUAllocated?: number; numBytesAllocatedInGPU?: number; numBytesInGPU?: number };
    const gpuBytes = mem.numBytesAllocatedInGPU ?? mem.numBytesInGPUAllocated ?? mem.numBytesInGPU;
    if (typeof gpuBytes === 'number') this.messageHub.updateScalar('train/memory', gpuBytes / 2 ** 20);
    for (const [k, v] of Object.entries(outputs)) this.messageHub.updateScalar(`train/${k}`, v);
    await this.callHook('afterTrainIter', batchIdx, batch, outputs);
    this.iter += 1;
    this.messageHub.updateInfo('iter', this.iter);
    const eta = this.messageHub.getInfo<number>('eta') ?? NaN;
    this.progress.emit('iter', { epoch: this.epoch + 1, iter: this.iter, max_iters: this.maxIters, loss: outputs.loss, lr, eta_s: Math.round(eta * 10) / 10 });
  }

  private async trainStep(batchIdx: number, batch: unknown): Promise<TrainOutputs> {
    const ow = this.optimWrapper!;
    const data = toDataBatch(batch);
    let pre: { inputs: tf.Tensor; data_samples: unknown[] | null };
    try {
      pre = this.model.preprocess(data as never, true) as never;
    } finally {
      data.dispose();
    }
    const parts: Record<string, tf.Scalar> = {};
    let loss: tf.Scalar;
    try {
      loss = ow.backward(() => {
        const losses = this.model.loss(pre.inputs, (pre.data_samples ?? []) as never);
        let total: tf.Scalar | null = null;
        const entries = Object.entries(losses);
        for (const [k, v] of entries) {
          const m = v.rank === 0 ? (v as tf.Scalar) : (tf.mean(v) as tf.Scalar);
          if (entries.length > 1) parts[k] = tf.keep(m.clone());
          if (k.includes('loss')) total = total ? (tf.add(total, m) as tf.Scalar) : m;
        }
        if (!total) throw new MmclsError(`the model returned no loss (keys: ${Object.keys(losses).join(', ')})`, { code: 'model.no-loss' });
        return total;
      });
    } finally {
      pre.inputs.dispose();
    }
    // Asynchronous reads: every backend has them (webgpu in Node.js has no synchronous ones),
    // and the loss and its parts come back together.
    const names = Object.keys(parts);
    let values: number[];
    try {
      values = (await Promise.all([loss, ...names.map((k) => parts[k])].map((t) => t.data()))).map((d) => d[0] as number);
    } finally {
      loss.dispose();
      for (const t of Object.values(parts)) t.dispose();
    }
    const value = values[0];
    const out: TrainOutputs = {};
    names.forEach((k, i) => { out[k] = values[i + 1]; });
    out.loss = value;
    if (!Number.isFinite(value)) {
      ow.zeroGrad();
      const e = this.trainLoop?.byEpoch ? `epoch ${this.epoch + 1}, batch ${batchIdx + 1}/${this.trainLoopLength}, ` : '';
      throw new MmclsError(
        `the loss is ${Number.isNaN(value) ? 'NaN' : value > 0 ? 'infinite' : '-infinite'} at iteration ${this.iter + 1} (${e}lr ${ow.getLr().lr[0].toExponential(4)}); training stopped and these weights were not saved. ` +
          (this.lastCheckpoint ? `The last good checkpoint is ${this.lastCheckpoint}. ` : 'No checkpoint had been saved yet. ') +
          'Lower the learning rate (optim_wrapper.optimizer.lr), add a warm-up (param_scheduler LinearLR) or clip gradients (optim_wrapper.clip_grad=dict(max_norm=...)).',
        { code: 'train.nan-loss' },
      );
    }
    if (ow.shouldUpdate()) {
      ow.step();
      ow.zeroGrad();
      // With clip_grad, MMEngine logs the total norm before clipping as train/grad_norm.
      const gradNorm = await ow.readGradNorm();
      if (gradNorm !== undefined) this.messageHub.updateScalar('train/grad_norm', gradNorm);
    }
    return out;
  }

  /** Runs the val or test loop body: predictions, metrics, hooks. */
  async runEvaluation(mode: 'val' | 'test'): Promise<Record<string, unknown>> {
    const loader = mode === 'val' ? this.valDataloader! : this.testDataloader!;
    const evaluator = mode === 'val' ? this.valEvaluator! : this.testEvaluator!;
    const M = mode === 'val' ? 'Val' : 'Test';
    await this.callHook(`before${M}` as HookName);
    await this.callHook(`before${M}Epoch` as HookName);
    this.model.eval();
    let idx = 0;
    for await (const batch of loader) {
      await this.callHook(`before${M}Iter` as HookName, idx, batch);
      const data = toDataBatch(batch);
      let samples: unknown[];
      try {
        // The preprocessor's intermediate tensors go with the tidy scope, the forward pass's with
        // predictAsync's; the predictions are plain arrays, read back asynchronously.
        let dataSamples: unknown = null;
        const inputs = tf.tidy(() => {
          const pre = this.model.preprocess(data as never, false);
          dataSamples = pre.data_samples;
          return pre.inputs;
        });
        try {
          samples = await this.model.predictAsync(inputs, dataSamples as never);
        } finally {
          inputs.dispose();
        }
      } finally {
        data.dispose();
      }
      evaluator.process(samples, batch);
      await this.callHook(`after${M}Iter` as HookName, idx, batch, samples);
      idx++;
    }
    const n = (loader.dataset as unknown as { length: number }).length;
    const metrics = evaluator.evaluate(n) as Record<string, unknown>;
    await this.callHook(`after${M}Epoch` as HookName, metrics);
    await this.callHook(`after${M}` as HookName);
    if (mode === 'val') {
      this.lastValMetrics = metrics;
      this.progress.emit('val', { epoch: this.epoch, iter: this.iter, metrics });
    }
    this.model.train();
    return metrics;
  }

  /**
   * Called by the loops at iteration boundaries: stops (the runner then saves a checkpoint) when a
   * signal came. It first lets the event loop run, which is where Node.js delivers signals: a loop
   * whose data never waits for I/O would otherwise see them only at the end of training.
   */
  async checkStop(_afterVal: boolean): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!this.stopSignal) return;
    throw new StopRequested(this.stopSignal);
  }

  private installSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as NodeJS.Signals[]) {
      const h = () => {
        if (this.stopSignal) {
          this.progress.finish();
          process.stderr.write(`\n${sig} again: exiting without saving.\n`);
          process.exit(sig === 'SIGINT' ? 130 : 143);
        }
        this.stopSignal = sig;
        this.logger.warning(`${sig} received: stopping at the end of this iteration and saving a checkpoint (${sig === 'SIGINT' ? 'Ctrl+C' : 'send it'} again to exit at once).`);
      };
      process.on(sig, h);
      this.signalHandlers.push([sig, h]);
    }
  }

  private removeSignals(): void {
    for (const [s, h] of this.signalHandlers) process.off(s, h);
    this.signalHandlers = [];
  }

  /** The command that resumes this run from `ckpt`. */
  resumeCommand(ckpt: string): string {
    const argv = [...(this.options.argv ?? ['train', this.configFile])];
    const out: string[] = [];
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i];
      if (a === '--resume') {
        if (argv[i + 1] !== undefined && !argv[i + 1].startsWith('-') && argv[i + 1] !== argv[1]) i++;
        continue;
      }
      if (a.startsWith('--resume=')) continue;
      out.push(a);
    }
    if (!out.includes('--work-dir') && !out.some((a) => a.startsWith('--work-dir='))) out.push('--work-dir', path.relative(process.cwd(), this.workDir) || '.');
    out.push('--resume', path.relative(process.cwd(), ckpt) || ckpt);
    const bin = process.argv[1] ? path.relative(process.cwd(), process.argv[1]) : 'mmcls';
    const prog = bin.endsWith(path.join('bin', 'mmcls')) ? (bin.startsWith('.') || path.isAbsolute(bin) ? bin : `./${bin}`) : 'mmcls';
    return [prog, ...out].map(shellQuote).join(' ');
  }

  /** Trains as the config says; returns the last evaluation's metrics. */
  async train(): Promise<{ metrics: Record<string, unknown>; checkpoint: string | null }> {
    if (!this.trainLoop) throw new Error('train() on a runner built for testing');
    this.installSignals();
    const ow = this.optimWrapper!;
    const loop = this.trainLoop;
    this.logger.info(`Hooks will be executed in the following order:\n${this.hookInfo()}`);
    this.logger.info(`Checkpoints will be saved to ${this.workDir}.`);
    this.progress.emit('start', {
      config: this.configFile,
      work_dir: this.workDir,
      backend: this.backend?.summary ?? 'unknown',
      max_iters: this.maxIters,
      max_epochs: loop.byEpoch ? this.maxEpochs : undefined,
      resumed_from: this.lastCheckpoint,
    });
    ow.initializeCountStatus(this.iter, this.maxIters);
    try {
      await this.callHook('beforeRun');
      await loop.run();
      await this.callHook('afterRun');
    } catch (e) {
      if (e instanceof StopRequested) {
        const p = await this.saveCheckpoint(this.workDir, `iter_${this.iter}.safetensors`, { epoch: this.epoch, iter: this.iter });
        const cmd = this.resumeCommand(p);
        this.logger.warning(`Stopped by ${e.signal} after iteration ${this.iter}/${this.maxIters}${loop.byEpoch ? ` (epoch ${this.epoch + (this.iter % Math.max(1, this.trainLoopLength) ? 1 : 0)})` : ''}. Checkpoint saved to ${p}.`);
        this.progress.emit('interrupted', { signal: e.signal, checkpoint: p, resume_command: cmd });
        throw new RunInterrupted(e.signal, p, cmd);
      }
      throw e;
    } finally {
      this.removeSignals();
      await this.closeLoaders();
    }
    return { metrics: this.lastValMetrics ?? {}, checkpoint: this.lastCheckpoint };
  }

  /** Tests the loaded model on test_dataloader. */
  async test(): Promise<{ metrics: Record<string, unknown>; predictions: unknown[] }> {
    if (!this.testLoop) {
      // A train run that asks for the test metrics at the end.
      await this.setupTest();
    }
    const predictions: unknown[] = [];
    const collector = new (class PredictionCollector extends Hook {
      override afterTestIter(_r: Runner, _i: number, _b: unknown, outputs: unknown[]): void {
        predictions.push(...outputs);
      }
    })();
    collector.priority = PRIORITIES.LOWEST;
    this.registerHook(collector);
    try {
      this.logger.info(`Hooks will be executed in the following order:\n${this.hookInfo()}`);
      await this.callHook('beforeRun');
      const metrics = await this.testLoop!.run();
      await this.callHook('afterRun');
      return { metrics, predictions };
    } finally {
      this.hooks = this.hooks.filter((h) => h !== collector);
      await this.closeLoaders();
    }
  }

  private async closeLoaders(): Promise<void> {
    for (const l of [this.trainDataloader, this.valDataloader, this.testDataloader]) if (l) await l.close();
  }

  /** Ends the run: closes the log. */
  close(): void {
    this.logger.close();
  }

  // ------------------------------------------------------------------ checkpoints

  /**
   * Writes a checkpoint (model, optimizer, schedulers, message hub, RNG state, meta) atomically
   * to `dir/filename`, updates `last_checkpoint` and returns the path.
   */
  async saveCheckpoint(
    dir: string,
    filename: string,
    o: { epoch: number; iter: number; saveOptimizer?: boolean; saveParamScheduler?: boolean; updateLast?: boolean; best?: boolean },
  ): Promise<string> {
    const { writeCheckpoint, fromTorchEntry } = await checkpointIo();
    fs.mkdirSync(dir, { recursive: true });
    const p = path.join(dir, filename);
    const ckpt: CheckpointDict = {
      meta: {
        epoch: o.epoch,
        iter: o.iter,
        seed: this.seed,
        time: new Date().toISOString(),
        mmcls_version: '1.0.0rc6',
        experiment_name: `${this.cfgName}_${this.timestamp}`,
        backend: this.backend?.summary ?? 'unknown',
      },
      stateDict: (await this.model.stateDictAsync()) as CheckpointDict['stateDict'],
      extra: { message_hub: this.messageHub.stateDict(), rng: getRandomState() },
    };
    if (this.datasetMeta) ckpt.meta.dataset_meta = JSON.parse(JSON.stringify(this.datasetMeta));
    await this.callHook('beforeSaveCheckpoint', ckpt);
    const toState = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(toState);
      if (isDict(v)) {
        if (ArrayBuffer.isView(v.data) && Array.isArray(v.shape) && (v.dtype === undefined || /^[a-z]/.test(String(v.dtype)))) return fromTorchEntry(v as never);
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toState(x)]));
      }
      return v;
    };
    const classes = Array.isArray(this.datasetMeta?.classes) ? (this.datasetMeta!.classes as string[]) : undefined;
    await writeCheckpoint(p, {
      stateDict: ckpt.stateDict as never,
      meta: ckpt.meta as never,
      optimizer: o.saveOptimizer !== false && this.optimWrapper ? ((await this.optimWrapper.stateDictAsync()) as never) : undefined,
      schedulers: o.saveParamScheduler !== false && this.paramSchedulers.length ? (this.paramSchedulers.map((s) => s.stateDict()) as never) : undefined,
      config: this.cfgText,
      classes,
      extra: toState(ckpt.extra) as never,
    });
    if (o.updateLast !== false) {
      fs.writeFileSync(path.join(this.workDir, 'last_checkpoint'), p);
      this.lastCheckpoint = p;
    }
    this.progress.emit('checkpoint', { path: p, epoch: o.epoch, iter: o.iter, best: o.best ?? false });
    return p;
  }

  private async readForModel(file: string): Promise<{ ckpt: import('./checkpoint').Checkpoint; dict: CheckpointDict }> {
    const { readCheckpoint, toStateEntries, toTorchEntry, isTensorData } = await checkpointIo();
    const ckpt = await readCheckpoint(file);
    const fromState = (v: unknown): unknown => {
      if (isTensorData(v)) return toTorchEntry(v);
      if (Array.isArray(v)) return v.map(fromState);
      if (isDict(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromState(x)]));
      return v;
    };
    const dict: CheckpointDict = {
      meta: ckpt.meta as Dict,
      stateDict: toStateEntries(ckpt.stateDict) as never,
      extra: fromState(ckpt.extra) as Dict,
    };
    return { ckpt, dict };
  }

  /** `load_from`: the weights only (non-strict, differences logged), as MMEngine's load_checkpoint. */
  async loadFrom(file: string): Promise<void> {
    const { dict } = await this.readForModel(file);
    const { formatLoadReport } = require('../nn/module') as typeof import('../nn/module');
    const report = this.model.loadStateDict(dict.stateDict as never, { strict: false });
    if (report.missing.length || report.unexpected.length || report.mismatched.length) this.logger.warning(formatLoadReport(report, `The model and loaded state dict (${file}) do not match exactly`));
    if (report.loaded === 0) {
      throw new MmclsError(`no weight of ${file} matches the model: is it a checkpoint of this model? (${formatLoadReport(report, 'state_dict')})`, { code: 'checkpoint.mismatch', location: { file } });
    }
    await this.callHook('afterLoadCheckpoint', dict);
    this.lastCheckpoint = path.resolve(file);
    this.logger.info(`Load checkpoint from ${file}`);
  }

  /** `resume`: weights, optimizer, schedulers, message hub, RNG state and position. */
  async resumeFrom(file: string): Promise<void> {
    const { ckpt, dict } = await this.readForModel(file);
    this.resuming = true;
    try {
      this.model.loadStateDict(dict.stateDict as never, { strict: true });
      if (this.optimWrapper) {
        if (!ckpt.optimizer) throw new MmclsError('the checkpoint has no optimizer state, so training cannot resume from it exactly; use load_from to start from its weights', { code: 'checkpoint.no-optimizer', location: { file } });
        this.optimWrapper.loadStateDict(ckpt.optimizer as unknown as OptimizerStateDict);
      }
      const scheds = Array.isArray(ckpt.schedulers) ? ckpt.schedulers : [];
      if (scheds.length !== this.paramSchedulers.length) {
        this.logger.warning(`the checkpoint has ${scheds.length} parameter scheduler states and the config ${this.paramSchedulers.length}; the schedulers start afresh`);
      } else this.paramSchedulers.forEach((s, i) => s.loadStateDict(scheds[i] as Dict));
      this.messageHub.loadStateDict(dict.extra.message_hub);
      if (!setRandomState(dict.extra.rng)) this.logger.warning('the checkpoint has no random state; random numbers continue from the seed');
      const epoch = Number(dict.meta.epoch ?? 0);
      const iter = Number(dict.meta.iter ?? 0);
      this.epoch = epoch;
      this.iter = iter;
      const len = this.trainLoopLength;
      if (this.trainLoop?.byEpoch && len > 0) {
        this.resumeSkip = Math.max(0, iter - epoch * len);
        if (this.resumeSkip >= len + 1) throw new MmclsError(`the checkpoint says epoch ${epoch}, iteration ${iter}, which does not fit ${len} iterations per epoch: was the batch size or the data changed?`, { code: 'checkpoint.resume', location: { file } });
      }
      await this.callHook('afterLoadCheckpoint', dict);
    } finally {
      this.resuming = false;
    }
    this.lastCheckpoint = path.resolve(file);
    this.logger.info(`resumed epoch: ${this.epoch}, iter: ${this.iter}${this.resumeSkip ? ` (${this.resumeSkip} batches of epoch ${this.epoch + 1} done)` : ''} from ${file}`);
  }
}

/** A run stopped by SIGINT/SIGTERM after saving `checkpoint`; `command` resumes it. */
export class RunInterrupted extends Error {
  constructor(readonly signal: string, readonly checkpoint: string, readonly command: string) {
    super(`Interrupted by ${signal}. Checkpoint saved to ${checkpoint}.\nResume with:\n  ${command}`);
    this.name = 'RunInterrupted';
  }
}

export { StopRequested, IterBasedTrainLoop };
