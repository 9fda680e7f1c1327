import { MmclsError } from '../errors';
import { evalPipelineOf } from '../config/pipelines';
import { MODELS } from '../registry';
import { Module } from '../nn/module';
import '../models';
import { ComplexityResult, analyzeComplexity } from './complexity';

/** Input channels for a config: backbone.in_channels, else the data preprocessor's mean length, else 3. */
export function inputChannelsOf(cfg: Record<string, unknown>): number {
  const model = (cfg.model ?? {}) as Record<string, unknown>;
  const backbone = (model.backbone ?? {}) as Record<string, unknown>;
  if (typeof backbone.in_channels === 'number') return backbone.in_channels;
  for (const dp of [model.data_preprocessor, cfg.data_preprocessor]) {
    const mean = (dp as Record<string, unknown> | undefined)?.mean;
    if (Array.isArray(mean) && mean.length > 0) return mean.length;
  }
  return 3;
}

/**
 * Builds `cfg.model` (no weights are allocated) and analyses it for an input of [C, H, W]
 * (`size` = [H, W]). `file` names the config in errors.
 */
export function modelComplexityOfConfig(
  cfg: Record<string, unknown>,
  size: [number, number] | number[],
  file = 'config',
): { result: ComplexityResult; model: Module } {
  if (!cfg.model || typeof cfg.model !== 'object') {
    throw new MmclsError(`${file}: the config has no model dict`, { code: 'analysis.no-model', location: { file } });
  }
  const model = MODELS.build<Module>(cfg.model);
  if (!(model instanceof Module)) throw new MmclsError(`${file}: model did not build a network`, { code: 'analysis.no-model' });
  model.eval();
  const result = analyzeComplexity(model, [inputChannelsOf(cfg), size[0], size[1] ?? size[0]]);
  return { result, model };
}

type Dict = Record<string, unknown>;
const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

function pair(v: unknown): [number, number] | undefined {
  if (typeof v === 'number' && v > 0) return [v, v];
  // MMCV sizes are (w, h); the input shape is (h, w).
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number' && x > 0)) return [v[1] as number, v[0] as number];
  return undefined;
}

/**
 * The [H, W] a config's model sees at test time, as MMClassification's own measurements choose it:
 * the last CenterCrop / EfficientNetCenterCrop `crop_size` of the test pipeline, else a final
 * `Resize(scale)`, else 32 for CIFAR and 28 for MNIST-style data without a resize, else
 * `backbone.img_size`, else 224 (get_flops.py's default).
 */
export function inputSizeOf(cfg: Dict): [number, number] {
  const ev = evalPipelineOf(cfg);
  if (ev) {
    const steps = ev.pipeline;
    for (let i = steps.length - 1; i >= 0; i--) {
      const t = steps[i];
      if (t.type === 'CenterCrop' || t.type === 'EfficientNetCenterCrop') {
        const s = pair(t.crop_size);
        if (s) return s;
      }
    }
    const resizes = steps.filter((t) => t.type === 'Resize');
    const last = resizes.length ? pair(resizes[resizes.length - 1].scale) : undefined;
    if (last) return last;
    if (ev.datasetType && /^CIFAR/.test(ev.datasetType)) return [32, 32];
    if (ev.datasetType && /MNIST$/.test(ev.datasetType)) return [28, 28];
  }
  const model = isDict(cfg.model) ? cfg.model : {};
  const backbone = isDict(model.backbone) ? model.backbone : {};
  const img = pair(backbone.img_size);
  if (img) return img;
  return [224, 224];
}
