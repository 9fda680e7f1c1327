import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import '../../runtime/datasets';
import { DATASETS } from '../../runtime/registry';
import { BaseDataset, CIFAR10, ClassBalancedDataset, ConcatDataset, CustomDataset, KFoldDataset, RepeatDataset, encodePng, Image, loadPickle } from '../../runtime/datasets';
import { MmclsError } from '../../runtime/errors';
import { ClsDataSample } from '../../runtime/structures';

const FIX = path.join(__dirname, '..', 'fixtures', 'datasets');
const build = <T = BaseDataset>(cfg: Record<string, unknown>) => DATASETS.build<T>(cfg);
const isErr = (re: RegExp) => (e: unknown) => e instanceof MmclsError && re.test(e.message);

async function png(file: string, value: number, w = 4, h = 3) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const img: Image = { data: new Uint8Array(w * h * 3).fill(value), height: h, width: w, channels: 3 };
  fs.writeFileSync(file, await encodePng(img));
}

/** A CIFAR batch as Python 2 pickled it: latin-1 byte strings (SHORT_BINSTRING / BINSTRING), numpy.core globals. */
function py2CifarBatch(images: Uint8Array[], labels: number[]): Buffer {
  const parts: Buffer[] = [];
  const b = (...xs: number[]) => parts.push(Buffer.from(xs));
  const sstr = (s: string) => { b(0x55, s.length); parts.push(Buffer.from(s, 'latin1')); };
  const glob = (m: string, n: string) => parts.push(Buffer.from(`c${m}\n${n}\n`, 'latin1'));
  b(0x80, 2, 0x7d, 0x28); // PROTO 2, EMPTY_DICT, MARK
  sstr('data');
  glob('numpy.core.multiarray', '_reconstruct');
  glob('numpy', 'ndarray');
  b(0x4b, 0, 0x85); sstr('b'); b(0x87, 0x52); // (0,), 'b' -> TUPLE3, REDUCE
  b(0x28, 0x4b, 1); // MARK, version 1
  b(0x4d, images.length & 255, images.length >> 8, 0x4d, 3072 & 255, 3072 >> 8, 0x86); // shape tuple
  glob('numpy', 'dtype'); sstr('u1'); b(0x4b, 0, 0x4b, 1, 0x87, 0x52);
  b(0x28, 0x4b, 3); sstr('|'); b(0x4e, 0x4e, 0x4e, 0x4a, 255, 255, 255, 255, 0x4a, 255, 255, 255, 255, 0x4b, 0, 0x74, 0x62); // dtype state, BUILD
  b(0x89); // not fortran
  const raw = Buffer.concat(images.map((i) => Buffer.from(i)));
  b(0x54); const len = Buffer.alloc(4); len.writeInt32LE(raw.length); parts.push(len, raw); // BINSTRING (latin-1 bytes)
  b(0x74, 0x62); // TUPLE, BUILD
  sstr('labels'); b(0x5d, 0x28); for (const l of labels) b(0x4b, l); b(0x65); // EMPTY_LIST MARK ... APPENDS
  b(0x75, 0x2e); // SETITEMS, STOP
  return Buffer.concat(parts);
}

