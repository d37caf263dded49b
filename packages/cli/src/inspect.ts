/**
 * `session-store inspect <opencode.db> [--verify]`: what an opencode.db
 * holds and (with `--verify`) `PRAGMA integrity_check` plus every session,
 * message and part row decoded with the domain schemas, each problem with its
 * table and id (the library's `SqlInspection`, which opens the file
 * read-only, so it never writes). A path that does not exist is reported, not
 * created; a directory is reported as not a session-store database.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { inspectTarget, renderDatabase } from "./inspect.ts"
 *
 * const program = Effect.map(inspectTarget("./opencode.db"), (found) => renderDatabase(found.inspection))
 * ```
 *
 * @since 0.1.0
 */
import { type DatabaseInspection, inspectDatabase as inspectSqlite } from "@session-store/core/SqlInspection"
import { Effect, FileSystem } from "effect"
import { CliError } from "effect/cli"

const userError = (userMessage: string, cause: unknown = userMessage) => new CliError.UserError({ cause, userMessage })

/**
 * Lists the sessions of the opencode.db at `filename` and, when `verify` is
 * set, checks its integrity and decodes every row. A file that is not SQLite
 * (or has no opencode tables) fails with one line: "… is not a session-store
 * database".
 *
 * @example
 * ```ts
 * const inspection = yield* inspectDatabase(".opencode/opencode.db", { verify: true })
 * ```
 */
export const inspectDatabase = Effect.fn("Inspect.database")(function*(
  filename: string,
  options: { readonly verify?: boolean } = {}
) {
  return yield* inspectSqlite(filename, options).pipe(
    Effect.mapError((cause) => userError(`${filename} is not a session-store database (${cause.reason})`, cause))
  )
})

/**
 * What `inspect` does with `target`: the database inspection for a file; a
 * directory fails with one line saying it is not a session-store database.
 *
 * @example
 * ```ts
 * const found = yield* inspectTarget("./opencode.db", { verify: true })
 * ```
 */
export const inspectTarget = Effect.fn("Inspect.target")(function*(
  target: string,
  options: { readonly verify?: boolean } = {}
) {
  const fs = yield* FileSystem.FileSystem
  const info = yield* fs.stat(target).pipe(
    Effect.mapError((cause) =>
      userError(
        cause._tag === "PlatformError" && cause.reason._tag === "NotFound"
          ? `cannot read ${target}: it does not exist`
          : `cannot read ${target}: ${cause.message}`,
        cause
      )
    )
  )
  if (info.type === "Directory") {
    return yield* userError(`${target} is not a session-store database (a directory, not an opencode.db file)`)
  }
  return { kind: "database" as const, inspection: yield* inspectDatabase(target, options) }
})

/**
 * The database listing as a table (with a `health` column when verified), then the problems.
 *
 * @example
 * ```ts
 * yield* Console.log(renderDatabase(inspection))
 * ```
 */
export const renderDatabase = (inspection: DatabaseInspection): string => {
  const verified = inspection.problems !== undefined
  const header = ["id", "title", "messages", "bytes", "last update", ...(verified ? ["health"] : [])]
  const rows = inspection.sessions.map((s) => [
    s.id,
    clip(s.title, 48),
    int(s.messageCount),
    sizeOf(s.bytes),
    new Date(s.updated).toISOString(),
    ...(verified ? [s.healthy ? "ok" : "BAD"] : [])
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const right = new Set([2, 3])
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  const out: Array<string> = []
  if (rows.length > 0) out.push(line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line), "")
  const messages = inspection.sessions.reduce((n, s) => n + s.messageCount, 0)
  const bytes = inspection.sessions.reduce((n, s) => n + s.bytes, 0)
  out.push(`${int(inspection.sessions.length)} sessions, ${int(messages)} messages, ${sizeOf(bytes)} in ${inspection.filename}`)
  if (inspection.problems !== undefined) {
    if (inspection.problems.length === 0) out.push("verify: integrity_check ok, every row decodes: no problems found")
    for (const p of inspection.problems) out.push(`problem: ${p.table} ${p.id}: ${p.problem}`)
  }
  return out.join("\n")
}

const int = (n: number) => n.toLocaleString("en-US")

const sizeOf = (bytes: number) =>
  bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : bytes >= 1e3 ? `${(bytes / 1e3).toFixed(1)} kB` : `${bytes} B`

const clip = (text: string, width: number) =>
  (text.length > width ? `${text.slice(0, width - 1)}…` : text).replace(/\s+/g, " ")
