/**
 * What a soak produced, for people and for machines: a text table for the
 * terminal, a compact JSON summary, and a self-contained HTML page with a
 * chart of heap over operations for both runs (chart.js is inlined, so the
 * page opens without a network).
 *
 * @example
 * ```ts
import { Effect } from "effect"
 * import { renderTable, summarize, writeReport } from "./report.ts"
 *
 * const publish = (report: SoakReport) =>
 *   Effect.andThen(writeReport(report, ".soak"), (files) => Effect.log(renderTable(report), files.html))
 * ```
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Path } from "effect"
import { createRequire } from "node:module"
import { type HitRateRow, renderHitRates } from "./internal/hitRate.ts"
import { renderZipfHitRates } from "./internal/zipfTrace.ts"
import { fitLine, type Line, perHundredThousand, secondHalf } from "./internal/slope.ts"
import type { HeapSample, RunReport, SoakReport } from "./soak.ts"

/**
 * The trend after warm-up: least-squares slopes against operations over the
 * second half of a run's samples, in MB (10^6 bytes) per 100,000 operations.
 * Near zero for a bounded store; a leak shows a steady positive slope.
 *
 * @example
 * ```ts
 * const leaking = (t: SecondHalfTrend) => (t.heapSlopeMBPer100kOps ?? 0) > 1
 * ```
 */
export interface SecondHalfTrend {
  /** First and last operation of the samples fitted. */
  readonly fromOperation: number
  readonly toOperation: number
  /** Samples fitted. */
  readonly samples: number
  /** Slope of heap in use after a full GC; null with fewer than two samples. */
  readonly heapSlopeMBPer100kOps: number | null
  /** Its standard error (null with fewer than three samples): a slope within about twice this is noise. */
  readonly heapSlopeStdErrMBPer100kOps: number | null
  /** Slope of the store's resident bytes; null when the store does not report them. */
  readonly residentBytesSlopeMBPer100kOps: number | null
  readonly residentBytesSlopeStdErrMBPer100kOps: number | null
}

/**
 * The figures of one run, without the samples.
 *
 * @example
 * ```ts
 * const ok = (r: RunSummary) => r.lost === 0 && r.mismatched === 0
 * ```
 */
export interface RunSummary {
  readonly operations: number
  readonly failed: number
  readonly failures: Readonly<Record<string, number>>
  readonly elapsedMs: number
  readonly operationsPerSecond: number
  readonly virtualDays: number
  readonly sweeps: number
  readonly hitRate: number
  readonly hits: number
  readonly misses: number
  readonly loads: number
  readonly loadFailures: number
  readonly evictions: Readonly<Record<string, number>>
  readonly heapBefore: number
  readonly peakHeap: number
  readonly finalHeap: number
  readonly residentSessions: number
  readonly residentMessages: number
  readonly residentBytes: number | null
  /** Highest resident bytes among the samples. */
  readonly peakResidentBytes: number | null
  /** Heap and resident-bytes slopes after warm-up. */
  readonly secondHalf: SecondHalfTrend
  readonly verifiedSessions: number
  /** Of those, sessions whose info was updated (title, `time.updated`), checked as last acknowledged. */
  readonly verifiedUpdatedSessions: number
  readonly verifiedMessages: number
  readonly lost: number
  readonly mismatched: number
  readonly problems: ReadonlyArray<string>
}

/**
 * The JSON summary of a soak (what `--json` prints).
 *
 * @example
 * ```ts
 * const saved = (s: SoakSummary) => s.runs.baseline.peakHeap - s.runs.store.peakHeap
 * ```
 */
export interface SoakSummary {
  readonly seed: number
  readonly sessions: number
  readonly operations: number
  readonly budget: number | null
  readonly gcForced: boolean
  readonly passed: boolean
  readonly runs: { readonly baseline: RunSummary; readonly today?: RunSummary; readonly store: RunSummary }
  /** The trace replayed offline: LRU, the store's order and the optimum per budget, with and without the time rules. */
  readonly hitRates: ReadonlyArray<HitRateRow>
}

