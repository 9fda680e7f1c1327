import * as path from 'path';
import { loadConfig } from '../../runtime/config';
import { inputSizeOf, modelComplexityOfConfig } from '../../runtime/analysis/config-flops';

const CONFIGS = path.resolve(__dirname, '../../configs');

/** What `mmcls flops CONFIG` measures for a file under configs/: the input shape, parameters and FLOPs (eval mode). */
export function configFigures(file: string): { inputShape: number[]; params: number; flops: number; cfg: Record<string, unknown> } {
  const cfg = loadConfig(path.join(CONFIGS, file)).value as Record<string, unknown>;
  const { result } = modelComplexityOfConfig(cfg, inputSizeOf(cfg), file);
  return { inputShape: result.inputShape, params: result.params, flops: result.flops, cfg };
}
