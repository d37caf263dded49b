import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import { TestClock } from "effect/testing"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { provider } from "../src/config/StoreConfig.ts"
import {
  bytesOf,
  message,
  messageId,
  seed,
  sessionInfo,
  storeLayer
} from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

const W = testOptions.maxMessagesPerSession

describe("SessionStore: operations", () => {
  it.effect("creates, reads, updates and removes a session, keeping unknown fields", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const created = yield* store.createSession({ ...sessionInfo("ses_a"), futureField: { kept: true } })
      assert.strictEqual(created.id, "ses_a")
      const read = yield* store.getSession("ses_a")
      assert.deepStrictEqual(read, created)
      assert.deepStrictEqual(read["futureField"], { kept: true })

      const updated = yield* store.updateSession("ses_a", (info) => ({ ...info, title: "renamed" }))
      assert.strictEqual(updated.title, "renamed")
      assert.strictEqual((yield* store.getSession("ses_a")).title, "renamed")
      const stored = yield* (yield* SessionRepository).loadSession(updated.id, { newest: 0 })
      assert.strictEqual(stored.info.title, "renamed")

      yield* store.removeSession("ses_a")
      const gone = yield* Effect.flip(store.getSession("ses_a"))
      assert.strictEqual(gone._tag, "SessionNotFound")
      assert.strictEqual((yield* store.stats).evictions.removed, 1)
    }).pipe(Effect.provide(storeLayer())))

  it.effect("rejects hostile ids, malformed input and an edit that changes the id", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.createSession(sessionInfo("ses_a"))
      const controls = yield* RepositoryControls

      const badId = yield* Effect.flip(store.getSession("../etc"))
      assert.strictEqual(badId._tag, "InvalidId")
      const badMessageId = yield* Effect.flip(store.getMessage("ses_a", "a/b"))
      assert.strictEqual(badMessageId._tag, "InvalidId")

      const noTitle = yield* Effect.flip(store.createSession({ ...sessionInfo("ses_b"), title: 42 }))
      assert.strictEqual(noTitle._tag, "InvalidInput")
      assert.include(noTitle.message, "title")

      const badMessage = yield* Effect.flip(store.appendMessage("ses_a", { info: { id: "msg_1" }, parts: [] }))
      assert.strictEqual(badMessage._tag, "InvalidInput")
      const elsewhere = yield* Effect.flip(store.appendMessage("ses_a", message("ses_other", "msg_1")))
      assert.strictEqual(elsewhere._tag, "InvalidInput")
      assert.include(elsewhere.message, "belongs to session ses_other")

      const moved = yield* Effect.flip(store.updateSession("ses_a", (info) => ({ ...info, id: "ses_z" as never })))
      assert.strictEqual(moved._tag, "InvalidInput")
      assert.include(moved.message, "changed the id")

      const badLimit = yield* Effect.flip(store.getMessages("ses_a", { limit: -1 }))
      assert.strictEqual(badLimit._tag, "InvalidInput")

      // None of it reached storage as a write.
      assert.strictEqual(controls.calls.putMessage, 0)
      assert.strictEqual(controls.calls.updateSession, 0)
      assert.strictEqual((yield* store.getSession("ses_a")).id, "ses_a")
    }).pipe(Effect.provide(storeLayer())))

  it.effect("appends and reads messages; a put of an existing id replaces it in place", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.createSession(sessionInfo("ses_a"))
      yield* store.getSession("ses_a")
      for (let n = 1; n <= 3; n++) yield* store.appendMessage("ses_a", message("ses_a", messageId(n)))
      yield* store.putMessage("ses_a", message("ses_a", messageId(2), "edited"))
      yield* store.appendMessage("ses_a", message("ses_a", messageId(3), "edited again"))

      const all = yield* store.getMessages("ses_a")
      assert.deepStrictEqual(all.map((m) => m.info.id), [messageId(1), messageId(2), messageId(3)])
      assert.strictEqual(all[1]!.parts[0]!["text"], "edited")
      assert.strictEqual((yield* store.getMessage("ses_a", messageId(3))).parts[0]!["text"], "edited again")

      const stored = yield* (yield* SessionRepository).pageMessages("ses_a" as never, { limit: 10 })
      assert.deepStrictEqual(stored.map((s) => s.message), all)

      yield* store.removeMessage("ses_a", messageId(2))
      assert.deepStrictEqual((yield* store.getMessages("ses_a")).map((m) => m.info.id), [messageId(1), messageId(3)])
      const missing = yield* Effect.flip(store.getMessage("ses_a", messageId(2)))
      assert.strictEqual(missing._tag, "MessageNotFound")
    }).pipe(Effect.provide(storeLayer())))

  it.effect("writes allocate: a created, appended and updated session is resident and its reads are hits", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* store.createSession(sessionInfo("ses_a"))
      for (let n = 1; n <= 7; n++) yield* store.appendMessage("ses_a", message("ses_a", messageId(n)))
      yield* store.updateSession("ses_a", (info) => ({ ...info, title: "warm edit" }))
      assert.strictEqual(controls.calls.putMessage, 7)
      const [resident] = yield* store.residents
      assert.strictEqual(resident!.id, "ses_a")
      assert.strictEqual(resident!.messageCount, 7)
      assert.strictEqual(resident!.windowMessages, W)

      const page = yield* store.getMessages("ses_a", { limit: W })
      assert.deepStrictEqual(page.map((m) => m.info.id), [3, 4, 5, 6, 7].map(messageId))
      assert.strictEqual((yield* store.getSession("ses_a")).title, "warm edit")
      const stats = yield* store.stats
      assert.deepStrictEqual([stats.hits, stats.misses, stats.loads], [2, 0, 0])
    }).pipe(Effect.provide(storeLayer())))

  it.effect("a write to a session that is not resident writes storage first, then loads it once: resident as stored", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* store.createSession(sessionInfo("ses_a"))
      for (let n = 1; n <= 7; n++) yield* store.appendMessage("ses_a", message("ses_a", messageId(n)))
      yield* store.invalidate("ses_a")
      yield* store.appendMessage("ses_a", message("ses_a", messageId(8)))
      assert.strictEqual(controls.calls.putMessage, 8)
      const [resident] = yield* store.residents
      assert.strictEqual(resident!.messageCount, 8)
      assert.strictEqual(resident!.windowMessages, W)
      const page = yield* store.getMessages("ses_a", { limit: W })
      assert.deepStrictEqual(page.map((m) => m.info.id), [4, 5, 6, 7, 8].map(messageId))
      const stats = yield* store.stats
      assert.deepStrictEqual([stats.hits, stats.misses, stats.loads], [1, 0, 1])
    }).pipe(Effect.provide(storeLayer())))

  it.effect("a failed write leaves memory as it was", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 2)
      const before = yield* store.getMessages("ses_1")
      const statsBefore = yield* store.stats

      controls.failing.add("putMessage")
      controls.failing.add("updateSession")
      controls.failing.add("removeMessage")
      const failed = yield* Effect.exit(store.appendMessage("ses_1", message("ses_1", messageId(9))))
      assert.isTrue(Exit.isFailure(failed))
      yield* Effect.flip(store.putMessage("ses_1", message("ses_1", messageId(1), "changed")))
      yield* Effect.flip(store.updateSession("ses_1", (info) => ({ ...info, title: "changed" })))
      yield* Effect.flip(store.removeMessage("ses_1", messageId(1)))

      assert.deepStrictEqual(yield* store.getMessages("ses_1"), before)
      assert.strictEqual((yield* store.getSession("ses_1")).title, "title of ses_1")
      const statsAfter = yield* store.stats
      assert.strictEqual(statsAfter.residentBytes, statsBefore.residentBytes)
      assert.strictEqual(statsAfter.residentMessages, statsBefore.residentMessages)
    }).pipe(Effect.provide(storeLayer())))

  it.effect("resident bytes are the repository's figures for the info and the window", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.createSession(sessionInfo("ses_a"))
      yield* store.getSession("ses_a")
      const messages = [1, 2, 3].map((n) => message("ses_a", messageId(n), "x".repeat(n * 100)))
      for (const m of messages) yield* store.appendMessage("ses_a", m)
      const stats = yield* store.stats
      const expected = bytesOf(yield* store.getSession("ses_a")) + messages.reduce((n, m) => n + bytesOf(m), 0)
      assert.strictEqual(stats.residentBytes, expected)
      assert.strictEqual(stats.residentMessages, 3)
    }).pipe(Effect.provide(storeLayer())))

  it.effect("listSessions and invalidate", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(2, 1)
      assert.deepStrictEqual((yield* store.listSessions()).map((s) => s.id).sort(), ["ses_1", "ses_2"])
      yield* store.getSession("ses_1")
      yield* store.invalidate("ses_1")
      yield* store.invalidate("../not-an-id")
      const stats = yield* store.stats
      assert.strictEqual(stats.residentSessions, 0)
      assert.strictEqual(stats.evictions.invalidated, 1)
      // Storage untouched: it reloads.
      assert.strictEqual((yield* store.getMessages("ses_1")).length, 1)
    }).pipe(Effect.provide(storeLayer())))

  it.effect("stats are exact after a scripted sequence", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(4, 2)
      assert.deepStrictEqual(yield* store.stats, {
        hits: 0,
        misses: 0,
        loads: 0,
        loadFailures: 0,
        evictions: { capacity: 0, budget: 0, expired: 0, inactive: 0, pressure: 0, removed: 0, invalidated: 0, stale: 0 },
        sweeps: 0,
        residentSessions: 0,
        residentMessages: 0,
        residentBytes: 0,
        hitRate: 0
      })
      yield* store.getSession("ses_1") // miss, load
      yield* store.getSession("ses_1") // hit
      yield* store.getMessages("ses_2") // miss, load
      yield* Effect.flip(store.getSession("ses_missing")) // miss, failed load
      yield* store.getMessage("ses_1", messageId(1)) // hit
      yield* store.getSession("ses_3") // miss, load
      yield* store.getSession("ses_4") // miss, load; ses_2 is the least recent: capacity
      yield* store.invalidate("ses_3") // invalidated
      yield* store.getSession("ses_3") // miss, load
      yield* store.sweep
      const stats = yield* store.stats
      const residents = yield* store.residents
      assert.deepStrictEqual(residents.map((r) => r.id), ["ses_1", "ses_4", "ses_3"])
      assert.deepStrictEqual(stats, {
        hits: 2,
        misses: 6,
        loads: 6,
        loadFailures: 1,
        evictions: { capacity: 1, budget: 0, expired: 0, inactive: 0, pressure: 0, removed: 0, invalidated: 1, stale: 0 },
        sweeps: 1,
        residentSessions: 3,
        residentMessages: 6,
        residentBytes: residents.reduce((n, r) => n + r.bytes, 0),
        hitRate: 2 / 8
      })
    }).pipe(Effect.provide(storeLayer())))

  it.effect("layerTest: memory repository, small limits, time under TestClock, repository provided", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const repository = yield* SessionRepository
      yield* store.createSession(sessionInfo("ses_a"))
      for (let n = 1; n <= 7; n++) yield* store.appendMessage("ses_a", message("ses_a", messageId(n)))
      yield* store.getSession("ses_a")
      assert.strictEqual((yield* store.stats).residentMessages, testOptions.maxMessagesPerSession)
      assert.strictEqual((yield* repository.loadSession("ses_a" as never, { newest: 0 })).messageCount, 7)
      yield* TestClock.adjust(testOptions.inactiveTtlMs) // two sweeps; the second finds it idle
      const stats = yield* store.stats
      assert.strictEqual(stats.sweeps, 2)
      assert.strictEqual(stats.evictions.inactive, 1)
    }).pipe(Effect.provide(SessionStore.layerTest)))

  it.effect("SessionStore.layer takes its limits from the ConfigProvider: file, with env over it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(2, 4)
      yield* store.getSession("ses_1")
      yield* store.getSession("ses_2")
      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.capacity, 1) // memory.maxSessions = 1 from the file
      assert.strictEqual(stats.residentMessages, 2) // MEMORY_MAX_MESSAGES_PER_SESSION = 2 from the env
    }).pipe(
      Effect.provide(
        SessionStore.layer.pipe(
          Layer.provideMerge(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerTest())),
          Layer.provide(ConfigProvider.layer(provider({
            file: { memory: { maxSessions: 1, maxMessagesPerSession: 50 } },
            env: { MEMORY_MAX_MESSAGES_PER_SESSION: "2" }
          })))
        )
      )
    ))
})

describe("SessionStore: getSessionIfResident (the synchronous hit path)", () => {
  it.effect("answers a resident session as a hit, exactly as getSession would; undefined, uncounted, otherwise", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      assert.strictEqual(store.getSessionIfResident("ses_a"), undefined)
      yield* store.createSession(sessionInfo("ses_a"))
      const before = yield* store.stats
      assert.deepStrictEqual(store.getSessionIfResident("ses_a"), yield* store.getSession("ses_a"))
      const after = yield* store.stats
      assert.strictEqual(after.hits - before.hits, 2)
      assert.strictEqual(after.misses, before.misses)
      // Inactive: not served from memory, nothing counted; getSession reloads it.
      yield* TestClock.adjust(testOptions.inactiveTtlMs)
      assert.strictEqual(store.getSessionIfResident("ses_a"), undefined)
      assert.strictEqual((yield* store.stats).hits, after.hits)
      assert.strictEqual((yield* store.getSession("ses_a")).id, "ses_a")
      assert.strictEqual(store.getSessionIfResident("../escape"), undefined)
    }).pipe(Effect.provide(SessionStore.layerTest)))
})
