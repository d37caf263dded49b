import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, FileSystem, Layer } from "effect"
import { TestClock } from "effect/testing"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { message, messageId, sessionInfo } from "./SessionStore.support.ts"

const POLL_MS = 100

/** Two stores, as two processes would have them: each its own connection to one SQLite file. */
const twoStores = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-coherence-" })
  const node = (name: string) =>
    Layer.build(
      SessionStore.layerWith({ ...testOptions, cleanupIntervalMs: 1_000_000_000 }).pipe(
        Layer.orDie,
        Layer.provide(Layer.mergeAll(
          SessionRepository.layerSqlite({ filename: `${directory}/opencode.db`, changePollIntervalMs: POLL_MS }).pipe(
            Layer.orDie
          ),
          MemoryMonitor.layerTest()
        ))
      )
    ).pipe(Effect.map((context) => Context.get(context, SessionStore)), Effect.withSpan(name))
  const a = yield* node("a")
  const b = yield* node("b")
  return { a, b }
})

/** The poll found the change; its evictions run on the store's own fiber, a few scheduler turns later. */
const staleEvictions = (store: SessionStore["Service"], atLeast: number) =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 1_000 && (yield* store.stats).evictions.stale < atLeast; turn++) yield* Effect.yieldNow
    return (yield* store.stats).evictions.stale
  })

describe("SessionStore: another process's writes to the same SQLite file", () => {
  it.effect("reach this store's memory within one poll interval: the stale copy leaves, the next read has the write", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoStores
      yield* a.createSession(sessionInfo("ses_1"))
      yield* a.appendMessage("ses_1", message("ses_1", messageId(1)))
      assert.strictEqual((yield* b.getMessages("ses_1")).length, 1) // b holds it now
      assert.strictEqual((yield* b.stats).residentSessions, 1)

      yield* a.appendMessage("ses_1", message("ses_1", messageId(2)))
      yield* a.updateSession("ses_1", (info) => ({ ...info, title: "renamed on a" }))
      // Before b's next poll its copy may be stale; one interval later it is gone.
      yield* TestClock.adjust(POLL_MS)
      assert.strictEqual(yield* staleEvictions(b, 1), 1)
      assert.deepStrictEqual((yield* b.getMessages("ses_1")).map((m) => m.info.id), [messageId(1), messageId(2)])
      assert.strictEqual((yield* b.getSession("ses_1")).title, "renamed on a")
      // a's own writes never made a's copy stale.
      assert.strictEqual((yield* a.stats).evictions.stale, 0)

      yield* b.removeSession("ses_1")
      yield* TestClock.adjust(POLL_MS)
      assert.strictEqual(yield* staleEvictions(a, 1), 1)
      const missing = yield* Effect.flip(a.getSession("ses_1"))
      assert.strictEqual(missing._tag, "SessionNotFound")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("both stores' concurrent appends to one session all land, in one order both read", () =>
    Effect.gen(function*() {
      const { a, b } = yield* twoStores
      yield* a.createSession(sessionInfo("ses_1"))
      const ids = Array.from({ length: 200 }, (_, n) => messageId(n + 1))
      yield* Effect.forEach(
        ids,
        (id, n) => (n % 2 === 0 ? a : b).appendMessage("ses_1", message("ses_1", id)),
        { concurrency: 8, discard: true }
      )
      yield* TestClock.adjust(POLL_MS)
      assert.isAtLeast(yield* staleEvictions(a, 1), 1)
      assert.isAtLeast(yield* staleEvictions(b, 1), 1)
      const onA = (yield* a.getMessages("ses_1")).map((m) => m.info.id)
      const onB = (yield* b.getMessages("ses_1")).map((m) => m.info.id)
      assert.strictEqual(onA.length, ids.length)
      assert.deepStrictEqual(new Set(onA), new Set(ids))
      assert.deepStrictEqual(onB, onA)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
