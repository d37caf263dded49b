import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Latch } from "effect"
import { TestClock } from "effect/testing"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { message, messageId, residentIds, seed, sessionInfo, storeLayer } from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

// Time rules one at a time: a sweep interval long enough never to fire unless a test wants it.
const noSweep = { cleanupIntervalMs: 1_000_000_000 }

// Sessions alike in size and visits (one visit each, read within the visit gap) leave in LRU
// order; where they differ the policy decides (SessionStore.policy.test.ts).
describe("SessionStore: least recently used, among sessions alike", () => {
  it.effect("past maxSessions the least recently read session leaves; a read refreshes it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(5)
      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id)
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_2", "ses_3"])

      yield* store.getSession("ses_1") // hit: ses_1 becomes the most recent
      assert.deepStrictEqual(yield* residentIds, ["ses_2", "ses_3", "ses_1"])

      yield* store.getSession("ses_4") // ses_2 is now the least recent: it goes
      assert.deepStrictEqual(yield* residentIds, ["ses_3", "ses_1", "ses_4"])
      yield* store.getSession("ses_5")
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_4", "ses_5"])

      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.capacity, 2)
      assert.strictEqual(stats.residentSessions, testOptions.maxSessions)
      assert.strictEqual(controls.calls.loadSession, 5)

      // A read of an evicted session loads it again, evicting the next least recent.
      yield* store.getSession("ses_2")
      assert.deepStrictEqual(yield* residentIds, ["ses_4", "ses_5", "ses_2"])
      assert.strictEqual(controls.calls.loadSession, 6)
      assert.strictEqual((yield* store.stats).evictions.capacity, 3)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("every read kind refreshes: getMessage and getMessages count as reads", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(4, 1)
      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id)
      yield* store.getMessage("ses_1", messageId(1))
      yield* store.getMessages("ses_2")
      yield* store.getSession("ses_4")
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_2", "ses_4"])
    }).pipe(Effect.provide(storeLayer(noSweep))))
})

describe("SessionStore: time to live", () => {
  it.effect("a loaded session is reloaded after sessionTtl, however often it is read", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1)
      yield* store.getSession("ses_1")
      // Read every 10 s: never inactive (20 s), but the absolute 60 s still apply.
      for (let t = 10_000; t < testOptions.sessionTtlMs; t += 10_000) {
        yield* TestClock.adjust(10_000)
        yield* store.getSession("ses_1")
      }
      assert.strictEqual(controls.calls.loadSession, 1)
      assert.strictEqual((yield* store.stats).hits, 5)

      yield* TestClock.adjust(10_000) // t = 60 s
      yield* store.getSession("ses_1")
      assert.strictEqual(controls.calls.loadSession, 2)
      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.expired, 1)
      assert.strictEqual(stats.residentSessions, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("writes do not restart the time to live", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1)
      yield* store.getSession("ses_1")
      for (let n = 1; n <= 5; n++) {
        yield* TestClock.adjust(10_000)
        yield* store.appendMessage("ses_1", message("ses_1", messageId(n)))
        yield* store.getSession("ses_1")
      }
      yield* TestClock.adjust(10_000)
      yield* store.getSession("ses_1")
      assert.strictEqual(controls.calls.loadSession, 2)
      assert.strictEqual((yield* store.stats).evictions.expired, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("a failed load is not kept: a session created after a miss appears on the next read", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const missing = yield* Effect.flip(store.getSession("ses_later"))
      assert.strictEqual(missing._tag, "SessionNotFound")
      // Another process (here: straight to storage) creates it.
      yield* (yield* SessionRepository).createSession(sessionInfo("ses_later") as never)
      assert.strictEqual((yield* store.getSession("ses_later")).id, "ses_later")
      const stats = yield* store.stats
      assert.strictEqual(stats.loads, 2)
      assert.strictEqual(stats.loadFailures, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))
})

describe("SessionStore: inactivity", () => {
  it.effect("a session idle for inactiveTtl is never served from memory; it reloads unchanged", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 7)
      const info = yield* store.getSession("ses_1")
      const window = yield* store.getMessages("ses_1", { limit: 5 })

      yield* TestClock.adjust(testOptions.inactiveTtlMs - 1)
      yield* store.getSession("ses_1") // still active: a hit, and the idle clock restarts
      assert.strictEqual(controls.calls.loadSession, 1)

      yield* TestClock.adjust(testOptions.inactiveTtlMs)
      const reread = yield* store.getSession("ses_1")
      assert.strictEqual(controls.calls.loadSession, 2)
      assert.deepStrictEqual(reread, info)
      assert.deepStrictEqual(yield* store.getMessages("ses_1", { limit: 5 }), window)
      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.inactive, 1)
      assert.strictEqual(stats.residentSessions, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("an idle session is dropped by the next sweep, without any read", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(2)
      yield* store.getSession("ses_1")
      yield* TestClock.adjust(10_000)
      yield* store.getSession("ses_2")
      // Sweeps at 10 s, 20 s, 30 s: ses_1 idle 20 s at the second, ses_2 at the third.
      yield* TestClock.adjust(10_000)
      assert.deepStrictEqual(yield* residentIds, ["ses_2"])
      yield* TestClock.adjust(10_000)
      const stats = yield* store.stats
      assert.strictEqual(stats.residentSessions, 0)
      assert.strictEqual(stats.residentBytes, 0)
      assert.strictEqual(stats.evictions.inactive, 2)
      assert.strictEqual(stats.sweeps, 3)
    }).pipe(Effect.provide(storeLayer())))
})

