import { initBackend, probeWebGpuAdapter } from '../../runtime/backend';

/**
 * Whether the webgpu tests run, and why not. They run under `npm run test:webgpu`
 * (MMCLS_TEST_WEBGPU=1) when Dawn finds an adapter (a GPU, or Mesa's lavapipe in CI).
 * Under plain `npm test` they are skipped: CI runs them once, through test:webgpu.
 */
export async function webGpuSkipReason(): Promise<string | undefined> {
  if (process.env.MMCLS_TEST_WEBGPU !== '1') return 'webgpu tests run with `npm run test:webgpu` (MMCLS_TEST_WEBGPU=1)';
  const probe = await probeWebGpuAdapter();
  if (!probe.ok) return `webgpu tests skipped: ${probe.reason}`;
  return undefined;
}

/** Mocha `before` hook body: skips the suite (printing why) or starts webgpu once to log the adapter. */
export async function requireWebGpu(ctx: Mocha.Context): Promise<void> {
  const why = await webGpuSkipReason();
  if (why !== undefined) {
    // eslint-disable-next-line no-console
    console.log(`      ${why}`);
    ctx.skip();
  }
  const info = await initBackend('webgpu');
  if (!loggedAdapter) {
    // eslint-disable-next-line no-console
    console.log(`      adapter: ${info.adapter?.summary ?? 'unknown'}`);
    loggedAdapter = true;
  }
}
let loggedAdapter = false;

export { compare, seq, values } from '../../scripts/webgpu-parity';
