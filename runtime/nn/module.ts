import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../errors';

import { IDENTITY, Layout, fromTorchLayout, toTorchLayout, torchShapeOf } from './layout';
import { initialize } from './init';

export { IDENTITY, Layout, fromTorchLayout, toTorchLayout, torchShapeOf } from './layout';

/**
 * A tensor created on first use: models can be built, inspected and analysed (state-dict keys,
 * parameter counts, FLOPs) without allocating their weights.
 */
export class LazyTensor {
  private value: tf.Variable | null = null;
  private init: (() => tf.Tensor) | null;
  readonly shape: number[];
  readonly dtype: 'float32' | 'int32';
  protected trainableFlag: boolean;

  constructor(init: tf.Tensor | { shape: number[]; init: () => tf.Tensor; dtype?: 'float32' | 'int32' }, trainable: boolean) {
    this.trainableFlag = trainable;
    if (init instanceof tf.Tensor) {
      this.shape = [...init.shape];
      this.dtype = init.dtype === 'int32' ? 'int32' : 'float32';
      this.value = tf.variable(init, trainable, undefined, this.dtype);
      init.dispose();
      this.init = null;
    } else {
      this.shape = [...init.shape];
      this.dtype = init.dtype ?? 'float32';
      this.init = init.init;
    }
  }

  /** The variable (allocated and initialised on first access). */
  get variable(): tf.Variable {
    if (!this.value) {
      const t = this.init!();
      this.value = tf.variable(t, this.trainableFlag, undefined, this.dtype);
      t.dispose();
      this.init = null;
    }
    return this.value;
  }

  /** Whether the tensor has been allocated. */
  get materialized(): boolean {
    return this.value !== null;
  }

  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Replaces the value (same shape, layout here); allocates without running the initialiser. */
  assign(value: tf.Tensor): void {
    const v = value.dtype === this.dtype ? value : tf.cast(value, this.dtype);
    if (!this.value) {
      this.value = tf.variable(tf.reshape(v, this.shape), this.trainableFlag, undefined, this.dtype);
      this.init = null;
    } else {
      this.value.assign(v.shape.length === this.shape.length ? v : tf.reshape(v, this.shape));
    }
  }

  dispose(): void {
    this.value?.dispose();
    this.value = null;
  }
}

/** Shape + initialiser of a lazily created tensor. */
export function lazy(shape: number[], init: () => tf.Tensor, dtype: 'float32' | 'int32' = 'float32'): { shape: number[]; init: () => tf.Tensor; dtype: 'float32' | 'int32' } {
  return { shape, init, dtype };
}

/** A learnable tensor: a `tf.Variable` plus how it maps to PyTorch. */
export class Parameter extends LazyTensor {
  constructor(
    init: tf.Tensor | { shape: number[]; init: () => tf.Tensor },
    readonly layout: Layout,
  ) {
    super(init, true);
  }

  /** False for frozen parameters (PyTorch's `requires_grad`); optimizers and `tf.variableGrads` skip them. */
  get requiresGrad(): boolean {
    return this.trainableFlag;
  }
  set requiresGrad(v: boolean) {
    this.trainableFlag = v;
    if (this.materialized) this.variable.trainable = v;
  }

  get torchShape(): number[] {
    return torchShapeOf(this.shape, this.layout);
  }
}

/** The dtype PyTorch gives a buffer (`num_batches_tracked` is int64). */
export type TorchDtype = 'float32' | 'int64' | 'int32' | 'bool';

/** A non-learnable tensor that is part of the state dict (running statistics, index tables). */
export class Buffer extends LazyTensor {
  constructor(
    init: tf.Tensor | { shape: number[]; init: () => tf.Tensor; dtype?: 'float32' | 'int32' },
    readonly torchDtype: TorchDtype,
    readonly layout: Layout = IDENTITY,
    /** Non-persistent buffers are left out of the state dict, as in PyTorch. */
    readonly persistent = true,
  ) {
    super(init, false);
  }

  get torchShape(): number[] {
    return torchShapeOf(this.shape, this.layout);
  }
}

/** One state-dict entry in PyTorch's layout: what checkpoints hold. */
export interface StateEntry {
  /** Row-major data in PyTorch's layout. */
  data: Float32Array | Int32Array | Uint8Array | BigInt64Array | Float64Array | number[];
  /** PyTorch's shape. */
  shape: number[];
  /** The PyTorch dtype; defaults to float32 when reading. */
  dtype?: TorchDtype | 'float16' | 'bfloat16' | 'float64' | 'uint8' | 'int8' | 'int16';
}

