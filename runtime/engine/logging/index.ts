export * from './history_buffer';
export * from './logger';
export * from './log_processor';
export * from './progress';
export * from './vis_backend';
