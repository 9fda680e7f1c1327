// Entry point of a data-loading worker thread: builds the dataset from its config and runs the
// pipeline (decode and augmentation) for the samples the main thread asks for.
import { parentPort, workerData } from 'worker_threads';
import { isMmclsError } from '../errors';
import { DATASETS } from '../registry';
import { IndexedDataset } from './base_dataset';
import { encodeValue } from './serialize';
import './register';

export interface WorkerInit {
  datasetCfg: Record<string, unknown>;
  imports: string[];
}

export interface WorkerTask {
  id: number;
  items: { index: number; position: number }[];
  seed: number;
  epoch: number;
}

const init = workerData as WorkerInit;
let dataset: IndexedDataset | undefined;
let initError: unknown;
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  for (const m of init.imports) require(m);
  dataset = DATASETS.build<IndexedDataset>(init.datasetCfg);
} catch (e) {
  initError = e;
}

function errorMessage(e: unknown) {
  if (isMmclsError(e)) return { message: e.message, code: e.code, location: e.location, mmcls: true };
  return { message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined, mmcls: false };
}

parentPort!.on('message', async (task: WorkerTask) => {
  if (initError !== undefined || !dataset) {
    parentPort!.postMessage({ id: task.id, error: errorMessage(initError) });
    return;
  }
  try {
    const samples = await Promise.all(task.items.map((it) => dataset!.getItem(it.index, { seed: task.seed, epoch: task.epoch, position: it.position })));
    const transfer: ArrayBuffer[] = [];
    const encoded = encodeValue(samples, transfer);
    parentPort!.postMessage({ id: task.id, samples: encoded }, transfer);
  } catch (e) {
    parentPort!.postMessage({ id: task.id, error: errorMessage(e) });
  }
});
