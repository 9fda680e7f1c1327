// Importing this module registers every data transform in TRANSFORMS.
export * from './base';
export * from './loading';
export * from './processing';
export * from './auto_augment';
export * from './formatting';
