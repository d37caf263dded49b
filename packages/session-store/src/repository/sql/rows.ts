/**
 * Session info and messages ↔ opencode's rows, as opencode writes them.
 *
 * A session is a row of `session`, one column per field (opencode's
 * `Session.toRow`/`fromRow`). What has no column (a field of a newer opencode,
 * a value whose shape does not fit its column, a column an older database
 * lacks) is kept whole in our own table `session_store_session.extra`, keyed
 * by session id, and merged back on read; so nothing of a SessionInfo is lost,
 * and opencode's own readers see every field it knows in its columns.
 * `slug`, `cost` and `tokens` are NOT NULL in opencode's table: when the info
 * has none, the column gets opencode's empty value ("" or 0) and `extra.absent`
 * remembers that the info had none, so it reads back without them (unless
 * something else wrote a real value since).
 *
 * A message is one row of `message` (`data` = the info without `id` and
 * `sessionID`) and one row of `part` per part (`data` = the part without `id`,
 * `messageID` and `sessionID`), exactly opencode's layout.
 *
 * Sizes: the store accounts a message as the UTF-8 length of
 * `JSON.stringify({ info, parts })`. The stored rows hold that JSON in pieces,
 * so its length follows from theirs without building it: see
 * {@link messageBytes} and the SQL sums in storedBytes.ts, which compute the
 * same number.
 */
import { CorruptRecord } from "../../domain/Errors.ts"
import type { MessageWithParts } from "../../domain/Message.ts"
import type { SessionInfo } from "../../domain/Session.ts"

export type Json = Record<string, unknown>

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isFiniteNumber = (value: unknown): value is number => typeof value === "number" && Number.isFinite(value)

const onlyKeys = (value: Json, keys: ReadonlyArray<string>) => Object.keys(value).every((key) => keys.includes(key))

/** The `session` columns this store reads and writes that every opencode database has had. */
export const REQUIRED_SESSION_COLUMNS = [
  "id",
  "project_id",
  "parent_id",
  "slug",
  "directory",
  "title",
  "version",
  "share_url",
  "summary_additions",
  "summary_deletions",
  "summary_files",
  "summary_diffs",
  "revert",
  "permission",
  "time_created",
  "time_updated",
  "time_compacting",
  "time_archived"
] as const

/** Columns of newer opencode versions, used when the table has them (their fields go to `extra` otherwise). */
export const OPTIONAL_SESSION_COLUMNS = [
  "workspace_id",
  "path",
  "metadata",
  "cost",
  "tokens_input",
  "tokens_output",
  "tokens_reasoning",
  "tokens_cache_read",
  "tokens_cache_write",
  "agent",
  "model"
] as const

export const REQUIRED_COLUMNS: Readonly<Record<"project" | "session" | "message" | "part", ReadonlyArray<string>>> = {
  project: ["id", "worktree", "sandboxes", "time_created", "time_updated"],
  session: REQUIRED_SESSION_COLUMNS,
  message: ["id", "session_id", "time_created", "time_updated", "data"],
  part: ["id", "message_id", "session_id", "time_created", "time_updated", "data"]
}

/** What of a SessionInfo has no column: kept in `session_store_session.extra`. */
export interface SessionExtra {
  /** Fields kept whole; `time` holds only the time fields without a column. */
  readonly rest: Json
  /** NOT NULL columns filled with opencode's empty value because the info had no such field. */
  readonly absent: ReadonlyArray<"slug" | "cost" | "tokens">
}

const TOKEN_COLUMNS = [
  "tokens_input",
  "tokens_output",
  "tokens_reasoning",
  "tokens_cache_read",
  "tokens_cache_write"
] as const

const fitsTokens = (value: unknown): value is {
  input: number
  output: number
  reasoning: number
  cache: { read: number; write: number }
} =>
  isObject(value) && onlyKeys(value, ["input", "output", "reasoning", "cache"]) &&
  isFiniteNumber(value["input"]) && isFiniteNumber(value["output"]) && isFiniteNumber(value["reasoning"]) &&
  isObject(value["cache"]) && onlyKeys(value["cache"], ["read", "write"]) &&
  isFiniteNumber(value["cache"]["read"]) && isFiniteNumber(value["cache"]["write"])

