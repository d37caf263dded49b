/**
 * `SessionStore.events`: loads and evictions with their cause, on a bounded
 * sliding PubSub that a slow or absent consumer cannot grow.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Latch, Layer, Logger, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { eventCapacity, type StoreEvent } from "../src/store/StoreEvents.ts"
import { makeEventHub } from "../src/store/eventHub.ts"
import { message, messageId, seed, setHeapReading, storeLayer } from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

/** Runs `events` on a fiber of its own, keeping what arrives; `waitFor(n)` yields until n have. */
const subscribe = Effect.fnUntraced(function*(events: Stream.Stream<StoreEvent>) {
  const seen: Array<StoreEvent> = []
  const fiber = yield* events.pipe(Stream.runForEach((event) => Effect.sync(() => seen.push(event))), Effect.forkChild)
  // Let the fiber start and subscribe before anything is published.
  for (let turn = 0; turn < 10; turn++) yield* Effect.yieldNow
  const waitFor = Effect.fnUntraced(function*(n: number) {
    for (let turn = 0; turn < 10_000 && seen.length < n; turn++) yield* Effect.yieldNow
    assert.isAtLeast(seen.length, n, "events delivered")
  })
  return { seen, fiber, waitFor }
})

const summary = (event: StoreEvent): string =>
  event._tag === "Loaded" ? `Loaded ${event.sessionId}` : `Evicted ${event.sessionId} ${event.cause}`

describe("SessionStore.events", () => {
  it.effect("every way in and out of memory is an event, with its cause, bytes, messages and time", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const { seen, waitFor } = yield* subscribe(store.events)
      yield* seed(3, 2)
      // Written to storage directly: a write through the store would make it resident.
      const repository = yield* SessionRepository
      const [big] = yield* seed(1, 2, "ses_big_")
      yield* repository.putMessage(big!, message(big!, messageId(3), "x".repeat(3_000)) as never)

      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id) // capacity: ses_1
      yield* store.invalidate("ses_2")
      yield* store.removeSession("ses_3")
      yield* store.getSession("ses_1")
      yield* store.getSession("ses_big_1") // over the budget: ses_1
      yield* TestClock.adjust(20_000) // t = 20 s
      yield* store.getSession("ses_big_1") // idle 20 s: inactive, reloaded
      for (let t = 35_000; t <= 80_000; t += 15_000) {
        yield* TestClock.adjust(15_000)
        yield* store.getSession("ses_big_1") // at 80 s its time to live (60 s) is over: expired, reloaded
      }
      yield* setHeapReading(0.9) // pressure

      yield* waitFor(14)
      assert.deepStrictEqual(seen.map(summary), [
        "Loaded ses_1",
        "Loaded ses_2",
        "Loaded ses_3",
        "Evicted ses_1 capacity",
        "Evicted ses_2 invalidated",
        "Evicted ses_3 removed",
        "Loaded ses_1",
        "Loaded ses_big_1",
        "Evicted ses_1 budget",
        "Evicted ses_big_1 inactive",
        "Loaded ses_big_1",
        "Evicted ses_big_1 expired",
        "Loaded ses_big_1",
        "Evicted ses_big_1 pressure"
      ])

      // Each eviction carries what its load brought in, and the time it happened.
      const [loaded, evicted] = [seen[12]!, seen[13]!]
      assert.strictEqual(loaded._tag, "Loaded")
      assert.strictEqual(evicted._tag, "Evicted")
      if (loaded._tag === "Loaded" && evicted._tag === "Evicted") {
        assert.strictEqual(loaded.messages, 3)
        assert.strictEqual(evicted.messages, 3)
        assert.strictEqual(evicted.bytes, loaded.bytes)
        assert.strictEqual(loaded.at, 80_000)
        assert.strictEqual(evicted.at, 80_000)
        assert.isAbove(loaded.bytes, 3_000)
      }
      const evictions = (yield* store.stats).evictions
      for (const cause of Object.keys(evictions) as Array<keyof typeof evictions>) {
        const events = seen.filter((e) => e._tag === "Evicted" && e.cause === cause).length
        assert.strictEqual(events, evictions[cause], cause)
        // `stale` needs a second process writing: SessionStore.coherence.test.ts.
        assert.strictEqual(events, cause === "stale" ? 0 : 1, cause)
      }
    }).pipe(
      // ses_big_1 alone is over the budget: it stays only while it is the session in use.
      Effect.provide(storeLayer({ maxSessions: 2, maxBytes: 3_000, cleanupIntervalMs: 1_000_000_000 })),
      Effect.provide(Logger.layer([]))
    ))

  it.effect("a load's duration is measured on the Clock", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      const { seen, waitFor } = yield* subscribe(store.events)
      yield* seed(1, 4)
      const latch = yield* Latch.make(false)
      controls.held.loadSession = latch
      const reader = yield* Effect.forkChild(store.getMessages("ses_1"))
      yield* TestClock.adjust(250)
      yield* latch.open
      yield* Fiber.join(reader)
      yield* waitFor(1)
      const [loaded] = seen
      assert.deepStrictEqual(loaded, {
        _tag: "Loaded",
        sessionId: "ses_1" as never,
        bytes: (yield* store.residents)[0]!.bytes,
        messages: 4,
        durationMs: 250,
        at: 250
      })
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))

  it.effect("every subscriber gets every event; the streams end when the layer is released", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(storeLayer(), scope)
      const store = Context.get(context, SessionStore)
      const first = yield* subscribe(store.events)
      const second = yield* subscribe(store.events)
      yield* seed(2).pipe(Effect.provideContext(context))
      yield* store.getSession("ses_1")
      yield* store.invalidate("ses_1")
      yield* first.waitFor(2)
      yield* second.waitFor(2)
      assert.deepStrictEqual(first.seen, second.seen)

      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(first.fiber)
      yield* Fiber.join(second.fiber)
      assert.strictEqual(first.seen.length, 2)
    }))
})

