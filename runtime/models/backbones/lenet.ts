import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../registry';
import { Tanh } from '../../nn/activation';
import { Conv2d, Linear } from '../../nn/conv';
import { Sequential } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { AvgPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/** Options of {@link LeNet5}. */
export interface LeNet5Options {
  /** Number of classes of the built-in classifier; -1 or less leaves it out. @default -1 */
  num_classes?: number;
  /** Initialisation config. @default None */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/** LeNet-5 (Gradient-Based Learning Applied to Document Recognition) for 1x32x32 inputs. */
@MODELS.registerModule()
export class LeNet5 extends BaseBackbone {
  readonly numClasses: number;
  readonly features: Sequential;
  readonly classifier: Sequential | null;

  constructor(options: LeNet5Options = {}) {
    super(options.init_cfg ?? null);
    this.numClasses = options.num_classes ?? -1;
    this.features = this.addModule(
      'features',
      new Sequential(
        new Conv2d({ in_channels: 1, out_channels: 6, kernel_size: 5, stride: 1 }),
        new Tanh(),
        new AvgPool2d({ kernel_size: 2 }),
        new Conv2d({ in_channels: 6, out_channels: 16, kernel_size: 5, stride: 1 }),
        new Tanh(),
        new AvgPool2d({ kernel_size: 2 }),
        new Conv2d({ in_channels: 16, out_channels: 120, kernel_size: 5, stride: 1 }),
        new Tanh(),
      ),
    );
    this.classifier =
      this.numClasses > 0
        ? this.addModule('classifier', new Sequential(new Linear({ in_features: 120, out_features: 84 }), new Tanh(), new Linear({ in_features: 84, out_features: this.numClasses })))
        : null;
  }

  forward(x: tf.Tensor): Feat[] {
    let y = this.features.forward(x);
    if (this.classifier) {
      // MMCls calls x.squeeze(): every size-1 axis goes, the batch axis too when the batch is 1.
      y = this.classifier.forward(tf.squeeze(y));
    }
    return [y];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    let y = asShape(this.features.inferShape(x, ctx));
    if (this.classifier) y = asShape(this.classifier.inferShape(y.filter((d) => d !== 1), ctx));
    return [y];
  }
}
