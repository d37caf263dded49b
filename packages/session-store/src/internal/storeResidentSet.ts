import { Cache, Clock, Duration, Effect, Exit, MutableHashMap, Option } from "effect"
import type { ReadError } from "../Errors.ts"
import type { SessionId } from "../Ids.ts"
import type { SessionRepositoryShape } from "../SessionRepository.ts"
import type { EvictionCause, ResidentSession, StoreStats, SweepReport } from "../SessionStore.ts"
import type { StoreOptions } from "../StoreConfig.ts"
import { type EvictionHook, Ledger, type Slot } from "./storeLedger.ts"
import type { SessionLocks } from "./storeLocks.ts"
import { fromLoaded, type ResidentSnapshot } from "./storeSnapshot.ts"

/**
 * The sessions held in memory: an Effect `Cache` plus the ledger beside it.
 *
 * The Cache does what it is good at and nothing is copied from it: a miss
 * loads through the lookup, concurrent misses share that one load, entries
 * live `sessionTtl` (a failed load is not kept, so a session created
 * elsewhere appears on the next read), and past `maxSessions` the least
 * recently used entry goes.
 *
 * The Cache drops entries silently (capacity when another is inserted, time
 * to live when one is accessed), so the ledger is reconciled with the Cache's
 * `map` wherever that can have happened: on every read of the session, after
 * every load (walking from the least recently read end while entries are
 * gone), and fully on sweep, stats and listing. Identity decides: a slot is
 * resident while the Cache's entry for its id completed with that very slot.
 *
 * What the Cache lacks is added around it: inactivity (checked on every read
 * with `Clock`, so `TestClock` drives it), exact accounting, eviction causes
 * and counters. Every eviction passes through `evictSlot`, which keeps the
 * Cache and the ledger in step and is where eviction events will be published.
 */
export interface ResidentSet {
  /** The session's slot for a read: from memory when resident, live and active; loaded otherwise. */
  readonly read: (sessionId: SessionId) => Effect.Effect<Slot, ReadError>
  /** The accounted slot of a session, if any, without loading or counting a read. For writes, under the session lock. */
  readonly peek: (sessionId: SessionId) => Slot | undefined
  /** Swaps a slot's snapshot after a write, keeping the accounting exact. */
  readonly replace: (slot: Slot, next: ResidentSnapshot) => void
  /** Drops the session from memory, if resident, with `cause`. */
  readonly evict: (sessionId: SessionId, cause: EvictionCause) => Effect.Effect<void>
  readonly sweep: Effect.Effect<SweepReport>
  readonly stats: Effect.Effect<StoreStats>
  readonly residents: Effect.Effect<ReadonlyArray<ResidentSession>>
}

