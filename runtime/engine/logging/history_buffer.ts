/**
 * MMEngine's HistoryBuffer: the recent values of one logged scalar (loss, time, lr, ...) with the
 * statistics the log processor asks for. The window is what `log_processor.window_size` averages.
 */
export class HistoryBuffer {
  private values: number[] = [];
  private counts: number[] = [];
  private total = 0;
  private totalCount = 0;

  constructor(readonly maxLength = 1_000_000) {}

  update(value: number, count = 1): void {
    this.values.push(value);
    this.counts.push(count);
    if (this.values.length > this.maxLength) {
      this.values.shift();
      this.counts.shift();
    }
    this.total += value * count;
    this.totalCount += count;
  }

  get length(): number {
    return this.values.length;
  }

  /** The latest value. */
  current(): number {
    return this.values.length ? this.values[this.values.length - 1] : NaN;
  }

  /** Mean of the last `window` values (MMEngine's `mean(window_size)`: a plain mean, counts ignored). */
  mean(window?: number): number {
    const v = window === undefined ? this.values : this.values.slice(-window);
    if (!v.length) return NaN;
    return v.reduce((a, b) => a + b, 0) / v.length;
  }

  max(window?: number): number {
    const v = window === undefined ? this.values : this.values.slice(-window);
    return v.length ? Math.max(...v) : NaN;
  }

  min(window?: number): number {
    const v = window === undefined ? this.values : this.values.slice(-window);
    return v.length ? Math.min(...v) : NaN;
  }

  /** Mean of everything ever added, weighted by counts. */
  globalMean(): number {
    return this.totalCount ? this.total / this.totalCount : NaN;
  }

  /** The state MMEngine saves in `message_hub.log_scalars` (as plain data). */
  stateDict(): { values: number[]; counts: number[]; total: number; total_count: number; max_length: number } {
    return { values: [...this.values], counts: [...this.counts], total: this.total, total_count: this.totalCount, max_length: this.maxLength };
  }

  static fromState(s: { values?: unknown; counts?: unknown; total?: unknown; total_count?: unknown; max_length?: unknown }): HistoryBuffer {
    const b = new HistoryBuffer(typeof s.max_length === 'number' ? s.max_length : 1_000_000);
    b.values = Array.isArray(s.values) ? s.values.map(Number) : [];
    b.counts = Array.isArray(s.counts) ? s.counts.map(Number) : b.values.map(() => 1);
    b.total = typeof s.total === 'number' ? s.total : 0;
    b.totalCount = typeof s.total_count === 'number' ? s.total_count : 0;
    return b;
  }
}

/**
 * MMEngine's MessageHub: the scalars hooks log during a run (`train/loss`, `train/lr`,
 * `val/accuracy/top1`, ...) and runtime information (`epoch`, `iter`, `max_iters`, best score).
 * Its state goes into checkpoints so a resumed run logs the same window averages.
 */
export class MessageHub {
  readonly logScalars = new Map<string, HistoryBuffer>();
  readonly runtimeInfo = new Map<string, unknown>();

  updateScalar(key: string, value: number, count = 1): void {
    let b = this.logScalars.get(key);
    if (!b) this.logScalars.set(key, (b = new HistoryBuffer()));
    b.update(value, count);
  }

  getScalar(key: string): HistoryBuffer | undefined {
    return this.logScalars.get(key);
  }

  updateInfo(key: string, value: unknown): void {
    this.runtimeInfo.set(key, value);
  }

  getInfo<T = unknown>(key: string): T | undefined {
    return this.runtimeInfo.get(key) as T | undefined;
  }

  stateDict(): { log_scalars: Record<string, ReturnType<HistoryBuffer['stateDict']>>; runtime_info: Record<string, unknown> } {
    const log_scalars: Record<string, ReturnType<HistoryBuffer['stateDict']>> = {};
    // Only train scalars matter to a resumed run; val/test buffers are rebuilt each evaluation.
    for (const [k, b] of this.logScalars) log_scalars[k] = b.stateDict();
    const runtime_info: Record<string, unknown> = {};
    for (const [k, v] of this.runtimeInfo) if (isJsonable(v)) runtime_info[k] = v;
    return { log_scalars, runtime_info };
  }

  loadStateDict(s: unknown): void {
    if (!s || typeof s !== 'object') return;
    const o = s as { log_scalars?: Record<string, unknown>; runtime_info?: Record<string, unknown> };
    this.logScalars.clear();
    for (const [k, v] of Object.entries(o.log_scalars ?? {})) {
      if (v && typeof v === 'object') this.logScalars.set(k, HistoryBuffer.fromState(v as Record<string, unknown>));
    }
    for (const [k, v] of Object.entries(o.runtime_info ?? {})) this.runtimeInfo.set(k, v);
  }
}

function isJsonable(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isJsonable);
  if (typeof v === 'object') return Object.getPrototypeOf(v) === Object.prototype && Object.values(v as object).every(isJsonable);
  return false;
}
