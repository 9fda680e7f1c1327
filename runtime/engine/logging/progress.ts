/**
 * How a run reports progress to whoever started it: a progress bar on a terminal, JSON lines for
 * the editor (`--progress json`), or nothing (plain log lines only, e.g. output piped to a file).
 */
export type ProgressMode = 'bar' | 'json' | 'none';

export interface ProgressEvents {
  start: { config: string; work_dir: string; backend: string; max_iters: number; max_epochs?: number; resumed_from?: string | null };
  iter: { epoch: number; iter: number; max_iters: number; loss: number; lr: number; eta_s: number };
  val: { epoch: number; iter: number; metrics: Record<string, unknown> };
  test: { metrics: Record<string, unknown>; checkpoint: string };
  checkpoint: { path: string; epoch: number; iter: number; best?: boolean };
  interrupted: { signal: string; checkpoint: string | null; resume_command: string };
  done: { metrics: Record<string, unknown>; work_dir: string; checkpoint?: string | null };
  error: { message: string; code?: string; file?: string; line?: number; column?: number };
}

export type ProgressEventName = keyof ProgressEvents;

export interface ProgressReporter {
  readonly mode: ProgressMode;
  emit<K extends ProgressEventName>(event: K, data: ProgressEvents[K]): void;
  /** Wraps console output so that log lines do not collide with the bar. */
  consoleLine(line: string): void;
  /** Ends the bar line (before the process prints its last words). */
  finish(): void;
}

function fmtEta(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`;
}

/** Picks the reporter for `--progress` (default: a bar when stderr is a terminal, else none). */
export function createProgress(mode: string | undefined, streams: { out?: NodeJS.WriteStream; err?: NodeJS.WriteStream } = {}): ProgressReporter {
  const out = streams.out ?? process.stdout;
  const err = streams.err ?? process.stderr;
  const m = mode ?? (err.isTTY ? 'bar' : 'none');
  if (m === 'json') {
    return {
      mode: 'json',
      emit(event, data) {
        out.write(`${JSON.stringify({ event, ...data }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}\n`);
      },
      // stdout carries only JSON lines: log lines go to stderr.
      consoleLine(line) {
        err.write(`${line}\n`);
      },
      finish() {},
    };
  }
  if (m === 'bar') {
    let shown = '';
    const clear = () => {
      if (shown) err.write('\r\x1b[2K');
    };
    return {
      mode: 'bar',
      emit(event, data) {
        if (event === 'iter') {
          const d = data as ProgressEvents['iter'];
          const width = 30;
          const frac = d.max_iters > 0 ? Math.min(1, d.iter / d.max_iters) : 0;
          const fill = Math.round(frac * width);
          const text = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${d.iter}/${d.max_iters}  epoch ${d.epoch}  loss ${d.loss.toFixed(4)}  lr ${d.lr.toExponential(2)}  eta ${fmtEta(d.eta_s)}`;
          clear();
          err.write(text);
          shown = text;
        }
      },
      consoleLine(line) {
        clear();
        out.write(`${line}\n`);
        if (shown) err.write(shown);
      },
      finish() {
        if (shown) err.write('\n');
        shown = '';
      },
    };
  }
  if (m !== 'none') throw new Error(`unknown progress mode ${m}`);
  return {
    mode: 'none',
    emit() {},
    consoleLine(line) {
      out.write(`${line}\n`);
    },
    finish() {},
  };
}