const fitOf = (samples: ReadonlyArray<HeapSample>, y: (s: HeapSample) => number | undefined): Line | undefined => {
  const points = samples.flatMap((s) => {
    const value = y(s)
    return value === undefined ? [] : [{ x: s.operation, y: value }]
  })
  // A store that reports resident bytes in some samples only has no trend to speak of.
  return points.length === samples.length ? fitLine(points) : undefined
}

/** The fitted lines of the second half, in bytes per operation (the chart draws them). */
const secondHalfLines = (run: RunReport) => {
  const later = secondHalf(run.samples)
  return { later, heap: fitOf(later, (s) => s.heapUsed), resident: fitOf(later, (s) => s.residentBytes) }
}

const rate = (bytesPerOperation: number | undefined) =>
  bytesPerOperation === undefined ? null : Number(perHundredThousand(bytesPerOperation).toFixed(3))

const trendOf = (run: RunReport): SecondHalfTrend => {
  const { heap, later, resident } = secondHalfLines(run)
  return {
    fromOperation: later[0]?.operation ?? 0,
    toOperation: later[later.length - 1]?.operation ?? 0,
    samples: later.length,
    heapSlopeMBPer100kOps: rate(heap?.slope),
    heapSlopeStdErrMBPer100kOps: rate(heap?.standardError),
    residentBytesSlopeMBPer100kOps: rate(resident?.slope),
    residentBytesSlopeStdErrMBPer100kOps: rate(resident?.standardError)
  }
}

const summarizeRun = (run: RunReport): RunSummary => ({
  operations: run.operations,
  failed: run.failed,
  failures: run.failures,
  elapsedMs: Math.round(run.elapsedMs),
  operationsPerSecond: Math.round(run.operations / Math.max(run.elapsedMs / 1000, 1e-3)),
  virtualDays: Number(run.virtualDays.toFixed(2)),
  sweeps: run.sweeps,
  hitRate: run.stats.hitRate,
  hits: run.stats.hits,
  misses: run.stats.misses,
  loads: run.stats.loads,
  loadFailures: run.stats.loadFailures,
  evictions: run.stats.evictions,
  heapBefore: run.heapBefore,
  peakHeap: run.peakHeap,
  finalHeap: run.finalHeap,
  residentSessions: run.stats.residentSessions,
  residentMessages: run.stats.residentMessages,
  residentBytes: typeof run.stats.residentBytes === "number" ? run.stats.residentBytes : null,
  peakResidentBytes: run.samples.reduce<number | null>(
    (peak, s) => (s.residentBytes === undefined ? peak : Math.max(peak ?? 0, s.residentBytes)),
    null
  ),
  secondHalf: trendOf(run),
  verifiedSessions: run.verification.sessions,
  verifiedUpdatedSessions: run.verification.updatedSessions,
  verifiedMessages: run.verification.messages,
  lost: run.verification.lost,
  mismatched: run.verification.mismatched,
  problems: run.verification.problems
})

/**
 * The compact summary of a soak.
 *
 * @example
 * ```ts
 * console.log(JSON.stringify(summarize(report), null, 2))
 * ```
 */
export const summarize = (report: SoakReport): SoakSummary => ({
  seed: report.seed,
  sessions: report.sessions,
  operations: report.operations,
  budget: report.budget ?? null,
  gcForced: report.gcForced,
  passed: report.passed,
  runs: {
    baseline: summarizeRun(report.baseline),
    ...(report.today === undefined ? {} : { today: summarizeRun(report.today) }),
    store: summarizeRun(report.store)
  },
  hitRates: report.hitRates
})

const int = (n: number) => Math.round(n).toLocaleString("en-US")
const megabytes = (n: number) => `${(n / 1e6).toFixed(1)} MB`
const percent = (n: number) => `${(n * 100).toFixed(1)}%`
const perOps = (n: number | null, error: number | null = null) =>
  n === null
    ? "n/a"
    : `${n > 0 ? "+" : ""}${n.toFixed(2)}${error === null ? "" : ` ± ${error.toFixed(2)}`} MB/100k ops`

