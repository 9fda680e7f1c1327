/**
 * `vis_data/scalars.json` (one JSON object per logged step, as MMEngine's LocalVisBackend writes
 * it) into plottable series. No vscode import (unit-tested; the webview receives the result).
 */

export interface Series {
  /** `loss`, `lr`, `accuracy/top1`, ... */
  key: string;
  /** `step` of each point (the iteration for training scalars, the epoch for validation ones). */
  x: number[];
  y: number[];
}

export interface RunScalars {
  /** Label of the run in the legend. */
  label: string;
  series: Series[];
}

/** Keys that describe the step rather than a quantity to plot. */
const SKIP = new Set(['step', 'iter', 'epoch', 'data_time', 'time', 'memory']);

/** Parses the file's text; lines that are not JSON objects (a partial last line while training) are skipped. */
export function parseScalars(text: string, label: string): RunScalars {
  const by = new Map<string, Series>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(t) as Record<string, unknown>;
    } catch {
      continue;
    }
    const step = typeof o.step === 'number' ? o.step : typeof o.iter === 'number' ? o.iter : undefined;
    if (step === undefined) continue;
    for (const [k, v] of Object.entries(o)) {
      if (SKIP.has(k) || typeof v !== 'number' || !Number.isFinite(v)) continue;
      let s = by.get(k);
      if (!s) by.set(k, (s = { key: k, x: [], y: [] }));
      s.x.push(step);
      s.y.push(v);
    }
  }
  return { label, series: [...by.values()] };
}

/** Training scalars (`loss`, `lr`, ...) first, then validation metrics, each group by name. */
export function orderKeys(runs: RunScalars[]): string[] {
  const keys = new Set<string>();
  for (const r of runs) for (const s of r.series) keys.add(s.key);
  const isMetric = (k: string) => k.includes('/');
  const rank = (k: string) => (k === 'loss' ? 0 : k.startsWith('loss') ? 1 : k === 'lr' ? 2 : isMetric(k) ? 4 : 3);
  return [...keys].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
