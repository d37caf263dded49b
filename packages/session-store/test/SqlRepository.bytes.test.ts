/**
 * The SQL repository's byte figures are computed from the stored pieces
 * (message and part rows, the ids in their own columns), never by encoding
 * the message again; they must equal the UTF-8 length of
 * `JSON.stringify({ info, parts })` exactly, as the store accounts it. Checked
 * on random messages: ids with quotes and non-ASCII characters, any JSON
 * payload, parts with no data of their own, no parts or several, through the window, a page, one message, the
 * session totals and the listing.
 */
import { NodeServices } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Effect, FileSystem } from "effect"
import * as fc from "fast-check"
import { idProblem, type SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { encodeRecord } from "../src/domain/records.ts"
import { makeSessionInfo } from "./fixtures/messages.ts"

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/
const id = fc.tuple(fc.string({ unit: "binary", minLength: 1, maxLength: 12 }), fc.constantFrom("", "\"", "é", "😀", "\"\""))
  .map(([s, extra]) => s + extra)
  .filter((s) => idProblem(s) === undefined && !loneSurrogate.test(s))
const payload = fc.dictionary(
  fc.string({ maxLength: 6 }).filter((k) => !["id", "sessionID", "messageID", "__proto__"].includes(k)),
  fc.jsonValue({ maxDepth: 2 }),
  { maxKeys: 4 }
)

it.effect("sizes from the stored pieces equal JSON.stringify({ info, parts }) exactly", () =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-bytes-" })
    const samples = fc.sample(
      fc.record({
        session: id,
        messages: fc.uniqueArray(
          fc.record({ id, info: payload, parts: fc.uniqueArray(fc.record({ id, data: payload }), { selector: (p) => p.id, maxLength: 3 }) }),
          { selector: (m) => m.id, minLength: 1, maxLength: 6 }
        )
      }).filter(({ messages }) => {
        const partIds = messages.flatMap((m) => m.parts.map((p) => p.id))
        return new Set(partIds).size === partIds.length
      }),
      { numRuns: 40, seed: 20261202 }
    )
    for (const [index, sample] of samples.entries()) {
      const sessionId = `${sample.session}` as SessionId
      const messages: Array<MessageWithParts> = sample.messages.map((m) => ({
        info: { ...m.info, id: m.id, sessionID: sessionId, role: "user", time: { created: 1 } },
        // A part without `type` and an empty payload stores `{}` as its data: the edge of the size formula.
        parts: m.parts.map((p) => ({ ...p.data, id: p.id, sessionID: sessionId, messageID: m.id }))
      }) as unknown as MessageWithParts)
      yield* Effect.gen(function*() {
        const repo = yield* SessionRepository
        const info = makeSessionInfo(sessionId)
        yield* repo.createSession(info)
        for (const message of messages) {
          expect((yield* repo.putMessage(sessionId, message)).bytes).toBe(encodeRecord(message).bytes)
        }
        const expected = messages.map((m) => encodeRecord(m).bytes)
        const loaded = yield* repo.loadSession(sessionId, { newest: 100 })
        expect(loaded.messages.map((m) => m.message)).toStrictEqual(messages)
        expect(loaded.messages.map((m) => m.bytes)).toStrictEqual(expected)
        const total = encodeRecord(info).bytes + expected.reduce((a, b) => a + b, 0)
        expect(loaded.totalBytes).toBe(total)
        expect((yield* repo.pageMessages(sessionId, { limit: 100 })).map((m) => m.bytes)).toStrictEqual(expected)
        expect((yield* repo.getMessage(sessionId, messages[0]!.info.id)).bytes).toBe(expected[0])
        expect((yield* repo.listSessions()).map((s) => s.bytes)).toStrictEqual([total])
      }).pipe(
        Effect.provide(
          SessionRepository.layerSqlite({ filename: `${directory}/${index}.db`, synchronous: "NORMAL", changePollIntervalMs: 0 })
        )
      )
    }
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
