/**
 * `session-store bench`: the store's hot paths side by side with what they
 * are built from or replace, in one run, with tinybench. Each figure is
 * printed beside its target.
 *
 * - **Hit path**: `getSession` on a resident session against `Map.get`,
 *   `lru-cache`'s `get`, a raw Effect `Cache.get`, and a naive LRU that
 *   reorders an array on every access, at 100, 10,000 and 100,000 resident
 *   sessions. Targets: hit ≤ 1.5× raw `Cache.get`; hit at 100,000 ≤ 1.5× hit
 *   at 100.
 * - **Cold load** of a 1,000-message session (drop it from memory, read it)
 *   against reading the same files and parsing every record. Target ≤ 2× raw.
 * - **Append** through the store against the repository alone (no target:
 *   the store adds validation, the lock and the resident update).
 * - **Sweep** over 10,000 and 100,000 resident sessions. Target ≤ 2 ms per
 *   10,000 resident.
 *
 * Hit-path reads through Effect (the store and the raw `Cache`) run as a
 * loop of `yield*` inside one effect, as an application already inside
 * Effect calls them, so the runtime's start-up cost is not in the per-read
 * figure of either. The file-system figures are without fsync, so they
 * measure the code, not the disk.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { renderBench, runBench } from "./bench.ts"
 *
 * const program = Effect.map(runBench({ time: 500 }), renderBench)
 * ```
 *
 * @since 0.1.0
 */
import { NodeServices } from "@effect/platform-node"
import type { MessageWithParts } from "@session-store/core/Message"
import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore, type SessionStoreShape } from "@session-store/core/SessionStore"
import type { SessionId } from "@session-store/core/Ids"
import { Cache, Context, Effect, FileSystem, Layer, Path } from "effect"
import type { PlatformError } from "effect/PlatformError"
import { LRUCache } from "lru-cache"
import { readFileSync } from "node:fs"
import { Bench } from "tinybench"
import { makeContent, type MessageRef, messageIdOf, sessionIdOf, type WireMessage } from "./internal/content.ts"
import { NaiveLru } from "./internal/naiveLru.ts"
import { makeRng } from "./internal/random.ts"

/**
 * What to run.
 *
 * @example
 * ```ts
 * const quick: BenchOptions = { time: 100, residentSizes: [100, 1_000], sweepSizes: [1_000] }
 * ```
 */
export interface BenchOptions {
  /** Time budget per task, in milliseconds (default 500). */
  readonly time?: number
  /** Resident sessions for the hit path (default 100, 10,000, 100,000). */
  readonly residentSizes?: ReadonlyArray<number>
  /** Resident sessions for the sweep (default 10,000 and 100,000). */
  readonly sweepSizes?: ReadonlyArray<number>
  /** Messages of the cold-loaded session (default 1,000). */
  readonly coldMessages?: number
  /** Print a line per finished task on stderr (default true). */
  readonly progress?: boolean
}

/**
 * One measured task.
 *
 * @example
 * ```ts
 * const opsPerSecond = (m: Measurement) => 1e9 / m.nsPerOp
 * ```
 */
export interface Measurement {
  readonly group: string
  readonly name: string
  /** Mean time of one operation, in nanoseconds. */
  readonly nsPerOp: number
  /** Relative margin of error of the mean, in percent. */
  readonly rme: number
  readonly samples: number
}

/**
 * A figure compared with its target.
 *
 * @example
 * ```ts
 * const failed = (checks: ReadonlyArray<Check>) => checks.filter((c) => c.ok === false)
 * ```
 */
export interface Check {
  readonly name: string
  readonly value: number
  readonly unit: "x" | "ms"
  /** The bound, or null for a figure printed without a target. */
  readonly target: number | null
  readonly ok: boolean | null
}

/**
 * Everything one bench run measured.
 *
 * @example
 * ```ts
 * const hit = (r: BenchReport) => r.measurements.find((m) => m.name === "getSession")
 * ```
 */
export interface BenchReport {
  readonly node: string
  readonly time: number
  readonly measurements: ReadonlyArray<Measurement>
  readonly checks: ReadonlyArray<Check>
}

const DEFAULT_SIZES = [100, 10_000, 100_000] as const
const DEFAULT_SWEEP_SIZES = [10_000, 100_000] as const
const KEY_RING = 4096

const log = (enabled: boolean, line: string) => {
  if (enabled) process.stderr.write(`${line}\n`)
}

