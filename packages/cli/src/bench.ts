/**
 * `session-store bench`: what a caller pays for the store's hot paths, side
 * by side in one run with what a user would pick instead, with tinybench.
 * Every row uses its results (they feed a checksum printed with the report,
 * so the JIT cannot drop the work), and every figure is the median of
 * `runs` independent runs (default 3) with their spread.
 *
 * - **Hit path**, at 100, 10,000 and 100,000 resident sessions, the keys a
 *   shuffled walk over every resident session: synchronous `Map.get`,
 *   `lru-cache` `get` and the store's `getSessionIfResident`; `Cache.get` and
 *   `getSession` in a loop inside one fiber (a caller already inside
 *   Effect); and per call, each awaited: `await map.get`, `await
 *   lruCache.get`, `Effect.runPromise(Cache.get)`,
 *   `Effect.runPromise(getSession)`, `ManagedRuntime.runPromise(getSession)`
 *   and the facade's `await cache.getSession(id)`; beside them the floors of
 *   running any effect that way, with no store: `Effect.runPromise` and
 *   `ManagedRuntime.runPromise` of an `Effect.succeed` value, and
 *   `ManagedRuntime.runPromise` of one `Effect.suspend` around an lru-cache
 *   get (the least a lazy hit can cost).
 * - **Cold load** of a 1,000- and a 10,000-message session: every sample
 *   builds a fresh repository and store layer over the stored opencode.db
 *   and reads the session through it (nothing held from one sample to the
 *   next), beside the repository alone and the same SELECTs raw on
 *   node:sqlite with a `JSON.parse` of every row.
 * - **Append** of a ~2 KB message to a resident session, with durability
 *   on and off, beside the repository alone.
 * - **Sweep** of 100,000 resident sessions that evicts 1 % and 10 % of them
 *   (each sample makes exactly that many inactive first, untimed; 12
 *   samples after 4 thrown away): its work and the longest stretch it held
 *   the thread between two turns of the event loop, each stretch the lesser
 *   of its wall time and the process's CPU time, so neither other processes
 *   on the machine nor GC helper threads count against it (see
 *   `bench/sweep.ts` for why not the thread's CPU clock). The work is the
 *   median sweep's; the hold, the median over the sweeps of each one's
 *   longest stretch, with the worst sweep's beside it.
 *
 * Storage comes from one function, {@link benchRepository}: switching the
 * bench to SQLite is its one line. The hit path and the sweep run on the
 * memory repository: neither touches storage, and filling 100,000 sessions
 * on disk would only make the run longer.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { renderBench, runBench } from "./bench.ts"
 *
 * const program = Effect.map(runBench({ time: 300 }), renderBench)
 * ```
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import { find, formatNs, log, median, type Sample, sink } from "./bench/measure.ts"
import { hitPath } from "./bench/resident.ts"
import { sweeps } from "./bench/sweep.ts"
import { append, coldLoad, RAW_COLD, STORAGE } from "./bench/storage.ts"
export { benchRepository } from "./bench/storage.ts"

/**
 * What to run.
 *
 * @example
 * ```ts
 * const quick: BenchOptions = { time: 50, runs: 1, residentSizes: [100, 1_000], sweepResident: 1_000 }
 * ```
 */
export interface BenchOptions {
  /** Time budget per task and run, in milliseconds (default 300). */
  readonly time?: number
  /** Independent runs; each figure is their median (default 3). */
  readonly runs?: number
  /** Resident sessions for the hit path (default 100, 10,000, 100,000). */
  readonly residentSizes?: ReadonlyArray<number>
  /** Messages of the cold-loaded sessions (default 1,000 and 10,000). */
  readonly coldMessages?: ReadonlyArray<number>
  /** Resident sessions of the sweep (default 100,000). */
  readonly sweepResident?: number
  /** Fractions of them one sweep evicts (default 1 % and 10 %). */
  readonly sweepFractions?: ReadonlyArray<number>
  /** Also time appends with fsync on (default true). */
  readonly durable?: boolean
  /** Print a line per finished task on stderr (default true). */
  readonly progress?: boolean
}

