import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { MODELS } from '../../runtime/registry';
import { ImageClassifier } from '../../runtime/models';
import { filledStateDict } from '../../runtime/analysis/reference';
import { readCheckpoint, toStateEntries, writeCheckpoint } from '../../runtime/engine/checkpoint';
import { reparameterizeCheckpoint } from '../../runtime/apis/reparameterize';
import { loadConfig } from '../../runtime/config';
import { MmclsError } from '../../runtime/errors';
import { seq, useTestBackend } from '../nn/helpers';

/** `mmcls reparameterize CONFIG SRC DST` (reparameterize_model.py) on tiny MobileOne / RepVGG models. */
describe('mmcls reparameterize', () => {
  before(useTestBackend);
  let dir: string;
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-reparam-')); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const backbones: [string, string, number][] = [
    ['MobileOne', "dict(type='MobileOne', arch=dict(num_blocks=[1, 1, 1, 1], width_factor=[0.125, 0.125, 0.125, 0.125], num_conv_branches=[2, 2, 2, 2], num_se_blocks=[0, 0, 0, 1]))", 64],
    ['RepVGG', "dict(type='RepVGG', arch=dict(num_blocks=[1, 2, 1, 1], width_factor=[0.25, 0.25, 0.25, 0.25], group_layer_map=None, se_cfg=None))", 128],
  ];
  for (const [name, backbone, ch] of backbones) {
    it(`${name}: the written checkpoint loads into the deploy=True model and gives the training form's scores`, async () => {
      const cfgFile = path.join(dir, `${name}.py`);
      fs.writeFileSync(cfgFile, `model = dict(\n    type='ImageClassifier',\n    backbone=${backbone},\n    neck=dict(type='GlobalAveragePooling'),\n    head=dict(type='LinearClsHead', num_classes=4, in_channels=${ch}))\n`);
      const modelCfg = loadConfig(cfgFile).value.model as Record<string, unknown>;
      const train = MODELS.build<ImageClassifier>(modelCfg);
      const src = path.join(dir, `${name}.safetensors`);
      await writeCheckpoint(src, { stateDict: await filledStateDict(train), meta: { epoch: 3 } });
      train.loadStateDict(toStateEntries((await readCheckpoint(src)).stateDict) as never);
      train.eval();
      const x = tf.tensor4d(seq(2 * 32 * 32 * 3, 9), [2, 32, 32, 3]);
      const before = (train.forwardTensor(x) as tf.Tensor).dataSync();

      const dst = path.join(dir, `${name}_deploy.safetensors`);
      const s = await reparameterizeCheckpoint(cfgFile, src, dst);
      assert.ok(s.paramsAfter < s.paramsBefore);
      const ckpt = await readCheckpoint(dst);
      assert.equal(ckpt.meta.epoch, 3);
      assert.ok([...ckpt.stateDict.keys()].some((k) => k.endsWith('branch_reparam.weight')));
      const deploy = MODELS.build<ImageClassifier>({ ...modelCfg, backbone: { ...(modelCfg.backbone as object), deploy: true } });
      deploy.loadStateDict(toStateEntries(ckpt.stateDict) as never, { strict: true });
      deploy.eval();
      const after = (deploy.forwardTensor(x) as tf.Tensor).dataSync();
      let m = 0;
      let r = 0;
      for (let i = 0; i < after.length; i++) {
        m = Math.max(m, Math.abs(after[i] - before[i]));
        r = Math.max(r, Math.abs(before[i]));
      }
      assert.ok(m / r < 1e-5, `deploy vs train ${m / r}`);
      // A deploy-form config, or a backbone without a deploy form, is refused.
      await assert.rejects(reparameterizeCheckpoint(cfgFile, dst, path.join(dir, 'x.safetensors'), ['model.backbone.deploy=True']), MmclsError);
      x.dispose();
      train.dispose();
      deploy.dispose();
    });
  }

  it('refuses a backbone that has no deploy form', async () => {
    const cfgFile = path.join(dir, 'lenet.py');
    fs.writeFileSync(cfgFile, "model = dict(type='ImageClassifier', backbone=dict(type='LeNet5', num_classes=10), head=dict(type='ClsHead'))\n");
    await assert.rejects(reparameterizeCheckpoint(cfgFile, 'none.pth', path.join(dir, 'y.safetensors')), /cannot be re-parameterised/);
  });
});
