import * as tf from '@tensorflow/tfjs-core';
import { InitCfg, Module } from '../../nn/module';
import { _BatchNorm } from '../../nn/norm';
import { Feat } from '../types';

/** MMCls's `BaseBackbone`: an image batch (NHWC) in, a tuple of feature maps out. */
export abstract class BaseBackbone extends Module {
  constructor(initCfg?: InitCfg | InitCfg[] | null) {
    super();
    this.initCfg = initCfg ?? null;
  }

  abstract forward(x: tf.Tensor): Feat[];

  /**
   * What every backbone's `train()` does after switching modes (MMCls's `train(mode)` overrides):
   * `freeze` re-applies `frozen_stages` (eval mode, no gradients), and with `normEval`
   * (`norm_eval=True`) the batch norms stay in eval mode while training.
   */
  protected trainWithFrozen(mode: boolean, freeze: (() => void) | null, normEval = false): this {
    super.train(mode);
    freeze?.();
    if (mode && normEval) {
      this.apply((m) => {
        if (m instanceof _BatchNorm) m.training = false;
      });
    }
    return this;
  }
}