describe("SessionStore: message window", () => {
  it.effect("at most maxMessagesPerSession newest messages stay resident", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(1, 12)
      yield* store.getSession("ses_1")
      const [resident] = yield* store.residents
      assert.strictEqual(resident!.windowMessages, testOptions.maxMessagesPerSession)
      assert.strictEqual(resident!.messageCount, 12)
      for (let n = 13; n <= 20; n++) yield* store.appendMessage("ses_1", message("ses_1", messageId(n)))
      const [after] = yield* store.residents
      assert.strictEqual(after!.windowMessages, testOptions.maxMessagesPerSession)
      assert.strictEqual(after!.messageCount, 20)
      assert.strictEqual((yield* store.stats).residentMessages, testOptions.maxMessagesPerSession)
      assert.deepStrictEqual(
        (yield* store.getMessages("ses_1", { limit: 5 })).map((m) => m.info.id),
        [16, 17, 18, 19, 20].map(messageId)
      )
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("pages inside the window come from memory; older pages from storage, not kept", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 12) // window: msg 8..12
      const ids = (page: ReadonlyArray<{ readonly info: { readonly id: string } }>) => page.map((m) => m.info.id)

      assert.deepStrictEqual(ids(yield* store.getMessages("ses_1", { limit: 5 })), [8, 9, 10, 11, 12].map(messageId))
      assert.deepStrictEqual(
        ids(yield* store.getMessages("ses_1", { limit: 3, before: messageId(12) })),
        [9, 10, 11].map(messageId)
      )
      assert.deepStrictEqual(ids(yield* store.getMessages("ses_1", { limit: 0 })), [])
      assert.strictEqual(controls.calls.pageMessages, 0)
      const before = yield* store.stats

      assert.deepStrictEqual(
        ids(yield* store.getMessages("ses_1", { limit: 3, before: messageId(9) })),
        [6, 7, 8].map(messageId)
      )
      assert.deepStrictEqual(ids(yield* store.getMessages("ses_1", { limit: 6 })), [7, 8, 9, 10, 11, 12].map(messageId))
      assert.deepStrictEqual(
        ids(yield* store.getMessages("ses_1")),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(messageId)
      )
      assert.deepStrictEqual(
        ids(yield* store.getMessages("ses_1", { before: messageId(3) })),
        [1, 2].map(messageId)
      )
      assert.strictEqual((yield* store.getMessage("ses_1", messageId(2))).info.id, messageId(2))
      assert.strictEqual(controls.calls.pageMessages, 4)
      assert.strictEqual(controls.calls.getMessage, 1)

      // Nothing read from storage entered memory.
      const after = yield* store.stats
      assert.strictEqual(after.residentMessages, before.residentMessages)
      assert.strictEqual(after.residentBytes, before.residentBytes)
      assert.strictEqual(controls.calls.loadSession, 1)
      const missing = yield* Effect.flip(store.getMessages("ses_1", { before: "msg_none" }))
      assert.strictEqual(missing._tag, "MessageNotFound")
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("an older message rewritten outside the window stays out of it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 12)
      yield* store.getSession("ses_1")
      const windowBefore = yield* store.getMessages("ses_1", { limit: 5 })
      const bytesBefore = (yield* store.stats).residentBytes

      yield* store.putMessage("ses_1", message("ses_1", messageId(2), "rewritten"))
      // The write itself says it replaced a stored message: no question to storage first.
      assert.strictEqual(controls.calls.getMessage, 0)
      assert.deepStrictEqual(yield* store.getMessages("ses_1", { limit: 5 }), windowBefore)
      assert.strictEqual((yield* store.stats).residentBytes, bytesBefore)
      const [resident] = yield* store.residents
      assert.strictEqual(resident!.messageCount, 12)
      assert.strictEqual((yield* store.getMessage("ses_1", messageId(2))).parts[0]!["text"], "rewritten")

      // A new id goes to the end of the window, again without a question (the one getMessage above
      // was the read of the older message, from storage).
      yield* store.putMessage("ses_1", message("ses_1", messageId(13)))
      assert.strictEqual(controls.calls.getMessage, 1)
      assert.deepStrictEqual(
        (yield* store.getMessages("ses_1", { limit: 5 })).map((m) => m.info.id),
        [9, 10, 11, 12, 13].map(messageId)
      )
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("a window holding every message needs no question to storage", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 2)
      yield* store.getSession("ses_1")
      yield* store.appendMessage("ses_1", message("ses_1", messageId(3)))
      assert.strictEqual(controls.calls.getMessage, 0)
      assert.strictEqual((yield* store.getMessages("ses_1")).length, 3)
      assert.strictEqual(controls.calls.pageMessages, 0)
    }).pipe(Effect.provide(storeLayer(noSweep))))
})

