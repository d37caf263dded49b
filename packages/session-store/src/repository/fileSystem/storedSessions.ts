import { Effect } from "effect"
import type * as FileSystem from "effect/FileSystem"
import type { PlatformError } from "effect/PlatformError"
import { CorruptRecord, type RepositoryError } from "../../domain/Errors.ts"
import type { SessionInfo, SessionSummary } from "../../domain/Session.ts"
import { fingerprint, isReason, readWhole, repositoryError } from "./durableFiles.ts"
import { type Layout, type SessionPaths, sessionDirectoryName } from "./layout.ts"
import { decodeInfo, decodeSummary, type LogScan, type LogSummary, messageBytes, scanLog } from "./logFormat.ts"

/**
 * Reading what a session directory holds, shared by the repository and the
 * read-only inspection. Nothing here writes.
 */

/** A session's info as stored, with the size of its record. */
export interface StoredInfo {
  readonly info: SessionInfo
  readonly bytes: number
}

/** What `info.json` holds when it is missing. */
export const MISSING = Symbol("missing")

/**
 * Reads and decodes a session's `info.json`. With `expect.id` the record must
 * be that session's; with `expect.name` its id must map to that directory.
 * A missing file is `MISSING`; anything that does not decode is CorruptRecord.
 */
export const readInfo = (
  fs: FileSystem.FileSystem,
  paths: SessionPaths,
  expect: { readonly id: string } | { readonly name: string },
  operation: string
): Effect.Effect<StoredInfo | typeof MISSING, CorruptRecord | RepositoryError> =>
  fs.readFileString(paths.info).pipe(
    Effect.map((text): StoredInfo | typeof MISSING | CorruptRecord => {
      const decoded = decodeInfo(text, "id" in expect ? expect.id : undefined)
      if (decoded._tag === "Problem") return new CorruptRecord({ file: paths.info, problem: decoded.problem })
      if ("name" in expect && sessionDirectoryName(decoded.info.id) !== expect.name) {
        return new CorruptRecord({
          file: paths.info,
          problem: `holds session ${decoded.info.id}, which is not the session of directory ${expect.name}`
        })
      }
      return { info: decoded.info, bytes: decoded.bytes }
    }),
    // Not there, or not a directory (a stray file under sessions/): not a session.
    Effect.catchIf(
      (error) => isReason(error, "NotFound") || isReason(error, "BadResource"),
      () => Effect.succeed(MISSING)
    ),
    Effect.mapError(repositoryError(operation)),
    Effect.flatMap((result) => result instanceof CorruptRecord ? Effect.fail(result) : Effect.succeed(result))
  )

/** A log read in one go, with the identity of what was read. */
export interface LogRead {
  readonly data: Buffer
  readonly info: FileSystem.File.Info | undefined
}

/** Reads a whole log through one descriptor (so content and identity agree); a missing log is empty. */
export const readLog = (fs: FileSystem.FileSystem, path: string): Effect.Effect<LogRead, PlatformError> =>
  Effect.scoped(Effect.gen(function*() {
    const file = yield* fs.open(path, { flag: "r" })
    const info = yield* file.stat
    const data = yield* readWhole(file, Number(info.size))
    return { data, info }
  })).pipe(
    Effect.catchIf((error) => isReason(error, "NotFound"), () => Effect.succeed({ data: Buffer.alloc(0), info: undefined }))
  )

/** The first problem of a scan as a CorruptRecord. */
export const corruptLog = (file: string, scan: LogScan): CorruptRecord | undefined => {
  const first = scan.problems[0]
  return first === undefined ? undefined : new CorruptRecord({ file, problem: `line ${first.line}: ${first.problem}` })
}

/** Counts of a log from its summary when the summary is current, else undefined. */
export const currentSummary = (
  fs: FileSystem.FileSystem,
  paths: SessionPaths
): Effect.Effect<{ readonly summary: LogSummary | undefined; readonly fingerprint: string }, never> =>
  Effect.gen(function*() {
    const print = yield* fs.stat(paths.log).pipe(
      Effect.map(fingerprint),
      Effect.orElseSucceed(() => "missing")
    )
    const summary = yield* fs.readFileString(paths.summary).pipe(
      Effect.map(decodeSummary),
      Effect.orElseSucceed(() => undefined)
    )
    return { summary: summary?.fingerprint === print ? summary : undefined, fingerprint: print }
  })

/** Counts a log by reading it; CorruptRecord when it does not decode. */
export const countLog = (
  fs: FileSystem.FileSystem,
  paths: SessionPaths,
  sessionId: string,
  operation: string
): Effect.Effect<LogSummary, CorruptRecord | RepositoryError> =>
  readLog(fs, paths.log).pipe(
    Effect.mapError(repositoryError(operation, sessionId)),
    Effect.flatMap(({ data, info }) => {
      const scan = scanLog(data, sessionId, { keepMessages: false, allProblems: false })
      const corrupt = corruptLog(paths.log, scan)
      return corrupt !== undefined ? Effect.fail(corrupt) : Effect.succeed({
        fingerprint: info === undefined ? "missing" : fingerprint(info),
        messageCount: scan.entries.size,
        messageBytes: messageBytes(scan.entries)
      })
    })
  )

/** Counts of a session's messages. */
export interface MessageCounts {
  readonly messageCount: number
  readonly messageBytes: number
}

/**
 * Lists the sessions under `layout`, most recently updated first (ties by id).
 * Counts come from `held` (an index in memory) when it knows the session, else
 * from a current `summary.json`, else from reading the log, after which
 * `remember` may store a summary (the repository does; inspection does not).
 */
export const listStored = (
  fs: FileSystem.FileSystem,
  layout: Layout,
  operation: string,
  options: {
    readonly held?: ((id: string) => MessageCounts | undefined) | undefined
    readonly remember?: ((paths: SessionPaths, summary: LogSummary) => Effect.Effect<void>) | undefined
  } = {}
): Effect.Effect<Array<SessionSummary>, RepositoryError | CorruptRecord> => {
  const summarize = (name: string): Effect.Effect<SessionSummary | undefined, RepositoryError | CorruptRecord> =>
    Effect.gen(function*() {
      const paths = layout.sessionAt(name)
      const stored = yield* readInfo(fs, paths, { name }, operation)
      if (stored === MISSING) return undefined
      const id = stored.info.id
      let counts = options.held?.(id)
      if (counts === undefined) {
        const cached = yield* currentSummary(fs, paths)
        if (cached.summary !== undefined) {
          counts = cached.summary
        } else {
          const counted = yield* countLog(fs, paths, id, operation)
          counts = counted
          if (counted.fingerprint !== "missing" && options.remember !== undefined) {
            yield* options.remember(paths, counted)
          }
        }
      }
      return {
        id,
        title: stored.info.title,
        updated: stored.info.time.updated,
        messageCount: counts.messageCount,
        bytes: stored.bytes + counts.messageBytes
      }
    })
  return fs.readDirectory(layout.sessions).pipe(
    Effect.mapError(repositoryError(operation)),
    // Names starting with "." are never sessions (see sessionDirectoryName): .DS_Store and friends.
    Effect.flatMap((names) => Effect.forEach(names.filter((name) => !name.startsWith(".")), summarize, { concurrency: 8 })),
    Effect.map((summaries) =>
      summaries
        .filter((summary): summary is SessionSummary => summary !== undefined)
        .sort((a, b) => b.updated - a.updated || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    )
  )
}
