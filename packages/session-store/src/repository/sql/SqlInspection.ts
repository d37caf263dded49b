/**
 * Read-only inspection of an opencode.db: what sessions it holds and, with
 * `verify`, every problem in it. It opens the file read-only on `node:sqlite`
 * and never writes the database (no migration, no checkpoint; a read-only
 * connection to a WAL database does need SQLite's shared-memory index, so
 * SQLite may create the empty `-wal` and the `-shm` side files beside it):
 *
 * - `PRAGMA integrity_check`: SQLite's own check of pages, indexes and
 *   constraints; each line it reports is a problem of table `sqlite`;
 * - every row of `session`, `message` and `part` rebuilt as the SQL
 *   repository reads it (a session from its columns plus what our
 *   `session_store_session` keeps; a message or a part from its id columns
 *   plus its `data` JSON) and decoded with the domain schemas (SessionInfo,
 *   MessageWithParts); a message whose session is gone, a part whose message
 *   is gone, are problems too.
 *
 * Each problem names the table and the row id. Every session is listed, and
 * marked unhealthy when its row, one of its messages or one of its parts has
 * a problem.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { inspectDatabase } from "@session-store/core/SqlInspection"
 *
 * const program = Effect.gen(function*() {
 *   const report = yield* inspectDatabase("/home/me/.local/share/opencode/opencode.db", { verify: true })
 *   for (const p of report.problems ?? []) console.log(`${p.table} ${p.id}: ${p.problem}`)
 *   return report.sessions.filter((s) => !s.healthy).map((s) => s.id)
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { Effect, Schema } from "effect"
import { messageProblem, sessionInfoProblem } from "../../domain/validation.ts"
import { infoBytes, jsonStringBytes, messageBytes, parseObject, partBytes, type SessionExtra, sessionFromRow } from "./rows.ts"

/**
 * One problem found: the table (`session`, `message`, `part`, or `sqlite`
 * for what `PRAGMA integrity_check` reports), the row's id, what is wrong.
 *
 * @example
 * ```ts
 * const line = (p: SqlProblem) => `${p.table} ${p.id}: ${p.problem}`
 * ```
 */
export interface SqlProblem {
  readonly table: "session" | "message" | "part" | "sqlite"
  readonly id: string
  /** The session the row belongs to, when known. */
  readonly sessionId?: string | undefined
  readonly problem: string
}

/**
 * A session of the database, as the listing shows it.
 *
 * @example
 * ```ts
 * const bad = (sessions: ReadonlyArray<InspectedSession>) => sessions.filter((s) => !s.healthy)
 * ```
 */
export interface InspectedSession {
  readonly id: string
  readonly title: string
  readonly updated: number
  readonly messageCount: number
  /** The session's size as the store accounts it: its info and its messages' JSON. */
  readonly bytes: number
  /** False when `verify` found a problem in its row, a message or a part; true otherwise (or when not verified). */
  readonly healthy: boolean
}

/**
 * What {@link inspectDatabase} found.
 *
 * @example
 * ```ts
 * const clean = (r: DatabaseInspection) => r.problems !== undefined && r.problems.length === 0
 * ```
 */
export interface DatabaseInspection {
  readonly filename: string
  /** Most recently updated first. */
  readonly sessions: ReadonlyArray<InspectedSession>
  /** Present when `verify` was asked for: every problem, each with its table and id. */
  readonly problems: ReadonlyArray<SqlProblem> | undefined
}

/**
 * The file is not a SQLite database (or not one with opencode's tables), or
 * cannot be opened: nothing was read or written.
 *
 * @example
 * ```ts
 * new NotASessionDatabase({ filename: "notes.txt", reason: "file is not a database" }).message
 * // "notes.txt is not a session-store database: file is not a database"
 * ```
 */
