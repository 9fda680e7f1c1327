import { PARAM_SCHEDULERS } from '../../registry';
import { MmclsError } from '../../errors';
import {
  StepParamScheduler,
  StepScheduleOptions,
  MultiStepParamScheduler,
  MultiStepScheduleOptions,
  ConstantParamScheduler,
  ConstantScheduleOptions,
  ExponentialParamScheduler,
  ExponentialScheduleOptions,
  CosineAnnealingParamScheduler,
  CosineAnnealingScheduleOptions,
  LinearParamScheduler,
  LinearScheduleOptions,
  PolyParamScheduler,
  PolyScheduleOptions,
  OneCycleParamScheduler,
  OneCycleScheduleOptions,
  CosineRestartParamScheduler,
  CosineRestartScheduleOptions,
  SchedulerBaseOptions,
  SchedulerTarget,
} from './param_scheduler';

/**
 * Momentum schedulers work on `momentum`, or on `betas[0]` for Adam-style optimizers (MMEngine's
 * MomentumSchedulerMixin): the groups get a `momentum` key mirrored into `betas` after each step.
 */
function momentumOptions<T extends SchedulerBaseOptions>(options: T): T & { param_name: string } {
  const opt = options.optimizer;
  if (opt && opt.paramGroups && opt.defaults && !('momentum' in opt.defaults)) {
    if ('betas' in opt.defaults) {
      for (const g of opt.paramGroups) {
        const b = g.betas;
        if (Array.isArray(b)) g.momentum = b[0];
      }
    } else {
      throw new MmclsError('optimizer must support momentum when using momentum scheduler (SGD momentum, RMSprop momentum or Adam betas)', {
        code: 'scheduler.no-param',
      });
    }
  }
  return { ...options, param_name: 'momentum' };
}

function syncBetas(opt: SchedulerTarget): void {
  if ('momentum' in opt.defaults || !('betas' in opt.defaults)) return;
  for (const g of opt.paramGroups) {
    const b = g.betas;
    if (Array.isArray(b)) g.betas = [g.momentum, b[1]];
  }
}

/** Options of `StepLR`. */
export interface StepLROptions extends StepScheduleOptions {}

