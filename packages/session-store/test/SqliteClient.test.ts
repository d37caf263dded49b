/**
 * The node:sqlite SqlClient and the faults it reports: the connection set-up
 * (WAL, busy timeout, synchronous), transactions, and real failures mapped to
 * RepositoryError with their kind and the SQLite error kept as the cause: a
 * database locked by another connection (BEGIN EXCLUSIVE held), a read-only
 * open, a database at its size limit (max_page_count: SQLite's own
 * SQLITE_FULL), and a file of random bytes.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, FileSystem, Fiber, Layer } from "effect"
import { TestClock } from "effect/testing"
import { SqlClient } from "effect/sql/SqlClient"
import * as NFS from "node:fs"
import { DatabaseSync } from "node:sqlite"
import type { RepositoryError } from "../src/domain/Errors.ts"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import * as SqliteClient from "../src/repository/sql/SqliteClient.ts"
import { makeSessionInfo, userMessage } from "./fixtures/messages.ts"
import { expectDie, expectFail } from "./support/exits.ts"

const tempFile = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-sqlite-client-" })
  return `${directory}/opencode.db`
})

const sid = (id: string) => id as SessionId

/** The repository and its SqlClient on one connection. */
const repositoryOn = (options: SqliteClient.SqliteClientOptions) =>
  SessionRepository.layerSql({ changePollIntervalMs: 0 }).pipe(Layer.provideMerge(SqliteClient.layer(options)))

const withSql = <A, E>(options: SqliteClient.SqliteClientOptions, body: (sql: SqlClient) => Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    return yield* body(yield* SqlClient)
  }).pipe(Effect.provide(SqliteClient.layer(options)))

const expectRepositoryError = (exit: Exit.Exit<unknown, unknown>, fields: Partial<RepositoryError>) => {
  expectFail(exit, expect.objectContaining({ _tag: "RepositoryError", ...fields }))
}

