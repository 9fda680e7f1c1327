import * as tf from '@tensorflow/tfjs-core';
import { Module, ShapeContext, ShapeValue } from './module';

/** A module with one tensor in and one tensor out (NHWC for images, [N, L, C] for tokens). */
export abstract class Layer extends Module {
  abstract forward(x: tf.Tensor): tf.Tensor;

  /** Shape pass for a single-tensor layer: `outputShape` plus its cost. */
  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    return this.shapeOf(x as number[], ctx);
  }

  /** PyTorch-layout (NCHW / [N, L, C]) output shape of this layer for input `x`, counting its cost into ctx. */
  protected shapeOf(x: number[], _ctx: ShapeContext): number[] {
    return x;
  }
}

/** `nn.Identity`. */
export class Identity extends Layer {
  forward(x: tf.Tensor): tf.Tensor {
    return x;
  }
}

/** `nn.Sequential`: children named `0`, `1`, ... (or given names), applied in order. */
export class Sequential extends Layer {
  private readonly layers: Layer[] = [];

  constructor(...layers: (Layer | [string, Layer])[]) {
    super();
    layers.forEach((l, i) => {
      if (Array.isArray(l)) this.layers.push(this.addModule(l[0], l[1]));
      else this.layers.push(this.addModule(String(i), l));
    });
  }

  /** Appends a layer named by its index. */
  append(l: Layer): this {
    this.layers.push(this.addModule(String(this.layers.length), l));
    return this;
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Layer {
    return this.layers[i < 0 ? this.layers.length + i : i];
  }

  items(): Layer[] {
    return [...this.layers];
  }

  forward(x: tf.Tensor): tf.Tensor {
    for (const l of this.layers) x = l.forward(x);
    return x;
  }

  protected override forwardShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    for (const l of this.layers) x = l.inferShape(x, ctx);
    return x;
  }
}

/** `nn.ModuleList`: children named `0`, `1`, ...; the owner decides how to call them. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(items: M[] = []) {
    super();
    for (const m of items) this.push(m);
  }

  push(m: M): this {
    this.items.push(this.addModule(String(this.items.length), m));
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    return this.items[i < 0 ? this.items.length + i : i];
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  toArray(): M[] {
    return [...this.items];
  }
}
