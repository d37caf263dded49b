/**
 * Rows read back into domain values: a session row (and what of it our own
 * table keeps), and messages with their parts, each with the size the store
 * accounts for it. A row that does not decode is a CorruptRecord naming it:
 * a session's at once, a message's when it is first read (rowMessage.ts).
 */
import { Effect } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { Fragment } from "effect/sql/Statement"
import { type CorruptRecord, SessionNotFound } from "../../domain/Errors.ts"
import type { MessageId, SessionId } from "../../domain/Ids.ts"
import { encodeRecord } from "../../domain/records.ts"
import type { SessionInfo } from "../../domain/Session.ts"
import type { StoredMessage } from "../port.ts"
import { RowMessage } from "./rowMessage.ts"
import {
  corrupt,
  infoBytes,
  jsonStringBytes,
  type Json,
  messageBytes,
  parseObject,
  partBytes,
  type SessionExtra,
  sessionFromRow
} from "./rows.ts"

/** A `message` row as the repository selects it ({@link Reads.messageColumns}). */
export interface MessageRow {
  readonly id: string
  readonly data: string
  /** The UTF-8 length of `data`, from SQL: it has it at hand, where JS would scan the string. */
  readonly data_bytes: number
}

interface PartRow extends MessageRow {
  readonly message_id: string
}

/** A part row read by session ({@link Reads.withParts} with `whole`), ordered in memory. */
interface SessionPartRow extends PartRow {
  readonly time_created: number
}

const partOrder = (a: SessionPartRow, b: SessionPartRow) =>
  a.time_created - b.time_created || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)

/** Ids per `IN (…)` list, well under SQLite's and PostgreSQL's parameter limits. */
const CHUNK = 500

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

/** A message's part rows, in order, and each one's size as it counts in the message's (`partBytes`). */
interface MessageParts {
  readonly rows: Array<PartRow>
  readonly sizes: Array<number>
}

/**
 * Groups part rows by message into `into`, in the order they come, and sizes them from their lengths
 * (nothing is parsed here: a message is decoded when it is first read).
 */
const groupParts = (sessionJson: number, rows: ReadonlyArray<PartRow>, into: Map<string, MessageParts>) => {
  let owner = ""
  let ownerJson = 0
  for (const row of rows) {
    // Rows come grouped by message: its id's JSON length is measured once per message.
    if (row.message_id !== owner) {
      owner = row.message_id
      ownerJson = jsonStringBytes(owner)
    }
    const bytes = partBytes(jsonStringBytes(row.id), sessionJson, ownerJson, Number(row.data_bytes))
    const grouped = into.get(owner)
    if (grouped === undefined) into.set(owner, { rows: [row], sizes: [bytes] })
    else {
      grouped.rows.push(row)
      grouped.sizes.push(bytes)
    }
  }
}

/** The message of a row with its part rows, sized as `{"info":…,"parts":[…]}`. */
const rowMessage = (sessionId: SessionId, sessionJson: number, row: MessageRow, parts: MessageParts | undefined) =>
  new RowMessage(
    sessionId,
    row.id as MessageId,
    row.data,
    parts?.rows ?? [],
    messageBytes(infoBytes(jsonStringBytes(row.id), sessionJson, Number(row.data_bytes)), parts?.sizes ?? [])
  )

/** The readers on `sql`; each runs inside the caller's transaction. */
export interface Reads {
  /** The `SELECT` list of a {@link MessageRow}. */
  readonly messageColumns: Fragment
  /** The session's info and size, or SessionNotFound. */
  readonly readSession: (
    sessionId: SessionId
  ) => Effect.Effect<{ readonly info: SessionInfo; readonly bytes: number }, SessionNotFound | CorruptRecord | SqlError>
  /**
   * The messages of `rows` with their parts, in the order of `rows`. With `whole`, `rows` are every
   * message of the session: the parts are read by session then (one index range, no list of ids, and
   * no sort in SQL that would copy every part's data into a sorter: they are ordered here, per message).
   * Each is a {@link RowMessage}: decoded, or found corrupt, when it is first read.
   */
  readonly withParts: (
    sessionId: SessionId,
    rows: ReadonlyArray<MessageRow>,
    whole?: boolean
  ) => Effect.Effect<Array<StoredMessage>, SqlError>
}

/** The readers on `sql`, measuring `data` with `dataLength` (storedBytes.ts). */
export const makeReads = (sql: SqlClient, dataLength: string): Reads => ({
  messageColumns: sql.literal(`id, data, ${dataLength} AS data_bytes`),

  readSession: (sessionId) =>
    Effect.gen(function*() {
      const rows = yield* sql<Json>`SELECT * FROM session WHERE id = ${sessionId}`
      if (rows.length === 0) return yield* new SessionNotFound({ sessionId })
      const extraRows = yield* sql<{ extra: unknown }>`SELECT extra FROM session_store_session WHERE session_id = ${sessionId}`
      return yield* decodeSession(rows[0]!, extraRows[0]?.extra)
    }),

  withParts: (sessionId, rows, whole) =>
    Effect.gen(function*() {
      const sessionJson = jsonStringBytes(sessionId)
      const parts = new Map<string, MessageParts>()
      if (whole === true) {
        const found = rows.length === 0 ? [] : yield* sql<SessionPartRow>`SELECT message_id, id, data,
          ${sql.literal(dataLength)} AS data_bytes, time_created FROM part WHERE session_id = ${sessionId}`
        const byMessage = new Map<string, Array<SessionPartRow>>()
        for (const row of found) {
          const group = byMessage.get(row.message_id)
          if (group === undefined) byMessage.set(row.message_id, [row])
          else group.push(row)
        }
        for (const row of rows) {
          const group = byMessage.get(row.id)
          if (group !== undefined) groupParts(sessionJson, group.sort(partOrder), parts)
        }
      } else {
        for (let i = 0; i < rows.length; i += CHUNK) {
          const ids = rows.slice(i, i + CHUNK).map((row) => row.id)
          const found = yield* sql<PartRow>`SELECT message_id, id, data, ${sql.literal(dataLength)} AS data_bytes
            FROM part WHERE ${sql.in("message_id", ids)} ORDER BY message_id, time_created, id`
          groupParts(sessionJson, found, parts)
        }
      }
      return rows.map((row): StoredMessage => rowMessage(sessionId, sessionJson, row, parts.get(row.id)))
    })
})