describe("SqliteClient (node:sqlite)", () => {
  it.effect("opens in WAL with the busy timeout and synchronous level asked for, and closes with its scope", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const settings = (options: Partial<SqliteClient.SqliteClientOptions>) =>
        withSql({ filename, ...options }, (sql) =>
          Effect.all([
            sql.unsafe<{ journal_mode: string }>("PRAGMA journal_mode"),
            sql.unsafe<{ timeout: number }>("PRAGMA busy_timeout"),
            sql.unsafe<{ synchronous: number }>("PRAGMA synchronous"),
            sql.unsafe<{ foreign_keys: number }>("PRAGMA foreign_keys")
          ]).pipe(Effect.map((rows) => rows.map((r) => Object.values(r[0]!)[0]))))
      expect(yield* settings({})).toStrictEqual(["wal", 5000, 2, 1])
      expect(yield* settings({ busyTimeoutMs: 250, synchronous: "NORMAL" })).toStrictEqual(["wal", 250, 1, 1])
      // Released: nothing holds the file, so another connection takes an exclusive lock at once.
      const other = new DatabaseSync(filename, { timeout: 0 })
      other.exec("BEGIN EXCLUSIVE")
      other.exec("COMMIT")
      other.close()
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("runs a transaction as one: a failure inside rolls back every statement of it", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* withSql({ filename }, (sql) =>
        Effect.gen(function*() {
          yield* sql`CREATE TABLE t (n integer)`
          const failed = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
            yield* sql`INSERT INTO t (n) VALUES (1)`
            yield* sql`INSERT INTO t (n) VALUES (2)`
            return yield* Effect.fail("boom")
          })))
          expect(Exit.isFailure(failed)).toBe(true)
          yield* sql.withTransaction(sql`INSERT INTO t (n) VALUES (3)`)
          expect((yield* sql`SELECT n FROM t`).map((row) => ({ ...row }))).toStrictEqual([{ n: 3 }])
        }))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a statement cache smaller than the statements in use: each still runs as written", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* withSql({ filename, statementCacheSize: 2 }, (sql) =>
        Effect.gen(function*() {
          for (let round = 0; round < 3; round++) {
            for (let n = 0; n < 5; n++) {
              // Five texts through a cache of two: hits, passes over used entries, evictions.
              const rows = yield* sql.unsafe<{ v: number }>(`SELECT ? + ${n} AS v`, [round])
              expect(rows[0]!.v).toBe(round + n)
              if (n % 2 === 0) expect((yield* sql.unsafe<{ v: number }>("SELECT ? AS v", [n]))[0]!.v).toBe(n)
            }
          }
        }))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("transactionSync: commits what its body ran; a failure, a defect or a result not kept rolls all of it back", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient
        const sqlite = yield* SqliteClient.Sqlite
        yield* sql`CREATE TABLE t (n integer PRIMARY KEY)`
        const rows = Effect.map(sql<{ n: number }>`SELECT n FROM t ORDER BY n`, (r) => r.map((row) => row.n))
        const inserted = yield* sqlite.transactionSync((connection) => connection.rows("INSERT INTO t (n) VALUES (?), (?) RETURNING n", [1, 2]))
        expect(inserted.map((row) => ({ ...(row as object) }))).toStrictEqual([{ n: 1 }, { n: 2 }])
        // A statement that fails (a taken key) after one that worked: the SqlError, and neither stays.
        const failed = yield* Effect.exit(sqlite.transactionSync((connection) => {
          expect(connection.changes("INSERT INTO t (n) VALUES (?)", [3])).toBe(1)
          return connection.rows("INSERT INTO t (n) VALUES (?)", [1])
        }))
        expectFail(failed, expect.objectContaining({ _tag: "SqlError" }))
        const died = yield* Effect.exit(sqlite.transactionSync((connection) => {
          connection.rows("INSERT INTO t (n) VALUES (?)", [4])
          throw new Error("a bug in the body")
        }))
        expectDie(died, expect.objectContaining({ message: "a bug in the body" }))
        const declined = yield* sqlite.transactionSync((c) => c.rows("INSERT INTO t (n) VALUES (?) RETURNING n", [5]), () => false)
        expect(declined).toHaveLength(1)
        expect(yield* rows).toStrictEqual([1, 2])
      }).pipe(Effect.provide(SqliteClient.layer({ filename })))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("transactionSync waits for a transaction another fiber holds open, and never runs inside it", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient
        const sqlite = yield* SqliteClient.Sqlite
        yield* sql`CREATE TABLE t (n integer)`
        const holder = yield* Effect.forkChild(sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO t (n) VALUES (1)`
          yield* Effect.sleep("1 second")
          yield* sql`INSERT INTO t (n) VALUES (2)`
        })))
        yield* Effect.yieldNow
        const seen = yield* Effect.forkChild(
          sqlite.transactionSync((c) => c.rows("SELECT count(*) AS n FROM t", []).map((row) => ({ ...(row as object) })))
        )
        yield* TestClock.adjust("1 second")
        yield* Fiber.join(holder)
        expect(yield* Fiber.join(seen)).toStrictEqual([{ n: 2 }])
      }).pipe(Effect.provide(SqliteClient.layer({ filename })))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a database locked by another connection: Busy after the busy timeout, retryable, and the retry works", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* Effect.gen(function*() {
        const repo = yield* SessionRepository
        yield* repo.createSession(makeSessionInfo("ses_1"))
        const holder = new DatabaseSync(filename)
        holder.exec("BEGIN EXCLUSIVE")
        const exit = yield* Effect.exit(repo.putMessage(sid("ses_1"), userMessage("ses_1", "m1", 1)))
        expectRepositoryError(exit, { operation: "putMessage", sessionId: "ses_1", reason: "Busy" })
        const error = (exit as Exit.Failure<unknown, RepositoryError>).cause.reasons[0] as unknown as {
          error: RepositoryError
        }
        expect(error.error.isRetryable).toBe(true)
        expect(error.error.cause).toMatchObject({ _tag: "SqlError" })
        holder.exec("ROLLBACK")
        holder.close()
        yield* repo.putMessage(sid("ses_1"), userMessage("ses_1", "m1", 1))
        expect((yield* repo.loadSession(sid("ses_1"), { newest: 5 })).messageCount).toBe(1)
      }).pipe(Effect.provide(repositoryOn({ filename, busyTimeoutMs: 50 })))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a read-only open: the repository serves reads, every write fails with ReadOnly and changes nothing", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* Effect.gen(function*() {
        const repo = yield* SessionRepository
        yield* repo.createSession(makeSessionInfo("ses_1"))
      }).pipe(Effect.provide(SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0 })))
      const before = NFS.readFileSync(filename)
      yield* withSql({ filename, readOnly: true }, (sql) =>
        Effect.gen(function*() {
          expect((yield* sql`SELECT id FROM session`).map((row) => ({ ...row }))).toStrictEqual([{ id: "ses_1" }])
          const exit = yield* Effect.exit(sql`DELETE FROM session`)
          expectFail(exit, expect.objectContaining({ _tag: "SqlError" }))
        }))
      yield* Effect.gen(function*() {
        const repo = yield* SessionRepository
        expect((yield* repo.loadSession(sid("ses_1"), { newest: 5 })).info.id).toBe("ses_1")
        const writes: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
          repo.createSession(makeSessionInfo("ses_2")),
          repo.putMessage(sid("ses_1"), userMessage("ses_1", "m1", 1)),
          repo.removeSession(sid("ses_1"))
        ]
        for (const write of writes) {
          const exit = yield* Effect.exit(write)
          expectRepositoryError(exit, { reason: "ReadOnly" })
        }
      }).pipe(Effect.provide(SessionRepository.layerSqlite({ filename, readOnly: true, changePollIntervalMs: 0 })))
      expect(NFS.readFileSync(filename).equals(before)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a full database (SQLITE_FULL at its page limit): StorageFull, the cause kept, nothing half written", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* Effect.gen(function*() {
        const repo = yield* SessionRepository
        const sql = yield* SqlClient
        yield* repo.createSession(makeSessionInfo("ses_1"))
        const [{ page_count }] = (yield* sql.unsafe<{ page_count: number }>("PRAGMA page_count")) as [
          { page_count: number }
        ]
        yield* sql.unsafe(`PRAGMA max_page_count = ${page_count + 1}`)
        const big = userMessage("ses_1", "m1", 1, "x".repeat(200_000))
        const exit = yield* Effect.exit(repo.putMessage(sid("ses_1"), big))
        expectRepositoryError(exit, { operation: "putMessage", reason: "StorageFull" })
        const failure = (exit as Exit.Failure<unknown, RepositoryError>).cause.reasons[0] as unknown as {
          error: RepositoryError
        }
        expect(failure.error.isRetryable).toBe(false)
        expect(JSON.stringify(failure.error.cause)).toMatch(/full/i)
        const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 5 })
        expect(loaded.messageCount).toBe(0)
        yield* repo.putMessage(sid("ses_1"), userMessage("ses_1", "m2", 1))
        expect((yield* repo.loadSession(sid("ses_1"), { newest: 5 })).messageCount).toBe(1)
      }).pipe(Effect.provide(repositoryOn({ filename })))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("a file that is not a database (random bytes): Corrupt at open, and the file is left as it is", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      const garbage = Buffer.alloc(64 * 1024)
      let seed = 12345
      for (let i = 0; i < garbage.length; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff
        garbage[i] = seed & 0xff
      }
      NFS.writeFileSync(filename, garbage)
      const exit = yield* Effect.exit(
        Effect.provide(Effect.void, SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0 }))
      )
      expectRepositoryError(exit, { operation: `open ${filename}`, reason: "Corrupt" })
      expect(NFS.readFileSync(filename).equals(garbage)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.effect("invalid input reaching the repository is a defect (InvalidInput), never a retryable RepositoryError", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      yield* Effect.gen(function*() {
        const repo = yield* SessionRepository
        yield* repo.createSession(makeSessionInfo("ses_1"))
        yield* repo.createSession(makeSessionInfo("ses_2"))
        yield* repo.putMessage(sid("ses_1"), userMessage("ses_1", "m1", 1))
        yield* repo.putMessage(sid("ses_1"), userMessage("ses_1", "m2", 1))
        const inputs = [
          repo.putMessage(sid("ses_2"), userMessage("ses_2", "m1", 1)), // m1 belongs to ses_1
          repo.putMessage(sid("ses_2"), userMessage("ses_1", "m9", 1)), // info.sessionID is another session
          repo.putMessage(sid("ses_2"), { ...userMessage("ses_2", "m8", 1), parts: [userMessage("ses_1", "m1", 1).parts[0]!] }),
          // A replace (m1 exists) naming a part of another message: refused, m1 left as it was.
          repo.putMessage(sid("ses_1"), {
            ...userMessage("ses_1", "m1", 1, "changed"),
            parts: [{ ...userMessage("ses_1", "m2", 1).parts[0]!, messageID: "m1" }]
          } as unknown as MessageWithParts)
        ]
        for (const input of inputs) {
          const exit = yield* Effect.exit(input)
          expectDie(exit, expect.objectContaining({ _tag: "InvalidInput" }))
        }
        expect((yield* repo.loadSession(sid("ses_2"), { newest: 5 })).messageCount).toBe(0)
        const kept = (yield* repo.loadSession(sid("ses_1"), { newest: 5 })).messages.map((m) => m.message)
        expect(kept).toStrictEqual([userMessage("ses_1", "m1", 1), userMessage("ses_1", "m2", 1)])
      }).pipe(Effect.provide(repositoryOn({ filename })))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
