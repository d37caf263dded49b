/**
 * "opencode today", the soak's third run: its writes land in SQLite as opencode
 * stores them, so the store's own SQL repository reads them back (the same
 * file, opened afterwards), and a replace upserts the message and its parts.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import type { SessionId } from "@session-store/core/Ids"
import type { MessageWithParts } from "@session-store/core/Message"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore } from "@session-store/core/SessionStore"
import { Effect, FileSystem } from "effect"
import { layerOpencodeToday } from "../src/baseline.ts"

const info = {
  id: "ses_today",
  projectID: "prj_today",
  directory: "/home/dev/app",
  title: "today",
  version: "1.0.0",
  time: { created: 1_700_000_000_000, updated: 1_700_000_000_000 }
}
const message = (id: string, created: number, text: string) =>
  ({
    info: { id, sessionID: "ses_today", role: "user", time: { created } },
    parts: [{ id: `prt_${id}`, sessionID: "ses_today", messageID: id, type: "text", text }]
  }) as unknown as MessageWithParts

describe("opencode today", () => {
  for (const synchronous of ["NORMAL", "FULL"] as const) {
    it.effect(`writes opencode's rows (synchronous ${synchronous}): the SQL repository reads them back`, () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-today-test-" })}/opencode.db`
        yield* Effect.gen(function*() {
          const today = yield* SessionStore
          yield* today.createSession(info)
          yield* today.appendMessage("ses_today", message("m1", 1, "first"))
          yield* today.appendMessage("ses_today", message("m2", 2, "second"))
          yield* today.putMessage("ses_today", message("m1", 1, "first, edited"))
        }).pipe(Effect.provide(layerOpencodeToday(filename, { synchronous })))
        const loaded = yield* Effect.gen(function*() {
          const repo = yield* SessionRepository
          return yield* repo.loadSession("ses_today" as SessionId, { newest: 10 })
        }).pipe(Effect.provide(SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0 })))
        expect(loaded.info).toMatchObject({ id: "ses_today", title: "today", directory: "/home/dev/app" })
        expect(loaded.messages.map((m) => m.message)).toStrictEqual([
          message("m1", 1, "first, edited"),
          message("m2", 2, "second")
        ])
      }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
  }
})