describe("SessionStore: single flight", () => {
  it.effect("many concurrent cold reads of one session share one load", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 3)
      const latch = yield* Latch.make(false)
      controls.held.loadSession = latch
      const readers = yield* Effect.forkChild(
        Effect.all(
          Array.from({ length: 50 }, (_, i) =>
            i % 2 === 0 ? store.getSession("ses_1") : store.getMessages("ses_1", { limit: 2 })),
          { concurrency: "unbounded" }
        )
      )
      yield* Effect.yieldNow
      assert.strictEqual(controls.calls.loadSession, 1)
      yield* latch.open
      const results = yield* Fiber.join(readers)
      assert.strictEqual(results.length, 50)
      assert.strictEqual(controls.calls.loadSession, 1)
      const stats = yield* store.stats
      assert.strictEqual(stats.loads, 1)
      assert.strictEqual(stats.misses, 50)
      assert.strictEqual(stats.hits, 0)
      assert.strictEqual(stats.residentSessions, 1)
      yield* store.getSession("ses_1")
      assert.strictEqual((yield* store.stats).hits, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))
})

describe("SessionStore: a write to a resident session counts as use", () => {
  it.effect("it becomes the most recently used, for the store and for the Cache", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(4, 1)
      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id)
      yield* store.appendMessage("ses_1", message("ses_1", messageId(2)))
      assert.deepStrictEqual(yield* residentIds, ["ses_2", "ses_3", "ses_1"])
      yield* store.updateSession("ses_2", (info) => ({ ...info, title: "renamed" }))
      assert.deepStrictEqual(yield* residentIds, ["ses_3", "ses_1", "ses_2"])
      yield* store.removeMessage("ses_3", messageId(1))
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_2", "ses_3"])
      // The Cache agrees: past capacity it drops ses_1, the least recently used of both.
      yield* store.getSession("ses_4")
      assert.deepStrictEqual(yield* residentIds, ["ses_2", "ses_3", "ses_4"])
      assert.strictEqual((yield* store.stats).evictions.capacity, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("it restarts the inactivity clock, not the time to live", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1)
      yield* store.getSession("ses_1") // t = 0
      for (let n = 1; n <= 2; n++) {
        yield* TestClock.adjust(testOptions.inactiveTtlMs - 1)
        yield* store.appendMessage("ses_1", message("ses_1", messageId(n)))
      }
      yield* TestClock.adjust(testOptions.inactiveTtlMs - 1)
      // t = 59 997 ms: without the writes it would have been inactive since t = 20 s.
      yield* store.getSession("ses_1")
      assert.strictEqual(controls.calls.loadSession, 1)
      assert.strictEqual((yield* store.stats).evictions.inactive, 0)
      const [resident] = yield* store.residents
      assert.strictEqual(resident!.lastRead, 3 * (testOptions.inactiveTtlMs - 1))

      yield* TestClock.adjust(3) // t = 60 s: the time to live, counted from the load, is over
      yield* store.appendMessage("ses_1", message("ses_1", messageId(3)))
      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.expired, 1)
      // The write allocates again: loaded fresh, after storage took the append.
      assert.strictEqual(controls.calls.loadSession, 2)
      assert.strictEqual(stats.residentSessions, 1)
      assert.strictEqual((yield* store.getMessages("ses_1")).length, 3)
    }).pipe(Effect.provide(storeLayer(noSweep))))
})

