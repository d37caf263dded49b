import { Effect, Semaphore } from "effect"
import type { SessionId } from "../domain/Ids.ts"

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
 * Keyed semaphores, each counted by the fibers holding or waiting for it and
 * dropped with the last one, so the map is as large as the number of sessions
 * being written (or loaded) right now, never the number ever written, and
 * nothing is left to release when the store is. (An `RcMap` does the same
 * with a scope per acquisition and a fiber per first one; this is a plain
 * `Map` and a counter, on the path of every write and every load.)
 *
 * The count is taken and its release registered without a gap an
 * interruption could fall into; waiting for the permit stays interruptible
 * when the caller is.
 */
export const makeSessionLocks: Effect.Effect<SessionLocks> = Effect.sync(() => {
  const locks = new Map<SessionId, { readonly semaphore: Semaphore.Semaphore; users: number }>()
  return {
    withLock: (sessionId, effect) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          let lock = locks.get(sessionId)
          if (lock === undefined) {
            lock = { semaphore: Semaphore.makeUnsafe(1), users: 0 }
            locks.set(sessionId, lock)
          }
          lock.users++
          const held = lock
          return Effect.ensuring(
            restore(held.semaphore.withPermit(effect)),
            Effect.sync(() => {
              if (--held.users === 0) locks.delete(sessionId)
            })
          )
        })
      )
  }
})

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