/**
 * The table printed at the end of a soak, with the verdict below it.
 *
 * @example
 * ```ts
 * yield* Console.log(renderTable(report))
 * ```
 */
export const renderTable = (report: SoakReport): string => {
  const { baseline, store, today } = summarize(report).runs
  const runs: ReadonlyArray<RunSummary> = today === undefined ? [baseline, store] : [baseline, today, store]
  const causes = Object.keys(store.evictions)
  const bytes = (value: number | null) => {
    if (value === null) return "n/a"
    return report.budget === undefined
      ? megabytes(value)
      : `${megabytes(value)} (${percent(value / report.budget)} of budget)`
  }
  const row = (label: string, f: (run: RunSummary) => string): ReadonlyArray<string> => [label, ...runs.map(f)]
  const rows: Array<ReadonlyArray<string>> = [
    row("operations", (r) => int(r.operations)),
    row("failed operations", (r) => int(r.failed)),
    row("operations / s", (r) => int(r.operationsPerSecond)),
    row("hit rate", (r) => percent(r.hitRate)),
    row("loads", (r) => int(r.loads)),
    ...causes.map((cause) => row(`evictions: ${cause}`, (r) => int(r.evictions[cause] ?? 0))),
    row("heap before", (r) => megabytes(r.heapBefore)),
    row("peak heap", (r) => megabytes(r.peakHeap)),
    row("final heap", (r) => megabytes(r.finalHeap)),
    row("heap slope, 2nd half", (r) => perOps(r.secondHalf.heapSlopeMBPer100kOps, r.secondHalf.heapSlopeStdErrMBPer100kOps)),
    row("resident sessions", (r) => int(r.residentSessions)),
    row("resident messages", (r) => int(r.residentMessages)),
    row("peak resident bytes", (r) => bytes(r.peakResidentBytes)),
    row("final resident bytes", (r) => bytes(r.residentBytes)),
    row(
      "resident bytes slope, 2nd half",
      (r) => perOps(r.secondHalf.residentBytesSlopeMBPer100kOps, r.secondHalf.residentBytesSlopeStdErrMBPer100kOps)
    ),
    row("budget", (r) => (r === store ? (report.budget === undefined ? "n/a" : megabytes(report.budget)) : "none")),
    row("verified sessions", (r) => int(r.verifiedSessions)),
    row("  of them updated", (r) => int(r.verifiedUpdatedSessions)),
    row("verified messages", (r) => int(r.verifiedMessages)),
    row("lost", (r) => int(r.lost)),
    row("mismatched", (r) => int(r.mismatched))
  ]
  const header = ["", "baseline (Maps)", ...(today === undefined ? [] : ["opencode today (Maps + SQLite)"]), "SessionStore"]
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)))
  const line = (r: ReadonlyArray<string>) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[0]!) : cell.padStart(widths[i]!))).join("  ")
  const out = [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)]
  if (today !== undefined && today.operationsPerSecond > 0) {
    out.push(`SessionStore ops/s / opencode today: ${(store.operationsPerSecond / today.operationsPerSecond).toFixed(2)}x (goal >= 0.8x)`)
  }
  out.push("")
  out.push(
    `seed ${report.seed}, ${int(report.sessions)} sessions, ${
      int(report.operations)
    } operations over ${store.virtualDays} virtual days, ${store.sweeps} sweeps`
  )
  out.push(
    `slopes, 2nd half: least-squares fit against operations ± its standard error, samples from operation ${
      int(store.secondHalf.fromOperation)
    } to ${int(store.secondHalf.toOperation)} (${store.secondHalf.samples} samples), after warm-up`
  )
  if (!report.gcForced) out.push("note: global.gc was not exposed (run with --expose-gc); heap figures include garbage")
  for (const [label, run] of [["baseline", baseline], ...(today === undefined ? [] : [["opencode today", today] as const]), ["store", store]] as const) {
    for (const [what, n] of Object.entries(run.failures)) out.push(`${label}: ${n} failed ${what}`)
    for (const problem of run.problems) out.push(`${label}: ${problem}`)
  }
  out.push(
    report.passed
      ? `PASS: every acknowledged write read back identical (${int(store.verifiedSessions)} sessions, ${
        int(store.verifiedUpdatedSessions)
      } of them as last updated, ${int(store.verifiedMessages)} messages); lost 0, mismatched 0`
      : `FAIL: lost ${store.lost + baseline.lost}, mismatched ${store.mismatched + baseline.mismatched}, failed operations ${
        store.failed + baseline.failed
      }`
  )
  if (report.hitRates.length > 0) out.push("", renderHitRates(report.hitRates, { budget: report.budget, hits: store.hits, misses: store.misses }))
  if (report.zipfHitRates !== undefined) out.push("", renderZipfHitRates(report.zipfHitRates.options, report.zipfHitRates.rows))
  return out.join("\n")
}