/** Decays the learning rate by `gamma` every `step_size` epochs (or iterations). */
@PARAM_SCHEDULERS.registerModule()
export class StepLR extends StepParamScheduler {
  constructor(options: StepLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `StepMomentum`. */
export interface StepMomentumOptions extends StepScheduleOptions {}

/** Decays the momentum by `gamma` every `step_size` epochs (or iterations). */
@PARAM_SCHEDULERS.registerModule()
export class StepMomentum extends StepParamScheduler {
  constructor(options: StepMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}

/** Options of `MultiStepLR`. */
export interface MultiStepLROptions extends MultiStepScheduleOptions {}

/** Decays the learning rate by `gamma` at each of the `milestones`. */
@PARAM_SCHEDULERS.registerModule()
export class MultiStepLR extends MultiStepParamScheduler {
  constructor(options: MultiStepLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `MultiStepMomentum`. */
export interface MultiStepMomentumOptions extends MultiStepScheduleOptions {}

/** Decays the momentum by `gamma` at each of the `milestones`. */
@PARAM_SCHEDULERS.registerModule()
export class MultiStepMomentum extends MultiStepParamScheduler {
  constructor(options: MultiStepMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}

/** Options of `ConstantLR`. */
export interface ConstantLROptions extends ConstantScheduleOptions {}

/** Multiplies the learning rate by a constant `factor` until `end`. */
@PARAM_SCHEDULERS.registerModule()
export class ConstantLR extends ConstantParamScheduler {
  constructor(options: ConstantLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `ConstantMomentum`. */
export interface ConstantMomentumOptions extends ConstantScheduleOptions {}

/** Multiplies the momentum by a constant `factor` until `end`. */
@PARAM_SCHEDULERS.registerModule()
export class ConstantMomentum extends ConstantParamScheduler {
  constructor(options: ConstantMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}

/** Options of `ExponentialLR`. */
export interface ExponentialLROptions extends ExponentialScheduleOptions {}

/** Multiplies the learning rate by `gamma` every epoch (or iteration). */
@PARAM_SCHEDULERS.registerModule()
export class ExponentialLR extends ExponentialParamScheduler {
  constructor(options: ExponentialLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `ExponentialMomentum`. */
export interface ExponentialMomentumOptions extends ExponentialScheduleOptions {}

/** Multiplies the momentum by `gamma` every epoch (or iteration). */
@PARAM_SCHEDULERS.registerModule()
export class ExponentialMomentum extends ExponentialParamScheduler {
  constructor(options: ExponentialMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}

/** Options of `CosineAnnealingLR`. */
export interface CosineAnnealingLROptions extends CosineAnnealingScheduleOptions {}

/** Cosine annealing of the learning rate to `eta_min` over `T_max` epochs (or iterations). */
@PARAM_SCHEDULERS.registerModule()
export class CosineAnnealingLR extends CosineAnnealingParamScheduler {
  constructor(options: CosineAnnealingLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `CosineAnnealingMomentum`. */
export interface CosineAnnealingMomentumOptions extends CosineAnnealingScheduleOptions {}

/** Cosine annealing of the momentum to `eta_min` over `T_max` epochs (or iterations). */
@PARAM_SCHEDULERS.registerModule()
export class CosineAnnealingMomentum extends CosineAnnealingParamScheduler {
  constructor(options: CosineAnnealingMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}

/** Options of `LinearLR`. */
export interface LinearLROptions extends LinearScheduleOptions {}

/** Scales the learning rate linearly from `start_factor` to `end_factor` (linear warm-up). */
@PARAM_SCHEDULERS.registerModule()
export class LinearLR extends LinearParamScheduler {
  constructor(options: LinearLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `LinearMomentum`. */
export interface LinearMomentumOptions extends LinearScheduleOptions {}

/** Scales the momentum linearly from `start_factor` to `end_factor`. */
@PARAM_SCHEDULERS.registerModule()
export class LinearMomentum extends LinearParamScheduler {
  constructor(options: LinearMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}

/** Options of `PolyLR`. */
export interface PolyLROptions extends PolyScheduleOptions {}

/** Polynomial decay of the learning rate to `eta_min`. */
@PARAM_SCHEDULERS.registerModule()
export class PolyLR extends PolyParamScheduler {
  constructor(options: PolyLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `PolyMomentum`. */
export interface PolyMomentumOptions extends PolyScheduleOptions {}

/** Polynomial decay of the momentum to `eta_min`. */
@PARAM_SCHEDULERS.registerModule()
export class PolyMomentum extends PolyParamScheduler {
  constructor(options: PolyMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}

/** Options of `OneCycleLR`. */
export interface OneCycleLROptions extends OneCycleScheduleOptions {}

/** The 1cycle learning-rate policy (Super-Convergence). */
@PARAM_SCHEDULERS.registerModule()
export class OneCycleLR extends OneCycleParamScheduler {
  constructor(options: OneCycleLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `CosineRestartLR`. */
export interface CosineRestartLROptions extends CosineRestartScheduleOptions {}

/** Cosine annealing of the learning rate with restarts. */
@PARAM_SCHEDULERS.registerModule()
export class CosineRestartLR extends CosineRestartParamScheduler {
  constructor(options: CosineRestartLROptions) {
    super({ ...options, param_name: 'lr' });
  }
}

/** Options of `CosineRestartMomentum`. */
export interface CosineRestartMomentumOptions extends CosineRestartScheduleOptions {}

/** Cosine annealing of the momentum with restarts. */
@PARAM_SCHEDULERS.registerModule()
export class CosineRestartMomentum extends CosineRestartParamScheduler {
  constructor(options: CosineRestartMomentumOptions) {
    super(momentumOptions(options));
  }
  override step(): void {
    super.step();
    syncBetas(this.optimizer);
  }
}
