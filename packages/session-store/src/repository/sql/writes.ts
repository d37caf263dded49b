/**
 * The writes of the SQL repository, as plans (writePlan.ts): the statements
 * each write runs and the checks between them, written once for every
 * dialect. `transactions.ts` runs a plan in one transaction and records the
 * change; sqlRepository.ts wraps them into the port's operations.
 *
 * - A new message gets `time_created = max(now, newest of the session + 1)`
 *   (see sqlRepository.ts); a replaced one keeps its place and gets a new
 *   `time_updated`.
 * - Parts are upserted by id, as opencode writes them, and a replace deletes
 *   only the parts the new version no longer has. A part id that belongs to
 *   another message is refused (the upsert's `WHERE` leaves that row alone,
 *   so it is missing from the count of rows written): InvalidInput, a defect.
 */
import type { SqlClient } from "effect/sql/SqlClient"
import { SqlError } from "effect/sql/SqlError"
import type { Statement } from "effect/sql/Statement"
import { InvalidInput, MessageNotFound, SessionAlreadyExists, SessionNotFound } from "../../domain/Errors.ts"
import type { MessageId, SessionId } from "../../domain/Ids.ts"
import type { SessionInfo } from "../../domain/Session.ts"
import { type Json, type SessionExtra, sessionToRow, storedMessageBytesOfLengths } from "./rows.ts"
import type { TotalsCache } from "./totalsCache.ts"
import { isMissingSession } from "./writeChecks.ts"
import { execute, Fixed, makeFixed, PlanFailure, query, type WritePlan } from "./writePlan.ts"

/** A message as it is stored: its `data`, and its parts' ids and `data`. */
export interface StoredMessage {
  readonly id: MessageId
  readonly data: string
  readonly parts: ReadonlyArray<{ readonly id: string; readonly data: string }>
  /** Its bytes as the totals count them (rows.ts, `storedMessageBytes`). */
  readonly bytes: number
}

/** The plans of the repository's writes on `sql`. */
export interface Writes {
  readonly createSession: (info: SessionInfo, now: number) => WritePlan<void, SessionAlreadyExists>
  readonly updateSession: (info: SessionInfo, now: number) => WritePlan<void, SessionNotFound>
  /**
   * Appends or replaces; returns which it was, and the totals cache's token for the adjustment an append
   * made (or undefined).
   */
  readonly putMessage: (
    sessionId: SessionId,
    message: StoredMessage,
    now: number
  ) => WritePlan<{ readonly appended: boolean; readonly token: object | undefined }, SessionNotFound>
  readonly removeMessage: (sessionId: SessionId, messageId: MessageId) => WritePlan<void, SessionNotFound | MessageNotFound>
  readonly removeSession: (sessionId: SessionId) => WritePlan<void, SessionNotFound>
}

const invalid = (what: string, reason: string) => new InvalidInput({ what, reason })

// Rows per part INSERT on SQLite: 6 parameters each, well under SQLite's 32,766 bound parameters.
const PART_ROWS_PER_STATEMENT = 1_000

const partRowsTexts = new Map<string, string>()
/** SQLite: the INSERT of `rows` part rows, a plain one for a new message's parts, else the upsert. */
const partRowsText = (rows: number, fresh: boolean): string => {
  const key = `${rows}${fresh ? "+" : "~"}`
  let text = partRowsTexts.get(key)
  if (text === undefined) {
    text = `INSERT INTO part (id, message_id, session_id, time_created, time_updated, data) VALUES ` +
      Array.from({ length: rows }, () => "(?,?,?,?,?,?)").join(",") +
      (fresh ? "" : ` ON CONFLICT (id) DO UPDATE SET time_created = excluded.time_created,
        time_updated = excluded.time_updated, data = excluded.data
        WHERE part.message_id = excluded.message_id`)
    partRowsTexts.set(key, text)
  }
  return text
}

