import { strict as assert } from 'assert';
import { formatTimedelta, HistoryBuffer, LogProcessor, MessageHub, pyExp, pyFixed } from '../../../runtime/engine/logging';
import { SeededRandom, restoreNativeRandom, setRandomSeed, getRandomState, setRandomState } from '../../../runtime/engine/runner_random';

describe('engine logging and randomness', () => {
  it('HistoryBuffer: window means, global mean, state round trip', () => {
    const b = new HistoryBuffer();
    for (const v of [1, 2, 3, 4, 5]) b.update(v);
    assert.equal(b.mean(2), 4.5);
    assert.equal(b.mean(10), 3);
    assert.equal(b.current(), 5);
    assert.equal(b.globalMean(), 3);
    const c = HistoryBuffer.fromState(JSON.parse(JSON.stringify(b.stateDict())));
    assert.equal(c.mean(3), 4);
  });

  it("log lines in MMEngine's format", () => {
    const hub = new MessageHub();
    hub.updateScalar('train/lr', 0.01);
    // 12 losses: the window (10) averages the last ten, 3..12 → mean 7.5.
    for (let i = 1; i <= 12; i++) {
      hub.updateScalar('train/time', 0.031);
      hub.updateScalar('train/data_time', 0.003);
      hub.updateScalar('train/loss', i);
    }
    hub.updateInfo('eta', 310.9);
    const lp = new LogProcessor({ window_size: 10 });
    const { tag, log } = lp.getLogAfterIter({ messageHub: hub, epoch: 0, iter: 9, maxIters: 469 * 5, dataloaderLength: 469 }, 9, 'train');
    assert.equal(log, 'Epoch(train) [1][ 10/469]  lr: 1.0000e-02  eta: 0:05:10  time: 0.0310  data_time: 0.0030  loss: 7.5000');
    assert.deepEqual(Object.keys(tag), ['lr', 'data_time', 'loss', 'time']);
    const it = new LogProcessor({ by_epoch: false }).getLogAfterIter({ messageHub: hub, epoch: 0, iter: 99, maxIters: 1000, dataloaderLength: 469 }, 99, 'train');
    assert.match(it.log, /^Iter\(train\) \[ 100\/1000\]  lr: 1\.0000e-02/);
    const v = lp.getLogAfterEpoch({ messageHub: hub, epoch: 3, iter: 0, maxIters: 1, dataloaderLength: 79 }, { 'accuracy/top1': 85.94 }, 'val');
    assert.equal(v.log, 'Epoch(val) [3][79/79]  accuracy/top1: 85.9400');
  });

  it('number formats: Python %e exponents and timedelta', () => {
    assert.equal(pyExp(0.01, 4), '1.0000e-02');
    assert.equal(pyExp(1.5e-10, 4), '1.5000e-10');
    assert.equal(pyExp(2, 4), '2.0000e+00');
    assert.equal(formatTimedelta(310.9), '0:05:10');
    // Python: f'{19.53125:.4f}' == '19.5312' (exact tie, half to even); f'{19.53135:.4f}' == '19.5313'.
    assert.equal(pyFixed(19.53125, 4), '19.5312');
    assert.equal(pyFixed(19.53175, 4), '19.5317');
    assert.equal(pyFixed(0.00015, 4), '0.0001');
    assert.equal(pyFixed(2.5, 0), '2');
    assert.equal(pyFixed(3.5, 0), '4');
    assert.equal(pyFixed(78.3, 4), '78.3000');
    assert.equal(formatTimedelta(3 * 86400 + 3661), '3 days, 1:01:01');
  });

  it('seeded Math.random: same seed same stream; the saved state continues the stream', () => {
    try {
      setRandomSeed(42);
      const a = [Math.random(), Math.random()];
      const state = getRandomState();
      const next = [Math.random(), Math.random()];
      setRandomSeed(42);
      assert.deepEqual([Math.random(), Math.random()], a);
      setRandomSeed(7);
      assert.ok(setRandomState(state));
      assert.deepEqual([Math.random(), Math.random()], next);
      const g = new SeededRandom(1);
      for (let i = 0; i < 1000; i++) {
        const x = g.random();
        assert.ok(x >= 0 && x < 1);
      }
    } finally {
      restoreNativeRandom();
    }
  });
});
