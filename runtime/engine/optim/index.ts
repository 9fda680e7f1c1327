export * from './types';
export { Optimizer } from './optimizer';
export type { ParamState } from './optimizer';
export * from './optimizers';
export * from './clip_grad';
export * from './optim_wrapper';
export * from './default_constructor';
export * from './logging';
export * from './describe_params';
