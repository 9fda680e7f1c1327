export * from './hook';
export * from './timer_logger';
export * from './checkpoint_hook';
export * from './ema_vis';
export * from './switch_recipe_hook';