export const makeResidentSet = Effect.fnUntraced(function*(
  repository: SessionRepositoryShape,
  options: StoreOptions,
  locks: SessionLocks,
  onEvicted?: EvictionHook
) {
  const ledger = new Ledger(onEvicted)
  const window = options.maxMessagesPerSession
  const sessionTtl = Duration.millis(options.sessionTtlMs)

  // Runs under the session's lock, so it never overlaps a write to the same
  // session, and admits the slot to the ledger before the lock is released:
  // a write that follows finds the slot and updates it.
  const lookup = (sessionId: SessionId): Effect.Effect<Slot, ReadError> =>
    locks.withLock(
      sessionId,
      Effect.gen(function*() {
        ledger.loads++
        const loaded = yield* repository.loadSession(sessionId, { newest: window }).pipe(
          Effect.tapError(() => Effect.sync(() => ledger.loadFailures++))
        )
        const now = yield* Clock.currentTimeMillis
        const slot: Slot = {
          id: sessionId,
          snapshot: fromLoaded(loaded, window),
          lastRead: now,
          expiresAt: now + options.sessionTtlMs
        }
        // A slot still accounted for this id is one the Cache let go already.
        const previous = ledger.get(sessionId)
        if (previous !== undefined) evictSlot(previous, droppedCause(previous, now))
        ledger.admit(slot)
        return slot
      })
    )

  const cache = yield* Cache.makeWith(lookup, {
    capacity: options.maxSessions,
    timeToLive: (exit) => (Exit.isSuccess(exit) ? sessionTtl : Duration.zero)
  })

  /** Whether the Cache holds `slot` itself (not a pending reload, not a newer slot). */
  const cached = (slot: Slot): boolean => {
    const entry = MutableHashMap.get(cache.map, slot.id)
    if (Option.isNone(entry)) return false
    const exit = entry.value.fiber.pollUnsafe()
    return exit !== undefined && Exit.isSuccess(exit) && exit.value === slot
  }

  /** Why the Cache let go of a slot it no longer holds. */
  const droppedCause = (slot: Slot, now: number): EvictionCause => (now >= slot.expiresAt ? "expired" : "capacity")

  /**
   * The one way out of memory: removes the slot from the Cache (only if the
   * Cache still holds this very slot, so a reload in flight is never
   * disturbed) and from the ledger, which counts the cause and calls the
   * eviction hook. Synchronous, so the Cache and the ledger change together.
   */
  const evictSlot = (slot: Slot, cause: EvictionCause): boolean => {
    if (cached(slot)) MutableHashMap.remove(cache.map, slot.id)
    return ledger.remove(slot, cause)
  }

  /** After a load: account what the Cache dropped to make room, oldest first, and the loaded slot if it was dropped while pending. */
  const reconcileAfterLoad = (loaded: Slot, now: number): void => {
    if (!cached(loaded)) evictSlot(loaded, droppedCause(loaded, now))
    for (let oldest = ledger.oldest(); oldest !== undefined && !cached(oldest); oldest = ledger.oldest()) {
      evictSlot(oldest, droppedCause(oldest, now))
    }
  }

  /** Accounts every slot the Cache no longer holds. Returns how many, by cause. */
  const reconcileAll = (now: number): { expired: number; capacity: number } => {
    const found = { expired: 0, capacity: 0 }
    for (const slot of ledger.ordered()) {
      if (cached(slot)) continue
      const cause = droppedCause(slot, now)
      if (evictSlot(slot, cause)) found[cause === "expired" ? "expired" : "capacity"]++
    }
    return found
  }

  const isInactive = (slot: Slot, now: number): boolean => now - slot.lastRead >= options.inactiveTtlMs

  const read = Effect.fnUntraced(function*(sessionId: SessionId) {
    const now = yield* Clock.currentTimeMillis
    const held = ledger.get(sessionId)
    if (held !== undefined) {
      if (isInactive(held, now)) {
        evictSlot(held, "inactive")
      } else {
        // The Cache's own time-to-live check and LRU refresh; never loads.
        const hit = yield* Cache.getSuccess(cache, sessionId)
        if (Option.isSome(hit) && hit.value === held) {
          ledger.hits++
          ledger.touch(held, now)
          return held
        }
        evictSlot(held, droppedCause(held, now))
      }
    }
    ledger.misses++
    const loaded = yield* Cache.get(cache, sessionId)
    reconcileAfterLoad(loaded, now)
    ledger.touch(loaded, now)
    return loaded
  })

  const evict = (sessionId: SessionId, cause: EvictionCause): Effect.Effect<void> =>
    Effect.sync(() => {
      const slot = ledger.get(sessionId)
      if (slot !== undefined) evictSlot(slot, cause)
    })

  const sweep: Effect.Effect<SweepReport> = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    let inactive = 0
    for (const slot of ledger.ordered()) {
      // Lets the Cache drop the entry if its time to live is over; reconcileAll then names it expired.
      yield* Cache.has(cache, slot.id)
      if (cached(slot) && isInactive(slot, now) && evictSlot(slot, "inactive")) inactive++
    }
    const found = reconcileAll(now)
    ledger.sweeps++
    const stats = ledger.stats()
    return {
      expired: found.expired,
      inactive,
      reconciled: found.capacity,
      residentSessions: stats.residentSessions,
      residentBytes: stats.residentBytes
    }
  })

  const stats: Effect.Effect<StoreStats> = Effect.map(Clock.currentTimeMillis, (now) => {
    reconcileAll(now)
    return ledger.stats()
  })

  const residents: Effect.Effect<ReadonlyArray<ResidentSession>> = Effect.map(Clock.currentTimeMillis, (now) => {
    reconcileAll(now)
    return ledger.ordered().map((slot) => ({
      id: slot.id,
      windowMessages: slot.snapshot.window.length,
      messageCount: slot.snapshot.messageCount,
      bytes: slot.snapshot.bytes,
      lastRead: slot.lastRead,
      expiresAt: slot.expiresAt
    }))
  })

  return {
    read,
    peek: (sessionId) => ledger.get(sessionId),
    replace: (slot, next) => ledger.replace(slot, next),
    evict,
    sweep,
    stats,
    residents
  } satisfies ResidentSet
})