/** Runs the tasks of one group; `batch` is how many operations one call of a task does. */
const measure = (
  group: string,
  time: number,
  tasks: ReadonlyArray<{ readonly name: string; readonly batch: number; readonly fn: () => unknown }>,
  progress: boolean
) =>
  Effect.promise(async () => {
    // At least 16 samples per task (tinybench's default minimum of 64 would
    // stretch the slowest task, the naive LRU at 100,000, past its budget).
    const bench = new Bench({ time, iterations: 16, warmupTime: Math.min(100, time / 5), throws: true })
    for (const task of tasks) bench.add(task.name, task.fn as () => void)
    await bench.run()
    return bench.tasks.map((task, i): Measurement => {
      const result = task.result
      if (result.state !== "completed") throw new Error(`${group} / ${task.name}: ${result.state}`)
      const m = {
        group,
        name: task.name,
        nsPerOp: (result.latency.mean * 1e6) / tasks[i]!.batch,
        rme: result.latency.rme,
        samples: result.latency.samples?.length ?? 0
      }
      log(progress, `${group.padEnd(34)} ${task.name.padEnd(16)} ${formatNs(m.nsPerOp).padStart(12)}/op`)
      return m
    })
  })

const sessionInfo = (i: number, now: number) => ({
  id: sessionIdOf(i),
  projectID: "prj_bench",
  directory: "/home/dev/project",
  title: `bench session ${i}`,
  version: "0.15.8",
  time: { created: now, updated: now }
})

/** A store on the memory repository holding `n` resident sessions (infos only). */
const residentStore = (n: number) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      // Capacity is the only limit that matters here: the default byte budget
      // (an eighth of the heap limit) is far above n session infos.
      SessionStore.layerWith({ maxSessions: n }).pipe(
        Layer.provide(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layer))
      )
    )
    const store = Context.get(context, SessionStore)
    const now = Date.now()
    for (let i = 1; i <= n; i++) {
      yield* store.createSession(sessionInfo(i, now))
      yield* store.getSession(sessionIdOf(i))
    }
    return store
  })

const keyRing = (n: number) => {
  const rng = makeRng(n)
  return Array.from({ length: KEY_RING }, () => sessionIdOf(rng.int(1, n)))
}

const hitPath = (n: number, time: number, progress: boolean) =>
  Effect.gen(function*() {
    const store = yield* residentStore(n)
    const keys = keyRing(n)
    const infos = new Map<string, unknown>()
    const lru = new LRUCache<string, object>({ max: n })
    const naive = new NaiveLru<string, unknown>()
    const cache = yield* Cache.make({ capacity: n, lookup: (id: string) => Effect.succeed(infos.get(id)) })
    for (let i = 1; i <= n; i++) {
      const id = sessionIdOf(i)
      const info = yield* store.getSession(id)
      infos.set(id, info)
      lru.set(id, info)
      naive.set(id, info)
      yield* Cache.get(cache, id)
    }
    let p = 0
    const next = () => keys[p++ & (KEY_RING - 1)]!
    const fast = 1000
    // The naive LRU costs O(n) per access: fewer calls per sample at large n.
    const slow = Math.max(1, Math.min(1000, Math.floor(2_000_000 / n)))
    // The Effect reads run as a loop inside one effect, as callers already
    // inside Effect do; one runSync per batch keeps the runtime's start-up
    // cost out of the per-read figure.
    const cacheReads = Effect.gen(function*() {
      for (let j = 0; j < fast; j++) yield* Cache.get(cache, next())
    })
    const storeReads = Effect.gen(function*() {
      for (let j = 0; j < fast; j++) yield* store.getSession(next())
    })
    return yield* measure(`hit path, ${n.toLocaleString("en-US")} resident`, time, [
      { name: "Map.get", batch: fast, fn: () => { for (let j = 0; j < fast; j++) infos.get(next()) } },
      { name: "lru-cache get", batch: fast, fn: () => { for (let j = 0; j < fast; j++) lru.get(next()) } },
      { name: "Cache.get", batch: fast, fn: () => Effect.runSync(cacheReads) },
      { name: "naive LRU get", batch: slow, fn: () => { for (let j = 0; j < slow; j++) naive.get(next()) } },
      { name: "getSession", batch: fast, fn: () => Effect.runSync(storeReads) }
    ], progress).pipe(Effect.map((measurements) => ({ store, measurements })))
  })

const sweep = (store: SessionStoreShape, n: number, time: number, progress: boolean) =>
  measure(`sweep, ${n.toLocaleString("en-US")} resident`, time, [
    { name: "sweep", batch: 1, fn: () => Effect.runPromise(store.sweep) }
  ], progress)

