export * from './param_scheduler';
export * from './lr_momentum';
export * from './build';
export * from './simulate';
export * from './reduce_on_plateau';
