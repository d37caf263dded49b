import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Fiber } from "effect"
import { makeVirtualClock } from "../src/internal/virtualClock.ts"

describe("virtual clock", () => {
  it.live("reads virtual time and wakes a sleep only once virtual time has passed its deadline", () =>
    Effect.gen(function*() {
      const virtual = makeVirtualClock(1_000)
      const program = Effect.gen(function*() {
        const before = yield* Clock.currentTimeMillis
        yield* Effect.sleep("1 minute")
        return [before, yield* Clock.currentTimeMillis]
      }).pipe(Effect.provideService(Clock.Clock, virtual.clock))
      const fiber = yield* Effect.forkChild(program)
      yield* Effect.yieldNow
      expect(virtual.sleeping()).toBe(1)
      virtual.set(31_000)
      yield* Effect.yieldNow
      expect(fiber.pollUnsafe()).toBeUndefined()
      // A three-hour jump wakes it once, at the new time.
      virtual.set(1_000 + 3 * 3_600_000)
      expect(yield* Fiber.join(fiber)).toStrictEqual([1_000, 1_000 + 3 * 3_600_000])
      expect(virtual.sleeping()).toBe(0)
    }))

  it.live("never goes backwards, and forgets an interrupted sleep", () =>
    Effect.gen(function*() {
      const virtual = makeVirtualClock(5_000)
      virtual.set(4_000)
      expect(virtual.now()).toBe(5_000)
      const fiber = yield* Effect.forkChild(Effect.sleep("1 hour").pipe(Effect.provideService(Clock.Clock, virtual.clock)))
      yield* Effect.yieldNow
      expect(virtual.sleeping()).toBe(1)
      yield* Fiber.interrupt(fiber)
      expect(virtual.sleeping()).toBe(0)
    }))
})
