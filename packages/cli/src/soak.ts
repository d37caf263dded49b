/**
 * The soak: one seeded workload, run twice, first against the baseline (the
 * old unbounded `Map`s) and then against a `SessionStore`, sampling the heap
 * as it goes, and finally proving that the store lost nothing: every message
 * it acknowledged reads back identical.
 *
 * The code is written against the `SessionStore` service only; which layer
 * backs each run is decided by the caller (the command wires the embedded
 * SQLite store, an opencode.db in a temporary directory).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionStore } from "@session-store/core/SessionStore"
 * import { layerBaseline } from "./baseline.ts"
 * import { soak } from "./soak.ts"
 *
 * const report = soak({ seed: 1, sessions: 50, operations: 5_000 }, {
 *   baseline: layerBaseline,
 *   store: SessionStore.layerTest
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { MessageNotFound, SessionAlreadyExists } from "@session-store/core/Errors"
import {
  SessionStore,
  type SessionStoreShape,
  type StoreStats,
  type WriteError
} from "@session-store/core/SessionStore"
import { Clock, Effect, type Layer } from "effect"
import { makeContent } from "./internal/content.ts"
import { heapInUse } from "./internal/heap.ts"
import { type Ledger, makeLedger } from "./internal/ledger.ts"
import { makeProgress } from "./internal/progress.ts"
import { type Verification, verify } from "./internal/verify.ts"
import { HIT_RATE_BUDGETS_MB, hitRateTable, type HitRateRow } from "./internal/hitRate.ts"
import { zipfDefaults, type ZipfHitRateRow, zipfHitRates, type ZipfOptions } from "./internal/zipfTrace.ts"
import { makeVirtualClock, type VirtualClock } from "./internal/virtualClock.ts"
import { editSession, type Operation, OperationTags, workload, type WorkloadOptions } from "./workload.ts"

export type { Verification }

/**
 * What to run.
 *
 * @example
 * ```ts
 * const options: SoakOptions = { seed: 1, sessions: 300, operations: 60_000, samples: 60 }
 * ```
 */
export interface SoakOptions extends WorkloadOptions {
  /** Heap samples per run, each after a forced GC (default 50). */
  readonly samples?: number
  /** The store's byte budget, shown beside resident bytes (the caller configures the store with it). */
  readonly budget?: number | undefined
  /** Draw a progress line on stderr (default true). */
  readonly progress?: boolean
}

/**
 * The store's counters, plus the byte figures when the store offers them
 * (`residentBytes`, `maxBytes`); older stores leave them out.
 *
 * @example
 * ```ts
 * const bytes = (s: StatsSnapshot) => s.residentBytes ?? 0
 * ```
 */
export type StatsSnapshot = Omit<StoreStats, "residentBytes"> & {
  readonly residentBytes?: number | undefined
  readonly maxBytes?: number | undefined
}

/**
 * One heap reading.
 *
 * @example
 * ```ts
 * const mb = (s: HeapSample) => s.heapUsed / 1e6
 * ```
 */
export interface HeapSample {
  /** Operations done when the sample was taken. */
  readonly operation: number
  /** Virtual time of that operation. */
  readonly at: number
  /** Heap in use after a forced GC, in bytes. */
  readonly heapUsed: number
  /** Evictions so far, all causes. */
  readonly evictions: number
  readonly residentSessions: number
  readonly residentBytes: number | undefined
}

/**
 * What one run measured.
 *
 * @example
 * ```ts
 * const grew = (r: RunReport) => r.finalHeap - r.heapBefore
 * ```
 */
export interface RunReport {
  readonly label: string
  readonly operations: number
  readonly byTag: Readonly<Record<Operation["_tag"], number>>
  /** Operations the store rejected, by `operation: error`. */
  readonly failures: Readonly<Record<string, number>>
  readonly failed: number
  readonly firstFailures: ReadonlyArray<string>
  /** Sweeps the store ran on its own timer (its `cleanupIntervalMs`, in virtual time). */
  readonly sweeps: number
  readonly elapsedMs: number
  /**
   * CPU time of this process over the same timed loop (user + system, all its threads), sampling left
   * out: what the run cost the machine, which other jobs on it do not inflate as they do `elapsedMs`.
   */
  readonly cpuMs: number
  /** Wall time of the writes alone (every operation but the two reads), and how many there were. */
  readonly writes: { readonly count: number; readonly ms: number }
  /** Wall time of the reads alone (`getSession`, `getMessages`: a read of a session not in memory loads it). */
  readonly reads: { readonly count: number; readonly ms: number }
  readonly virtualDays: number
  readonly stats: StatsSnapshot
  readonly samples: ReadonlyArray<HeapSample>
  /** Heap in use before the store was built. */
  readonly heapBefore: number
  readonly peakHeap: number
  /** Heap in use after the last operation, store still alive. */
  readonly finalHeap: number
  readonly verification: Verification
}

