/**
 * Checkpoints: our safetensors format, PyTorch `.pth` import without code execution. See README.md.
 * Importing this index also installs the reader behind `init_cfg=dict(type='Pretrained')`.
 */
export { readCheckpoint, readCheckpointSync, parseCheckpoint, writeCheckpoint, convertCheckpoint, METADATA_KEY, FORMAT_VERSION } from './checkpoint';
export type { Checkpoint, CheckpointData, CheckpointFormat, ReadCheckpointOptions, ConversionSummary } from './checkpoint';
export { parseSafetensors, layoutSafetensors } from './safetensors';
export type { SafetensorsContent, SafetensorsLayout } from './safetensors';
export { readPth } from './pth';
export { writeFileAtomic } from './atomic';
export { loadStateDictFile, toStateEntries } from './nn-loader';
export {
  DTYPES,
  isTensorData,
  numel,
  toFloat32,
  toNumbers,
  halfToFloat,
  bfloat16ToFloat,
  floatToHalf,
  floatToBfloat16,
  fromTorchEntry,
  toTorchEntry,
} from './tensor';
export type { Dtype, TensorData, TensorArray, TorchEntry } from './tensor';
export type { StateValue, StateObject, JsonValue, JsonObject } from './state';
