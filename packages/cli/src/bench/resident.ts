/** The bench rows of the hit path: reads of resident sessions (on the memory repository: a hit never touches storage). */
import { SessionCache } from "@session-store/core/SessionMemoryManager"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore } from "@session-store/core/SessionStore"
import { Cache, Effect, ManagedRuntime } from "effect"
import { LRUCache } from "lru-cache"
import { sessionIdOf } from "../internal/content.ts"
import { makeRng } from "../internal/random.ts"
import { measure, type Sample, sink, type Task } from "./measure.ts"
import { sessionInfo, storeLayer } from "./storage.ts"

const BATCH = 1000

/** A seeded permutation of every resident session's id: a walk with no locality. */
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
    // Filled in the order the store and the facade were (creation order) and
    // walked in the shuffled one: filled in the walk's order, the Map's and
    // lru-cache's entries sat in memory in the order they were read, a
    // locality the store's did not get (lru-cache read 2.4x faster than the
    // store's hit at 100,000, and faster than the Map's own get).
    for (let i = 1; i <= n; i++) {
      const id = sessionIdOf(i)
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
    const built = Effect.succeed(map.get(keys[0]!)!)
    const tasks: Array<Task> = [
      { name: "Map.get", batch: BATCH, fn: sync((id) => map.get(id)) },
      { name: "lru-cache get", batch: BATCH, fn: sync((id) => lru.get(id)) },
      { name: "store.getSessionIfResident", batch: BATCH, fn: sync((id) => store.getSessionIfResident(id)) },
      { name: "Cache.get, in a fiber", batch: BATCH, fn: inFiber((id) => Cache.get(cache, id)) },
      { name: "getSession, in a fiber", batch: BATCH, fn: inFiber((id) => store.getSession(id)) },
      { name: "await map.get", batch: BATCH, fn: awaited((id) => map.get(id)) },
      { name: "await lruCache.get", batch: BATCH, fn: awaited((id) => lru.get(id)) },
      // The floors, what any effect run this way costs: a value already built
      // (`Effect.succeed` is an Exit, nothing to evaluate), and the least a lazy
      // hit can be (one `Effect.suspend` around an lru-cache get).
      { name: "Effect.runPromise(Effect.succeed)", batch: BATCH, fn: awaited(() => Effect.runPromise(built)) },
      { name: "ManagedRuntime.runPromise(Effect.succeed)", batch: BATCH, fn: awaited(() => runtime.runPromise(built)) },
      {
        name: "ManagedRuntime.runPromise(Effect.suspend)",
        batch: BATCH,
        fn: awaited((id) => runtime.runPromise(Effect.suspend(() => Effect.succeed(lru.get(id)!))))
      },
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