/**
 * Both runs, and the verdict.
 *
 * @example
 * ```ts
 * const saved = (r: SoakReport) => r.baseline.peakHeap - r.store.peakHeap
 * ```
 */
export interface SoakReport {
  readonly seed: number
  readonly sessions: number
  readonly operations: number
  readonly budget: number | undefined
  /** False when `global.gc` was not exposed: heap figures then include garbage. */
  readonly gcForced: boolean
  readonly baseline: RunReport
  /** "opencode today": the Maps plus opencode's SQLite writes, when that run was asked for. */
  readonly today?: RunReport
  readonly store: RunReport
  /** No lost or mismatched record and no failed operation, in either run. */
  readonly passed: boolean
  /** The same trace replayed offline: the store's eviction order beside LRU and Belady's optimum, per budget. */
  readonly hitRates: ReadonlyArray<HitRateRow>
  /** The control: the same three on a plain Zipf trace (no drift, no bursts). */
  readonly zipfHitRates?: { readonly options: ZipfOptions; readonly rows: ReadonlyArray<ZipfHitRateRow> }
}

const DEFAULT_SAMPLES = 50
const STATS_EVERY = 500

type OperationError = WriteError | MessageNotFound | SessionAlreadyExists

const totalEvictions = (stats: StatsSnapshot) => {
  let total = 0
  for (const n of Object.values(stats.evictions)) total += n
  return total
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`

const apply = (store: SessionStoreShape, ledger: Ledger, op: Operation): Effect.Effect<unknown, OperationError> => {
  switch (op._tag) {
    case "CreateSession":
      return Effect.map(store.createSession(op.info), () => ledger.created(op.sessionId, op.session, op.at))
    case "AppendMessage":
      return Effect.map(
        store.appendMessage(op.sessionId, op.message),
        () => ledger.wrote(op.sessionId, op.ref)
      )
    case "PutMessage":
      return Effect.map(
        store.putMessage(op.sessionId, op.message),
        () => ledger.wrote(op.sessionId, op.ref)
      )
    case "UpdateSession":
      return Effect.map(
        store.updateSession(op.sessionId, (info) => editSession(info, op)),
        () => ledger.updated(op.sessionId, op.at, op.rename?.revision)
      )
    case "ReadSession":
      return store.getSession(op.sessionId)
    case "ReadMessages":
      return store.getMessages(op.sessionId, { limit: op.limit, before: op.before })
    case "DeleteSession":
      return Effect.map(store.removeSession(op.sessionId), () => ledger.removed(op.sessionId))
  }
}

/**
 * Runs the workload once against the `SessionStore` in context, whose clock
 * must be `clock` (see {@link soak}), then verifies what it acknowledged.
 *
 * @example
 * ```ts
 * const run = runWorkload("store", options, clock)
 * ```
 */
export const runWorkload = Effect.fn("Soak.runWorkload")(function*(
  label: string,
  options: SoakOptions,
  clock: VirtualClock,
  heapBefore: number
) {
  const store = yield* SessionStore
  const ledger = makeLedger()
  const content = makeContent(options.seed)
  const every = Math.max(1, Math.ceil(options.operations / (options.samples ?? DEFAULT_SAMPLES)))
  const progress = options.progress === false ? undefined : makeProgress(label.padEnd(8), options.operations)
  const byTag = Object.fromEntries(OperationTags.map((tag) => [tag, 0])) as Record<Operation["_tag"], number>
  const failures: Record<string, number> = {}
  const firstFailures: Array<string> = []
  const samples: Array<HeapSample> = []
  let failed = 0
  let done = 0
  let stats: StatsSnapshot = yield* store.stats
  const start = clock.now()

  // Time spent sampling (a forced GC each) and reading the stats for the progress line is
  // subtracted from the timed loop: the driver's bookkeeping, not the workload.
  let sampling = 0
  let samplingCpu = 0
  const cpuNow = () => {
    const { system, user } = process.cpuUsage()
    return (user + system) / 1000
  }
  const sample = Effect.fnUntraced(function*() {
    const began = performance.now()
    const cpuBegan = cpuNow()
    stats = yield* store.stats
    samples.push({
      operation: done,
      at: clock.now(),
      heapUsed: heapInUse(),
      evictions: totalEvictions(stats),
      residentSessions: stats.residentSessions,
      residentBytes: stats.residentBytes
    })
    sampling += performance.now() - began
    samplingCpu += cpuNow() - cpuBegan
  })
  const detail = () => {
    const last = samples[samples.length - 1]
    const heap = last === undefined ? "" : `heap ${mb(last.heapUsed)}  `
    const bytes = stats.residentBytes === undefined ? "" : `  ${mb(stats.residentBytes)} resident`
    return `${heap}hit ${(stats.hitRate * 100).toFixed(1)}%  ${stats.residentSessions} sessions${bytes}  ${failed} failed`
  }

  yield* sample()
  const began = performance.now()
  const cpuBegan = cpuNow()
  const writes = { count: 0, ms: 0 }
  const reads = { count: 0, ms: 0 }
  for (const op of workload(options)) {
    // Time passes: the store's timers (sweep, pressure checks) that are due wake now.
    clock.set(op.at)
    const opBegan = performance.now()
    const result = yield* Effect.result(apply(store, ledger, op))
    const kind = op._tag === "ReadSession" || op._tag === "ReadMessages" ? reads : writes
    kind.count++
    kind.ms += performance.now() - opBegan
    if (result._tag === "Failure") {
      failed++
      const key = `${op._tag}: ${result.failure._tag}`
      failures[key] = (failures[key] ?? 0) + 1
      if (firstFailures.length < 10) firstFailures.push(`${op._tag} ${op.sessionId}: ${result.failure.message}`)
    }
    byTag[op._tag]++
    done++
    if (done % every === 0) yield* sample()
    else if (done % STATS_EVERY === 0) {
      // For the progress line: bookkeeping of the driver, timed apart like the samples.
      const statsBegan = performance.now()
      const statsCpuBegan = cpuNow()
      stats = yield* store.stats
      sampling += performance.now() - statsBegan
      samplingCpu += cpuNow() - statsCpuBegan
    }
    progress?.update(done, detail)
  }
  const elapsedMs = performance.now() - began - sampling
  const cpuMs = cpuNow() - cpuBegan - samplingCpu
  if (samples[samples.length - 1]?.operation !== done) yield* sample()
  const finalHeap = samples[samples.length - 1]!.heapUsed
  const finalStats = stats
  progress?.finish(detail())

  const verification = yield* verify(store, ledger, content)

  return {
    label,
    operations: done,
    byTag,
    failures,
    failed,
    firstFailures,
    sweeps: finalStats.sweeps,
    elapsedMs,
    cpuMs,
    writes,
    reads,
    virtualDays: (clock.now() - start) / 86_400_000,
    stats: finalStats,
    samples,
    heapBefore,
    peakHeap: Math.max(...samples.map((s) => s.heapUsed)),
    finalHeap,
    verification
  } satisfies RunReport
})

const startTime = (options: SoakOptions) => options.startTime ?? Date.UTC(2025, 5, 1)

/**
 * Builds `layer` under a virtual clock and runs the workload against it; the
 * layer is released (and its memory freed) before this returns.
 *
 * @example
 * ```ts
 * const report = runAgainst("baseline", options, layerBaseline)
 * ```
 */
export const runAgainst = <E, R>(label: string, options: SoakOptions, layer: Layer.Layer<SessionStore, E, R>) =>
  Effect.gen(function*() {
    const clock = makeVirtualClock(startTime(options))
    const heapBefore = heapInUse()
    return yield* runWorkload(label, options, clock, heapBefore).pipe(
      Effect.provide(layer),
      Effect.provideService(Clock.Clock, clock.clock)
    )
  })

/**
 * The whole soak: baseline first, then the store, from the same seed.
 *
 * @example
 * ```ts
 * const program = Effect.map(soak(options, { baseline: layerBaseline, store }), (r) => r.passed)
 * ```
 */
export const soak = Effect.fn("Soak.soak")(function*<E1, R1, E2, R2, E3 = never, R3 = never>(
  options: SoakOptions,
  layers: {
    readonly baseline: Layer.Layer<SessionStore, E1, R1>
    readonly today?: Layer.Layer<SessionStore, E3, R3>
    readonly store: Layer.Layer<SessionStore, E2, R2>
  }
) {
  const baseline = yield* runAgainst("baseline", options, layers.baseline)
  const today = layers.today === undefined ? undefined : yield* runAgainst("today", options, layers.today)
  const store = yield* runAgainst("store", options, layers.store)
  const clean = (run: RunReport) => run.failed === 0 && run.verification.lost === 0 && run.verification.mismatched === 0
  return {
    seed: options.seed,
    sessions: options.sessions,
    operations: options.operations,
    budget: options.budget,
    gcForced: typeof globalThis.gc === "function",
    baseline,
    ...(today === undefined ? {} : { today }),
    store,
    passed: clean(baseline) && clean(store) && (today === undefined || clean(today)),
    hitRates: hitRateTable(options),
    zipfHitRates: { options: zipfDefaults, rows: zipfHitRates(zipfDefaults, HIT_RATE_BUDGETS_MB) }
  } satisfies SoakReport
})