describe("SessionStore: writes allocate", () => {
  it.effect("LRU order follows writes and reads alike", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.createSession(sessionInfo(id))
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_2", "ses_3"])
      yield* store.appendMessage("ses_1", message("ses_1", messageId(1))) // a write: ses_1 most recent
      yield* store.getSession("ses_2") // a read: ses_2 most recent
      assert.deepStrictEqual(yield* residentIds, ["ses_3", "ses_1", "ses_2"])
      yield* store.createSession(sessionInfo("ses_4")) // capacity: the least recent, ses_3, leaves
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_2", "ses_4"])
      assert.strictEqual((yield* store.stats).evictions.capacity, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("a write that brings a session in keeps maxSessions: the least recent leaves", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(4, 2)
      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id)
      yield* store.appendMessage("ses_4", message("ses_4", messageId(3)))
      assert.strictEqual(controls.calls.loadSession, 4)
      assert.deepStrictEqual(yield* residentIds, ["ses_2", "ses_3", "ses_4"])
      const [, , four] = yield* store.residents
      assert.strictEqual(four!.messageCount, 3)
      assert.strictEqual((yield* store.stats).residentSessions, testOptions.maxSessions)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("a write that brings a session in keeps maxBytes: least recent leave for the budget, the written one stays", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(3, 1)
      for (const id of ["ses_1", "ses_2"]) yield* store.getSession(id)
      yield* store.appendMessage("ses_3", message("ses_3", messageId(2), "x".repeat(2_500)))
      const stats = yield* store.stats
      assert.deepStrictEqual(yield* residentIds, ["ses_3"])
      assert.strictEqual(stats.evictions.budget, 2)
      // Alone over the budget: it stays while it is the session in use.
      assert.isAbove(stats.residentBytes, 2_500)
    }).pipe(Effect.provide(storeLayer({ ...noSweep, maxBytes: 2_500 }))))
})
