/**
 * Hit rate against the limit: the soak's trace replayed offline through a
 * model of the store's residency (byte budget, writes allocate, the time
 * rules swept every `cleanupIntervalMs`), under three eviction orders:
 *
 * - `lru`: least recently used first;
 * - `store`: the store's own eviction policy, run from its module
 *   (`@session-store/core/EvictionPolicy`, the code the ledger runs): the
 *   session worth least per byte, by how often and how recently it is
 *   visited, leaves first (see that module), called as the ledger calls it:
 *   each eviction says how many bytes the budget is short, each removal
 *   whether the time rules made it;
 * - `optimum`: Belady's, offline: the resident session whose next read lies
 *   farthest ahead leaves first (with writes allocating, so a written session
 *   is always admitted).
 *
 * With the time rules (`timeRules: true`, the defaults: idle 4 h, loaded
 * 24 h) every policy also loses what the rules drop; without them only the
 * budget (and `maxSessions`, as in the store) decides. The model measures a session's bytes with `JSON.stringify`
 * of its info and newest-window messages, as the repositories do.
 */
import { EvictionPolicy, hashId } from "@session-store/core/EvictionPolicy"
import { defaults } from "@session-store/core/StoreConfig"
import { FarthestFirst } from "./farthestFirst.ts"
import { type Operation, workload, type WorkloadOptions } from "../workload.ts"

const READ = 0
const WRITE = 1
const DELETE = 2

/** One access of the trace: when, which session, what kind, and the session's resident bytes afterwards. */
export interface Trace {
  readonly at: Float64Array
  readonly session: Int32Array
  readonly kind: Uint8Array
  readonly bytes: Float64Array
  /** For a position, the position of the next read of the same session (or `length`). */
  readonly nextRead: Int32Array
  readonly length: number
  /** Per session number, the hash of its id (the store's policy keys its sketch by it). */
  readonly hashes: Uint32Array
}

const sizeOf = (value: unknown) => Buffer.byteLength(JSON.stringify(value), "utf8")

interface SessionBytes {
  info: number
  readonly ids: Map<string, number>
  readonly sizes: Array<number>
  window: number
}

/** The soak's operations as a trace; `window` is `maxMessagesPerSession`. */
export const traceOf = (options: WorkloadOptions, window: number = defaults.maxMessagesPerSession): Trace => {
  const ids = new Map<string, number>()
  const sessions: Array<SessionBytes> = []
  const at: Array<number> = []
  const session: Array<number> = []
  const kind: Array<number> = []
  const bytes: Array<number> = []
  const idOf = (sessionId: string) => {
    let n = ids.get(sessionId)
    if (n === undefined) {
      n = ids.size
      ids.set(sessionId, n)
      sessions.push({ info: 0, ids: new Map(), sizes: [], window: 0 })
    }
    return n
  }
  const push = (op: Operation, k: number, s: SessionBytes, n: number) => {
    at.push(op.at)
    session.push(n)
    kind.push(k)
    bytes.push(s.info + s.window)
  }
  for (const op of workload(options)) {
    const n = idOf(op.sessionId)
    const s = sessions[n]!
    switch (op._tag) {
      case "CreateSession":
        s.info = sizeOf(op.info)
        push(op, WRITE, s, n)
        break
      case "AppendMessage":
      case "PutMessage": {
        const size = sizeOf(op.message)
        const index = s.ids.get(op.message.info.id)
        if (index === undefined) {
          s.ids.set(op.message.info.id, s.sizes.length)
          s.sizes.push(size)
          s.window += size
          if (s.sizes.length > window) s.window -= s.sizes[s.sizes.length - 1 - window]!
        } else {
          if (index >= s.sizes.length - window) s.window += size - s.sizes[index]!
          s.sizes[index] = size
        }
        push(op, WRITE, s, n)
        break
      }
      case "UpdateSession":
        // The title and time.updated change; the size of the info barely does.
        push(op, WRITE, s, n)
        break
      case "ReadSession":
      case "ReadMessages":
        push(op, READ, s, n)
        break
      case "DeleteSession":
        push(op, DELETE, s, n)
        s.ids.clear()
        s.sizes.length = 0
        s.window = 0
        break
    }
  }
  const length = at.length
  const nextRead = new Int32Array(length)
  const upcoming = new Map<number, number>()
  for (let i = length - 1; i >= 0; i--) {
    nextRead[i] = upcoming.get(session[i]!) ?? length
    if (kind[i] === READ) upcoming.set(session[i]!, i)
    // A delete ends the session: its reads before it do not see reads after (none come).
  }
  return {
    at: Float64Array.from(at),
    session: Int32Array.from(session),
    kind: Uint8Array.from(kind),
    bytes: Float64Array.from(bytes),
    nextRead,
    length,
    hashes: Uint32Array.from(ids.keys(), hashId)
  }
}