/** The records a 1,000-message opencode session is made of (final revisions, as stored). */
const conversation = (session: number, count: number): Array<WireMessage> => {
  const content = makeContent(7)
  const messages: Array<WireMessage> = []
  let parent = 0
  for (let index = 0; index < count; index++) {
    const user = index % 5 === 0
    if (user) parent = index
    const ref: MessageRef = {
      session,
      index,
      role: user ? "user" : "assistant",
      created: 1_750_000_000_000 + index * 1000,
      parent,
      revision: 99
    }
    messages.push(content.message(ref))
  }
  return messages
}

/** Every file under `root`. */
const filesUnder = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  root: string
): Effect.Effect<Array<string>, PlatformError> =>
  Effect.gen(function*() {
    const found: Array<string> = []
    for (const name of yield* fs.readDirectory(root)) {
      const full = path.join(root, name)
      const info = yield* fs.stat(full)
      if (info.type === "Directory") found.push(...(yield* filesUnder(fs, path, full)))
      else found.push(full)
    }
    return found
  })

const coldLoad = (messages: number, time: number, progress: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-bench-" })
    const context = yield* Layer.build(SessionStore.layerFileSystem({ directory, fsync: false }))
    const store = Context.get(context, SessionStore)
    const id = sessionIdOf(1)
    yield* store.createSession(sessionInfo(1, Date.now()))
    for (const message of conversation(1, messages)) yield* store.appendMessage(id, message)
    const files = (yield* filesUnder(fs, path, path.join(directory, "sessions"))).filter((f) => f.endsWith(".json") || f.endsWith(".jsonl"))
    const info = files.find((f) => f.endsWith("info.json"))!
    const log = files.find((f) => f.endsWith(".jsonl"))!
    const loaded = yield* Effect.map(store.getMessages(id), (all) => all.length)
    if (loaded !== messages) return yield* Effect.die(new Error(`cold load read ${loaded} messages, expected ${messages}`))
    return yield* measure(`cold load, ${messages.toLocaleString("en-US")} messages`, time, [
      {
        name: "read + parse",
        batch: 1,
        fn: () => {
          JSON.parse(readFileSync(info, "utf8"))
          const lines = readFileSync(log, "utf8").split("\n")
          for (const line of lines) if (line.length > 1) JSON.parse(line)
        }
      },
      {
        name: "store",
        batch: 1,
        fn: () => Effect.runPromise(Effect.andThen(store.invalidate(id), store.getSession(id)))
      }
    ], progress)
  })

const append = (time: number, progress: boolean) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const storeDir = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-bench-" })
    const repoDir = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-bench-" })
    const store = Context.get(yield* Layer.build(SessionStore.layerFileSystem({ directory: storeDir, fsync: false })), SessionStore)
    const repository = Context.get(
      yield* Layer.build(SessionRepository.layerFileSystem({ directory: repoDir, fsync: false })),
      SessionRepository
    )
    const id = sessionIdOf(1)
    const info = sessionInfo(1, Date.now())
    yield* store.createSession(info)
    yield* repository.createSession(info as never)
    const templates = conversation(1, 200)
    let n = 0
    // A fresh id per call, so every call appends (parts carry their message's id too).
    const fresh = (): MessageWithParts => {
      const template = templates[n % templates.length]!
      const messageId = messageIdOf(2, n++)
      return {
        info: { ...template.info, id: messageId },
        parts: template.parts.map((part) => ({ ...part, messageID: messageId }))
      } as unknown as MessageWithParts
    }
    return yield* measure("append (one ~2 KB message)", time, [
      { name: "repository", batch: 1, fn: () => Effect.runPromise(repository.putMessage(id as SessionId, fresh())) },
      { name: "store", batch: 1, fn: () => Effect.runPromise(store.appendMessage(id, fresh())) }
    ], progress)
  })

const find = (measurements: ReadonlyArray<Measurement>, group: string, name: string) =>
  measurements.find((m) => m.group === group && m.name === name)?.nsPerOp

const ratioCheck = (name: string, value: number | undefined, over: number | undefined, target: number | null): Check[] =>
  value === undefined || over === undefined
    ? []
    : [{ name, value: value / over, unit: "x", target, ok: target === null ? null : value / over <= target }]

