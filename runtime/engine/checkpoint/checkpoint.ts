/**
 * Checkpoints: what training saves and resumes from, and what inference loads.
 *
 * Our files are single safetensors files: the model's state dict as tensors under their MMCls key
 * names, in PyTorch layout (so Python's `safetensors.torch.load_file` reads them as is), and
 * everything else in the header's `__metadata__["mmcls"]` as one JSON document laid out like the
 * `.pth` dict MMEngine saves (`meta`, `optimizer`, `param_schedulers`, ...). Tensors inside that
 * state (optimizer moments) are stored next to the weights under their dotted path
 * (`optimizer.state.0.momentum_buffer`) and referenced from the JSON as `{"__tensor__": key}`.
 * See README.md in this folder.
 */
import * as fs from 'fs';
import { dirname, resolve } from 'path';
import { MmclsError } from '../../errors';
import { writeAll, writeFileAtomic } from './atomic';
import { readPth } from './pth';
import { isZip } from './zip';
import { layoutSafetensors, parseSafetensors } from './safetensors';
import { JsonObject, StateObject, StateValue, decodeState, encodeState, isJsonObject, isStateObject } from './state';
import { TensorData, TorchEntry, fromTorchEntry, isTensorData, numel, tensorBytes } from './tensor';

/** The `__metadata__` key that holds our JSON document, and its format version. */
export const METADATA_KEY = 'mmcls';
export const FORMAT_VERSION = 1;

/** What a checkpoint holds; the input of `writeCheckpoint`. */
export interface CheckpointData {
  /**
   * Model weights and buffers, MMCls key names, PyTorch layouts (conv OIHW, linear [out, in]).
   * `Module.stateDict()`'s entries (PyTorch dtype names) are accepted as they are.
   */
  stateDict: Map<string, TensorData | TorchEntry> | Record<string, TensorData | TorchEntry>;
  /** `meta`: epoch, iter, seed, time, mmcls_version, cfg, dataset_meta, ... (any JSON-able values). */
  meta?: StateObject;
  /** The optimizer's state dict (`state` keyed by parameter index, `param_groups`); may hold tensors. */
  optimizer?: StateValue;
  /** The parameter schedulers' states (MMEngine's `param_schedulers`, a list). */
  schedulers?: StateValue;
  /** The config text; stored as `meta.cfg`, where MMEngine keeps it. */
  config?: string;
  /** The class names; stored as `meta.dataset_meta.classes`, where MMEngine keeps them. */
  classes?: string[];
  /** Any other top-level state (message_hub, RNG state, EMA, ...); may hold tensors anywhere. */
  extra?: StateObject;
}

export type CheckpointFormat = 'safetensors' | 'pth' | 'pth-legacy';

/** A checkpoint as read: `CheckpointData` with every field present and where it came from. */
export interface Checkpoint {
  path: string;
  format: CheckpointFormat;
  stateDict: Map<string, TensorData>;
  meta: StateObject;
  optimizer?: StateValue;
  schedulers?: StateValue;
  /** `meta.cfg` (MMEngine) or `meta.config` (MMCls 0.x). */
  config?: string;
  /** `meta.dataset_meta.classes` (MMEngine) or `meta.CLASSES` (MMCls 0.x). */
  classes?: string[];
  extra: StateObject;
  /**
   * The non-tensor state as our safetensors header stores it (tensors as `{"__tensor__": key}`):
   * as read for safetensors files, as `writeCheckpoint` would write it for `.pth` files.
   */
  json: JsonObject;
  /** A safetensors file's `__metadata__` strings other than ours (e.g. `format: pt`). */
  fileMetadata: Record<string, string>;
}

export interface ReadCheckpointOptions {
  /**
   * Renames applied to state-dict keys in order, as MMEngine's `load_checkpoint(revise_keys=...)`.
   * @default [[/^module\./, '']] (drops the prefix DataParallel adds)
   */
  reviseKeys?: Array<[RegExp, string]>;
}

const TOP_LEVEL = new Set(['mmcls_checkpoint', 'state_dict', 'meta', 'optimizer', 'param_schedulers']);

