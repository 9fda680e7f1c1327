/** Reading a merged config's data pipelines (plain values; no runtime modules are loaded). */

type Dict = { [k: string]: unknown };
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The pipeline a model is evaluated with: test_dataloader's dataset pipeline, else val_dataloader's,
 * else the `test_pipeline` / `val_pipeline` variables (0.x-style configs), with the dataset type of
 * the dataloader it came from. Undefined when the config has none.
 */
export function evalPipelineOf(cfg: Dict): { pipeline: Dict[]; datasetType?: string } | undefined {
  for (const key of ['test_dataloader', 'val_dataloader']) {
    const dl = cfg[key];
    if (isDict(dl) && isDict(dl.dataset) && Array.isArray(dl.dataset.pipeline)) {
      const type = dl.dataset.type;
      return { pipeline: dl.dataset.pipeline.filter(isDict), datasetType: typeof type === 'string' ? type : undefined };
    }
  }
  for (const key of ['test_pipeline', 'val_pipeline']) {
    if (Array.isArray(cfg[key])) return { pipeline: (cfg[key] as unknown[]).filter(isDict) };
  }
  return undefined;
}
