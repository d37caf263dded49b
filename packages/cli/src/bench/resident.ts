/** The bench rows on resident sessions: the hit path and the sweep (the memory repository: neither touches storage). */
import { SessionCache } from "@session-store/core/SessionMemoryManager"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore } from "@session-store/core/SessionStore"
import { Cache, Clock, Context, Effect, Exit, Layer, ManagedRuntime, Scope } from "effect"
import { LRUCache } from "lru-cache"
import { sessionIdOf } from "../internal/content.ts"
import { makeRng } from "../internal/random.ts"
import { makeVirtualClock } from "../internal/virtualClock.ts"
import { measure, type Sample, sink, type Task } from "./measure.ts"
import { sessionInfo, storeLayer } from "./storage.ts"

const BATCH = 1000

export const shuffled = (n: number, seed: number): Array<string> => {
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

export const hitPath = async (n: number, time: number, progress: boolean): Promise<Array<Sample>> => {
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
      sink.total += acc
    }
    const awaited = (get: (id: string) => Info | undefined | PromiseLike<Info | undefined>) => async () => {
      let acc = 0
      for (let j = 0; j < BATCH; j++) acc += (await get(next()))!.title.length
      sink.total += acc
    }
    const inFiber = (get: (id: string) => Effect.Effect<Info, unknown>) => {
      const loop = Effect.gen(function*() {
        let acc = 0
        for (let j = 0; j < BATCH; j++) acc += (yield* get(next())).title.length
        sink.total += acc
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

export const sweeps = async (n: number, fractions: ReadonlyArray<number>, progress: boolean): Promise<Array<Sample>> => {
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
        if (store.getSessionIfResident(id) === undefined) sink.total += (await Effect.runPromise(store.getSession(id))).title.length
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

