import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Latch } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { message, messageId, seed, storeLayer } from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

const W = testOptions.maxMessagesPerSession

/** Memory and storage agree: the resident window is the newest part of what storage holds, byte for byte. */
const assertMemoryMatchesStorage = Effect.fnUntraced(function*(sessionId: string) {
  const store = yield* SessionStore
  const repository = yield* SessionRepository
  const stored = yield* repository.loadSession(sessionId as SessionId, { newest: Number.MAX_SAFE_INTEGER })
  const resident = (yield* store.residents).find((r) => r.id === sessionId)
  assert.isDefined(resident, `${sessionId} should be resident`)
  assert.strictEqual(resident!.messageCount, stored.messageCount)
  const window = stored.messages.slice(-resident!.windowMessages)
  assert.strictEqual(resident!.bytes, stored.infoBytes + window.reduce((n, m) => n + m.bytes, 0))
  // Served from memory (the page fits the window), compared with storage.
  const fromMemory = yield* store.getMessages(sessionId, { limit: resident!.windowMessages })
  assert.deepStrictEqual(fromMemory, window.map((m) => m.message))
  assert.deepStrictEqual(yield* store.getSession(sessionId), stored.info)
})

describe("SessionStore: writes to one session are serialized", () => {
  it.effect("concurrent appends: all stored, none lost, each fiber's order kept", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1)
      yield* store.getSession("ses_1")
      controls.yieldsFirst = 1
      const fibers = 10
      const perFiber = 20
      yield* Effect.all(
        Array.from({ length: fibers }, (_, f) =>
          Effect.forEach(
            Array.from({ length: perFiber }, (_, i) => i),
            (i) => store.appendMessage("ses_1", message("ses_1", `msg_f${f}_${String(i).padStart(3, "0")}`)),
            { discard: true }
          )),
        { concurrency: "unbounded", discard: true }
      )
      const stored = yield* (yield* SessionRepository).pageMessages("ses_1" as SessionId, { limit: 1_000 })
      assert.strictEqual(stored.length, fibers * perFiber)
      for (let f = 0; f < fibers; f++) {
        const mine = stored.map((s) => s.message.info.id as string).filter((id) => id.startsWith(`msg_f${f}_`))
        assert.deepStrictEqual(mine, [...mine].sort(), `fiber ${f} order`)
        assert.strictEqual(mine.length, perFiber)
      }
      assert.strictEqual((yield* store.stats).residentMessages, W)
      yield* assertMemoryMatchesStorage("ses_1")
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))

  it.effect("concurrent updates: no lost update", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(2)
      yield* store.getSession("ses_1") // resident: the edit reads memory; ses_2 is not: it reads storage
      controls.yieldsFirst = 1
      const increment = (id: string) =>
        store.updateSession(id, (info) => ({ ...info, counter: Number(info["counter"] ?? 0) + 1 }))
      yield* Effect.all(
        Array.from({ length: 50 }, (_, i) => increment(i % 2 === 0 ? "ses_1" : "ses_2")),
        { concurrency: "unbounded", discard: true }
      )
      const repository = yield* SessionRepository
      for (const id of ["ses_1", "ses_2"] as const) {
        const stored = yield* repository.loadSession(id as SessionId, { newest: 0 })
        assert.strictEqual(stored.info["counter"], 25, id)
        assert.strictEqual((yield* store.getSession(id))["counter"], 25, id)
      }
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))

  it.effect("concurrent puts of new ids past an incomplete window keep the window exact", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 12)
      yield* store.getSession("ses_1")
      controls.yieldsFirst = 1
      yield* Effect.all(
        Array.from({ length: 20 }, (_, i) => store.putMessage("ses_1", message("ses_1", messageId(100 + i)))),
        { concurrency: "unbounded", discard: true }
      )
      const [resident] = yield* store.residents
      assert.strictEqual(resident!.messageCount, 32)
      yield* assertMemoryMatchesStorage("ses_1")
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))

  it.effect("writes to different sessions run in parallel; a second write to a busy session waits", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(2)
      const latch = yield* Latch.make(false)
      controls.held.putMessage = latch
      controls.heldSessions = new Set(["ses_1"])

      const first = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", messageId(1))))
      yield* Effect.yieldNow
      const second = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", messageId(2))))
      yield* Effect.yieldNow
      assert.strictEqual(controls.calls.putMessage, 1, "the second write to ses_1 waits for the first")

      // ses_2 is not held back by ses_1's lock.
      yield* store.appendMessage("ses_2", message("ses_2", messageId(1)))
      assert.strictEqual(controls.calls.putMessage, 2)
      assert.isUndefined(first.pollUnsafe())

      yield* latch.open
      yield* Fiber.join(first)
      yield* Fiber.join(second)
      assert.deepStrictEqual((yield* store.getMessages("ses_1")).map((m) => m.info.id), [messageId(1), messageId(2)])
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))
})

describe("SessionStore: loads and writes never leave memory older than storage", () => {
  it.effect("a write while a load of its session is in flight reaches the loaded snapshot", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 2)
      const latch = yield* Latch.make(false)
      controls.held.loadSession = latch
      const reader = yield* Effect.forkChild(store.getSession("ses_1"))
      yield* Effect.yieldNow
      const writer = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", messageId(3))))
      yield* Effect.yieldNow
      yield* latch.open
      yield* Fiber.join(reader)
      yield* Fiber.join(writer)
      yield* assertMemoryMatchesStorage("ses_1")
      assert.strictEqual((yield* store.getMessages("ses_1")).length, 3)
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))

  it.effect("a load that starts while a write is in flight waits for it and sees it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 2)
      const latch = yield* Latch.make(false)
      controls.held.putMessage = latch
      const writer = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", messageId(3))))
      yield* Effect.yieldNow
      const reader = yield* Effect.forkChild(store.getMessages("ses_1"))
      yield* Effect.yieldNow
      yield* latch.open
      yield* Fiber.join(writer)
      const seen = yield* Fiber.join(reader)
      assert.strictEqual(seen.length, 3, "the read after the write sees the write")
      yield* assertMemoryMatchesStorage("ses_1")
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))

  it.effect("a write whose caller is interrupted once it reached storage still updates memory", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(1, 2)
      yield* store.getSession("ses_1")
      const latch = yield* Latch.make(false)
      controls.held.putMessage = latch
      const writer = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", messageId(3))))
      yield* Effect.yieldNow
      const interrupter = yield* Effect.forkChild(Fiber.interrupt(writer))
      yield* Effect.yieldNow
      yield* latch.open
      yield* Fiber.join(interrupter)
      yield* assertMemoryMatchesStorage("ses_1")
      assert.strictEqual((yield* store.getMessages("ses_1")).length, 3)
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))
})
