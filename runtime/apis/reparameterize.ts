import { MmclsError } from '../errors';
import { loadConfig } from '../config';
import { MODELS } from '../registry';
import '../models';
import { readCheckpoint, toStateEntries, writeCheckpoint } from '../engine/checkpoint';
import { Module, formatLoadReport } from '../nn/module';

/** What {@link reparameterizeCheckpoint} did. */
export interface ReparameterizeSummary {
  /** Parameters before and after the switch. */
  paramsBefore: number;
  paramsAfter: number;
  /** State-dict entries written. */
  tensors: number;
  output: string;
}

/**
 * The seed's tools/convert_models/reparameterize_model.py: builds the config's model, loads the
 * training-form checkpoint `src`, calls `model.backbone.switchToDeploy()` and writes the fused
 * weights to `dst` (safetensors, with the source's meta), ready for the deploy config or
 * `--cfg-options model.backbone.deploy=True`.
 */
export async function reparameterizeCheckpoint(config: string, src: string, dst: string, cfgOptions: string[] = []): Promise<ReparameterizeSummary> {
  const cfg = loadConfig(config, { cfgOptions }).value as Record<string, unknown>;
  const modelCfg = cfg.model;
  if (!modelCfg || typeof modelCfg !== 'object') throw new MmclsError(`${config}: the config has no model dict`, { code: 'config.model', location: { file: config } });
  type Switchable = { switchToDeploy?: () => void; deploy?: boolean };
  type Model = Module & { backbone?: Module & Switchable };
  const model = MODELS.build<Model>(modelCfg as Record<string, unknown>, undefined, { path: 'model' });
  const backbone = model.backbone;
  if (!backbone || typeof backbone.switchToDeploy !== 'function') {
    throw new MmclsError(`${config}: the backbone ${backbone?.typeName ?? '(none)'} cannot be re-parameterised (MobileOne, RepVGG and RepLKNet can)`, { code: 'model.no-reparameterize' });
  }
  if (backbone.deploy) {
    throw new MmclsError(`${config}: the backbone is already in deploy form (deploy=True); give the training-form config`, { code: 'model.already-deploy' });
  }
  const ckpt = await readCheckpoint(src);
  const report = model.loadStateDict(toStateEntries(ckpt.stateDict) as never, { strict: false });
  if (report.missing.length || report.mismatched.length) {
    throw new MmclsError(`${src} does not fit the model of ${config}:\n${formatLoadReport(report)}`, { code: 'checkpoint.mismatch', location: { file: src } });
  }
  model.eval();
  const paramsBefore = model.numParameters();
  backbone.switchToDeploy();
  const sd = await model.stateDictAsync();
  await writeCheckpoint(dst, { stateDict: sd, meta: ckpt.meta, ...(ckpt.classes ? { classes: ckpt.classes } : {}) });
  const summary = { paramsBefore, paramsAfter: model.numParameters(), tensors: sd.size, output: dst };
  model.dispose();
  return summary;
}

