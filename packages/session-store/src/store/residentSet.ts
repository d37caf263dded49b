import { Cache, Clock, Duration, Effect, Metric, MutableHashMap } from "effect"
import type { ReadError } from "../domain/Errors.ts"
import type { SessionId } from "../domain/Ids.ts"
import type { SessionInfo } from "../domain/Session.ts"
import type { StoreOptions } from "../config/StoreConfig.ts"
import type { SessionRepositoryShape } from "../repository/port.ts"
import { Departures, evictSlot } from "./departures.ts"
import type { EventHub } from "./eventHub.ts"
import { Ledger, NONE, type Slot } from "./ledger.ts"
import type { SessionLocks } from "./locks.ts"
import type { EvictionCause, ResidentSession, StoreStats, SweepReport } from "./model.ts"
import { fromLoaded, type ResidentSnapshot } from "./snapshot.ts"
import { makeSweep } from "./sweep.ts"
import * as StoreMetrics from "./StoreMetrics.ts"

/**
 * The sessions held in memory. Two parts, one authority.
 *
 * The Effect `Cache` loads: a miss goes through `Cache.get`, so concurrent
 * misses of a session share one load. It keeps a load only while it is in
 * flight (a time to live of zero, success or failure): once admitted, the
 * session is the ledger's, whose hit path never asks the Cache. So the
 * Cache holds no entry, fiber and result per resident session, and what
 * leaves memory leaves an almost empty map (a sweep of thousands paid a
 * seventh of its time there). Its capacity is unbounded because it never
 * decides what leaves memory.
 *
 * The ledger decides residency: what stays, in what order (its policy's for
 * capacity and budget, least recently used first under pressure), the byte
 * budget, inactivity, pressure, and why each session left. Every way out of
 * memory goes through `evictSlot` (`departures.ts`), or for the sweep
 * through the ledger's batches, whose departures are then `settle`d: each
 * leaving session is invalidated in the Cache and its event published. So the Cache holds nothing the ledger let go, and a
 * hit is the ledger's alone (one `Map` lookup, the time checks, a move to
 * the most recent end), without touching the Cache.
 *
 * Writes allocate: the session being written is the session in use. A
 * create admits the new session; a write to a session that is not resident
 * loads it first (through the Cache, like a read, but not counted as one);
 * the write then updates the resident snapshot after storage acknowledged.
 * A write counts as a use: it becomes the most recently used and its
 * inactivity clock restarts; its absolute time to live does not.
 *
 * The byte budget: whenever resident bytes grow (a load, a write), the
 * ledger's victims leave (cause `budget`) until the total fits, except
 * the session just loaded or written. That one stays even when it alone
 * exceeds `maxBytes`: it is the session being worked on, and dropping it
 * would reload it on every read.
 *
 * The sweep (`sweep.ts`) drops the expired and the inactive, at a cost of
 * what it evicts rather than of what is resident.
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
  /** `read` for a write about to happen: resident afterwards, but not counted as a read. Outside the session's lock. */
  readonly acquire: (sessionId: SessionId) => Effect.Effect<Slot, ReadError>
  /** The accounted slot of a session, if any, without loading or counting a read. For writes, under the session lock. */
  readonly peek: (sessionId: SessionId) => Slot | undefined
  /** After a create, under the session's lock: the new session becomes resident (info, no messages). */
  readonly created: (info: SessionInfo, infoBytes: number) => Effect.Effect<void>
  /**
   * After a write to a resident session, under its lock: swaps in `next` (when
   * the write changed what memory holds), counts the write as a use, and keeps
   * the budget, never dropping this slot for it. A session past its time to
   * live leaves instead (cause `expired`): the next read loads it again.
   */
  readonly written: (slot: Slot, next?: ResidentSnapshot) => Effect.Effect<void>
  /**
   * Another process wrote to storage and cannot say which sessions: every
   * resident id, to be evicted (cause `stale`); a load already in flight is
   * admitted already expired, so its copy serves only the readers waiting on it.
   */
  readonly staleAll: () => ReadonlyArray<SessionId>
  /**
   * Another process changed this session: its copy leaves at once, without
   * waiting for the session's lock (a stream of this process's writes to it
   * would keep a hit serving the stale copy meanwhile), and a load already in
   * flight is admitted already expired, as with {@link staleAll}.
   */
  readonly stale: (sessionId: SessionId) => Effect.Effect<void>
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
  /** The counters and totals as they stand (for metric reads). */
  readonly ledger: Pick<Ledger, "hits" | "misses" | "loads" | "loadFailures" | "evictions" | "residentSessions" | "residentMessages" | "residentBytes">
}

