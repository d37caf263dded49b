/**
 * Byte totals of a session from its stored rows, in SQL: the sizes the store
 * accounts (rows.ts: the UTF-8 length of `JSON.stringify({ info, parts })` per
 * message) summed over every message and part row of a session without
 * reading any JSON. SQL takes, per table, sums it can read from the row
 * headers (lengths of the ids and of `data`, the quotes in the ids); what is
 * the same for every row is added here in JS.
 */
import type { SqlClient } from "effect/sql/SqlClient"
import type { Fragment } from "effect/sql/Statement"
import type { Json } from "./rows.ts"

/** The sums of one table's rows (a `SELECT` list) and what they add up to. */
export interface StoredBytes {
  /** The UTF-8 length of a row's `data`, as SQL. */
  readonly dataLength: string
  /** `SELECT` list over `message` rows: `n`, the id sums, the data sums. */
  readonly messageSums: Fragment
  /** `SELECT` list over `part` rows: `n`, `owners` (messages with parts), the id sums, the data sums. */
  readonly partSums: Fragment
  /** A numeric column of a sums row (0 when null). */
  readonly num: (row: Json, key: string) => number
  /** Bytes of the message rows summed in `row`: Σ (20 + infoBytes). */
  readonly messageRowsBytes: (row: Json, sessionJson: number) => number
  /** Bytes the part rows summed in `row` add to their messages: Σ (partBytes + 1) − messages with parts. */
  readonly partRowsBytes: (row: Json, sessionJson: number) => number
}

/** The sums in `sql`'s dialect (PostgreSQL measures the `json` column's text). */
export const makeStoredBytes = (sql: SqlClient): StoredBytes => {
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
  const num = (row: Json, key: string) => Number(row[key] ?? 0)
  /** Σ over rows of (the JSON string length of `column`). */
  const jsonIds = (row: Json, column: string) => num(row, `${column}_bytes`) + 2 * num(row, "n") + num(row, `${column}_quotes`)
  /** Σ over rows of what `data` adds to its object (rows.ts: dataMembers). */
  const dataMembersSum = (row: Json) =>
    num(row, "data_bytes") - num(row, "empty_bytes") - (num(row, "n") - num(row, "empty_count"))
  return {
    dataLength,
    messageSums: sql.literal(`count(*) AS n, ${idSums("id")}, ${dataSums}`),
    partSums: sql.literal(
      `count(*) AS n, count(DISTINCT message_id) AS owners, ${idSums("id")}, ${idSums("message_id")}, ${dataSums}`
    ),
    num,
    messageRowsBytes: (row, sessionJson) =>
      40 * num(row, "n") + jsonIds(row, "id") + sessionJson * num(row, "n") + dataMembersSum(row),
    partRowsBytes: (row, sessionJson) =>
      34 * num(row, "n") + jsonIds(row, "id") + jsonIds(row, "message_id") + sessionJson * num(row, "n") +
      dataMembersSum(row) - num(row, "owners")
  }
}
