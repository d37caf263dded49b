import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { renderBench, runBench } from "../src/bench.ts"

describe("bench", () => {
  // Figures are not asserted (no wall-clock assertions): only that every
  // benchmark runs and every target is reported beside its figure.
  it.live("measures every group and reports each check with its target", () =>
    Effect.gen(function*() {
      const report = yield* runBench({
        time: 10,
        runs: 1,
        residentSizes: [10, 100],
        coldMessages: [20],
        sweepResident: 200,
        durable: false,
        progress: false
      })
      const names = report.measurements.map((m) => `${m.group} / ${m.name}`)
      for (const n of ["10", "100"]) {
        for (
          const task of [
            "Map.get",
            "lru-cache get",
            "store.getSessionIfResident",
            "Cache.get, in a fiber",
            "getSession, in a fiber",
            "await map.get",
            "await lruCache.get",
            "Effect.runPromise(Effect.succeed)",
            "ManagedRuntime.runPromise(Effect.succeed)",
            "ManagedRuntime.runPromise(Effect.suspend)",
            "Effect.runPromise(Cache.get)",
            "Effect.runPromise(getSession)",
            "ManagedRuntime.runPromise(getSession)",
            "facade getSession"
          ]
        ) {
          expect(names).toContain(`hit path, ${n} resident / ${task}`)
        }
      }
      expect(names).toContain("cold load, 20 messages / store, fresh layer")
      expect(names).toContain("cold load, 20 messages / repository alone, fresh layer")
      expect(names).toContain("cold load, 20 messages / raw node:sqlite: open, totals, SELECTs, JSON.parse")
      expect(names).toContain("append ~2 KB, fsync off / store, resident session")
      expect(names).toContain("sweep, 200 resident / evicting 2 (1 %)")
      expect(names).toContain("sweep, 200 resident / evicting 20 (10 %)")
      expect(report.measurements.every((m) => Number.isFinite(m.nsPerOp) && m.nsPerOp > 0)).toBe(true)
      const checks = report.checks.map((c) => c.name)
      expect(checks).toContain("facade getSession / await lruCache.get at 100")
      expect(checks).toContain("ManagedRuntime.runPromise(getSession) / await lruCache.get at 100")
      expect(checks).toContain("  floor: ManagedRuntime.runPromise(Effect.suspend) / await lruCache.get at 100")
      expect(checks).toContain("facade getSession at 100 / 10")
      expect(checks).toContain("sweep evicting 20 (10 %): longest hold of the thread")
      const sweep = report.measurements.find((m) => m.name === "evicting 20 (10 %)")
      expect(sweep?.worstHoldNs).toBeGreaterThanOrEqual(sweep?.longestHoldNs ?? Infinity)
      expect(report.checks.find((c) => c.name.startsWith("facade getSession / await"))?.target).toBe(3)
      expect(report.checksum).toBeGreaterThan(0)
      const table = renderBench(report)
      expect(table).toContain("target <= 3.00x")
      expect(table).toContain("target <= 1 ms")
    }), 120_000)
})
