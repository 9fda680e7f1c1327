import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { browseDataset, verifyDataset } from '../../runtime/datasets/tools';
import { decodeImage, encodeJpeg, encodePng, Image } from '../../runtime/datasets';
import { main } from '../../runtime/cli/main';

describe('datasets/tools (browse-dataset, verify-dataset)', function () {
  this.timeout(60000);
  let dir: string;
  let config: string;
  const broken: string[] = [];
  const source: Record<string, Image> = {};
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-tools-'));
    const data = path.join(dir, 'data');
    for (const cls of ['cat', 'dog']) {
      for (let k = 0; k < 4; k++) {
        const w = 20 + k;
        const h = 12;
        const img: Image = { data: new Uint8Array(w * h * 3).map((_, i) => (i * (k + 2) + (cls === 'dog' ? 50 : 0)) % 256), height: h, width: w, channels: 3 };
        const file = path.join(data, cls, `${cls}${k}.${k % 2 ? 'jpg' : 'png'}`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, k % 2 ? await encodeJpeg(img) : await encodePng(img));
        source[file] = img;
      }
    }
    // break three files in three ways
    const trunc = path.join(data, 'cat', 'cat1.jpg');
    fs.writeFileSync(trunc, fs.readFileSync(trunc).subarray(0, 200));
    const garbage = path.join(data, 'dog', 'dog2.png');
    fs.writeFileSync(garbage, Buffer.concat([fs.readFileSync(garbage).subarray(0, 40), Buffer.alloc(60, 7)]));
    const empty = path.join(data, 'dog', 'dog3.jpg');
    fs.writeFileSync(empty, '');
    broken.push(trunc, garbage, empty);
    config = path.join(dir, 'cfg.py');
    fs.writeFileSync(
      config,
      [
        `data_root = ${JSON.stringify(data)}`,
        "train_pipeline = [dict(type='LoadImageFromFile'), dict(type='RandomResizedCrop', scale=8), dict(type='RandomFlip', prob=0.5), dict(type='PackClsInputs')]",
        'train_dataloader = dict(batch_size=2, num_workers=0, dataset=dict(type="CustomDataset", data_prefix=data_root, pipeline=train_pipeline), sampler=dict(type="DefaultSampler", shuffle=True))',
        'val_dataloader = dict(batch_size=2, dataset=dict(type="CustomDataset", data_prefix=data_root, pipeline=[dict(type="LoadImageFromFile"), dict(type="PackClsInputs")]))',
        '',
      ].join('\n'),
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('verify-dataset lists exactly the corrupted, truncated and empty files', async () => {
    const out = path.join(dir, 'broken.log');
    const r = await verifyDataset(config, { outPath: out, numProcess: 3 });
    assert.equal(r.checked, 8);
    assert.deepEqual(r.broken.map((b) => b.path).sort(), [...broken].sort());
    assert.deepEqual(fs.readFileSync(out, 'utf8').trim().split('\n').sort(), [...broken].sort());
  });

  it('the CLI exits with 1 and names the broken files', async () => {
    const out = path.join(dir, 'cli.log');
    const write = process.stdout.write.bind(process.stdout);
    let printed = '';
    process.stdout.write = ((s: string) => ((printed += s), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await main(['verify-dataset', config, '--out-path', out, '--phase', 'val', '--num-process', '2']);
    } finally {
      process.stdout.write = write;
    }
    assert.equal(code, 1);
    for (const b of broken) assert.ok(printed.includes(b), printed);
    assert.match(printed, /checked 8 image\(s\) of the val dataset: 3 broken/);
  });

  it('browse-dataset original mode writes the decoded images as PNG, RGB on disk', async () => {
    const out = path.join(dir, 'orig');
    // skip the broken ones: show the first sample only (cat0.png)
    const r = await browseDataset(config, { outputDir: out, mode: 'original', showNumber: 1 });
    assert.equal(r.written, 1);
    const written = await decodeImage(fs.readFileSync(r.files[0]));
    const src = source[path.join(dir, 'data', 'cat', 'cat0.png')];
    assert.deepEqual([written.height, written.width], [src.height, src.width]);
    assert.deepEqual(Array.from(written.data), Array.from(src.data));
    assert.match(fs.readFileSync(path.join(out, 'index.tsv'), 'utf8'), /00000_cat0\.png\t0\t.*cat0\.png\t0\tcat\toriginal/);
  });

  it('transformed, concat and pipeline modes, rescale factor', async () => {
    const t = await browseDataset(config, { outputDir: path.join(dir, 't'), mode: 'transformed', showNumber: 1, rescaleFactor: 2 });
    const ti = await decodeImage(fs.readFileSync(t.files[0]));
    assert.deepEqual([ti.height, ti.width], [16, 16]);
    const c = await browseDataset(config, { outputDir: path.join(dir, 'c'), mode: 'concat', showNumber: 1 });
    const ci = await decodeImage(fs.readFileSync(c.files[0]));
    assert.deepEqual([ci.height, ci.width], [12, 20 + 10 + 8]);
    const p = await browseDataset(config, { outputDir: path.join(dir, 'p'), mode: 'pipeline', showNumber: 1 });
    const pi = await decodeImage(fs.readFileSync(p.files[0]));
    // original, RandomResizedCrop, RandomFlip (PackClsInputs adds no new image)
    assert.equal(pi.width, 20 + 2 * 8 + 2 * 10);
    assert.match(fs.readFileSync(path.join(dir, 'p', 'index.tsv'), 'utf8'), /original \| RandomResizedCrop \| RandomFlip\n/);
    await assert.rejects(browseDataset(config, { outputDir: path.join(dir, 'x'), mode: 'nope' }), /mode must be/);
  });
});
