/**
 * The head's `in_channels` against what the backbone and neck really give, by the runtime's own
 * shape inference (the pass the FLOPs analysis makes): the model is built without weights, its
 * backbone and neck map the config's test input size to feature shapes, and the head's own shape
 * pass says whether it accepts them. Nothing is computed on tensors. Every failure to build or to
 * infer (a type not implemented, a half-typed config) means "unknown": no diagnostic.
 */
import type { Module, ShapeContext, ShapeValue } from '../../runtime/nn/module';

type Dict = Record<string, unknown>;

const isDict = (v: unknown): v is Dict => v !== null && typeof v === 'object' && !Array.isArray(v);

/** What the head gets, when it does not fit its `in_channels`. */
export type HeadInputProblem =
  | {
      kind: 'in-channels';
      /** The head's `in_channels`. */
      inChannels: number;
      /** The channels of the feature its first linear layer gets. */
      channels: number;
      /** That feature's shape (PyTorch layout, batch 1). */
      feature: number[];
      /** [C, H, W] the shapes were inferred for. */
      input: [number, number, number];
    }
  | {
      kind: 'not-pooled';
      inChannels: number;
      /** The [N, C, H, W] feature map the head's linear layer gets. */
      feature: number[];
      input: [number, number, number];
    };

interface Runtime {
  MODELS: { build<T>(cfg: unknown): T };
  NeckSequence: new (necks: Module[]) => Module;
  inputSizeOf(cfg: Dict): [number, number];
  inputChannelsOf(cfg: Dict): number;
}

let runtime: Runtime | undefined;

/** The runtime's models (TensorFlow.js included), loaded on first use only. */
function loadRuntime(): Runtime {
  if (!runtime) {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const { MODELS } = require('../../runtime/registry') as typeof import('../../runtime/registry');
    const { NeckSequence } = require('../../runtime/models/classifiers/image') as typeof import('../../runtime/models/classifiers/image');
    const { inputSizeOf, inputChannelsOf } = require('../../runtime/analysis/config-flops') as typeof import('../../runtime/analysis/config-flops');
    /* eslint-enable @typescript-eslint/no-require-imports */
    runtime = { MODELS, NeckSequence: NeckSequence as unknown as Runtime['NeckSequence'], inputSizeOf, inputChannelsOf };
  }
  return runtime;
}

/** Shape inference without counting. */
const NO_COUNT: ShapeContext = { enter: () => undefined, exit: () => undefined, add: () => undefined };

/** The feature a head's first linear layer sees: the last of a tuple, recursively (MMCls heads' `pre_logits`). */
function lastFeature(x: ShapeValue): number[] | undefined {
  let cur: ShapeValue = x;
  for (let i = 0; i < 8; i++) {
    if (!Array.isArray(cur) || cur.length === 0) return undefined;
    if (typeof cur[0] === 'number') return cur as number[];
    cur = (cur as ShapeValue[])[cur.length - 1];
  }
  return undefined;
}

const LIMIT = 64;

/** Small insertion-ordered caches: configs are edited one at a time, a few dozen models cover a session. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  get(k: string): V | undefined {
    const v = this.map.get(k);
    if (v !== undefined) {
      this.map.delete(k);
      this.map.set(k, v);
    }
    return v;
  }
  has(k: string): boolean {
    return this.map.has(k);
  }
  set(k: string, v: V): void {
    this.map.delete(k);
    this.map.set(k, v);
    if (this.map.size > LIMIT) this.map.delete(this.map.keys().next().value as string);
  }
}

/** Backbone + neck output per (backbone, neck, input) config; null: cannot be inferred. */
const featureCache = new Lru<{ shape: ShapeValue } | null>();
/** The whole check per (model, input). */
const checkCache = new Lru<{ problem: HeadInputProblem | null }>();

function featuresOf(rt: Runtime, backbone: Dict, neck: unknown, input: [number, number, number]): ShapeValue | undefined {
  const key = JSON.stringify([backbone, neck ?? null, input]);
  const hit = featureCache.get(key);
  if (hit !== undefined) return hit ? hit.shape : undefined;
  let out: { shape: ShapeValue } | null = null;
  try {
    const b = rt.MODELS.build<Module>(backbone);
    b.eval();
    let y = b.inferShape([1, ...input], NO_COUNT);
    const necks = Array.isArray(neck) ? neck : neck ? [neck] : [];
    if (necks.length) {
      const n = necks.length === 1 ? rt.MODELS.build<Module>(necks[0]) : new rt.NeckSequence(necks.map((x) => rt.MODELS.build<Module>(x)));
      n.eval();
      y = n.inferShape(y, NO_COUNT);
    }
    out = { shape: y };
  } catch {
    out = null;
  }
  featureCache.set(key, out);
  return out ? out.shape : undefined;
}

/**
 * Whether `cfg.model.head` accepts what `cfg.model.backbone` (and neck) give at the config's test
 * input size. Undefined when the model is not an ImageClassifier with a head that has
 * `in_channels`, or when any part cannot be built or its shapes inferred.
 */
export function headInputProblem(cfg: Dict): HeadInputProblem | undefined {
  const model = cfg.model;
  if (!isDict(model)) return undefined;
  if (model.type !== undefined && model.type !== 'ImageClassifier' && model.type !== 'mmcls.ImageClassifier') return undefined;
  const { backbone, neck, head } = model;
  if (!isDict(backbone) || !isDict(head) || typeof head.in_channels !== 'number') return undefined;
  if (neck !== undefined && neck !== null && !isDict(neck) && !(Array.isArray(neck) && neck.every(isDict))) return undefined;
  let rt: Runtime;
  let input: [number, number, number];
  try {
    rt = loadRuntime();
    const [h, w] = rt.inputSizeOf(cfg);
    input = [rt.inputChannelsOf(cfg), h, w];
  } catch {
    return undefined;
  }
  const key = JSON.stringify([backbone, neck ?? null, head, input]);
  const hit = checkCache.get(key);
  if (hit) return hit.problem ?? undefined;
  let problem: HeadInputProblem | null = null;
  const feats = featuresOf(rt, backbone, neck, input);
  if (feats !== undefined) problem = headProblem(rt, head, head.in_channels, feats, input);
  checkCache.set(key, { problem });
  return problem ?? undefined;
}

function headProblem(rt: Runtime, head: Dict, inChannels: number, feats: ShapeValue, input: [number, number, number]): HeadInputProblem | null {
  let headModule: Module;
  try {
    headModule = rt.MODELS.build<Module>(head);
    headModule.eval();
  } catch {
    return null;
  }
  try {
    headModule.inferShape(feats, NO_COUNT);
    return null;
  } catch (e) {
    // Only a shape the head's layers reject is a finding; anything else (no shape pass) is unknown.
    if ((e as { code?: unknown }).code !== 'analysis.shape') return null;
  }
  const feature = lastFeature(feats);
  if (!feature) return null;
  if (feature.length === 4) return { kind: 'not-pooled', inChannels, feature, input };
  if (feature.length < 2 || feature.length > 3) return null;
  const channels = feature[feature.length - 1];
  if (channels === inChannels) return null;
  return { kind: 'in-channels', inChannels, channels, feature, input };
}
