/**
 * From driver errors to the store's {@link RepositoryError}: what kind of
 * failure (busy, full, read-only, corrupt, unavailable) is read from the SQLite
 * result code or the PostgreSQL SQLSTATE carried by the cause, which is kept.
 */
import { Effect } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import { RepositoryError, type RepositoryErrorReason } from "../../domain/Errors.ts"

// SQLite primary result codes (the low byte of an extended code).
const SQLITE_PERM = 3
const SQLITE_BUSY = 5
const SQLITE_LOCKED = 6
const SQLITE_READONLY = 8
const SQLITE_IOERR = 10
const SQLITE_CORRUPT = 11
const SQLITE_FULL = 13
const SQLITE_CANTOPEN = 14
const SQLITE_NOTADB = 26

const numberProperty = (value: unknown, key: string): number | undefined => {
  if (typeof value !== "object" || value === null || !(key in value)) return undefined
  const found = (value as Record<string, unknown>)[key]
  return typeof found === "number" ? found : undefined
}

const stringProperty = (value: unknown, key: string): string | undefined => {
  if (typeof value !== "object" || value === null || !(key in value)) return undefined
  const found = (value as Record<string, unknown>)[key]
  return typeof found === "string" ? found : undefined
}

/** Walks `cause` chains (SqlError → reason → driver error) to the first value that says something. */
const causes = function*(error: unknown): Generator<unknown> {
  let current: unknown = error
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    yield current
    current = typeof current === "object" && "cause" in current ? (current as { cause: unknown }).cause : undefined
  }
}

const fromSqliteCode = (code: number): RepositoryErrorReason | undefined => {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return "Busy"
    case SQLITE_FULL:
      return "StorageFull"
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return "ReadOnly"
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return "Corrupt"
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
      return "Unavailable"
    default:
      return undefined
  }
}

const fromSqlState = (state: string): RepositoryErrorReason | undefined => {
  if (state === "53100") return "StorageFull"
  if (state === "25006") return "ReadOnly"
  if (state === "40P01" || state === "55P03" || state === "40001") return "Busy"
  if (state === "XX001" || state === "XX002") return "Corrupt"
  if (state.startsWith("08") || state === "57P01" || state === "57P03") return "Unavailable"
  return undefined
}

/**
 * The kind of a storage failure, from whatever the driver attached: node:sqlite
 * errors carry `errcode` (the extended SQLite code), PostgreSQL errors a
 * SQLSTATE in `code`; `SqlError` reasons name lock timeouts and lost
 * connections. `undefined` when nothing tells.
 */
export const classifyStorageFailure = (error: unknown): RepositoryErrorReason | undefined => {
  for (const cause of causes(error)) {
    const errcode = numberProperty(cause, "errcode")
    if (errcode !== undefined) {
      const reason = fromSqliteCode(errcode)
      if (reason !== undefined) return reason
    }
    const code = stringProperty(cause, "code")
    if (code !== undefined) {
      if (code === "ENOSPC") return "StorageFull"
      if (code === "EROFS" || code === "EACCES" || code === "EPERM") return "ReadOnly"
      if (/^[0-9A-Z]{5}$/.test(code)) {
        const reason = fromSqlState(code)
        if (reason !== undefined) return reason
      }
    }
    const tag = stringProperty(cause, "_tag")
    if (tag === "LockTimeoutError" || tag === "DeadlockError" || tag === "SerializationError") return "Busy"
    if (tag === "ConnectionError") return "Unavailable"
  }
  return undefined
}

/** A {@link RepositoryError} for `error`, its kind classified and the error itself kept as the cause. */
export const toRepositoryError = (
  error: unknown,
  operation: string,
  sessionId?: string | undefined
): RepositoryError => {
  const reason = classifyStorageFailure(error)
  return new RepositoryError({
    operation,
    ...(sessionId === undefined ? {} : { sessionId }),
    ...(reason === undefined ? {} : { reason }),
    cause: error
  })
}

/** Maps the `SqlError`s of `effect` to {@link RepositoryError}s naming `operation` and the session. */
export const orRepositoryError = (operation: string, sessionId?: string | undefined) =>
<A, E, R>(effect: Effect.Effect<A, E | SqlError, R>): Effect.Effect<A, Exclude<E, SqlError> | RepositoryError, R> =>
  Effect.catchIf(
    effect,
    (error): error is SqlError => isSqlErrorValue(error),
    (error) => Effect.fail(toRepositoryError(error, operation, sessionId))
  ) as Effect.Effect<A, Exclude<E, SqlError> | RepositoryError, R>

const isSqlErrorValue = (error: unknown): error is SqlError =>
  typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "SqlError"
