/**
 * The storage port: what every repository implements. Shared by the service
 * module (`SessionRepository.ts`) and the implementations beside it.
 */
import type { Effect, Scope, Stream } from "effect"
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
 * A message together with its id and the size of its stored record, so the
 * store can find and account it without decoding or serializing it.
 *
 * A repository may decode `message` when it is first read (the SQL ones
 * do: a load reads a whole window, and most of it is never asked for). That
 * read then throws `CorruptRecord`, naming the message, when its stored text
 * does not decode; the store reads it inside the read that returns it, so
 * the caller gets that as a typed failure.
 *
 * @example
 * ```ts
 * const total = (ms: ReadonlyArray<StoredMessage>) => ms.reduce((n, m) => n + m.bytes, 0)
 * ```
 */
export interface StoredMessage {
  readonly id: MessageId
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
 * What a message write stored, and which of the two it was.
 *
 * @example
 * ```ts
 * const written: MessageWritten = { bytes: 2048, appended: true }
 * ```
 */
export interface MessageWritten extends Written {
  /** True when the message was new (it went at the end), false when it replaced one in place. */
  readonly appended: boolean
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
  readonly putMessage: (sessionId: SessionId, message: MessageWithParts) => Effect.Effect<MessageWritten, ReadError>
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
   * stale copies; absent where no other process can write (memory). Running
   * it subscribes (in the scope): the stream then has every change found from
   * that moment on, whenever it is consumed. The SQLite repository
   * checks every `changePollIntervalMs` (default 100 ms), so a write by
   * another process shows here within about that interval after its commit.
   */
  readonly changes?: Effect.Effect<Stream.Stream<SessionChanges>, never, Scope.Scope> | undefined
}
