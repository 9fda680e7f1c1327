import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../registry';
import { ReLU, Dropout } from '../../nn/activation';
import { LayerCfg, buildConvLayer } from '../../nn/builders';
import { Conv2d, Linear, Padding2d, Pair } from '../../nn/conv';
import { Layer } from '../../nn/layer';
import { InitCfg, ShapeContext, ShapeValue, asShape } from '../../nn/module';
import { BatchNorm2d } from '../../nn/norm';
import { AdaptiveAvgPool2d, AvgPool2d, MaxPool2d } from '../../nn/pooling';
import { Feat } from '../types';
import { BaseBackbone } from './base_backbone';

/** Conv (no bias) + BatchNorm (eps 0.001) + ReLU, with keys `conv`, `bn`, `relu`. */
export class BasicConv2d extends Layer {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly relu: ReLU;

  constructor(inChannels: number, outChannels: number, conv: { kernel_size: Pair; stride?: Pair; padding?: Padding2d }, convCfg: LayerCfg | null = null) {
    super();
    this.conv = this.addModule('conv', buildConvLayer(convCfg, { in_channels: inChannels, out_channels: outChannels, bias: false, ...conv }));
    this.bn = this.addModule('bn', new BatchNorm2d({ num_features: outChannels, eps: 0.001 }));
    this.relu = this.addModule('relu', new ReLU());
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.relu.forward(this.bn.forward(this.conv.forward(x)));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.relu.inferShape(this.bn.inferShape(this.conv.inferShape(x, ctx), ctx), ctx);
  }
}

/** An Inception block: named branches (each a chain of layers, or a split into parallel layers), concatenated on channels. */
abstract class InceptionBlock extends Layer {
  /** Branches in output order: each a list of steps; a step is one layer or several applied to the same input and concatenated. */
  protected abstract branches(): (Layer | Layer[])[][];

  forward(x: tf.Tensor): tf.Tensor {
    const outs = this.branches().map((steps) => {
      let y = x;
      for (const s of steps) y = Array.isArray(s) ? tf.concat(s.map((l) => l.forward(y)), 3) : s.forward(y);
      return y;
    });
    return tf.concat(outs, 3);
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const outs = this.branches().map((steps) => {
      let y = asShape(x);
      for (const s of steps) {
        if (Array.isArray(s)) {
          const parts = s.map((l) => asShape(l.inferShape(y, ctx)));
          y = [parts[0][0], parts.reduce((a, p) => a + p[1], 0), parts[0][2], parts[0][3]];
        } else {
          y = asShape(s.inferShape(y, ctx));
        }
      }
      return y;
    });
    return [outs[0][0], outs.reduce((a, p) => a + p[1], 0), outs[0][2], outs[0][3]];
  }
}

const k = (kernel_size: Pair, padding: Padding2d = 0, stride: Pair = 1): { kernel_size: Pair; stride: Pair; padding: Padding2d } => ({ kernel_size, stride, padding });

/** Type-A Inception block (35x35): 1x1, 5x5, double 3x3 and pooled branches. */
export class InceptionA extends InceptionBlock {
  constructor(inChannels: number, poolFeatures: number, convCfg: LayerCfg | null = null) {
    super();
    this.addModule('branch1x1', new BasicConv2d(inChannels, 64, k(1), convCfg));
    this.addModule('branch5x5_1', new BasicConv2d(inChannels, 48, k(1), convCfg));
    this.addModule('branch5x5_2', new BasicConv2d(48, 64, k(5, 2), convCfg));
    this.addModule('branch3x3dbl_1', new BasicConv2d(inChannels, 64, k(1), convCfg));
    this.addModule('branch3x3dbl_2', new BasicConv2d(64, 96, k(3, 1), convCfg));
    this.addModule('branch3x3dbl_3', new BasicConv2d(96, 96, k(3, 1), convCfg));
    this.addModule('branch_pool_downsample', new AvgPool2d({ kernel_size: 3, stride: 1, padding: 1 }));
    this.addModule('branch_pool', new BasicConv2d(inChannels, poolFeatures, k(1), convCfg));
  }

  protected branches(): Layer[][] {
    const m = (n: string): Layer => this.getChild(n) as Layer;
    return [
      [m('branch1x1')],
      [m('branch5x5_1'), m('branch5x5_2')],
      [m('branch3x3dbl_1'), m('branch3x3dbl_2'), m('branch3x3dbl_3')],
      [m('branch_pool_downsample'), m('branch_pool')],
    ];
  }
}

