/**
 * The typed errors of session-store. Every failure a caller can see is one of
 * these, and each names what went wrong and where.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionNotFound } from "@session-store/core/Errors"
 *
 * const program = Effect.fail(new SessionNotFound({ sessionId: "ses_1" })).pipe(
 *   Effect.catchTag("SessionNotFound", (e) => Effect.succeed(`missing ${e.sessionId}`))
 * )
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * No session with this id exists in storage.
 *
 * @example
 * ```ts
 * new SessionNotFound({ sessionId: "ses_1" }).message // "session not found: ses_1"
 * ```
 */
export class SessionNotFound extends Schema.TaggedError<SessionNotFound>()("SessionNotFound", {
  sessionId: Schema.String
}) {
  override get message(): string {
    return `session not found: ${this.sessionId}`
  }
}

/**
 * A session with this id exists already (raised by create, which never overwrites).
 *
 * @example
 * ```ts
 * new SessionAlreadyExists({ sessionId: "ses_1" }).message // "session already exists: ses_1"
 * ```
 */
export class SessionAlreadyExists extends Schema.TaggedError<SessionAlreadyExists>()("SessionAlreadyExists", {
  sessionId: Schema.String
}) {
  override get message(): string {
    return `session already exists: ${this.sessionId}`
  }
}

/**
 * No message with this id exists in the session.
 *
 * @example
 * ```ts
 * new MessageNotFound({ sessionId: "ses_1", messageId: "msg_1" }).message
 * ```
 */
export class MessageNotFound extends Schema.TaggedError<MessageNotFound>()("MessageNotFound", {
  sessionId: Schema.String,
  messageId: Schema.String
}) {
  override get message(): string {
    return `message not found: ${this.messageId} in session ${this.sessionId}`
  }
}

/**
 * An identifier was rejected at the boundary: it could escape a directory,
 * break a file name, or is otherwise unusable.
 *
 * @example
 * ```ts
 * new InvalidId({ kind: "SessionId", id: "../etc", reason: "contains a path separator" }).message
 * ```
 */
export class InvalidId extends Schema.TaggedError<InvalidId>()("InvalidId", {
  kind: Schema.String,
  id: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.kind} ${JSON.stringify(this.id.slice(0, 64))}: ${this.reason}`
  }
}

/**
 * A value given to the store does not match its schema (a message without an
 * id, a session whose edit changed its id, a message over the size limit).
 *
 * @example
 * ```ts
 * new InvalidInput({ what: "message", reason: "Expected string at [\"id\"]" }).message
 * ```
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>()("InvalidInput", {
  what: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ${this.what}: ${this.reason}`
  }
}

/**
 * The kind of a {@link RepositoryError}, as far as the storage tells it:
 *
 * - `Busy`: another connection or process holds the lock longer than the busy timeout (SQLITE_BUSY, SQLITE_LOCKED,
 *   a PostgreSQL lock timeout or deadlock). Retryable.
 * - `StorageFull`: the disk or the database is full (SQLITE_FULL, ENOSPC, PostgreSQL 53100).
 * - `ReadOnly`: the database cannot be written (SQLITE_READONLY: a read-only file, mount or open).
 * - `Corrupt`: the file is damaged or not a database at all (SQLITE_CORRUPT, SQLITE_NOTADB).
 * - `Unavailable`: the database cannot be opened or reached (SQLITE_CANTOPEN, SQLITE_IOERR, a lost connection).
 *
 * @example
 * ```ts
 * const retry = (e: RepositoryError) => e.reason === "Busy"
 * ```
 */
export const RepositoryErrorReason = Schema.Literals(["Busy", "StorageFull", "ReadOnly", "Corrupt", "Unavailable"])
export type RepositoryErrorReason = typeof RepositoryErrorReason.Type

/**
 * The storage behind the store failed: disk full, permission denied, a lost
 * connection. `operation` names what was attempted; `cause` is the underlying error.
 *
 * @example
 * ```ts
 * new RepositoryError({ operation: "appendMessage", sessionId: "ses_1", cause: new Error("ENOSPC") })
 * ```
 */
export class RepositoryError extends Schema.TaggedError<RepositoryError>()("RepositoryError", {
  operation: Schema.String,
  sessionId: Schema.optional(Schema.String),
  /** What kind of storage failure this is, when the storage can tell; see {@link RepositoryErrorReason}. */
  reason: Schema.optional(RepositoryErrorReason),
  cause: Schema.Defect()
}) {
  override get message(): string {
    const where = this.sessionId === undefined ? "" : ` (session ${this.sessionId})`
    const kind = this.reason === undefined ? "" : ` [${this.reason}]`
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `repository ${this.operation} failed${where}${kind}: ${cause}`
  }

  /** Whether trying the same operation again later can succeed (the storage was busy or locked). */
  get isRetryable(): boolean {
    return this.reason === "Busy"
  }
}

/**
 * An existing database has a table this store needs, but not the columns it
 * needs: the schema is one it cannot use (an older or foreign layout). The
 * database is left exactly as it is; nothing is altered or dropped.
 *
 * @example
 * ```ts
 * new IncompatibleSchema({ table: "session", missingColumns: ["slug"] }).message
 * // "table session lacks the column(s) slug"
 * ```
 */
export class IncompatibleSchema extends Schema.TaggedError<IncompatibleSchema>()("IncompatibleSchema", {
  table: Schema.String,
  missingColumns: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `table ${this.table} lacks the column(s) ${this.missingColumns.join(", ")}`
  }
}

/**
 * A stored record cannot be read back: it was hand-edited, truncated in the
 * middle, or written by something else. The row is left exactly as it is.
 *
 * @example
 * ```ts
 * new CorruptRecord({ file: "message msg_1", problem: "not valid JSON" }).message
 * ```
 */
export class CorruptRecord extends Schema.TaggedError<CorruptRecord>()("CorruptRecord", {
  file: Schema.String,
  problem: Schema.String
}) {
  override get message(): string {
    return `corrupt record in ${this.file}: ${this.problem}`
  }
}

/**
 * Any error the repository port can raise when reading a session.
 */
export type ReadError = SessionNotFound | RepositoryError | CorruptRecord
