/**
 * Work the extension runs in a child process (never in the extension host), printing one JSON
 * object on stdout:
 *
 *   node tasks.js lr-schedule CONFIG [--dataset-size N]
 *     -> { ok: true, curve: ConfigScheduleCurve, dataset_size, dataset_size_from }
 *
 * Failures print `{ ok: false, message, file?, line? }` and exit 1.
 */
import { MmclsError, isMmclsError } from '../runtime/errors';

export interface WorkerFailure {
  ok: false;
  message: string;
  file?: string;
  line?: number;
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function lrSchedule(args: string[]): Promise<unknown> {
  const config = args[0];
  if (!config) throw new MmclsError('lr-schedule needs a config file', { code: 'cli.usage' });
  const { loadConfig } = await import('../runtime/config');
  const { scheduleFromConfig } = await import('../runtime/engine/schedulers');
  const loaded = loadConfig(config);
  const cfg = JSON.parse(JSON.stringify(loaded.value)) as Record<string, unknown>;
  let size = Number(flag(args, '--dataset-size'));
  let from = 'setting';
  if (!(size > 0)) {
    // The train dataset's length, as vis_scheduler gets it (building the dataset reads its annotations).
    const dl = cfg.train_dataloader as { dataset?: Record<string, unknown> } | undefined;
    if (!dl?.dataset) throw new MmclsError('the config has no train_dataloader.dataset: give the dataset size', { code: 'scheduler.invalid-cfg' });
    await import('../runtime/datasets');
    const { DATASETS } = await import('../runtime/registry');
    const ds = DATASETS.build(dl.dataset) as { length?: number };
    size = Number(ds.length);
    from = 'dataset';
    if (!(size > 0)) throw new MmclsError('the train dataset is empty', { code: 'scheduler.invalid-cfg' });
  }
  return { ok: true, curve: scheduleFromConfig(cfg, { dataset_size: size }), dataset_size: size, dataset_size_from: from };
}

export async function workerMain(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    let out: unknown;
    if (cmd === 'lr-schedule') out = await lrSchedule(rest);
    else throw new MmclsError(`unknown worker command ${JSON.stringify(cmd)}`, { code: 'cli.usage' });
    process.stdout.write(JSON.stringify(out) + '\n');
    return 0;
  } catch (e) {
    const f: WorkerFailure = { ok: false, message: e instanceof Error ? e.message : String(e) };
    if (isMmclsError(e)) {
      f.message = e.format();
      f.file = e.location.file;
      f.line = e.location.line;
    }
    process.stdout.write(JSON.stringify(f) + '\n');
    return 1;
  }
}

if (require.main === module) {
  void workerMain(process.argv.slice(2)).then((c) => (process.exitCode = c));
}