/** Read a checkpoint: our safetensors files, any safetensors file, or a PyTorch `.pth`. */
export async function readCheckpoint(path: string, options: ReadCheckpointOptions = {}): Promise<Checkpoint> {
  let bytes: Uint8Array;
  try {
    bytes = await fs.promises.readFile(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
  return parseCheckpoint(bytes, path, options);
}

/** `readCheckpoint` for callers that cannot wait (`init_cfg=dict(type='Pretrained')`). */
export function readCheckpointSync(path: string, options: ReadCheckpointOptions = {}): Checkpoint {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(path);
  } catch (e) {
    throw cannotRead(path, e);
  }
  return parseCheckpoint(bytes, path, options);
}

function cannotRead(path: string, e: unknown): MmclsError {
  const code = (e as NodeJS.ErrnoException).code;
  return new MmclsError(code === 'ENOENT' ? `checkpoint not found` : `cannot read the checkpoint (${(e as Error).message})`, {
    code: 'checkpoint.not-found',
    location: { file: path },
    cause: e,
  });
}

/** Parse a checkpoint held in memory; `path` is for messages. */
export function parseCheckpoint(bytes: Uint8Array, path: string, options: ReadCheckpointOptions = {}): Checkpoint {
  const ckpt = isSafetensors(bytes, path) ? fromSafetensors(bytes, path) : fromPth(bytes, path);
  const revise = options.reviseKeys ?? [[/^module\./, '']];
  if (revise.length) {
    const renamed = new Map<string, TensorData>();
    for (const [k, t] of ckpt.stateDict) {
      let name = k;
      for (const [re, to] of revise) name = name.replace(re, to);
      renamed.set(name, t);
    }
    ckpt.stateDict = renamed;
  }
  if (ckpt.format !== 'safetensors') ckpt.json = buildDocument(ckpt, new Set(ckpt.stateDict.keys()), () => undefined);
  return ckpt;
}

/**
 * Which format the bytes are, by content (the extension is not trusted: `torch.save` writes whatever
 * name it is given). A safetensors file has a JSON object right after its 8-byte header length,
 * which must fit in the file; PyTorch files never have '{' there (ZIP: the local header's version
 * field; legacy: the pickled magic number). The first bytes alone do not decide: a header length of
 * 640 starts with 0x80 0x02, like a pickle.
 */
function isSafetensors(bytes: Uint8Array, path: string): boolean {
  if (bytes.length >= 10 && bytes[8] === 0x7b) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n <= BigInt(bytes.length - 8)) return true;
  }
  if (isZip(bytes) || (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5)) return false;
  return /\.safetensors$/i.test(path);
}

function fromSafetensors(bytes: Uint8Array, path: string): Checkpoint {
  const { tensors, metadata } = parseSafetensors(bytes, path);
  const fileMetadata = { ...metadata };
  delete fileMetadata[METADATA_KEY];
  const text = metadata[METADATA_KEY];
  if (text === undefined) {
    // Someone else's safetensors file: all of it is the state dict.
    return { path, format: 'safetensors', stateDict: tensors, meta: {}, extra: {}, json: {}, fileMetadata };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new MmclsError(`the checkpoint's metadata is not valid JSON (${(e as Error).message})`, { code: 'checkpoint.corrupt', location: { file: path } });
  }
  if (!isJsonObject(doc)) throw new MmclsError(`the checkpoint's metadata is not a JSON object`, { code: 'checkpoint.corrupt', location: { file: path } });
  const version = doc.mmcls_checkpoint;
  if (typeof version === 'number' && version > FORMAT_VERSION) {
    throw new MmclsError(`the checkpoint was written by a newer mmcls (format ${version}; this one reads up to ${FORMAT_VERSION}); update mmcls.`, {
      code: 'checkpoint.unsupported',
      location: { file: path },
    });
  }
  const used = new Set<string>();
  const getTensor = (key: string): TensorData => {
    const t = tensors.get(key);
    if (!t) throw new MmclsError(`the metadata refers to tensor '${key}', which the file does not contain`, { code: 'checkpoint.corrupt', location: { file: path } });
    used.add(key);
    return t;
  };
  const stateDict = new Map<string, TensorData>();
  const keys = doc.state_dict;
  if (Array.isArray(keys)) for (const k of keys) stateDict.set(String(k), getTensor(String(k)));
  const value = (k: string): StateValue | undefined => (doc as JsonObject)[k] === undefined ? undefined : decodeState((doc as JsonObject)[k], getTensor, path);
  const metaV = value('meta');
  const extra: StateObject = {};
  for (const k of Object.keys(doc)) if (!TOP_LEVEL.has(k)) extra[k] = value(k) as StateValue;
  const ckpt: Checkpoint = {
    path,
    format: 'safetensors',
    stateDict,
    meta: isStateObject(metaV) ? metaV : {},
    optimizer: value('optimizer'),
    schedulers: value('param_schedulers'),
    extra,
    json: doc,
    fileMetadata,
  };
  // Tensors neither in the state dict list nor referenced: keep them rather than lose weights.
  for (const [k, t] of tensors) if (!used.has(k)) stateDict.set(k, t);
  return withConfigAndClasses(ckpt);
}

