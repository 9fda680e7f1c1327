import * as tf from '@tensorflow/tfjs-core';
import { Module, ShapeContext, ShapeValue } from '../nn/module';

/** What backbones and necks pass on: a tensor, `None`, or a (nested) tuple of them (MMCls returns tuples). */
export type Feat = tf.Tensor | null | Feat[];

/** A backbone or neck: a tuple of feature maps (NHWC) in, a tuple out. */
export abstract class FeatModule extends Module {
  abstract forward(x: Feat[] | tf.Tensor): Feat[];
}

/** Narrows a feature to one tensor. */
export function asTensor(f: Feat, who: string): tf.Tensor {
  if (f === null || Array.isArray(f)) throw new Error(`${who}: expected a tensor, got ${f === null ? 'None' : 'a tuple'}`);
  return f;
}

/** The shape pass of a module, typed as the models use it. */
export function shapeOf(m: Module, x: ShapeValue, ctx: ShapeContext): ShapeValue {
  return m.inferShape(x, ctx);
}