describe('datasets/datasets', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-datasets-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('CustomDataset', () => {
    it('folder layout: sorted class folders, recursive files, extension filter', async () => {
      const root = path.join(dir, 'folders');
      await png(path.join(root, 'b_dog', 'x1.png'), 10);
      await png(path.join(root, 'b_dog', 'sub', 'x0.png'), 11);
      await png(path.join(root, 'a_cat', 'y.PNG'), 20);
      fs.writeFileSync(path.join(root, 'a_cat', 'notes.txt'), 'not an image');
      const ds = build<CustomDataset>({ type: 'CustomDataset', data_prefix: root, pipeline: [{ type: 'LoadImageFromFile' }, { type: 'PackClsInputs' }] });
      assert.deepEqual(ds.CLASSES, ['a_cat', 'b_dog']);
      assert.equal(ds.length, 3);
      assert.deepEqual([0, 1, 2].map((i) => [path.relative(root, ds.getDataInfo(i).img_path as string), ds.getDataInfo(i).gt_label]), [
        [path.join('a_cat', 'y.PNG'), 0],
        [path.join('b_dog', 'sub', 'x0.png'), 1],
        [path.join('b_dog', 'x1.png'), 1],
      ]);
      const item = await ds.getItem(2);
      assert.deepEqual(((item.data_samples as ClsDataSample).gt_label?.label), [1]);
      assert.equal((item.inputs as Image).data[0], 10);
      assert.equal((item.data_samples as ClsDataSample).get('sample_idx'), 2);
      const given = build<CustomDataset>({ type: 'CustomDataset', data_prefix: root, classes: ['cat', 'dog'] });
      assert.deepEqual(given.CLASSES, ['cat', 'dog']);
      assert.throws(() => build({ type: 'CustomDataset', data_prefix: root, classes: ['a', 'b', 'c'] }), isErr(/number of subfolders \(2\)/));
    });

    it('annotation file "path label", data_root joined, classes from a file', async () => {
      const root = path.join(dir, 'annfile');
      await png(path.join(root, 'images', 'f', 'a b.png'), 1);
      await png(path.join(root, 'images', 'c.png'), 2);
      fs.mkdirSync(path.join(root, 'meta'), { recursive: true });
      fs.writeFileSync(path.join(root, 'meta', 'train.txt'), 'f/a b.png 0\nc.png 2\n');
      fs.writeFileSync(path.join(root, 'meta', 'classes.txt'), 'A\nB\nC\n');
      const ds = build<CustomDataset>({ type: 'CustomDataset', data_root: root, ann_file: 'meta/train.txt', data_prefix: 'images', classes: 'meta/classes.txt' });
      assert.deepEqual(ds.CLASSES, ['A', 'B', 'C']);
      assert.equal(ds.getDataInfo(0).img_path, path.join(root, 'images', 'f', 'a b.png'));
      assert.equal(ds.getDataInfo(1).gt_label, 2);
      const imnet = build({ type: 'ImageNet', data_root: root, ann_file: 'meta/train.txt', data_prefix: 'images' });
      assert.equal(imnet.length, 2);
      // ILSVRC 2012 class indices everyone knows
      assert.equal(imnet.CLASSES?.length, 1000);
      assert.deepEqual([0, 281, 409, 954, 999].map((i) => imnet.CLASSES![i].split(',')[0]), ['tench', 'tabby', 'analog clock', 'banana', 'toilet tissue']);
      assert.throws(() => build({ type: 'ImageNet', data_prefix: path.join(dir, 'folders') }), isErr(/subfolders \(2\) .*1000 classes of ImageNet.*classes/));
    });

    it('bad input: label out of range, malformed line, wrong data_prefix, empty class folder, no images', async () => {
      const root = path.join(dir, 'bad');
      fs.mkdirSync(root, { recursive: true });
      fs.writeFileSync(path.join(root, 'ann.txt'), 'x.png 0\ny.png 3\n');
      assert.throws(() => build({ type: 'CustomDataset', ann_file: path.join(root, 'ann.txt'), classes: ['a', 'b', 'c'] }), (e: unknown) => e instanceof MmclsError && /line 2/.test(e.message) && e.location.line === 2 && /label 3/.test(e.message));
      fs.writeFileSync(path.join(root, 'ann2.txt'), 'x.png zero\n');
      assert.throws(() => build({ type: 'CustomDataset', ann_file: path.join(root, 'ann2.txt') }), isErr(/line 1 .*integer label/));
      assert.throws(() => build({ type: 'CustomDataset', data_prefix: path.join(root, 'nope') }), isErr(/data_prefix .*nope.* no such directory/));
      const layout = path.join(root, 'layout');
      await png(path.join(layout, 'cat', 'a.png'), 1);
      fs.mkdirSync(path.join(layout, 'dog'));
      fs.writeFileSync(path.join(layout, 'dog', 'readme.txt'), 'x');
      assert.throws(() => build({ type: 'CustomDataset', data_prefix: layout }), isErr(/no valid file in the class folder\(s\) .*dog/));
      const none = path.join(root, 'none');
      fs.mkdirSync(path.join(none, 'cat'), { recursive: true });
      assert.throws(() => build({ type: 'CustomDataset', data_prefix: none }), isErr(/Found 0 files/));
    });

    it('a missing or corrupt image raises naming the file; ignore_empty + max_refetch draws another sample', async () => {
      const root = path.join(dir, 'refetch');
      await png(path.join(root, 'good.png'), 5);
      fs.writeFileSync(path.join(root, 'broken.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage'));
      fs.writeFileSync(path.join(root, 'ann.txt'), 'broken.png 0\ngood.png 1\nmissing.png 0\n');
      const cfg = { type: 'CustomDataset', ann_file: path.join(root, 'ann.txt'), data_prefix: root };
      const strict = build({ ...cfg, pipeline: [{ type: 'LoadImageFromFile' }] });
      await assert.rejects(strict.getItem(0), isErr(/broken\.png/));
      await assert.rejects(strict.getItem(2), isErr(/missing\.png: no such file/));
      const lenient = build({ ...cfg, pipeline: [{ type: 'LoadImageFromFile', ignore_empty: true }] });
      const r = await lenient.getItem(0);
      assert.equal(r.img_path, path.join(root, 'good.png'));
      const test = build({ ...cfg, test_mode: true, pipeline: [{ type: 'LoadImageFromFile', ignore_empty: true }] });
      await assert.rejects(test.getItem(0), isErr(/should not get `None`/));
      const hopeless = build({ ...cfg, max_refetch: 3, indices: [0, 2], pipeline: [{ type: 'LoadImageFromFile', ignore_empty: true }] });
      await assert.rejects(hopeless.getItem(0), isErr(/Cannot find valid image after 3/));
    });

    it('OpenMMLab 2.0 annotation files in json and yaml, img_label or gt_label, metainfo classes', async () => {
      const root = path.join(dir, 'std');
      fs.mkdirSync(root, { recursive: true });
      const ann = { metainfo: { classes: ['cat', 'dog'] }, data_list: [{ img_path: 'xxx/xxx_0.jpg', img_label: 0 }, { img_path: 'xxx/xxx_1.jpg', gt_label: 1 }] };
      fs.writeFileSync(path.join(root, 'train.json'), JSON.stringify(ann));
      fs.writeFileSync(path.join(root, 'train.yaml'), 'metainfo:\n  classes: [cat, dog]\ndata_list:\n  - img_path: xxx/xxx_0.jpg\n    img_label: 0\n  - {img_path: xxx/xxx_1.jpg, gt_label: 1}\n');
      for (const f of ['train.json', 'train.yaml']) {
        const ds = build({ type: 'CustomDataset', data_root: root, ann_file: f, data_prefix: 'train' });
        assert.deepEqual(ds.CLASSES, ['cat', 'dog']);
        assert.equal(ds.getDataInfo(0).img_path, path.join(root, 'train', 'xxx/xxx_0.jpg'));
        assert.deepEqual([ds.getDataInfo(0).gt_label, ds.getDataInfo(1).gt_label], [0, 1]);
      }
      fs.writeFileSync(path.join(root, 'bad.json'), '{"metainfo": {}, "data_list": [ }');
      assert.throws(() => build({ type: 'CustomDataset', ann_file: path.join(root, 'bad.json') }), (e: unknown) => e instanceof MmclsError && e.location.file === path.join(root, 'bad.json') && e.message.includes('bad.json'));
      fs.writeFileSync(path.join(root, 'range.json'), JSON.stringify({ metainfo: { classes: ['a'] }, data_list: [{ img_path: 'p.png', gt_label: 1 }] }));
      assert.throws(() => build({ type: 'CustomDataset', ann_file: path.join(root, 'range.json') }), isErr(/label 1, outside \[0, 1\)/));
      assert.throws(() => build({ type: 'CustomDataset', ann_file: path.join(FIX, 'evil.pkl') }), (e: unknown) => e instanceof MmclsError && /posix\.system|os\.system|nt\.system/.test(e.message) && e.code === 'pickle.unsafe-global');
      const sub = build({ type: 'CustomDataset', data_root: root, ann_file: 'train.json', indices: 1 });
      assert.equal(sub.length, 1);
    });
  });

  describe('built-in datasets', () => {
    it('CIFAR10 reads NumPy-pickled batches: 10 training, 3 test images, RGB HWC, labels', async () => {
      const train = build<CIFAR10>({ type: 'CIFAR10', data_prefix: path.join(FIX, 'cifar10'), test_mode: false });
      assert.equal(train.length, 10);
      assert.deepEqual(train.getGtLabels(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 0].map((_, i) => (Math.floor(i / 2) * 2 + 2 + (i % 2)) % 10));
      const test = build<CIFAR10>({ type: 'CIFAR10', data_root: path.join(FIX, 'cifar10'), test_mode: true, pipeline: [{ type: 'PackClsInputs' }] });
      assert.deepEqual(test.getGtLabels(), [9, 0, 5]);
      const img = (await test.getItem(0)).inputs as Image;
      const px = (x: number, y: number) => Array.from(img.data.subarray((y * 32 + x) * 3, (y * 32 + x) * 3 + 3));
      assert.deepEqual(px(0, 0), [195, 85, 27]);
      assert.deepEqual(px(31, 31), [175, 47, 72]);
      assert.deepEqual(px(2, 1), [114, 220, 228]);
      assert.equal(test.CLASSES?.[9], 'truck');
      assert.throws(() => build({ type: 'CIFAR10', data_prefix: path.join(dir, 'nothing'), test_mode: false }), isErr(/Cannot find CIFAR10 dataset/));
    });

    it('CIFAR10 reads Python 2 pickles (latin-1 strings) and the binary version', async () => {
      const root = path.join(dir, 'cifar-py2');
      const folder = path.join(root, 'cifar-10-batches-py');
      fs.mkdirSync(folder, { recursive: true });
      const im = new Uint8Array(3072).map((_, i) => (i * 7) % 256);
      fs.writeFileSync(path.join(folder, 'test_batch'), py2CifarBatch([im, im.map((v) => 255 - v)], [3, 7]));
      const ds = build({ type: 'CIFAR10', data_prefix: root, test_mode: true });
      assert.deepEqual(ds.getGtLabels(), [3, 7]);
      const img = ds.getDataInfo(1).img as Image;
      // pixel (x=5, y=0): R = plane 0 index 5, G = plane 1, B = plane 2
      assert.deepEqual(Array.from(img.data.subarray(15, 18)), [255 - ((5 * 7) % 256), 255 - (((1024 + 5) * 7) % 256), 255 - (((2048 + 5) * 7) % 256)]);
      const bin = path.join(dir, 'cifar-bin', 'cifar-10-batches-bin');
      fs.mkdirSync(bin, { recursive: true });
      fs.writeFileSync(path.join(bin, 'test_batch.bin'), Buffer.concat([Buffer.from([4]), Buffer.from(im), Buffer.from([6]), Buffer.from(im)]));
      const b = build({ type: 'CIFAR10', data_prefix: path.dirname(bin), test_mode: true });
      assert.deepEqual(b.getGtLabels(), [4, 6]);
      assert.deepEqual(Array.from((b.getDataInfo(0).img as Image).data.subarray(0, 3)), [0, (1024 * 7) % 256, (2048 * 7) % 256]);
      fs.writeFileSync(path.join(bin, 'test_batch.bin'), Buffer.alloc(100));
      assert.throws(() => build({ type: 'CIFAR10', data_prefix: path.dirname(bin), test_mode: true }), isErr(/truncated/));
    });

    it('the pickle reader refuses code and reads plain data', () => {
      assert.throws(() => loadPickle(fs.readFileSync(path.join(FIX, 'evil.pkl')), 'evil.pkl'), (e: unknown) => e instanceof MmclsError && /Nothing was executed/.test(e.message));
      const truncated = fs.readFileSync(path.join(FIX, 'cifar10', 'cifar-10-batches-py', 'test_batch')).subarray(0, 3000);
      assert.throws(() => loadPickle(truncated, 'tb'), isErr(/truncated/));
    });

    it('FashionMNIST reads the real 60000 / 10000 images with their labels', function () {
      // The shared copy beside the repository, else Debian's package dataset-fashion-mnist (CI installs it).
      const root = [path.join(__dirname, '..', '..', '..', 'shared', 'data', 'fashion-mnist'), '/usr/share/datasets/fashion-mnist']
        .find((d) => fs.existsSync(path.join(d, 'train-images-idx3-ubyte.gz')));
      if (!root) this.skip();
      const train = build({ type: 'FashionMNIST', data_prefix: root, test_mode: false });
      const test = build({ type: 'FashionMNIST', data_prefix: root, test_mode: true });
      assert.equal(train.length, 60000);
      assert.equal(test.length, 10000);
      // Published facts of Fashion-MNIST: 6000 training and 1000 test images per class; the first
      // training label is 9 (ankle boot) and the first test label 9, the second test label 2.
      const counts = (ds: BaseDataset) => ds.getGtLabels().reduce((acc: number[], l) => ((acc[l as number] += 1), acc), new Array(10).fill(0));
      assert.deepEqual(counts(train), new Array(10).fill(6000));
      assert.deepEqual(counts(test), new Array(10).fill(1000));
      assert.equal(train.getDataInfo(0).gt_label, 9);
      assert.deepEqual([test.getDataInfo(0).gt_label, test.getDataInfo(1).gt_label], [9, 2]);
      const img = train.getDataInfo(0).img as Image;
      assert.deepEqual([img.height, img.width, img.channels], [28, 28, 1]);
      assert.equal(train.CLASSES?.[9], 'Ankle boot');
    });

    it('MNIST reads uncompressed IDX too and rejects truncated files', () => {
      const root = path.join(dir, 'mnist');
      fs.mkdirSync(root, { recursive: true });
      const idx = (dims: number[], data: number[]) => {
        const h = Buffer.alloc(4 + 4 * dims.length);
        h.writeUInt8(8, 2);
        h.writeUInt8(dims.length, 3);
        dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
        return Buffer.concat([h, Buffer.from(data)]);
      };
      fs.writeFileSync(path.join(root, 't10k-images-idx3-ubyte'), idx([2, 2, 2], [0, 1, 2, 3, 4, 5, 6, 7]));
      fs.writeFileSync(path.join(root, 't10k-labels-idx1-ubyte'), idx([2], [7, 3]));
      const ds = build({ type: 'MNIST', data_prefix: root, test_mode: true });
      assert.deepEqual(ds.getGtLabels(), [7, 3]);
      assert.deepEqual(Array.from((ds.getDataInfo(1).img as Image).data), [4, 5, 6, 7]);
      fs.writeFileSync(path.join(root, 't10k-images-idx3-ubyte'), idx([2, 2, 2], [0, 1, 2]));
      assert.throws(() => build({ type: 'MNIST', data_prefix: root, test_mode: true }), isErr(/truncated/));
    });

    it('VOC reads labels, keeps difficult ones apart, skips unknown names', () => {
      const root = path.join(dir, 'VOC2007');
      fs.mkdirSync(path.join(root, 'ImageSets', 'Main'), { recursive: true });
      fs.mkdirSync(path.join(root, 'Annotations'), { recursive: true });
      fs.writeFileSync(path.join(root, 'ImageSets', 'Main', 'trainval.txt'), '000001\n000002\n');
      const obj = (name: string, d: number) => `<object><name>${name}</name><pose>Left</pose><difficult>${d}</difficult></object>`;
      fs.writeFileSync(path.join(root, 'Annotations', '000001.xml'), `<annotation>${obj('dog', 0)}${obj('person', 1)}${obj('dog', 0)}${obj('unicorn', 0)}</annotation>`);
      fs.writeFileSync(path.join(root, 'Annotations', '000002.xml'), `<annotation>${obj('car', 0)}${obj('car', 1)}</annotation>`);
      const ds = build({ type: 'VOC', data_root: root, image_set_path: 'ImageSets/Main/trainval.txt' });
      assert.deepEqual(ds.getDataInfo(0).gt_label, [11]);
      assert.deepEqual(ds.getDataInfo(0).gt_label_difficult, [14]);
      assert.equal(ds.getDataInfo(0).img_path, path.join(root, 'JPEGImages', '000001.jpg'));
      assert.deepEqual(ds.getCatIds(1), [6]);
      assert.throws(() => build({ type: 'VOC', data_root: root, image_set_path: 'x.txt', data_prefix: { img_path: 'JPEGImages' } }), isErr(/ann_path/));
    });

    it('CUB splits by train_test_split and shifts labels to start at 0', () => {
      const root = path.join(dir, 'CUB_200_2011');
      fs.mkdirSync(root, { recursive: true });
      fs.writeFileSync(path.join(root, 'images.txt'), '1 001.Black_footed_Albatross/a.jpg\n2 002.Laysan_Albatross/b.jpg\n3 002.Laysan_Albatross/c.jpg\n');
      fs.writeFileSync(path.join(root, 'image_class_labels.txt'), '1 1\n2 2\n3 2\n');
      fs.writeFileSync(path.join(root, 'train_test_split.txt'), '1 1\n2 0\n3 1\n');
      const train = build({ type: 'CUB', data_root: root, test_mode: false });
      const test = build({ type: 'CUB', data_root: root, test_mode: true });
      assert.deepEqual(train.getGtLabels(), [0, 1]);
      assert.deepEqual(test.getGtLabels(), [1]);
      assert.equal(test.getDataInfo(0).img_path, path.join(root, 'images', '002.Laysan_Albatross/b.jpg'));
      assert.equal(train.CLASSES?.length, 200);
    });
  });

  describe('wrappers', () => {
    const base = () => {
      const root = path.join(dir, 'wrap');
      fs.mkdirSync(root, { recursive: true });
      fs.writeFileSync(path.join(root, 'ann.txt'), ['a 0', 'b 0', 'c 0', 'd 0', 'e 0', 'f 0', 'g 0', 'h 0', 'i 1', 'j 2'].join('\n'));
      return { type: 'CustomDataset', ann_file: path.join(root, 'ann.txt'), classes: ['x', 'y', 'z'] };
    };
    const names = (ds: { length: number; getDataInfo(i: number): Record<string, unknown> }) => Array.from({ length: ds.length }, (_, i) => path.basename(ds.getDataInfo(i).img_path as string));
    it('RepeatDataset and ConcatDataset', () => {
      const r = build<RepeatDataset>({ type: 'RepeatDataset', dataset: base(), times: 3 });
      assert.equal(r.length, 30);
      assert.equal(names(r)[25], 'f');
      const c = build<ConcatDataset>({ type: 'ConcatDataset', datasets: [base(), { ...base(), indices: 2 }] });
      assert.equal(c.length, 12);
      assert.deepEqual(names(c).slice(9), ['j', 'a', 'b']);
      assert.deepEqual(c.metainfo.classes, ['x', 'y', 'z']);
      assert.throws(() => build({ type: 'ConcatDataset', datasets: [base(), { ...base(), classes: ['p', 'q', 'r'] }] }), isErr(/classes/));
    });
    it('ClassBalancedDataset repeats rare classes ceil(sqrt(thr / f)) times', () => {
      const cb = build<ClassBalancedDataset>({ type: 'ClassBalancedDataset', dataset: base(), oversample_thr: 0.5 });
      // f(0) = 0.8 -> 1; f(1) = f(2) = 0.1 -> sqrt(5) = 2.236 -> 3 copies
      const n = names(cb);
      assert.equal(n.filter((x) => x === 'i').length, 3);
      assert.equal(n.filter((x) => x === 'j').length, 3);
      assert.equal(n.filter((x) => x === 'a').length, 1);
      assert.equal(cb.length, 8 + 6);
    });
    it('KFoldDataset: folds partition the data; seed shuffles reproducibly', () => {
      const folds = [0, 1, 2, 3, 4].map((fold) => names(build<KFoldDataset>({ type: 'KFoldDataset', dataset: base(), fold, num_splits: 5, test_mode: true })));
      assert.deepEqual(folds, [['a', 'b'], ['c', 'd'], ['e', 'f'], ['g', 'h'], ['i', 'j']]);
      const train = names(build<KFoldDataset>({ type: 'KFoldDataset', dataset: base(), fold: 1, num_splits: 5 }));
      assert.deepEqual(train, ['a', 'b', 'e', 'f', 'g', 'h', 'i', 'j']);
      const s1 = names(build<KFoldDataset>({ type: 'KFoldDataset', dataset: base(), fold: 0, seed: 3, test_mode: true }));
      const s2 = names(build<KFoldDataset>({ type: 'KFoldDataset', dataset: base(), fold: 0, seed: 3, test_mode: true }));
      assert.deepEqual(s1, s2);
      const all = [0, 1, 2, 3, 4].flatMap((fold) => names(build<KFoldDataset>({ type: 'KFoldDataset', dataset: base(), fold, seed: 3, test_mode: true })));
      assert.deepEqual([...all].sort(), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    });
  });
});
