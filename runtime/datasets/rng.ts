/**
 * Seeded random numbers for data augmentation.
 *
 * Every random transform draws from the `Rng` carried by the sample it works on. The loader makes
 * that generator from (seed, epoch, sample index) only, so a sample is augmented the same way
 * whatever the number of workers or the order in which workers finish.
 */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  /** `seeds` are mixed with SplitMix64-style hashing, so nearby seeds give unrelated streams. */
  constructor(...seeds: number[]) {
    let h = 0x9e3779b9 | 0;
    const mixed: number[] = [];
    const parts = seeds.length ? seeds : [0];
    for (const s of parts) {
      // Split the number in 32-bit halves so seeds above 2^32 still count.
      const lo = Math.floor(s) >>> 0;
      const hi = Math.floor(s / 4294967296) >>> 0;
      h = mix32(h ^ lo);
      h = mix32(h ^ hi ^ 0x85ebca6b);
    }
    for (let i = 0; i < 4; i++) {
      h = mix32((h + 0x9e3779b9) | 0);
      mixed.push(h);
    }
    this.s0 = mixed[0];
    this.s1 = mixed[1];
    this.s2 = mixed[2];
    this.s3 = mixed[3] | 1;
  }

  /** A uniformly distributed unsigned 32-bit integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits, like `np.random.rand()`. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform in [low, high), like `np.random.uniform(low, high)`. */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.random();
  }

  /** An integer in [low, high), like `np.random.randint(low, high)`. */
  randint(low: number, high: number): number {
    if (high <= low) throw new Error(`randint: empty range [${low}, ${high})`);
    return low + Math.floor(this.random() * (high - low));
  }

  /** Normal distribution, like `np.random.normal(mean, std)`. */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return mean + std * v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** Gamma(shape, 1) by Marsaglia and Tsang. */
  gamma(shape: number): number {
    if (shape < 1) {
      const u = this.random();
      return this.gamma(1 + shape) * Math.pow(u, 1 / shape);
    }
    const d = shape - 1 / 3;
    const c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number;
      let v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.random();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
    }
  }

  /** Beta(a, b), like `np.random.beta(a, b)`. */
  beta(a: number, b: number): number {
    const x = this.gamma(a);
    const y = this.gamma(b);
    return x / (x + y);
  }

  /** A random permutation of 0..n-1 (Fisher-Yates), like `np.random.permutation(n)`. */
  permutation(n: number): number[] {
    const out = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = out[i];
      out[i] = out[j];
      out[j] = t;
    }
    return out;
  }

  /** Picks an index with the given probabilities (they need not sum to 1). */
  choice(weights: number[]): number {
    const total = weights.reduce((a, b) => a + b, 0);
    let r = this.random() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i];
      if (r < 0) return i;
    }
    return weights.length - 1;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/** The generator for one sample: a function of (seed, epoch, index) only. */
export function sampleRng(seed: number, epoch: number, index: number): Rng {
  return new Rng(seed, epoch, index, 0x5eed);
}
