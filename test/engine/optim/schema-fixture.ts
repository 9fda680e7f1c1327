import * as path from 'path';
import { generateSchema } from '../../../scripts/gen-schema';
import type { RegistrySchema } from '../../../runtime/registry/schema-types';

const ROOT = path.resolve(__dirname, '..', '..', '..');
let cached: RegistrySchema | undefined;

/** The registry schema of the optim, scheduler and metric components, generated once per test run. */
export function engineSchema(): RegistrySchema {
  cached ??= generateSchema({ root: ROOT, include: ['runtime/engine/optim', 'runtime/engine/schedulers', 'runtime/evaluation'] });
  return cached;
}
