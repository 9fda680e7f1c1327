import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { unzipSync, zipSync } from 'fflate';
import { readCheckpoint, readPth, toNumbers, TensorData, StateObject } from '../../../runtime/engine/checkpoint';
import { FIX, assertTensor, expected } from './expected';
import { MmclsError } from '../../../runtime/errors';


function checkMmclsFixture(file: string, format: string): Promise<void> {
  return readCheckpoint(path.join(FIX, file)).then((c) => {
    assert.equal(c.format, format);
    assert.deepEqual(new Set(c.stateDict.keys()), new Set(Object.keys(expected.state_dict)));
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(k, c.stateDict.get(k), e);
    // Saved order is kept.
    assert.deepEqual([...c.stateDict.keys()].slice(0, 3), ['backbone.conv1.weight', 'backbone.bn1.weight', 'backbone.bn1.running_mean']);

    const m = c.meta;
    const em = expected.meta;
    for (const k of ['epoch', 'iter', 'seed', 'lr', 'half_lr', 'flag', 'np_name', 'CLASSES', 'config', 'neg', 'tags', 'pair']) {
      assert.deepEqual(m[k], em[k], `meta.${k}`);
    }
    assert.equal(m.big, BigInt(em.big as string));
    assert.deepEqual(Array.from(m.raw as Uint8Array), em.raw);
    assert.ok(Number.isNaN(m.nan));
    assert.equal(m.inf, -Infinity);
    for (const k of ['hist', 'hist_f']) {
      const t = m[k] as TensorData;
      assert.deepEqual(t.shape, [2, 3]);
      assert.deepEqual(toNumbers(t), em[k], `meta.${k} (row-major)`);
    }
    assert.deepEqual(m.nested, { a: [1, { b: true }], 7: 'int key' });
    assert.deepEqual(c.classes, ['cat', 'dog', 'bird']);
    assert.equal(c.config, em.config);

    const opt = c.optimizer as StateObject;
    const state = opt.state as StateObject;
    assertTensor('momentum 0', (state['0'] as StateObject).momentum_buffer as TensorData, expected.optimizer.momentum_buffer_0);
    assertTensor('momentum 1', (state['1'] as StateObject).momentum_buffer as TensorData, expected.optimizer.momentum_buffer_1);
    assert.deepEqual(opt.param_groups, expected.optimizer.param_groups);
  });
}

function expectError(p: Promise<unknown>, code: string, pattern: RegExp): Promise<MmclsError> {
  return p.then(
    () => assert.fail(`expected an error matching ${pattern}`),
    (e: unknown) => {
      assert.ok(e instanceof MmclsError, `not an MmclsError: ${(e as Error).stack}`);
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      assert.ok(e.location.file, 'the error names the file');
      assert.ok(e.format().startsWith(e.location.file!));
      return e;
    },
  );
}

