import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore } from "@session-store/core/SessionStore"
import { Effect, Layer } from "effect"
import { describe, expect, it } from "@effect/vitest"
import { layerBaseline } from "../src/baseline.ts"
import { HIT_RATE_BUDGETS_MB, type Policy, simulate, traceOf, type Trace } from "../src/internal/hitRate.ts"
import { zipfHitRates, zipfTrace } from "../src/internal/zipfTrace.ts"
import { soak, type SoakOptions } from "../src/soak.ts"

/** A hand-made trace: `ops` as [minute, session, kind (0 read, 1 write), bytes]. */
const traceFrom = (ops: ReadonlyArray<readonly [number, number, number, number]>): Trace => {
  const length = ops.length
  const nextRead = new Int32Array(length)
  const upcoming = new Map<number, number>()
  for (let i = length - 1; i >= 0; i--) {
    nextRead[i] = upcoming.get(ops[i]![1]) ?? length
    if (ops[i]![2] === 0) upcoming.set(ops[i]![1], i)
  }
  const sessions = Math.max(...ops.map((op) => op[1])) + 1
  return {
    at: Float64Array.from(ops, (op) => op[0] * 60_000),
    session: Int32Array.from(ops, (op) => op[1]),
    kind: Uint8Array.from(ops, (op) => op[2]),
    bytes: Float64Array.from(ops, (op) => op[3]),
    nextRead,
    length,
    hashes: Uint32Array.from({ length: sessions }, (_, s) => (s * 2654435761) >>> 0)
  }
}

describe("hit rate against the limit", () => {
  const trace = traceOf({ seed: 9, sessions: 30, operations: 3_000 })

  it("the optimum is never below LRU on the soak's trace", () => {
    for (const mb of HIT_RATE_BUDGETS_MB) {
      for (const timeRules of [true, false]) {
        const rules = { budget: (mb * 1e6) / 16, timeRules }
        const lru = simulate(trace, "lru", rules)
        expect(simulate(trace, "optimum", rules).hitRate).toBeGreaterThanOrEqual(lru.hitRate)
      }
    }
  })

  it("with room for everything and no time rules, every read is a hit (writes allocate)", () => {
    for (const policy of ["lru", "store", "optimum"] satisfies ReadonlyArray<Policy>) {
      const all = simulate(trace, policy, { budget: Number.POSITIVE_INFINITY, timeRules: false, maxSessions: Infinity })
      expect(all.misses).toBe(0)
      expect(all.budgetEvictions).toBe(0)
      expect(all.hits).toBeGreaterThan(0)
    }
  })

  it("a smaller budget never raises LRU's hit rate (LRU is a stack algorithm)", () => {
    const rates = [1, 2, 4, 8].map((mb) => simulate(trace, "lru", { budget: mb * 1e5, timeRules: false }).hitRate)
    for (let i = 1; i < rates.length; i++) expect(rates[i]!).toBeGreaterThanOrEqual(rates[i - 1]!)
  })

  it("the store row is the store's policy: a large session idle since leaves before two small ones used earlier", () => {
    // Room for 300 KB. Writes, two minutes apart (each a visit), then reads.
    const ops = traceFrom([
      [0, 0, 1, 100_000],
      [2, 1, 1, 10_000],
      [4, 2, 1, 200_000], // over budget: both drop session 0, the oldest and larger of two
      [6, 3, 1, 95_000], // over again: LRU drops 1; the store drops 2, worth less per byte
      [8, 1, 0, 10_000], // LRU misses (and drops 2 to load it); the store hits
      [10, 2, 0, 200_000] // both miss
    ])
    const rules = { budget: 300_000, timeRules: false }
    expect(simulate(ops, "lru", rules)).toMatchObject({ hits: 0, misses: 2 })
    expect(simulate(ops, "store", rules)).toMatchObject({ hits: 1, misses: 1 })
  })

  it.live("the store's measured hits and misses are the replay's store row, to the read", () =>
    Effect.gen(function*() {
      const options: SoakOptions = { seed: 9, sessions: 30, operations: 3_000, samples: 5, progress: false }
      const budget = 150_000
      const store = SessionStore.layerWith({ maxBytes: budget }).pipe(
        Layer.provide(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerTest()))
      )
      const report = yield* soak(options, { baseline: layerBaseline, store })
      const replay = simulate(traceOf(options), "store", { budget, timeRules: true })
      expect(report.store.stats.evictions.budget).toBeGreaterThan(20)
      expect({ hits: report.store.stats.hits, misses: report.store.stats.misses }).toStrictEqual({
        hits: replay.hits,
        misses: replay.misses
      })
      expect(report.store.stats.evictions.budget).toBe(replay.budgetEvictions)
    }), 60_000)

  it("on a plain Zipf trace (no drift, no bursts) the store's policy beats LRU at every budget", () => {
    const rows = zipfHitRates({ seed: 3, sessions: 300, reads: 10_000 }, [2, 8, 32])
    for (const row of rows) expect(row.rates.store).toBeGreaterThan(row.rates.lru)
    // The control is what it says: reads only, a fixed size per session, the same trace from the same seed.
    const a = zipfTrace({ seed: 3, sessions: 300, reads: 1_000 })
    expect([...a.kind].every((k) => k === 0)).toBe(true)
    expect(a.session).toStrictEqual(zipfTrace({ seed: 3, sessions: 300, reads: 1_000 }).session)
  })
})
