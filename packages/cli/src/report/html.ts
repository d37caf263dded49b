/**
 * The soak's self-contained HTML page: a chart.js chart of heap over
 * operations for every run (chart.js inlined, so the page opens without a
 * network), the budget as a line, evictions marked, then the tables.
 *
 * @example
 * ```ts
 * const html = renderHtml(report, chartJsSource)
 * ```
 *
 * @since 0.1.0
 */
import type { RunReport, SoakReport } from "../soak.ts"
import { percent, perOps } from "./format.ts"
import { secondHalfLines, type SecondHalfTrend, summarize } from "./summary.ts"
import { renderTable } from "./table.ts"

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

const hitRateHtml = (report: SoakReport): string => {
  const rows = report.hitRates.map((r) =>
    `<tr><td>${r.budgetMB} MB</td>${
      [r.withTimeRules, r.withoutTimeRules].map((x) => `<td>${percent(x.lru)}</td><td>${percent(x.store)}</td><td>${percent(x.optimum)}</td>`).join("")
    }</tr>`
  ).join("\n")
  return `<table>
<tr><th></th><th colspan="3">default time rules</th><th colspan="3">no time rules</th></tr>
<tr><th>budget</th><th>LRU</th><th>store</th><th>optimum</th><th>LRU</th><th>store</th><th>optimum</th></tr>
${rows}
</table>`
}

/**
 * The HTML page: the chart, then the table. `chartJs` is the chart.js UMD
 * bundle's source, inlined.
 *
 * @example
 * ```ts
 * const html = renderHtml(report, chartJsSource)
 * ```
 */
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
