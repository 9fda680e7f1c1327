import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { listFromFile } from '../../datasets/base_dataset';
import { Linear } from '../../nn/conv';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { ClsDataSample } from '../../structures';
import { convertToOneHot } from '../losses/utils';
import { Feat, asTensor } from '../types';
import { ClsHead, LossCfg, lastFeat } from './cls_head';

/** `x / max(||x||, 1e-12)` along `axis` (PyTorch's `F.normalize`). */
function l2normalize(x: tf.Tensor, axis: number): tf.Tensor {
  return tf.div(x, tf.maximum(tf.norm(x, 2, axis, true), 1e-12));
}

/**
 * `NormProduct`: a linear layer (no bias by default) with `k` sub-centres per class, giving the cosine
 * between the normalised input and the normalised weight rows (the best sub-centre per class).
 */
export class NormProduct extends Linear {
  readonly numOut: number;
  readonly k: number;
  readonly featureNorm: boolean;
  readonly weightNorm: boolean;

  constructor(inFeatures: number, outFeatures: number, k = 1, bias = false, featureNorm = true, weightNorm = true) {
    super({ in_features: inFeatures, out_features: outFeatures * k, bias });
    this.numOut = outFeatures;
    this.k = k;
    this.featureNorm = featureNorm;
    this.weightNorm = weightNorm;
  }

  override forward(x: tf.Tensor): tf.Tensor {
    const input = this.featureNorm ? l2normalize(x, 1) : x;
    // Weight rows in PyTorch are columns here ([in, out]).
    const w = this.weightNorm ? l2normalize(this.weight.variable, 0) : this.weight.variable;
    let cos = tf.matMul(input as tf.Tensor2D, w as tf.Tensor2D);
    if (this.bias) cos = tf.add(cos, this.bias.variable);
    if (this.k === 1) return cos;
    return tf.max(tf.reshape(cos, [-1, this.numOut, this.k]), 2);
  }

  protected override shapeOf(x: number[], ctx: ShapeContext): number[] {
    const out = super.shapeOf(x, ctx);
    return this.k === 1 ? out : [...out.slice(0, -1), this.numOut];
  }
}

/** Options of {@link ArcFaceClsHead}. */
export interface ArcFaceClsHeadOptions {
  /** Number of categories. */
  num_classes: number;
  /** Channels of the input feature. */
  in_channels: number;
  /** Sub-centres per class (Sub-center ArcFace); 1 is the vanilla ArcFace. @default 1 */
  num_subcenters?: number;
  /** Scale of the output logits. @default 64. */
  scale?: number;
  /** The angular margin: one number for every class, a list with one per class, or a '.txt' file with one per line. @default 0.50 */
  margins?: number | number[] | string;
  /** Keep the margin only where the cosine is positive (else the insightface threshold rule). @default False */
  easy_margin?: boolean;
  /** Config of the classification loss. @default dict(type='CrossEntropyLoss', loss_weight=1.0) */
  loss?: LossCfg;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * ArcFace classifier head (ArcFace: Additive Angular Margin Loss for Deep Face Recognition; with
 * num_subcenters > 1, Sub-center ArcFace): scaled cosines, the target class's angle widened by the margin in training.
 */
@MODELS.registerModule()
export class ArcFaceClsHead extends ClsHead {
  readonly inChannels: number;
  readonly numClasses: number;
  readonly numSubcenters: number;
  readonly scale: number;
  readonly easyMargin: boolean;
  readonly normProduct: NormProduct;
  /** Per-class margins (a non-persistent buffer in MMCls: not in the state dict). */
  margins: number[] = [];
  private sinmM: number[] = [];
  private threshold: number[] = [];

