/**
 * The train set sizes the LR lens uses (server/service/dataset-size.ts), on small generated files
 * whose sample counts are known by construction.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { datasetSize } from '../../server/service/dataset-size';

function idxLabels(n: number): Buffer {
  const b = Buffer.alloc(8 + n);
  b.writeUInt32BE(0x00000801, 0);
  b.writeUInt32BE(n, 4);
  return b;
}

describe('server: train set size without building the dataset', () => {
  let root: string;
  const put = (rel: string, data: string | Buffer = '') => {
    const f = path.join(root, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, data);
    return f;
  };
  const size = (ds: unknown) => datasetSize(ds, root)?.size;

  before(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-dssize-'));
    put('mnist/train-labels-idx1-ubyte', idxLabels(123));
    put('mnist/t10k-labels-idx1-ubyte.gz', zlib.gzipSync(idxLabels(45)));
    for (let i = 1; i <= 5; i++) put(`c10/cifar-10-batches-bin/data_batch_${i}.bin`, Buffer.alloc(i * 3073));
    put('c10/cifar-10-batches-bin/test_batch.bin', Buffer.alloc(3 * 3073));
    put('c100/cifar-100-binary/train.bin', Buffer.alloc(7 * 3074));
    put('c100bad/cifar-100-binary/train.bin', Buffer.alloc(7 * 3074 + 1));
    put('c10py/cifar-10-batches-py/data_batch_1', 'x');
    put('ann/train.txt', 'a/1.jpg 0\nb/2.jpg 1\n\nc/3.jpg 2\nd/4.jpg 0\n');
    put('ann/train.json', JSON.stringify({ metainfo: { classes: ['a'] }, data_list: [{ img_path: 'x', gt_label: 0 }, { img_path: 'y', gt_label: 0 }, { img_path: 'z', gt_label: 0 }] }));
    for (const f of ['cat/1.jpg', 'cat/2.JPEG', 'cat/deep/3.png', 'dog/4.bmp', 'dog/readme.txt', 'top.jpg']) put(`folders/${f}`);
    put('voc/ImageSets/Main/trainval.txt', '000001\n000002\n000003\n');
    put('cub/train_test_split.txt', '1 1\n2 0\n3 1\n4 1\n');
  });

  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('MNIST / Fashion-MNIST: the count in the labels file header (gzipped or not), else the standard split', () => {
    assert.deepEqual(datasetSize({ type: 'MNIST', data_prefix: 'mnist' }, root), { size: 123, from: 'train-labels-idx1-ubyte' });
    assert.equal(size({ type: 'FashionMNIST', data_root: 'mnist', test_mode: true }), 45);
    assert.equal(size({ type: 'FashionMNIST', data_prefix: path.join(root, 'mnist') }), 123);
    assert.deepEqual(datasetSize({ type: 'mmcls.FashionMNIST', data_prefix: 'absent' }, root), { size: 60000, from: 'the standard FashionMNIST training split' });
    assert.equal(size({ type: 'MNIST', data_prefix: 'absent', test_mode: true }), 10000);
  });

  it('CIFAR: binary batches by their record size (3073 / 3074 bytes), pickled batches and absent data by the standard split', () => {
    // 1 + 2 + 3 + 4 + 5 records in data_batch_1..5.bin
    assert.equal(size({ type: 'CIFAR10', data_prefix: 'c10' }), 15);
    assert.equal(size({ type: 'CIFAR10', data_prefix: 'c10', test_mode: true }), 3);
    assert.equal(size({ type: 'CIFAR100', data_root: 'c100' }), 7);
    assert.equal(size({ type: 'CIFAR100', data_root: 'c100bad' }), undefined);
    assert.equal(size({ type: 'CIFAR10', data_prefix: 'c10py' }), 50000);
    assert.equal(size({ type: 'CIFAR100', data_prefix: 'absent', test_mode: true }), 10000);
  });

  it('annotation files: non-empty lines, or the data_list of an OpenMMLab json file', () => {
    assert.equal(size({ type: 'ImageNet', data_root: 'ann', ann_file: 'train.txt' }), 4);
    assert.equal(size({ type: 'CustomDataset', ann_file: 'ann/train.json' }), 3);
    assert.equal(size({ type: 'CustomDataset', ann_file: 'ann/missing.txt' }), undefined);
    assert.equal(size({ type: 'CustomDataset', ann_file: 'ann/train.pkl' }), undefined);
  });

  it('a class-folder layout: images in the sub-folders (any depth, CustomDataset extensions), not beside them', () => {
    assert.equal(size({ type: 'CustomDataset', data_prefix: 'folders' }), 4);
    assert.equal(size({ type: 'CustomDataset', data_prefix: { img_path: 'folders' }, extensions: ['.png'] }), 1);
    assert.equal(size({ type: 'CustomDataset', data_prefix: 'nowhere' }), undefined);
  });

  it('VOC image sets and CUB training flags', () => {
    assert.equal(size({ type: 'VOC', data_root: 'voc', image_set_path: 'ImageSets/Main/trainval.txt' }), 3);
    assert.equal(size({ type: 'CUB', data_root: 'cub' }), 3);
    assert.equal(size({ type: 'CUB', data_root: 'cub', test_mode: true }), 1);
  });

  it('indices and the dataset wrappers as MMEngine applies them; unknown ones stay unknown', () => {
    const mnist = { type: 'MNIST', data_prefix: 'mnist' };
    assert.equal(size({ ...mnist, indices: 100 }), 100);
    assert.equal(size({ ...mnist, indices: 500 }), 123);
    assert.equal(size({ ...mnist, indices: -3 }), 3);
    assert.equal(size({ ...mnist, indices: [0, 5, 7] }), 3);
    assert.equal(size({ type: 'RepeatDataset', times: 3, dataset: mnist }), 369);
    assert.equal(size({ type: 'ConcatDataset', datasets: [mnist, { type: 'CIFAR100', data_root: 'c100' }] }), 130);
    assert.equal(size({ type: 'ConcatDataset', datasets: [mnist, { type: 'CustomDataset', data_prefix: 'nowhere' }] }), undefined);
    // 10 samples in 3 folds: boundaries floor(10 * k / 3) = 0, 3, 6, 10, so fold 1 holds 3 and training the other 7.
    const ten = { type: 'MNIST', data_prefix: 'mnist', indices: 10 };
    assert.equal(size({ type: 'KFoldDataset', dataset: ten, num_splits: 3, fold: 1 }), 7);
    assert.equal(size({ type: 'KFoldDataset', dataset: ten, num_splits: 3, fold: 2, test_mode: true }), 4);
    assert.equal(size({ type: 'ClassBalancedDataset', oversample_thr: 0.1, dataset: mnist }), undefined);
    assert.equal(size({ type: 'SomethingElse' }), undefined);
    assert.equal(size(null), undefined);
  });

  it('a file that changes is counted again', () => {
    const f = put('ann/changing.txt', 'a 0\nb 0\n');
    assert.equal(size({ type: 'CustomDataset', ann_file: f }), 2);
    fs.writeFileSync(f, 'a 0\nb 0\nc 0\n');
    assert.equal(size({ type: 'CustomDataset', ann_file: f }), 3);
  });
});
