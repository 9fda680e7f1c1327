import * as tf from '@tensorflow/tfjs-core';
import { MmclsError } from '../../errors';
import { ConfigDict, OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS, OPTIMIZERS } from '../../registry';
import { engineLog } from './logging';
import { Optimizer } from './optimizer';
import { OptimWrapper } from './optim_wrapper';
import { NamedParam } from './types';

/**
 * How the model describes its parameters to the optimizer-wrapper constructor: one entry per
 * parameter, in `named_parameters()` order (each module's own parameters, then its children's),
 * shared parameters listed at every place they occur.
 *
 * `kind` says what module directly owns the parameter, which decides the `paramwise_cfg` rules:
 * - `'norm'`: a normalisation layer (BatchNorm*, SyncBatchNorm, GroupNorm, LayerNorm, InstanceNorm*);
 * - `'dwconv'`: a depth-wise convolution (Conv2d with `groups == in_channels`);
 * - `'dcn_offset'`: a convolution inside a deformable convolution (its `conv_offset`);
 * - `'other'` (or absent): anything else. (`'bias'` is accepted and means `'other'`: whether a
 *   parameter is a bias is read from its name, the part after the last dot.)
 */
export interface ParamDescriptor extends NamedParam {
  kind?: 'norm' | 'dwconv' | 'dcn_offset' | 'bias' | 'other';
}

/** Per-key multipliers of `paramwise_cfg.custom_keys`; other keys are copied into the group. */
export interface CustomKeyConfig {
  /** Multiplies the base learning rate. @default 1.0 */
  lr_mult?: number;
  /** Multiplies the base weight decay. @default 1.0 */
  decay_mult?: number;
  [key: string]: unknown;
}

/** `optim_wrapper.paramwise_cfg`: per-parameter learning-rate and weight-decay multipliers. */
export interface ParamwiseConfig {
  /** Multipliers for parameters whose name contains a key (the longest key wins; other rules are then ignored). */
  custom_keys?: { [key: string]: CustomKeyConfig };
  /** Learning-rate multiplier of biases (not of normalisation layers or deformable-conv offsets). */
  bias_lr_mult?: number;
  /** Weight-decay multiplier of biases (not of normalisation layers or deformable-conv offsets). */
  bias_decay_mult?: number;
  /** Weight-decay multiplier of normalisation-layer weights and biases. */
  norm_decay_mult?: number;
  /** Weight-decay multiplier of depth-wise convolution parameters. */
  dwconv_decay_mult?: number;
  /** Weight-decay multiplier of one-dimensional parameters not covered above. */
  flat_decay_mult?: number;
  /** Skips parameters already in another group (shared parameters) instead of failing. @default False */
  bypass_duplicate?: boolean;
  /** Learning-rate multiplier of deformable-convolution offsets. */
  dcn_offset_lr_mult?: number;
}

/** Options of `DefaultOptimWrapperConstructor`. */
export interface DefaultOptimWrapperConstructorOptions {
  /** The `optim_wrapper` config without `constructor` and `paramwise_cfg` (it must have `optimizer`). */
  optim_wrapper_cfg: ConfigDict;
  /** Per-parameter settings. @default None */
  paramwise_cfg?: ParamwiseConfig | null;
}

const PARAMWISE_KEYS = new Set([
  'custom_keys',
  'bias_lr_mult',
  'bias_decay_mult',
  'norm_decay_mult',
  'dwconv_decay_mult',
  'flat_decay_mult',
  'bypass_duplicate',
  'dcn_offset_lr_mult',
]);

/**
 * Builds the optimizer wrapper from `optim_wrapper` (MMEngine's DefaultOptimWrapperConstructor):
 * parameter groups from `paramwise_cfg`, the optimizer from `optimizer`, the wrapper from `type`
 * (default `OptimWrapper`).
 */
@OPTIM_WRAPPER_CONSTRUCTORS.registerModule()
export class DefaultOptimWrapperConstructor {
  readonly optimWrapperCfg: ConfigDict;
  readonly optimizerCfg: ConfigDict;
  readonly paramwiseCfg: ParamwiseConfig;
  readonly baseLr: number | undefined;
  readonly baseWd: number | undefined;

