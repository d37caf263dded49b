/**
 * The byte budget (`maxBytes`) and the message size limit (`maxMessageBytes`).
 * Sizes are the repository's own figures (bytesOf = the JSON record's UTF-8
 * length), so each spec knows exactly what a session weighs.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { bytesOf, message, messageId, residentIds, sessionInfo, sessionOf, storeLayer } from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

// Count limits out of the way: here only bytes decide.
const roomy = { maxSessions: 50, cleanupIntervalMs: 1_000_000_000 }

describe("SessionStore: byte budget", () => {
  const size = 1_000
  const text = "x".repeat(size)
  // What each of ses_1…ses_4 weighs: same id length, same text.
  const weight = bytesOf(sessionInfo("ses_1")) + bytesOf(message("ses_1", messageId(1), text))

  it.effect("over maxBytes, of sessions alike in size and visits the least recently used leave first, cause budget", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      for (const id of ["ses_1", "ses_2", "ses_3", "ses_4"]) assert.strictEqual(yield* sessionOf(id, text), weight)
      const big = yield* sessionOf("ses_big", "x".repeat(size + 500))

      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id) // exactly the budget
      assert.strictEqual((yield* store.stats).residentBytes, 3 * weight)
      yield* store.getSession("ses_1") // a hit: ses_2 is now the least recently used

      yield* store.getSession("ses_4")
      assert.deepStrictEqual(yield* residentIds, ["ses_3", "ses_1", "ses_4"])
      // More than one session's worth: the two least recently used make room.
      yield* store.getSession("ses_big")
      assert.deepStrictEqual(yield* residentIds, ["ses_4", "ses_big"])

      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.budget, 3)
      assert.strictEqual(stats.evictions.capacity, 0)
      assert.strictEqual(stats.residentBytes, weight + big)
      assert.isAtMost(stats.residentBytes, 3 * weight)
    }).pipe(Effect.provide(storeLayer({ ...roomy, maxBytes: 3 * weight }))))

  it.effect("a session larger than the whole budget stays resident alone while in use, then the next one used pushes it out", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      const small = yield* sessionOf("ses_small", "tiny")
      const huge = yield* sessionOf("ses_huge", "x".repeat(10_000))
      yield* store.getSession("ses_small")

      yield* store.getSession("ses_huge")
      assert.deepStrictEqual(yield* residentIds, ["ses_huge"])
      assert.strictEqual((yield* store.stats).residentBytes, huge)
      // Served from memory while it is the session in use: no reload on every read.
      yield* store.getMessages("ses_huge")
      yield* store.appendMessage("ses_huge", message("ses_huge", messageId(2), "more"))
      assert.strictEqual(controls.calls.loadSession, 2)
      assert.deepStrictEqual(yield* residentIds, ["ses_huge"])

      yield* store.getSession("ses_small")
      assert.deepStrictEqual(yield* residentIds, ["ses_small"])
      const stats = yield* store.stats
      assert.strictEqual(stats.residentBytes, small)
      assert.strictEqual(stats.evictions.budget, 2)
    }).pipe(Effect.provide(storeLayer({ ...roomy, maxBytes: 2_000 }))))

  it.effect("a write that grows a session past the budget pushes out the others, never the session written", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* sessionOf("ses_1", text)
      yield* sessionOf("ses_2", text)
      yield* sessionOf("ses_3", text)
      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id)

      // ses_1 is the least recently read, but it is the one being written.
      const grown = message("ses_1", messageId(2), "y".repeat(size))
      yield* store.appendMessage("ses_1", grown)
      assert.deepStrictEqual(yield* residentIds, ["ses_3", "ses_1"])
      yield* store.appendMessage("ses_1", message("ses_1", messageId(3), "z".repeat(2 * size)))
      assert.deepStrictEqual(yield* residentIds, ["ses_1"])
      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.budget, 2)
      assert.isAbove(stats.residentBytes, 3 * weight) // alone, over the budget, as documented

      // What memory serves is what storage holds.
      const stored = yield* (yield* SessionRepository).pageMessages("ses_1" as SessionId, { limit: 10 })
      assert.deepStrictEqual(yield* store.getMessages("ses_1"), stored.map((s) => s.message))
    }).pipe(Effect.provide(storeLayer({ ...roomy, maxBytes: 3 * weight }))))

  it.effect("sessions evicted for the budget read back identical", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const written = new Map<string, Array<MessageWithParts>>()
      for (let s = 1; s <= 6; s++) {
        const id = `ses_${s}`
        yield* store.createSession(sessionInfo(id))
        yield* store.getSession(id)
        const messages: Array<MessageWithParts> = []
        for (let m = 1; m <= 4; m++) {
          messages.push(yield* store.appendMessage(id, message(id, messageId(m), `${id} ${m} ${"é".repeat(300 * m)}`)))
        }
        written.set(id, messages)
      }
      assert.isAbove((yield* store.stats).evictions.budget, 3)
      for (const [id, messages] of written) {
        assert.deepStrictEqual(yield* store.getMessages(id), messages, id)
        assert.strictEqual((yield* store.getSession(id)).title, `title of ${id}`)
      }
    }).pipe(Effect.provide(storeLayer({ ...roomy, maxMessagesPerSession: 10, maxBytes: 8_000 }))))
})

describe("SessionStore: maxMessageBytes", () => {
  const limit = 2_000

  it.effect("a message larger than the limit is refused with InvalidInput naming its size and the limit; nothing is written", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* store.createSession(sessionInfo("ses_a"))
      yield* store.getSession("ses_a")
      const before = yield* store.stats

      const large = message("ses_a", messageId(1), "x".repeat(limit))
      const size = bytesOf(large)
      for (const write of [store.appendMessage, store.putMessage]) {
        const refused = yield* Effect.flip(write("ses_a", large))
        assert.strictEqual(refused._tag, "InvalidInput")
        assert.include(refused.message, `${size} bytes`)
        assert.include(refused.message, `limit of ${limit} bytes`)
        assert.include(refused.message, "memory.maxMessageBytes")
      }
      assert.strictEqual(controls.calls.putMessage, 0)
      assert.deepStrictEqual(yield* store.getMessages("ses_a"), [])
      assert.strictEqual((yield* store.stats).residentBytes, before.residentBytes)
      const stored = yield* (yield* SessionRepository).loadSession("ses_a" as SessionId, { newest: 10 })
      assert.strictEqual(stored.messageCount, 0)
    }).pipe(Effect.provide(storeLayer({ maxMessageBytes: limit }))))

  it.effect("a message of exactly the limit is accepted, one byte more is not", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* store.createSession(sessionInfo("ses_a"))
      const base = bytesOf(message("ses_a", messageId(1), ""))
      const exact = message("ses_a", messageId(1), "x".repeat(limit - base))
      assert.strictEqual(bytesOf(exact), limit)
      yield* store.appendMessage("ses_a", exact)
      const over = message("ses_a", messageId(2), "x".repeat(limit - base + 1))
      assert.strictEqual((yield* Effect.flip(store.appendMessage("ses_a", over)))._tag, "InvalidInput")
      // Measured in UTF-8 bytes, as stored: two-byte characters count twice.
      const accented = message("ses_a", messageId(3), "é".repeat(Math.ceil((limit - base) / 2) + 1))
      assert.strictEqual((yield* Effect.flip(store.appendMessage("ses_a", accented)))._tag, "InvalidInput")
      assert.deepStrictEqual((yield* store.getMessages("ses_a")).map((m) => m.info.id), [messageId(1)])
    }).pipe(Effect.provide(storeLayer({ maxMessageBytes: limit }))))
})