export type StateDictInput = Map<string, StateEntry> | Record<string, StateEntry>;

/** A tensor shape (e.g. `[1, 3, 224, 224]`, NCHW-free: see {@link Module.inferShape}) or a tuple of them. */
export type ShapeValue = number[] | ShapeValue[] | null;

/** Collects FLOPs and activations during shape inference ({@link Module.inferShape}). */
export interface ShapeContext {
  /** Called when `m` starts / ends its shape pass; the counter attributes costs to every module on the stack. */
  enter(m: Module): void;
  exit(m: Module): void;
  /** Adds `flops` (fvcore conventions: one multiply-add is one flop) for an operator of kind `op`. */
  add(op: string, flops: number, activations: number): void;
}

/** Result of {@link Module.loadStateDict}. */
export interface LoadReport {
  /** Keys the model has but the state dict lacks. */
  missing: string[];
  /** Keys the state dict has but the model lacks. */
  unexpected: string[];
  /** Keys present in both whose shapes differ (PyTorch shapes). */
  mismatched: { key: string; expected: number[]; got: number[] }[];
  /** Number of tensors loaded. */
  loaded: number;
}

/** An `init_cfg` entry (see runtime/nn/init.ts). */
export type InitCfg = { type: string; [key: string]: unknown };

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The base of every network part, like `torch.nn.Module` / MMEngine's `BaseModule`: named parameters,
 * buffers and children kept in registration order (which is PyTorch's, so state-dict keys come out in
 * the same order as MMClassification's), train/eval, state dicts with PyTorch names and layouts, and
 * shape inference for complexity analysis. Tensors are NHWC inside.
 */
export abstract class Module {
  /** Training mode (dropout active, batch norm uses batch statistics). */
  training = true;
  /** MMEngine's `init_cfg`; applied by {@link initWeights} in runtime/nn/init.ts. */
  initCfg: InitCfg | InitCfg[] | null = null;
  /** Set once `initWeights` ran, like MMEngine's `_is_init`. */
  isInit = false;

  private readonly params = new Map<string, Parameter | null>();
  private readonly buffers = new Map<string, Buffer | null>();
  private readonly modules = new Map<string, Module | null>();

  /** The PyTorch/MMCls class name shown in tables and used by `init_cfg` `layer` matching. */
  get typeName(): string {
    return this.constructor.name;
  }

  /**
   * Class names this module answers to in `init_cfg.layer` (MMEngine matches the class and its bases,
   * e.g. `_BatchNorm` for BatchNorm2d). Subclasses extend it.
   */
  layerNames(): string[] {
    const names: string[] = [];
    let proto: unknown = Object.getPrototypeOf(this);
    while (proto && proto !== Module.prototype && proto !== Object.prototype) {
      names.push((proto as { constructor: { name: string } }).constructor.name);
      proto = Object.getPrototypeOf(proto);
    }
    names.push(this.typeName);
    return names;
  }

  // ---------------------------------------------------------------- registration

  /** Registers a parameter; `value` is in this module's layout (HWIO for conv, [in, out] for linear). */
  protected registerParameter(
    name: string,
    value: tf.Tensor | { shape: number[]; init: () => tf.Tensor } | null,
    layout: Layout = IDENTITY,
  ): Parameter | null {
    this.checkName(name);
    if (value === null) {
      this.params.set(name, null);
      return null;
    }
    const p = new Parameter(value, layout);
    this.params.set(name, p);
    return p;
  }

  /** Registers a buffer (not learnable, part of the state dict unless `persistent` is false). */
  protected registerBuffer(
    name: string,
    value: tf.Tensor | { shape: number[]; init: () => tf.Tensor; dtype?: 'float32' | 'int32' },
    torchDtype: TorchDtype = 'float32',
    persistent = true,
    layout: Layout = IDENTITY,
  ): Buffer {
    this.checkName(name);
    const b = new Buffer(value, torchDtype, layout, persistent);
    this.buffers.set(name, b);
    return b;
  }

  /** Registers a child (PyTorch's `add_module`); returns it for `this.conv1 = this.addModule('conv1', ...)`. */
  addModule<M extends Module | null>(name: string, m: M): M {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`invalid module name ${JSON.stringify(name)}`);
    this.modules.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`invalid parameter name ${JSON.stringify(name)}`);
  }

  getParameter(name: string): Parameter | null | undefined {
    return this.params.get(name);
  }

  getBuffer(name: string): Buffer | null | undefined {
    return this.buffers.get(name);
  }

  /** The direct child called `name`. */
  getChild(name: string): Module | null | undefined {
    return this.modules.get(name);
  }

  /** A descendant by dotted path (`layer1.0.conv1`), like `get_submodule`. */
  getSubmodule(path: string): Module | undefined {
    if (path === '') return this;
    let m: Module | undefined = this;
    for (const part of path.split('.')) {
      const next: Module | null | undefined = m?.modules.get(part);
      if (!next) return undefined;
      m = next;
    }
    return m;
  }

  // ---------------------------------------------------------------- traversal

  /** Direct children in registration order (null entries skipped). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [k, v] of this.modules) if (v) out.push([k, v]);
    return out;
  }

  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** Every module of the tree, this one first as `''` (prefix), each instance once, PyTorch's order. */
  namedModules(prefix = '', seen: Set<Module> = new Set()): [string, Module][] {
    const out: [string, Module][] = [];
    if (seen.has(this)) return out;
    seen.add(this);
    out.push([prefix, this]);
    for (const [name, child] of this.namedChildren()) {
      out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    }
    return out;
  }

  /** Parameters with their dotted names (`backbone.layer1.0.conv1.weight`), each instance once. */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    const seen = new Set<Parameter>();
    for (const [mname, m] of this.namedModules(prefix)) {
      for (const [pname, p] of m.params) {
        if (!p || seen.has(p)) continue;
        seen.add(p);
        out.push([mname ? `${mname}.${pname}` : pname, p]);
      }
    }
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Trainable variables (for `tf.variableGrads` and optimizers). */
  trainableVariables(): tf.Variable[] {
    return this.parameters()
      .filter((p) => p.requiresGrad)
      .map((p) => p.variable);
  }

  namedBuffers(prefix = ''): [string, Buffer][] {
    const out: [string, Buffer][] = [];
    for (const [mname, m] of this.namedModules(prefix)) {
      for (const [bname, b] of m.buffers) {
        if (b) out.push([mname ? `${mname}.${bname}` : bname, b]);
      }
    }
    return out;
  }

  /** Total number of parameter elements (PyTorch's `sum(p.numel() for p in model.parameters())`). */
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.numel;
    return n;
  }

  /** Own parameters only (not children's). */
  ownParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [k, p] of this.params) if (p) out.push([k, p]);
    return out;
  }

  /** Own buffers only. */
  ownBuffers(): [string, Buffer][] {
    const out: [string, Buffer][] = [];
    for (const [k, b] of this.buffers) if (b) out.push([k, b]);
    return out;
  }

  /** Applies `fn` to every module of the tree, children first (PyTorch's `apply`). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  // ---------------------------------------------------------------- initialisation

  /**
   * MMEngine's `BaseModule.init_weights`: applies this module's `init_cfg`, then lets each child
   * initialise itself (children's own `init_cfg` win inside their sub-tree). Modules with custom
   * initialisation override this and call `super.initWeights()` first.
   */
  initWeights(): void {
    if (this.isInit) return;
    if (this.initCfg) {
      initialize(this, this.initCfg);
      if (!Array.isArray(this.initCfg) && this.initCfg.type === 'Pretrained') {
        this.isInit = true;
        return;
      }
    }
    for (const c of this.children()) c.initWeights();
    this.isInit = true;
  }

  // ---------------------------------------------------------------- modes

  /** Sets training mode on this module and its children. Subclasses (norm_eval, frozen stages) extend it. */
  train(mode = true): this {
    this.training = mode;
    for (const c of this.children()) c.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets `requiresGrad` on all parameters of the tree. */
  requiresGrad(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  // ---------------------------------------------------------------- state dict

  /** Ordered state-dict keys with PyTorch shapes: parameters and persistent buffers, PyTorch's order. */
  stateDictKeys(prefix = ''): { key: string; shape: number[]; kind: 'parameter' | 'buffer'; tensor: Parameter | Buffer }[] {
    const out: { key: string; shape: number[]; kind: 'parameter' | 'buffer'; tensor: Parameter | Buffer }[] = [];
    const visit = (m: Module, pre: string, seen: Set<Module>): void => {
      if (seen.has(m)) return;
      seen.add(m);
      for (const [n, p] of m.params) if (p) out.push({ key: pre + n, shape: p.torchShape, kind: 'parameter', tensor: p });
      for (const [n, b] of m.buffers) {
        if (b && b.persistent) out.push({ key: pre + n, shape: b.torchShape, kind: 'buffer', tensor: b });
      }
      for (const [n, c] of m.modules) if (c) visit(c, `${pre}${n}.`, seen);
    };
    visit(this, prefix ? `${prefix}.` : '', new Set());
    return out;
  }

  /**
   * The state dict in PyTorch's layout and key names (`backbone.layer1.0.conv1.weight`,
   * `...bn1.running_var`, `...num_batches_tracked`), in PyTorch's order. Data is copied out.
   * Reads synchronously: on webgpu in Node.js use {@link stateDictAsync}.
   */
  stateDict(prefix = ''): Map<string, StateEntry> {
    const parts = this.stateTensors(prefix);
    try {
      return this.stateEntries(parts, parts.map((p) => p.torch.dataSync() as Float32Array | Int32Array));
    } finally {
      for (const p of parts) if (p.owned) p.torch.dispose();
    }
  }

  /** {@link stateDict} with asynchronous reads: works on every backend (webgpu included). */
  async stateDictAsync(prefix = ''): Promise<Map<string, StateEntry>> {
    const parts = this.stateTensors(prefix);
    try {
      const data = await Promise.all(parts.map((p) => p.torch.data() as Promise<Float32Array | Int32Array>));
      return this.stateEntries(parts, data);
    } finally {
      for (const p of parts) if (p.owned) p.torch.dispose();
    }
  }

  /** Every state tensor in PyTorch's layout, on the device (`owned`: a transposed copy to dispose). */
  private stateTensors(prefix: string): { key: string; tensor: Parameter | Buffer; torch: tf.Tensor; owned: boolean }[] {
    return this.stateDictKeys(prefix).map(({ key, tensor }) => {
      const torch = tf.tidy(() => toTorchLayout(tensor.variable, tensor.layout));
      return { key, tensor, torch, owned: torch !== tensor.variable };
    });
  }

  private stateEntries(parts: { key: string; tensor: Parameter | Buffer }[], data: (Float32Array | Int32Array)[]): Map<string, StateEntry> {
    const out = new Map<string, StateEntry>();
    parts.forEach(({ key, tensor }, i) => {
      const dtype: TorchDtype = tensor instanceof Buffer ? tensor.torchDtype : 'float32';
      out.set(key, { data: data[i].slice(), shape: tensor.torchShape, dtype });
    });
    return out;
  }

  /**
   * Loads a state dict given in PyTorch's layout and shapes (what an MMCls checkpoint holds),
   * converting each tensor once to the layout used here. Strict mode (default) throws an MmclsError
   * listing missing, unexpected and mis-shaped keys; non-strict loads what matches and reports the rest.
   */
  loadStateDict(state: StateDictInput, options: { strict?: boolean } = {}): LoadReport {
    const strict = options.strict ?? true;
    // A copy, as PyTorch's load_state_dict works on one: the modules' pre-hooks may change it.
    const entries = new Map(state instanceof Map ? state : Object.entries(state));
    for (const [name, m] of this.namedModules()) m.prepareStateDict(entries, name ? `${name}.` : '');
    const own = this.stateDictKeys();
    const ownKeys = new Set(own.map((e) => e.key));
    const report: LoadReport = { missing: [], unexpected: [], mismatched: [], loaded: 0 };
    const toLoad: { target: Parameter | Buffer; entry: StateEntry }[] = [];
    for (const { key, shape, tensor } of own) {
      const entry = entries.get(key);
      if (!entry) {
        report.missing.push(key);
        continue;
      }
      const got = [...entry.shape];
      // PyTorch stores num_batches_tracked as a 0-d tensor; accept [] and [1] alike.
      const same =
        got.length === shape.length ? got.every((d, i) => d === shape[i]) : numel(got) === 1 && numel(shape) === 1;
      if (!same) {
        report.mismatched.push({ key, expected: shape, got });
        continue;
      }
      if (entry.data.length !== numel(shape)) {
        report.mismatched.push({ key, expected: shape, got: [entry.data.length] });
        continue;
      }
      toLoad.push({ target: tensor, entry });
    }
    for (const key of entries.keys()) if (!ownKeys.has(key)) report.unexpected.push(key);
    if (strict && (report.missing.length || report.unexpected.length || report.mismatched.length)) {
      throw new MmclsError(formatLoadReport(report, 'Error(s) in loading state_dict'), { code: 'checkpoint.mismatch' });
    }
    for (const { target, entry } of toLoad) {
      tf.tidy(() => {
        const dtype = target.dtype;
        const values = toTypedArray(entry.data, dtype);
        const t = tf.tensor(values, target.torchShape, dtype);
        target.assign(tf.reshape(fromTorchLayout(t, target.layout), target.shape));
      });
      report.loaded++;
    }
    return report;
  }

  /**
   * Called by {@link loadStateDict} on every module of the tree before keys are matched, with the
   * entries (PyTorch layout) and this module's key prefix (`backbone.`): MMCls's load-state-dict
   * pre-hooks (resizing position tables of another input size, dropping buffers that are rebuilt).
   * Changes `state` in place; the default does nothing.
   */
  protected prepareStateDict(_state: Map<string, StateEntry>, _prefix: string): void {}

  /** Frees the memory of every parameter and buffer. */
  dispose(): void {
    for (const [, p] of this.namedParameters()) p.dispose();
    for (const [, b] of this.namedBuffers()) b.dispose();
  }

  // ---------------------------------------------------------------- shape inference

  /**
   * Output shape for an input shape, counting FLOPs into `ctx` without computing anything.
   * Shapes are PyTorch's (NCHW for images, [N, L, C] for tokens) so that the analysis reads like
   * MMCls's; each layer implements {@link forwardShape}.
   */
  inferShape(x: ShapeValue, ctx: ShapeContext): ShapeValue {
    ctx.enter(this);
    try {
      return this.forwardShape(x, ctx);
    } finally {
      ctx.exit(this);
    }
  }

  protected forwardShape(_x: ShapeValue, _ctx: ShapeContext): ShapeValue {
    throw new MmclsError(`${this.typeName} does not support shape inference (FLOPs analysis)`, {
      code: 'analysis.unsupported',
    });
  }
}

function toTypedArray(data: StateEntry['data'], dtype: 'float32' | 'int32'): Float32Array | Int32Array {
  if (dtype === 'float32') {
    if (data instanceof Float32Array) return data;
    const out = new Float32Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
    return out;
  }
  if (data instanceof Int32Array) return data;
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

/** A readable multi-line description of a load report (PyTorch's wording). */
export function formatLoadReport(report: LoadReport, title = 'state_dict'): string {
  const lines = [`${title}:`];
  const show = (keys: string[]): string =>
    keys.length > 20 ? `${keys.slice(0, 20).join(', ')}, ... (${keys.length} in all)` : keys.join(', ');
  if (report.missing.length) lines.push(`  missing keys in source state_dict: ${show(report.missing)}`);
  if (report.unexpected.length) lines.push(`  unexpected key in source state_dict: ${show(report.unexpected)}`);
  for (const m of report.mismatched.slice(0, 20)) {
    lines.push(
      `  size mismatch for ${m.key}: copying a param with shape [${m.got.join(', ')}] from checkpoint, ` +
        `the shape in current model is [${m.expected.join(', ')}].`,
    );
  }
  if (report.mismatched.length > 20) lines.push(`  ... ${report.mismatched.length - 20} more size mismatches`);
  if (lines.length === 1) lines.push('  all keys matched');
  return lines.join('\n');
}

/** Product of a shape's dimensions. */
export function shapeNumel(shape: readonly number[]): number {
  return numel(shape);
}

/** Narrows a ShapeValue to one tensor shape. */
export function asShape(x: ShapeValue, who = 'layer'): number[] {
  if (!Array.isArray(x) || x.some((d) => typeof d !== 'number')) {
    throw new Error(`${who}: expected one tensor shape, got ${JSON.stringify(x)}`);
  }
  return x as number[];
}

/** Narrows a ShapeValue to a tuple of shapes. */
export function asTuple(x: ShapeValue, who = 'layer'): ShapeValue[] {
  if (!Array.isArray(x) || x.length === 0 || x.some((d) => typeof d === 'number')) {
    throw new Error(`${who}: expected a tuple of tensors, got ${JSON.stringify(x)}`);
  }
  return x as ShapeValue[];
}
