/**
 * The repository port: where sessions and messages are stored for real. The
 * store treats it as the truth; every write goes here before it is
 * acknowledged. The layers: {@link SessionRepository.layerMemory} for tests,
 * {@link SessionRepository.layerFileSystem} (JSONL files),
 * {@link SessionRepository.layerSql} on any `effect/sql` client in opencode's
 * own tables, and {@link SessionRepository.layerSqlite} on an SQLite file
 * (opencode.db) through `node:sqlite`.
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
import { Context, type Effect, Layer, type Stream } from "effect"
import type * as FileSystem from "effect/FileSystem"
import type * as Path from "effect/Path"
import type { SqlClient } from "effect/sql/SqlClient"
import type {
  CorruptRecord,
  IncompatibleSchema,
  MessageNotFound,
  ReadError,
  RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "./Errors.ts"
import type { MessageId, SessionId } from "./Ids.ts"
import type { MessageWithParts } from "./Message.ts"
import type { SessionInfo, SessionSummary } from "./Session.ts"
import { makeFileSystemRepository } from "./internal/fileSystemRepository.ts"
import { makeMemoryRepository } from "./internal/memoryRepository.ts"
import * as SqliteClient from "./repository/sql/SqliteClient.ts"
import { makeSqlRepository, type SqlRepositoryOptions } from "./repository/sql/sqlRepository.ts"

/**
 * What other processes wrote, as a repository on shared storage learns of
 * it: the ids of the sessions they changed, or `"all"` when it cannot tell
 * which (a writer that keeps no change record, such as opencode itself, or a
 * reader that fell too far behind).
 *
 * @example
 * ```ts
 * const stale = (change: SessionChanges, id: SessionId) => change === "all" || change.includes(id)
 * ```
 */
export type SessionChanges = ReadonlyArray<SessionId> | "all"

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
  /**
   * Writes by other processes to the same storage, for a store to drop its
   * stale copies; absent where no other process can write (memory). Each
   * subscriber sees what is found after it subscribed. The SQLite repository
   * checks every `changePollIntervalMs` (default 100 ms), so a write by
   * another process shows here within about that interval after its commit.
   */
  readonly changes?: Stream.Stream<SessionChanges> | undefined
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

  /**
   * The repository on the `SqlClient` in context (SQLite or PostgreSQL), in
   * opencode's own tables: `session` (a column per field), `message` and
   * `part` (the rest of each record as JSON in `data`). Building it migrates
   * the schema with `effect/sql`'s Migrator: on an empty database it creates
   * opencode's tables; on an existing opencode.db it uses them as they are
   * (never altered or dropped) and fails with IncompatibleSchema naming the
   * table and the columns when one it needs is missing. Fields of a
   * SessionInfo without a column are kept in a table of ours. Every
   * multi-row write is one transaction. On SQLite, `changes` reports writes
   * by other processes (`PRAGMA data_version` plus a change record), polled
   * every `changePollIntervalMs` by a fiber of the layer's scope.
   *
   * @example
   * ```ts
   * const RepositoryLive = SessionRepository.layerSql().pipe(
   *   Layer.provide(SqliteClient.layer({ filename: "opencode.db" }))
   * )
   * ```
   */
  static layerSql(
    options: SqlRepositoryOptions = {}
  ): Layer.Layer<SessionRepository, RepositoryError | IncompatibleSchema, SqlClient> {
    return Layer.effect(SessionRepository, makeSqlRepository(options))
  }

  /**
   * {@link SessionRepository.layerSql} on a SQLite file through `node:sqlite`
   * (WAL, a busy timeout, `synchronous = FULL` unless told otherwise; see
   * SqliteClient). The database is opened when the layer is built and closed
   * when it is released. Opening fails with a RepositoryError whose `reason`
   * says why (`Corrupt`, `ReadOnly`, `Unavailable`, `Busy`).
   *
   * @example
   * ```ts
   * const RepositoryLive = SessionRepository.layerSqlite({ filename: "/home/me/.local/share/opencode/opencode.db" })
   * ```
   */
  static layerSqlite(
    options: SqliteClient.SqliteClientOptions & SqlRepositoryOptions
  ): Layer.Layer<SessionRepository, RepositoryError | IncompatibleSchema> {
    return SessionRepository.layerSql(options).pipe(Layer.provide(SqliteClient.layer(options)))
  }
}
