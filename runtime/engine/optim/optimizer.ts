import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import {
  GradMap,
  NamedParam,
  OptimizerStateDict,
  ParamGroup,
  ParamsInput,
  StateValue,
  fromStateTensor,
  isStateTensor,
  toStateTensor,
} from './types';

/** Per-parameter optimizer state: tensors (owned by the optimizer) and plain numbers (`step`). */
export type ParamState = { [key: string]: tf.Tensor | number };

/**
 * The base of all optimizers, with `torch.optim.Optimizer`'s data model: `defaults`, `paramGroups`
 * (each group's own hyper-parameters), per-parameter `state`, `stateDict()` / `loadStateDict()`.
 * Gradients are passed to `step()` (TensorFlow.js variables carry no `.grad`).
 * Subclasses implement `updateGroup`, which runs inside `tf.tidy`.
 */
export abstract class Optimizer {
  readonly defaults: Record<string, unknown>;
  readonly paramGroups: ParamGroup[] = [];
  protected readonly state = new Map<tf.Variable, ParamState>();

  constructor(params: ParamsInput | undefined, defaults: Record<string, unknown>) {
    this.defaults = { ...defaults };
    if (!params || params.length === 0) {
      throw new MmclsError(`${this.constructor.name}: got an empty parameter list; the model has no parameters to optimise.`, {
        code: 'optim.empty-params',
      });
    }
    const first = params[0] as { params?: unknown };
    const groups = Array.isArray(first.params)
      ? (params as Array<{ params: NamedParam[]; [key: string]: unknown }>)
      : [{ params: params as NamedParam[] }];
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group; keys it does not set take the optimizer's defaults (PyTorch's `add_param_group`). */
  addParamGroup(group: { params: NamedParam[]; [key: string]: unknown }): void {
    const seen = new Set<tf.Variable>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p.variable);
    for (const p of group.params) {
      if (seen.has(p.variable)) {
        throw new MmclsError(
          `some parameters appear in more than one parameter group (${p.name}); ` +
            'set paramwise_cfg.bypass_duplicate=True to skip duplicated (shared) parameters.',
          { code: 'optim.duplicate-param' },
        );
      }
      seen.add(p.variable);
    }
    const full: Record<string, unknown> = { ...group, params: [...group.params] };
    for (const [k, v] of Object.entries(this.defaults)) {
      if (!(k in full) || full[k] === undefined) full[k] = Array.isArray(v) ? [...v] : v;
    }
    this.paramGroups.push(full as ParamGroup);
  }

  /** Applies one update to every parameter that has a gradient in `grads`. */
  step(grads: GradMap): void {
    this.beforeStep(grads);
    try {
      for (const group of this.paramGroups) {
        const items: Array<{ param: NamedParam; grad: tf.Tensor }> = [];
        for (const p of group.params) {
          const g = grads.get(p.variable);
          if (g) items.push({ param: p, grad: g });
        }
        this.updateGroup(group, items);
      }
    } finally {
      this.afterStep();
    }
  }

  /** Hook before the per-group updates (Lamb computes the global gradient norm here). */
  protected beforeStep(_grads: GradMap): void {}
  protected afterStep(): void {}

  /** Updates the parameters of one group. Implementations call `this.update()` per parameter. */
  protected abstract updateGroup(group: ParamGroup, items: Array<{ param: NamedParam; grad: tf.Tensor }>): void;

  /**
   * Runs `fn` in a tidy scope: it returns the new parameter value and the new state tensors; the
   * parameter is assigned, old state tensors are disposed and the new ones kept.
   */
  protected update(
    p: tf.Variable,
    fn: (state: ParamState) => { param: tf.Tensor; state?: { [key: string]: tf.Tensor } },
  ): void {
    const st = this.getState(p);
    const out = tf.tidy(() => {
      const r = fn(st);
      p.assign(r.param);
      return r.state ?? {};
    });
    for (const [k, t] of Object.entries(out)) {
      const old = st[k];
      if (old instanceof tf.Tensor && old !== t) old.dispose();
      st[k] = t;
    }
  }

  protected getState(p: tf.Variable): ParamState {
    let st = this.state.get(p);
    if (!st) {
      st = {};
      this.state.set(p, st);
    }
    return st;
  }

  /** The state of one parameter (read-only view; tensors belong to the optimizer). */
  stateOf(p: tf.Variable): Readonly<ParamState> | undefined {
    return this.state.get(p);
  }

  /** Optimizer-level gradients live in OptimWrapper; kept for API parity with PyTorch. */
  zeroGrad(): void {}

  /**
   * PyTorch's `state_dict()`: tensors are copied out as float32 state tensors, so the result is
   * independent of this optimizer and can be serialised directly.
   */
  stateDict(): OptimizerStateDict {
    const state: OptimizerStateDict['state'] = {};
    const groups: OptimizerStateDict['param_groups'] = [];
    let index = 0;
    for (const g of this.paramGroups) {
      const ids: number[] = [];
      const names: string[] = [];
      const out: { [key: string]: StateValue } = {};
      for (const [k, v] of Object.entries(g)) {
        if (k === 'params') continue;
        out[k] = toPlain(v);
      }
      for (const p of g.params) {
        const st = this.state.get(p.variable);
        if (st && Object.keys(st).length) {
          const s: { [key: string]: StateValue } = {};
          for (const [k, v] of Object.entries(st)) s[k] = typeof v === 'number' ? v : toStateTensor(v);
          state[String(index)] = s;
        }
        ids.push(index);
        names.push(p.name);
        index += 1;
      }
      groups.push({ ...out, params: ids, param_names: names });
    }
    return { state, param_groups: groups };
  }

  /**
   * Reads every state tensor back to host memory (asynchronously), after which `stateDict()`
   * reads nothing from the device: the backend keeps the host copy until the tensor is replaced.
   * Needed on webgpu in Node.js, which has no synchronous reads.
   */
  async prefetchState(): Promise<void> {
    const tensors: tf.Tensor[] = [];
    for (const st of this.state.values()) for (const v of Object.values(st)) if (typeof v !== 'number') tensors.push(v);
    await Promise.all(tensors.map((t) => t.data()));
  }

  /** PyTorch's `load_state_dict()`: group hyper-parameters and per-parameter state, matched by position. */
  loadStateDict(sd: OptimizerStateDict): void {
    if (!sd || !Array.isArray(sd.param_groups) || typeof sd.state !== 'object') {
      throw new MmclsError('optimizer state dict must have "state" and "param_groups"', { code: 'optim.bad-state-dict' });
    }
    if (sd.param_groups.length !== this.paramGroups.length) {
      throw new MmclsError(
        `loaded optimizer state has ${sd.param_groups.length} parameter groups, this optimizer has ${this.paramGroups.length}`,
        { code: 'optim.state-mismatch' },
      );
    }
    sd.param_groups.forEach((sg, i) => {
      if (sg.params.length !== this.paramGroups[i].params.length) {
        throw new MmclsError(
          `parameter group ${i} of the loaded optimizer state has ${sg.params.length} parameters, this optimizer's has ${this.paramGroups[i].params.length}`,
          { code: 'optim.state-mismatch' },
        );
      }
    });
    this.disposeState();
    sd.param_groups.forEach((sg, i) => {
      const group = this.paramGroups[i];
      for (const [k, v] of Object.entries(sg)) {
        if (k === 'params' || k === 'param_names') continue;
        group[k] = Array.isArray(v) ? [...v] : v;
      }
      sg.params.forEach((id, j) => {
        const saved = sd.state[String(id)];
        if (!saved) return;
        const variable = group.params[j].variable;
        const st: ParamState = {};
        for (const [k, v] of Object.entries(saved)) {
          if (isStateTensor(v) && v.shape.length === 0) {
            // PyTorch keeps Adam's `step` as a 0-d tensor; here it is a number.
            st[k] = Number(v.data[0]);
          } else if (isStateTensor(v)) {
            if (v.shape.join(',') !== variable.shape.join(',')) {
              // A layout change (PyTorch OIHW vs NHWC kernels) must be converted by the checkpoint
              // loader; reshaping here would scramble the values.
              this.disposeState();
              throw new MmclsError(
                `optimizer state "${k}" of parameter ${group.params[j].name} has shape [${v.shape}], the parameter has [${variable.shape}]`,
                { code: 'optim.state-mismatch' },
              );
            }
            st[k] = fromStateTensor(v);
          } else if (typeof v === 'number') {
            st[k] = v;
          }
        }
        this.state.set(variable, st);
      });
    });
  }

  private disposeState(): void {
    for (const st of this.state.values()) for (const v of Object.values(st)) if (v instanceof tf.Tensor) v.dispose();
    this.state.clear();
  }

  /** Frees the state tensors. */
  dispose(): void {
    this.disposeState();
  }
}

function toPlain(v: unknown): StateValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(toPlain);
  if (typeof v === 'object') {
    const out: { [key: string]: StateValue } = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = toPlain(x);
    return out;
  }
  return null;
}

/** Throws the error PyTorch raises for an invalid hyper-parameter, as an MmclsError. */
export function checkRange(optimizer: string, name: string, value: number, ok: boolean): void {
  if (!ok || !Number.isFinite(value)) {
    throw new MmclsError(`${optimizer}: invalid ${name} value: ${value}`, { code: 'optim.invalid-arg' });
  }
}
