import { Command, CommanderError } from 'commander';
import { isMmclsError } from '../errors';

/**
 * One module per sub-command under ./commands. Each exports `define(program)`, which declares the
 * command's flags and an action that loads whatever heavy code it needs only when it runs, so that
 * `mmcls --help` and the cheap commands start fast.
 */
export interface CommandModule {
  define(program: Command, ctx: CliContext): void;
}

export interface CliContext {
  /** Set the process exit status (the last call wins; default 0). */
  setExitCode(code: number): void;
}

// Keep this list in the order `mmcls --help` shows the commands.
const COMMANDS: string[] = ['train', 'test', 'print-config', 'convert-checkpoint', 'reparameterize', 'browse-dataset', 'verify-dataset', 'flops', 'classify', 'lsp'];

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const ctx: CliContext = { setExitCode: (c) => { exitCode = c; } };
  const program = new Command('mmcls')
    .description('MMClassification-style image classification on TensorFlow.js')
    .showHelpAfterError()
    .exitOverride();
  for (const name of COMMANDS) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(`./commands/${name}`) as CommandModule;
    mod.define(program, ctx);
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors were already printed.
      return e.exitCode;
    }
    if (isMmclsError(e)) {
      process.stderr.write(`mmcls: ${e.format()}\n`);
      return 1;
    }
    throw e;
  }
  return exitCode;
}

/**
 * The process entry (`bin/mmcls`, the extension's bundled CLI): runs `main`, sets the exit status,
 * prints unexpected errors as internal errors (status 70). If the event loop empties while the
 * command is still pending (a promise nothing will settle), Node.js would end the process silently
 * with status 0: that is reported and fails with 70 as well. `run` is `main` (tests pass another).
 */
export function runCli(argv: string[], run: (argv: string[]) => Promise<number> = main): void {
  let settled = false;
  process.on('beforeExit', () => {
    if (settled) return;
    settled = true;
    process.stderr.write('mmcls: internal error: the command stopped while waiting for work that can never finish (nothing was left running). Please report this with the command line.\n');
    process.exitCode = 70;
  });
  run(argv).then(
    (code) => { settled = true; process.exitCode = code; },
    (err: unknown) => {
      settled = true;
      process.stderr.write(`mmcls: internal error: ${(err instanceof Error && err.stack) || String(err)}\n`);
      process.exitCode = 70;
    },
  );
}
