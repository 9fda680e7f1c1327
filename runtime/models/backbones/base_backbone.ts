import * as tf from '@tensorflow/tfjs-core';
import { InitCfg, Module } from '../../nn/module';
import { Feat } from '../types';

/** MMCls's `BaseBackbone`: an image batch (NHWC) in, a tuple of feature maps out. */
export abstract class BaseBackbone extends Module {
  constructor(initCfg?: InitCfg | InitCfg[] | null) {
    super();
    this.initCfg = initCfg ?? null;
  }

  abstract forward(x: tf.Tensor): Feat[];
}
