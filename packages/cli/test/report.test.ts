import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FileSystem } from "effect"
import { layerBaseline } from "../src/baseline.ts"
import { writeReport } from "../src/report/files.ts"
import { renderHtml } from "../src/report/html.ts"
import { summarize } from "../src/report/summary.ts"
import { renderTable } from "../src/report/table.ts"
import { soak } from "../src/soak.ts"

const run = soak({ seed: 2, sessions: 10, operations: 800, samples: 4, progress: false, budget: 8_000_000 }, {
  baseline: layerBaseline,
  store: layerBaseline
})

describe("report", () => {
  it.live("summarizes both runs with the figures the table prints", () =>
    Effect.gen(function*() {
      const report = yield* run
      const summary = summarize(report)
      expect(summary).toMatchObject({ seed: 2, operations: 800, budget: 8_000_000, passed: true })
      expect(summary.runs.store).toMatchObject({ operations: 800, lost: 0, mismatched: 0, failed: 0 })
      expect(summary.runs.store.residentBytes).toBeGreaterThan(0)
      // CPU time of the timed loop: real work was done, and no more CPU than the two cores could give.
      expect(report.store.cpuMs).toBeGreaterThan(0)
      expect(report.store.cpuMs).toBeLessThan(report.store.elapsedMs * 4 + 50)
      expect(summary.runs.store.cpuMicrosPerOperation).toBe(Math.round(report.store.cpuMs * 1000 / 800))
      // Every operation is a write or a read, timed within the loop.
      expect(report.store.writes.count + report.store.reads.count).toBe(800)
      expect(report.store.reads.count).toBe(report.store.byTag.ReadSession + report.store.byTag.ReadMessages)
      expect(report.store.writes.ms + report.store.reads.ms).toBeLessThanOrEqual(report.store.elapsedMs + 1)
      expect(summary.runs.store.microsPerRead).toBe(Math.round(report.store.reads.ms * 1000 / report.store.reads.count))
      const table = renderTable(report)
      expect(table).toMatch(/^CPU time \/ operation\s+\d[\d,]* µs\s+\d[\d,]* µs$/m)
      expect(table).toMatch(/^time \/ write\s+\d[\d,]* µs\s+\d[\d,]* µs$/m)
      expect(table).toMatch(/^time \/ read \(a miss loads\)\s+\d[\d,]* µs\s+\d[\d,]* µs$/m)
      for (const label of ["hit rate", "loads", "evictions: capacity", "peak heap", "final heap", "peak resident bytes"]) {
        expect(table).toContain(label)
      }
      expect(summary.runs.store.verifiedUpdatedSessions).toBeGreaterThan(0)
      expect(table).toMatch(/^ {2}of them updated\s+\d+\s+\d+$/m)
      expect(table).toMatch(/^lost\s+0\s+0$/m)
      expect(table).toMatch(/^mismatched\s+0\s+0$/m)
      expect(table).toContain("of budget")
      // The trend after warm-up, for both runs, with the span it was fitted over.
      expect(table).toMatch(
        /^heap slope, 2nd half\s+[+-]?\d+\.\d\d ± \d+\.\d\d MB\/100k ops\s+[+-]?\d+\.\d\d ± \d+\.\d\d MB\/100k ops$/m
      )
      expect(table).toMatch(/^resident bytes slope, 2nd half\s+.*MB\/100k ops$/m)
      expect(summary.runs.store.secondHalf).toMatchObject({ fromOperation: 400, toOperation: 800, samples: 3 })
      expect(summary.runs.store.secondHalf.heapSlopeMBPer100kOps).toEqual(expect.any(Number))
      expect(summary.runs.store.secondHalf.residentBytesSlopeMBPer100kOps).toEqual(expect.any(Number))
      expect(summary.runs.store.secondHalf.heapSlopeStdErrMBPer100kOps).toEqual(expect.any(Number))
      expect(table).toContain("samples from operation 400 to 800 (3 samples)")
      expect(table).toContain("PASS")
    }))

  it.live("says FAIL with the counts when a run lost something", () =>
    Effect.gen(function*() {
      const report = yield* run
      const broken = {
        ...report,
        passed: false,
        store: { ...report.store, verification: { ...report.store.verification, lost: 2, problems: ["x: lost"] } }
      }
      expect(renderTable(broken)).toContain("FAIL: lost 2, mismatched 0")
      expect(renderTable(broken)).toContain("store: x: lost")
    }))

  it.live("writes a self-contained HTML page and the JSON summary", () =>
    Effect.gen(function*() {
      const report = yield* run
      const fs = yield* FileSystem.FileSystem
      const directory = yield* fs.makeTempDirectoryScoped()
      const files = yield* writeReport(report, `${directory}/out`)
      const html = yield* fs.readFileString(files.html)
      // chart.js is inlined, nothing is fetched at view time
      expect(html).toContain("Chart")
      expect(html.length).toBeGreaterThan(150_000)
      expect(html).not.toMatch(/<script[^>]+src=/)
      expect(html).toContain("SessionStore heap (MB)")
      expect(html).toContain("budget (MB)")
      // The page's own script builds the chart: run it against a stub Chart.
      const data = /<script type="application\/json" id="data">(.*?)<\/script>/s.exec(html)![1]!
      const code = html.slice(html.lastIndexOf("<script>") + "<script>".length, html.lastIndexOf("</script>"))
      const charts: Array<{ data: { datasets: Array<{ label: string; data: Array<{ x: number; y: number }> }> } }> = []
      new Function("document", "Chart", code)(
        { getElementById: (id: string) => (id === "data" ? { textContent: data } : {}) },
        function(this: unknown, _canvas: unknown, config: (typeof charts)[number]) {
          charts.push(config)
        }
      )
      const datasets = Object.fromEntries(charts[0]!.data.datasets.map((d) => [d.label, d.data]))
      expect(datasets["baseline heap (MB)"]).toHaveLength(report.baseline.samples.length)
      expect(datasets["SessionStore heap (MB)"]!.at(-1)!.x).toBe(800)
      expect(datasets["budget (MB)"]!.map((p) => p.y)).toStrictEqual([8, 8])
      expect(datasets["evictions"]).toHaveLength(report.store.samples.length - 1)
      // The second half's fit, drawn over the operations it spans, and named in the text.
      expect(datasets["SessionStore heap fit, 2nd half (MB)"]!.map((p) => p.x)).toStrictEqual([400, 800])
      expect(datasets["baseline heap fit, 2nd half (MB)"]).toHaveLength(2)
      expect(html).toMatch(/heap slope [+-]?\d+\.\d\d ± \d+\.\d\d MB\/100k ops for the Maps/)
      const json = JSON.parse(yield* fs.readFileString(files.json))
      expect(json).toStrictEqual(JSON.parse(JSON.stringify(summarize(report))))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it("keeps inlined code from closing its script tag", () => {
    const html = renderHtml(
      {
        seed: 1,
        sessions: 0,
        operations: 0,
        budget: undefined,
        gcForced: false,
        passed: true,
        hitRates: [],
        baseline: emptyRun,
        store: emptyRun
      },
      "var s = '</script><b>'"
    )
    expect(html).toContain("var s = '<\\/script><b>'")
    expect(html).toContain("not forced")
    // No samples, no trend: said, not drawn.
    expect(html).toContain("heap slope n/a for the Maps, n/a for SessionStore")
  })
})

const emptyRun = {
  label: "x",
  operations: 0,
  byTag: {
    CreateSession: 0,
    AppendMessage: 0,
    PutMessage: 0,
    UpdateSession: 0,
    ReadSession: 0,
    ReadMessages: 0,
    DeleteSession: 0
  },
  failures: {},
  failed: 0,
  firstFailures: [],
  sweeps: 0,
  elapsedMs: 0,
  cpuMs: 0,
  writes: { count: 0, ms: 0 },
  reads: { count: 0, ms: 0 },
  virtualDays: 0,
  stats: {
    hits: 0,
    misses: 0,
    loads: 0,
    loadFailures: 0,
    evictions: { capacity: 0, budget: 0, expired: 0, inactive: 0, pressure: 0, removed: 0, invalidated: 0, stale: 0 },
    sweeps: 0,
    residentSessions: 0,
    residentMessages: 0,
    hitRate: 0
  },
  samples: [],
  heapBefore: 0,
  peakHeap: 0,
  finalHeap: 0,
  verification: { sessions: 0, updatedSessions: 0, messages: 0, lost: 0, mismatched: 0, problems: [] }
}