export type Policy = "lru" | "store" | "optimum" | "gds"

/**
 * What the model needs to know of the store's rules.
 *
 * @example
 * ```ts
 * const rules: Rules = { budget: 16e6, timeRules: true }
 * ```
 */
export interface Rules {
  readonly budget: number
  readonly timeRules: boolean
  readonly inactiveTtlMs?: number
  readonly sessionTtlMs?: number
  readonly cleanupIntervalMs?: number
  /** Sessions resident at most (default the store's, 100). */
  readonly maxSessions?: number
}

/**
 * Replays `trace` under `policy` and `rules`; the hit rate counts reads only
 * (a write to a session that is not resident loads it, uncounted), as the
 * store does. As in the store, an admission first keeps `maxSessions`, then
 * any growth keeps the budget, never evicting the session just used.
 */
export const simulate = (trace: Trace, policy: Policy, rules: Rules) => {
  const inactive = rules.inactiveTtlMs ?? defaults.inactiveTtlMs
  const ttl = rules.sessionTtlMs ?? defaults.sessionTtlMs
  const interval = rules.cleanupIntervalMs ?? defaults.cleanupIntervalMs
  const capacity = rules.maxSessions ?? defaults.maxSessions
  // Resident sessions in LRU order (a Map keeps insertion order: a use re-inserts).
  const lru = new Map<number, number>()
  const lastUse = new Map<number, number>()
  const loadedAt = new Map<number, number>()
  const nextKey = new Map<number, number>()
  const heap = new FarthestFirst()
  // The store's policy, slot numbers being session numbers: the same calls the ledger makes.
  const store = policy === "store" ? new EvictionPolicy() : undefined
  let total = 0
  let hits = 0
  let misses = 0
  let evictions = 0
  let timeEvictions = 0
  let nextSweep = trace.length > 0 ? trace.at[0]! + interval : 0

  const remove = (s: number, expired = false) => {
    total -= lru.get(s)!
    lru.delete(s)
    lastUse.delete(s)
    loadedAt.delete(s)
    nextKey.delete(s)
    priority.delete(s)
    store?.removed(s, expired)
  }
  const live = (s: number, now: number) => now < loadedAt.get(s)! + ttl && now - lastUse.get(s)! < inactive
  // GreedyDual-Size (a candidate, not the store's): priority L + 1/bytes, the lowest leaves, L rises to it.
  let inflation = 0
  const priority = new Map<number, number>()
  const victim = (keep: number, bySize: boolean): number | undefined => {
    if (store !== undefined) {
      const n = store.pick(keep, bySize, bySize ? total - rules.budget : undefined)
      return n < 0 ? undefined : n
    }
    if (policy === "gds") {
      let best: number | undefined
      let low = Infinity
      for (const [r, p] of priority) if (r !== keep && p < low) { low = p; best = r }
      if (best !== undefined) inflation = low
      return best
    }
    if (policy !== "optimum") {
      for (const s of lru.keys()) if (s !== keep) return s
      return undefined
    }
    const skipped: Array<[number, number]> = []
    let found: number | undefined
    for (let top = heap.pop(); top !== undefined; top = heap.pop()) {
      const [key, s] = top
      if (!lru.has(s) || nextKey.get(s) !== key) continue
      if (s === keep) {
        skipped.push(top)
        continue
      }
      found = s
      break
    }
    for (const [key, s] of skipped) heap.push(key, s)
    return found
  }

  for (let i = 0; i < trace.length; i++) {
    const now = trace.at[i]!
    const s = trace.session[i]!
    const kind = trace.kind[i]!
    if (rules.timeRules && now >= nextSweep) {
      for (const r of [...lru.keys()]) {
        if (!live(r, now)) {
          remove(r, true)
          timeEvictions++
        }
      }
      nextSweep = now + interval
    }
    if (kind === DELETE) {
      if (lru.has(s)) remove(s)
      continue
    }
    let resident = lru.has(s)
    if (resident && rules.timeRules && !live(s, now)) {
      remove(s, true)
      timeEvictions++
      resident = false
    }
    if (kind === READ) {
      if (resident) hits++
      else misses++
    }
    const bytes = trace.bytes[i]!
    if (resident) {
      total += bytes - lru.get(s)!
      lru.delete(s)
      lru.set(s, bytes)
      store?.resized(s, bytes)
      store?.used(s, now - lastUse.get(s)!)
    } else {
      total += bytes
      lru.set(s, bytes)
      loadedAt.set(s, now)
      store?.admitted(s, trace.hashes[s]!, bytes, lru.size)
    }
    lastUse.set(s, now)
    const key = trace.nextRead[i]!
    nextKey.set(s, key)
    if (policy === "optimum") heap.push(key, s)
    if (policy === "gds") priority.set(s, inflation + 1e6 / Math.max(1, bytes))
    while (!resident && lru.size > capacity) {
      const v = victim(s, false)
      if (v === undefined) break
      remove(v)
      evictions++
    }
    while (total > rules.budget) {
      const v = victim(s, true)
      if (v === undefined) break
      remove(v)
      evictions++
    }
  }
  const reads = hits + misses
  return { hitRate: reads === 0 ? 0 : hits / reads, hits, misses, budgetEvictions: evictions, timeEvictions }
}

