import { strict as assert } from 'assert';
import { JobTracker, jobLabel, jobSummary, statusBarText } from '../../client/core/jobs';

describe('client/jobs: several runs tracked at once', () => {
  let t = 1000;
  const tracker = () => new JobTracker(() => t++);

  it('follows a run from start to done', () => {
    const tr = tracker();
    const seen: string[] = [];
    tr.onChange((j) => seen.push(`${j.id}:${j.state}`));
    const j = tr.start('train', '/w/configs/lenet/lenet5.py', '/w/work_dirs/lenet5');
    assert.equal(jobLabel(j), 'train lenet5');
    assert.equal(jobSummary(j), 'starting…');
    tr.apply(j.id, { event: 'start', config: 'c', work_dir: '/w/other', backend: 'wasm', max_iters: 8 });
    assert.equal(j.workDir, '/w/other');
    tr.apply(j.id, { event: 'iter', epoch: 1, iter: 2, max_iters: 8, loss: 2.25, lr: 0.01, eta_s: 6 });
    assert.equal(jobSummary(j), 'iter 2/8 · epoch 1 · loss 2.25 · lr 0.01 · ETA 0:00:06');
    assert.equal(statusBarText(tr.active()), '$(sync~spin) train lenet5 25% ETA 0:00:06');
    tr.apply(j.id, { event: 'checkpoint', path: '/w/other/epoch_1.safetensors', epoch: 1, iter: 8 });
    tr.apply(j.id, { event: 'val', epoch: 1, iter: 8, metrics: { 'accuracy/top1': 50 } });
    tr.apply(j.id, { event: 'done', metrics: { 'accuracy/top1': 62.5 }, work_dir: '/w/other', checkpoint: '/w/other/epoch_1.safetensors' });
    tr.exited(j.id, 0, null);
    assert.equal(j.state, 'succeeded');
    assert.equal(jobSummary(j), 'finished: accuracy/top1: 62.5');
    assert.equal(statusBarText(tr.active()), undefined);
    assert.deepEqual(seen[0], '1:running');
    assert.equal(seen[seen.length - 1], '1:succeeded');
  });

  it('a stop request ends as stopped (with its checkpoint), a crash as failed, an error event as failed', () => {
    const tr = tracker();
    const a = tr.start('train', '/a.py', '/wa');
    const b = tr.start('train', '/b.py', '/wb');
    const c = tr.start('test', '/c.py', '/wc');
    assert.equal(statusBarText(tr.active()), '$(sync~spin) 3 mmcls runs');
    assert.deepEqual(tr.activeFor('/a.py').map((j) => j.id), [a.id]);
    tr.requestStop(a.id);
    assert.equal(a.state, 'stopping');
    tr.apply(a.id, { event: 'interrupted', signal: 'SIGINT', checkpoint: '/wa/iter_3.safetensors', resume_command: 'mmcls train /a.py --resume' });
    tr.exited(a.id, 130, null);
    assert.equal(a.state, 'stopped');
    assert.equal(jobSummary(a), 'stopped; checkpoint iter_3.safetensors');
    tr.exited(b.id, null, 'SIGKILL');
    assert.equal(b.state, 'failed');
    assert.equal(jobSummary(b), 'failed (exit SIGKILL)');
    tr.apply(c.id, { event: 'error', message: 'unknown type ResNett', code: 'registry.unknown-type', file: '/c.py', line: 3, column: 5 });
    tr.exited(c.id, 1, null);
    assert.equal(c.state, 'failed');
    assert.equal(jobSummary(c), 'failed: unknown type ResNett');
    assert.equal(tr.active().length, 0);
    assert.equal(tr.requestStop(a.id), undefined, 'a finished run cannot be stopped');
  });

  it('exit 0 after an error event is still a failure; SIGTERM without a request is a stop', () => {
    const tr = tracker();
    const a = tr.start('train', '/a.py', '/wa');
    tr.apply(a.id, { event: 'error', message: 'boom' });
    tr.exited(a.id, 0, null);
    assert.equal(a.state, 'failed');
    const b = tr.start('train', '/b.py', '/wb');
    tr.exited(b.id, 143, null);
    assert.equal(b.state, 'stopped');
  });

  it('events for unknown runs are ignored; prune keeps the newest finished runs', () => {
    const tr = tracker();
    assert.equal(tr.apply(99, { event: 'error', message: 'x' }), undefined);
    for (let i = 0; i < 5; i++) tr.exited(tr.start('train', `/c${i}.py`, '/w').id, 0, null);
    const running = tr.start('train', '/r.py', '/w');
    tr.prune(2);
    assert.deepEqual(tr.all().map((j) => j.config), ['/c3.py', '/c4.py', '/r.py']);
    assert.equal(running.state, 'running');
  });
});
