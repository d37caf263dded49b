/**
 * The repository port: where sessions and messages are stored for real. The
 * store treats it as the truth; every write goes here before it is
 * acknowledged. Two layers ship: {@link SessionRepository.layerMemory} for
 * tests and {@link SessionRepository.layerFileSystem}, the embedded default.
 *
 * Message order is the order in which ids were first written; writing a
 * message whose id exists replaces it in place.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionRepository } from "@session-store/core/SessionRepository"
 *
 * const program = Effect.gen(function*() {
 *   const repo = yield* SessionRepository
 *   const loaded = yield* repo.loadSession(sessionId, { newest: 100 })
 *   return loaded.messageCount
 * }).pipe(Effect.provide(SessionRepository.layerMemory))
 * ```
 *
 * @since 0.1.0
 */
import { Context, type Effect, Layer } from "effect"
import type * as FileSystem from "effect/FileSystem"
import type * as Path from "effect/Path"
import type {
  CorruptRecord,
  MessageNotFound,
  ReadError,
  RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "../domain/Errors.ts"
import type { MessageId, SessionId } from "../domain/Ids.ts"
import type { MessageWithParts } from "../domain/Message.ts"
import type { SessionInfo, SessionSummary } from "../domain/Session.ts"
import { makeFileSystemRepository } from "./fileSystem/fileSystemRepository.ts"
import { makeMemoryRepository } from "./memory.ts"

/**
 * A message together with the size of its stored record, so the store can
 * account memory without serializing a second time.
 *
 * @example
 * ```ts
 * const total = (ms: ReadonlyArray<StoredMessage>) => ms.reduce((n, m) => n + m.bytes, 0)
 * ```
 */
export interface StoredMessage {
  readonly message: MessageWithParts
  readonly bytes: number
}

/**
 * A session as loaded: its info, its newest messages (oldest first) and totals.
 *
 * @example
 * ```ts
 * const hasOlder = (s: LoadedSession) => s.messageCount > s.messages.length
 * ```
 */
export interface LoadedSession {
  readonly info: SessionInfo
  readonly infoBytes: number
  /** The newest messages, at most as many as asked for, oldest first. */
  readonly messages: ReadonlyArray<StoredMessage>
  /** All messages of the session in storage. */
  readonly messageCount: number
  /** Bytes of all the session's stored records: info plus every message. */
  readonly totalBytes: number
}

/**
 * What a write stored.
 *
 * @example
 * ```ts
 * const written: Written = { bytes: 512 }
 * ```
 */
export interface Written {
  /** Size of the record as stored (UTF-8 bytes of its JSON). */
  readonly bytes: number
}

/**
 * A page of older messages: the newest `limit` messages strictly before
 * `before` (or the newest `limit` of all, without `before`).
 *
 * @example
 * ```ts
 * const request: PageRequest = { before: oldestResidentId, limit: 50 }
 * ```
 */
export interface PageRequest {
  readonly before?: MessageId | undefined
  readonly limit: number
}

/**
 * The operations the store needs from storage.
 *
 * @example
 * ```ts
 * const count = (repo: SessionRepositoryShape, id: SessionId) =>
 *   repo.loadSession(id, { newest: 0 }).pipe(Effect.map((s) => s.messageCount))
 * ```
 */
export interface SessionRepositoryShape {
  /** Stores a new session; never overwrites one that exists. */
  readonly createSession: (info: SessionInfo) => Effect.Effect<Written, SessionAlreadyExists | RepositoryError>
  /** Replaces the info of an existing session. */
  readonly updateSession: (info: SessionInfo) => Effect.Effect<Written, ReadError>
  /** Loads a session's info, its newest `newest` messages and its totals. */
  readonly loadSession: (
    sessionId: SessionId,
    options: { readonly newest: number }
  ) => Effect.Effect<LoadedSession, ReadError>
  /** Writes a message: appended at the end, or replacing the message with the same id in place. */
  readonly putMessage: (sessionId: SessionId, message: MessageWithParts) => Effect.Effect<Written, ReadError>
  /** Reads one message. */
  readonly getMessage: (
    sessionId: SessionId,
    messageId: MessageId
  ) => Effect.Effect<StoredMessage, ReadError | MessageNotFound>
  /** Reads a page of messages, oldest first; see {@link PageRequest}. */
  readonly pageMessages: (
    sessionId: SessionId,
    request: PageRequest
  ) => Effect.Effect<ReadonlyArray<StoredMessage>, ReadError | MessageNotFound>
  /** Removes one message. */
  readonly removeMessage: (
    sessionId: SessionId,
    messageId: MessageId
  ) => Effect.Effect<void, ReadError | MessageNotFound>
  /** Removes a session and everything it owns. */
  readonly removeSession: (sessionId: SessionId) => Effect.Effect<void, SessionNotFound | RepositoryError>
  /** Lists every stored session, most recently updated first. */
  readonly listSessions: () => Effect.Effect<ReadonlyArray<SessionSummary>, RepositoryError | CorruptRecord>
}

/**
 * The repository service.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const repo = yield* SessionRepository
 *   return yield* repo.listSessions()
 * })
 * ```
 */
export class SessionRepository extends Context.Service<SessionRepository, SessionRepositoryShape>()(
  "@session-store/core/SessionRepository"
) {
  /**
   * An in-memory repository for tests: each build starts empty. Records are
   * kept encoded, so callers can never mutate what was stored.
   *
   * @example
   * ```ts
   * program.pipe(Effect.provide(SessionRepository.layerMemory))
   * ```
   */
  static readonly layerMemory: Layer.Layer<SessionRepository> = Layer.sync(SessionRepository, makeMemoryRepository)

  /**
   * The embedded, durable repository: everything under `directory`, one
   * directory per session (mode 0700, files 0600), the session info replaced
   * atomically and the messages in an append-only log. With `fsync` (the
   * default) every write is on disk before it is acknowledged; a crash at any
   * moment loses nothing acknowledged, and a record torn by a crash is ignored
   * on the next load. A record that does not decode fails with CorruptRecord
   * naming its file and line, and is never deleted or rewritten. One process
   * owns a directory at a time. Opening the directory fails with
   * RepositoryError when it cannot be created or read.
   *
   * @example
   * ```ts
   * import { NodeServices } from "@effect/platform-node"
   *
   * const RepositoryLive = SessionRepository.layerFileSystem({ directory: "/var/lib/opencode/sessions" }).pipe(
   *   Layer.provide(NodeServices.layer)
   * )
   * ```
   */
  static layerFileSystem(options: {
    readonly directory: string
    readonly fsync?: boolean | undefined
  }): Layer.Layer<SessionRepository, RepositoryError, FileSystem.FileSystem | Path.Path> {
    return Layer.effect(SessionRepository, makeFileSystemRepository(options))
  }
}
