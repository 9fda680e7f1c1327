import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  CheckpointData,
  METADATA_KEY,
  StateObject,
  TensorData,
  convertCheckpoint,
  layoutSafetensors,
  parseSafetensors,
  readCheckpoint,
  writeCheckpoint,
} from '../../../runtime/engine/checkpoint';
import { MmclsError } from '../../../runtime/errors';
import { FIX, assertTensor, expected } from './expected';
// The fs module object itself (not an import namespace), so that a test can replace writeSync.
import nodeFs = require('fs');

const ROOT = path.join(__dirname, '..', '..', '..');

function sample(): CheckpointData {
  const w: TensorData = { dtype: 'F32', shape: [2, 3, 1, 1], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
  return {
    stateDict: new Map<string, TensorData>([
      ['backbone.conv1.weight', w],
      ['backbone.bn1.num_batches_tracked', { dtype: 'I64', shape: [], data: new BigInt64Array([9n]) }],
      ['head.fc.bias', { dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xc000]) }],
    ]),
    meta: { epoch: 4, iter: 400, seed: 1234, time: '20261127_120000', mmcls_version: '1.0.0' },
    optimizer: {
      state: { 0: { momentum_buffer: { dtype: 'F32', shape: [2, 3, 1, 1], data: new Float32Array([0.5, 0.5, 0.5, 0.25, 0.25, 0.25]) }, step: 3 } },
      param_groups: [{ lr: 0.01, momentum: 0.9, params: [0] }],
    },
    schedulers: [{ last_epoch: 4, base_lrs: [0.1], _get_lr_called_within_step: false }],
    config: "model = dict(type='ImageClassifier')\n",
    classes: ['cat', 'dog'],
    extra: {
      rng: { seedrandom: { i: 12, j: 200, S: [1, 2, 3] }, big: 2n ** 80n, nan: NaN, bytes: new Uint8Array([0, 255]) },
      // An object that happens to look like one of the JSON markers must read back as itself.
      tricky: { __tensor__: 'not a tensor', __int__: 1 },
      ema: { 'backbone.conv1.weight': { dtype: 'F64', shape: [1], data: new Float64Array([Math.PI]) } },
    },
  };
}

