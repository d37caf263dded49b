import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { renderBench, runBench } from "../src/bench.ts"
import { NaiveLru } from "../src/internal/naiveLru.ts"

describe("bench", () => {
  it("naive LRU answers like a map", () => {
    const lru = new NaiveLru<string, number>()
    lru.set("a", 1)
    lru.set("b", 2)
    lru.set("a", 3)
    expect([lru.get("a"), lru.get("b"), lru.get("c")]).toStrictEqual([3, 2, undefined])
  })

  // Figures are not asserted (no wall-clock assertions): only that every
  // benchmark runs and every target is reported beside its figure.
  it.live("measures every group and reports each check with its target", () =>
    Effect.gen(function*() {
      const report = yield* runBench({ time: 20, residentSizes: [10, 100], sweepSizes: [100], coldMessages: 20, progress: false })
      const names = report.measurements.map((m) => `${m.group} / ${m.name}`)
      for (const n of ["10", "100"]) {
        for (const task of ["Map.get", "lru-cache get", "Cache.get", "naive LRU get", "getSession"]) {
          expect(names).toContain(`hit path, ${n} resident / ${task}`)
        }
      }
      expect(names).toContain("sweep, 100 resident / sweep")
      expect(names).toContain("cold load, 20 messages / store")
      expect(names).toContain("cold load, 20 messages / read + parse")
      expect(names).toContain("append (one ~2 KB message) / store")
      expect(report.measurements.every((m) => Number.isFinite(m.nsPerOp) && m.nsPerOp > 0)).toBe(true)
      expect(report.checks.map((c) => [c.name, c.target])).toStrictEqual([
        ["getSession / Cache.get at 10", 1.5],
        ["getSession / Cache.get at 100", 1.5],
        ["getSession at 100 / at 10", 1.5],
        ["cold load / read + parse", 2],
        ["append: store / repository", null],
        ["sweep, ms per 10,000 resident (at 100)", 2]
      ])
      const table = renderBench(report)
      expect(table).toContain("target <= 1.5x")
      expect(table).toContain("target <= 2 ms")
    }), 60_000)
})
