import { LOG_PROCESSORS } from '../../registry';
import { MessageHub } from './history_buffer';

/** One `log_processor.custom_cfg` entry: how one scalar is smoothed. */
export interface LogCustomCfg {
  /** The logged scalar (`loss`, `time`, ...). */
  data_src: string;
  /** 'mean', 'max', 'min' or 'current'. */
  method_name?: 'mean' | 'max' | 'min' | 'current';
  /** An iteration count, 'epoch' or 'global'. */
  window_size?: number | 'epoch' | 'global';
  /** Name in the log (default: data_src, replacing it). */
  log_name?: string;
}

/** Options of LogProcessor (`log_processor=dict(...)`). */
export interface LogProcessorOptions {
  /** Number of recent iterations whose values are averaged in each log line. @default 10 */
  window_size?: number;
  /** Whether the log says `Epoch(train) [e][i/n]` (True) or `Iter(train) [i/n]` (False). @default True */
  by_epoch?: boolean;
  /** Custom smoothing of individual scalars. @default None */
  custom_cfg?: LogCustomCfg[] | null;
  /** Digits after the decimal point. @default 4 */
  num_digits?: number;
  /** Prefix the keys of scalars.json with train/ val/ test/. @default False */
  log_with_hierarchy?: boolean;
}

/** What the log processor reads from the runner. */
export interface LogContext {
  messageHub: MessageHub;
  /** Epochs completed before this one (0-based current epoch). */
  epoch: number;
  /** Iterations completed (global). */
  iter: number;
  maxIters: number;
  maxEpochs?: number;
  /** Batches in the current dataloader. */
  dataloaderLength: number;
}

const LR_LIKE = /(^|\/)(lr|momentum)$/;

/** MMEngine's LogProcessor: smooths logged scalars over a window and formats the log lines. */
@LOG_PROCESSORS.registerModule()
export class LogProcessor {
  readonly window_size: number;
  readonly by_epoch: boolean;
  readonly custom_cfg: LogCustomCfg[];
  readonly num_digits: number;
  readonly log_with_hierarchy: boolean;

  constructor(options: LogProcessorOptions = {}) {
    this.window_size = options.window_size ?? 10;
    this.by_epoch = options.by_epoch ?? true;
    this.custom_cfg = options.custom_cfg ?? [];
    this.num_digits = options.num_digits ?? 4;
    this.log_with_hierarchy = options.log_with_hierarchy ?? false;
  }

  private fmt(v: number): string {
    return pyFixed(v, this.num_digits);
  }

