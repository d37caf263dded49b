import { Cache, Clock, Duration, Effect, Exit, type Fiber, Metric, MutableHashMap, Option } from "effect"
import type { ReadError } from "../Errors.ts"
import type { SessionId } from "../Ids.ts"
import type { SessionInfo } from "../Session.ts"
import type { SessionRepositoryShape } from "../SessionRepository.ts"
import type { EvictionCause, ResidentSession, StoreStats, SweepReport } from "../SessionStore.ts"
import type { StoreOptions } from "../StoreConfig.ts"
import * as StoreMetrics from "../StoreMetrics.ts"
import type { EventHub } from "./storeEvents.ts"
import { Ledger, NONE, type Slot } from "./storeLedger.ts"
import type { SessionLocks } from "./storeLocks.ts"
import { fromLoaded, type ResidentSnapshot } from "./storeSnapshot.ts"

/**
 * The sessions held in memory: the ledger, with an Effect `Cache` behind it
 * for what a cache is for.
 *
 * The Cache does the loading: a miss goes through `Cache.get`, so concurrent
 * misses of a session share one load, a failed load is not kept (a session
 * created elsewhere appears on the next read), and each loaded entry gets
 * `sessionTtl` as its time to live. Its capacity stays as a backstop only.
 *
 * The ledger decides what is resident and in what order. A hit is the
 * ledger's alone: one `Map` lookup, the slot's own time to live (recorded at
 * load from the same `sessionTtl`, and never later than the Cache's) and
 * inactivity, and a move to the most recent end of the ledger's LRU list;
 * the Cache is not touched. So the Cache's own order (its insertion order)
 * never decides an eviction. The ledger does: when a load is admitted past
 * `maxSessions`, the least recently used session leaves (cause `capacity`).
 * The Cache's capacity is one more than `maxSessions`, room for the entry of
 * the load in flight; with more loads in flight at once, each lookup first
 * evicts the ledger's least recently used sessions until the Cache has room
 * for its entry. So the Cache's own capacity check never has anything to do.
 *
 * Every way out of memory passes through `evictSlot`, which takes the slot
 * out of the ledger and its entry out of the Cache together (the entry named
 * by the fiber that loaded the slot, so a newer load in flight is never
 * disturbed) and emits the event. The ways the Cache could drop an entry on
 * its own are each handled where they happen:
 *
 * - expiry on access: only `Cache.get` in a miss applies it, after the miss
 *   has evicted the session's slot for the same reason (the slot's deadline
 *   comes first);
 * - a lookup interrupted once its slot was admitted (every reader gave up):
 *   the Cache removes the entry, and an observer on the lookup's fiber takes
 *   the slot out of the ledger at that moment;
 * - capacity on insert: only when the lookup found the Cache full with
 *   nothing of the ledger's left to evict (more loads in flight than
 *   `maxSessions`). Then the ledger is reconciled with the Cache's map once,
 *   at the next operation, and again after every load that was in flight
 *   meanwhile, since it may be one the Cache dropped.
 *
 * Inactivity (checked on every read with `Clock`, so `TestClock` drives it),
 * the byte budget, shedding under memory pressure, exact accounting,
 * eviction causes, counters and events are the store's, around the Cache.
 *
 * The sweep walks only what it evicts, plus one: expired sessions from the
 * front of load order, then inactive ones from the front of
 * least-recently-used order, each walk stopping at the first session that
 * stays. (Both orders follow the clock: a clock set back would leave a
 * session for a later sweep, never serve it past its time, since every read
 * checks the slot itself.)
 *
 * The byte budget: whenever resident bytes grow (a load, a write), least
 * recently used sessions leave with cause `budget` until the total fits,
 * except the session just loaded or written. That one stays even when it
 * alone exceeds `maxBytes`: it is the session being worked on, and dropping
 * it would reload it on every read. So resident bytes never exceed `maxBytes`
 * unless exactly one session is resident; the next session used pushes it out.
 *
 * A write to a resident session counts as a use, like a read: it becomes the
 * most recently used and its inactivity clock restarts. Its absolute time to
 * live does not.
 */
