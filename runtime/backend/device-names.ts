/** What `--device` / `env_cfg.device` may say (no imports: the CLI's help reads it without loading TensorFlow.js). */
export type DeviceName = 'auto' | 'cpu' | 'wasm' | 'tfjs-node' | 'tfjs-node-gpu' | 'gpu' | 'cuda' | 'webgpu';

export const DEVICE_NAMES: readonly DeviceName[] = ['auto', 'cpu', 'wasm', 'tfjs-node', 'tfjs-node-gpu', 'gpu', 'cuda', 'webgpu'];
