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
  private nextCheck = 4096;
  /** Evaluation time already spent (ms), not counting parsing and file reading. */
  private spent = 0;
  private runningSince: number | null = null;
  constructor(readonly maxSteps = LIMITS.maxSteps, readonly maxMillis = LIMITS.maxMillis) {}
  /** Evaluation of one file starts / ends: only that time counts against `maxMillis`. */
  resume(): void {
    if (this.runningSince === null) this.runningSince = Date.now();
  }
  pause(): void {
    if (this.runningSince !== null) {
      this.spent += Date.now() - this.runningSince;
      this.runningSince = null;
    }
  }
  /** Returns a message when a limit is exceeded. */
  charge(n: number): string | null {
    this.steps += n;
    if (this.steps > this.maxSteps) {
      return `evaluation stopped: the config needs more than ${this.maxSteps.toLocaleString('en-US')} steps; config files must stay small and simple`;
    }
    if (this.steps >= this.nextCheck) {
      this.nextCheck = this.steps + 4096;
      const running = this.runningSince === null ? 0 : Date.now() - this.runningSince;
      if (this.spent + running > this.maxMillis) return 'evaluation stopped: the config took too long to evaluate';
    }
    return null;
  }
}