const fitsSummary = (value: unknown): value is { additions: number; deletions: number; files: number; diffs?: unknown } =>
  isObject(value) && onlyKeys(value, ["additions", "deletions", "files", "diffs"]) &&
  isFiniteNumber(value["additions"]) && isFiniteNumber(value["deletions"]) && isFiniteNumber(value["files"]) &&
  value["diffs"] !== null

const fitsJson = (value: unknown) => value !== null && value !== undefined

/** Session fields kept in a text column of opencode's `session` table, by field. */
const TEXT_COLUMNS: Readonly<Record<string, string>> = { workspaceID: "workspace_id", path: "path", agent: "agent" }

/** Session fields kept as JSON in a column of opencode's `session` table, by field. */
const JSON_COLUMNS: Readonly<Record<string, string>> = {
  revert: "revert",
  permission: "permission",
  metadata: "metadata",
  model: "model"
}

/**
 * The `session` row of `info` (only the columns in `columns`) and what does
 * not fit in it.
 */
export const sessionToRow = (
  info: SessionInfo,
  columns: ReadonlySet<string>
): { readonly row: Json; readonly extra: SessionExtra } => {
  const rest: Json = {}
  const absent: Array<"slug" | "cost" | "tokens"> = []
  const { directory, id, parentID, projectID, time, title, version, ...others } = info as SessionInfo & Json
  const { archived, compacting, created, updated, ...timeRest } = time as SessionInfo["time"] & Json

  // Every column this store writes, at opencode's empty value until a field fills it.
  const row: Json = {
    id,
    project_id: projectID,
    parent_id: parentID ?? null,
    directory,
    title,
    version,
    time_created: created,
    time_updated: updated,
    time_compacting: null,
    time_archived: null,
    slug: "",
    share_url: null,
    summary_additions: null,
    summary_deletions: null,
    summary_files: null,
    summary_diffs: null,
    revert: null,
    permission: null
  }
  if (compacting !== undefined) {
    if (isFiniteNumber(compacting)) row["time_compacting"] = compacting
    else timeRest["compacting"] = compacting
  }
  if (archived !== undefined) {
    if (isFiniteNumber(archived)) row["time_archived"] = archived
    else timeRest["archived"] = archived
  }
  if (Object.keys(timeRest).length > 0) rest["time"] = timeRest

  for (const column of ["workspace_id", "path", "metadata", "agent", "model"]) {
    if (columns.has(column)) row[column] = null
  }
  if (columns.has("cost")) row["cost"] = 0
  for (const column of TOKEN_COLUMNS) if (columns.has(column)) row[column] = 0
  const hasTokenColumns = TOKEN_COLUMNS.every((column) => columns.has(column))

  let slugSeen = false
  let costSeen = false
  let tokensSeen = false
  const stringColumn = (key: string, column: string, value: unknown) => {
    if (typeof value === "string" && columns.has(column)) row[column] = value
    else rest[key] = value
  }
  const jsonColumn = (key: string, column: string, value: unknown) => {
    if (fitsJson(value) && columns.has(column)) row[column] = JSON.stringify(value)
    else rest[key] = value
  }
  for (const [key, value] of Object.entries(others)) {
    if (value === undefined) continue
    const textColumn = TEXT_COLUMNS[key]
    if (textColumn !== undefined) {
      stringColumn(key, textColumn, value)
      continue
    }
    const jsonColumnName = JSON_COLUMNS[key]
    if (jsonColumnName !== undefined) {
      jsonColumn(key, jsonColumnName, value)
      continue
    }
    switch (key) {
      case "slug":
        slugSeen = true
        stringColumn(key, "slug", value)
        break
      case "share":
        if (isObject(value) && onlyKeys(value, ["url"]) && typeof value["url"] === "string") {
          row["share_url"] = value["url"]
        } else rest[key] = value
        break
      case "summary":
        if (fitsSummary(value)) {
          row["summary_additions"] = value.additions
          row["summary_deletions"] = value.deletions
          row["summary_files"] = value.files
          if (value.diffs !== undefined) row["summary_diffs"] = JSON.stringify(value.diffs)
        } else rest[key] = value
        break
      case "cost":
        costSeen = true
        if (isFiniteNumber(value) && columns.has("cost")) row["cost"] = value
        else rest[key] = value
        break
      case "tokens":
        tokensSeen = true
        if (fitsTokens(value) && hasTokenColumns) {
          row["tokens_input"] = value.input
          row["tokens_output"] = value.output
          row["tokens_reasoning"] = value.reasoning
          row["tokens_cache_read"] = value.cache.read
          row["tokens_cache_write"] = value.cache.write
        } else rest[key] = value
        break
      default:
        rest[key] = value
    }
  }
  if (!slugSeen) absent.push("slug")
  if (!costSeen && columns.has("cost")) absent.push("cost")
  if (!tokensSeen && hasTokenColumns) absent.push("tokens")
  return { row, extra: { rest, absent } }
}

