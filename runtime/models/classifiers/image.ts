import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { ComponentConfig, MODELS } from '../../registry';
import { InitCfg, Module, ShapeContext, ShapeValue } from '../../nn/module';
import { ClsDataSample } from '../../structures';
import { ClsDataPreprocessor, DataBatch, PreprocessedBatch } from '../data_preprocessor';
import { BaseBackbone } from '../backbones/base_backbone';
import { ClsHead } from '../heads/cls_head';
import { Feat } from '../types';

/** A neck: a tuple of features in, a tuple out. */
export interface Neck extends Module {
  forward(x: Feat[] | tf.Tensor): Feat[];
}

/** Necks given as a list, applied in order (MMCls builds a list into `nn.Sequential`: keys `neck.0.*`, `neck.1.*`). */
export class NeckSequence extends Module implements Neck {
  readonly necks: Neck[];
  constructor(necks: Neck[]) {
    super();
    this.necks = necks.map((n, i) => this.addModule(String(i), n));
  }
  forward(x: Feat[] | tf.Tensor): Feat[] {
    let y: Feat[] | tf.Tensor = x;
    for (const n of this.necks) y = n.forward(y);
    return Array.isArray(y) ? y : [y];
  }
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = x;
    for (const n of this.necks) y = n.inferShape(y, ctx);
    return y;
  }
}

/** Options of {@link ImageClassifier}. */
export interface ImageClassifierOptions {
  /** Backbone config. */
  backbone: ComponentConfig<'MODELS', 'backbone'>;
  /** Neck config, or a list of neck configs applied in order (None: the backbone's output goes straight to the head). @default None */
  neck?: ComponentConfig<'MODELS', 'neck'> | ComponentConfig<'MODELS', 'neck'>[] | null;
  /** Head config. @default None */
  head?: ComponentConfig<'MODELS', 'head'> | null;
  /** Checkpoint to initialise the whole classifier from (same as init_cfg Pretrained). @default None */
  pretrained?: string | null;
  /** Training settings; `augments` become the data preprocessor's batch_augments. @default None */
  train_cfg?: { [key: string]: unknown } | null;
  /** Data preprocessor config; `type` defaults to 'ClsDataPreprocessor'. @default None */
  data_preprocessor?: ComponentConfig<'MODELS', 'data_preprocessor'> | null;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

export type ForwardMode = 'tensor' | 'loss' | 'predict';

/** Image classifier: backbone, optional neck, head; forward modes 'tensor', 'loss' and 'predict'. */
@MODELS.registerModule()
export class ImageClassifier extends Module {
  readonly dataPreprocessor: ClsDataPreprocessor;
  readonly backbone: BaseBackbone;
  readonly neck: Neck | null;
  readonly head: ClsHead | null;
  readonly trainCfg: { [key: string]: unknown } | null;

  constructor(options: ImageClassifierOptions) {
    super();
    this.initCfg = options.pretrained ? { type: 'Pretrained', checkpoint: options.pretrained } : (options.init_cfg ?? null);
    this.trainCfg = options.train_cfg ?? null;
    const dp: { [key: string]: unknown } = { ...(options.data_preprocessor ?? {}) };
    if (dp.type === undefined) dp.type = 'ClsDataPreprocessor';
    if (this.trainCfg && 'augments' in this.trainCfg) dp.batch_augments = this.trainCfg;
    // BaseModel registers the data preprocessor first, so it leads named_modules().
    this.dataPreprocessor = this.addModule('data_preprocessor', MODELS.build<ClsDataPreprocessor>(dp));
    this.backbone = this.addModule('backbone', MODELS.build<BaseBackbone>(options.backbone));
    const neck = options.neck;
    if (Array.isArray(neck)) {
      this.neck = neck.length ? this.addModule('neck', new NeckSequence(neck.map((n) => MODELS.build<Neck>(n)))) : null;
    } else {
      this.neck = neck ? this.addModule('neck', MODELS.build<Neck>(neck)) : null;
    }
    this.head = options.head ? this.addModule('head', MODELS.build<ClsHead>(options.head)) : null;
  }

