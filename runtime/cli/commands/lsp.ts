import type { Command } from 'commander';
import type { CliContext } from '../main';

/**
 * `mmcls lsp --stdio`: the config language server (completion, diagnostics, hover, merged-config
 * preview, FLOPs lenses) for editors with an LSP client (VS Code, Neovim, Emacs, Helix).
 */
export function define(program: Command, ctx: CliContext): void {
  program
    .command('lsp')
    .description('run the config language server (LSP over stdio) for editors')
    .option('--stdio', 'talk LSP over stdin/stdout (the default)')
    .action(async () => {
      // vscode-languageserver reads the transport from process.argv; stdio unless told otherwise.
      if (!process.argv.some((a) => a === '--stdio' || a === '--node-ipc' || a.startsWith('--socket=') || a.startsWith('--pipe='))) {
        process.argv.push('--stdio');
      }
      const { startServer } = await import('../../../server/server');
      startServer();
      // The connection keeps the process alive; the exit code is set when the client asks to exit.
      ctx.setExitCode(0);
      await new Promise<void>(() => undefined);
    });
}
