import { MmclsError } from '../errors';
import { ConfigDict, EVALUATOR, METRICS } from '../registry';
import { BaseMetric, MetricResults } from './base_metric';

/** Options of `Evaluator`. */
export interface EvaluatorOptions {
  /** One metric config (`dict(type='Accuracy', topk=(1, 5))`) or a list of them. */
  metrics: ConfigDict | BaseMetric | Array<ConfigDict | BaseMetric>;
}

/**
 * Runs one or several metrics over the model's outputs (MMEngine's `Evaluator`): `process` per
 * batch, `evaluate(size)` at the end; result names must not collide.
 */
@EVALUATOR.registerModule()
export class Evaluator {
  readonly metrics: BaseMetric[];
  private meta: { [key: string]: unknown } | undefined;

  constructor(options: EvaluatorOptions) {
    const m = options.metrics;
    const list = Array.isArray(m) ? m : [m];
    this.metrics = list.map((x) => (x instanceof BaseMetric ? x : METRICS.build<BaseMetric>(x)));
  }

  get datasetMeta(): { [key: string]: unknown } | undefined {
    return this.meta;
  }

  set datasetMeta(meta: { [key: string]: unknown } | undefined) {
    this.meta = meta;
    for (const m of this.metrics) m.datasetMeta = meta;
  }

  /** Hands one batch of data samples (and optionally the batch itself) to every metric. */
  process(dataSamples: readonly unknown[], dataBatch?: unknown): void {
    for (const m of this.metrics) m.process(dataBatch, dataSamples);
  }

  /** The results of all metrics over `size` samples. */
  evaluate(size?: number): MetricResults {
    const out: MetricResults = {};
    for (const m of this.metrics) {
      const r = m.evaluate(size);
      for (const [k, v] of Object.entries(r)) {
        if (k in out) {
          throw new MmclsError(
            `There are multiple evaluation results with the same metric name ${k}. Please make sure all metrics have different prefixes.`,
            { code: 'metric.name-conflict' },
          );
        }
        out[k] = v;
      }
    }
    return out;
  }

  /** Evaluates saved predictions at once (MMEngine's `offline_evaluate`), in chunks of `chunkSize`. */
  offlineEvaluate(dataSamples: readonly unknown[], data?: readonly unknown[], chunkSize = 1): MetricResults {
    if (data && data.length !== dataSamples.length) {
      throw new MmclsError(`data_samples (${dataSamples.length}) and data (${data.length}) should have the same length`, {
        code: 'metric.bad-input',
      });
    }
    for (let i = 0; i < dataSamples.length; i += chunkSize) {
      this.process(dataSamples.slice(i, i + chunkSize), data ? data.slice(i, i + chunkSize) : undefined);
    }
    return this.evaluate(dataSamples.length);
  }
}

/**
 * The runner's `build_evaluator`: an Evaluator as is, a dict with `metrics` through the EVALUATOR
 * registry (type `Evaluator` by default), any other dict or list as the metrics of an `Evaluator`.
 */
export function buildEvaluator(cfg: unknown): Evaluator {
  if (cfg instanceof Evaluator) return cfg;
  if (Array.isArray(cfg)) return new Evaluator({ metrics: cfg as ConfigDict[] });
  if (cfg && typeof cfg === 'object') {
    const d = cfg as ConfigDict;
    if ('metrics' in d) return EVALUATOR.build<Evaluator>({ type: 'Evaluator', ...d });
    return new Evaluator({ metrics: d });
  }
  throw new MmclsError(`val_evaluator / test_evaluator must be a dict or a list of dicts, got ${JSON.stringify(cfg)}`, {
    code: 'metric.invalid-cfg',
  });
}