/**
 * One measured task: the median over runs of each run's mean, with the spread.
 *
 * @example
 * ```ts
 * const opsPerSecond = (m: Measurement) => 1e9 / m.nsPerOp
 * ```
 */
export interface Measurement {
  readonly group: string
  readonly name: string
  /** Median over runs of the mean time of one operation, in nanoseconds. */
  readonly nsPerOp: number
  /** The fastest and slowest run's mean. */
  readonly min: number
  readonly max: number
  /** Each run's mean, in run order. */
  readonly runs: ReadonlyArray<number>
  /**
   * For sweeps: the longest stretch one sweep held the thread (each run's
   * median over its sweeps), median over runs, in nanoseconds.
   */
  readonly longestHoldNs?: number
  /** For sweeps: the longest stretch of any sweep of any run, in nanoseconds. */
  readonly worstHoldNs?: number
}

/**
 * A figure compared with its target: each run's ratio, their median and spread.
 *
 * @example
 * ```ts
 * const failed = (checks: ReadonlyArray<Check>) => checks.filter((c) => c.ok === false)
 * ```
 */
export interface Check {
  readonly name: string
  readonly value: number
  readonly min: number
  readonly max: number
  readonly unit: "x" | "ms"
  /** The bound, or null for a figure printed without a target. */
  readonly target: number | null
  /** Whether the median meets the target. */
  readonly ok: boolean | null
}

/**
 * Everything one bench run measured.
 *
 * @example
 * ```ts
 * const hit = (r: BenchReport) => r.measurements.find((m) => m.name === "facade getSession")
 * ```
 */
export interface BenchReport {
  readonly node: string
  readonly time: number
  readonly runs: number
  readonly storage: string
  readonly measurements: ReadonlyArray<Measurement>
  readonly checks: ReadonlyArray<Check>
  /** Sum of what every task read: printed so no row's work is dead code. */
  readonly checksum: number
}

const DEFAULT_SIZES = [100, 10_000, 100_000] as const
const DEFAULT_COLD = [1_000, 10_000] as const

const hitGroup = (n: number) => `hit path, ${n.toLocaleString("en-US")} resident`

interface RunCheck {
  readonly name: string
  readonly value: number
  readonly unit: "x" | "ms"
  readonly target: number | null
}

