/**
 * Neovim's built-in LSP client can use the server: headless nvim opens a config, receives its
 * diagnostics and a hover. Skipped (with a message) where nvim is not installed
 * (Debian: `apt-get install -y neovim`).
 */
import { strict as assert } from 'assert';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { serverCommand } from './lsp-client';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'server', 'ws');

// Works with Neovim 0.7 (start_client + buf_attach_client) and later (vim.lsp.start).
const LUA = String.raw`
local out = os.getenv('MMCLS_OUT')
local function finish(t)
  local f = io.open(out, 'w'); f:write(vim.fn.json_encode(t)); f:close()
  vim.cmd('qa!')
end
local ok, err = pcall(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('MMCLS_FILE')))
  local buf = vim.api.nvim_get_current_buf()
  local cfg = { name = 'mmcls', cmd = vim.fn.json_decode(os.getenv('MMCLS_CMD')), root_dir = os.getenv('MMCLS_ROOT') }
  local id
  if vim.lsp.start then id = vim.lsp.start(cfg) else id = vim.lsp.start_client(cfg); vim.lsp.buf_attach_client(buf, id) end
  local got = vim.wait(90000, function() return #vim.diagnostic.get(buf) > 0 end, 100)
  local diags = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or ''
    table.insert(diags, { lnum = d.lnum, col = d.col, message = d.message, severity = d.severity, code = code })
  end
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = 2, character = 6 } }
  local res = vim.lsp.buf_request_sync(buf, 'textDocument/hover', params, 60000) or {}
  local hover = ''
  for _, r in pairs(res) do
    if r.result and r.result.contents then hover = r.result.contents.value or '' end
  end
  finish({ got = got, diagnostics = diags, hover = hover })
end)
if not ok then finish({ error = tostring(err) }) end
`;

describe('Neovim built-in LSP client', function () {
  this.timeout(180_000);

  it('gets diagnostics and hover from `mmcls lsp`', function () {
    const probe = spawnSync('nvim', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      // eslint-disable-next-line no-console
      console.log('    (skipped: nvim is not installed; on Debian: apt-get install -y neovim)');
      this.skip();
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmcls-nvim-'));
    try {
      fs.mkdirSync(path.join(tmp, 'configs', '_base_', 'models'), { recursive: true });
      fs.mkdirSync(path.join(tmp, 'configs', 'demo'), { recursive: true });
      fs.copyFileSync(path.join(FIXTURES, 'configs', '_base_', 'models', 'resnet50.py'), path.join(tmp, 'configs', '_base_', 'models', 'resnet50.py'));
      const file = path.join(tmp, 'configs', 'demo', 'bad_args.py');
      fs.writeFileSync(file, fs.readFileSync(path.join(FIXTURES, 'configs', 'demo', 'bad_args.py'), 'utf8').replace(/\$\{\w+\}/g, ''));
      const lua = path.join(tmp, 'check.lua');
      fs.writeFileSync(lua, LUA);
      const out = path.join(tmp, 'out.json');
      const { cmd, args } = serverCommand();
      execFileSync('nvim', ['--headless', '-n', '-i', 'NONE', '-u', 'NONE', '-c', `luafile ${lua}`], {
        env: { ...process.env, MMCLS_OUT: out, MMCLS_FILE: file, MMCLS_ROOT: tmp, MMCLS_CMD: JSON.stringify([cmd, ...args]) },
        timeout: 170_000,
        stdio: 'ignore',
      });
      const r = JSON.parse(fs.readFileSync(out, 'utf8')) as { error?: string; got: boolean; diagnostics: { lnum: number; message: string; code: string }[]; hover: string };
      assert.equal(r.error, undefined, r.error);
      assert.ok(r.got, 'no diagnostics arrived');
      const dpth = r.diagnostics.find((d) => /"dpth"/.test(d.message));
      assert.ok(dpth, JSON.stringify(r.diagnostics));
      assert.equal(dpth.lnum, 2);
      assert.equal(dpth.code, 'registry.unknown-arg');
      assert.match(r.hover, /model\.backbone/);
      assert.match(r.hover, /depth=50/);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
