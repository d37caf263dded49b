/**
 * The behaviour every SessionRepository layer must have, run unchanged against
 * each of them. Byte figures are asserted exactly (encodeRecord), so the store
 * accounts the same sizes whatever the storage.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import type { MessageId, SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import type { SessionInfo } from "../src/domain/Session.ts"
import { SessionRepository, type SessionRepositoryShape, type StoredMessage } from "../src/repository/SessionRepository.ts"
import { encodeRecord } from "../src/domain/records.ts"
import { makeSessionInfo, realisticConversation, seeded, userMessage } from "./fixtures/messages.ts"

const sid = (id: string) => id as SessionId
const mid = (id: string) => id as MessageId
const bytesOf = (value: SessionInfo | MessageWithParts) => encodeRecord(value).bytes
const ids = (messages: ReadonlyArray<{ readonly message: MessageWithParts }>) => messages.map((m) => m.message.info.id)
/** What a stored message says (a repository may hand out a class that decodes on first read). */
const said = (stored: StoredMessage) => ({ id: stored.id, message: stored.message, bytes: stored.bytes })
/** The stored message a repository should hand out for `value`. */
const storedAs = (value: MessageWithParts) => ({ id: value.info.id, message: value, bytes: bytesOf(value) })
const message = (session: string, id: string, body = `body of ${id}`) => userMessage(session, id, 1, body)

/**
 * Registers the contract tests for `layer`. Each test gets a fresh build of
 * the layer (an empty repository).
 */
