/**
 * `randomness=dict(seed=..., deterministic=...)`: the runner's seed. TensorFlow.js draws the seeds
 * of its random ops (weight initialisers, dropout) from `Math.random` when none is given, so the
 * runner replaces `Math.random` by a seeded generator whose state goes into checkpoints: a resumed
 * run continues the same random stream. Data augmentation has its own per-sample generators
 * (runtime/datasets/rng.ts), seeded from the same seed.
 */

const nativeRandom = Math.random;

function splitmix32(a: number): () => number {
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

/** xoshiro128** with exportable state. */
export class SeededRandom {
  private s: Uint32Array;

  constructor(seed: number) {
    const sm = splitmix32((seed >>> 0) ^ Math.floor(seed / 4294967296));
    this.s = new Uint32Array([sm(), sm(), sm(), sm() | 1]);
  }

  nextUint32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 bits. */
  random(): number {
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  getState(): number[] {
    return Array.from(this.s);
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4 || state.every((x) => x === 0)) throw new Error('invalid random state');
    this.s = Uint32Array.from(state.map((x) => x >>> 0));
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

let installed: SeededRandom | null = null;

/** A seed as MMEngine draws one when `randomness.seed` is None. */
export function drawSeed(): number {
  return Math.floor(nativeRandom() * 2 ** 31);
}

/** Seeds `Math.random` (and with it TensorFlow.js's unseeded random ops). */
export function setRandomSeed(seed: number): SeededRandom {
  installed = new SeededRandom(seed);
  const g = installed;
  Math.random = () => g.random();
  return g;
}

/** The seeded generator's state, for checkpoints (null before `setRandomSeed`). */
export function getRandomState(): { generator: string; state: number[] } | null {
  return installed ? { generator: 'xoshiro128**', state: installed.getState() } : null;
}

/** Restores a state written by `getRandomState`. Returns false when the state is not ours. */
export function setRandomState(s: unknown): boolean {
  if (!s || typeof s !== 'object') return false;
  const o = s as { generator?: unknown; state?: unknown };
  if (o.generator !== 'xoshiro128**' || !Array.isArray(o.state)) return false;
  if (!installed) setRandomSeed(0);
  installed!.setState(o.state.map(Number));
  return true;
}

/** Puts the original `Math.random` back (tests). */
export function restoreNativeRandom(): void {
  Math.random = nativeRandom;
  installed = null;
}
