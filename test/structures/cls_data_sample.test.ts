import { strict as assert } from 'assert';
import { ClsDataSample, formatLabel } from '../../runtime/structures';
import { MmclsError } from '../../runtime/errors';

describe('structures/ClsDataSample', () => {
  it('sets gt and pred labels and scores, and meta information', () => {
    const s = new ClsDataSample({ metainfo: { img_shape: [224, 224], num_classes: 5 } });
    s.set_gt_label(3).set_pred_label([1]).set_pred_score([0.1, 0.6, 0.1, 0.1, 0.1]);
    assert.deepEqual(s.gt_label?.label, [3]);
    assert.deepEqual(s.pred_label?.label, [1]);
    assert.ok(Math.abs(s.pred_score![1] - 0.6) < 1e-7);
    assert.deepEqual(s.get('img_shape'), [224, 224]);
    assert.deepEqual(s.metainfo_keys().sort(), ['img_shape', 'num_classes']);
    s.set_gt_score([0, 0, 0, 0.5, 0.5]);
    assert.deepEqual(s.gt_label?.label, [3]);
    assert.equal(s.gt_score?.length, 5);
  });

  it('checks labels against num_classes and scores against their length', () => {
    const s = new ClsDataSample({ metainfo: { num_classes: 3 } });
    assert.throws(() => s.set_gt_label(3), (e: unknown) => e instanceof MmclsError && e.code === 'data.label-out-of-range');
    assert.throws(() => s.set_gt_label(1.5), MmclsError);
    assert.throws(() => s.set_pred_score([0.5, 0.5]), /num_classes = 3/);
    assert.deepEqual(formatLabel(new Int32Array([0, 2])), [0, 2]);
    assert.throws(() => formatLabel(-1), MmclsError);
  });

  it('survives JSON and back (what worker threads send)', () => {
    const s = new ClsDataSample({ metainfo: { img_path: 'a.jpg' } }).set_gt_label([0, 2]).set_pred_score([0.25, 0.75]);
    const t = ClsDataSample.fromJSON(JSON.parse(JSON.stringify(s.toJSON())));
    assert.deepEqual(t.gt_label?.label, [0, 2]);
    assert.deepEqual(Array.from(t.pred_score!), [0.25, 0.75]);
    assert.equal(t.get('img_path'), 'a.jpg');
  });
});
