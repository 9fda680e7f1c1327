import { strict as assert } from 'assert';
import * as path from 'path';
import { DEFAULT_SETTINGS, browseDatasetArgs, classifyArgs, cliInvocation, configStem, flopsArgs, formatCommandLine, testArgs, trainArgs, workDirFor } from '../../client/core/args';

describe('client/args: command lines of the mmcls CLI', () => {
  const cfg = '/ws/configs/resnet/resnet18_8xb32_in1k.py';

  it('names work dirs as tools/train.py does: <root>/<config name>', () => {
    assert.equal(configStem(cfg), 'resnet18_8xb32_in1k');
    assert.equal(workDirFor(cfg, '/ws', 'work_dirs'), path.resolve('/ws/work_dirs/resnet18_8xb32_in1k'));
    assert.equal(workDirFor(cfg, '/ws', '/abs/runs'), path.resolve('/abs/runs/resnet18_8xb32_in1k'));
    assert.equal(workDirFor(cfg, undefined, ''), path.resolve('/ws/configs/resnet/work_dirs/resnet18_8xb32_in1k'));
  });

  it('train / test always ask for JSON progress and pass the device unless auto', () => {
    assert.deepEqual(trainArgs(cfg, '/wd', DEFAULT_SETTINGS), ['train', cfg, '--work-dir', '/wd', '--progress', 'json']);
    assert.deepEqual(trainArgs(cfg, '/wd', { device: 'cpu', workDirRoot: 'x', extraTrainArgs: ['--cfg-options', 'train_cfg.max_epochs=1'] }, { resume: true }), [
      'train', cfg, '--work-dir', '/wd', '--progress', 'json', '--device', 'cpu', '--resume', '--cfg-options', 'train_cfg.max_epochs=1',
    ]);
    assert.deepEqual(trainArgs(cfg, '/wd', DEFAULT_SETTINGS, { resume: '/wd/epoch_2.safetensors' }).slice(-2), ['--resume', '/wd/epoch_2.safetensors']);
    assert.deepEqual(testArgs(cfg, '/wd/e.safetensors', '/wd', { ...DEFAULT_SETTINGS, device: 'wasm' }), ['test', cfg, '/wd/e.safetensors', '--work-dir', '/wd', '--progress', 'json', '--device', 'wasm']);
  });

  it('flops, browse-dataset and classify', () => {
    assert.deepEqual(flopsArgs(cfg), ['flops', cfg, '--format', 'json']);
    assert.deepEqual(flopsArgs(cfg, 'table', [28, 28]), ['flops', cfg, '--format', 'table', '--shape', '28', '28']);
    assert.deepEqual(browseDatasetArgs(cfg, '/o', { phase: 'val', count: 8, mode: 'original' }), ['browse-dataset', cfg, '--output-dir', '/o', '--phase', 'val', '--show-number', '8', '--mode', 'original']);
    assert.deepEqual(classifyArgs(cfg, '/c.safetensors', '/i.png', 5, DEFAULT_SETTINGS), ['classify', cfg, '/c.safetensors', '/i.png', '--topk', '5', '--format', 'json']);
  });

  it('runs the CLI with the editor\'s Node (ELECTRON_RUN_AS_NODE) unless a Node.js is configured', () => {
    const a = cliInvocation(['train', 'c.py'], { execPath: '/app/code', cliScript: '/ext/out/mmcls.js', extraEnv: { MMCLS_REGISTRY_SCHEMA: '/ext/out/schema.json' } });
    assert.deepEqual(a, { command: '/app/code', args: ['/ext/out/mmcls.js', 'train', 'c.py'], env: { MMCLS_REGISTRY_SCHEMA: '/ext/out/schema.json', ELECTRON_RUN_AS_NODE: '1' } });
    const b = cliInvocation(['x'], { nodePath: ' /usr/bin/node ', execPath: '/app/code', cliScript: '/m.js' });
    assert.deepEqual(b, { command: '/usr/bin/node', args: ['/m.js', 'x'], env: {} });
    assert.equal(formatCommandLine('/usr/bin/node', ['m.js', 'a b', "it's", '--x=1']), `/usr/bin/node m.js 'a b' 'it'\\''s' --x=1`);
  });
});