describe('engine/checkpoint: our checkpoints', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-ckpt-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('round-trips weights, meta, optimizer and scheduler state, config, classes and extra state', async () => {
    const f = path.join(tmp, 'epoch_4.safetensors');
    const data = sample();
    await writeCheckpoint(f, data);
    const c = await readCheckpoint(f);
    assert.equal(c.format, 'safetensors');
    assert.deepEqual([...c.stateDict.keys()], [...(data.stateDict as Map<string, TensorData>).keys()], 'state dict order kept');
    for (const [k, t] of data.stateDict as Map<string, TensorData>) assert.deepEqual(c.stateDict.get(k), t, k);
    assert.deepEqual(c.meta, { ...data.meta, cfg: data.config, dataset_meta: { classes: ['cat', 'dog'] } });
    assert.equal(c.config, data.config);
    assert.deepEqual(c.classes, ['cat', 'dog']);
    assert.deepEqual(c.optimizer, data.optimizer);
    assert.deepEqual(c.schedulers, data.schedulers);
    const rng = c.extra.rng as StateObject;
    assert.deepEqual(rng.seedrandom, { i: 12, j: 200, S: [1, 2, 3] });
    assert.equal(rng.big, 2n ** 80n);
    assert.ok(Number.isNaN(rng.nan));
    assert.deepEqual(rng.bytes, new Uint8Array([0, 255]));
    assert.deepEqual(c.extra.tricky, { __tensor__: 'not a tensor', __int__: 1 });
    assert.deepEqual(c.extra.ema, data.extra!.ema);
  });

  it('stores tensors under their PyTorch names and the state as JSON in the safetensors header', async () => {
    const f = path.join(tmp, 'layout.safetensors');
    await writeCheckpoint(f, sample());
    const { tensors, metadata } = parseSafetensors(fs.readFileSync(f), f);
    assert.deepEqual(
      new Set(tensors.keys()),
      new Set(['backbone.conv1.weight', 'backbone.bn1.num_batches_tracked', 'head.fc.bias', 'optimizer.state.0.momentum_buffer', 'ema.backbone.conv1.weight']),
    );
    assert.equal(metadata.format, 'pt');
    const doc = JSON.parse(metadata[METADATA_KEY]);
    assert.equal(doc.mmcls_checkpoint, 1);
    assert.equal(doc.meta.epoch, 4);
    assert.deepEqual(doc.state_dict, ['backbone.conv1.weight', 'backbone.bn1.num_batches_tracked', 'head.fc.bias']);
    assert.deepEqual(doc.optimizer.state['0'].momentum_buffer, { __tensor__: 'optimizer.state.0.momentum_buffer' });
    assert.deepEqual(doc.param_schedulers[0].base_lrs, [0.1]);
  });

  describe('atomic writes', () => {
    const realWriteSync = nodeFs.writeSync;
    afterEach(() => {
      nodeFs.writeSync = realWriteSync;
    });
    const tempFiles = (): string[] => fs.readdirSync(tmp).filter((n) => n.endsWith('.tmp'));

    it('keeps the old checkpoint intact and leaves no temporary file when writing fails midway', async () => {
      const f = path.join(tmp, 'latest.safetensors');
      await writeCheckpoint(f, sample());
      const before = fs.readFileSync(f);
      let written = 0;
      (nodeFs as { writeSync: unknown }).writeSync = (fd: number, buf: Uint8Array, off?: number, len?: number): number => {
        if (written > 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        const n = realWriteSync(fd, buf, off, len);
        written += n;
        return n;
      };
      const next = sample();
      (next.meta as StateObject).epoch = 5;
      await assert.rejects(writeCheckpoint(f, next), (e: unknown) => e instanceof MmclsError && /no space left/.test(e.message) && e.location.file === f);
      assert.ok(written > 0, 'the failure happened after part of the file was written');
      assert.deepEqual(fs.readFileSync(f), before);
      assert.equal((await readCheckpoint(f)).meta.epoch, 4);
      assert.deepEqual(tempFiles(), []);
    });

    it('leaves nothing behind when the first checkpoint fails to write', async () => {
      const f = path.join(tmp, 'first.safetensors');
      (nodeFs as { writeSync: unknown }).writeSync = (): number => {
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      };
      await assert.rejects(writeCheckpoint(f, sample()), /i\/o error/);
      assert.ok(!fs.existsSync(f));
      assert.deepEqual(tempFiles(), []);
    });

    it('replaces an existing checkpoint when writing succeeds', async () => {
      const f = path.join(tmp, 'replace.safetensors');
      await writeCheckpoint(f, sample());
      const next = sample();
      (next.meta as StateObject).epoch = 6;
      await writeCheckpoint(f, next);
      assert.equal((await readCheckpoint(f)).meta.epoch, 6);
      assert.deepEqual(tempFiles(), []);
    });

    it('says which folder is missing', async () => {
      await assert.rejects(writeCheckpoint(path.join(tmp, 'nope', 'x.safetensors'), sample()), /the folder .*nope does not exist/);
    });
  });

  it('reports damaged or too new metadata in our files', async () => {
    const w: TensorData = { dtype: 'F32', shape: [1], data: new Float32Array([1]) };
    const write = (doc: string): string => {
      const { head, order } = layoutSafetensors([['w', w]], { [METADATA_KEY]: doc });
      const f = path.join(tmp, `meta-${Math.random().toString(36).slice(2)}.safetensors`);
      fs.writeFileSync(f, Buffer.concat([head, ...order.map(([, t]) => Buffer.from(t.data.buffer))]));
      return f;
    };
    const cases: Array<[string, string, RegExp]> = [
      ['{"mmcls_checkpoint": 1, "meta": {', 'checkpoint.corrupt', /metadata is not valid JSON/],
      ['{"mmcls_checkpoint": 1, "state_dict": ["w"], "meta": {"m": {"__tensor__": "nope"}}}', 'checkpoint.corrupt', /refers to tensor 'nope', which the file does not contain/],
      ['{"mmcls_checkpoint": 99, "state_dict": ["w"]}', 'checkpoint.unsupported', /newer mmcls \(format 99/],
      ['{"mmcls_checkpoint": 1, "meta": ' + '['.repeat(600) + ']'.repeat(600) + '}', 'checkpoint.corrupt', /nested more than 500 levels/],
    ];
    for (const [doc, code, re] of cases) {
      const f = write(doc);
      await assert.rejects(readCheckpoint(f), (e: unknown) => e instanceof MmclsError && e.code === code && re.test(e.message) && e.location.file === f);
    }
    const ok = await readCheckpoint(write('{"mmcls_checkpoint": 1, "state_dict": ["w"], "meta": {"epoch": 2}}'));
    assert.equal(ok.meta.epoch, 2);
  });

  it('stores JavaScript Maps and Sets in extra state as dicts and lists, and refuses bare typed arrays', async () => {
    const f = path.join(tmp, 'collections.safetensors');
    const extra = { hub: new Map<string, unknown>([['a', 1], ['b', new Set([2, 3])]]) } as unknown as StateObject;
    await writeCheckpoint(f, { stateDict: {}, extra });
    assert.deepEqual((await readCheckpoint(f)).extra.hub, { a: 1, b: [2, 3] });
    await assert.rejects(writeCheckpoint(f, { stateDict: {}, extra: { x: new Float32Array(2) as unknown as StateObject } }), /bare Float32Array.*at 'x'/);
  });

  it('rejects invalid input to writeCheckpoint with the file named', async () => {
    const f = path.join(tmp, 'bad.safetensors');
    const bad: CheckpointData = { stateDict: { w: { dtype: 'F32', shape: [4], data: new Float32Array(3) } } };
    await assert.rejects(writeCheckpoint(f, bad), (e: unknown) => e instanceof MmclsError && e.location.file === f && /needs 16/.test(e.message));
    assert.ok(!fs.existsSync(f));
  });

  it('converts a .pth to safetensors with values, meta and optimizer state intact', async () => {
    const out = path.join(tmp, 'converted.safetensors');
    const s = await convertCheckpoint(path.join(FIX, 'mmcls_zip.pth'), out);
    const c = await readCheckpoint(out);
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(k, c.stateDict.get(k), e);
    const state = (c.optimizer as StateObject).state as StateObject;
    assertTensor('momentum 0', (state['0'] as StateObject).momentum_buffer as TensorData, expected.optimizer.momentum_buffer_0);
    assert.equal(c.meta.epoch, 3);
    assert.equal(c.meta.big, BigInt(expected.meta.big as string));
    assert.deepEqual(c.classes, ['cat', 'dog', 'bird']);
    assert.equal(c.config, expected.meta.config);

    // Counts from the fixture's own description.
    const shapes = Object.entries(expected.state_dict);
    const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
    assert.equal(s.stateDictTensors, shapes.length);
    assert.equal(s.otherTensors, 4, 'two momentum buffers, two numpy arrays in meta');
    assert.equal(s.stateDictValues, shapes.reduce((a, [, e]) => a + size(e.shape), 0));
    assert.equal(s.parameters, shapes.filter(([k]) => !/running_(mean|var)|num_batches_tracked/.test(k)).reduce((a, [, e]) => a + size(e.shape), 0));
    assert.equal(s.inputFormat, 'pth');
    assert.equal(s.bytes, fs.statSync(out).size);
  });

  describe('mmcls convert-checkpoint', () => {
    const bin = path.join(ROOT, 'bin', 'mmcls');
    const cli = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(bin, args, { encoding: 'utf8' });

    it('converts and prints a summary', () => {
      const out = path.join(tmp, 'cli.safetensors');
      const r = cli('convert-checkpoint', path.join(FIX, 'mmcls_zip.pth'), out);
      assert.equal(r.status, 0, String(r.stderr));
      const text = String(r.stdout);
      const shapes = Object.entries(expected.state_dict);
      const size = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);
      const values = shapes.reduce((a, [, e]) => a + size(e.shape), 0);
      const params = shapes.filter(([k]) => !/running_(mean|var)|num_batches_tracked/.test(k)).reduce((a, [, e]) => a + size(e.shape), 0);
      assert.ok(text.includes(`state dict: ${shapes.length} tensors, ${values} values, ${params} parameters`), text);
      assert.match(text, /other tensors \(optimizer state, \.\.\.\): 4/);
      assert.match(text, /meta keys: epoch, iter, mmcls_version, seed/);
      assert.match(text, /classes: 3 \(cat, dog, bird\)/);
      assert.match(text, /config text: included/);
      assert.ok(fs.existsSync(out));
    });

    it('fails with exit status 1, a message naming the global, and no output file for a malicious .pth', () => {
      fs.rmSync(expected.marker, { force: true });
      const out = path.join(tmp, 'evil.safetensors');
      const r = cli('convert-checkpoint', path.join(FIX, 'malicious_os_system.pth'), out);
      assert.equal(r.status, 1);
      assert.match(String(r.stderr), /malicious_os_system\.pth: refused to load this checkpoint: its pickle refers to 'posix\.system'.*Nothing was executed/);
      assert.doesNotMatch(String(r.stderr), /\n\s+at /, 'no stack trace');
      assert.ok(!fs.existsSync(out));
      assert.ok(!fs.existsSync(expected.marker));
    });
  });
});
