// The data side of the runtime: datasets, wrappers, samplers, transforms, loading.
import './register';

export * from './image';
export * from './rng';
export * from './imageio';
export * from './imgops';
export * from './base_dataset';
export * from './custom';
export * from './builtin';
export * from './wrappers';
export * from './samplers';
export * from './loader';
export * from './categories';
export { loadStructuredFile } from './annotation';
export { loadPickle, PickledArray } from './pickle';
export * from './transforms';