  get withNeck(): boolean {
    return this.neck !== null;
  }

  get withHead(): boolean {
    return this.head !== null;
  }

  /**
   * Features of an NHWC batch: the backbone's tuple (`stage='backbone'`), after the neck
   * (`'neck'`, the default), or the head's pre-logits (`'pre_logits'`).
   */
  extractFeat(inputs: tf.Tensor, stage: 'backbone' | 'neck' | 'pre_logits' = 'neck'): Feat[] | tf.Tensor {
    let x: Feat[] = this.backbone.forward(inputs);
    if (stage === 'backbone') return x;
    if (this.neck) x = this.neck.forward(x);
    if (stage === 'neck') return x;
    if (!this.head) throw new MmclsError("No head or the head doesn't implement `pre_logits` method.", { code: 'model.no-head' });
    return this.head.preLogits(x);
  }

  /** `mode='tensor'`: the head's scores (before softmax), or the features when there is no head. */
  forwardTensor(inputs: tf.Tensor): tf.Tensor | Feat[] {
    const feats = this.extractFeat(inputs);
    return this.head ? this.head.forward(feats as Feat[]) : feats;
  }

  /** `mode='loss'`: a dict of losses. */
  loss(inputs: tf.Tensor, dataSamples: ClsDataSample[]): Record<string, tf.Tensor> {
    if (!this.head) throw new MmclsError('ImageClassifier: loss needs a head', { code: 'model.no-head' });
    return this.head.loss(this.extractFeat(inputs) as Feat[], dataSamples);
  }

  /** `mode='predict'`: data samples with pred_score and pred_label. */
  predict(inputs: tf.Tensor, dataSamples?: (ClsDataSample | null)[] | null): ClsDataSample[] {
    if (!this.head) throw new MmclsError('ImageClassifier: predict needs a head', { code: 'model.no-head' });
    const feats = this.extractFeat(inputs) as Feat[];
    return this.head.predict(feats, dataSamples ?? null);
  }

  /**
   * {@link predict} with an asynchronous read of the scores: the forward pass's intermediate
   * tensors are freed, the scores are read back without blocking, and the data samples come back
   * with `pred_score` and `pred_label`. Every backend has this (webgpu in Node.js has no
   * synchronous reads); the runner and the inference API use it.
   */
  async predictAsync(inputs: tf.Tensor, dataSamples?: (ClsDataSample | null)[] | null): Promise<ClsDataSample[]> {
    const head = this.head;
    if (!head) throw new MmclsError('ImageClassifier: predict needs a head', { code: 'model.no-head' });
    const scores = tf.tidy(() => head.predScores(head.forward(this.extractFeat(inputs) as Feat[])));
    try {
      return head.predictionsFromScores(await scores.data(), scores.shape, dataSamples ?? null);
    } finally {
      scores.dispose();
    }
  }

  /** MMEngine's `forward(inputs, data_samples, mode)`. */
  forward(inputs: tf.Tensor, dataSamples: ClsDataSample[] | null = null, mode: ForwardMode = 'tensor'): tf.Tensor | Feat[] | Record<string, tf.Tensor> | ClsDataSample[] {
    if (mode === 'tensor') return this.forwardTensor(inputs);
    if (mode === 'loss') return this.loss(inputs, dataSamples ?? []);
    if (mode === 'predict') return this.predict(inputs, dataSamples);
    throw new MmclsError(`Invalid mode "${String(mode)}"; expected 'tensor', 'loss' or 'predict'`, { code: 'model.bad-mode' });
  }

  /** Runs the data preprocessor on a raw batch. */
  preprocess(batch: DataBatch, training = false): PreprocessedBatch {
    return this.dataPreprocessor.forward(batch, training);
  }

  /**
   * Shape pass of `extract_feat` (what MMCls's get_flops measures: backbone and neck).
   * Input shape is PyTorch's [N, C, H, W].
   */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = this.backbone.inferShape(x, ctx);
    if (this.neck) y = this.neck.inferShape(y, ctx);
    return y;
  }
}
