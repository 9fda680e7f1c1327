/**
 * Reading the `--progress json` stream of `mmcls train` / `mmcls test`: one JSON object per line on
 * stdout, `event` naming the kind (runtime/engine/logging/progress.ts defines the shapes). No vscode
 * import here, so that the parsing is unit-tested with mocha.
 */
import type { ProgressEventName, ProgressEvents } from '../../runtime/engine/logging/progress';

export type ProgressEvent = { [K in ProgressEventName]: { event: K } & ProgressEvents[K] }[ProgressEventName];

const EVENTS: ReadonlySet<string> = new Set<ProgressEventName>(['start', 'iter', 'val', 'test', 'checkpoint', 'interrupted', 'done', 'error']);

/** Splits a byte stream into lines (a chunk may end in the middle of a line or of a UTF-8 character). */
export class LineSplitter {
  private rest = '';
  private readonly decoder = new TextDecoder('utf-8');

  push(chunk: Buffer | string): string[] {
    this.rest += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const parts = this.rest.split(/\r?\n/);
    this.rest = parts.pop() ?? '';
    return parts;
  }

  /** The last line when the stream ended without a newline. */
  flush(): string[] {
    this.rest += this.decoder.decode();
    const r = this.rest;
    this.rest = '';
    return r.length ? [r] : [];
  }
}

/** Numbers that the writer turned into strings (`"NaN"`, `"Infinity"`) come back as numbers. */
function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return undefined;
}

/**
 * One progress event, or null when the line is not one (a stray print, a partial line, an unknown
 * event, an `iter` without its numbers).
 */
export function parseProgressLine(line: string): ProgressEvent | null {
  const t = line.trim();
  if (!t.startsWith('{')) return null;
  let o: unknown;
  try {
    o = JSON.parse(t);
  } catch {
    return null;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return null;
  const rec = o as Record<string, unknown>;
  if (typeof rec.event !== 'string' || !EVENTS.has(rec.event)) return null;
  if (rec.event === 'iter') {
    const fields = ['epoch', 'iter', 'max_iters', 'loss', 'lr', 'eta_s'] as const;
    const out: Record<string, unknown> = { event: 'iter' };
    for (const f of fields) {
      const n = num(rec[f]);
      if (n === undefined) return null;
      out[f] = n;
    }
    return out as ProgressEvent;
  }
  if ((rec.event === 'val' || rec.event === 'test' || rec.event === 'done') && (typeof rec.metrics !== 'object' || rec.metrics === null)) {
    rec.metrics = {};
  }
  if (rec.event === 'start') {
    const m = num(rec.max_iters);
    if (m === undefined || typeof rec.work_dir !== 'string') return null;
    rec.max_iters = m;
  }
  if (rec.event === 'error' && typeof rec.message !== 'string') return null;
  return rec as unknown as ProgressEvent;
}

/** `h:mm:ss`, or `--:--` when unknown. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const t = Math.round(seconds);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
}

function fmtNum(v: number, digits = 4): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) < 1e-3 || Math.abs(v) >= 1e5)) return v.toExponential(2);
  return Number(v.toFixed(digits)).toString();
}

/** The progress notification's text for an `iter` event: `iter 12/32 · epoch 1 · loss 2.3012 · lr 0.01 · ETA 0:00:10`. */
export function describeIter(e: ProgressEvents['iter']): string {
  return `iter ${e.iter}/${e.max_iters} · epoch ${e.epoch} · loss ${fmtNum(e.loss)} · lr ${fmtNum(e.lr, 6)} · ETA ${formatEta(e.eta_s)}`;
}

/** `accuracy/top1: 81.25, accuracy/top5: 99.5` (metric values as the runtime reports them). */
export function formatMetrics(metrics: Record<string, unknown> | undefined): string {
  if (!metrics) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(metrics)) {
    if (typeof v === 'number') parts.push(`${k}: ${fmtNum(v)}`);
    else if (typeof v === 'string' || typeof v === 'boolean') parts.push(`${k}: ${v}`);
    else if (Array.isArray(v) && v.every((x) => typeof x === 'number') && v.length <= 8) parts.push(`${k}: [${v.map((x) => fmtNum(x as number)).join(', ')}]`);
  }
  return parts.join(', ');
}

/** Percent of the run done, from an `iter` event (0..100). */
export function percentDone(iter: number, maxIters: number): number {
  if (!(maxIters > 0)) return 0;
  return Math.max(0, Math.min(100, (100 * iter) / maxIters));
}
