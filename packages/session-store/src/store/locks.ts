import { Effect } from "effect"
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
 * A mutex per session, in a plain `Map` entry that lives while the session
 * is held or waited for, so the map is as large as the number of sessions
 * being written (or loaded) right now, never the number ever written, and
 * nothing is left to release when the store is. The lock is taken
 * synchronously when it is free (every write and every load passes here;
 * a `Semaphore` per key with a counter cost several times as much) and
 * handed to the next waiter, first come first served, when it is released.
 *
 * The lock is taken and its release registered without a gap an
 * interruption could fall into; waiting for it stays interruptible when the
 * caller is, and a waiter interrupted just as the lock was handed to it
 * passes it on.
 */
export const makeSessionLocks: Effect.Effect<SessionLocks> = Effect.sync(() => {
  const locks = new Map<SessionId, { held: boolean; readonly waiters: Array<() => void> }>()
  const release = (sessionId: SessionId, lock: { held: boolean; readonly waiters: Array<() => void> }) => {
    const next = lock.waiters.shift()
    if (next !== undefined) return next()
    lock.held = false
    locks.delete(sessionId)
  }
  return {
    withLock: (sessionId, effect) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          let lock = locks.get(sessionId)
          if (lock === undefined) {
            lock = { held: false, waiters: [] }
            locks.set(sessionId, lock)
          }
          const held = lock
          const run = Effect.ensuring(restore(effect), Effect.sync(() => release(sessionId, held)))
          if (!held.held) {
            held.held = true
            return run
          }
          const handedOver = Effect.callback<void>((resume) => {
            let granted = false
            const grant = () => {
              granted = true
              resume(Effect.void)
            }
            held.waiters.push(grant)
            return Effect.sync(() => {
              if (granted) return release(sessionId, held)
              const index = held.waiters.indexOf(grant)
              if (index >= 0) held.waiters.splice(index, 1)
            })
          })
          return Effect.andThen(restore(handedOver), run)
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

/**
 * A count of the writes in flight (a `Semaphore` of "all" permits did the
 * same at several times the cost per write): `close` stops admitting writes
 * and waits until the count falls to zero.
 */
export const makeWriteGate: Effect.Effect<WriteGate> = Effect.sync(() => {
  let inFlight = 0
  let closed = false
  let idle: (() => void) | undefined
  const leave = Effect.sync(() => {
    if (--inFlight === 0 && idle !== undefined) idle()
  })
  return {
    run: (effect) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          if (closed) return Effect.die(new Error("SessionStore: write after the layer was released"))
          inFlight++
          return Effect.ensuring(restore(effect), leave)
        })
      ),
    close: Effect.suspend(() => {
      closed = true
      return inFlight === 0 ? Effect.void : Effect.callback<void>((resume) => {
        idle = () => resume(Effect.void)
      })
    })
  }
})