export interface ResidentSet {
  /**
   * The hot path of a read, synchronous: the slot when the session is
   * resident, live and active, counted as a hit; `undefined` otherwise (then
   * `read`). Takes any string: only validated ids are ever resident.
   */
  readonly hit: (sessionId: string) => Slot | undefined
  /** `hit` for `getSession`: the session's info straight from the ledger. */
  readonly hitInfo: (sessionId: string) => SessionInfo | undefined
  /** The session's slot for a read: from memory when resident, live and active; loaded otherwise. */
  readonly read: (sessionId: SessionId) => Effect.Effect<Slot, ReadError>
  /** The accounted slot of a session, if any, without loading or counting a read. For writes, under the session lock. */
  readonly peek: (sessionId: SessionId) => Slot | undefined
  /**
   * After a write to a resident session, under its lock: swaps in `next` (when
   * the write changed what memory holds), counts the write as a use, and keeps
   * the budget, never dropping this slot for it. A session past its time to
   * live leaves instead (cause `expired`): the next read loads it again.
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
  const sessionTtlMs = Duration.toMillis(sessionTtl)

  /**
   * Whether the Cache may hold fewer of the ledger's slots than the ledger
   * does (it dropped entries for capacity), to be reconciled before the
   * ledger is trusted again. `drops` counts the lookups that found the Cache
   * full: a load in flight across one of them may be one it dropped.
   */
  let mayHaveDropped = false
  let drops = 0

  // Runs in the fiber of the Cache's entry, which `Cache.get` starts at once,
  // before it inserts the entry: so making room here happens with nothing in
  // between, and the insertion finds the space free.
  const lookup = (sessionId: SessionId): Effect.Effect<Slot, ReadError> =>
    Effect.withFiber((loader) => {
      makeRoom(clock.currentTimeMillisUnsafe())
      return locks.withLock(sessionId, load(sessionId, loader, drops))
    })

  // Under the session's lock, so it never overlaps a write to the same
  // session, and admits the slot to the ledger before the lock is released:
  // a write that follows finds the slot and updates it.
  const load = Effect.fnUntraced(function*(sessionId: SessionId, loader: Fiber.Fiber<unknown, unknown>, dropsAtStart: number) {
    ledger.loads++
    const started = yield* Clock.monotonicTimeNanos
    const loaded = yield* repository.loadSession(sessionId, { newest: window }).pipe(
      Effect.tapError(() => Effect.sync(() => ledger.loadFailures++))
    )
    const durationMs = Number((yield* Clock.monotonicTimeNanos) - started) / 1e6
    yield* Metric.update(StoreMetrics.loadDuration, durationMs)
    const now = clock.currentTimeMillisUnsafe()
    const snapshot = fromLoaded(loaded, window)
    const slot: Slot = {
      id: sessionId,
      snapshot,
      expiresAt: now + sessionTtlMs,
      loader,
      n: NONE
    }
    // A slot still accounted for this id is one the Cache let go already.
    const previous = ledger.get(sessionId)
    if (previous !== undefined) evictSlot(previous, droppedCause(previous, now), now)
    ledger.admit(slot, now)
    // The Cache keeps the entry only if the lookup ends with this slot; if it
    // is interrupted from here on (every reader gave up), the Cache removes
    // the entry, and so does the ledger, at that very moment.
    loader.addObserver((exit) => {
      if (Exit.isFailure(exit) && ledger.holds(slot)) {
        evictSlot(slot, "capacity", clock.currentTimeMillisUnsafe())
      }
    })
    // A lookup that found the Cache full started while this load was in flight: the Cache may have dropped it.
    if (drops !== dropsAtStart) mayHaveDropped = true
    hub.emit({
      _tag: "Loaded",
      sessionId,
      bytes: snapshot.bytes,
      messages: snapshot.window.length,
      durationMs,
      at: now
    })
    keepCapacity(slot, now)
    keepBudget(slot, now)
    yield* hub.flush
    return slot
  })

  // One more than `maxSessions`: room for the entry of a load in flight while
  // `maxSessions` stay resident. The ledger evicts when the load is admitted
  // (so a load that fails, "not found" included, costs no one their place).
  const capacity = options.maxSessions + 1
  const cache = yield* Cache.makeWith(lookup, {
    capacity,
    timeToLive: (exit) => (Exit.isSuccess(exit) ? sessionTtl : Duration.zero)
  })

  /** Whether a Cache entry is the one that loaded `slot` (pending or done). */
  const entryOf = (entry: Cache.Entry<Slot, ReadError>, slot: Slot): boolean => {
    if (entry.fiber === slot.loader) return true
    const exit = entry.fiber.pollUnsafe()
    return exit !== undefined && Exit.isSuccess(exit) && exit.value === slot
  }

