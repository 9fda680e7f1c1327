export * from './utils';
export * from './cross_entropy_loss';
export * from './label_smooth_loss';
export * from './focal_loss';
export * from './asymmetric_loss';
