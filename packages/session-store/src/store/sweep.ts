import { type Clock, Effect } from "effect"
import type { SessionId } from "../domain/Ids.ts"
import { Departures, evictSlot } from "./departures.ts"
import type { Ledger } from "./ledger.ts"
import type { SweepReport } from "./model.ts"

/**
 * Real time one slice of a sweep may take before it yields, in
 * milliseconds. Publishing its events comes on top, so the thread is held
 * for well under a millisecond.
 */
const SLICE_MS = 0.4

/** Evictions between two readings of the slice's clock: a reading costs about as much as an eviction. */
const CHECK_EVERY = 16

/**
 * The sweep: every session past its time to live, or not used for
 * `inactiveTtlMs`, leaves memory. It costs what it evicts, not what is
 * resident: load order is deadline order (every load gets the same time to
 * live), so the expired are at its front; least-recently-used order is idle
 * order, so the inactive are at its front. Each walk stops at the first
 * session that stays.
 *
 * It runs in slices, so a sweep that evicts 10,000 sessions never holds the
 * thread for one long stretch. Each eviction leaves the Cache at once
 * (`uncache`), inside the slice's time: settled afterwards, the Cache's
 * entries of a slice cost from a quarter to four times the slice itself,
 * depending on what else had run since they were last touched. The slice's
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
      let evicted = 0
      while (!expiredDone) {
        const next = loadOrder.next()
        const slot = next.done === true ? undefined : ledger.slotAt(next.value)
        if (slot === undefined || now < slot.expiresAt) {
          expiredDone = true
        } else if (evictSlot(ledger, slot, "expired", now, out, false)) {
          uncache(slot.id)
          expired++
          if (++evicted % CHECK_EVERY === 0 && performance.now() >= deadline) return true
        }
      }
      for (
        let slot = ledger.oldest();
        slot !== undefined && now - ledger.lastReadAt(slot.n) >= inactiveTtlMs;
        slot = ledger.oldest()
      ) {
        if (evictSlot(ledger, slot, "inactive", now, out, false)) {
          uncache(slot.id)
          inactive++
          if (++evicted % CHECK_EVERY === 0 && performance.now() >= deadline) return true
        }
      }
      return false
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