function fromPth(bytes: Uint8Array, path: string): Checkpoint {
  const { value, format } = readPth(bytes, path);
  if (!isStateObject(value)) {
    throw new MmclsError(`the checkpoint holds a ${Array.isArray(value) ? 'list' : typeof value}, not a dict with a state dict`, {
      code: 'checkpoint.unsupported',
      location: { file: path },
    });
  }
  const allTensors = (v: StateValue | undefined): v is StateObject => isStateObject(v) && Object.values(v).every(isTensorData);
  let sdSource: string | undefined;
  if (isStateObject(value.state_dict)) sdSource = 'state_dict';
  else if (allTensors(value.model)) sdSource = 'model'; // DeiT / timm checkpoints
  const stateDict = new Map<string, TensorData>();
  const extra: StateObject = {};
  const sd = sdSource ? (value[sdSource] as StateObject) : value;
  for (const [k, v] of Object.entries(sd)) {
    if (isTensorData(v)) stateDict.set(k, v);
    else if (sdSource) ((extra.state_dict_extra ??= {}) as StateObject)[k] = v;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k === sdSource || TOP_LEVEL.has(k) || (!sdSource && isTensorData(v))) continue;
    extra[k] = v;
  }
  const ckpt: Checkpoint = {
    path,
    format,
    stateDict,
    meta: isStateObject(value.meta) ? value.meta : {},
    optimizer: value.optimizer,
    schedulers: value.param_schedulers,
    extra,
    json: {},
    fileMetadata: {},
  };
  return withConfigAndClasses(ckpt);
}

function withConfigAndClasses(ckpt: Checkpoint): Checkpoint {
  const m = ckpt.meta;
  const cfg = m.cfg ?? m.config;
  if (typeof cfg === 'string') ckpt.config = cfg;
  const ds = m.dataset_meta;
  const classes = isStateObject(ds) && Array.isArray(ds.classes) ? ds.classes : m.CLASSES;
  if (Array.isArray(classes) && classes.every((c) => typeof c === 'string')) ckpt.classes = classes as string[];
  return ckpt;
}

/** The JSON document of our header; tensors outside the state dict go through `put` (path, tensor). */
function buildDocument(data: CheckpointData, stateDictKeys: Set<string>, put: (key: string, t: TensorData) => void): JsonObject {
  const taken = new Set(stateDictKeys);
  const putTensor = (p: string, t: TensorData): string => {
    let key = p;
    for (let i = 1; taken.has(key); i++) key = `${p}~${i}`;
    taken.add(key);
    put(key, t);
    return key;
  };
  const meta: StateObject = { ...(data.meta ?? {}) };
  if (data.config !== undefined && meta.cfg === undefined && meta.config === undefined) meta.cfg = data.config;
  if (data.classes !== undefined) {
    const ds = isStateObject(meta.dataset_meta) ? { ...meta.dataset_meta } : {};
    if (ds.classes === undefined && meta.CLASSES === undefined) {
      ds.classes = [...data.classes];
      meta.dataset_meta = ds;
    }
  }
  const doc: JsonObject = { mmcls_checkpoint: FORMAT_VERSION, state_dict: [...stateDictKeys] };
  doc.meta = encodeState(meta, 'meta', putTensor);
  if (data.optimizer !== undefined) doc.optimizer = encodeState(data.optimizer, 'optimizer', putTensor);
  if (data.schedulers !== undefined) doc.param_schedulers = encodeState(data.schedulers, 'param_schedulers', putTensor);
  for (const [k, v] of Object.entries(data.extra ?? {})) {
    if (TOP_LEVEL.has(k)) throw new MmclsError(`checkpoint extra state cannot be named '${k}' (reserved)`, { code: 'checkpoint.invalid' });
    if (v !== undefined) doc[k] = encodeState(v, k, putTensor);
  }
  return doc;
}

