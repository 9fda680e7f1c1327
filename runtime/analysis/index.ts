export * from './complexity';
export * from './reference';