const chartBundle = (): string => {
  // chart.js exports no path to its UMD build; it sits beside the CommonJS entry.
  const main = createRequire(import.meta.url).resolve("chart.js")
  return main.replace(/chart\.cjs$/, "chart.umd.min.js")
}

const scriptSafe = (text: string) => text.replace(/<\/(script)/gi, "<\\/$1")
const jsonSafe = (value: unknown) => JSON.stringify(value).replace(/</g, "\\u003c")

const chartData = (report: SoakReport) => {
  const series = (run: RunReport) => run.samples.map((s) => ({ x: s.operation, y: s.heapUsed / 1e6 }))
  const evictions = report.store.samples.slice(1).map((s, i) => ({
    x: s.operation,
    y: s.evictions - report.store.samples[i]!.evictions
  }))
  const resident = report.store.samples.flatMap((s) =>
    s.residentBytes === undefined ? [] : [{ x: s.operation, y: s.residentBytes / 1e6 }]
  )
  // The second half's fitted line, as a segment over the operations it spans.
  const fit = (run: RunReport) => {
    const { heap, later } = secondHalfLines(run)
    const from = later[0]?.operation
    const to = later[later.length - 1]?.operation
    if (heap === undefined || from === undefined || to === undefined) return []
    return [from, to].map((x) => ({ x, y: (heap.intercept + heap.slope * x) / 1e6 }))
  }
  return {
    baseline: series(report.baseline),
    store: series(report.store),
    baselineFit: fit(report.baseline),
    storeFit: fit(report.store),
    resident,
    evictions,
    budget: report.budget === undefined ? null : report.budget / 1e6,
    operations: report.operations
  }
}

const trendSentence = (report: SoakReport): string => {
  const { baseline, store } = summarize(report).runs
  const resident = store.secondHalf.residentBytesSlopeMBPer100kOps
  const trend = (t: SecondHalfTrend) => perOps(t.heapSlopeMBPer100kOps, t.heapSlopeStdErrMBPer100kOps)
  return `heap slope ${trend(baseline.secondHalf)} for the Maps, ${trend(store.secondHalf)} for SessionStore${
    resident === null
      ? ""
      : ` (its resident bytes: ${perOps(resident, store.secondHalf.residentBytesSlopeStdErrMBPer100kOps)})`
  }; a slope within about twice its standard error (±) is noise, not growth.`
}

const escapeHtml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * The HTML page: the chart, then the table. `chartJs` is the chart.js UMD
 * bundle's source, inlined.
 *
 * @example
 * ```ts
 * const html = renderHtml(report, chartJsSource)
 * ```
 */
