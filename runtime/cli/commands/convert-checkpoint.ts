import type { Command } from 'commander';
import type { CliContext } from '../main';

const FORMAT_NAMES: Record<string, string> = {
  pth: 'PyTorch',
  'pth-legacy': 'PyTorch legacy (non-zip)',
  safetensors: 'safetensors',
};

function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}

export function define(program: Command, _ctx: CliContext): void {
  program
    .command('convert-checkpoint')
    .description('convert a PyTorch .pth checkpoint to a .safetensors checkpoint (the pickle is read without running any code)')
    .argument('<in>', 'the checkpoint to read (.pth, or .safetensors)')
    .argument('<out>', 'the .safetensors file to write (written atomically)')
    .option('--keep-prefix', "keep the 'module.' prefix DataParallel adds to state-dict keys (default: strip it)")
    .option('--json', 'print the summary as JSON')
    .action(async (input: string, output: string, opts: { keepPrefix?: boolean; json?: boolean }) => {
      const { convertCheckpoint } = await import('../../engine/checkpoint/checkpoint');
      if (!/\.safetensors$/i.test(output)) {
        process.stderr.write(`mmcls: note: ${output} will be a safetensors file whatever its name; the usual extension is .safetensors\n`);
      }
      const s = await convertCheckpoint(input, output, opts.keepPrefix ? { reviseKeys: [] } : {});
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(s)}\n`);
        return;
      }
      const lines = [
        `converted ${s.input} (${FORMAT_NAMES[s.inputFormat] ?? s.inputFormat}) -> ${s.output} (${humanBytes(s.bytes)})`,
        `state dict: ${s.stateDictTensors} tensors, ${s.stateDictValues.toLocaleString('en-US')} values, ` +
          `${s.parameters.toLocaleString('en-US')} parameters (without BatchNorm running statistics)`,
        `other tensors (optimizer state, ...): ${s.otherTensors}`,
        `meta keys: ${s.metaKeys.length ? s.metaKeys.join(', ') : '(none)'}`,
      ];
      if (s.classes) {
        const shown = s.classes.slice(0, 5).join(', ');
        lines.push(`classes: ${s.classes.length} (${shown}${s.classes.length > 5 ? ', ...' : ''})`);
      }
      lines.push(`config text: ${s.hasConfig ? 'included' : 'not included'}`);
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
