import { Cache, Clock, Duration, Effect, Exit, Metric, MutableHashMap, Option } from "effect"
import type { ReadError } from "../Errors.ts"
import type { SessionId } from "../Ids.ts"
import type { SessionRepositoryShape } from "../SessionRepository.ts"
import type { EvictionCause, ResidentSession, StoreStats, SweepReport } from "../SessionStore.ts"
import type { StoreOptions } from "../StoreConfig.ts"
import * as StoreMetrics from "../StoreMetrics.ts"
import type { EventHub } from "./storeEvents.ts"
import { Ledger, type Slot } from "./storeLedger.ts"
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
 * every load (walking from the least recently used end while entries are
 * gone), and fully on sweep, stats and listing. Identity decides: a slot is
 * resident while the Cache's entry for its id completed with that very slot.
 *
 * What the Cache lacks is added around it: inactivity (checked on every read
 * with `Clock`, so `TestClock` drives it), the byte budget, shedding under
 * memory pressure, exact accounting, eviction causes, counters and events.
 * Every eviction passes through `evictSlot`, which keeps the Cache and the
 * ledger in step and emits the eviction event.
 *
 * The byte budget: whenever resident bytes grow (a load, a write), least
 * recently used sessions leave with cause `budget` until the total fits,
 * except the session just loaded or written. That one stays even when it
 * alone exceeds `maxBytes`: it is the session being worked on, and dropping
 * it would reload it on every read. So resident bytes never exceed `maxBytes`
 * unless exactly one session is resident; the next session used pushes it out.
 *
 * A write to a resident session counts as a use, like a read: it becomes the
 * most recently used (in the Cache's order too) and its inactivity clock
 * restarts. Its absolute time to live does not.
 */
export interface ResidentSet {
  /**
   * The hot path of a read, synchronous: the slot when the session is
   * resident, live and active, counted as a hit; `undefined` otherwise (then
   * `read`). Takes any string: only validated ids are ever resident.
   */
  readonly hit: (sessionId: string) => Slot | undefined
  /** The session's slot for a read: from memory when resident, live and active; loaded otherwise. */
  readonly read: (sessionId: SessionId) => Effect.Effect<Slot, ReadError>
  /** The accounted slot of a session, if any, without loading or counting a read. For writes, under the session lock. */
  readonly peek: (sessionId: SessionId) => Slot | undefined
  /**
   * After a write to a resident session, under its lock: swaps in `next` (when
   * the write changed what memory holds), counts the write as a use, and keeps
   * the budget, never dropping this slot for it.
   */
  readonly written: (slot: Slot, next?: ResidentSnapshot) => Effect.Effect<void>
  /** Drops the session from memory, if resident, with `cause`. */
  readonly evict: (sessionId: SessionId, cause: EvictionCause) => Effect.Effect<void>
  /**
   * Memory pressure: drops least recently used sessions, cause `pressure`,
   * until at most `keep` (a fraction) of the resident bytes remain. Says what it freed.
   */
  readonly shed: (keep: number) => Effect.Effect<{ readonly sessions: number; readonly bytes: number; readonly residentBytes: number }>
  readonly sweep: Effect.Effect<SweepReport>
  readonly stats: Effect.Effect<StoreStats>
  readonly residents: Effect.Effect<ReadonlyArray<ResidentSession>>
  /** The counters and totals as they stand, without reconciling with the Cache (for metric reads). */
  readonly ledger: Pick<Ledger, "hits" | "misses" | "loads" | "loadFailures" | "evictions" | "residentSessions" | "residentMessages" | "residentBytes">
}

export const makeResidentSet = Effect.fnUntraced(function*(
  repository: SessionRepositoryShape,
  options: StoreOptions,
  locks: SessionLocks,
  hub: EventHub
) {
  const ledger = new Ledger()
  // The store's time is the Clock of the context its layer is built in (the
  // sweep's too), read synchronously: the hit path needs it without an effect.
  const clock = yield* Clock.Clock
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
        const started = yield* Clock.monotonicTimeNanos
        const loaded = yield* repository.loadSession(sessionId, { newest: window }).pipe(
          Effect.tapError(() => Effect.sync(() => ledger.loadFailures++))
        )
        const durationMs = Number((yield* Clock.monotonicTimeNanos) - started) / 1e6
        yield* Metric.update(StoreMetrics.loadDuration, durationMs)
        const now = clock.currentTimeMillisUnsafe()
        const snapshot = fromLoaded(loaded, window)
        const slot: Slot = { id: sessionId, snapshot, lastRead: now, expiresAt: now + options.sessionTtlMs }
        // A slot still accounted for this id is one the Cache let go already.
        const previous = ledger.get(sessionId)
        if (previous !== undefined) evictSlot(previous, droppedCause(previous, now), now)
        ledger.admit(slot)
        hub.emit({
          _tag: "Loaded",
          sessionId,
          bytes: snapshot.bytes,
          messages: snapshot.window.length,
          durationMs,
          at: now
        })
        keepBudget(slot, now)
        yield* hub.flush
        return slot
      })
    )

  const cache = yield* Cache.makeWith(lookup, {
    capacity: options.maxSessions,
    timeToLive: (exit) => (Exit.isSuccess(exit) ? sessionTtl : Duration.zero)
  })

  /** Whether a Cache entry completed with `slot` itself (not a pending reload, not a newer slot). */
  const holdsSlot = (entry: Cache.Entry<Slot, ReadError>, slot: Slot): boolean => {
    const exit = entry.fiber.pollUnsafe()
    return exit !== undefined && Exit.isSuccess(exit) && exit.value === slot
  }

  /** Whether the Cache holds `slot` itself. */
  const cached = (slot: Slot): boolean => {
    const entry = MutableHashMap.get(cache.map, slot.id)
    return Option.isSome(entry) && holdsSlot(entry.value, slot)
  }

  /** Why the Cache let go of a slot it no longer holds. */
  const droppedCause = (slot: Slot, now: number): EvictionCause => (now >= slot.expiresAt ? "expired" : "capacity")

  /**
   * The one way out of memory: removes the slot from the Cache (only if the
   * Cache still holds this very slot, so a reload in flight is never
   * disturbed) and from the ledger, which counts the cause, then emits the
   * event. Synchronous, so the Cache and the ledger change together; the
   * caller flushes the hub before it returns.
   */
  const evictSlot = (slot: Slot, cause: EvictionCause, now: number): boolean => {
    if (cached(slot)) MutableHashMap.remove(cache.map, slot.id)
    if (!ledger.remove(slot, cause)) return false
    hub.emit({
      _tag: "Evicted",
      sessionId: slot.id,
      cause,
      bytes: slot.snapshot.bytes,
      messages: slot.snapshot.window.length,
      at: now
    })
    return true
  }

  /** Least recently used first, every slot but `keep` leaves until the resident bytes fit the budget. */
  const keepBudget = (keep: Slot, now: number): void => {
    if (ledger.residentBytes <= options.maxBytes) return
    for (const slot of ledger.ordered()) {
      if (ledger.residentBytes <= options.maxBytes) return
      if (slot !== keep) evictSlot(slot, "budget", now)
    }
  }

  /** After a load: account what the Cache dropped to make room, oldest first, and the loaded slot if it was dropped while pending. */
  const reconcileAfterLoad = (loaded: Slot, now: number): void => {
    if (!cached(loaded)) evictSlot(loaded, droppedCause(loaded, now), now)
    for (let oldest = ledger.oldest(); oldest !== undefined && !cached(oldest); oldest = ledger.oldest()) {
      evictSlot(oldest, droppedCause(oldest, now), now)
    }
  }

  /** Accounts every slot the Cache no longer holds. Returns how many, by cause. */
  const reconcileAll = (now: number): { expired: number; capacity: number } => {
    const found = { expired: 0, capacity: 0 }
    for (const slot of ledger.ordered()) {
      if (cached(slot)) continue
      const cause = droppedCause(slot, now)
      if (evictSlot(slot, cause, now)) found[cause === "expired" ? "expired" : "capacity"]++
    }
    return found
  }

  const isInactive = (slot: Slot, now: number): boolean => now - slot.lastRead >= options.inactiveTtlMs

  /**
   * The hit path, synchronous: the ledger holds the slot, its time to live is
   * not over, it is active, and the Cache still holds that very slot. Then it
   * counts as a hit and becomes the most recently used, in the ledger and in
   * the Cache, whose LRU order is its map's insertion order: the entry moves
   * to the end, exactly as `Cache.get` moves it on a hit. The Cache's own
   * expiry check is not needed: it counts the same time to live from the end
   * of the same load, so it never ends before the slot's. Anything else is a
   * miss, for `read` to account and load.
   */
  const hit = (sessionId: string): Slot | undefined => {
    const held = ledger.get(sessionId as SessionId)
    if (held === undefined) return undefined
    const now = clock.currentTimeMillisUnsafe()
    if (now >= held.expiresAt || isInactive(held, now)) return undefined
    const entry = MutableHashMap.get(cache.map, held.id)
    if (Option.isNone(entry) || !holdsSlot(entry.value, held)) return undefined
    MutableHashMap.remove(cache.map, held.id)
    MutableHashMap.set(cache.map, held.id, entry.value)
    ledger.hits++
    ledger.touch(held, now)
    return held
  }

  const read = (sessionId: SessionId): Effect.Effect<Slot, ReadError> =>
    Effect.suspend(() => {
      const slot = hit(sessionId)
      return slot !== undefined ? Effect.succeed(slot) : miss(sessionId)
    })

  const miss = Effect.fnUntraced(function*(sessionId: SessionId) {
    const now = clock.currentTimeMillisUnsafe()
    const held = ledger.get(sessionId)
    if (held !== undefined) {
      evictSlot(held, isInactive(held, now) ? "inactive" : droppedCause(held, now), now)
      yield* hub.flush
    }
    ledger.misses++
    const loaded = yield* Cache.get(cache, sessionId)
    reconcileAfterLoad(loaded, now)
    ledger.touch(loaded, now)
    yield* hub.flush
    return loaded
  })

  const written = Effect.fnUntraced(function*(slot: Slot, next?: ResidentSnapshot) {
    if (next !== undefined) ledger.replace(slot, next)
    if (!ledger.holds(slot)) return
    const now = clock.currentTimeMillisUnsafe()
    // As for a read: the Cache refreshes its LRU order and applies its time to live.
    const held = yield* Cache.getSuccess(cache, slot.id)
    if (Option.isSome(held) && held.value === slot) {
      ledger.touch(slot, now)
      keepBudget(slot, now)
    } else {
      evictSlot(slot, droppedCause(slot, now), now)
    }
    yield* hub.flush
  })

  const evict = (sessionId: SessionId, cause: EvictionCause): Effect.Effect<void> =>
    Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      const slot = ledger.get(sessionId)
      if (slot !== undefined) evictSlot(slot, cause, now)
      return hub.flush
    })

  const shed = Effect.fnUntraced(function*(keep: number) {
    const now = clock.currentTimeMillisUnsafe()
    // What the Cache let go already is not ours to count as freed.
    reconcileAll(now)
    const before = ledger.residentBytes
    const target = Math.floor(before * keep)
    let sessions = 0
    for (const slot of ledger.ordered()) {
      if (ledger.residentBytes <= target) break
      if (evictSlot(slot, "pressure", now)) sessions++
    }
    yield* hub.flush
    return { sessions, bytes: before - ledger.residentBytes, residentBytes: ledger.residentBytes }
  })

  const sweep: Effect.Effect<SweepReport> = Effect.gen(function*() {
    const now = clock.currentTimeMillisUnsafe()
    let inactive = 0
    for (const slot of ledger.ordered()) {
      // Lets the Cache drop the entry if its time to live is over; reconcileAll then names it expired.
      yield* Cache.has(cache, slot.id)
      if (cached(slot) && isInactive(slot, now) && evictSlot(slot, "inactive", now)) inactive++
    }
    const found = reconcileAll(now)
    ledger.sweeps++
    yield* hub.flush
    const stats = ledger.stats()
    return {
      expired: found.expired,
      inactive,
      reconciled: found.capacity,
      residentSessions: stats.residentSessions,
      residentBytes: stats.residentBytes
    }
  })

  const stats: Effect.Effect<StoreStats> = Effect.suspend(() => {
    reconcileAll(clock.currentTimeMillisUnsafe())
    return Effect.as(hub.flush, ledger.stats())
  })

  const residents: Effect.Effect<ReadonlyArray<ResidentSession>> = Effect.suspend(() => {
    reconcileAll(clock.currentTimeMillisUnsafe())
    return Effect.as(hub.flush, ledger.ordered().map((slot) => ({
      id: slot.id,
      windowMessages: slot.snapshot.window.length,
      messageCount: slot.snapshot.messageCount,
      bytes: slot.snapshot.bytes,
      lastRead: slot.lastRead,
      expiresAt: slot.expiresAt
    })))
  })

  return {
    hit,
    read,
    peek: (sessionId) => ledger.get(sessionId),
    written,
    evict,
    shed,
    sweep,
    stats,
    residents,
    ledger
  } satisfies ResidentSet
})