/** One row of the hit-rate table: a budget, each policy's hit rate with and without the time rules. */
export interface HitRateRow {
  readonly budgetMB: number
  readonly withTimeRules: Record<Policy, number>
  readonly withoutTimeRules: Record<Policy, number>
}

export const HIT_RATE_BUDGETS_MB = [4, 8, 16, 32, 64] as const

/**
 * Every policy at every budget, with and without the time rules, on the trace of `options`.
 *
 * @example
 * ```ts
 * const rows = hitRateTable({ seed: 1, sessions: 320, operations: 80_000 })
 * ```
 */
export const hitRateTable = (
  options: WorkloadOptions,
  budgetsMB: ReadonlyArray<number> = HIT_RATE_BUDGETS_MB
): Array<HitRateRow> => {
  const trace = traceOf(options)
  const policies: ReadonlyArray<Policy> = ["lru", "store", "optimum"]
  const run = (budget: number, timeRules: boolean) =>
    Object.fromEntries(policies.map((p) => [p, simulate(trace, p, { budget, timeRules }).hitRate])) as Record<Policy, number>
  return budgetsMB.map((mb) => ({
    budgetMB: mb,
    withTimeRules: run(mb * 1e6, true),
    withoutTimeRules: run(mb * 1e6, false)
  }))
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`

/** What the soak's store run measured, to print beside the replay's row at its budget. */
export interface MeasuredHitRate {
  readonly budget: number | undefined
  readonly hits: number
  readonly misses: number
}

/**
 * The table as text; with `measured`, a line comparing the soak's own store
 * run with the replay's "store" row at the soak's budget (default rules):
 * the two run the same policy code on the same trace, so they agree.
 *
 * @example
 * ```ts
 * console.log(renderHitRates(hitRateTable(options)))
 * ```
 */
export const renderHitRates = (rows: ReadonlyArray<HitRateRow>, measured?: MeasuredHitRate): string => {
  const out = [
    "hit rate against the limit (the trace replayed offline; writes allocate)",
    "             default time rules (idle 4 h, 24 h)     no time rules",
    "  budget       LRU   store  optimum            LRU   store  optimum"
  ]
  for (const r of rows) {
    const a = r.withTimeRules
    const b = r.withoutTimeRules
    out.push(
      `  ${`${r.budgetMB} MB`.padStart(6)}  ${pct(a.lru).padStart(7)} ${pct(a.store).padStart(7)} ${pct(a.optimum).padStart(8)}` +
        `         ${pct(b.lru).padStart(7)} ${pct(b.store).padStart(7)} ${pct(b.optimum).padStart(8)}`
    )
  }
  const row = measured?.budget === undefined ? undefined : rows.find((r) => r.budgetMB * 1e6 === measured.budget)
  if (measured !== undefined && row !== undefined) {
    const reads = measured.hits + measured.misses
    const exact = (x: number) => `${(x * 100).toFixed(2)}%`
    out.push(
      `  the soak's store run measured ${exact(reads === 0 ? 0 : measured.hits / reads)} (${measured.hits.toLocaleString("en-US")} of ${
        reads.toLocaleString("en-US")
      } reads) at ${row.budgetMB} MB; the replay's store row there: ${exact(row.withTimeRules.store)}`
    )
  }
  return out.join("\n")
}