/**
 * Write a checkpoint as one safetensors file, atomically: a crash leaves either the previous file
 * or the complete new one at `path`, never a partial file.
 */
export async function writeCheckpoint(path: string, data: CheckpointData): Promise<void> {
  try {
    writeSafetensorsCheckpoint(path, data);
  } catch (e) {
    if (e instanceof MmclsError && e.location.file === undefined) {
      throw new MmclsError(`cannot write the checkpoint: ${e.message}`, { code: e.code, location: { file: path }, cause: e });
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !fs.existsSync(dirname(resolve(path)))) {
      throw new MmclsError(`cannot write the checkpoint: the folder ${dirname(resolve(path))} does not exist`, { code: 'checkpoint.write', location: { file: path }, cause: e });
    }
    if (code && !(e instanceof MmclsError)) {
      throw new MmclsError(`cannot write the checkpoint: ${(e as Error).message}`, { code: 'checkpoint.write', location: { file: path }, cause: e });
    }
    throw e;
  }
}

function writeSafetensorsCheckpoint(path: string, data: CheckpointData): void {
  const sd = data.stateDict instanceof Map ? data.stateDict : new Map(Object.entries(data.stateDict));
  const tensors: Array<[string, TensorData]> = [];
  for (const [k, t] of sd) {
    if (isTensorData(t)) tensors.push([k, t]);
    else if (typeof t === 'object' && t !== null && Array.isArray(t.shape) && (ArrayBuffer.isView(t.data) || Array.isArray(t.data))) {
      try {
        tensors.push([k, fromTorchEntry(t, k)]);
      } catch (e) {
        throw new MmclsError(`state dict entry ${(e as Error).message}`, { code: 'checkpoint.invalid' });
      }
    } else throw new MmclsError(`checkpoint state dict entry '${k}' is not a tensor`, { code: 'checkpoint.invalid' });
  }
  const doc = buildDocument(data, new Set(sd.keys()), (key, t) => tensors.push([key, t]));
  const layout = layoutSafetensors(tensors, { format: 'pt', [METADATA_KEY]: JSON.stringify(doc) });
  writeFileAtomic(path, (fd) => {
    writeAll(fd, layout.head);
    for (const [, t] of layout.order) writeAll(fd, tensorBytes(t));
  });
}

/** What `convertCheckpoint` reports. */
export interface ConversionSummary {
  input: string;
  output: string;
  inputFormat: CheckpointFormat;
  /** Tensors in the state dict. */
  stateDictTensors: number;
  /** Tensors elsewhere (optimizer state, ...). */
  otherTensors: number;
  /** Values in the state dict. */
  stateDictValues: number;
  /** Values in the state dict less BatchNorm statistics and counters (running_mean/var, num_batches_tracked). */
  parameters: number;
  metaKeys: string[];
  /** The class names, when the checkpoint has them. */
  classes?: string[];
  /** Whether the checkpoint carries its config text. */
  hasConfig: boolean;
  bytes: number;
}

/** Convert any checkpoint `readCheckpoint` reads (a `.pth` above all) to our safetensors format. */
export async function convertCheckpoint(input: string, output: string, options: ReadCheckpointOptions = {}): Promise<ConversionSummary> {
  const ckpt = await readCheckpoint(input, options);
  await writeCheckpoint(output, ckpt);
  let otherTensors = 0;
  buildDocument(ckpt, new Set(ckpt.stateDict.keys()), () => otherTensors++);
  let values = 0;
  let parameters = 0;
  for (const [k, t] of ckpt.stateDict) {
    const n = numel(t.shape);
    values += n;
    if (!/(^|\.)(running_mean|running_var|num_batches_tracked)$/.test(k)) parameters += n;
  }
  return {
    input,
    output,
    inputFormat: ckpt.format,
    stateDictTensors: ckpt.stateDict.size,
    otherTensors,
    stateDictValues: values,
    parameters,
    metaKeys: Object.keys(ckpt.meta),
    classes: ckpt.classes,
    hasConfig: ckpt.config !== undefined,
    bytes: fs.statSync(output).size,
  };
}
