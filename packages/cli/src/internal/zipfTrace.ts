/**
 * The control trace for the hit-rate table: plain Zipf, no drift, no
 * bursts. Every access is a read of a session drawn independently by a
 * fixed Zipf popularity, a minute or so apart (so each one is a visit to the
 * store's policy); sizes are log-normal, fixed per session. A policy tuned
 * to the soak's bursty, drifting trace must not lose to LRU here either:
 * this is the independent-reference model every cache paper starts from.
 */
import { hashId } from "@session-store/core/EvictionPolicy"
import { type Policy, simulate, type Trace } from "./hitRate.ts"
import { makeRng } from "./random.ts"
import { zipfRank, zipfTable } from "./sampling.ts"

/** What to generate. */
export interface ZipfOptions {
  readonly seed: number
  readonly sessions: number
  readonly reads: number
  /** Zipf exponent of popularity by rank (default 0.9). */
  readonly exponent?: number
  /** Median session size in bytes (default 200 KB), log-normal with shape 1. */
  readonly medianBytes?: number
  /** Mean time between reads, exponential (default 60 s). */
  readonly meanGapMs?: number
}

/** The defaults the soak prints. */
export const zipfDefaults: ZipfOptions = { seed: 1, sessions: 1_000, reads: 50_000 }

/**
 * The trace of `options`: reads only, each session's bytes fixed.
 *
 * @example
 * ```ts
 * const trace = zipfTrace({ seed: 1, sessions: 1_000, reads: 50_000 })
 * ```
 */
export const zipfTrace = (options: ZipfOptions): Trace => {
  const rng = makeRng(options.seed)
  const n = Math.max(1, options.sessions)
  const exponent = options.exponent ?? 0.9
  const ranks = zipfTable(n, exponent)
  const sizes = Float64Array.from({ length: n }, () => Math.max(1_000, Math.round(rng.logNormal(options.medianBytes ?? 200_000, 1))))
  const length = options.reads
  const at = new Float64Array(length)
  const session = new Int32Array(length)
  const bytes = new Float64Array(length)
  let now = 0
  for (let i = 0; i < length; i++) {
    const drawn = zipfRank(rng, ranks, n)
    now += rng.exponential(options.meanGapMs ?? 60_000)
    at[i] = now
    session[i] = drawn
    bytes[i] = sizes[drawn]!
  }
  const nextRead = new Int32Array(length)
  const upcoming = new Int32Array(n).fill(length)
  for (let i = length - 1; i >= 0; i--) {
    nextRead[i] = upcoming[session[i]!]!
    upcoming[session[i]!] = i
  }
  const hashes = Uint32Array.from({ length: n }, (_, s) => hashId(`ses_zipf_${s}`))
  return { at, session, kind: new Uint8Array(length), bytes, nextRead, length, hashes }
}

/** One row of the Zipf table: a budget and each policy's hit rate (no time rules: a Zipf trace has no idle sessions to speak of). */
export interface ZipfHitRateRow {
  readonly budgetMB: number
  readonly rates: Record<Exclude<Policy, "gds">, number>
}

/**
 * LRU, the store's policy and the optimum on the Zipf trace of `options`, per budget.
 *
 * @example
 * ```ts
 * const rows = zipfHitRates(zipfDefaults, [4, 16, 64])
 * ```
 */
export const zipfHitRates = (options: ZipfOptions, budgetsMB: ReadonlyArray<number>): Array<ZipfHitRateRow> => {
  const trace = zipfTrace(options)
  // Capacity out of the way: with sessions of a few KB to MBs the budget is what binds.
  const rules = (mb: number) => ({ budget: mb * 1e6, timeRules: false, maxSessions: Number.POSITIVE_INFINITY })
  return budgetsMB.map((mb) => ({
    budgetMB: mb,
    rates: {
      lru: simulate(trace, "lru", rules(mb)).hitRate,
      store: simulate(trace, "store", rules(mb)).hitRate,
      optimum: simulate(trace, "optimum", rules(mb)).hitRate
    }
  }))
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`

/**
 * The Zipf table as text.
 *
 * @example
 * ```ts
 * console.log(renderZipfHitRates(zipfDefaults, zipfHitRates(zipfDefaults, [16])))
 * ```
 */
export const renderZipfHitRates = (options: ZipfOptions, rows: ReadonlyArray<ZipfHitRateRow>): string => {
  const out = [
    `plain Zipf control (s ${options.exponent ?? 0.9}, ${options.sessions.toLocaleString("en-US")} sessions, ${
      options.reads.toLocaleString("en-US")
    } reads, sizes log-normal around ${((options.medianBytes ?? 200_000) / 1e3).toFixed(0)} KB; seed ${options.seed})`,
    "  budget       LRU   store  optimum"
  ]
  for (const r of rows) {
    out.push(
      `  ${`${r.budgetMB} MB`.padStart(6)}  ${pct(r.rates.lru).padStart(7)} ${pct(r.rates.store).padStart(7)} ${
        pct(r.rates.optimum).padStart(8)
      }`
    )
  }
  return out.join("\n")
}
