import { MmclsError } from '../../errors';
import { ConfigDict, PARAM_SCHEDULERS } from '../../registry';
import { INF, ParamSchedulerLike, SchedulerTarget } from './param_scheduler';

/** What the runner knows when it builds `param_scheduler`. */
export interface SchedulerBuildContext {
  /** The optimizer wrapper (or optimizer) to schedule. */
  optimizer: SchedulerTarget;
  /** The train loop's `max_epochs` (1 for iteration-based loops): default `end` of epoch-based schedulers. */
  maxEpochs?: number;
  /** The train loop's `max_iters`: default `end` of iteration-based schedulers. */
  maxIters?: number;
  /** Iterations per epoch (`len(train_dataloader)`), needed by `convert_to_iter_based`. */
  epochLength?: number;
}

/**
 * MMEngine's `build_iter_from_epoch`: `begin`, `end` and the class's epoch-counted options
 * (`step_size`, `milestones`, `T_max`, `total_steps`, `periods`) times `epochLength`, `by_epoch` off.
 */
export function convertToIterBased(cfg: ConfigDict, epochLength: number | undefined): ConfigDict {
  const type = cfg.type;
  const cls = typeof type === 'string' ? PARAM_SCHEDULERS.get(type) : typeof type === 'function' ? type : undefined;
  if (!cls) return cfg; // build() reports the unknown type
  if (cfg.by_epoch === false) {
    throw new MmclsError(`${String(type)}: only epoch-based schedulers (by_epoch=True) can be converted to iter-based (convert_to_iter_based=True)`, {
      code: 'scheduler.invalid-arg',
    });
  }
  if (!(typeof epochLength === 'number' && epochLength > 0)) {
    throw new MmclsError(`${String(type)}: convert_to_iter_based needs the number of iterations per epoch (the train dataloader's length)`, {
      code: 'scheduler.invalid-arg',
    });
  }
  const out: ConfigDict = { ...cfg, by_epoch: false };
  delete out.convert_to_iter_based;
  const keys = (cls as unknown as { epochScaledKeys?: readonly string[] }).epochScaledKeys ?? [];
  for (const k of keys) {
    const v = out[k];
    if (typeof v === 'number') out[k] = v * epochLength;
    else if (Array.isArray(v)) out[k] = v.map((x) => (typeof x === 'number' ? x * epochLength : x));
  }
  out.begin = Math.trunc(((cfg.begin as number | undefined) ?? 0) * epochLength);
  const end = cfg.end as number | undefined;
  if (end !== undefined && end !== INF) out.end = Math.trunc(end * epochLength);
  return out;
}

/** Builds one scheduler config as MMEngine's runner does (default `end`, `convert_to_iter_based`). */
export function buildParamScheduler(cfg: ConfigDict, ctx: SchedulerBuildContext): ParamSchedulerLike {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) {
    throw new MmclsError(`param_scheduler entries must be dicts, got ${JSON.stringify(cfg)}`, { code: 'scheduler.invalid-cfg' });
  }
  let c: ConfigDict = { ...cfg };
  const byEpoch = c.by_epoch === undefined ? true : Boolean(c.by_epoch);
  const defaultEnd = byEpoch ? ctx.maxEpochs : ctx.maxIters;
  if (c.end === undefined && defaultEnd !== undefined) c.end = defaultEnd;
  if (c.convert_to_iter_based) c = convertToIterBased(c, ctx.epochLength);
  else delete c.convert_to_iter_based;
  return PARAM_SCHEDULERS.build<ParamSchedulerLike>(c, { optimizer: ctx.optimizer });
}

/** Builds `param_scheduler` (one dict or a list) in config order. */
export function buildParamSchedulers(cfg: unknown, ctx: SchedulerBuildContext): ParamSchedulerLike[] {
  if (cfg === undefined || cfg === null) return [];
  const list = Array.isArray(cfg) ? cfg : [cfg];
  return list.map((c) => buildParamScheduler(c as ConfigDict, ctx));
}
