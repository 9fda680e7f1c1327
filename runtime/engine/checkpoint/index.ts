/** Checkpoints: our safetensors format, PyTorch `.pth` import without code execution. See README.md. */
export { readCheckpoint, writeCheckpoint, convertCheckpoint, METADATA_KEY, FORMAT_VERSION } from './checkpoint';
export type { Checkpoint, CheckpointData, CheckpointFormat, ReadCheckpointOptions, ConversionSummary } from './checkpoint';
export { parseSafetensors, layoutSafetensors } from './safetensors';
export type { SafetensorsContent, SafetensorsLayout } from './safetensors';
export { readPth } from './pth';
export { writeFileAtomic } from './atomic';
export { DTYPES, isTensorData, numel, toFloat32, toNumbers, halfToFloat, bfloat16ToFloat } from './tensor';
export type { Dtype, TensorData, TensorArray } from './tensor';
export type { StateValue, StateObject, JsonValue, JsonObject } from './state';