  constructor(options: DefaultOptimWrapperConstructorOptions) {
    const cfg = options.optim_wrapper_cfg;
    if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) {
      throw new MmclsError('optim_wrapper must be a dict', { code: 'optim.invalid-cfg' });
    }
    if (!('optimizer' in cfg)) {
      throw new MmclsError('optim_wrapper must contain "optimizer", e.g. optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.01))', {
        code: 'optim.invalid-cfg',
      });
    }
    const { optimizer, ...rest } = cfg;
    if (!optimizer || typeof optimizer !== 'object' || Array.isArray(optimizer)) {
      throw new MmclsError('optim_wrapper.optimizer must be a dict(type=..., lr=...)', { code: 'optim.invalid-cfg' });
    }
    this.optimWrapperCfg = rest;
    this.optimizerCfg = { ...(optimizer as ConfigDict) };
    this.paramwiseCfg = options.paramwise_cfg ?? {};
    const lr = this.optimizerCfg.lr;
    const wd = this.optimizerCfg.weight_decay;
    this.baseLr = typeof lr === 'number' ? lr : undefined;
    this.baseWd = typeof wd === 'number' ? wd : undefined;
    this.validate();
  }

  private validate(): void {
    const pw = this.paramwiseCfg as ConfigDict;
    if (typeof pw !== 'object' || Array.isArray(pw)) {
      throw new MmclsError(`paramwise_cfg should be None or a dict, but got ${JSON.stringify(pw)}`, { code: 'optim.invalid-cfg' });
    }
    for (const k of Object.keys(pw)) {
      if (!PARAMWISE_KEYS.has(k)) {
        // MMEngine reads the keys it knows and ignores the rest; official configs rely on that
        // (the Twins configs carry `_delete=True`, a typo of `_delete_`). Say so, do not fail.
        const hint = k === '_delete' ? ' (did you mean `_delete_`?)' : '';
        engineLog('warning', `paramwise_cfg has an unknown key "${k}"${hint}; it is ignored, as MMEngine ignores it. Known keys: ${[...PARAMWISE_KEYS].join(', ')}.`);
      }
    }
    if ('custom_keys' in pw && (typeof pw.custom_keys !== 'object' || pw.custom_keys === null || Array.isArray(pw.custom_keys))) {
      throw new MmclsError(`If specified, custom_keys must be a dict, but got ${JSON.stringify(pw.custom_keys)}`, {
        code: 'optim.invalid-cfg',
      });
    }
    if ('bias_decay_mult' in pw || 'norm_decay_mult' in pw || 'dwconv_decay_mult' in pw) {
      if (this.baseWd === undefined) {
        throw new MmclsError('paramwise_cfg sets a decay multiplier, so optimizer.weight_decay must be set', {
          code: 'optim.invalid-cfg',
        });
      }
    }
  }

  /**
   * The parameter groups (MMEngine's `add_params`): one group per parameter when `paramwise_cfg`
   * is set, with its own `lr` / `weight_decay` where a rule applies.
   */
  paramGroups(params: readonly ParamDescriptor[]): Array<{ params: NamedParam[]; [key: string]: unknown }> {
    const pw = this.paramwiseCfg;
    const customKeys = pw.custom_keys ?? {};
    const sortedKeys = Object.keys(customKeys)
      .sort()
      .sort((a, b) => b.length - a.length);
    const groups: Array<{ params: NamedParam[]; [key: string]: unknown }> = [];
    const seen = new Set<tf.Variable>();
    const needLr = (why: string): number => {
      if (this.baseLr === undefined) {
        throw new MmclsError(`${why} needs optimizer.lr to be set`, { code: 'optim.invalid-cfg' });
      }
      return this.baseLr;
    };
    for (const d of params) {
      const dot = d.name.lastIndexOf('.');
      const local = d.name.slice(dot + 1);
      const full = dot >= 0 ? d.name : `.${d.name}`;
      const kind = d.kind ?? 'other';
      const isNorm = kind === 'norm';
      const isDwconv = kind === 'dwconv';
      const isDcn = kind === 'dcn_offset';
      const group: { params: NamedParam[]; [key: string]: unknown } = { params: [{ name: d.name, variable: d.variable }] };
      if (pw.bypass_duplicate && seen.has(d.variable)) {
        engineLog('warning', `${d.name} is duplicate. It is skipped since bypass_duplicate=True`);
        continue;
      }
      seen.add(d.variable);
      if (!d.variable.trainable) {
        groups.push(group);
        continue;
      }
      let isCustom = false;
      for (const key of sortedKeys) {
        if (full.includes(key)) {
          isCustom = true;
          const c = customKeys[key] ?? {};
          group.lr = needLr('custom_keys') * (c.lr_mult ?? 1.0);
          if (this.baseWd !== undefined) group.weight_decay = this.baseWd * (c.decay_mult ?? 1.0);
          for (const [k, v] of Object.entries(c)) group[k] = v;
          break;
        }
      }
      if (!isCustom) {
        if (local === 'bias' && !(isNorm || isDcn) && pw.bias_lr_mult !== undefined) {
          group.lr = needLr('bias_lr_mult') * pw.bias_lr_mult;
        }
        if (isDcn && pw.dcn_offset_lr_mult !== undefined) {
          group.lr = needLr('dcn_offset_lr_mult') * pw.dcn_offset_lr_mult;
        }
        if (this.baseWd !== undefined) {
          if (isNorm && pw.norm_decay_mult !== undefined) {
            group.weight_decay = this.baseWd * pw.norm_decay_mult;
          } else if (local === 'bias' && !isDcn && pw.bias_decay_mult !== undefined) {
            group.weight_decay = this.baseWd * pw.bias_decay_mult;
          } else if (isDwconv && pw.dwconv_decay_mult !== undefined) {
            group.weight_decay = this.baseWd * pw.dwconv_decay_mult;
          } else if (d.variable.shape.length === 1 && pw.flat_decay_mult !== undefined) {
            group.weight_decay = this.baseWd * pw.flat_decay_mult;
          }
        }
      }
      groups.push(group);
      for (const [k, v] of Object.entries(group)) {
        if (k !== 'params') engineLog('debug', `paramwise_options -- ${d.name}:${k}=${JSON.stringify(v)}`);
      }
    }
    return groups;
  }

  /** Builds the wrapper for a model's parameters (MMEngine's `__call__(model)`). */
  build(params: readonly ParamDescriptor[]): OptimWrapper {
    const optimizerCfg: ConfigDict = { ...this.optimizerCfg };
    if (Object.keys(this.paramwiseCfg).length === 0) {
      const seen = new Set<tf.Variable>();
      optimizerCfg.params = params
        .filter((p) => (seen.has(p.variable) ? false : (seen.add(p.variable), true)))
        .map((p) => ({ name: p.name, variable: p.variable }));
    } else {
      optimizerCfg.params = this.paramGroups(params);
    }
    const optimizer = OPTIMIZERS.build<Optimizer>(optimizerCfg);
    const wrapperCfg: ConfigDict = { type: 'OptimWrapper', ...this.optimWrapperCfg };
    return OPTIM_WRAPPERS.build<OptimWrapper>(wrapperCfg, { optimizer });
  }
}