/** Type-B Inception block (35x35 to 17x17): strided 3x3, double 3x3 and max-pool branches. */
export class InceptionB extends InceptionBlock {
  constructor(inChannels: number, convCfg: LayerCfg | null = null) {
    super();
    this.addModule('branch3x3', new BasicConv2d(inChannels, 384, k(3, 0, 2), convCfg));
    this.addModule('branch3x3dbl_1', new BasicConv2d(inChannels, 64, k(1), convCfg));
    this.addModule('branch3x3dbl_2', new BasicConv2d(64, 96, k(3, 1), convCfg));
    this.addModule('branch3x3dbl_3', new BasicConv2d(96, 96, k(3, 0, 2), convCfg));
    this.addModule('branch_pool', new MaxPool2d({ kernel_size: 3, stride: 2 }));
  }

  protected branches(): Layer[][] {
    const m = (n: string): Layer => this.getChild(n) as Layer;
    return [[m('branch3x3')], [m('branch3x3dbl_1'), m('branch3x3dbl_2'), m('branch3x3dbl_3')], [m('branch_pool')]];
  }
}

/** Type-C Inception block (17x17): 1x1, factorised 7x7, double factorised 7x7 and pooled branches. */
export class InceptionC extends InceptionBlock {
  constructor(inChannels: number, channels7x7: number, convCfg: LayerCfg | null = null) {
    super();
    const c7 = channels7x7;
    this.addModule('branch1x1', new BasicConv2d(inChannels, 192, k(1), convCfg));
    this.addModule('branch7x7_1', new BasicConv2d(inChannels, c7, k(1), convCfg));
    this.addModule('branch7x7_2', new BasicConv2d(c7, c7, k([1, 7], [0, 3]), convCfg));
    this.addModule('branch7x7_3', new BasicConv2d(c7, 192, k([7, 1], [3, 0]), convCfg));
    this.addModule('branch7x7dbl_1', new BasicConv2d(inChannels, c7, k(1), convCfg));
    this.addModule('branch7x7dbl_2', new BasicConv2d(c7, c7, k([7, 1], [3, 0]), convCfg));
    this.addModule('branch7x7dbl_3', new BasicConv2d(c7, c7, k([1, 7], [0, 3]), convCfg));
    this.addModule('branch7x7dbl_4', new BasicConv2d(c7, c7, k([7, 1], [3, 0]), convCfg));
    this.addModule('branch7x7dbl_5', new BasicConv2d(c7, 192, k([1, 7], [0, 3]), convCfg));
    this.addModule('branch_pool_downsample', new AvgPool2d({ kernel_size: 3, stride: 1, padding: 1 }));
    this.addModule('branch_pool', new BasicConv2d(inChannels, 192, k(1), convCfg));
  }

  protected branches(): Layer[][] {
    const m = (n: string): Layer => this.getChild(n) as Layer;
    return [
      [m('branch1x1')],
      [m('branch7x7_1'), m('branch7x7_2'), m('branch7x7_3')],
      [m('branch7x7dbl_1'), m('branch7x7dbl_2'), m('branch7x7dbl_3'), m('branch7x7dbl_4'), m('branch7x7dbl_5')],
      [m('branch_pool_downsample'), m('branch_pool')],
    ];
  }
}

/** Type-D Inception block (17x17 to 8x8): 3x3 and 7x7-then-3x3 strided branches, max pool. */
export class InceptionD extends InceptionBlock {
  constructor(inChannels: number, convCfg: LayerCfg | null = null) {
    super();
    this.addModule('branch3x3_1', new BasicConv2d(inChannels, 192, k(1), convCfg));
    this.addModule('branch3x3_2', new BasicConv2d(192, 320, k(3, 0, 2), convCfg));
    this.addModule('branch7x7x3_1', new BasicConv2d(inChannels, 192, k(1), convCfg));
    this.addModule('branch7x7x3_2', new BasicConv2d(192, 192, k([1, 7], [0, 3]), convCfg));
    this.addModule('branch7x7x3_3', new BasicConv2d(192, 192, k([7, 1], [3, 0]), convCfg));
    this.addModule('branch7x7x3_4', new BasicConv2d(192, 192, k(3, 0, 2), convCfg));
    this.addModule('branch_pool', new MaxPool2d({ kernel_size: 3, stride: 2 }));
  }

