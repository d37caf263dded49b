import { Effect, RcMap, type Scope, Semaphore } from "effect"
import type { SessionId } from "../Ids.ts"

/**
 * One lock per session, so writes to a session run one at a time (no lost
 * update when two fibers append at once) while different sessions proceed in
 * parallel. Loads take the same lock: a load then never overlaps a write to
 * its session, so what it puts in memory is never older than what storage
 * acknowledged.
 */
export interface SessionLocks {
  readonly withLock: <A, E, R>(sessionId: SessionId, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/**
 * Keyed semaphores in an `RcMap`: a session's semaphore exists while some
 * fiber holds or waits for it and is released with the last one (idle time to
 * live zero), so the map is as large as the number of sessions being written
 * right now, never the number ever written, and no timer is left behind.
 */
export const makeSessionLocks: Effect.Effect<SessionLocks, never, Scope.Scope> = Effect.map(
  RcMap.make({ lookup: (_: SessionId) => Semaphore.make(1) }),
  (semaphores) => ({
    withLock: (sessionId, effect) =>
      Effect.scoped(Effect.flatMap(RcMap.get(semaphores, sessionId), (semaphore) => semaphore.withPermit(effect)))
  })
)

/**
 * The store-wide gate every write passes through, so releasing the layer can
 * wait for the writes in flight: `close` stops admitting writes, then takes
 * every permit, which it gets only when the last write has finished.
 */
export interface WriteGate {
  /** Runs a write; a write attempted after `close` is a defect (the layer was released). */
  readonly run: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly close: Effect.Effect<void>
}

const ALL = Number.MAX_SAFE_INTEGER

export const makeWriteGate: Effect.Effect<WriteGate> = Effect.sync(() => {
  const permits = Semaphore.makeUnsafe(ALL)
  let closed = false
  return {
    run: (effect) =>
      Effect.suspend(() =>
        closed ? Effect.die(new Error("SessionStore: write after the layer was released")) : permits.withPermit(effect)
      ),
    close: Effect.suspend(() => {
      closed = true
      return Effect.asVoid(permits.take(ALL))
    })
  }
})
