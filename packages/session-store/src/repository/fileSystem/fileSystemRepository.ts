import { type Context, type Duration, Effect, Exit, RcMap, Scope, Semaphore } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "effect/Path"
import { isPlatformError, type PlatformError } from "effect/PlatformError"
import {
  CorruptRecord,
  InvalidId,
  InvalidInput,
  MessageNotFound,
  RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "../../domain/Errors.ts"
import { idProblem, type MessageId, type SessionId } from "../../domain/Ids.ts"
import type { MessageWithParts } from "../../domain/Message.ts"
import type { SessionInfo, SessionSummary } from "../../domain/Session.ts"
import type { LoadedSession, SessionRepositoryShape, StoredMessage, Written } from "../port.ts"
import {
  ensureMode,
  ensurePrivateDirectory,
  errnoCode,
  fileIdentity,
  fingerprint,
  isReason,
  makePrivateDirectory,
  readRange,
  readWhole,
  replaceFile,
  repositoryError,
  syncDirectory,
  writeNewFile
} from "./durableFiles.ts"
import { DIRECTORY_MODE, FILE_MODE, FORMAT, INFO_FILE, isFormatMarker, type Layout, makeLayout, type SessionPaths } from "./layout.ts"
import {
  type LogEntry,
  liveLineBytes,
  type LogScan,
  type LogSummary,
  messageBytes,
  putLine,
  removeLine,
  scanLog,
  SEAL_TORN_TAIL
} from "./logFormat.ts"
import { encodeRecord } from "../../domain/records.ts"
import { corruptLog, listStored, type LogRead, MISSING, readInfo, readLog } from "./storedSessions.ts"
import { messageProblem, sessionInfoProblem } from "../../domain/validation.ts"

/** Options of the file-system repository; all but the first two exist for tests and tuning. */
export interface FileSystemRepositoryOptions {
  readonly directory: string
  /** fsync every write before acknowledging it (default true). */
  readonly fsync?: boolean | undefined
  /** Compact a log once its superseded bytes exceed this and its live bytes (default 1 MiB). */
  readonly compactAfterBytes?: number | undefined
  /** How long the index and log of an idle session are kept (default 30 seconds, on the Clock the repository is built with). */
  readonly idleTimeToLive?: Duration.Input | undefined
  /** Logs held open at most at once (default 128, far below a default descriptor limit of 1024). */
  readonly maxHeldLogs?: number | undefined
}

/**
 * Compaction threshold. opencode rewrites its newest assistant message many
 * times while it streams, and each rewrite is a new `put` line, so a log fills
 * with superseded records. Once the superseded bytes exceed both this and the
 * live bytes, the log is rewritten with only its live records (temporary file,
 * fsync, rename, fsync of the directory). Requiring dead > live keeps the cost
 * amortized: every byte rewritten was paid for by at least one byte appended.
 */
export const DEFAULT_COMPACT_AFTER_BYTES = 1024 * 1024

/**
 * Where the live messages of a log are. Built from a full, validated read of
 * the log and kept up to date by our own appends, so later reads can go
 * straight to the records they need. It belongs to one log file: `identity`
 * (the inode) and `size` must match the file before it is trusted.
 */
interface LogIndex {
  readonly entries: Map<MessageId, LogEntry>
  identity: string
  size: number
  tornBytes: number
  liveLineBytes: number
  messageBytes: number
}

/**
 * One session's lock and index. Held in an RcMap: created on first use, kept
 * while in use and for `idleTimeToLive` after, then released (writing the
 * summary the listing uses), so the map does not grow with every session ever
 * touched.
 */
interface SessionState {
  readonly id: SessionId
  readonly paths: SessionPaths
  readonly lock: Semaphore.Semaphore
  index: LogIndex | undefined
  /**
   * The log, held open (O_APPEND) between calls while the session is in use,
   * so an append is one write (and one fsync) instead of open, stat, write,
   * close. While it is held, the index is ours alone to change and is trusted
   * without a stat; it is closed on release, removal and compaction.
   */
  log: HeldLog | undefined
  summaryDirty: boolean
  /** Set when the session was removed: a fiber still queued on this state starts over. */
  removed: boolean
}

interface HeldLog {
  readonly file: FileSystem.File
  readonly scope: Scope.Closeable
}

const DEFAULT_MAX_HELD_LOGS = 128

const MISSING_LOG = "missing"

const indexOf = (scan: LogScan, info: FileSystem.File.Info | undefined): LogIndex => {
  for (const entry of scan.entries.values()) entry.message = undefined
  return {
    entries: scan.entries,
    identity: info === undefined ? MISSING_LOG : fileIdentity(info),
    size: scan.size,
    tornBytes: scan.tornBytes,
    liveLineBytes: liveLineBytes(scan.entries),
    messageBytes: messageBytes(scan.entries)
  }
}

const isCurrent = (index: LogIndex | undefined, info: FileSystem.File.Info | undefined): index is LogIndex =>
  index !== undefined && (info === undefined
    ? index.identity === MISSING_LOG
    : index.identity === fileIdentity(info) && index.size === Number(info.size))

/** Platform failures become RepositoryError naming the operation; domain errors pass through. */
const platformFailures = (operation: string, sessionId?: string) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, PlatformError> | RepositoryError, R> =>
  Effect.mapError(
    self,
    (error) => isPlatformError(error) ? repositoryError(operation, sessionId)(error) : error as Exclude<E, PlatformError>
  )

const RETRY = Symbol("retry")

/**
 * The embedded repository: one directory per session under `<directory>/sessions`,
 * its info replaced atomically, its messages in an append-only log. See
 * `fileLayout.ts` and `logFormat.ts` for the formats.
 */
export const makeFileSystemRepository = (
  options: FileSystemRepositoryOptions
): Effect.Effect<SessionRepositoryShape, RepositoryError, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const layout = makeLayout(path, options.directory)
    const fsync = options.fsync ?? true
    const compactAfterBytes = options.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES
    const maxHeldLogs = options.maxHeldLogs ?? DEFAULT_MAX_HELD_LOGS

    yield* openDirectory(fs, path, layout, fsync).pipe(Effect.mapError(repositoryError("open")))

    /**
     * The repository's own context, under which everything that outlives a
     * call is made and given back: a session's RcMap entry, its idle timer, a
     * held log. Effect keeps the context it was made under (acquireRelease for
     * its release, RcMap's lookup and idle timer), and a caller's context is
     * not small: its services and spans, and a span ends holding what its
     * function returned (the store's: messages, snapshots). Made under a
     * caller's, an idle session kept that caller's values reachable for
     * `idleTimeToLive`, evicted by the store or not. The calls themselves run
     * in the caller's context; idle timers run on the repository's Clock.
     */
    const ownContext = yield* Effect.context<FileSystem.FileSystem | Path.Path | Scope.Scope>()
    const owned = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.updateContext(effect, (): Context.Context<never> => ownContext)

    /** States currently in the RcMap, so a listing can use an index without retaining it. */
    const live = new Map<SessionId, SessionState>()
    let heldLogs = 0

    const closeLog = (state: SessionState) =>
      Effect.suspend(() => {
        const held = state.log
        if (held === undefined) return Effect.void
        state.log = undefined
        heldLogs--
        return Scope.close(held.scope, Exit.void)
      })

    /**
     * The log open for appending: the one held, or a fresh descriptor (held
     * from now on while fewer than `maxHeldLogs` are, else closed with the
     * caller's scope). A fresh one comes with its stat, so the caller can tell
     * whether the index still describes the file.
     */
    const appendableLog = (state: SessionState) =>
      Effect.gen(function*() {
        if (state.log !== undefined) return { file: state.log.file, info: undefined }
        const scope = yield* Scope.make()
        // Opened under the repository's context: the scope keeps its finalizer (and
        // the context it captured) for as long as the log is held.
        const file = yield* owned(Scope.provide(fs.open(state.paths.log, { flag: "a+", mode: FILE_MODE }), scope)).pipe(
          Effect.onError(() => Scope.close(scope, Exit.void)),
          Effect.catchIf(
            (error) => isReason(error, "NotFound"),
            () => Effect.fail(new SessionNotFound({ sessionId: state.id }))
          )
        )
        if (heldLogs < maxHeldLogs) {
          state.log = { file, scope }
          heldLogs++
        } else {
          yield* Effect.addFinalizer(() => Scope.close(scope, Exit.void))
        }
        const info = yield* file.stat
        yield* ensureMode(fs, state.paths.log, info, FILE_MODE)
        return { file, info }
      })

    /** The index, trusted without a stat while its log is held open by us. */
    const trustedIndex = (state: SessionState): LogIndex | undefined =>
      state.log !== undefined ? state.index : undefined

    const writeSummary = (paths: SessionPaths, summary: LogSummary) =>
      // A cache: atomic (so never half-written) but not fsynced; a stale or
      // missing summary is detected by its fingerprint and recomputed.
      replaceFile(fs, {
        temporary: layout.temporary("summary"),
        target: paths.summary,
        targetDirectory: paths.directory,
        data: Buffer.from(JSON.stringify(summary), "utf8"),
        fsync: false
      })

    const release = (state: SessionState) =>
      Effect.suspend(() => {
        if (live.get(state.id) === state) live.delete(state.id)
        const index = state.index
        if (!state.summaryDirty || state.removed || index === undefined) return closeLog(state)
        return closeLog(state).pipe(
          Effect.andThen(fs.stat(state.paths.log)),
          Effect.flatMap((info) =>
            isCurrent(index, info)
              ? writeSummary(state.paths, {
                fingerprint: fingerprint(info),
                messageCount: index.entries.size,
                messageBytes: index.messageBytes
              })
              : Effect.void
          ),
          Effect.ignore
        )
      })

    const states = yield* RcMap.make({
      lookup: (id: SessionId) =>
        Effect.acquireRelease(
          Effect.map(Semaphore.make(1), (lock) => {
            const state: SessionState = {
              id,
              paths: layout.session(id),
              lock,
              index: undefined,
              log: undefined,
              summaryDirty: false,
              removed: false
            }
            live.set(id, state)
            return state
          }),
          release
        ),
      idleTimeToLive: options.idleTimeToLive ?? "30 seconds"
    })

    /**
     * Runs `body` holding the session's lock. The store serializes writes per
     * session already; this keeps the log and its index consistent even for
     * callers that do not. Writing bodies are uninterruptible so an index is
     * never left half-updated. An id that fails `idProblem` never reaches a path.
     */
    const withSession = <A, E>(
      sessionId: SessionId,
      writes: boolean,
      body: (state: SessionState) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | RepositoryError> => {
      const problem = idProblem(sessionId)
      if (problem !== undefined) {
        // A caller's contract violation (the store validates every id): a defect, never a retryable storage error.
        return Effect.die(new InvalidId({ kind: "SessionId", id: sessionId, reason: problem }))
      }
      // The state is borrowed and given back under the repository's context
      // (see `owned`), so neither its entry nor its idle timer keeps the caller's.
      const attempt: Effect.Effect<A | typeof RETRY, E> = Effect.acquireUseRelease(
        Scope.make(),
        (lease) =>
          Effect.flatMap(owned(Scope.provide(RcMap.get(states, sessionId), lease)), (state) =>
            state.lock.withPermit(Effect.suspend((): Effect.Effect<A | typeof RETRY, E> => {
              if (state.removed) return Effect.succeed(RETRY)
              return writes ? Effect.uninterruptible(body(state)) : body(state)
            }))),
        (lease, exit) => owned(Scope.close(lease, exit))
      )
      const run: Effect.Effect<A, E> = Effect.flatMap(attempt, (result) =>
        result === RETRY ? Effect.suspend(() => run) : Effect.succeed(result))
      return run
    }

    /** Info missing: no such session, or a session directory that lost its info record. */
    const missingInfo = (
      paths: SessionPaths,
      sessionId: SessionId
    ): Effect.Effect<never, CorruptRecord | SessionNotFound | PlatformError> =>
      Effect.flatMap(fs.exists(paths.directory), (exists): Effect.Effect<never, CorruptRecord | SessionNotFound> =>
        exists
          ? Effect.fail(
            new CorruptRecord({ file: paths.info, problem: "missing: the session directory has no info record" })
          )
          : Effect.fail(new SessionNotFound({ sessionId })))

    /** The session's index, read from its log unless the one held is current. */
    const ensureIndex = (state: SessionState) =>
      Effect.gen(function*() {
        const trusted = trustedIndex(state)
        if (trusted !== undefined) return trusted
        const info = yield* fs.stat(state.paths.log).pipe(
          Effect.catchIf((error) => isReason(error, "NotFound"), () => Effect.succeed(undefined))
        )
        if (info === undefined && !(yield* fs.exists(state.paths.info))) {
          return yield* new SessionNotFound({ sessionId: state.id })
        }
        if (isCurrent(state.index, info)) return state.index
        const read = yield* readLog(fs, state.paths.log)
        const scan = scanLog(read.data, state.id, { keepMessages: false, allProblems: false })
        const corrupt = corruptLog(state.paths.log, scan)
        if (corrupt !== undefined) return yield* corrupt
        return state.index = indexOf(scan, read.info)
      })

    /**
     * Reads the given records, in the order given. Records less than 64 KiB
     * apart in the file are fetched with one read of their span (the newest
     * messages of a log mostly sit together; a message rewritten while
     * streaming sits further on). Every record is checked again.
     */
    const readEntries = (state: SessionState, wanted: ReadonlyArray<readonly [MessageId, LogEntry]>) =>
      Effect.scoped(Effect.gen(function*() {
        if (wanted.length === 0) return []
        const file = state.log?.file ?? (yield* fs.open(state.paths.log, { flag: "r" }))
        const byOffset = wanted.map((pair, position) => ({ id: pair[0], entry: pair[1], position }))
          .sort((a, b) => a.entry.offset - b.entry.offset)
        const out = new Array<StoredMessage>(wanted.length)
        let run = 0
        while (run < byOffset.length) {
          const start = byOffset[run]!.entry.offset
          let end = run
          let stop = start + byOffset[run]!.entry.length
          while (end + 1 < byOffset.length && byOffset[end + 1]!.entry.offset - stop <= 65_536) {
            end++
            stop = Math.max(stop, byOffset[end]!.entry.offset + byOffset[end]!.entry.length)
          }
          const span = yield* readRange(file, start, stop - start)
          for (let i = run; i <= end; i++) {
            const { entry, id, position } = byOffset[i]!
            const message = decodeAt(span.subarray(entry.offset - start, entry.offset - start + entry.length), state.id, id)
            if (typeof message === "string") {
              state.index = undefined
              return yield* new CorruptRecord({
                file: state.paths.log,
                problem: `record at byte ${entry.offset}: ${message}`
              })
            }
            out[position] = { message, bytes: entry.bytes }
          }
          run = end + 1
        }
        return out
      }))

    /**
     * Appends one record. The log is opened O_APPEND, so each write lands at
     * the end whatever else happens; the record is fsynced before the call
     * returns. A log ending in a torn record first gets that record sealed.
     */
    const appendRecord = <E>(
      state: SessionState,
      plan: (index: LogIndex) => Effect.Effect<{
        readonly line: string
        readonly apply: (index: LogIndex, offset: number, length: number) => void
      }, E>
    ) =>
      Effect.scoped(Effect.gen(function*() {
        const log = yield* appendableLog(state)
        const file = log.file
        // A held descriptor with an index is trusted; otherwise the file's stat decides.
        let index = state.index
        if (index === undefined || (log.info !== undefined && !isCurrent(index, log.info))) {
          const info = log.info ?? (yield* file.stat)
          const scan = scanLog(yield* readWhole(file, Number(info.size)), state.id, {
            keepMessages: false,
            allProblems: false
          })
          const corrupt = corruptLog(state.paths.log, scan)
          if (corrupt !== undefined) return yield* corrupt
          index = state.index = indexOf(scan, info)
        }
        const { apply, line } = yield* plan(index)
        const seal = index.tornBytes > 0 ? SEAL_TORN_TAIL : ""
        const data = Buffer.from(seal + line, "utf8")
        // Until the write is known complete, the file may hold a part of it.
        state.index = undefined
        yield* Effect.gen(function*() {
          yield* file.writeAll(data)
          if (fsync) {
            yield* file.sync
            // The log was just created: make its directory entry durable too.
            if (index.size === 0) yield* syncDirectory(fs, state.paths.directory)
          }
        }).pipe(
          // A failed write is not acknowledged, so it must not load either: a
          // record whose fsync failed is complete and would. Cut the log back
          // to where it was (then the index holds again); if even that fails,
          // the next call reads the log afresh.
          Effect.onError(() =>
            file.truncate(index.size).pipe(
              Effect.andThen(Effect.sync(() => (state.index = index))),
              Effect.ignore
            )
          )
        )
        const offset = index.size + seal.length
        index.size += data.length
        index.tornBytes = 0
        apply(index, offset, data.length - seal.length - 1)
        state.index = index
        state.summaryDirty = true
        return index
      }))

    /** Rewrites the log with only its live records; refuses a log that does not fully decode. */
    const compact = (state: SessionState) =>
      Effect.gen(function*() {
        // The held descriptor would keep writing to the old file after the rename.
        yield* closeLog(state)
        const read = yield* readLog(fs, state.paths.log)
        const scan = scanLog(read.data, state.id, { keepMessages: false, allProblems: false })
        const corrupt = corruptLog(state.paths.log, scan)
        if (corrupt !== undefined) return yield* corrupt
        const parts: Array<Buffer> = []
        const entries = new Map<MessageId, LogEntry>()
        let offset = 0
        for (const [id, entry] of scan.entries) {
          parts.push(read.data.subarray(entry.offset, entry.offset + entry.length + 1))
          entries.set(id, { offset, length: entry.length, bytes: entry.bytes, message: undefined })
          offset += entry.length + 1
        }
        const data = Buffer.concat(parts)
        state.index = undefined
        const info = yield* replaceFile(fs, {
          temporary: layout.temporary("log"),
          target: state.paths.log,
          targetDirectory: state.paths.directory,
          data,
          fsync
        })
        state.index = {
          entries,
          identity: fileIdentity(info),
          size: data.length,
          tornBytes: 0,
          liveLineBytes: data.length,
          messageBytes: messageBytes(entries)
        }
        state.summaryDirty = true
      })

    const compactIfWorthIt = (state: SessionState, index: LogIndex) => {
      const superseded = index.size - index.tornBytes - index.liveLineBytes
      if (superseded <= compactAfterBytes || superseded <= index.liveLineBytes) return Effect.void
      // The append before this is durable and acknowledged whatever happens here.
      return compact(state).pipe(
        Effect.catch((error) =>
          Effect.logWarning(`session-store: compaction of ${state.paths.log} skipped: ${error.message}`)
        )
      )
    }

    const createSession = (info: SessionInfo): Effect.Effect<Written, SessionAlreadyExists | RepositoryError> => {
      const problem = sessionInfoProblem(info, undefined)
      if (problem !== undefined) {
        return Effect.die(new InvalidInput({ what: "session info", reason: problem }))
      }
      return withSession(info.id, true, (state) =>
        Effect.gen(function*() {
          if (yield* fs.exists(state.paths.directory)) return yield* new SessionAlreadyExists({ sessionId: info.id })
          const record = encodeRecord(info)
          // Staged in tmp/ and renamed into place: a session either exists
          // with its info record or not at all, whatever the moment of a crash.
          const staging = layout.temporary("session")
          yield* Effect.gen(function*() {
            yield* makePrivateDirectory(fs, staging)
            yield* writeNewFile(fs, path.join(staging, INFO_FILE), Buffer.from(record.json, "utf8"), fsync)
            if (fsync) yield* syncDirectory(fs, staging)
            yield* fs.rename(staging, state.paths.directory)
          }).pipe(
            Effect.onError(() => Effect.ignore(fs.remove(staging, { recursive: true, force: true }))),
            Effect.catchIf(
              (error) => errnoCode(error) === "ENOTEMPTY" || errnoCode(error) === "EEXIST",
              () => Effect.fail(new SessionAlreadyExists({ sessionId: info.id }))
            )
          )
          if (fsync) {
            yield* syncDirectory(fs, layout.sessions).pipe(
              // Not acknowledged, so not there either: take the session back out.
              Effect.onError(() =>
                Effect.ignore(Effect.andThen(
                  fs.rename(state.paths.directory, staging),
                  fs.remove(staging, { recursive: true, force: true })
                ))
              )
            )
          }
          state.index = undefined
          yield* closeLog(state)
          return { bytes: record.bytes }
        }).pipe(platformFailures("createSession", info.id)))
    }

    const updateSession = (info: SessionInfo): Effect.Effect<Written, SessionNotFound | RepositoryError | CorruptRecord> => {
      const problem = sessionInfoProblem(info, undefined)
      if (problem !== undefined) {
        return Effect.die(new InvalidInput({ what: "session info", reason: problem }))
      }
      return withSession(info.id, true, (state) =>
        Effect.gen(function*() {
          // A record that does not decode is evidence: it is never overwritten.
          const current = yield* readInfo(fs, state.paths, { id: info.id }, "updateSession")
          if (current === MISSING) return yield* missingInfo(state.paths, info.id)
          const record = encodeRecord(info)
          const replace = (json: string, durable: boolean) =>
            replaceFile(fs, {
              temporary: layout.temporary("info"),
              target: state.paths.info,
              targetDirectory: state.paths.directory,
              data: Buffer.from(json, "utf8"),
              fsync: durable
            })
          yield* replace(record.json, fsync).pipe(
            // Not acknowledged, so not read back either: when the failure came
            // after the rename (the directory fsync), put the previous record back.
            Effect.onError(() =>
              fs.readFileString(state.paths.info).pipe(
                Effect.flatMap((text) =>
                  text === record.json ? replace(encodeRecord(current.info).json, false) : Effect.void
                ),
                Effect.ignore
              )
            )
          )
          return { bytes: record.bytes }
        }).pipe(platformFailures("updateSession", info.id)))
    }

    const loadSession = (
      sessionId: SessionId,
      { newest }: { readonly newest: number }
    ): Effect.Effect<LoadedSession, SessionNotFound | RepositoryError | CorruptRecord> =>
      withSession(sessionId, false, (state) =>
        Effect.gen(function*() {
          let index = trustedIndex(state)
          if (index === undefined && state.index !== undefined) {
            const info = yield* fs.stat(state.paths.log).pipe(
              Effect.catchIf((error) => isReason(error, "NotFound"), () => Effect.succeed(undefined))
            )
            if (isCurrent(state.index, info)) index = state.index
          }
          // The info and the messages are read side by side; the info decides first what went wrong.
          const held = index
          type LogPart = {
            readonly messages: ReadonlyArray<StoredMessage> | undefined
            readonly read: LogRead | undefined
          }
          const logPart: Effect.Effect<LogPart, CorruptRecord | PlatformError> = held !== undefined
            ? Effect.map(readEntries(state, newest <= 0 ? [] : [...held.entries].slice(-newest)), (messages) => ({
              messages,
              read: undefined
            }))
            // A cold load reads and checks the whole log once, and keeps the index.
            : Effect.map(readLog(fs, state.paths.log), (read) => ({ messages: undefined, read }))
          const [infoRead, logRead] = yield* Effect.all([
            Effect.exit(readInfo(fs, state.paths, { id: sessionId }, "loadSession")),
            Effect.exit(logPart)
          ], { concurrency: 2 })
          const stored = yield* infoRead
          if (stored === MISSING) return yield* missingInfo(state.paths, sessionId)
          const log = yield* logRead
          let messages = log.messages
          if (log.read !== undefined) {
            const scan = scanLog(log.read.data, sessionId, { keepMessages: true, allProblems: false })
            const corrupt = corruptLog(state.paths.log, scan)
            if (corrupt !== undefined) return yield* corrupt
            const window = newest <= 0 ? [] : [...scan.entries.values()].slice(-newest)
            messages = window.map((entry) => ({ message: entry.message!, bytes: entry.bytes }))
            index = state.index = indexOf(scan, log.read.info)
          }
          if (messages === undefined || index === undefined) return yield* Effect.die("unreachable: no log read")
          return {
            info: stored.info,
            infoBytes: stored.bytes,
            messages,
            messageCount: index.entries.size,
            totalBytes: stored.bytes + index.messageBytes
          }
        }).pipe(platformFailures("loadSession", sessionId)))

    const putMessage = (
      sessionId: SessionId,
      message: MessageWithParts
    ): Effect.Effect<Written, SessionNotFound | RepositoryError | CorruptRecord> => {
      // Everything written must read back, or one bad write would make the whole log unreadable.
      const problem = messageProblem(message, sessionId)
      if (problem !== undefined) {
        return Effect.die(new InvalidInput({ what: "message", reason: problem }))
      }
      const record = encodeRecord(message)
      const id = message.info.id
      return withSession(sessionId, true, (state) =>
        appendRecord(state, () =>
          Effect.succeed({
            line: putLine(record.json),
            apply: (index: LogIndex, offset: number, length: number) => {
              const previous = index.entries.get(id)
              if (previous !== undefined) {
                index.liveLineBytes -= previous.length + 1
                index.messageBytes -= previous.bytes
              }
              index.entries.set(id, { offset, length, bytes: record.bytes, message: undefined })
              index.liveLineBytes += length + 1
              index.messageBytes += record.bytes
            }
          })).pipe(
            Effect.tap((index) => compactIfWorthIt(state, index)),
            Effect.as({ bytes: record.bytes }),
            platformFailures("putMessage", sessionId)
          ))
    }

    const getMessage = (
      sessionId: SessionId,
      messageId: MessageId
    ): Effect.Effect<StoredMessage, SessionNotFound | RepositoryError | CorruptRecord | MessageNotFound> =>
      withSession(sessionId, false, (state) =>
        Effect.gen(function*() {
          const index = yield* ensureIndex(state)
          const entry = index.entries.get(messageId)
          if (entry === undefined) return yield* new MessageNotFound({ sessionId, messageId })
          const [stored] = yield* readEntries(state, [[messageId, entry]])
          return stored!
        }).pipe(platformFailures("getMessage", sessionId)))

    const pageMessages = (
      sessionId: SessionId,
      request: { readonly before?: MessageId | undefined; readonly limit: number }
    ): Effect.Effect<
      ReadonlyArray<StoredMessage>,
      SessionNotFound | RepositoryError | CorruptRecord | MessageNotFound
    > =>
      withSession(sessionId, false, (state) =>
        Effect.gen(function*() {
          const index = yield* ensureIndex(state)
          const entries = [...index.entries]
          let end = entries.length
          if (request.before !== undefined) {
            const before = request.before
            end = entries.findIndex(([id]) => id === before)
            if (end === -1) return yield* new MessageNotFound({ sessionId, messageId: before })
          }
          if (request.limit <= 0) return []
          return yield* readEntries(state, entries.slice(Math.max(0, end - request.limit), end))
        }).pipe(platformFailures("pageMessages", sessionId)))

    const removeMessage = (
      sessionId: SessionId,
      messageId: MessageId
    ): Effect.Effect<void, SessionNotFound | RepositoryError | CorruptRecord | MessageNotFound> =>
      withSession(sessionId, true, (state) =>
        appendRecord(state, (index) => {
          if (!index.entries.has(messageId)) return Effect.fail(new MessageNotFound({ sessionId, messageId }))
          return Effect.succeed({
            line: removeLine(messageId),
            apply: (index: LogIndex) => {
              const previous = index.entries.get(messageId)!
              index.entries.delete(messageId)
              index.liveLineBytes -= previous.length + 1
              index.messageBytes -= previous.bytes
            }
          })
        }).pipe(
          Effect.flatMap((index) => compactIfWorthIt(state, index)),
          platformFailures("removeMessage", sessionId)
        ))

    const removeSession = (sessionId: SessionId): Effect.Effect<void, SessionNotFound | RepositoryError> =>
      withSession(sessionId, true, (state) =>
        Effect.gen(function*() {
          // Renamed out of sessions/ first, in one step: a crash can leave the
          // session whole or gone, never half-removed and still loading.
          const trash = layout.temporary("removed")
          yield* fs.rename(state.paths.directory, trash).pipe(
            Effect.catchIf(
              (error) => isReason(error, "NotFound"),
              () => Effect.fail(new SessionNotFound({ sessionId }))
            )
          )
          // From here on this state is done with, whatever fails next: nothing
          // may append to the log held open in its old place (callers queued on
          // it start over with a fresh state).
          state.removed = true
          state.index = undefined
          if (live.get(sessionId) === state) live.delete(sessionId)
          yield* closeLog(state)
          yield* RcMap.invalidate(states, sessionId)
          if (fsync) {
            yield* syncDirectory(fs, layout.sessions).pipe(
              // Not acknowledged, so not gone either: put the session back.
              Effect.onError(() => Effect.ignore(fs.rename(trash, state.paths.directory)))
            )
          }
          yield* fs.remove(trash, { recursive: true }).pipe(
            Effect.catch((error) =>
              Effect.logWarning(`session-store: ${trash} is left to remove when the repository next opens: ${error.message}`)
            )
          )
        }).pipe(platformFailures("removeSession", sessionId)))

    const listSessions = (): Effect.Effect<ReadonlyArray<SessionSummary>, RepositoryError | CorruptRecord> =>
      listStored(fs, layout, "listSessions", {
        held: (id) => {
          const index = live.get(id as SessionId)?.index
          return index === undefined ? undefined : { messageCount: index.entries.size, messageBytes: index.messageBytes }
        },
        remember: (paths, summary) => Effect.ignore(writeSummary(paths, summary))
      })

    return {
      createSession,
      updateSession,
      loadSession,
      putMessage,
      getMessage,
      pageMessages,
      removeMessage,
      removeSession,
      listSessions
    } satisfies SessionRepositoryShape
  })

