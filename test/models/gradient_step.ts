import { strict as assert } from 'assert';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier } from '../../runtime/models';
import { trainStepGradients } from './reference_ops';

/** Every trainable parameter of a classifier gets a finite, non-zero gradient from one loss. */
export function checkGradients(backbone: Record<string, unknown>, neck: Record<string, unknown> | null, inCh: number, size: number): void {
  const m = MODELS.build<ImageClassifier>({
    type: 'ImageClassifier',
    backbone,
    ...(neck ? { neck } : {}),
    head: { type: 'LinearClsHead', num_classes: 5, in_channels: inCh },
  });
  try {
    const g = trainStepGradients(m, size);
    assert.equal(g.count, m.trainableVariables().length);
    assert.deepEqual(g.nonFinite, [], 'non-finite loss or gradients');
    assert.deepEqual(g.zero, [], 'zero gradients');
  } finally {
    m.dispose();
  }
}
