/**
 * The text table a soak prints at its end, with the verdict below it.
 *
 * @example
 * ```ts
 * yield* Console.log(renderTable(report))
 * ```
 *
 * @since 0.1.0
 */
import { renderHitRates } from "../internal/hitRate.ts"
import { renderZipfHitRates } from "../internal/zipfTrace.ts"
import type { SoakReport } from "../soak.ts"
import { int, megabytes, percent, perOps } from "./format.ts"
import { type RunSummary, summarize } from "./summary.ts"

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
    row("CPU time / operation", (r) => `${int(r.cpuMicrosPerOperation)} µs`),
    row("time / write", (r) => `${int(r.microsPerWrite)} µs`),
    row("time / read (a miss loads)", (r) => `${int(r.microsPerRead)} µs`),
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
    if (store.cpuMicrosPerOperation > 0) {
      // CPU time is not inflated by other jobs on the machine; wall time is what a caller waits.
      out.push(`  by CPU time per operation (opencode today / SessionStore): ${
        (today.cpuMicrosPerOperation / store.cpuMicrosPerOperation).toFixed(2)
      }x`)
    }
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