/** Decodes one `put` line read at a known offset; a string says what is wrong. */
const decodeAt = (bytes: Buffer, sessionId: SessionId, id: MessageId): MessageWithParts | string => {
  let value: unknown
  try {
    value = JSON.parse(bytes.toString("utf8"))
  } catch (error) {
    return `not valid JSON (${(error as Error).message})`
  }
  const message = typeof value === "object" && value !== null ? (value as { put?: unknown }).put : undefined
  const problem = messageProblem(message, sessionId)
  if (problem !== undefined) return problem
  const decoded = message as MessageWithParts
  return decoded.info.id === id ? decoded : `holds message ${decoded.info.id}, expected ${id}`
}

/**
 * Prepares the directory: creates it and its parts (private), checks the
 * format marker, and empties tmp/ of what a crash left behind.
 */
const openDirectory = (fs: FileSystem.FileSystem, path: Path.Path, layout: Layout, fsync: boolean) =>
  Effect.gen(function*() {
    if (!(yield* fs.exists(layout.root))) {
      yield* fs.makeDirectory(layout.root, { recursive: true, mode: DIRECTORY_MODE })
      yield* fs.chmod(layout.root, DIRECTORY_MODE)
      if (fsync) yield* syncDirectory(fs, path.dirname(layout.root))
    }
    yield* ensurePrivateDirectory(fs, layout.sessions)
    yield* ensurePrivateDirectory(fs, layout.tmp)
    // Every later fsync of sessions/ is worth only as much as sessions/ itself being on disk.
    if (fsync) yield* syncDirectory(fs, layout.root)
    for (const name of yield* fs.readDirectory(layout.tmp)) {
      yield* fs.remove(path.join(layout.tmp, name), { recursive: true, force: true })
    }
    const marker = yield* fs.readFileString(layout.formatFile).pipe(
      Effect.catchIf((error) => isReason(error, "NotFound"), () => Effect.succeed(undefined))
    )
    if (marker === undefined) {
      yield* replaceFile(fs, {
        temporary: layout.temporary("format"),
        target: layout.formatFile,
        targetDirectory: layout.root,
        data: Buffer.from(JSON.stringify(FORMAT) + "\n", "utf8"),
        fsync
      })
    } else if (!isFormatMarker(marker)) {
      return yield* new CorruptRecord({
        file: layout.formatFile,
        problem: `not a storage format this version reads (expected ${JSON.stringify(FORMAT)})`
      })
    }
  })
