import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { InitCfg, Module, ShapeContext, ShapeValue } from '../../nn/module';
import { ClsDataSample } from '../../structures';
import { LossModule } from '../losses/utils';
import { Feat, asTensor } from '../types';

/** A loss given as a config dict or an already built module. */
export type LossCfg = { type: string; [key: string]: unknown } | LossModule;

export function buildLoss(loss: LossCfg): LossModule {
  if (loss instanceof LossModule) return loss;
  const built = MODELS.build<LossModule>(loss);
  if (!(built instanceof LossModule)) {
    throw new MmclsError(`loss: ${JSON.stringify(loss)} did not build a loss module`, { code: 'model.bad-argument' });
  }
  return built;
}

/** The last feature of a tuple (MMCls heads' `pre_logits`). */
export function lastFeat(feats: Feat[] | tf.Tensor, who: string): Feat {
  if (!Array.isArray(feats)) return feats;
  if (feats.length === 0) throw new MmclsError(`${who}: got no features`, { code: 'model.shape' });
  return feats[feats.length - 1];
}

/** Ground truth of a batch: class indices [N] (int32), or scores [N, C] when the samples carry gt_score. */
export function targetsOf(samples: ClsDataSample[]): tf.Tensor {
  if (samples.length === 0) throw new MmclsError('loss: no data samples', { code: 'model.no-labels' });
  if (samples[0].gt_label?.score) {
    return tf.stack(samples.map((s) => tf.tensor1d(s.gt_label!.score!)));
  }
  const labels: number[] = [];
  for (const s of samples) {
    const l = s.gt_label?.label;
    if (!l || l.length === 0) throw new MmclsError('loss: a data sample has no gt_label', { code: 'model.no-labels' });
    labels.push(...l);
  }
  return tf.tensor1d(labels, 'int32');
}

/** Top-k accuracies (percent) of scores [N, C] against class indices [N]. */
export function accuracy(scores: tf.Tensor, target: tf.Tensor, topk: number[]): tf.Tensor[] {
  const maxk = Math.max(...topk);
  const { indices } = tf.topk(scores as tf.Tensor2D, Math.min(maxk, scores.shape[1]!));
  const correct = tf.equal(indices, tf.reshape(tf.cast(target, 'int32'), [-1, 1]));
  const n = scores.shape[0];
  return topk.map((k) => {
    const ck = tf.slice(correct, [0, 0], [-1, Math.min(k, indices.shape[1]!)]);
    return tf.mul(tf.div(tf.sum(tf.cast(ck, 'float32')), n), 100);
  });
}

/** Options of {@link ClsHead}. */
export interface ClsHeadOptions {
  /** Config of the classification loss. @default dict(type='CrossEntropyLoss', loss_weight=1.0) */
  loss?: LossCfg;
  /** Top-k accuracies to compute when cal_acc is True. @default (1, ) */
  topk?: number | number[];
  /** Compute the training accuracy in the loss. @default False */
  cal_acc?: boolean;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** Classification head without layers: the last feature is the score; softmax predictions. */
@MODELS.registerModule()
export class ClsHead extends Module {
  readonly topk: number[];
  readonly calAcc: boolean;
  readonly lossModule: LossModule;

  constructor(options: ClsHeadOptions = {}) {
    super();
    this.initCfg = options.init_cfg ?? null;
    const topk = options.topk ?? [1];
    this.topk = typeof topk === 'number' ? [topk] : [...topk];
    for (const k of this.topk) {
      if (!(k > 0)) throw new MmclsError('topk should be larger than 0', { code: 'model.bad-argument' });
    }
    this.calAcc = options.cal_acc ?? false;
    this.lossModule = this.addModule('loss_module', buildLoss(options.loss ?? { type: 'CrossEntropyLoss', loss_weight: 1.0 }));
  }

  /** The features before the final classification layer. */
  preLogits(feats: Feat[] | tf.Tensor): tf.Tensor {
    return asTensor(lastFeat(feats, this.typeName), this.typeName);
  }

  /** Classification scores before softmax. */
  forward(feats: Feat[] | tf.Tensor): tf.Tensor {
    return this.preLogits(feats);
  }

  /** `{loss: ...}` (plus `accuracy_top-k` when cal_acc) for a batch with ground truth. */
  loss(feats: Feat[] | tf.Tensor, dataSamples: ClsDataSample[]): Record<string, tf.Tensor> {
    const clsScore = this.forward(feats);
    return this.lossFromScores(clsScore, dataSamples);
  }

  protected lossFromScores(clsScore: tf.Tensor, dataSamples: ClsDataSample[]): Record<string, tf.Tensor> {
    const target = targetsOf(dataSamples);
    const losses: Record<string, tf.Tensor> = {};
    losses.loss = this.lossModule.forward(clsScore, target, { avgFactor: clsScore.shape[0] });
    if (this.calAcc) {
      if (target.rank !== 1) {
        throw new MmclsError('If you enable batch augmentation like mixup during training, `cal_acc` is pointless.', {
          code: 'model.bad-argument',
        });
      }
      const accs = accuracy(clsScore, target, this.topk);
      this.topk.forEach((k, i) => {
        losses[`accuracy_top-${k}`] = accs[i];
      });
    }
    return losses;
  }

  /** Softmax scores and arg-max labels, written into (copies of) the data samples. */
  predict(feats: Feat[] | tf.Tensor, dataSamples?: (ClsDataSample | null)[] | null): ClsDataSample[] {
    const scores = tf.tidy(() => this.predScores(this.forward(feats)));
    try {
      return this.predictionsFromScores(scores.dataSync(), scores.shape, dataSamples ?? null);
    } finally {
      scores.dispose();
    }
  }

  /**
   * The scores `predict` reports, `[N, C]`, on the device: softmax of the logits (sigmoid for
   * multi-label heads). Reading them back is the caller's: asynchronously where the backend needs it.
   */
  predScores(clsScore: tf.Tensor): tf.Tensor2D {
    return tf.softmax(clsScore.rank === 1 ? tf.expandDims(clsScore, 0) : clsScore) as tf.Tensor2D;
  }

  /** Data samples with `pred_score` and `pred_label` from scores read back from {@link predScores}. */
  predictionsFromScores(data: ArrayLike<number>, shape: number[], dataSamples: (ClsDataSample | null)[] | null): ClsDataSample[] {
    const [n, c] = shape;
    const out: ClsDataSample[] = [];
    for (let i = 0; i < n; i++) {
      const row = scoreRow(data, i, c);
      let best = 0;
      for (let j = 1; j < c; j++) if (row[j] > row[best]) best = j;
      const s = dataSamples?.[i] ?? new ClsDataSample();
      s.set_pred_score(row).set_pred_label(best);
      out.push(s);
    }
    return out;
  }

  protected override forwardShape(x: ShapeValue, _ctx: ShapeContext): ShapeValue {
    const last = Array.isArray(x) && x.length && Array.isArray(x[0]) ? (x as ShapeValue[])[x.length - 1] : x;
    return last;
  }
}

/** Row `i` of an `[N, C]` score matrix read back from the device, as float32. */
export function scoreRow(data: ArrayLike<number>, i: number, c: number): Float32Array {
  const row = new Float32Array(c);
  for (let j = 0; j < c; j++) row[j] = data[i * c + j];
  return row;
}
