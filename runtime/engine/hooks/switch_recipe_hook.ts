import { MmclsError } from '../../errors';
import { HOOKS, MODELS } from '../../registry';
import { Compose } from '../../datasets/transforms/base';
import { RandomBatchAugment, RandomBatchAugmentOptions } from '../../models/utils/batch_augments';
import type { Runner } from '../runner';
import { Hook } from './hook';

/** One step of a {@link SwitchRecipeHook} schedule. */
export interface SwitchRecipe {
  /** The (1-based) epoch before which the recipe takes effect. */
  action_epoch: number;
  /** The new pipeline of the train dataset; left out: keep it. */
  train_pipeline?: { type: string; [key: string]: unknown }[];
  /** The new batch augmentations (a RandomBatchAugment config); None turns them off; left out: keep them. */
  batch_augments?: RandomBatchAugmentOptions | null;
  /** The new loss of the head (a loss config); left out: keep it. */
  loss?: { type: string; [key: string]: unknown };
  /** Another name of `train_pipeline`: MMCls's MobileOne configs write `pipeline`, which MMCls's hook silently ignores; here it switches the pipeline as those configs mean. */
  pipeline?: { type: string; [key: string]: unknown }[];
}

/** Options of {@link SwitchRecipeHook}. */
export interface SwitchRecipeHookOptions {
  /** The recipes, each with an `action_epoch` and some of `train_pipeline`, `batch_augments`, `loss`. */
  schedule: SwitchRecipe[];
  /** Hook priority. @default 'NORMAL' */
  priority?: string | number;
}

interface Built {
  pipeline?: { cfg: SwitchRecipe['train_pipeline']; compose: Compose };
  batchAugments?: RandomBatchAugment | null;
  loss?: unknown;
}

type DatasetLike = { pipeline?: unknown; dataset?: DatasetLike; datasets?: DatasetLike[] };
type CfgLike = { pipeline?: unknown; dataset?: CfgLike; datasets?: CfgLike[]; [key: string]: unknown };

function switchPipeline(ds: DatasetLike, compose: Compose): void {
  if (ds.pipeline !== undefined) (ds as { pipeline: unknown }).pipeline = compose;
  else if (Array.isArray(ds.datasets)) for (const d of ds.datasets) switchPipeline(d, compose);
  else if (ds.dataset) switchPipeline(ds.dataset, compose);
  else throw new MmclsError('SwitchRecipeHook: cannot access the `pipeline` of the train dataset', { code: 'hook.switch-recipe' });
}

function switchPipelineCfg(cfg: CfgLike, pipeline: unknown): CfgLike {
  if (Array.isArray(cfg.datasets)) return { ...cfg, datasets: cfg.datasets.map((d) => switchPipelineCfg(d, pipeline)) };
  if (cfg.pipeline === undefined && cfg.dataset && typeof cfg.dataset === 'object') return { ...cfg, dataset: switchPipelineCfg(cfg.dataset, pipeline) };
  return { ...cfg, pipeline };
}

/**
 * MMCls's `SwitchRecipeHook`: switches the train pipeline, the batch augmentations and the loss
 * at given epochs (MobileOne's progressive resizing and RandAugment strength). After a resume,
 * the recipes of the epochs already trained are applied at the start.
 */
@HOOKS.registerModule()
export class SwitchRecipeHook extends Hook {
  readonly schedule: Map<number, Built>;

  constructor(options: SwitchRecipeHookOptions) {
    super();
    const schedule = options?.schedule;
    if (!Array.isArray(schedule)) throw new MmclsError('SwitchRecipeHook: schedule must be a list of dicts', { code: 'hook.switch-recipe' });
    const recipes = new Map<number, Built>();
    for (const r of schedule) {
      if (!r || typeof r.action_epoch !== 'number') {
        throw new MmclsError('Please set `action_epoch` in every item of the `schedule` in the SwitchRecipeHook.', { code: 'hook.switch-recipe' });
      }
      if (recipes.has(r.action_epoch)) {
        throw new MmclsError(`The \`action_epoch\` ${r.action_epoch} is repeated in the SwitchRecipeHook.`, { code: 'hook.switch-recipe' });
      }
      if (r.train_pipeline !== undefined && r.pipeline !== undefined) {
        throw new MmclsError('SwitchRecipeHook: give the new pipeline as `train_pipeline` or `pipeline`, not both', { code: 'hook.switch-recipe' });
      }
      const b: Built = {};
      const pipeline = r.train_pipeline ?? r.pipeline;
      if (pipeline !== undefined) b.pipeline = { cfg: pipeline, compose: new Compose(pipeline as never) };
      if ('batch_augments' in r && r.batch_augments !== undefined) b.batchAugments = r.batch_augments === null ? null : new RandomBatchAugment(r.batch_augments);
      if (r.loss !== undefined) b.loss = MODELS.build(r.loss);
      recipes.set(r.action_epoch, b);
    }
    this.schedule = new Map([...recipes.entries()].sort((a, b) => a[0] - b[0]));
  }

  override async beforeTrain(runner: Runner): Promise<void> {
    // After a resume at epoch e, the recipes of epochs 1..e are in force.
    for (const [epoch, recipe] of this.schedule) {
      if (epoch >= runner.epoch + 1) break;
      await this.doSwitch(runner, recipe, ` (resume recipe of epoch ${epoch})`);
    }
  }

  override async beforeTrainEpoch(runner: Runner): Promise<void> {
    const recipe = this.schedule.get(runner.epoch + 1);
    if (recipe) await this.doSwitch(runner, recipe, ` at epoch ${runner.epoch + 1}`);
  }

  private async doSwitch(runner: Runner, recipe: Built, info: string): Promise<void> {
    if (recipe.batchAugments !== undefined) {
      (runner.model.dataPreprocessor as unknown as { batchAugments: RandomBatchAugment | null }).batchAugments = recipe.batchAugments;
      runner.logger.info(`Switch batch augments${info}.`);
    }
    if (recipe.pipeline) {
      const loader = runner.trainDataloader;
      if (!loader) throw new MmclsError('SwitchRecipeHook: the runner has no train data loader', { code: 'hook.switch-recipe' });
      switchPipeline(loader.dataset as unknown as DatasetLike, recipe.pipeline.compose);
      // Worker threads build the dataset from its config: give them the new pipeline and restart them.
      const l = loader as unknown as { datasetCfg: CfgLike | null; close(): Promise<void> };
      if (l.datasetCfg) {
        l.datasetCfg = switchPipelineCfg(l.datasetCfg, recipe.pipeline.cfg);
        await l.close();
      }
      runner.logger.info(`Switch train pipeline${info}.`);
    }
    if (recipe.loss !== undefined) {
      const head = (runner.model as unknown as { head?: { lossModule?: unknown } }).head;
      if (!head || head.lossModule === undefined) throw new MmclsError('SwitchRecipeHook: cannot access the `loss_module` of the model', { code: 'hook.switch-recipe' });
      (head as { lossModule: unknown }).lossModule = recipe.loss;
      runner.logger.info(`Switch loss${info}.`);
    }
  }
}
