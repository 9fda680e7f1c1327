export * from './module';
export * from './layer';
export * from './conv';
export * from './norm';
export * from './activation';
export * from './pooling';
export * from './builders';
export * from './init';