/** The checks of one run, each a ratio within that run (or a time). */
const checksOf = (samples: ReadonlyArray<Sample>, sizes: ReadonlyArray<number>, sweepN: number, fractions: ReadonlyArray<number>, cold: ReadonlyArray<number>) => {
  const checks: Array<RunCheck> = []
  const ratio = (name: string, a: number | undefined, b: number | undefined, target: number | null | (() => number)) => {
    if (a === undefined || b === undefined) return
    checks.push({ name, value: a / b, unit: "x", target: typeof target === "function" ? target() : target })
  }
  for (const n of sizes) {
    const g = hitGroup(n)
    const at = n.toLocaleString("en-US")
    ratio(`facade getSession / await lruCache.get at ${at}`, find(samples, g, "facade getSession"), find(samples, g, "await lruCache.get"), 3)
    ratio(
      `ManagedRuntime.runPromise(getSession) / await lruCache.get at ${at}`,
      find(samples, g, "ManagedRuntime.runPromise(getSession)"),
      find(samples, g, "await lruCache.get"),
      4
    )
    // The floor beside it: what `ManagedRuntime.runPromise` of the least lazy
    // effect costs (no store), and what the store adds on top of that.
    ratio(
      `  floor: ManagedRuntime.runPromise(Effect.suspend) / await lruCache.get at ${at}`,
      find(samples, g, "ManagedRuntime.runPromise(Effect.suspend)"),
      find(samples, g, "await lruCache.get"),
      null
    )
    ratio(
      `  ManagedRuntime.runPromise(getSession) / the floor at ${at}`,
      find(samples, g, "ManagedRuntime.runPromise(getSession)"),
      find(samples, g, "ManagedRuntime.runPromise(Effect.suspend)"),
      null
    )
    ratio(`Effect.runPromise(getSession) / await lruCache.get at ${at}`, find(samples, g, "Effect.runPromise(getSession)"), find(samples, g, "await lruCache.get"), null)
    ratio(`getSession in a fiber / Cache.get in a fiber at ${at}`, find(samples, g, "getSession, in a fiber"), find(samples, g, "Cache.get, in a fiber"), null)
  }
  const small = sizes[0]
  const large = sizes[sizes.length - 1]
  if (small !== undefined && large !== undefined && large !== small) {
    const scale = (name: string) => {
      const a = find(samples, hitGroup(large), name)
      const b = find(samples, hitGroup(small), name)
      return a === undefined || b === undefined ? undefined : a / b
    }
    const span = `${large.toLocaleString("en-US")} / ${small.toLocaleString("en-US")}`
    const pairs: ReadonlyArray<readonly [string, string]> = [
      ["facade getSession", "await lruCache.get"],
      ["store.getSessionIfResident", "lru-cache get"]
    ]
    for (const [ours, theirs] of pairs) {
      const a = scale(ours)
      const b = scale(theirs)
      if (a !== undefined && b !== undefined) {
        checks.push({ name: `${ours} at ${span}`, value: a, unit: "x", target: b })
        checks.push({ name: `  ${theirs} at ${span} (the bound)`, value: b, unit: "x", target: null })
      }
    }
  }
  for (const m of cold) {
    const g = `cold load, ${m.toLocaleString("en-US")} messages`
    ratio(`cold load ${m.toLocaleString("en-US")}: store / repository alone`, find(samples, g, "store, fresh layer"), find(samples, g, "repository alone, fresh layer"), null)
    ratio(`cold load ${m.toLocaleString("en-US")}: repository / raw SELECTs`, find(samples, g, "repository alone, fresh layer"), find(samples, g, RAW_COLD), 1.5)
  }
  for (const durable of [false, true]) {
    const g = `append ~2 KB, fsync ${durable ? "on" : "off"}`
    ratio(`append, fsync ${durable ? "on" : "off"}: store / repository alone`, find(samples, g, "store, resident session"), find(samples, g, "repository alone"), null)
  }
  for (const fraction of fractions) {
    const evict = Math.round(sweepN * fraction)
    const name = `evicting ${evict.toLocaleString("en-US")} (${(fraction * 100).toFixed(0)} %)`
    const s = samples.find((x) => x.group === `sweep, ${sweepN.toLocaleString("en-US")} resident` && x.name === name)
    if (s === undefined) continue
    const per10k = evict / 10_000
    checks.push({ name: `sweep ${name} of ${sweepN.toLocaleString("en-US")}: work`, value: s.ns / 1e6, unit: "ms", target: 10 * Math.max(per10k, 0.1) })
    if (s.holdNs !== undefined) checks.push({ name: `sweep ${name}: longest hold of the thread`, value: s.holdNs / 1e6, unit: "ms", target: 1 })
    if (s.worstHoldNs !== undefined) {
      checks.push({ name: `  sweep ${name}: the worst sweep's longest hold`, value: s.worstHoldNs / 1e6, unit: "ms", target: null })
    }
  }
  return checks
}

/**
 * Runs every group `runs` times and compares the figures with their targets:
 * each check is a ratio within one run; the report gives their median and spread.
 *
 * @example
 * ```ts
 * const report = yield* runBench({ time: 200 })
 * ```
 */
