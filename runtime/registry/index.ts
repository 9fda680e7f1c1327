import { Registry } from './registry';

export { Registry, ConfigDict, ComponentClass } from './registry';

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
