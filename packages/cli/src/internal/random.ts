/**
 * A small seeded PRNG (mulberry32) with the few distributions the workload
 * needs. Not Effect's `Random`: the generator is a synchronous iterator that
 * draws millions of numbers, and every message's content must be re-derivable
 * on its own (the soak regenerates what it expects instead of keeping a copy),
 * which needs cheap independent streams keyed by (seed, session, message, part).
 * mulberry32 has one 32-bit word of state, so a stream costs nothing to make.
 */

/** A source of uniform doubles in [0, 1) plus the derived draws. */
export interface Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number
  /** Uniform integer in [min, max] (both inclusive). */
  readonly int: (min: number, max: number) => number
  /** True with probability `p`. */
  readonly chance: (p: number) => boolean
  /** Exponential with the given mean. */
  readonly exponential: (mean: number) => number
  /** Log-normal with the given median and shape `sigma` (heavy right tail). */
  readonly logNormal: (median: number, sigma: number) => number
  /** One element of a non-empty array. */
  readonly pick: <A>(items: ReadonlyArray<A>) => A
}

// murmur3's 32-bit finalizer: spreads every input bit over the whole word.
const fmix32 = (input: number): number => {
  let h = input >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * A 32-bit key for a stream, from any number of integers: the same inputs
 * always give the same key, and neighbouring inputs give unrelated keys.
 */
export const streamKey = (...parts: ReadonlyArray<number>): number => {
  let h = 0x811c9dc5
  for (const part of parts) {
    h = fmix32(h ^ Math.imul(part >>> 0, 0x9e3779b1) ^ Math.floor(part / 0x1_0000_0000))
  }
  return h
}

/** A seeded generator; `makeRng(streamKey(seed, a, b))` gives an independent stream per (a, b). */
export const makeRng = (seed: number): Rng => {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const gaussian = (): number => {
    // Box-Muller; 1 - next() is in (0, 1], so the log is finite.
    const u = 1 - next()
    const v = next()
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
  }
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    exponential: (mean) => -mean * Math.log(1 - next()),
    logNormal: (median, sigma) => median * Math.exp(sigma * gaussian()),
    pick: <A>(items: ReadonlyArray<A>): A => items[Math.floor(next() * items.length)] as A
  }
}
