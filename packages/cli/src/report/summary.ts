/**
 * The soak's compact JSON summary (summary.json): each run's figures and its
 * trend after warm-up (least-squares slopes over the second half).
 *
 * @example
 * ```ts
 * const { runs } = summarize(report)
 * runs.store.trend.heapSlopeMBPer100kOps
 * ```
 *
 * @since 0.1.0
 */
import type { HitRateRow } from "../internal/hitRate.ts"
import { fitLine, type Line, perHundredThousand, secondHalf } from "../internal/slope.ts"
import type { HeapSample, RunReport, SoakReport } from "../soak.ts"

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
  /** CPU time per operation, in µs (see `RunReport.cpuMs`). */
  readonly cpuMicrosPerOperation: number
  /** Wall time per write and per read, in µs (see `RunReport.writes`, `RunReport.reads`). */
  readonly microsPerWrite: number
  readonly microsPerRead: number
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
/** The least-squares lines of heap and resident bytes over the second half of `run`'s samples. */
export const secondHalfLines = (run: RunReport) => {
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
  cpuMicrosPerOperation: Math.round((run.cpuMs * 1000) / Math.max(run.operations, 1)),
  microsPerWrite: Math.round((run.writes.ms * 1000) / Math.max(run.writes.count, 1)),
  microsPerRead: Math.round((run.reads.ms * 1000) / Math.max(run.reads.count, 1)),
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