  constructor(options: ArcFaceClsHeadOptions) {
    super({ loss: options.loss, init_cfg: options.init_cfg ?? null });
    this.inChannels = options.in_channels;
    this.numClasses = options.num_classes;
    this.numSubcenters = options.num_subcenters ?? 1;
    if (!(this.numSubcenters >= 1 && this.numClasses >= 0)) {
      throw new MmclsError(`ArcFaceClsHead: num_subcenters (${this.numSubcenters}) must be >= 1 and num_classes (${this.numClasses}) >= 0`, { code: 'model.bad-argument' });
    }
    this.scale = options.scale ?? 64;
    this.easyMargin = options.easy_margin ?? false;
    this.normProduct = this.addModule('norm_product', new NormProduct(this.inChannels, this.numClasses, this.numSubcenters));
    let margins = options.margins ?? 0.5;
    if (typeof margins === 'string') {
      if (!margins.endsWith('.txt')) {
        throw new MmclsError(`ArcFaceClsHead: margins ${JSON.stringify(margins)} should be a float, a sequence of float, or a ".txt" file path`, { code: 'model.bad-argument' });
      }
      margins = listFromFile(margins, 'margins file').map((s) => s.trim()).filter((s) => s).map(Number);
    }
    this.setMargins(margins);
  }

  /** MMCls's `set_margins`: one margin for every class, or one per class (SetAdaptiveMarginsHook calls this). */
  setMargins(margins: number | number[]): void {
    const list = typeof margins === 'number' ? new Array(this.numClasses).fill(margins) : [...margins];
    if (list.length !== this.numClasses || list.some((m) => typeof m !== 'number' || !Number.isFinite(m))) {
      throw new MmclsError(`ArcFaceClsHead: the length of margins (${list.length}) must be equal with num_classes (${this.numClasses}), all numbers`, { code: 'model.bad-argument' });
    }
    this.margins = list.map(Math.fround);
    this.sinmM = this.margins.map((m) => Math.sin(Math.PI - m) * m);
    this.threshold = this.margins.map((m) => Math.cos(Math.PI - m));
  }

  override preLogits(feats: Feat[] | tf.Tensor): tf.Tensor {
    return asTensor(lastFeat(feats, this.typeName), this.typeName);
  }

  /** Cosines with the margin added at the target class: `target` holds class indices [N]. */
  logitWithMargin(preLogits: tf.Tensor, target: tf.Tensor): tf.Tensor {
    if (!(target.rank === 1 || (target.rank === 2 && target.shape[1] === 1))) {
      throw new MmclsError('ArcFaceClsHead: the target must be in index format.', { code: 'model.bad-argument' });
    }
    const cosine = this.normProduct.forward(preLogits);
    const margins = tf.tensor1d(this.margins);
    let phi = tf.cos(tf.add(tf.acos(cosine), margins));
    if (this.easyMargin) phi = tf.where(tf.greater(cosine, 0), phi, cosine);
    else phi = tf.where(tf.greater(cosine, tf.tensor1d(this.threshold)), phi, tf.sub(cosine, tf.tensor1d(this.sinmM)));
    const oneHot = convertToOneHot(target, this.numClasses);
    return tf.add(tf.mul(oneHot, phi), tf.mul(tf.sub(1, oneHot), cosine));
  }

  /** Scaled cosines; with `target` (class indices) the training logits with the margin. */
  override forward(feats: Feat[] | tf.Tensor, target?: tf.Tensor | null): tf.Tensor {
    const pre = this.preLogits(feats);
    const logit = target ? this.logitWithMargin(pre, target) : this.normProduct.forward(pre);
    return tf.mul(logit, this.scale);
  }

  override loss(feats: Feat[] | tf.Tensor, dataSamples: ClsDataSample[]): Record<string, tf.Tensor> {
    const labels: number[] = [];
    for (const s of dataSamples) {
      const l = s.gt_label?.label;
      if (!l || l.length === 0) throw new MmclsError('loss: a data sample has no gt_label', { code: 'model.no-labels' });
      labels.push(...l);
    }
    const labelTarget = tf.tensor1d(labels, 'int32');
    // Batch augmentations turn labels into scores: the loss then takes the scores, the margin the labels.
    const target = dataSamples[0].gt_label?.score ? tf.stack(dataSamples.map((s) => tf.tensor1d(s.gt_label!.score!))) : labelTarget;
    const clsScore = this.forward(feats, labelTarget);
    return { loss: this.lossModule.forward(clsScore, target, { avgFactor: clsScore.shape[0] }) };
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.normProduct.inferShape(asShape(super.forwardShape(x, ctx)), ctx);
  }
}