const parseJson = (text: unknown): unknown => (typeof text === "string" ? JSON.parse(text) : text)

const present = (value: unknown) => value !== null && value !== undefined

/**
 * The SessionInfo of a `session` row, as opencode's `fromRow` builds it,
 * with what `extra` kept merged back. Throws on a JSON column that does not
 * parse (the caller reports it as a corrupt record).
 */
export const sessionFromRow = (row: Json, extra: SessionExtra | undefined): SessionInfo => {
  const absent = new Set(extra?.absent ?? [])
  const time: Json = { created: row["time_created"], updated: row["time_updated"] }
  if (present(row["time_compacting"])) time["compacting"] = row["time_compacting"]
  if (present(row["time_archived"])) time["archived"] = row["time_archived"]
  const info: Json = {
    id: row["id"],
    projectID: row["project_id"],
    directory: row["directory"],
    title: row["title"],
    version: row["version"],
    time
  }
  if (present(row["slug"]) && !(absent.has("slug") && row["slug"] === "")) info["slug"] = row["slug"]
  if (present(row["workspace_id"])) info["workspaceID"] = row["workspace_id"]
  if (present(row["path"])) info["path"] = row["path"]
  if (present(row["parent_id"])) info["parentID"] = row["parent_id"]
  if (present(row["summary_additions"]) || present(row["summary_deletions"]) || present(row["summary_files"])) {
    const summary: Json = {
      additions: row["summary_additions"] ?? 0,
      deletions: row["summary_deletions"] ?? 0,
      files: row["summary_files"] ?? 0
    }
    if (present(row["summary_diffs"])) summary["diffs"] = parseJson(row["summary_diffs"])
    info["summary"] = summary
  }
  if (present(row["cost"]) && !(absent.has("cost") && row["cost"] === 0)) info["cost"] = row["cost"]
  if (TOKEN_COLUMNS.every((column) => present(row[column]))) {
    const zero = TOKEN_COLUMNS.every((column) => row[column] === 0)
    if (!(absent.has("tokens") && zero)) {
      info["tokens"] = {
        input: row["tokens_input"],
        output: row["tokens_output"],
        reasoning: row["tokens_reasoning"],
        cache: { read: row["tokens_cache_read"], write: row["tokens_cache_write"] }
      }
    }
  }
  if (present(row["share_url"])) info["share"] = { url: row["share_url"] }
  if (present(row["agent"])) info["agent"] = row["agent"]
  if (present(row["model"])) info["model"] = parseJson(row["model"])
  if (present(row["metadata"])) info["metadata"] = parseJson(row["metadata"])
  if (present(row["permission"])) info["permission"] = parseJson(row["permission"])
  if (present(row["revert"])) info["revert"] = parseJson(row["revert"])
  if (extra !== undefined) {
    for (const [key, value] of Object.entries(extra.rest)) {
      if (key === "time" && isObject(value)) Object.assign(time, value)
      else info[key] = value
    }
  }
  return info as SessionInfo
}

