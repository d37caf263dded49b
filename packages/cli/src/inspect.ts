/**
 * `session-store inspect <opencode.db | directory> [--verify]`. Given a file,
 * what an opencode.db holds and (with `--verify`) `PRAGMA integrity_check`
 * plus every session, message and part row decoded with the domain schemas,
 * each problem with its table and id (the library's `SqlInspection`, which
 * opens the file read-only). Given a directory, the older JSONL storage: what a storage directory
 * holds, and (with `--verify`) every problem found, each with its file. It
 * never writes: it reads through the library's read-only inspection
 * (`StorageInspection`), not by opening the repository, because opening a
 * repository prepares its directory (creates it, clears tmp/, writes the format
 * marker and summary caches). A directory that does not exist is reported,
 * not created.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { inspectDirectory, renderListing } from "./inspect.ts"
 *
 * const program = Effect.map(inspectDirectory("/var/lib/opencode/sessions"), renderListing)
 * ```
 *
 * @since 0.1.0
 */
import type { SessionSummary } from "@session-store/core/Session"
import {
  type DamagedSession,
  listEachStoredSession,
  type StorageProblem,
  verifyDirectory
} from "@session-store/core/StorageInspection"
import { type DatabaseInspection, inspectDatabase as inspectSqlite } from "@session-store/core/SqlInspection"
import { Effect, FileSystem } from "effect"
import { CliError } from "effect/cli"

/**
 * One problem `--verify` found.
 *
 * @example
 * ```ts
 * const line = (p: Problem) => `${p.file}: ${p.problem}`
 * ```
 */
export type Problem = StorageProblem

/**
 * What `inspect` found.
 *
 * @example
 * ```ts
 * const total = (i: Inspection) => i.sessions.reduce((n, s) => n + s.messageCount, 0)
 * ```
 */
export interface Inspection {
  readonly directory: string
  /** The sessions that read back, most recently updated first. */
  readonly sessions: ReadonlyArray<SessionSummary>
  /** The sessions whose records do not decode (listed, not hidden behind the first one). */
  readonly damaged: ReadonlyArray<DamagedSession>
  /** Present when `--verify` was asked for. */
  readonly problems: ReadonlyArray<Problem> | undefined
}

const userError = (userMessage: string, cause: unknown = userMessage) => new CliError.UserError({ cause, userMessage })

/**
 * Lists the sessions of `directory` (most recently updated first) and, when
 * `verify` is set, checks every file.
 *
 * @example
 * ```ts
 * const inspection = yield* inspectDirectory("./data", { verify: true })
 * ```
 */
export const inspectDirectory = Effect.fn("Inspect.directory")(function*(
  directory: string,
  options: { readonly verify?: boolean } = {}
) {
  const fs = yield* FileSystem.FileSystem
  const info = yield* fs.stat(directory).pipe(
    Effect.mapError((cause) =>
      userError(
        cause._tag === "PlatformError" && cause.reason._tag === "NotFound"
          ? `cannot read ${directory}: it does not exist`
          : `cannot read ${directory}: ${cause.message}`,
        cause
      )
    )
  )
  if (info.type !== "Directory") return yield* userError(`${directory} is not a directory`)

  const listing = yield* listEachStoredSession(directory).pipe(
    Effect.mapError((cause) => userError(`cannot list ${directory}: ${cause.message}`, cause))
  )
  if (!listing.isStore) {
    return yield* userError(`${directory} is not a session-store directory (no sessions/ folder, no format marker)`)
  }
  const problems = options.verify === true
    ? yield* verifyDirectory(directory).pipe(
      Effect.mapError((cause) => userError(`cannot verify ${directory}: ${cause.message}`, cause))
    )
    : undefined
  return { directory, sessions: listing.sessions, damaged: listing.damaged, problems } satisfies Inspection
})

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
 * What `inspect` does with `target`: the database inspection for a file, the
 * directory inspection for a directory.
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
    Effect.mapError((cause) => userError(`cannot read ${target}: ${cause.message}`, cause))
  )
  if (info.type === "Directory") return { kind: "directory" as const, inspection: yield* inspectDirectory(target, options) }
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

/**
 * The listing as a table, then the problems (if verified).
 *
 * @example
 * ```ts
 * yield* Console.log(renderListing(inspection))
 * ```
 */
export const renderListing = (inspection: Inspection): string => {
  const header = ["id", "title", "messages", "bytes", "last update"] as const
  const rows = inspection.sessions.map((s) =>
    [s.id, clip(s.title, 48), int(s.messageCount), sizeOf(s.bytes), new Date(s.updated).toISOString()] as const
  )
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const right = new Set([2, 3])
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  const out: Array<string> = []
  if (rows.length > 0) out.push(line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line), "")
  const messages = inspection.sessions.reduce((n, s) => n + s.messageCount, 0)
  const bytes = inspection.sessions.reduce((n, s) => n + s.bytes, 0)
  for (const d of inspection.damaged) out.push(`DAMAGED  ${d.directory}: ${d.problem}`, `  file: ${d.file}`)
  if (inspection.damaged.length > 0) out.push("")
  out.push(
    `${int(inspection.sessions.length)} sessions, ${int(messages)} messages, ${sizeOf(bytes)} in ${inspection.directory}` +
      (inspection.damaged.length > 0
        ? `; ${int(inspection.damaged.length)} damaged session${inspection.damaged.length === 1 ? "" : "s"} not listed`
        : "")
  )
  if (inspection.problems !== undefined) {
    if (inspection.problems.length === 0) out.push("verify: no problems found")
    for (const p of inspection.problems) out.push(`problem: ${p.problem}\n  file: ${p.file}`)
  }
  return out.join("\n")
}
