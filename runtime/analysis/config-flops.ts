import { MmclsError } from '../errors';
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