  private smoothed(ctx: LogContext, mode: string, innerIter: number): Map<string, number> {
    const out = new Map<string, number>();
    const prefix = `${mode}/`;
    for (const [key, buf] of ctx.messageHub.logScalars) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length);
      const custom = this.custom_cfg.find((c) => c.data_src === name);
      if (custom) {
        const w = custom.window_size === 'epoch' ? innerIter + 1 : custom.window_size === 'global' ? undefined : custom.window_size ?? this.window_size;
        const m = custom.method_name ?? 'mean';
        const v = m === 'current' ? buf.current() : m === 'max' ? buf.max(w) : m === 'min' ? buf.min(w) : buf.mean(w);
        out.set(custom.log_name ?? name, v);
        if (custom.log_name && custom.log_name !== name) out.set(name, buf.mean(this.window_size));
        continue;
      }
      out.set(name, LR_LIKE.test(name) || name === 'memory' ? buf.current() : buf.mean(this.window_size));
    }
    return out;
  }

  /**
   * The scalars of a train or val/test iteration and its log line
   * (`Epoch(train) [1][ 10/469]  lr: 1.0000e-02  eta: 0:05:10  time: ...  loss: 2.3012`).
   */
  getLogAfterIter(ctx: LogContext, batchIdx: number, mode: 'train' | 'val' | 'test'): { tag: Record<string, number>; log: string } {
    const vals = this.smoothed(ctx, mode, batchIdx);
    const n = ctx.dataloaderLength;
    const cur = batchIdx + 1;
    let head: string;
    if (mode === 'train') {
      if (this.by_epoch) head = `Epoch(train) [${ctx.epoch + 1}][${String(cur).padStart(String(n).length)}/${n}]`;
      else head = `Iter(train) [${String(ctx.iter + 1).padStart(String(ctx.maxIters).length)}/${ctx.maxIters}]`;
    } else {
      const pos = `${String(cur).padStart(String(n).length)}/${n}`;
      head = mode === 'val' && this.by_epoch ? `Epoch(val) [${ctx.epoch}][${pos}]` : `${mode === 'val' ? 'Iter' : 'Epoch'}(${mode}) [${pos}]`;
    }
    const parts: string[] = [];
    const tag: Record<string, number> = {};
    for (const [k, v] of vals) if (LR_LIKE.test(k)) {
      parts.push(`${k}: ${pyExp(v, this.num_digits)}`);
      tag[k] = v;
    }
    if (vals.has('data_time')) tag.data_time = vals.get('data_time')!;
    const eta = ctx.messageHub.getInfo<number>('eta');
    if (mode === 'train' && typeof eta === 'number') parts.push(`eta: ${formatTimedelta(eta)}`);
    for (const k of ['time', 'data_time']) {
      const v = vals.get(k);
      if (v !== undefined) parts.push(`${k}: ${pyFixed(v, this.num_digits)}`);
    }
    // GPU memory in MB, after the times as MMEngine prints it (only where the backend has a GPU).
    const memory = vals.get('memory');
    if (memory !== undefined) {
      parts.push(`memory: ${Math.round(memory)}`);
      tag.memory = Math.round(memory);
    }
    for (const [k, v] of vals) {
      if (LR_LIKE.test(k) || k === 'time' || k === 'data_time' || k === 'memory') continue;
      parts.push(`${k}: ${pyFixed(v, this.num_digits)}`);
      tag[k] = v;
    }
    // scalars.json key order as MMEngine writes it: lr, data_time, losses..., time.
    if (vals.has('time')) tag.time = vals.get('time')!;
    return { tag, log: `${head}  ${parts.join('  ')}` };
  }

  /** The metrics line after a val/test epoch (`Epoch(val) [1][79/79]  accuracy/top1: 78.9000  ...`). */
  getLogAfterEpoch(ctx: LogContext, metrics: Record<string, unknown>, mode: 'val' | 'test'): { tag: Record<string, unknown>; log: string } {
    const n = ctx.dataloaderLength;
    const head = mode === 'val' && this.by_epoch ? `Epoch(val) [${ctx.epoch}][${n}/${n}]` : mode === 'val' ? `Iter(val) [${n}/${n}]` : `Epoch(test) [${n}/${n}]`;
    const parts: string[] = [];
    const tag: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(metrics)) {
      tag[k] = v;
      parts.push(`${k}: ${typeof v === 'number' ? this.fmt(v) : JSON.stringify(v)}`);
    }
    const vals = this.smoothed(ctx, mode, n - 1);
    for (const k of ['data_time', 'time']) {
      const buf = ctx.messageHub.getScalar(`${mode}/${k}`);
      if (buf && vals.has(k)) {
        const v = buf.mean(n);
        tag[k] = v;
        parts.push(`${k}: ${pyFixed(v, this.num_digits)}`);
      }
    }
    return { tag, log: `${head}  ${parts.join('  ')}` };
  }
}

/**
 * Python's `f'{v:.4f}'`: like toFixed, except that exact binary ties round half to even
 * (19.53125 -> '19.5312', where toFixed gives '19.5313').
 */
export function pyFixed(v: number, digits: number): string {
  const scale = 10 ** digits;
  const scaled = v * scale;
  const f = Math.floor(scaled);
  if (scaled - f === 0.5 && Math.abs(scaled) < 2 ** 52 && (f + 0.5) / scale === v && f % 2 === 0) return (f / scale).toFixed(digits);
  return v.toFixed(digits);
}

/** Python's `'%.4e' % v`: the exponent has at least two digits (`1.0000e-02`). */
export function pyExp(v: number, digits: number): string {
  return v.toExponential(digits).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Python's `str(datetime.timedelta(seconds=int(s)))`: `0:05:10`, `1 day, 2:00:00`. */
export function formatTimedelta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) seconds = 0;
  let t = Math.floor(seconds);
  const days = Math.floor(t / 86400);
  t %= 86400;
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  const hms = `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return days ? `${days} day${days > 1 ? 's' : ''}, ${hms}` : hms;
}
