import { strict as assert } from 'assert';
import * as path from 'path';
import { JobTracker } from '../../client/core/jobs';
import { runCommand, startRun } from '../../client/runner';

const FAKE = path.join(__dirname, '..', 'fixtures', 'client', 'fake-cli.js');

describe('client/runner: train/test child processes', function () {
  this.timeout(20_000);

  it('applies the JSON events to the tracker and sends the other lines to the log', async () => {
    const tr = new JobTracker();
    const log: string[] = [];
    const events: string[] = [];
    const h = startRun(tr, 'train', '/c.py', '/wd0', { command: process.execPath, args: [FAKE, '4'], env: {} }, process.cwd(), { appendLine: (s) => log.push(s) }, (e) => events.push(e.event));
    const r = await h.done;
    assert.equal(r.code, 0);
    assert.deepEqual(events, ['start', 'iter', 'iter', 'iter', 'iter', 'done']);
    const j = tr.get(h.id)!;
    assert.equal(j.state, 'succeeded');
    assert.equal(j.iter, 4);
    assert.equal(j.loss, 2.5 - 0.4);
    assert.equal(j.workDir, '/wd');
    assert.deepEqual(j.metrics, { 'accuracy/top1': 62.5 });
    assert.ok(log.some((l) => l.endsWith('a stray line')));
    assert.ok(log.some((l) => l.includes('log line on stderr')));
    assert.ok(!log.some((l) => l.includes('"event"')), 'events are not echoed as raw JSON');
  });

  it('stop() sends SIGINT: the run saves a checkpoint and ends as stopped', async () => {
    const tr = new JobTracker();
    let h: ReturnType<typeof startRun> | undefined = undefined;
    h = startRun(tr, 'train', '/c.py', '/wd', { command: process.execPath, args: [FAKE, '1000'], env: {} }, process.cwd(), { appendLine: () => undefined }, (e) => {
      if (e.event === 'iter' && e.iter === 2) h!.stop();
    });
    const r = await h.done;
    assert.equal(r.code, 130);
    const j = tr.get(h.id)!;
    assert.equal(j.state, 'stopped');
    assert.match(j.checkpoint ?? '', /iter_\d+\.safetensors$/);
    assert.equal(j.resumeCommand, 'mmcls train c.py --resume');
  });

  it('an error event and a non-zero exit make a failed run; a missing executable too', async () => {
    const tr = new JobTracker();
    const h = startRun(tr, 'test', '/c.py', '/wd', { command: process.execPath, args: [FAKE, '1', 'fail'], env: {} }, process.cwd(), { appendLine: () => undefined });
    await h.done;
    assert.equal(tr.get(h.id)!.state, 'failed');
    assert.equal(tr.get(h.id)!.error?.line, 3);
    const h2 = startRun(tr, 'train', '/c.py', '/wd', { command: '/nonexistent/node', args: [], env: {} }, process.cwd(), { appendLine: () => undefined });
    await h2.done;
    assert.equal(tr.get(h2.id)!.state, 'failed');
    assert.match(tr.get(h2.id)!.error?.message ?? '', /could not start/);
  });

  it('runCommand collects the output of a one-shot command', async () => {
    const r = await runCommand({ command: process.execPath, args: ['-e', 'console.log("x".repeat(3)); console.error("e")'], env: { A: '1' } }, process.cwd());
    assert.deepEqual(r, { code: 0, stdout: 'xxx\n', stderr: 'e\n' });
  });
});
