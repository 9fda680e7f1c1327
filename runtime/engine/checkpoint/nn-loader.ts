/**
 * Lets runtime/nn's `init_cfg=dict(type='Pretrained', checkpoint=...)` read checkpoint files:
 * importing this module (the checkpoint index does) installs the reader. Kept apart from the
 * reader itself because runtime/nn loads TensorFlow.js, which `convert-checkpoint` does not need.
 */
import { setCheckpointLoader } from '../../nn/init';
import type { StateEntry } from '../../nn/module';
import { readCheckpointSync } from './checkpoint';
import { TensorData, toTorchEntry } from './tensor';

/** The state dict of a checkpoint file as runtime/nn's `loadStateDict` takes it. */
export function loadStateDictFile(file: string): Map<string, StateEntry> {
  return toStateEntries(readCheckpointSync(file).stateDict);
}

/** Checkpoint tensors as `Module.loadStateDict` entries (F16/BF16 decoded, values shared). */
export function toStateEntries(sd: Map<string, TensorData>): Map<string, StateEntry> {
  const out = new Map<string, StateEntry>();
  for (const [k, t] of sd) out.set(k, toTorchEntry(t) as StateEntry);
  return out;
}

setCheckpointLoader((file) => loadStateDictFile(file));