/**
 * MMEngine's `build_optim_wrapper(model, cfg)`: picks the constructor (`constructor`, default
 * `DefaultOptimWrapperConstructor`; a type name or `dict(type=...)`), hands it `paramwise_cfg`,
 * and builds the wrapper for `params`.
 */
export function buildOptimWrapper(params: readonly ParamDescriptor[], cfg: ConfigDict): OptimWrapper {
  // `constructor` is read as an own key: every object inherits one from Object.prototype.
  const rest: ConfigDict = {};
  for (const [k, v] of Object.entries(cfg)) if (k !== 'constructor' && k !== 'paramwise_cfg') rest[k] = v;
  const ctor = Object.prototype.hasOwnProperty.call(cfg, 'constructor') ? cfg.constructor : undefined;
  const paramwise_cfg = cfg.paramwise_cfg;
  let ctorCfg: ConfigDict;
  if (ctor === undefined || ctor === null) ctorCfg = { type: 'DefaultOptimWrapperConstructor' };
  else if (typeof ctor === 'string') ctorCfg = { type: ctor };
  else if (typeof ctor === 'object' && !Array.isArray(ctor)) ctorCfg = { ...(ctor as ConfigDict) };
  else throw new MmclsError(`optim_wrapper.constructor must be a type name, got ${JSON.stringify(ctor)}`, { code: 'optim.invalid-cfg' });
  const built = OPTIM_WRAPPER_CONSTRUCTORS.build<{ build?: (p: readonly ParamDescriptor[]) => OptimWrapper }>({
    ...ctorCfg,
    optim_wrapper_cfg: rest,
    paramwise_cfg: (paramwise_cfg as ParamwiseConfig | null | undefined) ?? null,
  });
  if (typeof built.build !== 'function') {
    throw new MmclsError(`${String(ctorCfg.type)} has no build(params) method`, { code: 'optim.invalid-cfg' });
  }
  return built.build(params);
}