/** The write plans on `sql`; `sessionColumns` as the schema check found them; `cache` on SQLite. */
export const makeWrites = (
  sql: SqlClient,
  sessionColumns: ReadonlySet<string>,
  cache: TotalsCache | undefined
): Writes => {
  const onSqlite = sql.onDialectOrElse({ sqlite: () => true, orElse: () => false })
  // The statements every message write runs, of fixed text; the rarer writes keep effect/sql's tag.
  const fixed = makeFixed(onSqlite ? "sqlite" : "pg")

  const sessionExists = function*(sessionId: SessionId) {
    const rows = yield* query(sql<{ id: string }>`SELECT id FROM session WHERE id = ${sessionId}`)
    return rows.length > 0
  }

  /** The project row, the session row (`store`), the extra: what a create and an update both write. */
  const writeSession = function*(info: SessionInfo, now: number, store: (row: Json) => Statement<unknown>) {
    const { extra, row } = sessionToRow(info, sessionColumns)
    yield* query(sql`INSERT INTO project (id, worktree, sandboxes, time_created, time_updated)
      VALUES (${info.projectID}, ${info.directory}, '[]', ${now}, ${now})
      ON CONFLICT (id) DO NOTHING`)
    yield* query(store(row))
    yield* writeExtra(info.id, extra)
  }

  const writeExtra = (sessionId: SessionId, extra: SessionExtra) =>
    query(sql`INSERT INTO session_store_session (session_id, extra) VALUES (${sessionId}, ${JSON.stringify(extra)})
      ON CONFLICT (session_id) DO UPDATE SET extra = excluded.extra`)

  /**
   * Writes the parts of `message` (by id, in order): a new message's with a plain INSERT (none of its ids
   * can be its own yet), a replaced one's upserted. Dies if an id belongs to another message.
   */
  const writeParts = function*(sessionId: SessionId, message: StoredMessage, now: number, fresh: boolean) {
    const parts = message.parts
    if (parts.length === 0) return
    const taken = () => invalid("message", "a part id belongs to another message")
    let written = 0
    try {
      if (onSqlite) {
        // One statement per chunk of rows, its text built once per row count (a statement call costs
        // about what a small row does, so one per part would cost more than the compile it saves).
        for (let start = 0; start < parts.length; start += PART_ROWS_PER_STATEMENT) {
          const end = Math.min(parts.length, start + PART_ROWS_PER_STATEMENT)
          const params: Array<unknown> = []
          for (let index = start; index < end; index++) {
            params.push(parts[index]!.id, message.id, sessionId, now + index, now, parts[index]!.data)
          }
          written += yield* execute(new Fixed(partRowsText(end - start, fresh), params, false))
        }
      } else {
        // PostgreSQL: one statement for all of them, one round trip.
        const rows = parts.map((part, index) => ({
          id: part.id,
          message_id: message.id,
          session_id: sessionId,
          time_created: now + index,
          time_updated: now,
          data: part.data
        })) as unknown as [Json, ...Array<Json>]
        written = yield* execute(
          fresh
            ? sql`INSERT INTO part ${sql.insert(rows)}`
            : sql`INSERT INTO part ${sql.insert(rows)}
              ON CONFLICT (id) DO UPDATE SET time_created = excluded.time_created, time_updated = excluded.time_updated,
                data = excluded.data
              WHERE part.message_id = excluded.message_id`
        )
      }
    } catch (error) {
      // A new message's part whose id is taken: the plain INSERT's unique violation.
      throw fresh && error instanceof SqlError && error.reason._tag === "UniqueViolation" ? taken() : error
    }
    // A replaced message's part whose id is another message's is left alone by the upsert's WHERE, so it
    // is not counted as written.
    if (written !== parts.length) throw taken()
  }

  /** Deletes the parts of a replaced message that its new version no longer has. */
  const dropOldParts = (message: StoredMessage) =>
    message.parts.length === 0
      ? execute(fixed`DELETE FROM part WHERE message_id = ${message.id}`)
      : onSqlite
      // The kept ids as one JSON array: one text for any number of parts.
      ? execute(fixed`DELETE FROM part WHERE message_id = ${message.id}
          AND id NOT IN (SELECT value FROM json_each(${JSON.stringify(message.parts.map((part) => part.id))}))`)
      : execute(sql`DELETE FROM part WHERE message_id = ${message.id} AND id NOT IN ${sql.in(message.parts.map((part) => part.id))}`)

  return {
    createSession: function*(info, now) {
      if (yield* sessionExists(info.id)) return new PlanFailure(new SessionAlreadyExists({ sessionId: info.id }))
      yield* writeSession(info, now, (row) => sql`INSERT INTO session ${sql.insert(row)}`)
    },

    updateSession: function*(info, now) {
      if (!(yield* sessionExists(info.id))) return new PlanFailure(new SessionNotFound({ sessionId: info.id }))
      yield* writeSession(info, now, (row) => sql`UPDATE session SET ${sql.update(row, ["id"])} WHERE id = ${info.id}`)
    },

    putMessage: function*(sessionId, message, now) {
      // Whose the id is decides, asked with the ids alone (a message's data, tens of KB at times, is bound
      // once, to the statement that writes it): nobody's, an append; this session's, a replacement (the
      // session exists then: its message references it); another session's, refused.
      const [owner] = yield* query<{ session_id: string; data_bytes?: number }>(
        cache === undefined
          ? fixed`SELECT session_id FROM message WHERE id = ${message.id}`
          : fixed`SELECT session_id, octet_length(data) AS data_bytes FROM message WHERE id = ${message.id}`
      )
      const appended = owner === undefined
      // What the write changes in the session's totals, when it is known (SQLite keeps them).
      let change: { readonly count: number; readonly bytes: number } | undefined
      if (appended) {
        // An append in one statement: its time_created is max(now, newest of the session + 1) (the max
        // alone in its subquery, so it is one index lookup, not a walk of the session); a session that
        // does not exist leaves session_id NULL, which opencode's NOT NULL refuses (on PostgreSQL a failed
        // statement ends the transaction, so nothing may follow it); an id another node took meanwhile
        // inserts nothing.
        let inserted: number
        try {
          inserted = yield* execute(fixed`INSERT INTO message (id, session_id, time_created, time_updated, data)
            VALUES (
              ${message.id},
              (SELECT id FROM session WHERE id = ${sessionId}),
              (SELECT CASE WHEN newest.t >= ${now} THEN newest.t + 1 ELSE ${now} END
                FROM (SELECT max(time_created) AS t FROM message WHERE session_id = ${sessionId}) AS newest),
              ${now},
              ${message.data}
            )
            ON CONFLICT (id) DO NOTHING`)
        } catch (error) {
          if (error instanceof SqlError && isMissingSession(error)) return new PlanFailure(new SessionNotFound({ sessionId }))
          throw error
        }
        if (inserted === 0) throw invalid("message", `message id ${message.id} belongs to another session`)
        change = { count: 1, bytes: message.bytes }
      } else if (owner.session_id !== sessionId) {
        if (!(yield* sessionExists(sessionId))) return new PlanFailure(new SessionNotFound({ sessionId }))
        throw invalid("message", `message id ${message.id} belongs to another session`)
      } else if (cache === undefined) {
        // PostgreSQL: no totals kept; the dropped parts go in the same statement that finds them.
        yield* execute(fixed`UPDATE message SET data = ${message.data}, time_updated = ${now} WHERE id = ${message.id}`)
        yield* dropOldParts(message)
      } else {
        // SQLite: the replaced parts' ids and sizes (their row headers, an index range), so the delete
        // runs only when a part was dropped (a streamed message only grows), and the session's totals
        // are adjusted by the difference instead of summed again at its next load (the transaction
        // checked them first).
        const old = yield* query<{ id: string; data_bytes: number }>(
          fixed`SELECT id, octet_length(data) AS data_bytes FROM part WHERE message_id = ${message.id}`
        )
        yield* execute(fixed`UPDATE message SET data = ${message.data}, time_updated = ${now} WHERE id = ${message.id}`)
        const kept = new Set(message.parts.map((part) => part.id))
        if (old.some((part) => !kept.has(part.id))) yield* dropOldParts(message)
        const before = storedMessageBytesOfLengths(sessionId, message.id, Number(owner.data_bytes), old)
        change = { count: 0, bytes: message.bytes - before }
      }
      yield* writeParts(sessionId, message, now, appended)
      // Only a session whose totals are kept is adjusted (the transaction checked them first).
      if (change === undefined || cache?.has(sessionId) !== true) return { appended, token: undefined }
      return { appended, token: cache.adjust(sessionId, change.count, change.bytes) }
    },

    removeMessage: function*(sessionId, messageId) {
      if (!(yield* sessionExists(sessionId))) return new PlanFailure(new SessionNotFound({ sessionId }))
      const owned = yield* query(sql`SELECT id FROM message WHERE id = ${messageId} AND session_id = ${sessionId}`)
      if (owned.length === 0) return new PlanFailure(new MessageNotFound({ sessionId, messageId }))
      cache?.drop(sessionId)
      yield* execute(sql`DELETE FROM part WHERE message_id = ${messageId}`)
      yield* execute(sql`DELETE FROM message WHERE id = ${messageId}`)
    },

    removeSession: function*(sessionId) {
      if (!(yield* sessionExists(sessionId))) return new PlanFailure(new SessionNotFound({ sessionId }))
      cache?.drop(sessionId)
      yield* execute(sql`DELETE FROM part WHERE session_id = ${sessionId}`)
      yield* execute(sql`DELETE FROM message WHERE session_id = ${sessionId}`)
      yield* execute(sql`DELETE FROM session_store_session WHERE session_id = ${sessionId}`)
      yield* execute(sql`DELETE FROM session WHERE id = ${sessionId}`)
    }
  }
}
