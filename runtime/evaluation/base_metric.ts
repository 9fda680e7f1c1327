import { engineLog } from '../engine/optim/logging';

/** A metric's value: a number, or per-class lists, or a matrix (`confusion_matrix/result`). */
export type MetricValue = number | number[] | number[][];
export type MetricResults = { [name: string]: MetricValue };

/** Options every metric has (MMEngine's `BaseMetric`). */
export interface BaseMetricOptions {
  /** Where results are gathered in distributed evaluation; only `'cpu'` applies here. @default 'cpu' */
  collect_device?: 'cpu' | 'gpu';
  /** Prefix of the result names (`accuracy/top1`); the metric's own default when unset. @default None */
  prefix?: string | null;
}

/**
 * The base of metrics (MMEngine's `BaseMetric`): `process(dataBatch, dataSamples)` per batch
 * stores what `computeMetrics(results)` needs; `evaluate(size)` computes the metrics on the first
 * `size` results, prefixes their names (`accuracy/top1`) and clears the results.
 */
export abstract class BaseMetric {
  /** The prefix used when `prefix` is not given (`'accuracy'`, `'single-label'`, ...). */
  static readonly defaultPrefix: string | null = null;
  readonly collectDevice: string;
  readonly prefix: string | null;
  results: unknown[] = [];
  /** Dataset meta information (`classes`, ...), set by the evaluator. */
  datasetMeta: { [key: string]: unknown } | undefined;

  constructor(options: BaseMetricOptions = {}) {
    this.collectDevice = options.collect_device ?? 'cpu';
    const own = (this.constructor as typeof BaseMetric).defaultPrefix;
    this.prefix = options.prefix || own;
  }

  /** Stores the per-sample results of one batch in `this.results`. */
  abstract process(dataBatch: unknown, dataSamples: readonly unknown[]): void;

  /** Computes the metrics (names without prefix) from the collected results. */
  abstract computeMetrics(results: unknown[]): MetricResults;

  /** Computes the metrics over the first `size` results and clears them. */
  evaluate(size?: number): MetricResults {
    if (this.results.length === 0) {
      engineLog(
        'warning',
        `${this.constructor.name} got empty \`self.results\`. Please ensure that the processed results are properly added into \`self.results\` in \`process\` method.`,
      );
    }
    const results = size === undefined ? this.results : this.results.slice(0, size);
    const metrics = results.length ? this.computeMetrics(results) : {};
    const out: MetricResults = {};
    for (const [k, v] of Object.entries(metrics)) out[this.prefix ? `${this.prefix}/${k}` : k] = v;
    this.results = [];
    return out;
  }
}
