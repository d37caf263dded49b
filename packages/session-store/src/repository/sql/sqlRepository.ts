/**
 * The SessionRepository on `effect/sql`: opencode's `session`, `message` and
 * `part` tables, written once against `SqlClient` (SQLite here, PostgreSQL
 * later; the few differences go through `sql.onDialectOrElse`).
 *
 * - Message order is `(time_created, id)`. A new message gets
 *   `time_created = max(now, newest of the session + 1)`: the wall clock
 *   opencode puts there, kept strictly increasing within a session, so order is
 *   the order in which ids were first written, as the port promises. A
 *   replaced message keeps its `time_created` (its place) and gets a new
 *   `time_updated`; its parts are rewritten, in order (`time_created` = now +
 *   their index).
 * - A load reads the session row, the newest `newest` messages
 *   (`ORDER BY time_created DESC, id DESC LIMIT n` on the index
 *   `(session_id, time_created, id)`), their parts, and the totals (count and
 *   bytes), in one read transaction. The totals are two aggregates over the
 *   stored lengths (storedBytes.ts: no JSON is read for them); on SQLite they
 *   are kept in memory until another connection commits (totalsCache.ts).
 * - Every write is one transaction (`BEGIN IMMEDIATE` on SQLite), a plan of
 *   statements (writes.ts, writePlan.ts), and records the session it changed in
 *   `session_store_change` while another repository watches (transactions.ts).
 * - Message and part ids are primary keys in opencode's schema, so unique
 *   across sessions. Writing a message whose id belongs to another session, a
 *   part whose id belongs to another message, or a message whose ids do not
 *   match its session is an invalid input and dies with InvalidInput, never a
 *   retryable RepositoryError.
 */
import { Effect, Option, Scope } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import {
  type IncompatibleSchema,
  MessageNotFound,
  type RepositoryError,
  SessionNotFound
} from "../../domain/Errors.ts"
import type { MessageId, SessionId } from "../../domain/Ids.ts"
import type { MessageWithParts } from "../../domain/Message.ts"
import type { SessionInfo, SessionSummary } from "../../domain/Session.ts"
import type { SessionRepositoryShape, StoredMessage } from "../port.ts"
import { encodeRecord } from "../../domain/records.ts"
import { type WatchConnection, watchChanges } from "./changeWatch.ts"
import { decodeSession, makeReads, type MessageRow } from "./reads.ts"
import { jsonStringBytes, type Json, messageToData, storedMessageBytes } from "./rows.ts"
import { prepareSchema } from "./schema.ts"
import { orRepositoryError } from "./sqlErrors.ts"
import { makeStoredBytes } from "./storedBytes.ts"
import { makeTotalsCache } from "./totalsCache.ts"
import { makeTransactions } from "./transactions.ts"
import { Sqlite } from "./SqliteClient.ts"
import { checkMessage } from "./writeChecks.ts"
import { makeWrites } from "./writes.ts"

// For the PostgreSQL package, which maps its driver's errors the same way.
export { toRepositoryError } from "./sqlErrors.ts"
export { changePayload, PG_CHANGE_CHANNEL } from "./transactions.ts"

/**
 * Options of the SQL repository.
 *
 * @example
 * ```ts
 * const options: SqlRepositoryOptions = { changePollIntervalMs: 250 }
 * ```
 */
export interface SqlRepositoryOptions {
  /**
   * How often to look for writes by other processes (SQLite: one `PRAGMA
   * data_version` per interval, plus a read of the change record when it
   * moved). Default 100 ms; `0` or less turns the watch off.
   */
  readonly changePollIntervalMs?: number | undefined
  /**
   * This repository's writer id, in its change rows (SQLite) and in the
   * payload of its change notifications (PostgreSQL), so a watcher can tell
   * its own writes from others'. Default: the pid and a random suffix.
   */
  readonly writerId?: string | undefined
  /**
   * A connection of its own for the change watch (SQLite; `layerSqlite` opens
   * one, read-only), and the `data_version` of the repository's connection.
   * Without it the watch queries through the repository's one connection and
   * waits behind the writes queued there: under a steady stream of writes a
   * resident copy could stay stale for a second. With it the watch never
   * waits for a write of this process.
   */
  readonly watch?: WatchConnection | undefined
}

/**
 * Builds the repository on the `SqlClient` in context: migrates and checks
 * the schema, then (on SQLite, with a positive interval) forks the change
 * watch into the current scope. `SessionRepository.layerSql` is this as a
 * layer.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const repo = yield* makeSqlRepository({ changePollIntervalMs: 0 })
 *   return yield* repo.listSessions()
 * })).pipe(Effect.provide(SqliteClient.layer({ filename: "opencode.db" })))
 * ```
 */