  protected branches(): Layer[][] {
    const m = (n: string): Layer => this.getChild(n) as Layer;
    return [
      [m('branch3x3_1'), m('branch3x3_2')],
      [m('branch7x7x3_1'), m('branch7x7x3_2'), m('branch7x7x3_3'), m('branch7x7x3_4')],
      [m('branch_pool')],
    ];
  }
}

/** Type-E Inception block (8x8): 1x1, split 3x3 (1x3 | 3x1), double split 3x3 and pooled branches. */
export class InceptionE extends InceptionBlock {
  constructor(inChannels: number, convCfg: LayerCfg | null = null) {
    super();
    this.addModule('branch1x1', new BasicConv2d(inChannels, 320, k(1), convCfg));
    this.addModule('branch3x3_1', new BasicConv2d(inChannels, 384, k(1), convCfg));
    this.addModule('branch3x3_2a', new BasicConv2d(384, 384, k([1, 3], [0, 1]), convCfg));
    this.addModule('branch3x3_2b', new BasicConv2d(384, 384, k([3, 1], [1, 0]), convCfg));
    this.addModule('branch3x3dbl_1', new BasicConv2d(inChannels, 448, k(1), convCfg));
    this.addModule('branch3x3dbl_2', new BasicConv2d(448, 384, k(3, 1), convCfg));
    this.addModule('branch3x3dbl_3a', new BasicConv2d(384, 384, k([1, 3], [0, 1]), convCfg));
    this.addModule('branch3x3dbl_3b', new BasicConv2d(384, 384, k([3, 1], [1, 0]), convCfg));
    this.addModule('branch_pool_downsample', new AvgPool2d({ kernel_size: 3, stride: 1, padding: 1 }));
    this.addModule('branch_pool', new BasicConv2d(inChannels, 192, k(1), convCfg));
  }

  protected branches(): (Layer | Layer[])[][] {
    const m = (n: string): Layer => this.getChild(n) as Layer;
    return [
      [m('branch1x1')],
      [m('branch3x3_1'), [m('branch3x3_2a'), m('branch3x3_2b')]],
      [m('branch3x3dbl_1'), m('branch3x3dbl_2'), [m('branch3x3dbl_3a'), m('branch3x3dbl_3b')]],
      [m('branch_pool_downsample'), m('branch_pool')],
    ];
  }
}

/** The auxiliary classifier on the 17x17 map: 5x5/3 average pool, 1x1 and 5x5 convs, global pool, fc. */
export class InceptionAux extends Layer {
  readonly downsample: AvgPool2d;
  readonly conv0: BasicConv2d;
  readonly conv1: BasicConv2d;
  readonly gap: AdaptiveAvgPool2d;
  readonly fc: Linear;

