/**
 * Read-only inspection of a file-system repository's directory, for
 * `session-store inspect`: list what is stored and verify every record. Safe
 * to run beside a live repository; it never writes, renames or deletes
 * anything (not even the caches the repository keeps).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { NodeServices } from "@effect/platform-node"
 * import { verifyDirectory } from "@session-store/core/StorageInspection"
 *
 * const program = verifyDirectory("/var/lib/opencode/sessions").pipe(
 *   Effect.tap((problems) => Effect.forEach(problems, (p) => Effect.log(`${p.file}: ${p.problem}`))),
 *   Effect.provide(NodeServices.layer)
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Effect } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "effect/Path"
import type { CorruptRecord, RepositoryError } from "../../domain/Errors.ts"
import type { SessionSummary } from "../../domain/Session.ts"
import { isReason, repositoryError } from "./durableFiles.ts"
import { FORMAT, isFormatMarker, makeLayout, sessionDirectoryName } from "./layout.ts"
import { decodeInfo, scanLog } from "./logFormat.ts"
import { countLog, currentSummary, listStored, MISSING, readInfo, readLog } from "./storedSessions.ts"

/**
 * One thing wrong in a storage directory: the file, and what is wrong with it
 * (for a message log, with the line number).
 *
 * @example
 * ```ts
 * const line = (p: StorageProblem) => `${p.file}: ${p.problem}`
 * ```
 */
export interface StorageProblem {
  readonly file: string
  readonly problem: string
}

const OPERATION = "verifyDirectory"

/**
 * Decodes every record under `directory` (the format marker, each session's
 * info and every line of its message log, with the domain schemas) and
 * returns every problem found with its file, instead of stopping at the first.
 * An empty result means the repository will load everything. A torn last
 * record (a crash mid-write) is not a problem: it was never acknowledged and
 * the repository ignores it. Fails with RepositoryError only when the
 * directory cannot be read at all.
 *
 * @example
 * ```ts
 * const ok = verifyDirectory(dir).pipe(Effect.map((problems) => problems.length === 0))
 * ```
 */
export const verifyDirectory = (
  directory: string
): Effect.Effect<ReadonlyArray<StorageProblem>, RepositoryError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const layout = makeLayout(yield* Path.Path, directory)
    const problems: Array<StorageProblem> = []
    yield* fs.stat(layout.root)

    const marker = yield* orMissing(fs.readFileString(layout.formatFile))
    if (marker === undefined) {
      problems.push({ file: layout.formatFile, problem: "missing: not a session-store directory, or never opened" })
    } else if (!isFormatMarker(marker)) {
      problems.push({ file: layout.formatFile, problem: `not the expected ${JSON.stringify(FORMAT)}` })
    }

    const entries = (yield* orMissing(fs.readDirectoryEntries(layout.sessions))) ?? []
    for (const entry of [...entries].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith(".")) continue
      const paths = layout.sessionAt(entry.name)
      if (entry.type !== "Directory") {
        problems.push({ file: paths.directory, problem: "not a session directory" })
        continue
      }
      let sessionId: string | undefined
      const text = yield* orMissing(fs.readFileString(paths.info))
      if (text === undefined) {
        problems.push({ file: paths.info, problem: "missing: the session directory has no info record" })
      } else {
        const decoded = decodeInfo(text, undefined)
        if (decoded._tag === "Problem") {
          problems.push({ file: paths.info, problem: decoded.problem })
        } else if (sessionDirectoryName(decoded.info.id) !== entry.name) {
          problems.push({
            file: paths.info,
            problem: `holds session ${decoded.info.id}, which is not the session of directory ${entry.name}`
          })
        } else {
          sessionId = decoded.info.id
        }
      }
      const { data } = yield* readLog(fs, paths.log)
      const scan = scanLog(data, sessionId, { keepMessages: false, allProblems: true })
      for (const { line, problem } of scan.problems) problems.push({ file: paths.log, problem: `line ${line}: ${problem}` })
    }
    return problems
  }).pipe(Effect.mapError(repositoryError(OPERATION)))

