/**
 * Rows read back into domain values: a session row (and what of it our own
 * table keeps), and messages with their parts, each with the size the store
 * accounts for it. A row that does not decode is a CorruptRecord naming it.
 */
import { Effect } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import { CorruptRecord, SessionNotFound } from "../../domain/Errors.ts"
import type { SessionId } from "../../domain/Ids.ts"
import type { MessageWithParts } from "../../domain/Message.ts"
import { encodeRecord } from "../../domain/records.ts"
import type { StoredMessage } from "../port.ts"
import { infoBytes, type Json, messageBytes, parseObject, partBytes, type SessionExtra, sessionFromRow } from "./rows.ts"

/** A `message` row as the repository selects it. */
export interface MessageRow {
  readonly id: string
  readonly data: string
}

interface PartRow {
  readonly message_id: string
  readonly id: string
  readonly data: string
}

/** Ids per `IN (…)` list, well under SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 500

const corrupt = (table: string, id: string, error: unknown) =>
  new CorruptRecord({
    file: `${table} ${id}`,
    problem: error instanceof Error ? error.message : String(error)
  })

/** The SessionInfo of a `session` row and the `extra` kept for it, with its size. */
export const decodeSession = (row: Json, extraText: unknown) =>
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

/** The readers on `sql`; each runs inside the caller's transaction. */
export const makeReads = (sql: SqlClient) => ({
  /** The session's info and size, or SessionNotFound. */
  readSession: (sessionId: SessionId) =>
    Effect.gen(function*() {
      const rows = yield* sql<Json>`SELECT * FROM session WHERE id = ${sessionId}`
      if (rows.length === 0) return yield* new SessionNotFound({ sessionId })
      const extraRows = yield* sql<{ extra: unknown }>`SELECT extra FROM session_store_session WHERE session_id = ${sessionId}`
      return yield* decodeSession(rows[0]!, extraRows[0]?.extra)
    }),

  /** The messages of `rows` with their parts, in the order of `rows`. */
  withParts: (sessionId: SessionId, rows: ReadonlyArray<MessageRow>) =>
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
})
