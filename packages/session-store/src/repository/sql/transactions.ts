/**
 * The transactions of the SQL repository: reads that span several
 * statements see one snapshot, and every write is one transaction that tells
 * other processes which session it changed (SQLite: a row of
 * `session_store_change`; PostgreSQL: a NOTIFY, after an advisory lock that
 * serializes writes to the session across nodes).
 */
import { Clock, Effect } from "effect"
import { BeginTransaction, SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { RepositoryError } from "../../domain/Errors.ts"
import type { SessionId } from "../../domain/Ids.ts"
import { orRepositoryError } from "./sqlErrors.ts"

/**
 * PostgreSQL: the channel every write notifies (`pg_notify`, inside the write's
 * transaction, so it is delivered only once the write committed). The payload
 * is {@link changePayload}.
 */
export const PG_CHANGE_CHANNEL = "session_store_change"

/** The payload of a change notification: the writer id, a tab, the session id. */
export const changePayload = (writer: string, sessionId: string): string => `${writer}\t${sessionId}`

// PostgreSQL: the first key of the advisory locks that serialize writes to a session (the second is
// hashtext(session id)); a constant of ours, so the two-key locks of other software do not meet them.
const PG_LOCK_SPACE = 0x53_53_54_52

/** How long change rows are kept: a reader that stalls longer than this is told "all". */
const CHANGE_RETENTION_MS = 60_000

/** How the repository runs its statements: `effect` in one transaction, its errors as RepositoryError. */
export interface Transactions {
  /** `effect` in one read transaction (one snapshot). */
  readonly readTransaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
  /** `effect` in one read transaction, its SqlError as a RepositoryError of `operation` on `sessionId`. */
  readonly read: <A, E>(
    operation: string,
    sessionId: SessionId,
    effect: Effect.Effect<A, E | SqlError, SqlClient>
  ) => Effect.Effect<A, Exclude<E, SqlError> | RepositoryError>
  /** `effect` in one write transaction that records (or notifies) the change of `sessionId`. */
  readonly write: <A, E>(
    operation: string,
    sessionId: SessionId,
    effect: Effect.Effect<A, E | SqlError, SqlClient>
  ) => Effect.Effect<A, Exclude<E, SqlError> | RepositoryError>
}

/** The transactions on `sql`, recording changes as `writer`. */
export const makeTransactions = (sql: SqlClient, writer: string): Transactions => {
  const readTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    sql.onDialectOrElse({
      sqlite: () => sql.withTransaction(effect).pipe(Effect.provideService(BeginTransaction, "BEGIN DEFERRED")),
      pg: () =>
        sql.withTransaction(effect).pipe(
          Effect.provideService(BeginTransaction, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        ),
      orElse: () => sql.withTransaction(effect)
    })

  let lastPrune = 0
  const recordChange = (sessionId: SessionId) =>
    Effect.gen(function*() {
      const time = yield* Clock.currentTimeMillis
      yield* sql`INSERT INTO session_store_change (session_id, writer, time_created) VALUES (${sessionId}, ${writer}, ${time})`
      if (time - lastPrune >= 1_000) {
        lastPrune = time
        // Walks from the oldest row to the first recent one (schema.ts, migration 3: no index on the time).
        yield* sql`DELETE FROM session_store_change WHERE seq < (SELECT seq FROM session_store_change
          WHERE time_created >= ${time - CHANGE_RETENTION_MS} ORDER BY seq LIMIT 1)`
      }
    })

  // PostgreSQL, several nodes: every write transaction first takes a transaction-scoped advisory lock on
  // its session id, so writes to one session are serialized across nodes (READ COMMITTED: each
  // statement after the lock sees every write committed before it, so the `max(time_created) + 1` of an
  // append and the existence checks are never stale, and no update is lost). An advisory lock rather
  // than `SELECT … FOR UPDATE` on the session row because it also serializes what has no row yet (two
  // nodes creating one id: the second gets SessionAlreadyExists, not a unique violation) and a removal
  // against a write; it is released by COMMIT or ROLLBACK, so a crashed node holds nothing. Then the
  // write notifies its session id instead of a change row: NOTIFY inside the transaction is delivered on
  // commit only. (SQLite needs neither: BEGIN IMMEDIATE serializes writers, and watchers poll.) A lock
  // rather than versioned writes (optimistic, retried on conflict): appends to a hot session from several
  // nodes would conflict all the time and each retry redo the transaction; waiting on the lock costs
  // one transaction's time and never fails.
  const pgWrite = <A, E>(sessionId: SessionId, effect: Effect.Effect<A, E | SqlError, SqlClient>) =>
    Effect.andThen(
      sql`SELECT pg_advisory_xact_lock(${PG_LOCK_SPACE}, hashtext(${sessionId}))`,
      Effect.andThen(effect, (a) =>
        Effect.as(sql`SELECT pg_notify(${PG_CHANGE_CHANNEL}, ${changePayload(writer, sessionId)})`, a))
    )

  return {
    readTransaction,
    read: (operation, sessionId, effect) =>
      readTransaction(effect).pipe(Effect.provideService(SqlClient, sql), orRepositoryError(operation, sessionId)),
    write: (operation, sessionId, effect) =>
      sql.withTransaction(sql.onDialectOrElse({
        pg: () => pgWrite(sessionId, effect),
        orElse: () => Effect.andThen(effect, (a) => Effect.as(recordChange(sessionId), a))
      })).pipe(
        Effect.provideService(SqlClient, sql),
        orRepositoryError(operation, sessionId)
      )
  }
}
