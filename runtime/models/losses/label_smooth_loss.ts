import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { MODELS } from '../../registry';
import { CrossEntropyLoss } from './cross_entropy_loss';
import { LossCallOptions, LossModule, Reduction, checkReduction, convertToOneHot } from './utils';

/** Options of {@link LabelSmoothLoss}. */
export interface LabelSmoothLossOptions {
  /** Smoothing value in [0, 1). */
  label_smooth_val: number;
  /** Number of classes (None: taken from the scores). @default None */
  num_classes?: number | null;
  /** Use sigmoid (None: False, except True in 'multi_label' mode). @default None */
  use_sigmoid?: boolean | null;
  /** 'original', 'classy_vision' or 'multi_label'. @default 'original' */
  mode?: 'original' | 'classy_vision' | 'multi_label';
  /** How to reduce the per-sample losses. @default 'mean' */
  reduction?: Reduction;
  /** Multiplier of the loss. @default 1.0 */
  loss_weight?: number;
  /** Weight of each class. @default None */
  class_weight?: number[] | null;
  /** Weight of positive examples of each class (sigmoid only). @default None */
  pos_weight?: number[] | null;
}

/** Cross-entropy with smoothed labels (original, ClassyVision or multi-label smoothing). */
@MODELS.registerModule()
export class LabelSmoothLoss extends LossModule {
  readonly labelSmoothVal: number;
  numClasses: number | null;
  readonly mode: 'original' | 'classy_vision' | 'multi_label';
  readonly eps: number;
  readonly lossWeight: number;
  readonly ce: CrossEntropyLoss;

  constructor(options: LabelSmoothLossOptions) {
    super();
    const v = options.label_smooth_val;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) {
      throw new MmclsError(`LabelSmoothLoss: label_smooth_val must be in [0, 1), got ${JSON.stringify(v)}`, { code: 'model.bad-argument' });
    }
    this.labelSmoothVal = v;
    this.numClasses = options.num_classes ?? null;
    this.lossWeight = options.loss_weight ?? 1.0;
    const mode = options.mode ?? 'original';
    if (!['original', 'classy_vision', 'multi_label'].includes(mode)) {
      throw new MmclsError(`LabelSmoothLoss: mode must be one of 'original', 'classy_vision', 'multi_label', got ${JSON.stringify(mode)}`, {
        code: 'model.bad-argument',
      });
    }
    this.mode = mode;
    const reduction = checkReduction(options.reduction ?? 'mean', 'LabelSmoothLoss');
    this.eps = mode === 'classy_vision' ? v / (1 + v) : v;
    let useSigmoid = options.use_sigmoid ?? null;
    if (mode === 'multi_label') {
      if (useSigmoid === false) {
        throw new MmclsError("LabelSmoothLoss: mode 'multi_label' needs use_sigmoid=True", { code: 'model.bad-argument' });
      }
      useSigmoid = true;
    } else {
      useSigmoid = useSigmoid ?? false;
    }
    // A child module as in MMCls (`head.loss_module.ce` in named_modules and the FLOPs table).
    this.ce = this.addModule('ce', new CrossEntropyLoss({
      use_sigmoid: useSigmoid,
      use_soft: !useSigmoid,
      reduction,
      class_weight: options.class_weight ?? null,
      pos_weight: options.pos_weight ?? null,
    }));
  }

  /** Class indices become one-hot; [N, C] targets pass through. */
  generateOneHotLikeLabel(label: tf.Tensor): tf.Tensor {
    if (label.rank === 1 || (label.rank === 2 && label.shape[1] === 1)) return convertToOneHot(label, this.numClasses!);
    return tf.cast(label, 'float32');
  }

  smoothLabel(oneHot: tf.Tensor): tf.Tensor {
    if (this.mode === 'multi_label') {
      return tf.where(tf.greater(oneHot, 0), tf.fill(oneHot.shape, 1 - this.eps), tf.fill(oneHot.shape, this.eps));
    }
    return tf.add(tf.mul(oneHot, 1 - this.eps), this.eps / this.numClasses!);
  }

  forward(clsScore: tf.Tensor, label: tf.Tensor, options: LossCallOptions = {}): tf.Tensor {
    const c = clsScore.shape[1];
    if (this.numClasses !== null) {
      if (this.numClasses !== c) {
        throw new MmclsError(`LabelSmoothLoss: num_classes is ${this.numClasses} but the scores have ${c} classes`, { code: 'model.shape' });
      }
    } else {
      this.numClasses = c ?? null;
    }
    const oneHot = this.generateOneHotLikeLabel(label);
    if (oneHot.shape.join() !== clsScore.shape.join()) {
      throw new MmclsError(`LabelSmoothLoss: label shape [${oneHot.shape}] does not match scores [${clsScore.shape}]`, { code: 'model.shape' });
    }
    return tf.mul(this.ce.forward(clsScore, this.smoothLabel(oneHot), options), this.lossWeight);
  }
}
