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
 *   `(session_id, time_created, id)`), their parts, and two aggregates for
 *   the totals (count and bytes, from the stored lengths: no JSON is read for
 *   them), in one read transaction.
 * - Every write is one transaction (`BEGIN IMMEDIATE` on SQLite) and records
 *   the session it changed in `session_store_change`.
 * - Message and part ids are primary keys in opencode's schema, so unique
 *   across sessions. Writing a message whose id belongs to another session, a
 *   part whose id belongs to another message, or a message whose ids do not
 *   match its session is an invalid input and dies with InvalidInput, never a
 *   retryable RepositoryError.
 */
import { Clock, Effect, Scope } from "effect"
import { BeginTransaction, SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import {
  CorruptRecord,
  type IncompatibleSchema,
  InvalidInput,
  MessageNotFound,
  type RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "../../domain/Errors.ts"
import type { MessageId, SessionId } from "../../domain/Ids.ts"
import type { MessageWithParts } from "../../domain/Message.ts"
import type { SessionInfo, SessionSummary } from "../../domain/Session.ts"
import type { SessionRepositoryShape, StoredMessage } from "../port.ts"
import { encodeRecord } from "../../domain/records.ts"
import {
  infoBytes,
  jsonStringBytes,
  type Json,
  messageBytes,
  messageToData,
  parseObject,
  partBytes,
  type SessionExtra,
  sessionFromRow,
  sessionToRow
} from "./rows.ts"
import { prepareSchema } from "./schema.ts"
import { orRepositoryError } from "./sqlErrors.ts"
import { type WatchConnection, watchChanges } from "./changeWatch.ts"

// For the PostgreSQL package, which maps its driver's errors the same way.
export { toRepositoryError } from "./sqlErrors.ts"

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
 * PostgreSQL: the channel every write notifies (`pg_notify`, inside the write's
 * transaction, so it is delivered only once the write committed). The payload
 * is {@link changePayload}.
 */
export const PG_CHANGE_CHANNEL = "session_store_change"

/** The payload of a change notification: the writer id, a tab, the session id. */
export const changePayload = (writer: string, sessionId: string): string => `${writer}\t${sessionId}`

// PostgreSQL: the first key of the advisory locks that serialize writes to a session (the second is
// hashtext(session id)); a constant of ours, so the two-key locks of other software do not meet them.
const PG_LOCK_SPACE = 0x53_53_54_52

/** How long change rows are kept: a reader that stalls longer than this is told "all". */
const CHANGE_RETENTION_MS = 60_000

/** Ids per `IN (…)` list, well under SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 500

interface MessageRow {
  readonly id: string
  readonly data: string
}

interface PartRow {
  readonly message_id: string
  readonly id: string
  readonly data: string
}

const die = (what: string, reason: string) => Effect.die(new InvalidInput({ what, reason }))

const isUniqueViolation = (error: SqlError) => error.reason._tag === "UniqueViolation"

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

    // JSON sizes from stored lengths (rows.ts has the formula): per table, sums SQL can take from the
    // row headers without reading the JSON, combined in JS with what is the same for every row.
    const dataLength = sql.onDialectOrElse({
      pg: () => "octet_length(data::text)",
      orElse: () => "octet_length(data)"
    })
    const idSums = (column: string) =>
      `coalesce(sum(octet_length(${column})), 0) AS ${column}_bytes,
       coalesce(sum(CASE WHEN ${column} LIKE '%"%' THEN length(${column}) - length(replace(${column}, '"', '')) ELSE 0 END), 0)
         AS ${column}_quotes`
    const dataSums = `coalesce(sum(${dataLength}), 0) AS data_bytes,
       coalesce(sum(CASE WHEN ${dataLength} <= 2 THEN 1 ELSE 0 END), 0) AS empty_count,
       coalesce(sum(CASE WHEN ${dataLength} <= 2 THEN ${dataLength} ELSE 0 END), 0) AS empty_bytes`
    const messageSums = sql.literal(`count(*) AS n, ${idSums("id")}, ${dataSums}`)
    const partSums = sql.literal(
      `count(*) AS n, count(DISTINCT message_id) AS owners, ${idSums("id")}, ${idSums("message_id")}, ${dataSums}`
    )
    const num = (row: Json, key: string) => Number(row[key] ?? 0)
    /** Σ over rows of (the JSON string length of `column`). */
    const jsonIds = (row: Json, column: string) => num(row, `${column}_bytes`) + 2 * num(row, "n") + num(row, `${column}_quotes`)
    /** Σ over rows of what `data` adds to its object (rows.ts: dataMembers). */
    const dataMembersSum = (row: Json) =>
      num(row, "data_bytes") - num(row, "empty_bytes") - (num(row, "n") - num(row, "empty_count"))
    /** Bytes of every message row of one session: Σ (20 + infoBytes). */
    const messageRowsBytes = (row: Json, sessionJson: number) =>
      40 * num(row, "n") + jsonIds(row, "id") + sessionJson * num(row, "n") + dataMembersSum(row)
    /** Bytes the part rows of one session add to their messages: Σ (partBytes + 1) − messages with parts. */
    const partRowsBytes = (row: Json, sessionJson: number) =>
      34 * num(row, "n") + jsonIds(row, "id") + jsonIds(row, "message_id") + sessionJson * num(row, "n") +
      dataMembersSum(row) - num(row, "owners")

    // Reads that span several statements see one snapshot.
    const readTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      sql.onDialectOrElse({
        sqlite: () => sql.withTransaction(effect).pipe(Effect.provideService(BeginTransaction, "BEGIN DEFERRED")),
        pg: () =>
          sql.withTransaction(effect).pipe(
            Effect.provideService(BeginTransaction, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
          ),
        orElse: () => sql.withTransaction(effect)
      })

    const corrupt = (table: string, id: string, error: unknown) =>
      new CorruptRecord({
        file: `${table} ${id}`,
        problem: error instanceof Error ? error.message : String(error)
      })

    const sessionExists = (sessionId: SessionId) =>
      Effect.flatMap(
        sql<{ id: string }>`SELECT id FROM session WHERE id = ${sessionId}`,
        (rows) => rows.length === 0 ? Effect.fail(new SessionNotFound({ sessionId })) : Effect.void
      )

    const now = Clock.currentTimeMillis

    let lastPrune = 0
    const recordChange = (sessionId: SessionId) =>
      Effect.gen(function*() {
        const time = yield* now
        yield* sql`INSERT INTO session_store_change (session_id, writer, time_created) VALUES (${sessionId}, ${writer}, ${time})`
        if (time - lastPrune >= 1_000) {
          lastPrune = time
          yield* sql`DELETE FROM session_store_change WHERE time_created < ${time - CHANGE_RETENTION_MS}`
        }
      })

    const readSession = (sessionId: SessionId) =>
      Effect.gen(function*() {
        const rows = yield* sql<Json>`SELECT * FROM session WHERE id = ${sessionId}`
        if (rows.length === 0) return yield* new SessionNotFound({ sessionId })
        const extraRows = yield* sql<{ extra: unknown }>`SELECT extra FROM session_store_session WHERE session_id = ${sessionId}`
        return yield* decodeSession(rows[0]!, extraRows[0]?.extra)
      })

    const decodeSession = (row: Json, extraText: unknown) =>
      Effect.try({
        try: () => {
          const extra = extraText === undefined || extraText === null
            ? undefined
            : (parseObject(extraText) as unknown as SessionExtra)
          const info = sessionFromRow(row, extra)
          return { info, bytes: encodeRecord(info).bytes }
        },
        catch: (error) => corrupt("session", String(row["id"]), error)
      })

    const writeExtra = (sessionId: SessionId, extra: SessionExtra) =>
      sql`INSERT INTO session_store_session (session_id, extra) VALUES (${sessionId}, ${JSON.stringify(extra)})
        ON CONFLICT (session_id) DO UPDATE SET extra = excluded.extra`

    const ensureProject = (info: SessionInfo) =>
      Effect.flatMap(now, (time) =>
        sql`INSERT INTO project (id, worktree, sandboxes, time_created, time_updated)
          VALUES (${info.projectID}, ${info.directory}, '[]', ${time}, ${time})
          ON CONFLICT (id) DO NOTHING`)

    /** The messages of `rows` with their parts, in the order of `rows`. */
    const withParts = (sessionId: SessionId, rows: ReadonlyArray<MessageRow>) =>
      Effect.gen(function*() {
        const parts = new Map<string, Array<PartRow>>()
        for (let i = 0; i < rows.length; i += CHUNK) {
          const ids = rows.slice(i, i + CHUNK).map((row) => row.id)
          const found = yield* sql<PartRow>`SELECT message_id, id, data FROM part
            WHERE ${sql.in("message_id", ids)} ORDER BY message_id, time_created, id`
          for (const part of found) {
            const list = parts.get(part.message_id)
            if (list === undefined) parts.set(part.message_id, [part])
            else list.push(part)
          }
        }
        // One synchronous pass: decoding is plain work, an effect per message would cost more than it.
        let current = ""
        return yield* Effect.try({
          try: () => {
            const out: Array<StoredMessage> = []
            for (const row of rows) {
              current = row.id
              out.push(decodeMessage(sessionId, row, parts.get(row.id) ?? []))
            }
            return out
          },
          catch: (error) => corrupt("message", current, error)
        })
      })

    /** Throws when a row's data is not a JSON object. */
    const decodeMessage = (sessionId: SessionId, row: MessageRow, parts: ReadonlyArray<PartRow>): StoredMessage => {
      const info = { id: row.id, sessionID: sessionId, ...parseObject(row.data) }
      const partSizes: Array<number> = []
      const decoded = parts.map((part) => {
        partSizes.push(partBytes(part.id, sessionId, row.id, Buffer.byteLength(part.data, "utf8")))
        return { id: part.id, sessionID: sessionId, messageID: row.id, ...parseObject(part.data) }
      })
      return {
        message: { info, parts: decoded } as unknown as MessageWithParts,
        bytes: messageBytes(infoBytes(row.id, sessionId, Buffer.byteLength(row.data, "utf8")), partSizes)
      }
    }

    const totals = (sessionId: SessionId) =>
      Effect.gen(function*() {
        const sessionJson = jsonStringBytes(sessionId)
        const [messages] = yield* sql<Json>`SELECT ${messageSums} FROM message WHERE session_id = ${sessionId}`
        const [parts] = yield* sql<Json>`SELECT ${partSums} FROM part WHERE session_id = ${sessionId}`
        return {
          count: num(messages!, "n"),
          bytes: messageRowsBytes(messages!, sessionJson) + partRowsBytes(parts!, sessionJson)
        }
      })

    const checkMessage = (sessionId: SessionId, message: MessageWithParts) => {
      if (message.info.sessionID !== sessionId) {
        return die("message", `info.sessionID ${message.info.sessionID} is not the session ${sessionId}`)
      }
      const seen = new Set<string>()
      for (const part of message.parts) {
        if (part.sessionID !== sessionId || part.messageID !== message.info.id) {
          return die("message", `part ${part.id} names another message or session`)
        }
        if (seen.has(part.id)) return die("message", `part id ${part.id} appears twice`)
        seen.add(part.id)
      }
      return Effect.void
    }

    // PostgreSQL, several nodes: every write transaction first takes a transaction-scoped advisory lock on
    // its session id, so writes to one session are serialized across nodes (READ COMMITTED: each
    // statement after the lock sees every write committed before it, so the `max(time_created) + 1` of an
    // append and the existence checks are never stale, and no update is lost). An advisory lock rather
    // than `SELECT … FOR UPDATE` on the session row because it also serializes what has no row yet (two
    // nodes creating one id: the second gets SessionAlreadyExists, not a unique violation) and a removal
    // against a write; it is released by COMMIT or ROLLBACK, so a crashed node holds nothing. Then the
    // write notifies its session id instead of a change row: NOTIFY inside the transaction is delivered on
    // commit only. (SQLite needs neither: BEGIN IMMEDIATE serializes writers, and watchers poll.) A lock
    // rather than versioned writes (optimistic, retried on conflict): appends to a hot session from several
    // nodes would conflict all the time and each retry redo the transaction; waiting on the lock costs
    // one transaction's time and never fails.
    const pgWrite = <A, E>(sessionId: SessionId, effect: Effect.Effect<A, E | SqlError, SqlClient>) =>
      Effect.andThen(
        sql`SELECT pg_advisory_xact_lock(${PG_LOCK_SPACE}, hashtext(${sessionId}))`,
        Effect.andThen(effect, (a) =>
          Effect.as(sql`SELECT pg_notify(${PG_CHANGE_CHANNEL}, ${changePayload(writer, sessionId)})`, a))
      )
    const write = <A, E>(operation: string, sessionId: SessionId, effect: Effect.Effect<A, E | SqlError, SqlClient>) =>
      sql.withTransaction(sql.onDialectOrElse({
        pg: () => pgWrite(sessionId, effect),
        orElse: () => Effect.andThen(effect, (a) => Effect.as(recordChange(sessionId), a))
      })).pipe(
        Effect.provideService(SqlClient, sql),
        orRepositoryError(operation, sessionId)
      )

    const read = <A, E>(operation: string, sessionId: SessionId, effect: Effect.Effect<A, E | SqlError, SqlClient>) =>
      readTransaction(effect).pipe(Effect.provideService(SqlClient, sql), orRepositoryError(operation, sessionId))

    const repository: SessionRepositoryShape = {
      createSession: Effect.fnUntraced(function*(info: SessionInfo) {
        const { extra, row } = sessionToRow(info, sessionColumns)
        yield* write(
          "createSession",
          info.id,
          Effect.gen(function*() {
            const existing = yield* sql`SELECT id FROM session WHERE id = ${info.id}`
            if (existing.length > 0) return yield* new SessionAlreadyExists({ sessionId: info.id })
            yield* ensureProject(info)
            yield* sql`INSERT INTO session ${sql.insert(row)}`
            yield* writeExtra(info.id, extra)
          })
        )
        return { bytes: encodeRecord(info).bytes }
      }),

      updateSession: Effect.fnUntraced(function*(info: SessionInfo) {
        const { extra, row } = sessionToRow(info, sessionColumns)
        yield* write(
          "updateSession",
          info.id,
          Effect.gen(function*() {
            yield* sessionExists(info.id)
            yield* ensureProject(info)
            yield* sql`UPDATE session SET ${sql.update(row, ["id"])} WHERE id = ${info.id}`
            yield* writeExtra(info.id, extra)
          })
        )
        return { bytes: encodeRecord(info).bytes }
      }),

      loadSession: Effect.fnUntraced(function*(sessionId: SessionId, { newest }) {
        return yield* read(
          "loadSession",
          sessionId,
          Effect.gen(function*() {
            const session = yield* readSession(sessionId)
            const rows = newest <= 0 ? [] : yield* sql<MessageRow>`SELECT id, data FROM message
              WHERE session_id = ${sessionId} ORDER BY time_created DESC, id DESC LIMIT ${Math.floor(newest)}`
            const messages = yield* withParts(sessionId, [...rows].reverse())
            const sums = yield* totals(sessionId)
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

      putMessage: Effect.fnUntraced(function*(sessionId: SessionId, message: MessageWithParts) {
        yield* checkMessage(sessionId, message)
        const messageId = message.info.id
        const { data, parts } = messageToData(message)
        yield* write(
          "putMessage",
          sessionId,
          Effect.gen(function*() {
            yield* sessionExists(sessionId)
            const time = yield* now
            const existing = yield* sql<{ session_id: string }>`SELECT session_id FROM message WHERE id = ${messageId}`
            if (existing.length > 0) {
              if (existing[0]!.session_id !== sessionId) {
                return yield* die("message", `message id ${messageId} belongs to another session`)
              }
              yield* sql`UPDATE message SET data = ${data}, time_updated = ${time} WHERE id = ${messageId}`
              yield* sql`DELETE FROM part WHERE message_id = ${messageId}`
            } else {
              const [newest] = yield* sql<{ t: number | null }>`SELECT max(time_created) AS t FROM message
                WHERE session_id = ${sessionId}`
              const created = Math.max(time, Number(newest?.t ?? 0) + 1)
              yield* sql`INSERT INTO message (id, session_id, time_created, time_updated, data)
                VALUES (${messageId}, ${sessionId}, ${created}, ${time}, ${data})`
            }
            if (parts.length > 0) {
              yield* sql`INSERT INTO part ${
                sql.insert(parts.map((part, index) => ({
                  id: part.id,
                  message_id: messageId,
                  session_id: sessionId,
                  time_created: time + index,
                  time_updated: time,
                  data: part.data
                })) as unknown as [Json, ...Array<Json>])
              }`.pipe(
                Effect.catchIf(isUniqueViolation, () => die("message", "a part id belongs to another message"))
              )
            }
          })
        )
        return { bytes: encodeRecord(message).bytes }
      }),

      getMessage: Effect.fnUntraced(function*(sessionId: SessionId, messageId: MessageId) {
        return yield* read(
          "getMessage",
          sessionId,
          Effect.gen(function*() {
            yield* sessionExists(sessionId)
            const rows = yield* sql<MessageRow>`SELECT id, data FROM message
              WHERE id = ${messageId} AND session_id = ${sessionId}`
            if (rows.length === 0) return yield* new MessageNotFound({ sessionId, messageId })
            const [stored] = yield* withParts(sessionId, rows)
            return stored!
          })
        )
      }),

      pageMessages: Effect.fnUntraced(function*(sessionId: SessionId, { before, limit }) {
        return yield* read(
          "pageMessages",
          sessionId,
          Effect.gen(function*() {
            yield* sessionExists(sessionId)
            let rows: ReadonlyArray<MessageRow>
            if (before === undefined) {
              if (limit <= 0) return []
              rows = yield* sql<MessageRow>`SELECT id, data FROM message WHERE session_id = ${sessionId}
                ORDER BY time_created DESC, id DESC LIMIT ${Math.floor(limit)}`
            } else {
              const anchor = yield* sql<{ time_created: number }>`SELECT time_created FROM message
                WHERE id = ${before} AND session_id = ${sessionId}`
              if (anchor.length === 0) return yield* new MessageNotFound({ sessionId, messageId: before })
              if (limit <= 0) return []
              const t = anchor[0]!.time_created
              rows = yield* sql<MessageRow>`SELECT id, data FROM message WHERE session_id = ${sessionId}
                AND (time_created < ${t} OR (time_created = ${t} AND id < ${before}))
                ORDER BY time_created DESC, id DESC LIMIT ${Math.floor(limit)}`
            }
            return yield* withParts(sessionId, [...rows].reverse())
          })
        )
      }),

      removeMessage: Effect.fnUntraced(function*(sessionId: SessionId, messageId: MessageId) {
        yield* write(
          "removeMessage",
          sessionId,
          Effect.gen(function*() {
            yield* sessionExists(sessionId)
            const owned = yield* sql`SELECT id FROM message WHERE id = ${messageId} AND session_id = ${sessionId}`
            if (owned.length === 0) return yield* new MessageNotFound({ sessionId, messageId })
            yield* sql`DELETE FROM part WHERE message_id = ${messageId}`
            yield* sql`DELETE FROM message WHERE id = ${messageId}`
          })
        )
      }),

      removeSession: Effect.fnUntraced(function*(sessionId: SessionId) {
        yield* write(
          "removeSession",
          sessionId,
          Effect.gen(function*() {
            yield* sessionExists(sessionId)
            yield* sql`DELETE FROM part WHERE session_id = ${sessionId}`
            yield* sql`DELETE FROM message WHERE session_id = ${sessionId}`
            yield* sql`DELETE FROM session_store_session WHERE session_id = ${sessionId}`
            yield* sql`DELETE FROM session WHERE id = ${sessionId}`
          })
        )
      }),

      listSessions: Effect.fnUntraced(function*() {
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