  constructor(inChannels: number, numClasses: number, convCfg: LayerCfg | null = null, initCfg: InitCfg | InitCfg[] | null = [
    { type: 'TruncNormal', layer: 'Conv2d', std: 0.01 },
    { type: 'TruncNormal', layer: 'Linear', std: 0.001 },
  ]) {
    super();
    this.initCfg = initCfg;
    this.downsample = this.addModule('downsample', new AvgPool2d({ kernel_size: 5, stride: 3 }));
    this.conv0 = this.addModule('conv0', new BasicConv2d(inChannels, 128, k(1), convCfg));
    this.conv1 = this.addModule('conv1', new BasicConv2d(128, 768, k(5), convCfg));
    this.gap = this.addModule('gap', new AdaptiveAvgPool2d({ output_size: 1 }));
    this.fc = this.addModule('fc', new Linear({ in_features: 768, out_features: numClasses }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = this.gap.forward(this.conv1.forward(this.conv0.forward(this.downsample.forward(x))));
    return this.fc.forward(tf.reshape(y, [y.shape[0], -1]));
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    const y = asShape(this.gap.inferShape(this.conv1.inferShape(this.conv0.inferShape(this.downsample.inferShape(x, ctx), ctx), ctx), ctx));
    return this.fc.inferShape([y[0], y[1] * y[2] * y[3]], ctx);
  }
}

/** Options of {@link InceptionV3}. */
export interface InceptionV3Options {
  /** Number of classes of the classifier inside the backbone. @default 1000 */
  num_classes?: number;
  /** Build the auxiliary classifier (its logits are returned in training mode only; None otherwise). @default False */
  aux_logits?: boolean;
  /** Dropout rate before the classifier. @default 0.5 */
  dropout?: number;
  /** Initialisation config. @default [dict(type='TruncNormal', layer=['Conv2d', 'Linear'], std=0.1), dict(type='Constant', layer='BatchNorm2d', val=1)] */
  init_cfg?: InitCfg | InitCfg[] | null;
}

/**
 * Inception V3 backbone (Rethinking the Inception Architecture for Computer Vision). It holds its
 * own classifier and returns `(aux_logits, logits)`: `aux_logits` is None unless `aux_logits=True`
 * and the model is training; pair it with a `ClsHead`, which passes the logits through.
 */
@MODELS.registerModule()
export class InceptionV3 extends BaseBackbone {
  readonly auxLogits: boolean;
  readonly AuxLogits: InceptionAux | null;
  private readonly trunk: Layer[] = [];
  private readonly tail: Layer[] = [];
  readonly avgpool: AdaptiveAvgPool2d;
  readonly dropout: Dropout;
  readonly fc: Linear;

  constructor(options: InceptionV3Options = {}) {
    super(options.init_cfg === undefined
      ? [{ type: 'TruncNormal', layer: ['Conv2d', 'Linear'], std: 0.1 }, { type: 'Constant', layer: 'BatchNorm2d', val: 1 }]
      : options.init_cfg);
    const numClasses = options.num_classes ?? 1000;
    this.auxLogits = options.aux_logits ?? false;
    const add = <L extends Layer>(list: Layer[], name: string, l: L): L => {
      list.push(this.addModule(name, l));
      return l;
    };
    add(this.trunk, 'Conv2d_1a_3x3', new BasicConv2d(3, 32, k(3, 0, 2)));
    add(this.trunk, 'Conv2d_2a_3x3', new BasicConv2d(32, 32, k(3)));
    add(this.trunk, 'Conv2d_2b_3x3', new BasicConv2d(32, 64, k(3, 1)));
    add(this.trunk, 'maxpool1', new MaxPool2d({ kernel_size: 3, stride: 2 }));
    add(this.trunk, 'Conv2d_3b_1x1', new BasicConv2d(64, 80, k(1)));
    add(this.trunk, 'Conv2d_4a_3x3', new BasicConv2d(80, 192, k(3)));
    add(this.trunk, 'maxpool2', new MaxPool2d({ kernel_size: 3, stride: 2 }));
    add(this.trunk, 'Mixed_5b', new InceptionA(192, 32));
    add(this.trunk, 'Mixed_5c', new InceptionA(256, 64));
    add(this.trunk, 'Mixed_5d', new InceptionA(288, 64));
    add(this.trunk, 'Mixed_6a', new InceptionB(288));
    add(this.trunk, 'Mixed_6b', new InceptionC(768, 128));
    add(this.trunk, 'Mixed_6c', new InceptionC(768, 160));
    add(this.trunk, 'Mixed_6d', new InceptionC(768, 160));
    add(this.trunk, 'Mixed_6e', new InceptionC(768, 192));
    this.AuxLogits = this.auxLogits ? this.addModule('AuxLogits', new InceptionAux(768, numClasses)) : null;
    add(this.tail, 'Mixed_7a', new InceptionD(768));
    add(this.tail, 'Mixed_7b', new InceptionE(1280));
    add(this.tail, 'Mixed_7c', new InceptionE(2048));
    this.avgpool = this.addModule('avgpool', new AdaptiveAvgPool2d({ output_size: 1 }));
    this.dropout = this.addModule('dropout', new Dropout({ p: options.dropout ?? 0.5 }));
    this.fc = this.addModule('fc', new Linear({ in_features: 2048, out_features: numClasses }));
  }

  forward(x: tf.Tensor): Feat[] {
    for (const l of this.trunk) x = l.forward(x);
    const aux = this.AuxLogits && this.training ? this.AuxLogits.forward(x) : null;
    for (const l of this.tail) x = l.forward(x);
    x = this.dropout.forward(this.avgpool.forward(x));
    return [aux, this.fc.forward(tf.reshape(x, [x.shape[0], -1]))];
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    for (const l of this.trunk) x = l.inferShape(x, ctx);
    const aux = this.AuxLogits && this.training ? this.AuxLogits.inferShape(x, ctx) : null;
    for (const l of this.tail) x = l.inferShape(x, ctx);
    const y = asShape(this.dropout.inferShape(this.avgpool.inferShape(x, ctx), ctx));
    return [aux, this.fc.inferShape([y[0], y[1] * y[2] * y[3]], ctx)];
  }
}
