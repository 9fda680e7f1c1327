export * from './complexity';
export * from './reference';
export * from './config-flops';
