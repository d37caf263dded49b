import { type Clock, Effect } from "effect"
import type { SessionId } from "../domain/Ids.ts"
import { Departures } from "./departures.ts"
import { BATCH, type Ledger } from "./ledger.ts"
import type { EvictionCause, SweepReport } from "./model.ts"

/**
 * Real time one slice of a sweep may take before it yields, in
 * milliseconds. Publishing its events comes on top, so the thread is held
 * for well under a millisecond.
 */
const SLICE_MS = 0.4

/**
 * The `k` departures the ledger's last batch removal left: out of the Cache,
 * and their events into `out`. At module level, like every function the
 * sweep's loop calls: a closure made per sweep would be embedded in the
 * loop's optimized code, which the next full collection then throws away.
 */
const departed = (
  ledger: Ledger,
  uncache: (sessionId: SessionId) => void,
  k: number,
  cause: EvictionCause,
  now: number,
  out: Departures
): void => {
  const ids = ledger.departedIds
  const sizes = ledger.departedSizes
  for (let i = 0; i < k; i++) {
    const sessionId = ids[i]!
    uncache(sessionId)
    out.events.push({ _tag: "Evicted", sessionId, cause, bytes: sizes[2 * i]!, messages: sizes[2 * i + 1]!, at: now })
  }
}

/**
 * The sweep: every session past its time to live, or not used for
 * `inactiveTtlMs`, leaves memory. It costs what it evicts, not what is
 * resident: load order is deadline order (every load gets the same time to
 * live), so the expired are at its front; least-recently-used order is idle
 * order, so the inactive are at its front. Each walk stops at the first
 * session that stays.
 *
 * The ledger walks and evicts in batches of `BATCH` (16: the slice's clock
 * is read once a batch, and a reading costs about as much as an eviction;
 * `Ledger.removeIdle`,
 * `removeExpired`): it reads one row a session to find them and, to take
 * them out, its own arrays by slot number, never the sessions' objects,
 * which lie anywhere in the heap (one cache miss each was most of what an
 * eviction cost); the LRU list loses its front in one cut a batch.
 *
 * It runs in slices, so a sweep that evicts 10,000 sessions never holds the
 * thread for one long stretch. Each eviction leaves the Cache at once
 * (`uncache`: a load of it in flight, if any), inside the slice's time. The slice's
 * events are published (`settle`) before the fiber yields to the event
 * loop. A slice ends when
 * `SLICE_MS` of real time has passed, read from `performance.now()` rather
 * than the store's `Clock`: the budget is the thread's, and under `TestClock`
 * or a virtual clock the store's time does not pass within a slice. Which
 * sessions leave is the store's time alone: each slice reads the store's
 * clock again and resumes at the fronts as they are then (reads and writes
 * in between may have moved sessions to the back); load order is walked with
 * one iterator for the whole sweep, so the entries already removed from its
 * front are not walked over again.
 */
export const makeSweep = (
  ledger: Ledger,
  clock: Clock.Clock,
  inactiveTtlMs: number,
  uncache: (sessionId: SessionId) => void,
  settle: (out: Departures) => Effect.Effect<void>
): Effect.Effect<SweepReport> =>
  Effect.suspend(() => {
    const loadOrder = ledger.loadOrder()
    let expired = 0
    let inactive = 0
    let expiredDone = false

    /** Evicts into `out` until the fronts hold no one to evict (false) or the slice's time is up (true). */
    const slice = (out: Departures): boolean => {
      const now = clock.currentTimeMillisUnsafe()
      const deadline = performance.now() + SLICE_MS
      while (!expiredDone) {
        const k = ledger.removeExpired(loadOrder, now, "expired")
        departed(ledger, uncache, k, "expired", now, out)
        expired += k
        if (k < BATCH) expiredDone = true
        else if (performance.now() >= deadline) return true
      }
      for (;;) {
        const k = ledger.removeIdle(now, inactiveTtlMs, "inactive")
        departed(ledger, uncache, k, "inactive", now, out)
        inactive += k
        if (k < BATCH) return false
        if (performance.now() >= deadline) return true
      }
    }

    const loop: Effect.Effect<void> = Effect.suspend(() => {
      const out = new Departures()
      return slice(out) ? settle(out).pipe(Effect.andThen(Effect.yieldNow), Effect.andThen(loop)) : settle(out)
    })
    return Effect.map(loop, () => {
      ledger.sweeps++
      return {
        expired,
        inactive,
        residentSessions: ledger.residentSessions,
        residentBytes: ledger.residentBytes
      }
    })
  })
