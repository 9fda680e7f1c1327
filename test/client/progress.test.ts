import { strict as assert } from 'assert';
import { LineSplitter, describeIter, formatEta, formatMetrics, parseProgressLine, percentDone } from '../../client/core/progress';

describe('client/progress: the --progress json stream', () => {
  it('splits chunks into lines, across chunk and UTF-8 boundaries', () => {
    const s = new LineSplitter();
    const bytes = Buffer.from('{"event":"start"}\nhé\r\n{"a":', 'utf8');
    // Cut inside the two-byte é.
    const cut = bytes.indexOf(0xc3) + 1;
    assert.deepEqual(s.push(bytes.subarray(0, cut)), ['{"event":"start"}']);
    assert.deepEqual(s.push(bytes.subarray(cut)), ['hé']);
    assert.deepEqual(s.push('1}\n'), ['{"a":1}']);
    assert.deepEqual(s.push('tail'), []);
    assert.deepEqual(s.flush(), ['tail']);
    assert.deepEqual(s.flush(), []);
  });

  it('parses the events the runtime writes', () => {
    const it = parseProgressLine('{"event":"iter","epoch":1,"iter":2,"max_iters":3,"loss":2.31919002532959,"lr":0.01,"eta_s":0.7}');
    assert.deepEqual(it, { event: 'iter', epoch: 1, iter: 2, max_iters: 3, loss: 2.31919002532959, lr: 0.01, eta_s: 0.7 });
    const done = parseProgressLine('{"event":"done","metrics":{"accuracy/top1":9.375},"work_dir":"/w","checkpoint":"/w/epoch_1.safetensors"}');
    assert.equal(done?.event, 'done');
    const st = parseProgressLine('{"event":"start","config":"c.py","work_dir":"/w","backend":"cpu","max_iters":30,"max_epochs":1,"resumed_from":null}');
    assert.equal(st?.event === 'start' && st.max_iters, 30);
  });

  it('turns the writer\'s "NaN" / "Infinity" strings back into numbers', () => {
    const e = parseProgressLine('{"event":"iter","epoch":1,"iter":5,"max_iters":9,"loss":"NaN","lr":0.1,"eta_s":"Infinity"}');
    assert.ok(e && e.event === 'iter');
    if (e.event !== 'iter') return;
    assert.ok(Number.isNaN(e.loss));
    assert.equal(e.eta_s, Infinity);
  });

  it('rejects what is not an event: log lines, broken JSON, unknown events, iter without numbers', () => {
    for (const l of ['2026/11/28 01:01:12 - mmengine - INFO - Epoch(train) [1][3/3]', '{"event":"iter"', '{"event":"party"}', '[1,2]', '{"event":"iter","iter":1}', '{"event":"error"}', '']) {
      assert.equal(parseProgressLine(l), null, l);
    }
  });

  it('formats ETA, iteration lines, metrics and percent', () => {
    assert.equal(formatEta(3725), '1:02:05');
    assert.equal(formatEta(0.4), '0:00:00');
    assert.equal(formatEta(NaN), '--:--');
    assert.equal(formatEta(-1), '--:--');
    assert.equal(describeIter({ epoch: 2, iter: 12, max_iters: 32, loss: 2.301234567, lr: 0.01, eta_s: 10 }), 'iter 12/32 · epoch 2 · loss 2.3012 · lr 0.01 · ETA 0:00:10');
    assert.equal(describeIter({ epoch: 1, iter: 1, max_iters: 2, loss: 0.5, lr: 0.00005, eta_s: 1 }), 'iter 1/2 · epoch 1 · loss 0.5 · lr 5.00e-5 · ETA 0:00:01');
    assert.equal(formatMetrics({ 'accuracy/top1': 81.25, 'accuracy/top5': 99.5, nested: { a: 1 } }), 'accuracy/top1: 81.25, accuracy/top5: 99.5');
    assert.equal(formatMetrics(undefined), '');
    assert.equal(percentDone(3, 12), 25);
    assert.equal(percentDone(20, 12), 100);
    assert.equal(percentDone(1, 0), 0);
  });
});