/**
 * Lists the sessions stored under `directory`, most recently updated first,
 * with their message counts and bytes, as the repository's `listSessions`
 * would, without writing anything. Fails with CorruptRecord on the first
 * record that does not decode (use {@link verifyDirectory} to see them all).
 *
 * @example
 * ```ts
 * const titles = listStoredSessions(dir).pipe(Effect.map((sessions) => sessions.map((s) => s.title)))
 * ```
 */
export const listStoredSessions = (
  directory: string
): Effect.Effect<ReadonlyArray<SessionSummary>, RepositoryError | CorruptRecord, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const layout = makeLayout(yield* Path.Path, directory)
    return yield* listStored(fs, layout, "listStoredSessions")
  })

/**
 * A session whose records do not decode, as {@link listEachStoredSession}
 * reports it: its directory under `sessions/`, the file and what is wrong.
 *
 * @example
 * ```ts
 * const line = (d: DamagedSession) => `${d.directory}: ${d.problem}`
 * ```
 */
export interface DamagedSession {
  readonly directory: string
  readonly file: string
  readonly problem: string
}

/**
 * What {@link listEachStoredSession} found: whether `directory` looks like a
 * store at all (it has `sessions/` or the format marker), the sessions that
 * read back, most recently updated first, and the damaged ones.
 */
export interface StoredListing {
  readonly isStore: boolean
  readonly sessions: ReadonlyArray<SessionSummary>
  readonly damaged: ReadonlyArray<DamagedSession>
}

/**
 * Like {@link listStoredSessions}, but one damaged session does not hide the
 * others: every session that reads back is listed, and each one that does
 * not is reported with its file and problem. Never writes.
 *
 * @example
 * ```ts
 * const program = listEachStoredSession(dir).pipe(Effect.map(({ sessions, damaged }) => [sessions.length, damaged.length]))
 * ```
 */
export const listEachStoredSession = (
  directory: string
): Effect.Effect<StoredListing, RepositoryError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const layout = makeLayout(yield* Path.Path, directory)
    const names = yield* orMissing(fs.readDirectory(layout.sessions))
    if (names === undefined) {
      const marker = yield* orMissing(fs.readFileString(layout.formatFile))
      return { isStore: marker !== undefined, sessions: [], damaged: [] }
    }
    const sessions: Array<SessionSummary> = []
    const damaged: Array<DamagedSession> = []
    yield* Effect.forEach(names.filter((name) => !name.startsWith(".")), (name) => {
      const paths = layout.sessionAt(name)
      return Effect.gen(function*() {
        const stored = yield* readInfo(fs, paths, { name }, "listEachStoredSession")
        if (stored === MISSING) return
        const cached = yield* currentSummary(fs, paths)
        const counts = cached.summary ?? (yield* countLog(fs, paths, stored.info.id, "listEachStoredSession"))
        sessions.push({
          id: stored.info.id,
          title: stored.info.title,
          updated: stored.info.time.updated,
          messageCount: counts.messageCount,
          bytes: stored.bytes + counts.messageBytes
        })
      }).pipe(
        Effect.catch((error) =>
          Effect.sync(() => {
            damaged.push({
              directory: paths.directory,
              file: error._tag === "CorruptRecord" ? error.file : paths.directory,
              problem: error._tag === "CorruptRecord" ? error.problem : error.message
            })
          })
        )
      )
    }, { concurrency: 8, discard: true })
    sessions.sort((a, b) => b.updated - a.updated || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    damaged.sort((a, b) => (a.directory < b.directory ? -1 : 1))
    return { isStore: true, sessions, damaged }
  }).pipe(Effect.mapError(repositoryError("listEachStoredSession")))

const orMissing = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A | undefined, E> =>
  Effect.catchIf(effect, (error) => isReason(error, "NotFound"), () => Effect.succeed(undefined))
