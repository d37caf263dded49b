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
import type { SqliteClient } from "./SqliteClient.ts"
import { orRepositoryError } from "./sqlErrors.ts"
import { execute, makeFixed, PlanFailure, type PlanOutcome, query, runPlan, runPlanSync, type WritePlan } from "./writePlan.ts"

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
  /**
   * The plan `plan(now)` (writePlan.ts) in one write transaction that records (or notifies) the change of
   * `sessionId`; on SQLite run synchronously on the held connection.
   */
  readonly write: <A, E>(
    operation: string,
    sessionId: SessionId,
    plan: (now: number) => WritePlan<A, E>
  ) => Effect.Effect<A, E | RepositoryError>
}

const settle = <A, E>(outcome: PlanOutcome<A, E>): Effect.Effect<A, E> =>
  outcome.ok ? Effect.succeed(outcome.value) : Effect.fail(outcome.error)

/**
 * The transactions on `sql`, recording changes as `writer`; `sqlite`, when the client is this package's
 * SQLite client, runs the writes synchronously.
 */
export const makeTransactions = (
  sql: SqlClient,
  writer: string,
  sqlite: SqliteClient | undefined,
  /** Called inside each SQLite write transaction, first, with its `data_version` (the totals cache's check). */
  onVersion?: (version: number) => void
): Transactions => {
  const readTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    sql.onDialectOrElse({
      sqlite: () => sql.withTransaction(effect).pipe(Effect.provideService(BeginTransaction, "BEGIN DEFERRED")),
      pg: () =>
        sql.withTransaction(effect).pipe(
          Effect.provideService(BeginTransaction, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        ),
      orElse: () => sql.withTransaction(effect)
    })

  const fixed = makeFixed(sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const }))
  let lastPrune = 0
  // Whether a writer other than this one watches (session_store_watcher), as of `watchersVersion`, the
  // data_version it was read at: a watcher registers with a commit, which moves that number here.
  let othersWatch = true
  let watchersVersion: number | undefined
  /**
   * `plan`, then (unless it failed, and only while another writer watches) the change row of `sessionId`,
   * and once a second the prune of old rows. Inside the write transaction, so a watcher that registered
   * before it began is seen, and one that registers after it loads what it wrote. The transaction's
   * `data_version` is read once, first (no other connection can commit while it holds the write lock),
   * for the totals cache and for the watcher check.
   */
  const recordingChange = function*<A, E>(sessionId: SessionId, time: number, plan: WritePlan<A, E>): WritePlan<A, E> {
    const [version] = yield* query<{ data_version: number }>(fixed`PRAGMA data_version`)
    const current = Number(version?.data_version)
    onVersion?.(current)
    const result = yield* plan
    if (result instanceof PlanFailure) return result
    if (current !== watchersVersion) {
      const [watchers] = yield* query<{ n: number }>(
        fixed`SELECT count(*) AS n FROM session_store_watcher WHERE writer <> ${writer}`
      )
      othersWatch = Number(watchers?.n ?? 0) > 0
      watchersVersion = current
    }
    if (!othersWatch) return result
    yield* execute(
      fixed`INSERT INTO session_store_change (session_id, writer, time_created) VALUES (${sessionId}, ${writer}, ${time})`
    )
    if (time - lastPrune >= 1_000) {
      lastPrune = time
      // Walks from the oldest row to the first recent one (schema.ts, migration 3: no index on the time).
      yield* query(sql`DELETE FROM session_store_change WHERE seq < (SELECT seq FROM session_store_change
        WHERE time_created >= ${time - CHANGE_RETENTION_MS} ORDER BY seq LIMIT 1)`)
    }
    return result
  }

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
  const pgWrite = <A, E>(sessionId: SessionId, plan: WritePlan<A, E>) =>
    Effect.andThen(
      sql`SELECT pg_advisory_xact_lock(${PG_LOCK_SPACE}, hashtext(${sessionId}))`,
      Effect.andThen(Effect.flatMap(runPlan(sql, plan), settle), (a) =>
        Effect.as(sql`SELECT pg_notify(${PG_CHANGE_CHANNEL}, ${changePayload(writer, sessionId)})`, a))
    )

  const sqliteWrite = <A, E>(sessionId: SessionId, time: number, plan: WritePlan<A, E>) =>
    sqlite === undefined
      ? sql.withTransaction(Effect.flatMap(runPlan(sql, recordingChange(sessionId, time, plan)), settle))
      : Effect.flatMap(
        sqlite.transactionSync((connection) => runPlanSync(recordingChange(sessionId, time, plan), connection), (o) => o.ok),
        settle
      )

  return {
    readTransaction,
    read: (operation, sessionId, effect) =>
      readTransaction(effect).pipe(Effect.provideService(SqlClient, sql), orRepositoryError(operation, sessionId)),
    write: (operation, sessionId, plan) =>
      Effect.flatMap(Clock.currentTimeMillis, (time) =>
        sql.onDialectOrElse({
          pg: () => sql.withTransaction(pgWrite(sessionId, plan(time))),
          orElse: () => sqliteWrite(sessionId, time, plan(time))
        })).pipe(orRepositoryError(operation, sessionId))
  }
}