  /** Whether the Cache holds the entry of `slot`. */
  const cached = (slot: Slot): boolean => {
    const entry = MutableHashMap.get(cache.map, slot.id)
    return Option.isSome(entry) && entryOf(entry.value, slot)
  }

  /** Removes the Cache's entry of `slot`, if it still holds it (never a newer load of the session). */
  const uncache = (slot: Slot): void => {
    if (cached(slot)) MutableHashMap.remove(cache.map, slot.id)
  }

  /** Why the Cache let go of a slot it no longer holds. */
  const droppedCause = (slot: Slot, now: number): EvictionCause => (now >= slot.expiresAt ? "expired" : "capacity")

  /** For a slot the ledger holds. */
  const isInactive = (slot: Slot, now: number): boolean => now - ledger.lastReadAt(slot.n) >= options.inactiveTtlMs

  /**
   * The one way out of memory: takes the slot out of the ledger, which counts
   * the cause, and its entry out of the Cache, then emits the event.
   * Synchronous, so the Cache and the ledger change together; the caller
   * flushes the hub before it returns.
   */
  const evictSlot = (slot: Slot, cause: EvictionCause, now: number): boolean => {
    if (!ledger.remove(slot, cause)) return false
    uncache(slot)
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

  /**
   * At the start of a load, before the Cache inserts its entry: when other
   * loads are in flight too, least recently used sessions leave (cause
   * `capacity`) until the Cache has room for one more entry, so its own
   * capacity check never fires. Only when nothing of the ledger's is left to
   * evict (the Cache is full of loads in flight) will it drop entries itself;
   * that is noted for reconciliation.
   */
  const makeRoom = (now: number): void => {
    if (MutableHashMap.size(cache.map) < capacity) return
    for (let slot = ledger.oldest(); slot !== undefined;) {
      const next = ledger.newer(slot)
      evictSlot(slot, "capacity", now)
      if (MutableHashMap.size(cache.map) < capacity) return
      slot = next
    }
    drops++
    mayHaveDropped = true
  }

  /** After a load: at most `maxSessions` stay, least recently used leaving first (never `keep`). */
  const keepCapacity = (keep: Slot, now: number): void => {
    for (let slot = ledger.oldest(); slot !== undefined && ledger.residentSessions > options.maxSessions;) {
      const next = ledger.newer(slot)
      if (slot !== keep) evictSlot(slot, "capacity", now)
      slot = next
    }
  }

  /** Least recently used first, every slot but `keep` leaves until the resident bytes fit the budget. */
  const keepBudget = (keep: Slot, now: number): void => {
    for (let slot = ledger.oldest(); slot !== undefined && ledger.residentBytes > options.maxBytes;) {
      const next = ledger.newer(slot)
      if (slot !== keep) evictSlot(slot, "budget", now)
      slot = next
    }
  }

  /**
   * Accounts every slot the Cache no longer holds, when it may have dropped
   * some (see `makeRoom`); otherwise nothing to do. Returns how many, by cause.
   */
  const reconcile = (now: number): { expired: number; capacity: number } => {
    const found = { expired: 0, capacity: 0 }
    if (!mayHaveDropped) return found
    mayHaveDropped = false
    for (const slot of ledger.ordered()) {
      if (cached(slot)) continue
      const cause = droppedCause(slot, now)
      if (evictSlot(slot, cause, now)) found[cause === "expired" ? "expired" : "capacity"]++
    }
    return found
  }

  /**
   * The hit path, synchronous: the ledger holds a slot for the id, its time
   * to live is not over and it is active. Then it counts as a hit and becomes
   * the most recently used, and its number is returned; anything else is a
   * miss (`NONE`), for `read` to account and load.
   */
  const hitAt = (sessionId: string): number => {
    const n = ledger.find(sessionId)
    if (n === NONE) return NONE
    const now = clock.currentTimeMillisUnsafe()
    if (now >= ledger.expiresAt(n) || now - ledger.lastReadAt(n) >= options.inactiveTtlMs) return NONE
    if (mayHaveDropped) {
      const slot = ledger.slotAt(n)
      reconcile(now)
      if (!ledger.holds(slot)) return NONE
    }
    ledger.hits++
    ledger.touchAt(n, now)
    return n
  }

  const hit = (sessionId: string): Slot | undefined => {
    const n = hitAt(sessionId)
    return n === NONE ? undefined : ledger.slotAt(n)
  }

  const hitInfo = (sessionId: string): SessionInfo | undefined => {
    const n = hitAt(sessionId)
    return n === NONE ? undefined : ledger.infoAt(n)
  }

  const read = (sessionId: SessionId): Effect.Effect<Slot, ReadError> =>
    Effect.suspend(() => {
      const slot = hit(sessionId)
      return slot !== undefined ? Effect.succeed(slot) : miss(sessionId)
    })

  const miss = Effect.fnUntraced(function*(sessionId: SessionId) {
    const now = clock.currentTimeMillisUnsafe()
    reconcile(now)
    const held = ledger.get(sessionId)
    if (held !== undefined) evictSlot(held, isInactive(held, now) ? "inactive" : droppedCause(held, now), now)
    yield* hub.flush
    ledger.misses++
    const loaded = yield* Effect.ensuring(Cache.get(cache, sessionId), hub.flush)
    if (ledger.holds(loaded)) {
      ledger.touch(loaded, clock.currentTimeMillisUnsafe())
    } else if (cached(loaded)) {
      // Served to this read, which overlapped its load; but a slot the ledger
      // let go is not kept fresh by writes, so it must not serve a later read.
      uncache(loaded)
    }
    return loaded
  })

  const written = (slot: Slot, next?: ResidentSnapshot): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (next !== undefined) ledger.replace(slot, next)
      const now = clock.currentTimeMillisUnsafe()
      reconcile(now)
      if (!ledger.holds(slot)) return hub.flush
      if (now >= slot.expiresAt) {
        evictSlot(slot, "expired", now)
      } else {
        ledger.touch(slot, now)
        keepBudget(slot, now)
      }
      return hub.flush
    })

  const evict = (sessionId: SessionId, cause: EvictionCause): Effect.Effect<void> =>
    Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      const slot = ledger.get(sessionId)
      if (slot !== undefined) evictSlot(slot, cause, now)
      return hub.flush
    })

  const shed = (keep: number) =>
    Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      // What the Cache let go already is not ours to count as freed.
      reconcile(now)
      const before = ledger.residentBytes
      const target = Math.floor(before * keep)
      let sessions = 0
      for (let slot = ledger.oldest(); slot !== undefined && ledger.residentBytes > target;) {
        const next = ledger.newer(slot)
        if (evictSlot(slot, "pressure", now)) sessions++
        slot = next
      }
      return Effect.as(hub.flush, { sessions, bytes: before - ledger.residentBytes, residentBytes: ledger.residentBytes })
    })

  const sweep: Effect.Effect<SweepReport> = Effect.suspend(() => {
    const now = clock.currentTimeMillisUnsafe()
    const found = reconcile(now)
    let expired = found.expired
    // Load order is deadline order: the expired are at the front.
    for (let slot = ledger.oldestLoad(); slot !== undefined && now >= slot.expiresAt; slot = ledger.oldestLoad()) {
      if (evictSlot(slot, "expired", now)) expired++
    }
    // Least-recently-used order is idle-time order: the inactive are at the front.
    let inactive = 0
    for (let slot = ledger.oldest(); slot !== undefined && isInactive(slot, now); slot = ledger.oldest()) {
      if (evictSlot(slot, "inactive", now)) inactive++
    }
    ledger.sweeps++
    return Effect.as(hub.flush, {
      expired,
      inactive,
      reconciled: found.capacity,
      residentSessions: ledger.residentSessions,
      residentBytes: ledger.residentBytes
    })
  })

  const stats: Effect.Effect<StoreStats> = Effect.suspend(() => {
    reconcile(clock.currentTimeMillisUnsafe())
    return Effect.as(hub.flush, ledger.stats())
  })

  const residents: Effect.Effect<ReadonlyArray<ResidentSession>> = Effect.suspend(() => {
    reconcile(clock.currentTimeMillisUnsafe())
    return Effect.as(hub.flush, ledger.ordered().map((slot) => ({
      id: slot.id,
      windowMessages: slot.snapshot.window.length,
      messageCount: slot.snapshot.messageCount,
      bytes: slot.snapshot.bytes,
      lastRead: ledger.lastReadAt(slot.n),
      expiresAt: slot.expiresAt
    })))
  })

  return {
    hit,
    hitInfo,
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
