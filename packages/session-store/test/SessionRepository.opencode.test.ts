/**
 * The SQL repository on opencode's own database: fixtures built with
 * opencode's DDL and rows in opencode's format (test/fixtures/opencode), read
 * through the repository, written through it, and read back straight from
 * the file as opencode would. The expected values are typed with
 * `@opencode-ai/sdk` (v2), so what the repository reads and writes has
 * opencode's shapes.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import type { Message, Part, Session } from "@opencode-ai/sdk/v2"
import { Effect, FileSystem } from "effect"
import { DatabaseSync } from "node:sqlite"
import type { MessageId, SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import type { SessionInfo } from "../src/domain/Session.ts"
import { SessionRepository, type SessionRepositoryShape } from "../src/repository/SessionRepository.ts"
import { encodeRecord } from "../src/domain/records.ts"
import {
  buildOpencodeDatabase,
  childMessages,
  childSession,
  OPENCODE_DDL,
  PROJECT_ID,
  queryFile,
  rootMessages,
  rootSession,
  schemaOf
} from "./fixtures/opencode/database.ts"
import { expectFail } from "./support/exits.ts"

const sid = (id: string) => id as SessionId
const mid = (id: string) => id as MessageId
const asInfo = (session: Session) => session as unknown as SessionInfo
const asMessage = (message: { readonly info: Message; readonly parts: ReadonlyArray<Part> }) =>
  message as unknown as MessageWithParts

const tempFile = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-opencode-" })
  return `${directory}/opencode.db`
})

/** Opens the repository on `filename`, runs `body`, closes it (every call is a fresh process's view). */
const withRepository = <A, E>(filename: string, body: (repo: SessionRepositoryShape) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* body(yield* SessionRepository)
  }).pipe(
    Effect.provide(SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0 }))
  )

const opencodeTables = (schema: Record<string, string | null>) =>
  Object.fromEntries(Object.entries(schema).filter(([name]) => !name.includes("session_store") && name !== "sqlite_sequence"))

/** Messages as opencode rebuilds them from its rows: `{ ...data, id, sessionID }` and parts by (time_created, id). */
const opencodeMessages = (filename: string, sessionId: string) =>
  queryFile(filename, "SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created, id", sessionId).map(
    (row) => ({
      info: { ...JSON.parse(row["data"]), id: row["id"], sessionID: sessionId },
      parts: queryFile(filename, "SELECT id, data FROM part WHERE message_id = ? ORDER BY time_created, id", row["id"])
        .map((part) => ({ ...JSON.parse(part["data"]), id: part["id"], sessionID: sessionId, messageID: row["id"] }))
    })
  )

const columnsOf = (filename: string, table: string) =>
  queryFile(filename, `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info('${table}') ORDER BY cid`)