describe("SessionStore.events: a slow or absent consumer cannot grow memory", () => {
  it.effect("the hub holds at most eventCapacity events for a subscriber that never reads, after 100 000 of them", () =>
    Effect.gen(function*() {
      const hub = yield* makeEventHub(eventCapacity)
      // Takes the first event and never finishes with it.
      const stuck = yield* subscribe(hub.events.pipe(Stream.tap(() => Effect.never)))
      assert.strictEqual(hub.buffered(), 0)
      for (let batch = 0; batch < 100; batch++) {
        yield* hub.publish(Array.from({ length: 1_000 }, (_, i) => {
          const n = batch * 1_000 + i
          return { _tag: "Evicted", sessionId: `ses_${n}` as never, cause: "capacity", bytes: n, messages: 0, at: n } as const
        }))
        assert.isAtMost(hub.buffered(), eventCapacity)
      }
      assert.isAtMost(hub.buffered(), eventCapacity)
      assert.isAtLeast(hub.buffered(), eventCapacity - 1)
      assert.strictEqual(stuck.seen.length, 0)
    }).pipe(Effect.scoped))

  it.effect("with no subscriber at all, nothing is kept", () =>
    Effect.gen(function*() {
      const hub = yield* makeEventHub(eventCapacity)
      for (let n = 0; n < 10_000; n++) {
        yield* hub.publish([{ _tag: "Evicted", sessionId: "ses_1" as never, cause: "removed", bytes: 1, messages: 0, at: n }])
      }
      assert.strictEqual(hub.buffered(), 0)
    }).pipe(Effect.scoped))

  it.effect("a consumer stalled for thousands of evictions never blocks the store, and resumes with the newest events", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const gate = yield* Latch.make(false)
      // Waits on the gate at its first event: meanwhile it reads nothing.
      const slow = yield* subscribe(store.events.pipe(Stream.tap(() => gate.await)))
      yield* seed(2)
      // maxSessions 1: each read loads one session and evicts the other (2 events).
      for (let n = 0; n < 2_500; n++) yield* store.getSession(n % 2 === 0 ? "ses_1" : "ses_2")
      assert.strictEqual((yield* store.stats).evictions.capacity, 2_499)

      yield* store.invalidate("ses_2") // the last event: ses_2 was read last
      yield* gate.open
      for (let turn = 0; turn < 10_000; turn++) {
        const last = slow.seen.at(-1)
        if (last?._tag === "Evicted" && last.cause === "invalidated") break
        yield* Effect.yieldNow
      }
      // What it took before it stalled (a chunk of a few), then at most the PubSub's capacity of the newest.
      assert.isAtMost(slow.seen.length, eventCapacity + 8)
      assert.isAtLeast(slow.seen.length, eventCapacity)
      assert.deepStrictEqual(slow.seen.slice(-3).map(summary), [
        "Loaded ses_2",
        "Evicted ses_1 capacity",
        "Evicted ses_2 invalidated"
      ])
    }).pipe(Effect.provide(storeLayer({ maxSessions: 1, cleanupIntervalMs: 1_000_000_000 }))))
})
