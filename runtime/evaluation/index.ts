export * from './base_metric';
export * from './sample';
export * from './single_label';
export * from './multi_label';
export * from './voc_multi_label';
export * from './evaluator';
