import { Registry } from './registry';

export { Registry, ConfigDict, ComponentClass, BuildOptions, RegistryOptions, RegistryArgumentError } from './registry';
export type { int, ComponentConfig } from './option-types';
export type { ArgProblem } from './check';

// The registries of MMClassification 1.x (mmcls/registry.py), with the same names.
export const MODELS = new Registry('MODELS');
export const DATASETS = new Registry('DATASETS');
export const TRANSFORMS = new Registry('TRANSFORMS');
export const DATA_SAMPLERS = new Registry('DATA_SAMPLERS');
export const METRICS = new Registry('METRICS');
export const EVALUATOR = new Registry('EVALUATOR');
export const HOOKS = new Registry('HOOKS');
export const OPTIMIZERS = new Registry('OPTIMIZERS');
export const OPTIM_WRAPPERS = new Registry('OPTIM_WRAPPERS');
export const OPTIM_WRAPPER_CONSTRUCTORS = new Registry('OPTIM_WRAPPER_CONSTRUCTORS');
export const PARAM_SCHEDULERS = new Registry('PARAM_SCHEDULERS');
export const LOOPS = new Registry('LOOPS');
export const VISUALIZERS = new Registry('VISUALIZERS');
export const VISBACKENDS = new Registry('VISBACKENDS');
/** Batch augmentations (`Mixup`, `CutMix`, `ResizeMix`) for `model.train_cfg.augments`, as in mmcls 1.x. */
export const BATCH_AUGMENTS = new Registry('BATCH_AUGMENTS');
/** Weight initialisers for `init_cfg` (`Kaiming`, `TruncNormal`, `Pretrained`, ...), MMEngine's. */
export const WEIGHT_INITIALIZERS = new Registry('WEIGHT_INITIALIZERS');
/** `log_processor=dict(...)` (MMEngine's LogProcessor). */
export const LOG_PROCESSORS = new Registry('LOG_PROCESSORS');

/** All registries by name (`REGISTRIES.MODELS`), for tools that take a registry name. */
export const REGISTRIES: Record<string, Registry> = {
  MODELS,
  DATASETS,
  TRANSFORMS,
  DATA_SAMPLERS,
  METRICS,
  EVALUATOR,
  HOOKS,
  OPTIMIZERS,
  OPTIM_WRAPPERS,
  OPTIM_WRAPPER_CONSTRUCTORS,
  PARAM_SCHEDULERS,
  LOOPS,
  VISUALIZERS,
  VISBACKENDS,
  BATCH_AUGMENTS,
  WEIGHT_INITIALIZERS,
  LOG_PROCESSORS,
};