export class NotASessionDatabase extends Schema.TaggedError<NotASessionDatabase>()("NotASessionDatabase", {
  filename: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.filename} is not a session-store database: ${this.reason}`
  }
}

type Row = Record<string, unknown>

const SQLITE_HEADER = "SQLite format 3\u0000"

/** Whether `filename` starts with SQLite's file header (an empty file is a database with no tables yet). */
export const looksLikeSqlite = (filename: string): boolean => {
  const fd = fs.openSync(filename, "r")
  try {
    const header = Buffer.alloc(16)
    const read = fs.readSync(fd, header, 0, 16, 0)
    return read === 0 || header.toString("latin1") === SQLITE_HEADER
  } finally {
    fs.closeSync(fd)
  }
}

const open = (filename: string) =>
  Effect.try({
    try: () => {
      const stat = fs.statSync(filename)
      if (!stat.isFile()) throw new Error("not a file")
      if (!looksLikeSqlite(filename)) throw new Error("not a SQLite file")
      const db = new DatabaseSync(filename, { readOnly: true })
      try {
        const tables = new Set(
          (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((r) =>
            r.name
          )
        )
        const missing = ["session", "message", "part"].filter((t) => !tables.has(t))
        if (missing.length > 0) throw new Error(`no table ${missing.join(", ")}`)
        return { db, hasExtra: tables.has("session_store_session") }
      } catch (error) {
        db.close()
        throw error
      }
    },
    catch: (error) =>
      new NotASessionDatabase({ filename, reason: error instanceof Error ? error.message : String(error) })
  })

const describe = (error: unknown) => (error instanceof Error ? error.message : String(error)).replaceAll("\n", " ")

/**
 * Lists the sessions of the database at `filename` and, with `verify`, checks
 * it (see the module doc). Read-only; fails with {@link NotASessionDatabase}
 * for a file that is not SQLite or lacks opencode's tables.
 *
 * @example
 * ```ts
 * const report = yield* inspectDatabase(".opencode/opencode.db", { verify: true })
 * ```
 */
export const inspectDatabase = (
  filename: string,
  options: { readonly verify?: boolean | undefined } = {}
): Effect.Effect<DatabaseInspection, NotASessionDatabase> =>
  Effect.acquireUseRelease(
    open(filename),
    ({ db, hasExtra }) =>
      Effect.try({
        try: () => inspect(db, hasExtra, options.verify === true, filename),
        catch: (error) => new NotASessionDatabase({ filename, reason: describe(error) })
      }),
    ({ db }) => Effect.sync(() => db.close())
  )

const inspect = (db: DatabaseSync, hasExtra: boolean, verify: boolean, filename: string): DatabaseInspection => {
  const problems: Array<SqlProblem> = []
  const unhealthy = new Set<string>()
  const problem = (p: SqlProblem) => {
    problems.push(p)
    if (p.sessionId !== undefined) unhealthy.add(p.sessionId)
  }

  if (verify) {
    for (const row of db.prepare("PRAGMA integrity_check").all() as Array<Row>) {
      const line = String(Object.values(row)[0])
      if (line !== "ok") problem({ table: "sqlite", id: "integrity_check", problem: line })
    }
  }

  const extras = new Map<string, unknown>()
  if (hasExtra) {
    for (const row of db.prepare("SELECT session_id, extra FROM session_store_session").all() as Array<Row>) {
      extras.set(String(row["session_id"]), row["extra"])
    }
  }

  const sessions = new Map<string, { id: string; title: string; updated: number; messageCount: number; bytes: number }>()
  for (const row of db.prepare("SELECT * FROM session").all() as Array<Row>) {
    const id = String(row["id"])
    let title = String(row["title"] ?? "")
    let bytes = 0
    try {
      const extraText = extras.get(id)
      const extra = extraText === undefined || extraText === null ? undefined : (parseObject(extraText) as unknown as SessionExtra)
      const info = sessionFromRow({ ...row }, extra)
      title = String(info.title)
      bytes = Buffer.byteLength(JSON.stringify(info), "utf8")
      if (verify) {
        const why = sessionInfoProblem(info, id)
        if (why !== undefined) problem({ table: "session", id, sessionId: id, problem: why })
      }
    } catch (error) {
      problem({ table: "session", id, sessionId: id, problem: describe(error) })
    }
    sessions.set(id, { id, title, updated: Number(row["time_updated"]), messageCount: 0, bytes })
  }

  // Messages, each with its parts, in one pass over each table (ordered so a message's parts come together).
  const partsOf = new Map<string, Array<Row>>()
  for (const part of db.prepare("SELECT id, message_id, session_id, data FROM part ORDER BY message_id, time_created, id").all() as Array<Row>) {
    const owner = String(part["message_id"])
    const list = partsOf.get(owner)
    if (list === undefined) partsOf.set(owner, [part])
    else list.push(part)
  }
  const messageIds = new Set<string>()
  for (const row of db.prepare("SELECT id, session_id, data FROM message ORDER BY session_id, time_created, id").all() as Array<Row>) {
    const id = String(row["id"])
    const sessionId = String(row["session_id"])
    messageIds.add(id)
    const session = sessions.get(sessionId)
    if (session === undefined) {
      if (verify) problem({ table: "message", id, sessionId, problem: `its session ${sessionId} does not exist` })
      continue
    }
    session.messageCount++
    const data = String(row["data"])
    const parts = partsOf.get(id) ?? []
    const [idJson, sessionJson] = [jsonStringBytes(id), jsonStringBytes(sessionId)]
    session.bytes += messageBytes(
      infoBytes(idJson, sessionJson, Buffer.byteLength(data, "utf8")),
      parts.map((p) =>
        partBytes(jsonStringBytes(String(p["id"])), sessionJson, idJson, Buffer.byteLength(String(p["data"]), "utf8"))
      )
    )
    if (!verify) continue
    let info: Row
    try {
      info = { id, sessionID: sessionId, ...parseObject(data) }
    } catch (error) {
      problem({ table: "message", id, sessionId, problem: `data: ${describe(error)}` })
      continue
    }
    const infoProblem = messageProblem({ info, parts: [] }, sessionId)
    if (infoProblem !== undefined) problem({ table: "message", id, sessionId, problem: infoProblem })
    for (const part of parts) {
      const partId = String(part["id"])
      if (String(part["session_id"]) !== sessionId) {
        problem({ table: "part", id: partId, sessionId, problem: `its session_id ${String(part["session_id"])} is not its message's ${sessionId}` })
      }
      try {
        const value = { id: partId, sessionID: sessionId, messageID: id, ...parseObject(part["data"]) }
        const why = infoProblem === undefined ? messageProblem({ info, parts: [value] }, sessionId) : undefined
        if (why !== undefined) problem({ table: "part", id: partId, sessionId, problem: why })
      } catch (error) {
        problem({ table: "part", id: partId, sessionId, problem: `data: ${describe(error)}` })
      }
    }
  }
  if (verify) {
    for (const [owner, parts] of partsOf) {
      if (messageIds.has(owner)) continue
      for (const part of parts) {
        const sessionId = String(part["session_id"])
        problem({ table: "part", id: String(part["id"]), sessionId, problem: `its message ${owner} does not exist` })
      }
    }
  }

  return {
    filename,
    sessions: [...sessions.values()]
      .map((s) => ({ ...s, healthy: !unhealthy.has(s.id) }))
      .sort((a, b) => b.updated - a.updated),
    problems: verify ? problems : undefined
  }
}
