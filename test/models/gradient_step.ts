import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier } from '../../runtime/models';
import { ClsDataSample } from '../../runtime/structures';
import { seq } from '../nn/helpers';

/** Every trainable parameter of a classifier gets a finite, non-zero gradient from one loss. */
export function checkGradients(backbone: Record<string, unknown>, neck: Record<string, unknown> | null, inCh: number, size: number): void {
  const m = MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone,
    ...(neck ? { neck } : {}),
    head: { type: 'LinearClsHead', num_classes: 5, in_channels: inCh },
  });
  m.initWeights();
  m.train();
  const x = tf.tensor4d(seq(2 * size * size * 3, 7), [2, size, size, 3]);
  const samples = [0, 3].map((l) => new ClsDataSample().set_gt_label(l));
  const vars = m.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.addN(Object.values(m.loss(x, samples))) as tf.Scalar, vars);
  assert.ok(Number.isFinite(value.dataSync()[0]));
  assert.equal(Object.keys(grads).length, vars.length);
  const names = new Map(m.namedParameters().map(([n, p]) => [p.variable.name, n]));
  for (const [v, g] of Object.entries(grads)) {
    const d = g.dataSync();
    assert.ok(d.every((e) => Number.isFinite(e)), `non-finite gradient of ${names.get(v)}`);
    assert.ok(d.some((e) => e !== 0), `zero gradient of ${names.get(v)}`);
  }
  tf.dispose([x, value, ...Object.values(grads)]);
  m.dispose();
}