const checksOf = (measurements: ReadonlyArray<Measurement>, sizes: ReadonlyArray<number>, sweeps: ReadonlyArray<number>, cold: number) => {
  const hit = (n: number) => `hit path, ${n.toLocaleString("en-US")} resident`
  const checks: Array<Check> = []
  for (const n of sizes) {
    checks.push(...ratioCheck(`getSession / Cache.get at ${n.toLocaleString("en-US")}`, find(measurements, hit(n), "getSession"), find(measurements, hit(n), "Cache.get"), 1.5))
  }
  const smallest = sizes[0]
  const largest = sizes[sizes.length - 1]
  if (smallest !== undefined && largest !== undefined && largest !== smallest) {
    checks.push(...ratioCheck(
      `getSession at ${largest.toLocaleString("en-US")} / at ${smallest.toLocaleString("en-US")}`,
      find(measurements, hit(largest), "getSession"),
      find(measurements, hit(smallest), "getSession"),
      1.5
    ))
  }
  const coldGroup = `cold load, ${cold.toLocaleString("en-US")} messages`
  checks.push(...ratioCheck("cold load / read + parse", find(measurements, coldGroup, "store"), find(measurements, coldGroup, "read + parse"), 2))
  checks.push(...ratioCheck("append: store / repository", find(measurements, "append (one ~2 KB message)", "store"), find(measurements, "append (one ~2 KB message)", "repository"), null))
  for (const n of sweeps) {
    const ns = find(measurements, `sweep, ${n.toLocaleString("en-US")} resident`, "sweep")
    if (ns === undefined) continue
    const perTenThousand = ns / 1e6 / (n / 10_000)
    checks.push({ name: `sweep, ms per 10,000 resident (at ${n.toLocaleString("en-US")})`, value: perTenThousand, unit: "ms", target: 2, ok: perTenThousand <= 2 })
  }
  return checks
}

/**
 * Runs every group and compares the figures with their targets.
 *
 * @example
 * ```ts
 * const report = yield* runBench({ time: 200 })
 * ```
 */
export const runBench = Effect.fn("Bench.run")(function*(options: BenchOptions) {
  const time = options.time ?? 500
  const sizes = [...(options.residentSizes ?? DEFAULT_SIZES)].sort((a, b) => a - b)
  const sweepSizes = options.sweepSizes ?? DEFAULT_SWEEP_SIZES
  const cold = options.coldMessages ?? 1_000
  const progress = options.progress ?? true
  const measurements: Array<Measurement> = []
  for (const n of new Set([...sizes, ...sweepSizes])) {
    // One store per size serves the hit path and the sweep, then is released.
    yield* Effect.scoped(Effect.gen(function*() {
      if (sizes.includes(n)) {
        const { measurements: hit, store } = yield* hitPath(n, time, progress)
        measurements.push(...hit)
        if (sweepSizes.includes(n)) measurements.push(...(yield* sweep(store, n, time, progress)))
      } else {
        measurements.push(...(yield* sweep(yield* residentStore(n), n, time, progress)))
      }
    }))
  }
  measurements.push(...(yield* Effect.scoped(coldLoad(cold, time, progress))))
  measurements.push(...(yield* Effect.scoped(append(time, progress))))
  return {
    node: process.version,
    time,
    measurements,
    checks: checksOf(measurements, sizes, sweepSizes, cold)
  } satisfies BenchReport
}, Effect.provide(NodeServices.layer))

const formatNs = (ns: number) =>
  ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(1)} ns`

/**
 * The measurements grouped, then the checks with their targets.
 *
 * @example
 * ```ts
 * yield* Console.log(renderBench(report))
 * ```
 */
export const renderBench = (report: BenchReport): string => {
  const out: Array<string> = [`node ${report.node}, ${report.time} ms per task`, ""]
  let group = ""
  for (const m of report.measurements) {
    if (m.group !== group) {
      if (group !== "") out.push("")
      group = m.group
      out.push(group)
    }
    out.push(`  ${m.name.padEnd(16)} ${formatNs(m.nsPerOp).padStart(11)}/op  ±${m.rme.toFixed(1)}%`)
  }
  out.push("", "checks")
  const width = Math.max(...report.checks.map((c) => c.name.length))
  for (const c of report.checks) {
    const value = c.unit === "x" ? `${c.value.toFixed(2)}x` : `${c.value.toFixed(3)} ms`
    const target = c.target === null ? "(no target)" : `target <= ${c.unit === "x" ? `${c.target}x` : `${c.target} ms`}`
    const verdict = c.ok === null ? "" : c.ok ? "ok" : "MISSED"
    out.push(`  ${c.name.padEnd(width)}  ${value.padStart(10)}  ${target.padEnd(18)} ${verdict}`)
  }
  return out.join("\n")
}