export const makeResidentSet = Effect.fnUntraced(function*(
  repository: SessionRepositoryShape,
  options: StoreOptions,
  locks: SessionLocks,
  hub: EventHub
) {
  const ledger = new Ledger(options.inactiveTtlMs)
  // The store's time is the Clock of the context its layer is built in (the
  // sweep's too), read synchronously: the hit path needs it without an effect.
  const clock = yield* Clock.Clock
  const window = options.maxMessagesPerSession
  const sessionTtl = Duration.millis(options.sessionTtlMs)
  const sessionTtlMs = Duration.toMillis(sessionTtl)

  // Bumped by `staleAll`: a load that started before it may have read what another process has since changed.
  let changeEpoch = 0

  const isLive = (slot: Slot, now: number): boolean =>
    now < slot.expiresAt && now - ledger.lastReadAt(slot.n) < options.inactiveTtlMs

  const leavingCause = (slot: Slot, now: number): EvictionCause => (now >= slot.expiresAt ? "expired" : "inactive")

  /**
   * Drops a departed session's load in flight from the Cache, if any,
   * synchronously: what `Cache.invalidate` does, without an effect per key
   * (a sweep drops thousands, and an effect per id was a third of its cost).
   */
  const uncache = (sessionId: SessionId): void => {
    MutableHashMap.remove(cache.map, sessionId)
  }

  /** What left the ledger leaves the Cache too, then its events are published. */
  const settle = (out: Departures): Effect.Effect<void> =>
    Effect.suspend(() => {
      for (const id of out.ids) uncache(id)
      return hub.publish(out.events)
    })

  /** After an admission: at most `maxSessions` stay, the ledger's victims leaving first (never `keep`). */
  const keepCapacity = (keep: Slot, now: number, out: Departures): void => {
    for (let slot: Slot | undefined; ledger.residentSessions > options.maxSessions;) {
      if ((slot = ledger.victim(keep, false)) === undefined) break
      evictSlot(ledger, slot, "capacity", now, out)
    }
  }

  /** The ledger's victims leave, never `keep`, until the resident bytes fit the budget. */
  const keepBudget = (keep: Slot, now: number, out: Departures): void => {
    for (let slot: Slot | undefined; ledger.residentBytes > options.maxBytes;) {
      if ((slot = ledger.victim(keep, true, ledger.residentBytes - options.maxBytes)) === undefined) break
      evictSlot(ledger, slot, "budget", now, out)
    }
  }

  const admit = (slot: Slot, now: number, out: Departures): void => {
    ledger.admit(slot, now)
    keepCapacity(slot, now, out)
    keepBudget(slot, now, out)
  }

  // The Cache's lookup. Under the session's lock, so a load never overlaps a
  // write to the same session, and the slot is admitted before the lock is
  // released: a write that follows finds it and updates it.
  const load = Effect.fnUntraced(function*(sessionId: SessionId) {
    const held = ledger.get(sessionId)
    // A write allocated the session while this lookup waited for the lock: that slot is current.
    if (held !== undefined && isLive(held, clock.currentTimeMillisUnsafe())) return held
    const out = new Departures()
    if (held !== undefined) {
      const now = clock.currentTimeMillisUnsafe()
      evictSlot(ledger, held, leavingCause(held, now), now, out, false)
    }
    ledger.loads++
    const epoch = changeEpoch
    const started = yield* Clock.monotonicTimeNanos
    const loaded = yield* repository.loadSession(sessionId, { newest: window }).pipe(
      Effect.tapError(() => Effect.sync(() => ledger.loadFailures++))
    )
    const durationMs = Number((yield* Clock.monotonicTimeNanos) - started) / 1e6
    yield* Metric.update(StoreMetrics.loadDuration, durationMs)
    const now = clock.currentTimeMillisUnsafe()
    const snapshot = fromLoaded(loaded, window)
    const expiresAt = epoch === changeEpoch ? now + sessionTtlMs : now
    const slot: Slot = { id: sessionId, snapshot, expiresAt, n: NONE }
    out.events.push({
      _tag: "Loaded",
      sessionId,
      bytes: snapshot.bytes,
      messages: snapshot.window.length,
      durationMs,
      at: now
    })
    admit(slot, now, out)
    yield* settle(out)
    return slot
  })

  const cache = yield* Cache.makeWith((sessionId: SessionId) => locks.withLock(sessionId, load(sessionId)), {
    capacity: Number.POSITIVE_INFINITY,
    timeToLive: () => Duration.zero
  })

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

  /** Not resident, or resident but expired or inactive: the held slot leaves, then the Cache loads. */
  const miss = Effect.fnUntraced(function*(sessionId: SessionId, isRead: boolean) {
    const now = clock.currentTimeMillisUnsafe()
    const held = ledger.get(sessionId)
    if (held !== undefined) {
      const out = new Departures()
      evictSlot(ledger, held, leavingCause(held, now), now, out)
      yield* settle(out)
    }
    if (isRead) ledger.misses++
    const loaded = yield* Cache.get(cache, sessionId)
    // Evicted meanwhile (another load made room): served to this caller, not kept.
    if (ledger.holds(loaded)) ledger.touch(loaded, clock.currentTimeMillisUnsafe())
    return loaded
  })

  const read = (sessionId: SessionId): Effect.Effect<Slot, ReadError> =>
    Effect.suspend(() => {
      const slot = hit(sessionId)
      return slot !== undefined ? Effect.succeed(slot) : miss(sessionId, true)
    })

  const acquire = (sessionId: SessionId): Effect.Effect<Slot, ReadError> =>
    Effect.suspend(() => {
      const slot = ledger.get(sessionId)
      return slot !== undefined && isLive(slot, clock.currentTimeMillisUnsafe())
        ? Effect.succeed(slot)
        : miss(sessionId, false)
    })

  const created = (info: SessionInfo, infoBytes: number): Effect.Effect<void> =>
    Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      const out = new Departures()
      // A slot of an earlier session of the same id that storage no longer has.
      const held = ledger.get(info.id)
      if (held !== undefined) evictSlot(ledger, held, "invalidated", now, out)
      const snapshot = fromLoaded({ info, infoBytes, messages: [], messageCount: 0, totalBytes: infoBytes }, window)
      const slot: Slot = { id: info.id, snapshot, expiresAt: now + sessionTtlMs, n: NONE }
      admit(slot, now, out)
      // A load of the id still in flight read storage before the create: later misses do not share it.
      out.ids.push(info.id)
      return settle(out)
    })

  const written = (slot: Slot, next?: ResidentSnapshot): Effect.Effect<void> =>
    Effect.suspend(() => {
      if (next !== undefined) ledger.replace(slot, next)
      if (!ledger.holds(slot)) return Effect.void
      const now = clock.currentTimeMillisUnsafe()
      const out = new Departures()
      if (now >= slot.expiresAt) {
        evictSlot(ledger, slot, "expired", now, out)
      } else {
        ledger.touch(slot, now)
        keepBudget(slot, now, out)
      }
      return settle(out)
    })

  const evict = (sessionId: SessionId, cause: EvictionCause): Effect.Effect<void> =>
    Effect.suspend(() => {
      const slot = ledger.get(sessionId)
      if (slot === undefined) return Effect.void
      const out = new Departures()
      evictSlot(ledger, slot, cause, clock.currentTimeMillisUnsafe(), out)
      return settle(out)
    })

  const shed = (keep: number) =>
    Effect.suspend(() => {
      const now = clock.currentTimeMillisUnsafe()
      const out = new Departures()
      const before = ledger.residentBytes
      const target = Math.floor(before * keep)
      let sessions = 0
      for (let slot = ledger.oldest(); slot !== undefined && ledger.residentBytes > target;) {
        const next = ledger.newer(slot)
        if (evictSlot(ledger, slot, "pressure", now, out)) sessions++
        slot = next
      }
      return Effect.as(settle(out), { sessions, bytes: before - ledger.residentBytes, residentBytes: ledger.residentBytes })
    })

  const sweep = makeSweep(ledger, clock, options.inactiveTtlMs, uncache, settle)

  const residents: Effect.Effect<ReadonlyArray<ResidentSession>> = Effect.sync(() =>
    ledger.ordered().map((slot) => ({
      id: slot.id,
      windowMessages: slot.snapshot.window.length,
      messageCount: slot.snapshot.messageCount,
      bytes: slot.snapshot.bytes,
      lastRead: ledger.lastReadAt(slot.n),
      expiresAt: slot.expiresAt
    }))
  )

  return {
    hit,
    hitInfo,
    read,
    acquire,
    peek: (sessionId) => ledger.get(sessionId),
    created,
    written,
    staleAll: () => {
      changeEpoch++
      return ledger.ordered().map((slot) => slot.id)
    },
    stale: (sessionId) =>
      Effect.suspend(() => {
        changeEpoch++
        return evict(sessionId, "stale")
      }),
    evict,
    shed,
    sweep,
    stats: Effect.sync(() => ledger.stats()),
    residents,
    ledger
  } satisfies ResidentSet
})