export const repositoryContract = (name: string, layer: Layer.Layer<SessionRepository, unknown>) => {
  const run = <A, E>(body: (repo: SessionRepositoryShape) => Effect.Effect<A, E>) => () =>
    Effect.gen(function*() {
      return yield* body(yield* SessionRepository)
    }).pipe(Effect.provide(layer))

  /** A session with messages m1..mN (user messages with distinct bodies). */
  const seed = (repo: SessionRepositoryShape, session: string, count: number) =>
    Effect.gen(function*() {
      yield* repo.createSession(makeSessionInfo(session))
      for (let i = 1; i <= count; i++) yield* repo.putMessage(sid(session), message(session, `m${i}`))
    })

  describe(`SessionRepository contract: ${name}`, () => {
    it.effect("creates a session and loads it back, empty, with exact byte figures", run((repo) =>
      Effect.gen(function*() {
        const info = makeSessionInfo("ses_1")
        const written = yield* repo.createSession(info)
        expect(written.bytes).toBe(bytesOf(info))
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 10 })
        expect(loaded.info).toStrictEqual(info)
        expect(loaded).toMatchObject({ infoBytes: bytesOf(info), messages: [], messageCount: 0, totalBytes: bytesOf(info) })
      })))

    it.effect("never overwrites on create", run((repo) =>
      Effect.gen(function*() {
        const original = makeSessionInfo("ses_1", { title: "original" })
        yield* repo.createSession(original)
        const error = yield* Effect.flip(repo.createSession(makeSessionInfo("ses_1", { title: "second" })))
        expect(error._tag).toBe("SessionAlreadyExists")
        expect((yield* repo.loadSession(sid("ses_1"), { newest: 0 })).info.title).toBe("original")
      })))

    it.effect("replaces the info on update, and only of an existing session", run((repo) =>
      Effect.gen(function*() {
        yield* repo.createSession(makeSessionInfo("ses_1"))
        const updated = makeSessionInfo("ses_1", { title: "renamed", time: { created: 1, updated: 99 } })
        expect((yield* repo.updateSession(updated)).bytes).toBe(bytesOf(updated))
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 0 })
        expect(loaded.info).toStrictEqual(updated)
        expect(loaded.infoBytes).toBe(bytesOf(updated))
        const missing = yield* Effect.flip(repo.updateSession(makeSessionInfo("ses_2")))
        expect(missing).toMatchObject({ _tag: "SessionNotFound", sessionId: "ses_2" })
      })))

    it.effect("appends new ids and replaces existing ones in place, keeping order", run((repo) =>
      Effect.gen(function*() {
        yield* seed(repo, "ses_1", 3)
        const replacement = message("ses_1", "m2", "a longer body that replaces the second message")
        expect((yield* repo.putMessage(sid("ses_1"), replacement)).bytes).toBe(bytesOf(replacement))
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 10 })
        expect(ids(loaded.messages)).toStrictEqual(["m1", "m2", "m3"])
        expect(loaded.messages[1]!.message).toStrictEqual(replacement)
        expect(loaded.messageCount).toBe(3)
        yield* repo.putMessage(sid("ses_1"), message("ses_1", "m4"))
        expect(ids((yield* repo.loadSession(sid("ses_1"), { newest: 10 })).messages)).toStrictEqual([
          "m1",
          "m2",
          "m3",
          "m4"
        ])
      })))

    it.effect("a replace stores exactly the new parts: kept ones updated in their new order, dropped ones gone", run((repo) =>
      Effect.gen(function*() {
        yield* repo.createSession(makeSessionInfo("ses_1"))
        const part = (id: string, text: string) => ({ id, sessionID: "ses_1", messageID: "m1", type: "text", text })
        const withParts = (parts: ReadonlyArray<ReturnType<typeof part>>) =>
          ({ ...message("ses_1", "m1"), parts }) as unknown as MessageWithParts
        const first = withParts([part("prt_a", "a"), part("prt_b", "b"), part("prt_c", "c")])
        yield* repo.putMessage(sid("ses_1"), first)
        const reordered = withParts([part("prt_c", "c, longer now"), part("prt_a", "a"), part("prt_d", "new")])
        yield* repo.putMessage(sid("ses_1"), reordered)
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 10 })
        expect(loaded.messages.map((m) => m.message)).toStrictEqual([reordered])
        expect(loaded.totalBytes).toBe(bytesOf(makeSessionInfo("ses_1")) + bytesOf(reordered))
        const bare = withParts([])
        yield* repo.putMessage(sid("ses_1"), bare)
        expect((yield* repo.getMessage(sid("ses_1"), mid("m1"))).message).toStrictEqual(bare)
      })))

    it.effect("a message write says whether it appended or replaced", run((repo) =>
      Effect.gen(function*() {
        yield* repo.createSession(makeSessionInfo("ses_1"))
        const first = yield* repo.putMessage(sid("ses_1"), message("ses_1", "m1"))
        const again = yield* repo.putMessage(sid("ses_1"), message("ses_1", "m1"))
        const second = yield* repo.putMessage(sid("ses_1"), message("ses_1", "m2"))
        expect([first.appended, again.appended, second.appended]).toStrictEqual([true, false, true])
        expect(first.bytes).toBe(bytesOf(message("ses_1", "m1")))
      })))

    it.effect("loads the newest N messages, oldest first, with totals over all", run((repo) =>
      Effect.gen(function*() {
        yield* seed(repo, "ses_1", 5)
        const info = makeSessionInfo("ses_1")
        const all = [1, 2, 3, 4, 5].map((i) => message("ses_1", `m${i}`))
        const total = bytesOf(info) + all.reduce((n, m) => n + bytesOf(m), 0)
        const two = yield* repo.loadSession(sid("ses_1"), { newest: 2 })
        expect(ids(two.messages)).toStrictEqual(["m4", "m5"])
        expect(two.messages.map((m) => m.bytes)).toStrictEqual([bytesOf(all[3]!), bytesOf(all[4]!)])
        expect(two).toMatchObject({ messageCount: 5, totalBytes: total, infoBytes: bytesOf(info) })
        expect((yield* repo.loadSession(sid("ses_1"), { newest: 0 })).messages).toStrictEqual([])
        // A window larger than the session: every message, and the same totals.
        const all50 = yield* repo.loadSession(sid("ses_1"), { newest: 50 })
        expect(ids(all50.messages)).toStrictEqual(["m1", "m2", "m3", "m4", "m5"])
        expect(all50).toMatchObject({ messageCount: 5, totalBytes: total, infoBytes: bytesOf(info) })
        // Exactly as large: still every message and the same totals.
        expect(yield* repo.loadSession(sid("ses_1"), { newest: 5 })).toMatchObject({ messageCount: 5, totalBytes: total })
      })))

    it.effect("gets one message", run((repo) =>
      Effect.gen(function*() {
        yield* seed(repo, "ses_1", 3)
        const got = yield* repo.getMessage(sid("ses_1"), mid("m2"))
        expect(said(got)).toStrictEqual(storedAs(message("ses_1", "m2")))
        expect(yield* Effect.flip(repo.getMessage(sid("ses_1"), mid("nope")))).toMatchObject({
          _tag: "MessageNotFound",
          sessionId: "ses_1",
          messageId: "nope"
        })
      })))

    it.effect("pages older messages: the newest `limit` strictly before `before`", run((repo) =>
      Effect.gen(function*() {
        yield* seed(repo, "ses_1", 6)
        const page = (request: { before?: string; limit: number }) =>
          repo.pageMessages(sid("ses_1"), {
            limit: request.limit,
            ...(request.before === undefined ? {} : { before: mid(request.before) })
          }).pipe(Effect.map(ids))
        expect(yield* page({ limit: 2 })).toStrictEqual(["m5", "m6"])
        expect(yield* page({ before: "m5", limit: 2 })).toStrictEqual(["m3", "m4"])
        expect(yield* page({ before: "m2", limit: 5 })).toStrictEqual(["m1"])
        expect(yield* page({ before: "m1", limit: 5 })).toStrictEqual([])
        expect(yield* page({ limit: 0 })).toStrictEqual([])
        const stored = yield* repo.pageMessages(sid("ses_1"), { before: mid("m3"), limit: 1 })
        expect(stored.map(said)).toStrictEqual([storedAs(message("ses_1", "m2"))])
        expect(yield* Effect.flip(page({ before: "unknown", limit: 2 }))).toMatchObject({
          _tag: "MessageNotFound",
          messageId: "unknown"
        })
      })))

    it.effect("removes a message; putting its id again appends it at the end", run((repo) =>
      Effect.gen(function*() {
        yield* seed(repo, "ses_1", 3)
        yield* repo.removeMessage(sid("ses_1"), mid("m2"))
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 10 })
        expect(ids(loaded.messages)).toStrictEqual(["m1", "m3"])
        expect(loaded.messageCount).toBe(2)
        expect(loaded.totalBytes).toBe(
          bytesOf(makeSessionInfo("ses_1")) + bytesOf(message("ses_1", "m1")) + bytesOf(message("ses_1", "m3"))
        )
        expect((yield* Effect.flip(repo.getMessage(sid("ses_1"), mid("m2"))))._tag).toBe("MessageNotFound")
        expect((yield* Effect.flip(repo.removeMessage(sid("ses_1"), mid("m2"))))._tag).toBe("MessageNotFound")
        yield* repo.putMessage(sid("ses_1"), message("ses_1", "m2"))
        expect(ids((yield* repo.loadSession(sid("ses_1"), { newest: 10 })).messages)).toStrictEqual(["m1", "m3", "m2"])
      })))

    it.effect("removes a session with everything it owns", run((repo) =>
      Effect.gen(function*() {
        yield* seed(repo, "ses_1", 3)
        // Message ids are unique across sessions in opencode's schema, so ses_2 gets its own.
        yield* repo.createSession(makeSessionInfo("ses_2"))
        yield* repo.putMessage(sid("ses_2"), message("ses_2", "n1"))
        yield* repo.removeSession(sid("ses_1"))
        expect((yield* Effect.flip(repo.loadSession(sid("ses_1"), { newest: 1 })))._tag).toBe("SessionNotFound")
        expect((yield* Effect.flip(repo.getMessage(sid("ses_1"), mid("m1"))))._tag).toBe("SessionNotFound")
        expect((yield* Effect.flip(repo.removeSession(sid("ses_1"))))._tag).toBe("SessionNotFound")
        expect((yield* repo.listSessions()).map((s) => s.id)).toStrictEqual(["ses_2"])
        // A new session under the same id starts empty.
        yield* repo.createSession(makeSessionInfo("ses_1"))
        const reborn = yield* repo.loadSession(sid("ses_1"), { newest: 10 })
        expect(reborn.messageCount).toBe(0)
        expect(reborn.messages).toStrictEqual([])
      })))

    it.effect("lists every session, most recently updated first, with counts and bytes", run((repo) =>
      Effect.gen(function*() {
        const infos = [
          makeSessionInfo("ses_a", { time: { created: 1, updated: 30 } }),
          makeSessionInfo("ses_b", { time: { created: 1, updated: 10 } }),
          makeSessionInfo("ses_c", { time: { created: 1, updated: 20 } })
        ]
        for (const info of infos) yield* repo.createSession(info)
        yield* repo.putMessage(sid("ses_b"), message("ses_b", "m1"))
        yield* repo.putMessage(sid("ses_b"), message("ses_b", "m2"))
        yield* repo.putMessage(sid("ses_b"), message("ses_b", "m1", "replaced"))
        const listed = yield* repo.listSessions()
        expect(listed).toStrictEqual([
          { id: "ses_a", title: "Session ses_a", updated: 30, messageCount: 0, bytes: bytesOf(infos[0]!) },
          { id: "ses_c", title: "Session ses_c", updated: 20, messageCount: 0, bytes: bytesOf(infos[2]!) },
          {
            id: "ses_b",
            title: "Session ses_b",
            updated: 10,
            messageCount: 2,
            bytes: bytesOf(infos[1]!) + bytesOf(message("ses_b", "m1", "replaced")) + bytesOf(message("ses_b", "m2"))
          }
        ])
      })))

    it.effect("lists nothing when empty", run((repo) => Effect.map(repo.listSessions(), (l) => expect(l).toStrictEqual([]))))

    it.effect("fails with SessionNotFound on every operation on an unknown session", run((repo) =>
      Effect.gen(function*() {
        const s = sid("ses_missing")
        const operations: ReadonlyArray<Effect.Effect<unknown, { readonly _tag: string }>> = [
          repo.loadSession(s, { newest: 1 }),
          repo.updateSession(makeSessionInfo("ses_missing")),
          repo.putMessage(s, message("ses_missing", "m1")),
          repo.getMessage(s, mid("m1")),
          repo.pageMessages(s, { limit: 1 }),
          repo.removeMessage(s, mid("m1")),
          repo.removeSession(s)
        ]
        for (const operation of operations) {
          // A typed failure: a success or a defect fails the flip itself.
          const error = yield* Effect.flip(operation)
          expect(error).toMatchObject({ _tag: "SessionNotFound", sessionId: "ses_missing" })
        }
      })))

    it.effect("keeps fields it does not know, in info, messages and parts", run((repo) =>
      Effect.gen(function*() {
        const info = makeSessionInfo("ses_1", {
          futureField: { nested: [1, "two", null, { deep: true }] },
          time: { created: 1, updated: 2, archived: 3 }
        })
        const future = {
          info: { id: "m1", sessionID: "ses_1", role: "assistant", time: { created: 1 }, newThing: { a: 1 } },
          parts: [{ id: "p1", sessionID: "ses_1", messageID: "m1", type: "hologram", beam: [1, 2], unicode: "é😀\u2028" }]
        } as unknown as MessageWithParts
        yield* repo.createSession(info)
        yield* repo.putMessage(sid("ses_1"), future)
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 1 })
        expect(loaded.info).toStrictEqual(info)
        expect(said(loaded.messages[0]!)).toStrictEqual(storedAs(future))
        expect(said(yield* repo.getMessage(sid("ses_1"), mid("m1")))).toStrictEqual(storedAs(future))
      })))

    it.effect("hands out copies: changing a loaded value changes nothing stored", run((repo) =>
      Effect.gen(function*() {
        yield* seed(repo, "ses_1", 1)
        const first = yield* repo.loadSession(sid("ses_1"), { newest: 1 })
        ;(first.messages[0]!.message.parts as Array<unknown>).push("mutated")
        ;(first.info as { title: string }).title = "mutated"
        const second = yield* repo.loadSession(sid("ses_1"), { newest: 1 })
        expect(second.messages[0]!.message).toStrictEqual(message("ses_1", "m1"))
        expect(second.info.title).toBe("Session ses_1")
      })))

    it.effect("takes concurrent writes to one session without losing any", run((repo) =>
      Effect.gen(function*() {
        yield* repo.createSession(makeSessionInfo("ses_1"))
        const messages = Array.from({ length: 40 }, (_, i) => message("ses_1", `m${i}`))
        yield* Effect.forEach(messages, (m) => repo.putMessage(sid("ses_1"), m), { concurrency: "unbounded" })
        yield* Effect.forEach(messages.slice(0, 10), (m) => repo.removeMessage(sid("ses_1"), m.info.id), {
          concurrency: "unbounded"
        })
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 100 })
        expect(loaded.messageCount).toBe(30)
        expect(new Set(ids(loaded.messages))).toStrictEqual(new Set(messages.slice(10).map((m) => m.info.id)))
      })))

    it.effect("agrees with a model over a long random sequence of writes", run((repo) =>
      Effect.gen(function*() {
        const random = seeded(7)
        const session = "ses_model"
        yield* repo.createSession(makeSessionInfo(session))
        const model = new Map<string, MessageWithParts>()
        const pool = realisticConversation(session, 30, 3)
        for (let step = 0; step < 300; step++) {
          const pick = pool[Math.floor(random() * pool.length)]!
          if (random() < 0.2 && model.has(pick.info.id)) {
            yield* repo.removeMessage(sid(session), pick.info.id)
            model.delete(pick.info.id)
          } else {
            // a new version of the message (as while streaming): same id, new content
            const version = { ...pick, parts: [...pick.parts, { ...pick.parts[0]!, id: `prt_step_${step}` }] }
            yield* repo.putMessage(sid(session), version)
            model.set(pick.info.id, version)
          }
        }
        const loaded = yield* repo.loadSession(sid(session), { newest: 1000 })
        expect(ids(loaded.messages)).toStrictEqual([...model.keys()])
        expect(loaded.messages.map((m) => m.message)).toStrictEqual([...model.values()])
        expect(loaded.totalBytes).toBe(
          bytesOf(makeSessionInfo(session)) + [...model.values()].reduce((n, m) => n + bytesOf(m), 0)
        )
        const paged = yield* repo.pageMessages(sid(session), { limit: 1000 })
        expect(paged).toStrictEqual(loaded.messages)
      })))
  })
}
