import { describe, expect, it } from "vitest"
import { HIT_RATE_BUDGETS_MB, simulate, traceOf } from "../src/internal/hitRate.ts"

describe("hit rate against the limit", () => {
  const trace = traceOf({ seed: 9, sessions: 30, operations: 3_000 })

  it("the optimum is never below LRU, and the store's order is LRU's", () => {
    for (const mb of HIT_RATE_BUDGETS_MB) {
      for (const timeRules of [true, false]) {
        const rules = { budget: (mb * 1e6) / 16, timeRules }
        const lru = simulate(trace, "lru", rules)
        expect(simulate(trace, "optimum", rules).hitRate).toBeGreaterThanOrEqual(lru.hitRate)
        expect(simulate(trace, "store", rules)).toStrictEqual(lru)
      }
    }
  })

  it("with room for everything and no time rules, every read is a hit (writes allocate)", () => {
    const all = simulate(trace, "lru", { budget: Number.POSITIVE_INFINITY, timeRules: false })
    expect(all.misses).toBe(0)
    expect(all.budgetEvictions).toBe(0)
    expect(all.hits).toBeGreaterThan(0)
  })

  it("a smaller budget never raises LRU's hit rate (LRU is a stack algorithm)", () => {
    const rates = [1, 2, 4, 8].map((mb) => simulate(trace, "lru", { budget: mb * 1e5, timeRules: false }).hitRate)
    for (let i = 1; i < rates.length; i++) expect(rates[i]!).toBeGreaterThanOrEqual(rates[i - 1]!)
  })
})
