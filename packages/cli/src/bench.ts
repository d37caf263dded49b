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
 *   and the facade's `await cache.getSession(id)`.
 * - **Cold load** of a 1,000- and a 10,000-message session: every sample
 *   builds a fresh repository and store layer over the stored opencode.db
 *   and reads the session through it (nothing held from one sample to the
 *   next), beside the repository alone and the same SELECTs raw on
 *   node:sqlite with a `JSON.parse` of every row.
 * - **Append** of a ~2 KB message to a resident session, with durability
 *   on and off, beside the repository alone.
 * - **Sweep** of 100,000 resident sessions that evicts 1 % and 10 % of them
 *   (each sample makes exactly that many inactive first, untimed): its work
 *   and the longest stretch it held the thread (between two turns of the
 *   event loop), both in the main thread's CPU time, so other processes on
 *   the machine do not count against it.
 *
 * Storage comes from one function, {@link benchRepository}: switching the
 * bench to SQLite is its one line. The hit path and the sweep run on the
 * memory repository: neither touches storage, and filling 100,000 sessions
 * on disk would only make the run longer.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite"
import { Effect } from "effect"
 * import { renderBench, runBench } from "./bench.ts"
 *
 * const program = Effect.map(runBench({ time: 300 }), renderBench)
 * ```
 *
 * @since 0.1.0
 */
import type { MessageWithParts } from "@session-store/core/Message"
import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
import { SessionCache } from "@session-store/core/SessionMemoryManager"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore, type SessionStoreShape } from "@session-store/core/SessionStore"
import type { SessionId } from "@session-store/core/Ids"
import type { StoreOptions } from "@session-store/core/StoreConfig"
import { Cache, Clock, Context, Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import { LRUCache } from "lru-cache"
import { mkdtempSync, rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Bench } from "tinybench"
import { makeContent, type MessageRef, messageIdOf, sessionIdOf, type WireMessage } from "./internal/content.ts"
import { makeRng } from "./internal/random.ts"
import { makeVirtualClock } from "./internal/virtualClock.ts"

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
  /** For sweeps: the longest stretch the thread was held, median over runs of each run's worst, in nanoseconds. */
  readonly longestHoldNs?: number
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

/**
 * The repository every row that touches storage runs on, and its name in the
 * report: the embedded default, SQLite in opencode's tables (`durable`:
 * `synchronous = FULL`, else `NORMAL`; no change watch, one process).
 *
 * @example
 * ```ts
 * const layer = benchRepository("/tmp/bench", false)
 * ```
 */
export const benchRepository = (directory: string, durable: boolean): Layer.Layer<SessionRepository, unknown> =>
  SessionRepository.layerSqlite({
    filename: `${directory}/opencode.db`,
    synchronous: durable ? "FULL" : "NORMAL",
    changePollIntervalMs: 0
  })
const STORAGE = "SQLite (opencode.db)"
const RAW_COLD = "raw node:sqlite SELECTs + JSON.parse"

const DEFAULT_SIZES = [100, 10_000, 100_000] as const
const DEFAULT_COLD = [1_000, 10_000] as const
const BATCH = 1000

// Where every task's reads go: printed with the report.
let sink = 0

const log = (enabled: boolean, line: string) => {
  if (enabled) process.stderr.write(`${line}\n`)
}

interface Task {
  readonly name: string
  /** Operations per call of `fn`. */
  readonly batch: number
  readonly fn: () => unknown
  readonly beforeEach?: () => unknown
}

interface Sample {
  readonly group: string
  readonly name: string
  readonly ns: number
  readonly holdNs?: number
}

/** Runs the tasks of one group once; `limits` override the default sampling. */
const measure = async (
  group: string,
  time: number,
  tasks: ReadonlyArray<Task>,
  progress: boolean,
  limits: { readonly iterations?: number; readonly time?: number } = {}
): Promise<Array<Sample>> => {
  const bench = new Bench({
    time: limits.time ?? time,
    iterations: limits.iterations ?? 16,
    warmupTime: Math.min(100, time / 5),
    warmupIterations: Math.min(limits.iterations ?? 16, 4),
    throws: true
  })
  for (const task of tasks) {
    bench.add(task.name, task.fn as () => void, task.beforeEach === undefined ? {} : { beforeEach: task.beforeEach as () => void })
  }
  await bench.run()
  return bench.tasks.map((task, i): Sample => {
    const result = task.result
    if (result.state !== "completed") throw new Error(`${group} / ${task.name}: ${result.state}`)
    const ns = (result.latency.mean * 1e6) / tasks[i]!.batch
    log(progress, `${group.padEnd(36)} ${task.name.padEnd(38)} ${formatNs(ns).padStart(11)}/op`)
    return { group, name: task.name, ns }
  })
}

const sessionInfo = (i: number, now: number) => ({
  id: sessionIdOf(i),
  projectID: "prj_bench",
  directory: "/home/dev/project",
  title: `bench session ${i}`,
  version: "0.15.8",
  time: { created: now, updated: now }
})

/** A store layer on `repository`, with the live monitor. */
const storeLayer = (repository: Layer.Layer<SessionRepository, unknown>, options: Partial<StoreOptions> = {}) =>
  SessionStore.layerWith(options).pipe(Layer.provide(Layer.mergeAll(repository, MemoryMonitor.layer)))

/** A seeded permutation of 1..n: every resident session, in an order with no locality. */
const shuffled = (n: number, seed: number): Array<string> => {
  const ids = Array.from({ length: n }, (_, i) => sessionIdOf(i + 1))
  const rng = makeRng(seed)
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i)
    const t = ids[i]!
    ids[i] = ids[j]!
    ids[j] = t
  }
  return ids
}

type Info = { readonly title: string }

const hitPath = async (n: number, time: number, progress: boolean): Promise<Array<Sample>> => {
  // Every session stays: capacity is n, and the default byte budget is far above n infos.
  const runtime = ManagedRuntime.make(storeLayer(SessionRepository.layerMemory, { maxSessions: n }))
  const facade = new SessionCache({ maxSessions: n }, "memory")
  try {
    const store = await runtime.runPromise(SessionStore)
    const now = Date.now()
    await runtime.runPromise(
      Effect.forEach(Array.from({ length: n }, (_, i) => i + 1), (i) => store.createSession(sessionInfo(i, now)), { discard: true })
    )
    for (let i = 1; i <= n; i++) await facade.setSession(sessionIdOf(i), sessionInfo(i, now) as never)
    const keys = shuffled(n, n)
    const map = new Map<string, Info>()
    const lru = new LRUCache<string, Info>({ max: n })
    const cache = await Effect.runPromise(
      Cache.make({ capacity: n, lookup: (id: string) => Effect.succeed(map.get(id)!) })
    )
    for (const id of keys) {
      const info = store.getSessionIfResident(id)
      if (info === undefined) throw new Error(`bench: ${id} is not resident in the store`)
      if ((await facade.getSession(id)) === undefined) throw new Error(`bench: ${id} is not in the facade`)
      map.set(id, info)
      lru.set(id, info)
      await Effect.runPromise(Cache.get(cache, id))
    }
    const before = await runtime.runPromise(store.stats)
    if (before.residentSessions !== n) throw new Error(`bench: ${before.residentSessions} resident, expected ${n}`)

    let p = 0
    const next = () => {
      const id = keys[p]!
      p = p + 1 === n ? 0 : p + 1
      return id
    }
    const sync = (get: (id: string) => Info | undefined) => () => {
      let acc = 0
      for (let j = 0; j < BATCH; j++) acc += get(next())!.title.length
      sink += acc
    }
    const awaited = (get: (id: string) => Info | undefined | PromiseLike<Info | undefined>) => async () => {
      let acc = 0
      for (let j = 0; j < BATCH; j++) acc += (await get(next()))!.title.length
      sink += acc
    }
    const inFiber = (get: (id: string) => Effect.Effect<Info, unknown>) => {
      const loop = Effect.gen(function*() {
        let acc = 0
        for (let j = 0; j < BATCH; j++) acc += (yield* get(next())).title.length
        sink += acc
      })
      return () => Effect.runSync(loop)
    }
    const tasks: Array<Task> = [
      { name: "Map.get", batch: BATCH, fn: sync((id) => map.get(id)) },
      { name: "lru-cache get", batch: BATCH, fn: sync((id) => lru.get(id)) },
      { name: "store.getSessionIfResident", batch: BATCH, fn: sync((id) => store.getSessionIfResident(id)) },
      { name: "Cache.get, in a fiber", batch: BATCH, fn: inFiber((id) => Cache.get(cache, id)) },
      { name: "getSession, in a fiber", batch: BATCH, fn: inFiber((id) => store.getSession(id)) },
      { name: "await map.get", batch: BATCH, fn: awaited((id) => map.get(id)) },
      { name: "await lruCache.get", batch: BATCH, fn: awaited((id) => lru.get(id)) },
      { name: "Effect.runPromise(Cache.get)", batch: BATCH, fn: awaited((id) => Effect.runPromise(Cache.get(cache, id))) },
      { name: "Effect.runPromise(getSession)", batch: BATCH, fn: awaited((id) => Effect.runPromise(store.getSession(id))) },
      { name: "ManagedRuntime.runPromise(getSession)", batch: BATCH, fn: awaited((id) => runtime.runPromise(store.getSession(id))) },
      { name: "facade getSession", batch: BATCH, fn: awaited((id) => facade.getSession(id)) }
    ]
    const samples = await measure(`hit path, ${n.toLocaleString("en-US")} resident`, time, tasks, progress)
    const after = await runtime.runPromise(store.stats)
    if (after.misses !== 0 || after.residentSessions !== n) throw new Error("bench: a hit-path read missed")
    return samples
  } finally {
    await facade.destroy()
    await runtime.dispose()
  }
}

/** The records of an opencode session of `count` messages (final revisions, as stored). */
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

/** Builds `layer` in a fresh scope, runs `f` on its store, releases it. */
const withStore = <A>(layer: Layer.Layer<SessionStore, unknown>, f: (store: SessionStoreShape) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(Layer.build(layer), (context) => f(Context.get(context, SessionStore)))))

const coldLoad = async (messages: number, time: number, progress: boolean): Promise<Array<Sample>> => {
  const directory = mkdtempSync(join(tmpdir(), "session-store-bench-"))
  try {
    const id = sessionIdOf(1)
    await withStore(storeLayer(benchRepository(directory, false)), (store) =>
      Effect.gen(function*() {
        yield* store.createSession(sessionInfo(1, Date.now()))
        for (const message of conversation(1, messages)) yield* store.appendMessage(id, message)
      }))
    const window = Math.min(messages, 1000)
    const layer = () => storeLayer(benchRepository(directory, false))
    const tasks: Array<Task> = [
      {
        name: "store, fresh layer",
        batch: 1,
        fn: () =>
          withStore(layer(), (store) => store.getMessages(id)).then((read) => {
            if (read.length !== messages) throw new Error(`cold load read ${read.length} of ${messages} messages`)
            sink += read.length
          })
      },
      {
        name: "repository alone, fresh layer",
        batch: 1,
        fn: () =>
          Effect.runPromise(Effect.scoped(Effect.gen(function*() {
            const repository = Context.get(yield* Layer.build(benchRepository(directory, false)), SessionRepository)
            const loaded = yield* repository.loadSession(id as SessionId, { newest: window })
            sink += loaded.messages.length
          })))
      }
    ]
    // The raw reference: the same newest-window SELECTs on node:sqlite, every row's JSON parsed.
    const raw = new DatabaseSync(`${directory}/opencode.db`, { readOnly: true })
    const newestMessages = raw.prepare(
      "SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created DESC, id DESC LIMIT ?"
    )
    const partsOf = raw.prepare("SELECT data FROM part WHERE message_id = ? ORDER BY id")
    tasks.push({
      name: RAW_COLD,
      batch: 1,
      fn: () => {
        for (const row of newestMessages.all(id, window) as Array<{ id: string; data: string }>) {
          sink += Object.keys(JSON.parse(row.data)).length
          for (const part of partsOf.all(row.id) as Array<{ data: string }>) sink += Object.keys(JSON.parse(part.data)).length
        }
      }
    })
    try {
      return await measure(`cold load, ${messages.toLocaleString("en-US")} messages`, time, tasks, progress, { iterations: 5 })
    } finally {
      raw.close()
    }
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

const append = async (durable: boolean, time: number, progress: boolean): Promise<Array<Sample>> => {
  const storeDir = mkdtempSync(join(tmpdir(), "session-store-bench-"))
  const repoDir = mkdtempSync(join(tmpdir(), "session-store-bench-"))
  const scope = Effect.runSync(Scope.make())
  try {
    const store = Context.get(
      await Effect.runPromise(Layer.buildWithScope(storeLayer(benchRepository(storeDir, durable)), scope)),
      SessionStore
    )
    const repository = Context.get(
      await Effect.runPromise(Layer.buildWithScope(benchRepository(repoDir, durable), scope)),
      SessionRepository
    )
    const id = sessionIdOf(2)
    const info = sessionInfo(2, Date.now())
    await Effect.runPromise(store.createSession(info))
    await Effect.runPromise(repository.createSession(info as never))
    const templates = conversation(2, 200)
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
    const samples = await measure(`append ~2 KB, fsync ${durable ? "on" : "off"}`, time, [
      {
        name: "repository alone",
        batch: 1,
        fn: () => Effect.runPromise(repository.putMessage(id as SessionId, fresh())).then((w) => { sink += w.bytes })
      },
      {
        name: "store, resident session",
        batch: 1,
        fn: () => Effect.runPromise(store.appendMessage(id, fresh())).then((m) => { sink += m.parts.length })
      }
    ], progress, { iterations: 16 })
    const stats = await Effect.runPromise(store.stats)
    if (store.getSessionIfResident(id) === undefined || stats.loads !== 0) {
      throw new Error("bench: the appended session did not stay resident")
    }
    return samples
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(storeDir, { recursive: true, force: true })
    rmSync(repoDir, { recursive: true, force: true })
  }
}

const INACTIVE_MS = 60_000

const threadCpuNs = (): number => {
  const usage = process.threadCpuUsage()
  return (usage.user + usage.system) * 1e3
}

/**
 * Runs `run` and measures, in the main thread's CPU time (so a machine busy
 * with other processes does not count against it), the work it did and the
 * longest stretch between two turns of the event loop meanwhile.
 */
const heldWhile = async (run: () => Promise<void>): Promise<{ readonly ns: number; readonly holdNs: number }> => {
  let last = threadCpuNs()
  let longest = 0
  let done = false
  const probe = () => {
    const now = threadCpuNs()
    longest = Math.max(longest, now - last)
    last = now
    if (!done) setImmediate(probe)
  }
  setImmediate(probe)
  const start = threadCpuNs()
  last = start
  await run()
  const end = threadCpuNs()
  done = true
  longest = Math.max(longest, end - last)
  return { ns: end - start, holdNs: longest }
}

const sweeps = async (n: number, fractions: ReadonlyArray<number>, progress: boolean): Promise<Array<Sample>> => {
  const clock = makeVirtualClock(Date.now())
  const scope = Effect.runSync(Scope.make())
  try {
    const layer = storeLayer(SessionRepository.layerMemory, {
      maxSessions: n,
      inactiveTtlMs: INACTIVE_MS,
      // The scheduled sweep never fires on its own here: each sample runs one.
      cleanupIntervalMs: 30 * 86_400_000,
      sessionTtlMs: 30 * 86_400_000
    })
    const store = Context.get(
      await Effect.runPromise(Layer.buildWithScope(layer, scope).pipe(Effect.provideService(Clock.Clock, clock.clock))),
      SessionStore
    )
    const now = clock.now()
    await Effect.runPromise(
      Effect.forEach(Array.from({ length: n }, (_, i) => i + 1), (i) => store.createSession(sessionInfo(i, now)), { discard: true })
    )
    const ids = shuffled(n, 3)
    const out: Array<Sample> = []
    for (const fraction of fractions) {
      const evict = Math.round(n * fraction)
      const holds: Array<number> = []
      const use = async (id: string) => {
        if (store.getSessionIfResident(id) === undefined) sink += (await Effect.runPromise(store.getSession(id))).title.length
      }
      // Untimed: every session used now (the rest first, while still active
      // from the last sample), the rest again half an inactivity period
      // later, then the clock moves past the first `evict` ones' limit.
      const setup = async () => {
        const t = clock.now()
        for (let i = evict; i < n; i++) await use(ids[i]!)
        for (let i = 0; i < evict; i++) await use(ids[i]!)
        clock.set(t + INACTIVE_MS / 2)
        for (let i = evict; i < n; i++) await use(ids[i]!)
        clock.set(t + INACTIVE_MS + 1)
        // The setup's garbage is collected before the sweep, not during it.
        ;(globalThis as { gc?: () => void }).gc?.()
      }
      let holdSample = 0
      const samples = await measure(`sweep, ${n.toLocaleString("en-US")} resident`, 1, [{
        name: `evicting ${evict.toLocaleString("en-US")} (${(fraction * 100).toFixed(0)} %)`,
        batch: 1,
        beforeEach: setup,
        fn: async () => {
          const measured = await heldWhile(async () => {
            const report = await Effect.runPromise(store.sweep)
            if (report.inactive + report.expired !== evict || report.residentSessions !== n - evict) {
              throw new Error(`bench: the sweep evicted ${report.inactive + report.expired}, expected ${evict}`)
            }
          })
          holdSample = Math.max(holdSample, measured.holdNs)
          holds.push(measured.holdNs)
          return { overriddenDuration: measured.ns / 1e6 }
        }
      }], progress, { iterations: 12, time: 1 })
      out.push(...samples.map((s) => ({ ...s, holdNs: holdSample })))
    }
    return out
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const find = (samples: ReadonlyArray<Sample>, group: string, name: string) =>
  samples.find((m) => m.group === group && m.name === name)?.ns

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
      return {
        group: first.group,
        name: first.name,
        nsPerOp: median(ns),
        min: Math.min(...ns),
        max: Math.max(...ns),
        runs: ns,
        ...(holds.length > 0 ? { longestHoldNs: median(holds) } : {})
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
    return { node: process.version, time, runs, storage: STORAGE, measurements, checks, checksum: sink } satisfies BenchReport
  })

const formatNs = (ns: number) =>
  ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(1)} ns`

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
    const hold = m.longestHoldNs === undefined ? "" : `  longest hold ${formatNs(m.longestHoldNs)}`
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