describe('engine/checkpoint: PyTorch .pth', () => {
  let tmp: string;
  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-pth-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('reads an MMCls checkpoint in the zip format: weights, views, shared storages, meta with numpy values, optimizer state', () =>
    checkMmclsFixture('mmcls_zip.pth', 'pth'));

  it('reads the same checkpoint in the legacy (non-zip) format', () => checkMmclsFixture('mmcls_legacy.pth', 'pth-legacy'));

  it('reads a bare state dict (pickle protocol 4) and strips the DataParallel prefix unless asked not to', async () => {
    const c = await readCheckpoint(path.join(FIX, 'bare_dataparallel_p4.pth'));
    // The first seven entries of make_fixtures.py's state dict, in its order.
    const names = ['backbone.conv1.weight', 'backbone.bn1.weight', 'backbone.bn1.running_mean', 'backbone.bn1.running_var', 'backbone.bn1.num_batches_tracked', 'head.fc.weight', 'head.fc.bias'];
    assert.deepEqual([...c.stateDict.keys()], names);
    for (const k of names) assertTensor(k, c.stateDict.get(k), expected.state_dict[k]);
    assert.deepEqual(c.meta, {});
    const kept = await readCheckpoint(path.join(FIX, 'bare_dataparallel_p4.pth'), { reviseKeys: [] });
    assert.deepEqual([...kept.stateDict.keys()], names.map((k) => `module.${k}`));
  });

  it('reads an MMEngine training checkpoint: cfg and dataset_meta in meta, message hub, schedulers with a Counter', async () => {
    const c = await readCheckpoint(path.join(FIX, 'mmengine_epoch_2.pth'));
    assert.deepEqual([...c.stateDict.keys()], ['backbone.conv1.weight', 'head.fc.bias']);
    assertTensor('backbone.conv1.weight', c.stateDict.get('backbone.conv1.weight'), expected.state_dict['backbone.conv1.weight']);
    assert.equal(c.config, "model = dict(type='ImageClassifier')\ntrain_cfg = dict(by_epoch=True, max_epochs=2)\n");
    assert.deepEqual(c.classes, ['airplane', 'automobile']);
    assert.equal(c.meta.seed, 2026);
    assert.deepEqual(c.schedulers, [{ milestones: { 1: 1 }, gamma: 0.1, last_step: 2, by_epoch: true }]);
    const hub = c.extra.message_hub as StateObject;
    const loss = (hub.log_scalars as StateObject)['train/loss'] as StateObject;
    assert.equal(loss.__class__, 'mmengine.logging.history_buffer.HistoryBuffer');
    assert.equal(loss.max_length, 1000000);
    assert.deepEqual(toNumbers(loss._log_history as TensorData), [2.5, 1.25, 0.75]);
    assert.deepEqual(toNumbers(loss._count_history as TensorData), [1, 1, 1]);
    assert.deepEqual(hub.runtime_info, { epoch: 2, iter: 20, max_epochs: 2 });
    assert.ok((c.optimizer as StateObject).param_groups);
  });

  describe('refuses pickles that would run code, and runs nothing', () => {
    const cases: Array<[string, string]> = [
      ['malicious_os_system.pth', 'posix.system'],
      ['malicious_eval_p4.pth', 'builtins.eval'],
      ['malicious_legacy.pth', 'posix.system'],
    ];
    for (const [file, global] of cases) {
      it(`${file}: names ${global}`, async () => {
        fs.rmSync(expected.marker, { force: true });
        const e = await expectError(readCheckpoint(path.join(FIX, file)), 'checkpoint.unsafe-global', new RegExp(`'${global.replace('.', '\\.')}'`));
        assert.match(e.message, /Nothing was executed/);
        assert.equal(e.location.file, path.join(FIX, file));
        assert.ok(!fs.existsSync(expected.marker), 'the payload ran');
      });
    }
  });

  it('refuses hand-made pickles that reach for other globals or object-building opcodes', () => {
    // A zip checkpoint as torch.save writes it, around a given pickle (protocol 2, like torch.save).
    const pth = (body: string): Uint8Array =>
      zipSync({
        'archive/data.pkl': [Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from(body, 'latin1'), Buffer.from('.')]), { level: 0 }],
        'archive/version': [Buffer.from('3\n'), { level: 0 }],
      });
    const evil: Array<[string, string]> = [
      ["csubprocess\nPopen\n(S'touch /tmp/x'\ntR", 'subprocess.Popen'],
      ["cbuiltins\ngetattr\n(ctorch\nFloatStorage\nS'x'\ntR", 'builtins.getattr'],
      ["c__builtin__\neval\n(S'1'\ntR", 'builtins.eval'],
      ['ctorch.storage\n_load_from_bytes\n(C\x00tR', 'torch.storage._load_from_bytes'],
      // copyreg._reconstructor only rebuilds the plain-data classes MMEngine uses.
      ['ccopyreg\n_reconstructor\n(ctorch\nTensor\ncbuiltins\nobject\nNtR', 'copyreg._reconstructor(torch.Tensor)'],
      // Hidden behind a valid global: the second one is still checked before anything is called.
      ["}(S'a'\nccollections\nOrderedDict\n)RS'b'\ncnt\nsystem\nu", 'nt.system'],
    ];
    for (const [body, name] of evil) {
      assert.throws(
        () => readPth(pth(body), 'evil.pth'),
        (e: unknown) => e instanceof MmclsError && e.code === 'checkpoint.unsafe-global' && e.message.includes(`'${name}'`),
        name,
      );
    }
    // INST and OBJ build arbitrary objects without a global being looked up first.
    for (const body of ['(ios\nsystem\n', '(cos\nsystem\no']) {
      assert.throws(() => readPth(pth(body), 'evil.pth'), (e: unknown) => e instanceof MmclsError && e.code === 'checkpoint.unsafe-global');
    }
    // The allowed globals work in the same harness, so the refusals above are about the globals.
    const ok = readPth(pth("ccollections\nOrderedDict\n)R(S'a'\nK\x07u"), 'ok.pth');
    assert.deepEqual(ok.value, { a: 7 });

    // Kinds of tensor we cannot hold are "unsupported", not "hostile".
    assert.throws(
      () => readPth(pth('ctorch\nQInt8Storage\n'), 'q.pth'),
      (e: unknown) => e instanceof MmclsError && e.code === 'checkpoint.unsupported' && /'torch\.QInt8Storage'.*not supported/.test(e.message),
    );
  });

  it('refuses pickled data that contains itself, nests absurdly deep or expands exponentially', () => {
    const pth = (body: string): Uint8Array =>
      zipSync({ 'archive/data.pkl': [Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from(body, 'latin1'), Buffer.from('.')]), { level: 0 }] });
    const cases: Array<[string, RegExp]> = [
      [']q\x00h\x00a', /contains itself/], // x = []; x.append(x)
      [']'.repeat(600) + 'a'.repeat(599), /nested more than 500 levels deep/],
      [']' + 'q\x00h\x00h\x00\x86'.repeat(40), /expands to more than/], // x = (x, x), 40 times: 2^40 leaves
    ];
    for (const [body, re] of cases) {
      assert.throws(() => readPth(pth(body), 'x.pth'), (e: unknown) => e instanceof MmclsError && e.code === 'checkpoint.corrupt' && re.test(e.message), String(re));
    }
  });

  it('reads a checkpoint archive that was re-zipped with compression', async () => {
    const entries = unzipSync(fs.readFileSync(path.join(FIX, 'mmcls_zip.pth')));
    const f = path.join(tmp, 'deflated.pth');
    fs.writeFileSync(f, zipSync(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, [v, { level: 6 }]]))));
    const c = await readCheckpoint(f);
    for (const [k, e] of Object.entries(expected.state_dict)) assertTensor(k, c.stateDict.get(k), e);
  });

  it('reports a truncated zip checkpoint clearly', async () => {
    const bytes = fs.readFileSync(path.join(FIX, 'mmcls_zip.pth'));
    const f = path.join(tmp, 'truncated.pth');
    fs.writeFileSync(f, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await expectError(readCheckpoint(f), 'checkpoint.corrupt', /truncated/);
  });

  it('detects a damaged entry in a zip checkpoint by its CRC', async () => {
    const bytes = Buffer.from(fs.readFileSync(path.join(FIX, 'mmcls_zip.pth')));
    // Flip a byte inside the data of the first storage (the conv weight), which is stored uncompressed.
    const idx = bytes.indexOf(Buffer.from('data/0'));
    assert.ok(idx > 0);
    const localHeader = bytes.lastIndexOf(Buffer.from([0x50, 0x4b, 0x03, 0x04]), idx);
    const start = localHeader + 30 + bytes.readUInt16LE(localHeader + 26) + bytes.readUInt16LE(localHeader + 28);
    bytes[start + 5] ^= 0xff;
    const f = path.join(tmp, 'damaged.pth');
    fs.writeFileSync(f, bytes);
    await expectError(readCheckpoint(f), 'checkpoint.corrupt', /data\/0' fails its CRC check/);
  });

  it('reports a truncated legacy checkpoint clearly', async () => {
    const bytes = fs.readFileSync(path.join(FIX, 'mmcls_legacy.pth'));
    const f = path.join(tmp, 'truncated-legacy.pth');
    fs.writeFileSync(f, bytes.subarray(0, bytes.length - 100));
    await expectError(readCheckpoint(f), 'checkpoint.corrupt', /truncated/);
  });

  it('says what to do with files that are no checkpoint at all', async () => {
    const f = path.join(tmp, 'text.pth');
    fs.writeFileSync(f, 'this is not a checkpoint, only some text that is long enough');
    await expectError(readCheckpoint(f), 'checkpoint.corrupt', /not a valid safetensors file|not a PyTorch checkpoint/);
    const g = path.join(tmp, 'missing.pth');
    await expectError(readCheckpoint(g), 'checkpoint.not-found', /not found/);
  });
});