export const runBench = (options: BenchOptions): Effect.Effect<BenchReport> =>
  Effect.promise(async () => {
    const time = options.time ?? 300
    const runs = Math.max(1, options.runs ?? 3)
    const sizes = [...(options.residentSizes ?? DEFAULT_SIZES)].sort((a, b) => a - b)
    const cold = options.coldMessages ?? DEFAULT_COLD
    const sweepN = options.sweepResident ?? 100_000
    const fractions = options.sweepFractions ?? [0.01, 0.1]
    const durable = options.durable ?? true
    const progress = options.progress ?? true
    const perRun: Array<Array<Sample>> = []
    for (let run = 0; run < runs; run++) {
      log(progress, `run ${run + 1} of ${runs}`)
      const samples: Array<Sample> = []
      for (const n of sizes) samples.push(...(await hitPath(n, time, progress)))
      for (const m of cold) samples.push(...(await coldLoad(m, time, progress)))
      samples.push(...(await append(false, time, progress)))
      if (durable) samples.push(...(await append(true, time, progress)))
      samples.push(...(await sweeps(sweepN, fractions, progress)))
      perRun.push(samples)
    }
    const measurements = perRun[0]!.map((first): Measurement => {
      const all = perRun.map((samples) => samples.find((s) => s.group === first.group && s.name === first.name)!)
      const ns = all.map((s) => s.ns)
      const holds = all.flatMap((s) => (s.holdNs === undefined ? [] : [s.holdNs]))
      const worst = all.flatMap((s) => (s.worstHoldNs === undefined ? [] : [s.worstHoldNs]))
      return {
        group: first.group,
        name: first.name,
        nsPerOp: median(ns),
        min: Math.min(...ns),
        max: Math.max(...ns),
        runs: ns,
        ...(holds.length > 0 ? { longestHoldNs: median(holds) } : {}),
        ...(worst.length > 0 ? { worstHoldNs: Math.max(...worst) } : {})
      }
    })
    const runChecks = perRun.map((samples) => checksOf(samples, sizes, sweepN, fractions, cold))
    const checks = runChecks[0]!.map((first, i): Check => {
      const values = runChecks.map((c) => c[i]!.value)
      const targets = runChecks.map((c) => c[i]!.target)
      const value = median(values)
      const target = targets[0] === null ? null : median(targets as Array<number>)
      return {
        name: first.name,
        value,
        min: Math.min(...values),
        max: Math.max(...values),
        unit: first.unit,
        target,
        ok: target === null ? null : value <= target
      }
    })
    return { node: process.version, time, runs, storage: STORAGE, measurements, checks, checksum: sink.total } satisfies BenchReport
  })


/**
 * The measurements grouped (median of the runs, then their range), then the
 * checks with their targets.
 *
 * @example
 * ```ts
 * yield* Console.log(renderBench(report))
 * ```
 */
export const renderBench = (report: BenchReport): string => {
  const out: Array<string> = [
    `node ${report.node}, ${report.time} ms per task, median of ${report.runs} run(s) [fastest – slowest run], storage: ${report.storage}`,
    ""
  ]
  const nameWidth = Math.max(...report.measurements.map((m) => m.name.length))
  let group = ""
  for (const m of report.measurements) {
    if (m.group !== group) {
      if (group !== "") out.push("")
      group = m.group
      out.push(group)
    }
    const hold = m.longestHoldNs === undefined
      ? ""
      : `  longest hold ${formatNs(m.longestHoldNs)}${m.worstHoldNs === undefined ? "" : ` (worst ${formatNs(m.worstHoldNs)})`}`
    out.push(`  ${m.name.padEnd(nameWidth)} ${formatNs(m.nsPerOp).padStart(11)}/op  [${formatNs(m.min)} – ${formatNs(m.max)}]${hold}`)
  }
  out.push("", "checks (each a ratio within one run: median [range])")
  const width = Math.max(...report.checks.map((c) => c.name.length))
  const fmt = (c: Check, v: number) => (c.unit === "x" ? `${v.toFixed(2)}x` : `${v.toFixed(3)} ms`)
  for (const c of report.checks) {
    const target = c.target === null ? "" : `target <= ${c.unit === "x" ? `${c.target.toFixed(2)}x` : `${c.target} ms`}`
    const verdict = c.ok === null ? "" : c.ok ? "ok" : "MISSED"
    out.push(`  ${c.name.padEnd(width)}  ${fmt(c, c.value).padStart(10)} [${fmt(c, c.min)} – ${fmt(c, c.max)}]  ${target.padEnd(18)} ${verdict}`)
  }
  out.push("", `checksum ${report.checksum}`)
  return out.join("\n")
}