/** The `message` row data and the `part` rows' data of a message (ids and owners live in columns). */
export const messageToData = (message: MessageWithParts): {
  readonly data: string
  readonly parts: ReadonlyArray<{ readonly id: string; readonly data: string }>
} => {
  const { id: _id, sessionID: _sessionID, ...info } = message.info as MessageWithParts["info"] & Json
  return {
    data: JSON.stringify(info),
    parts: message.parts.map((part) => {
      const { id, messageID: _messageID, sessionID: _sessionID, ...rest } = part as MessageWithParts["parts"][number] & Json
      return { id, data: JSON.stringify(rest) }
    })
  }
}

/** The CorruptRecord of the row `id` of `table` that did not decode, with why. */
export const corrupt = (table: string, id: string, error: unknown) =>
  new CorruptRecord({
    file: `${table} ${id}`,
    problem: error instanceof Error ? error.message : String(error)
  })

/** Throws unless `data` is the JSON text of an object. */
export const parseObject = (data: unknown): Json => {
  const value = typeof data === "string" ? JSON.parse(data) : data
  if (!isObject(value)) throw new Error("data is not a JSON object")
  return value
}

/** UTF-8 length of `JSON.stringify(id)` (ids never hold control characters or backslashes; quotes are escaped). */
export const jsonStringBytes = (value: string): number => {
  let quotes = 0
  for (let i = value.indexOf("\""); i !== -1; i = value.indexOf("\"", i + 1)) quotes++
  return Buffer.byteLength(value, "utf8") + 2 + quotes
}

/** What `data` adds to its object once the id columns are put back in front: `,` + its members, or nothing. */
const dataMembers = (dataBytes: number) => (dataBytes > 2 ? dataBytes - 1 : 0)

/**
 * UTF-8 length of `JSON.stringify({ id, sessionID, ...data })`: `{"id":…,"sessionID":…}` plus data's
 * members, from the {@link jsonStringBytes} of the ids (computed once for all the rows that share one).
 */
export const infoBytes = (idJson: number, sessionJson: number, dataBytes: number) =>
  20 + idJson + sessionJson + dataMembers(dataBytes)

/** UTF-8 length of `JSON.stringify({ id, sessionID, messageID, ...data })`, from the ids' {@link jsonStringBytes}. */
export const partBytes = (idJson: number, sessionJson: number, messageJson: number, dataBytes: number) =>
  33 + idJson + sessionJson + messageJson + dataMembers(dataBytes)

/** UTF-8 length of `JSON.stringify({ info, parts })` from the sizes of its pieces: `{"info":…,"parts":[…]}`. */
export const messageBytes = (info: number, parts: ReadonlyArray<number>) => {
  let total = 20 + info
  for (let i = 0; i < parts.length; i++) total += parts[i]! + (i === 0 ? 0 : 1)
  return total
}

/**
 * UTF-8 length of `JSON.stringify({ info, parts })` of a message, from the pieces it is stored as
 * (see {@link messageToData}): the same figure a load computes from the rows, without encoding the
 * message again.
 */
export const storedMessageBytes = (
  sessionId: string,
  messageId: string,
  data: string,
  parts: ReadonlyArray<{ readonly id: string; readonly data: string }>
): number =>
  storedMessageBytesOfLengths(
    sessionId,
    messageId,
    Buffer.byteLength(data, "utf8"),
    parts.map((part) => ({ id: part.id, data_bytes: Buffer.byteLength(part.data, "utf8") }))
  )

/** {@link storedMessageBytes} from the UTF-8 lengths of the `data` columns (as SQL reports them). */
export const storedMessageBytesOfLengths = (
  sessionId: string,
  messageId: string,
  dataBytes: number,
  parts: ReadonlyArray<{ readonly id: string; readonly data_bytes: number }>
): number => {
  const sessionJson = jsonStringBytes(sessionId)
  const messageJson = jsonStringBytes(messageId)
  return messageBytes(
    infoBytes(messageJson, sessionJson, dataBytes),
    parts.map((part) => partBytes(jsonStringBytes(part.id), sessionJson, messageJson, Number(part.data_bytes)))
  )
}