describe("SQL repository on opencode's database", () => {
  it.effect("reads opencode's sessions (with a parent), messages and parts as opencode's shapes, with exact sizes", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      buildOpencodeDatabase(filename)
      yield* withRepository(filename, (repo) =>
        Effect.gen(function*() {
          const root = yield* repo.loadSession(sid(rootSession.id), { newest: 10 })
          expect(root.info).toStrictEqual(rootSession)
          expect(root.messages.map((m) => m.message)).toStrictEqual(rootMessages)
          expect(root.messages.map((m) => m.bytes)).toStrictEqual(rootMessages.map((m) => encodeRecord(asMessage(m)).bytes))
          expect(root.infoBytes).toBe(encodeRecord(asInfo(rootSession)).bytes)
          expect(root.messageCount).toBe(2)
          expect(root.totalBytes).toBe(
            encodeRecord(asInfo(rootSession)).bytes +
              rootMessages.reduce((n, m) => n + encodeRecord(asMessage(m)).bytes, 0)
          )

          const child = yield* repo.loadSession(sid(childSession.id), { newest: 10 })
          expect(child.info).toStrictEqual(childSession)
          expect(child.info.parentID).toBe(rootSession.id)
          expect(child.messages.map((m) => m.message)).toStrictEqual(childMessages)

          const newest = yield* repo.loadSession(sid(rootSession.id), { newest: 1 })
          expect(newest.messages.map((m) => m.message)).toStrictEqual([rootMessages[1]])
          const page = yield* repo.pageMessages(sid(rootSession.id), { before: mid(rootMessages[1]!.info.id), limit: 5 })
          expect(page.map((m) => m.message)).toStrictEqual([rootMessages[0]])
          const one = yield* repo.getMessage(sid(rootSession.id), mid(rootMessages[1]!.info.id))
          expect({ id: one.id, message: one.message, bytes: one.bytes }).toStrictEqual({
            id: rootMessages[1]!.info.id,
            message: rootMessages[1],
            bytes: encodeRecord(asMessage(rootMessages[1]!)).bytes
          })

          const listed = yield* repo.listSessions()
          expect(listed.map((s) => [s.id, s.messageCount, s.bytes])).toStrictEqual([
            [rootSession.id, 2, root.totalBytes],
            [childSession.id, 1, child.totalBytes]
          ])
        }))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("writes what opencode reads: its rows as opencode's toRow makes them, its shapes back", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      buildOpencodeDatabase(filename)
      const before = schemaOf(filename)

      const forked = {
        id: "ses_3f2a1b0c9fff0ForkedSession",
        slug: "calm-heron",
        projectID: PROJECT_ID,
        directory: "/home/dev/app",
        parentID: rootSession.id,
        title: "Raise the CI timeout",
        version: "1.19.3",
        summary: { additions: 1, deletions: 1, files: 1 },
        cost: 0.5,
        tokens: { input: 10, output: 20, reasoning: 30, cache: { read: 40, write: 50 } },
        agent: "build",
        model: { id: "claude-sonnet-4-5", providerID: "anthropic", variant: "high" },
        metadata: { origin: "session-store" },
        time: { created: 1_760_000_100_000, updated: 1_760_000_100_000, archived: 1_760_000_200_000 }
      } satisfies Session
      const reply = {
        info: {
          id: "msg_c0ffee0000009NewAssistantA",
          sessionID: rootSession.id,
          role: "assistant",
          time: { created: 1_760_000_100_100 },
          parentID: rootMessages[1]!.info.id,
          modelID: "claude-sonnet-4-5",
          providerID: "anthropic",
          mode: "build",
          agent: "build",
          path: { cwd: "/home/dev/app", root: "/home/dev/app" },
          cost: 0,
          tokens: { input: 1, output: 2, reasoning: 0, cache: { read: 0, write: 0 } }
        } satisfies Message,
        parts: [
          {
            id: "prt_c0ffee0000019ReplyStepAAAA",
            sessionID: rootSession.id,
            messageID: "msg_c0ffee0000009NewAssistantA",
            type: "step-start"
          },
          {
            id: "prt_c0ffee0000010ReplyTextAAAA",
            sessionID: rootSession.id,
            messageID: "msg_c0ffee0000009NewAssistantA",
            type: "text",
            text: "Raised it to 30 s. 🚀"
          }
        ] satisfies ReadonlyArray<Part>
      }
      const renamed = { ...rootSession, title: "Fix the flaky build (CI timeout)", time: { ...rootSession.time, updated: 1_760_000_100_500 } } satisfies Session

      yield* withRepository(filename, (repo) =>
        Effect.gen(function*() {
          yield* repo.createSession(asInfo(forked))
          yield* repo.putMessage(sid(rootSession.id), asMessage(reply))
          yield* repo.updateSession(asInfo(renamed))
          yield* repo.removeSession(sid(childSession.id))
        }))

      // The session row is the one opencode's toRow writes for that Session.
      const [row] = queryFile(filename, "SELECT * FROM session WHERE id = ?", forked.id)
      expect(row).toMatchObject({
        project_id: PROJECT_ID,
        workspace_id: null,
        parent_id: rootSession.id,
        slug: "calm-heron",
        directory: "/home/dev/app",
        path: null,
        title: "Raise the CI timeout",
        version: "1.19.3",
        share_url: null,
        summary_additions: 1,
        summary_deletions: 1,
        summary_files: 1,
        summary_diffs: null,
        cost: 0.5,
        tokens_input: 10,
        tokens_output: 20,
        tokens_reasoning: 30,
        tokens_cache_read: 40,
        tokens_cache_write: 50,
        revert: null,
        permission: null,
        agent: "build",
        time_created: 1_760_000_100_000,
        time_updated: 1_760_000_100_000,
        time_compacting: null,
        time_archived: 1_760_000_200_000
      })
      expect(JSON.parse(row!["model"])).toStrictEqual(forked.model)
      expect(JSON.parse(row!["metadata"])).toStrictEqual(forked.metadata)
      const [renamedRow] = queryFile(filename, "SELECT title, time_updated, slug, share_url, cost FROM session WHERE id = ?", rootSession.id)
      expect(renamedRow).toStrictEqual({
        title: renamed.title,
        time_updated: renamed.time.updated,
        slug: rootSession.slug,
        share_url: rootSession.share.url,
        cost: rootSession.cost
      })

      // Messages and parts rebuilt from the rows as opencode does: the new reply after the others.
      expect(opencodeMessages(filename, rootSession.id)).toStrictEqual([...rootMessages, reply])
      // The child went with all it owned; nothing else of opencode's schema changed.
      expect(queryFile(filename, "SELECT count(*) AS n FROM message WHERE session_id = ?", childSession.id)).toStrictEqual([{ n: 0 }])
      expect(queryFile(filename, "SELECT count(*) AS n FROM part WHERE session_id = ?", childSession.id)).toStrictEqual([{ n: 0 }])
      expect(opencodeTables(schemaOf(filename))).toStrictEqual(before)

      // And the store reads back what it wrote, as written.
      yield* withRepository(filename, (repo) =>
        Effect.gen(function*() {
          expect((yield* repo.loadSession(sid(forked.id), { newest: 1 })).info).toStrictEqual(forked)
          const root = yield* repo.loadSession(sid(rootSession.id), { newest: 10 })
          expect(root.info).toStrictEqual(renamed)
          expect(root.messages.map((m) => m.message)).toStrictEqual([...rootMessages, reply])
          expectFail(
            yield* Effect.exit(repo.loadSession(sid(childSession.id), { newest: 1 })),
            expect.objectContaining({ _tag: "SessionNotFound" })
          )
        }))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a fresh file gets opencode's four tables, column for column and index for index", () =>
    Effect.gen(function*() {
      const ours = yield* tempFile
      const theirs = `${ours}.opencode`
      yield* withRepository(ours, () => Effect.void)
      buildOpencodeDatabase(theirs)
      for (const table of ["project", "session", "message", "part"]) {
        expect(columnsOf(ours, table)).toStrictEqual(columnsOf(theirs, table))
        const indexes = (file: string) =>
          queryFile(file, `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY name`, table)
            .map((r) => [r["name"], String(r["sql"]).replace(" IF NOT EXISTS", "")])
        expect(indexes(ours)).toStrictEqual(indexes(theirs))
      }
      const own = Object.keys(schemaOf(ours)).filter((name) => name.startsWith("session_store"))
      expect(own.sort()).toStrictEqual([
        "session_store_change",
        "session_store_migrations",
        "session_store_session",
        "session_store_watcher"
      ])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a newer opencode's extra columns are tolerated: ours filled, theirs left to their defaults", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      buildOpencodeDatabase(filename, {
        ddl: `${OPENCODE_DDL}
          ALTER TABLE \`session\` ADD \`time_pinned\` integer;
          ALTER TABLE \`session\` ADD \`visibility\` text DEFAULT 'private' NOT NULL;
          ALTER TABLE \`message\` ADD \`seq\` integer DEFAULT 0 NOT NULL;
          ALTER TABLE \`part\` ADD \`hidden\` integer DEFAULT false NOT NULL;`
      })
      const before = schemaOf(filename)
      const fresh = { ...childSession, id: "ses_3f2a1b0c9fff1NewerColumns", parentID: rootSession.id } satisfies Session
      yield* withRepository(filename, (repo) =>
        Effect.gen(function*() {
          expect((yield* repo.loadSession(sid(rootSession.id), { newest: 10 })).info).toStrictEqual(rootSession)
          yield* repo.createSession(asInfo(fresh))
          yield* repo.putMessage(sid(fresh.id), asMessage({
            info: { ...childMessages[0]!.info, id: "msg_c0ffee0000011NewerColumn", sessionID: fresh.id },
            parts: [{ ...childMessages[0]!.parts[0]!, id: "prt_c0ffee0000011NewerColumn", sessionID: fresh.id, messageID: "msg_c0ffee0000011NewerColumn" }]
          }))
          expect((yield* repo.loadSession(sid(fresh.id), { newest: 10 })).info).toStrictEqual(fresh)
        }))
      expect(queryFile(filename, "SELECT time_pinned, visibility FROM session WHERE id = ?", fresh.id)).toStrictEqual([
        { time_pinned: null, visibility: "private" }
      ])
      expect(queryFile(filename, "SELECT seq FROM message WHERE session_id = ?", fresh.id)).toStrictEqual([{ seq: 0 }])
      expect(queryFile(filename, "SELECT hidden FROM part WHERE session_id = ?", fresh.id)).toStrictEqual([{ hidden: 0 }])
      expect(opencodeTables(schemaOf(filename))).toStrictEqual(before)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("an older opencode.db without the newer session columns: their fields are kept beside, nothing lost", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const older = OPENCODE_DDL.split("\n")
        .filter((line) => !/`(workspace_id|path|metadata|cost|tokens_\w+|agent|model)` /.test(line))
        .filter((line) => !line.includes("session_workspace_idx"))
        .join("\n")
      const db = new DatabaseSync(filename)
      db.exec(older)
      db.close()
      const session = { ...rootSession, id: "ses_3f2a1b0c9fff2OlderSchemaA" } satisfies Session
      yield* withRepository(filename, (repo) => repo.createSession(asInfo(session)))
      yield* withRepository(filename, (repo) =>
        Effect.map(repo.loadSession(sid(session.id), { newest: 0 }), (loaded) => expect(loaded.info).toStrictEqual(session)))
      expect(columnsOf(filename, "session").map((c) => c["name"])).not.toContain("cost")
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a table without a column the store needs fails naming the table and the column, and nothing is touched", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const db = new DatabaseSync(filename)
      db.exec(OPENCODE_DDL.replace("\t`slug` text NOT NULL,\n", "").replace("\t`version` text NOT NULL,\n", ""))
      db.close()
      const before = schemaOf(filename)
      const exit = yield* Effect.exit(withRepository(filename, () => Effect.void))
      expectFail(exit, expect.objectContaining({ _tag: "IncompatibleSchema", table: "session", missingColumns: ["slug", "version"] }))
      expect(schemaOf(filename)).toStrictEqual(before)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
