/**
 * Limits that keep hostile config files harmless. Configs are evaluated, never executed, but an
 * expression such as `'a' * 10**10` or `range(10**12)` could still exhaust memory or time. Every
 * limit ends in an MmclsError with code `config.limit` at the offending expression.
 */
export const LIMITS = {
  /** Largest list / tuple / dict / set / string a single operation may build. */
  maxItems: 1_000_000,
  /** Work units (expression evaluations plus items built) for one `loadConfig` call. */
  maxSteps: 2_000_000,
  /** Wall-clock budget for one `loadConfig` call, in milliseconds. */
  maxMillis: 500,
  /** Depth of nested expressions while evaluating. */
  maxDepth: 400,
  /** Integers are exact JS numbers: |int| < 2**53. */
  maxInt: Number.MAX_SAFE_INTEGER,
};

export class Budget {
  steps = 0;
  private readonly deadline: number;
  private nextCheck = 4096;
  constructor(readonly maxSteps = LIMITS.maxSteps, maxMillis = LIMITS.maxMillis) {
    this.deadline = Date.now() + maxMillis;
  }
  /** Returns a message when a limit is exceeded. */
  charge(n: number): string | null {
    this.steps += n;
    if (this.steps > this.maxSteps) {
      return `evaluation stopped: the config needs more than ${this.maxSteps.toLocaleString('en-US')} steps; config files must stay small and simple`;
    }
    if (this.steps >= this.nextCheck) {
      this.nextCheck = this.steps + 4096;
      if (Date.now() > this.deadline) return 'evaluation stopped: the config took too long to evaluate';
    }
    return null;
  }
}