const hitRateHtml = (report: SoakReport): string => {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`
  const rows = report.hitRates.map((r) =>
    `<tr><td>${r.budgetMB} MB</td>${
      [r.withTimeRules, r.withoutTimeRules].map((x) => `<td>${pct(x.lru)}</td><td>${pct(x.store)}</td><td>${pct(x.optimum)}</td>`).join("")
    }</tr>`
  ).join("\n")
  return `<table>
<tr><th></th><th colspan="3">default time rules</th><th colspan="3">no time rules</th></tr>
<tr><th>budget</th><th>LRU</th><th>store</th><th>optimum</th><th>LRU</th><th>store</th><th>optimum</th></tr>
${rows}
</table>`
}

export const renderHtml = (report: SoakReport, chartJs: string): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>session-store soak, seed ${report.seed}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }
pre { background: #f6f6f6; padding: 1rem; overflow-x: auto; }
.pass { color: #176b2c; } .fail { color: #a11; }
</style>
</head>
<body>
<h1>session-store soak</h1>
<p class="${report.passed ? "pass" : "fail"}"><strong>${
    report.passed ? "PASS" : "FAIL"
  }</strong>: seed ${report.seed}, ${report.sessions} sessions, ${report.operations} operations.
Heap in use after a forced GC${
    report.gcForced ? "" : " (not forced: --expose-gc missing)"
  }, for the old unbounded <code>Map</code>s and for <code>SessionStore</code>;
bars are the store's evictions between two samples; the dashed line is the store's byte budget
(which bounds its resident bytes, drawn dotted, not the whole heap).
Thin dashed lines are least-squares fits of each heap over the second half of the samples, after warm-up:
${trendSentence(report)}</p>
<canvas id="heap" height="120"></canvas>
<h2>Figures</h2>
<pre>${escapeHtml(renderTable(report))}</pre>
<h2>Hit rate against the limit</h2>
<p>The same trace replayed offline through a model of the store's residency (writes allocate, byte budget,
time rules swept every cleanup interval): the store's eviction order beside plain LRU and Belady's optimum
(the session whose next read lies farthest ahead leaves first), with the default time rules and without them.</p>
${hitRateHtml(report)}
<script>${scriptSafe(chartJs)}</script>
<script type="application/json" id="data">${jsonSafe(chartData(report))}</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent)
const datasets = [
  { type: "line", label: "baseline heap (MB)", data: data.baseline, borderColor: "#c0392b", pointRadius: 0, yAxisID: "y" },
  { type: "line", label: "SessionStore heap (MB)", data: data.store, borderColor: "#2471a3", pointRadius: 0, yAxisID: "y" },
  { type: "bar", label: "evictions", data: data.evictions, backgroundColor: "rgba(243, 156, 18, 0.5)", yAxisID: "y1" }
]
for (const [label, points, color] of [["baseline heap fit, 2nd half (MB)", data.baselineFit, "#c0392b"], ["SessionStore heap fit, 2nd half (MB)", data.storeFit, "#2471a3"]]) {
  if (points.length > 0) datasets.push({ type: "line", label, data: points, borderColor: color, borderWidth: 1, borderDash: [4, 4], pointRadius: 0, yAxisID: "y" })
}
if (data.resident.length > 0) datasets.push({ type: "line", label: "SessionStore resident bytes (MB)", data: data.resident, borderColor: "#1e8449", borderDash: [2, 3], pointRadius: 0, yAxisID: "y" })
if (data.budget !== null) datasets.push({ type: "line", label: "budget (MB)", data: [{ x: 0, y: data.budget }, { x: data.operations, y: data.budget }], borderColor: "#7d3c98", borderDash: [8, 4], pointRadius: 0, yAxisID: "y" })
new Chart(document.getElementById("heap"), {
  data: { datasets },
  options: {
    parsing: true,
    interaction: { mode: "nearest", intersect: false },
    scales: {
      x: { type: "linear", title: { display: true, text: "operations" } },
      y: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "MB" } },
      y1: { type: "linear", position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "evictions" } }
    }
  }
})
</script>
</body>
</html>
`

/**
 * Writes `report.html` and `summary.json` into `directory` (created if
 * missing) and says where.
 *
 * @example
 * ```ts
 * const files = yield* writeReport(report, ".soak")
 * ```
 */
export const writeReport = Effect.fn("Report.write")(function*(report: SoakReport, directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  yield* fs.makeDirectory(directory, { recursive: true })
  const chartJs = yield* fs.readFileString(chartBundle())
  const html = path.join(directory, "report.html")
  const json = path.join(directory, "summary.json")
  yield* fs.writeFileString(html, renderHtml(report, chartJs))
  yield* fs.writeFileString(json, `${JSON.stringify(summarize(report), null, 2)}\n`)
  return { html, json }
})
