/**
 * Single-image inference (MMClassification's `inference_model`): a config, a checkpoint and an
 * image give the top-k classes with their scores. The image goes through the config's test
 * pipeline (its loading step replaced by LoadImageFromFile on the file), the model's data
 * preprocessor and `predict`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MmclsError } from '../errors';
import { evalPipelineOf } from '../config/pipelines';

export interface ClassScore {
  /** Class index. */
  index: number;
  /** Class name, when the checkpoint or the dataset type knows the classes. */
  label: string | null;
  /** Softmax (or sigmoid, for multi-label heads) score in [0, 1]. */
  score: number;
}

export interface InferenceResult {
  image: string;
  config: string;
  checkpoint: string;
  backend: string;
  num_classes: number;
  pred_label: number;
  pred_class: string | null;
  pred_score: number;
  /** The `topk` best classes, best first. */
  topk: ClassScore[];
}

export interface InferenceOptions {
  /** How many classes to return. @default 5 */
  topk?: number;
  /** TensorFlow.js backend (`auto`, `wasm`, `cpu`, ...). Default: the config's env_cfg.device or auto. */
  device?: string;
  /** `--cfg-options` overrides. */
  cfgOptions?: string[];
}

type Dict = { [k: string]: unknown };
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The test pipeline of a config: test_dataloader.dataset.pipeline, else the val one, else test_pipeline. */
function testPipeline(cfg: Dict): Dict[] {
  const ev = evalPipelineOf(cfg);
  if (ev) return ev.pipeline;
  throw new MmclsError('the config has no test pipeline (test_dataloader.dataset.pipeline or test_pipeline)', { code: 'config.pipeline' });
}

function datasetType(cfg: Dict): string | undefined {
  for (const key of ['test_dataloader', 'val_dataloader', 'train_dataloader']) {
    const dl = cfg[key];
    if (isDict(dl) && isDict(dl.dataset) && typeof dl.dataset.type === 'string') return dl.dataset.type;
  }
  return undefined;
}

export async function inferenceModel(configPath: string, checkpointPath: string, imagePath: string, options: InferenceOptions = {}): Promise<InferenceResult> {
  if (!fs.existsSync(checkpointPath)) throw new MmclsError('checkpoint not found', { code: 'checkpoint.not-found', location: { file: checkpointPath } });
  if (!fs.existsSync(imagePath)) throw new MmclsError('image not found', { code: 'data.not-found', location: { file: imagePath } });
  const topk = options.topk ?? 5;
  if (!(Number.isInteger(topk) && topk >= 1)) throw new MmclsError(`topk must be a positive integer, got ${topk}`, { code: 'cli.usage' });

  const { loadConfig } = await import('../config');
  const loaded = loadConfig(configPath, { cfgOptions: options.cfgOptions ?? [] });
  const cfg = loaded.value as unknown as Dict;
  const { initBackend, backendFromEnvCfg } = await import('../backend');
  const backend = await initBackend(backendFromEnvCfg(cfg.env_cfg as never, options.device));

  await import('../models');
  await import('../datasets');
  const { MODELS, DATASETS } = await import('../registry');
  const modelCfg = isDict(cfg.model) ? { ...cfg.model } : null;
  if (!modelCfg) throw new MmclsError('the config has no model = dict(type=...)', { code: 'config.model' });
  if (modelCfg.data_preprocessor === undefined && isDict(cfg.data_preprocessor)) modelCfg.data_preprocessor = cfg.data_preprocessor;
  type Classifier = import('../models/classifiers/image').ImageClassifier;
  const model = MODELS.build<Classifier>(modelCfg, undefined, { path: 'model' });
  model.initWeights();

  const { readCheckpoint, toStateEntries } = await import('../engine/checkpoint');
  const ckpt = await readCheckpoint(checkpointPath);
  const report = model.loadStateDict(toStateEntries(ckpt.stateDict) as never, { strict: false });
  if (report.loaded === 0) throw new MmclsError(`no weight of ${checkpointPath} matches the model: is it a checkpoint of this config?`, { code: 'checkpoint.mismatch', location: { file: checkpointPath } });
  model.eval();

  // The test pipeline, loading the image from the file (grayscale when the model normalises one channel).
  const pre = isDict(modelCfg.data_preprocessor) ? modelCfg.data_preprocessor : {};
  const oneChannel = Array.isArray(pre.mean) && pre.mean.length === 1;
  const steps = testPipeline(cfg).filter((t) => !/LoadImage/.test(String(t.type)));
  const { Compose } = await import('../datasets/transforms/base');
  const pipeline = new Compose([{ type: 'LoadImageFromFile', color_type: oneChannel ? 'grayscale' : 'color' }, ...steps] as never);
  const results = await pipeline.transform({ img_path: path.resolve(imagePath), sample_idx: 0 } as never);
  if (!results) throw new MmclsError('the test pipeline dropped the image', { code: 'data.dropped' });
  const { pseudoCollate } = await import('../datasets/loader');
  const { batchToModelInput } = await import('../datasets/to_tensor');
  const { inputs, data_samples } = batchToModelInput(pseudoCollate([results]));
  let scores: number[];
  try {
    const p = model.preprocess({ inputs, data_samples } as never, false);
    try {
      const samples = await model.predictAsync(p.inputs, p.data_samples as never);
      const s = samples[0]?.pred_score;
      if (!s) throw new MmclsError('the model gave no scores', { code: 'model.no-scores' });
      scores = Array.from(s);
    } finally {
      p.inputs.dispose();
    }
  } finally {
    inputs.dispose();
  }

  let classes: string[] | undefined = ckpt.classes;
  if (!classes) {
    const t = datasetType(cfg);
    const DS = t ? (DATASETS.get(t) as unknown as { METAINFO?: { classes?: unknown } } | undefined) : undefined;
    const c = DS?.METAINFO?.classes;
    if (Array.isArray(c) && c.every((x) => typeof x === 'string')) classes = c as string[];
  }
  const name = (i: number) => (classes && i < classes.length ? classes[i] : null);
  const order = scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index);
  const top = order.slice(0, topk).map((o) => ({ index: o.index, label: name(o.index), score: o.score }));
  return {
    image: path.resolve(imagePath),
    config: loaded.filename,
    checkpoint: path.resolve(checkpointPath),
    backend: backend?.summary ?? 'unknown',
    num_classes: scores.length,
    pred_label: top[0].index,
    pred_class: top[0].label,
    pred_score: top[0].score,
    topk: top,
  };
}
