/**
 * Entry point of the config language server: `node dist/server/main.js --stdio` (what
 * `mmcls lsp --stdio` and the VS Code extension run). The transport flags (`--stdio`,
 * `--node-ipc`, `--socket=N`) are read by vscode-languageserver itself.
 */
import { startServer } from './server';

startServer();