export const makeSqlRepository = (
  options: SqlRepositoryOptions = {}
): Effect.Effect<SessionRepositoryShape, RepositoryError | IncompatibleSchema, SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const sessionColumns = yield* prepareSchema
    const writer = options.writerId ?? `${process.pid}-${Math.random().toString(36).slice(2, 10)}`

    const { dataLength, messageRowsBytes, messageSums, num, partRowsBytes, partSums } = makeStoredBytes(sql)
    const sqlite = Option.getOrUndefined(yield* Effect.serviceOption(Sqlite))
    // SQLite: the totals kept in memory while no one else writes (totalsCache.ts); PostgreSQL sums each time.
    const cache = sql.onDialectOrElse({ sqlite: () => makeTotalsCache(sql), orElse: () => undefined })
    const { read, readTransaction, write } = makeTransactions(sql, writer, sqlite, cache?.observe)
    const { messageColumns, readSession, withParts } = makeReads(sql, dataLength)

    const sessionExists = (sessionId: SessionId) =>
      Effect.flatMap(
        sql<{ id: string }>`SELECT id FROM session WHERE id = ${sessionId}`,
        (rows) => rows.length === 0 ? Effect.fail(new SessionNotFound({ sessionId })) : Effect.void
      )

    const writes = makeWrites(sql, sessionColumns, cache)

    const totals = (sessionId: SessionId) =>
      Effect.gen(function*() {
        if (cache !== undefined) {
          yield* cache.check
          const known = cache.get(sessionId)
          if (known !== undefined) return known
        }
        const sessionJson = jsonStringBytes(sessionId)
        const [messages] = yield* sql<Json>`SELECT ${messageSums} FROM message WHERE session_id = ${sessionId}`
        const [parts] = yield* sql<Json>`SELECT ${partSums} FROM part WHERE session_id = ${sessionId}`
        const summed = {
          count: num(messages!, "n"),
          bytes: messageRowsBytes(messages!, sessionJson) + partRowsBytes(parts!, sessionJson)
        }
        cache?.set(sessionId, summed)
        return summed
      })

    /** The totals of a session whose every message is in `messages` (kept for the next load too). */
    const wholeTotals = (sessionId: SessionId, messages: ReadonlyArray<StoredMessage>) =>
      Effect.gen(function*() {
        let bytes = 0
        for (const stored of messages) bytes += stored.bytes
        const summed = { count: messages.length, bytes }
        if (cache !== undefined) {
          yield* cache.check
          cache.set(sessionId, summed)
        }
        return summed
      })

    const repository: SessionRepositoryShape = {
      createSession: (info: SessionInfo) =>
        write("createSession", info.id, (time) => writes.createSession(info, time)).pipe(
          Effect.as({ bytes: encodeRecord(info).bytes }),
          Effect.withSpan("SessionRepository.createSession")
        ),

      updateSession: (info: SessionInfo) =>
        write("updateSession", info.id, (time) => writes.updateSession(info, time)).pipe(
          Effect.as({ bytes: encodeRecord(info).bytes }),
          Effect.withSpan("SessionRepository.updateSession")
        ),

      loadSession: Effect.fn("SessionRepository.loadSession")(function*(sessionId: SessionId, { newest }) {
        return yield* read(
          "loadSession",
          sessionId,
          Effect.gen(function*() {
            const session = yield* readSession(sessionId)
            const limit = Math.floor(newest)
            // One row more than the window: when it does not come, the rows are every message of the
            // session, whose parts are then read by session and whose totals are the rows' own (no
            // aggregate over the session).
            const found = limit <= 0 ? [] : yield* sql<MessageRow>`SELECT ${messageColumns} FROM message
              WHERE session_id = ${sessionId} ORDER BY time_created DESC, id DESC LIMIT ${limit + 1}`
            const whole = limit > 0 && found.length <= limit
            const rows = whole ? found : found.slice(0, limit)
            const messages = yield* withParts(sessionId, [...rows].reverse(), whole)
            const sums = whole ? yield* wholeTotals(sessionId, messages) : yield* totals(sessionId)
            return {
              info: session.info,
              infoBytes: session.bytes,
              messages,
              messageCount: sums.count,
              totalBytes: session.bytes + sums.bytes
            }
          })
        )
      }),

      // Untraced, as the store's putMessage is: a span captures a stack trace, which costs more than a
      // resident append's own JavaScript, and messages are written at the rate parts stream in.
      putMessage: Effect.fnUntraced(function*(sessionId: SessionId, message: MessageWithParts) {
        yield* checkMessage(sessionId, message)
        const id = message.info.id
        const { data, parts } = messageToData(message)
        const bytes = storedMessageBytes(sessionId, id, data, parts)
        const { appended } = yield* write(
          "putMessage",
          sessionId,
          (time) => writes.putMessage(sessionId, { id, data, parts, bytes }, time)
        ).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => exit._tag === "Success" ? cache?.settle(sessionId, exit.value.token) : cache?.drop(sessionId))
          )
        )
        return { bytes, appended }
      }),

      getMessage: Effect.fn("SessionRepository.getMessage")(function*(sessionId: SessionId, messageId: MessageId) {
        return yield* read(
          "getMessage",
          sessionId,
          Effect.gen(function*() {
            yield* sessionExists(sessionId)
            const rows = yield* sql<MessageRow>`SELECT ${messageColumns} FROM message
              WHERE id = ${messageId} AND session_id = ${sessionId}`
            if (rows.length === 0) return yield* new MessageNotFound({ sessionId, messageId })
            const [stored] = yield* withParts(sessionId, rows)
            return stored!
          })
        )
      }),

      pageMessages: Effect.fn("SessionRepository.pageMessages")(function*(sessionId: SessionId, { before, limit }) {
        return yield* read(
          "pageMessages",
          sessionId,
          Effect.gen(function*() {
            yield* sessionExists(sessionId)
            let rows: ReadonlyArray<MessageRow>
            if (before === undefined) {
              if (limit <= 0) return []
              rows = yield* sql<MessageRow>`SELECT ${messageColumns} FROM message WHERE session_id = ${sessionId}
                ORDER BY time_created DESC, id DESC LIMIT ${Math.floor(limit)}`
            } else {
              const anchor = yield* sql<{ time_created: number }>`SELECT time_created FROM message
                WHERE id = ${before} AND session_id = ${sessionId}`
              if (anchor.length === 0) return yield* new MessageNotFound({ sessionId, messageId: before })
              if (limit <= 0) return []
              const t = anchor[0]!.time_created
              rows = yield* sql<MessageRow>`SELECT ${messageColumns} FROM message WHERE session_id = ${sessionId}
                AND (time_created < ${t} OR (time_created = ${t} AND id < ${before}))
                ORDER BY time_created DESC, id DESC LIMIT ${Math.floor(limit)}`
            }
            return yield* withParts(sessionId, [...rows].reverse())
          })
        )
      }),

      removeMessage: Effect.fn("SessionRepository.removeMessage")(function*(sessionId: SessionId, messageId: MessageId) {
        yield* write("removeMessage", sessionId, () => writes.removeMessage(sessionId, messageId))
      }),

      removeSession: Effect.fn("SessionRepository.removeSession")(function*(sessionId: SessionId) {
        yield* write("removeSession", sessionId, () => writes.removeSession(sessionId))
      }),

      listSessions: Effect.fn("SessionRepository.listSessions")(function*() {
        return yield* readTransaction(Effect.gen(function*() {
          const rows = yield* sql<Json>`SELECT * FROM session`
          const extras = new Map<string, unknown>()
          for (const row of yield* sql<{ session_id: string; extra: unknown }>`SELECT session_id, extra FROM session_store_session`) {
            extras.set(row.session_id, row.extra)
          }
          const messageTotals = new Map<string, { n: number; bytes: number }>()
          for (const row of yield* sql<Json>`SELECT session_id, ${messageSums} FROM message GROUP BY session_id`) {
            const id = String(row["session_id"])
            messageTotals.set(id, { n: num(row, "n"), bytes: messageRowsBytes(row, jsonStringBytes(id)) })
          }
          const partTotals = new Map<string, number>()
          for (const row of yield* sql<Json>`SELECT session_id, ${partSums} FROM part GROUP BY session_id`) {
            const id = String(row["session_id"])
            partTotals.set(id, partRowsBytes(row, jsonStringBytes(id)))
          }
          const summaries: Array<SessionSummary> = []
          for (const row of rows) {
            const { bytes, info } = yield* decodeSession(row, extras.get(String(row["id"])))
            const sums = messageTotals.get(info.id)
            summaries.push({
              id: info.id,
              title: info.title,
              updated: info.time.updated,
              messageCount: sums?.n ?? 0,
              bytes: bytes + (sums?.bytes ?? 0) + (partTotals.get(info.id) ?? 0)
            })
          }
          return summaries.sort((a, b) => b.updated - a.updated)
        })).pipe(orRepositoryError("listSessions"))
      })
    }

    const interval = options.changePollIntervalMs ?? 100
    if (interval <= 0 || sql.onDialectOrElse({ sqlite: () => false, orElse: () => true })) return repository
    const changes = yield* watchChanges(sql, writer, interval, options.watch)
    return { ...repository, changes }
  })
