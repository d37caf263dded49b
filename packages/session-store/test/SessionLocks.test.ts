/**
 * The per-session locks and the write gate, on their own: one holder per
 * session at a time, first come first served, different sessions in
 * parallel, a waiter interrupted before or just as the lock reaches it leaves
 * the lock usable, and the map of locks is empty once nobody holds one; the
 * gate waits for the writes in flight and refuses new ones once closed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Fiber } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import { makeSessionLocks, makeWriteGate } from "../src/store/locks.ts"

const ses = (id: string) => id as SessionId

describe("SessionLocks", () => {
  it.effect("runs the holders of one session one at a time, in the order they came", () =>
    Effect.gen(function*() {
      const locks = yield* makeSessionLocks
      const order: Array<string> = []
      let inside = 0
      let most = 0
      const holder = (name: string) =>
        locks.withLock(
          ses("ses_1"),
          Effect.gen(function*() {
            inside++
            most = Math.max(most, inside)
            order.push(`${name}+`)
            yield* Effect.yieldNow
            yield* Effect.yieldNow
            order.push(`${name}-`)
            inside--
          })
        )
      const fibers = []
      for (const name of ["a", "b", "c", "d"]) fibers.push(yield* Effect.forkChild(holder(name), { startImmediately: true }))
      yield* Fiber.joinAll(fibers)
      assert.strictEqual(most, 1)
      assert.deepStrictEqual(order, ["a+", "a-", "b+", "b-", "c+", "c-", "d+", "d-"])
    }))

  it.effect("lets two sessions be held at once", () =>
    Effect.gen(function*() {
      const locks = yield* makeSessionLocks
      const release = yield* Deferred.make<void>()
      const first = yield* Effect.forkChild(locks.withLock(ses("ses_1"), Deferred.await(release)), { startImmediately: true })
      // Would wait forever if the second session queued behind the first.
      const other = yield* locks.withLock(ses("ses_2"), Effect.succeed("other"))
      assert.strictEqual(other, "other")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
    }))

  it.effect("a waiter interrupted while it waits is skipped, and the next one gets the lock", () =>
    Effect.gen(function*() {
      const locks = yield* makeSessionLocks
      const release = yield* Deferred.make<void>()
      const ran: Array<string> = []
      const holder = yield* Effect.forkChild(locks.withLock(ses("ses_1"), Deferred.await(release)), { startImmediately: true })
      const skipped = yield* Effect.forkChild(locks.withLock(ses("ses_1"), Effect.sync(() => ran.push("skipped"))), {
        startImmediately: true
      })
      const next = yield* Effect.forkChild(locks.withLock(ses("ses_1"), Effect.sync(() => ran.push("next"))), {
        startImmediately: true
      })
      yield* Fiber.interrupt(skipped)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      yield* Fiber.join(next)
      assert.deepStrictEqual(ran, ["next"])
      assert.deepStrictEqual(yield* locks.withLock(ses("ses_1"), Effect.succeed("free")), "free")
    }))

  it.effect("a holder and the waiter it hands the lock to, interrupted in one step, leave the lock to the next waiter", () =>
    Effect.gen(function*() {
      const locks = yield* makeSessionLocks
      const ran: Array<string> = []
      const holder = yield* Effect.forkChild(locks.withLock(ses("ses_1"), Effect.never), { startImmediately: true })
      const handedTo = yield* Effect.forkChild(locks.withLock(ses("ses_1"), Effect.sync(() => ran.push("interrupted"))), {
        startImmediately: true
      })
      const next = yield* Effect.forkChild(locks.withLock(ses("ses_1"), Effect.sync(() => ran.push("next"))), {
        startImmediately: true
      })
      // In one step: the holder's release hands the lock to the first waiter and that waiter is
      // interrupted, whichever of the two its fiber sees first.
      yield* Effect.sync(() => {
        holder.interruptUnsafe()
        handedTo.interruptUnsafe()
      })
      const interrupted = yield* Fiber.await(handedTo)
      yield* Fiber.join(next)
      // It either ran (it was resumed before the interruption reached it) or left without running.
      assert.strictEqual(Exit.isSuccess(interrupted), ran.includes("interrupted"))
      assert.deepStrictEqual(ran.filter((name) => name === "next"), ["next"])
      assert.deepStrictEqual(yield* locks.withLock(ses("ses_1"), Effect.succeed("free")), "free")
    }))

  it.effect("a holder that fails or dies releases the lock", () =>
    Effect.gen(function*() {
      const locks = yield* makeSessionLocks
      const failed = yield* Effect.exit(locks.withLock(ses("ses_1"), Effect.fail("boom")))
      const died = yield* Effect.exit(locks.withLock(ses("ses_1"), Effect.die("bang")))
      assert.isTrue(Exit.isFailure(failed))
      assert.isTrue(Exit.isFailure(died))
      assert.deepStrictEqual(yield* locks.withLock(ses("ses_1"), Effect.succeed("free")), "free")
    }))
})

describe("WriteGate", () => {
  it.effect("close waits for the writes in flight, then refuses new ones", () =>
    Effect.gen(function*() {
      const gate = yield* makeWriteGate
      const release = yield* Deferred.make<void>()
      let finished = false
      const write = yield* Effect.forkChild(
        gate.run(Effect.andThen(Deferred.await(release), Effect.sync(() => (finished = true)))),
        { startImmediately: true }
      )
      const closing = yield* Effect.forkChild(gate.close, { startImmediately: true })
      yield* Effect.yieldNow
      assert.isUndefined(closing.pollUnsafe(), "close returned while a write was in flight")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(write)
      yield* Fiber.join(closing)
      assert.isTrue(finished)
      const late = yield* Effect.exit(gate.run(Effect.void))
      assert.isTrue(Exit.hasDies(late))
    }))

  it.effect("close returns at once when nothing is in flight", () =>
    Effect.gen(function*() {
      const gate = yield* makeWriteGate
      yield* gate.run(Effect.void)
      yield* gate.close
    }))
})
