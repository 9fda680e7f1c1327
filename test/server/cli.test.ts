/** `mmcls lsp --stdio` (the compiled CLI) speaks LSP: skipped before `npm run build`. */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { distHasLsp, LspClient } from './lsp-client';

describe('mmcls lsp --stdio', function () {
  this.timeout(120_000);

  it('initializes, publishes diagnostics and exits with 0 on shutdown/exit', async function () {
    if (!distHasLsp()) {
      // eslint-disable-next-line no-console
      console.log('    (skipped: dist/ has no lsp command yet; run npm run build)');
      this.skip();
    }
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-lsp-cli-'));
    const file = path.join(root, 'configs', 'a.py');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, "_base_ = ['./missing.py']\n");
    const client = new LspClient(root, true);
    try {
      const init = (await client.initialize(root)) as { serverInfo?: { name: string } };
      assert.equal(init.serverInfo?.name, 'mmcls-config-server');
      const d = await client.open(file);
      assert.deepEqual(d.diagnostics.map((x) => x.code), ['config.base-not-found']);
      assert.deepEqual(d.diagnostics[0].range.start, { line: 0, character: 10 });
    } finally {
      await client.stop();
      fs.rmSync(root, { recursive: true, force: true });
    }
    assert.equal(client.exitCode, 0);
  });
});
