/**
 * The SQLite repository keeps its sessions' totals (message count, bytes) in
 * memory between loads (totalsCache.ts). What it reports must stay what the
 * rows say: after its own appends, replacements, removals and failed writes,
 * and after writes by a process that knows nothing of it (opencode writing
 * its tables directly: new rows, a part rewritten in place, a message
 * deleted). Every figure is checked against the file itself, read on a
 * connection of its own and measured as the store measures a message.
 */
import { NodeServices } from "@effect/platform-node"
import { expect, it } from "@effect/vitest"
import { Effect, Exit, FileSystem } from "effect"
import { DatabaseSync } from "node:sqlite"
import type { MessageId, SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { encodeRecord } from "../src/domain/records.ts"
import { SessionRepository, type SessionRepositoryShape } from "../src/repository/SessionRepository.ts"
import { queryFile } from "./fixtures/opencode/database.ts"
import { makeSessionInfo, realisticConversation, userMessage } from "./fixtures/messages.ts"
import { expectFail } from "./support/exits.ts"

const sessionId = "ses_totals" as SessionId

/** The session's message count and message bytes, from the file's rows (opencode's `{ ...data, id, … }`). */
const fromFile = (filename: string) => {
  const messages = queryFile(filename, "SELECT id, data FROM message WHERE session_id = ?", sessionId).map((row) => ({
    info: { ...JSON.parse(row["data"]), id: row["id"], sessionID: sessionId },
    parts: queryFile(filename, "SELECT id, data FROM part WHERE message_id = ? ORDER BY time_created, id", row["id"])
      .map((part) => ({ ...JSON.parse(part["data"]), id: part["id"], sessionID: sessionId, messageID: row["id"] }))
  }))
  return {
    count: messages.length,
    bytes: messages.reduce((n, m) => n + encodeRecord(m as unknown as MessageWithParts).bytes, 0)
  }
}

const expectTotals = (repo: SessionRepositoryShape, filename: string) =>
  Effect.gen(function*() {
    const loaded = yield* repo.loadSession(sessionId, { newest: 2 })
    expect({ count: loaded.messageCount, bytes: loaded.totalBytes - loaded.infoBytes }).toStrictEqual(fromFile(filename))
  })

it.effect("totals stay those of the rows through the repository's own writes and opencode's direct ones", () =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-totals-" })
    const filename = `${directory}/opencode.db`
    const conversation = realisticConversation(sessionId, 8, 7)
    yield* Effect.gen(function*() {
      const repo = yield* SessionRepository
      yield* repo.createSession(makeSessionInfo(sessionId))
      for (const message of conversation.slice(0, 4)) yield* repo.putMessage(sessionId, message)
      yield* expectTotals(repo, filename) // summed from the rows, then kept

      // Our own writes: an append adjusts the kept totals, a replacement and a removal have them summed again.
      yield* repo.putMessage(sessionId, conversation[4]!)
      yield* expectTotals(repo, filename)
      const replaced = conversation[1]!
      yield* repo.putMessage(sessionId, { ...replaced, parts: [...replaced.parts, ...replaced.parts.map((p) => ({ ...p, id: `${p.id}_more` }))] } as MessageWithParts)
      yield* expectTotals(repo, filename)
      yield* repo.removeMessage(sessionId, conversation[0]!.info.id)
      yield* expectTotals(repo, filename)

      // A write that fails (a part id of another message) leaves nothing of itself in the totals.
      const stolen = conversation[5]!
      const failed = yield* Effect.exit(repo.putMessage(sessionId, {
        ...stolen,
        parts: [{ ...conversation[1]!.parts[0]!, messageID: stolen.info.id }]
      } as MessageWithParts))
      expect(Exit.isFailure(failed)).toBe(true)
      yield* expectTotals(repo, filename)

      // opencode, on a connection of its own: a new message with a part, a part rewritten in place, a deletion.
      const opencode = new DatabaseSync(filename, { timeout: 5000 })
      try {
        opencode.prepare("INSERT INTO message (id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?)")
          .run("msg_oc_1", sessionId, 9e12, 9e12, JSON.stringify({ role: "user", time: { created: 9e12 } }))
        opencode.prepare("INSERT INTO part (id, message_id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?, ?)")
          .run("prt_oc_1", "msg_oc_1", sessionId, 9e12, 9e12, JSON.stringify({ type: "text", text: "from opencode" }))
        yield* expectTotals(repo, filename)
        opencode.prepare("UPDATE part SET data = ? WHERE id = ?")
          .run(JSON.stringify({ type: "text", text: "rewritten by opencode, longer than before: é😀".repeat(20) }), "prt_oc_1")
        yield* expectTotals(repo, filename)
        // Then our append before any load: its transaction sees the foreign commit and does not adjust stale totals.
        opencode.prepare("DELETE FROM message WHERE id = ?").run(conversation[2]!.info.id)
        yield* repo.putMessage(sessionId, userMessage(sessionId, "msg_after_opencode", 9e12 + 1))
        yield* expectTotals(repo, filename)
      } finally {
        opencode.close()
      }
      const listed = (yield* repo.listSessions()).find((s) => s.id === sessionId)!
      const loaded = yield* repo.loadSession(sessionId, { newest: 0 })
      expect({ count: loaded.messageCount, bytes: loaded.totalBytes }).toStrictEqual({ count: listed.messageCount, bytes: listed.bytes })
      expectFail(yield* Effect.exit(repo.getMessage(sessionId, conversation[2]!.info.id as MessageId)), expect.objectContaining({ _tag: "MessageNotFound" }))
    }).pipe(Effect.provide(SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0, synchronous: "NORMAL" })))
  }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
