/**
 * An `effect/sql` {@link SqlClient.SqlClient} on `node:sqlite` (built into
 * Node 24; no native build). One connection per client, shared through a
 * semaphore, as SQLite wants it; statements prepared once and kept in a
 * bounded cache; transactions through `sql.withTransaction` (`BEGIN IMMEDIATE`,
 * so a writer waits for the lock up to the busy timeout instead of failing
 * half way). Replace it with `@effect/sql-sqlite-node` once a stable 4.x
 * release of it exists.
 *
 * The connection is set up for a database shared with other processes
 * (opencode itself, another store):
 *
 * - `journal_mode = WAL`: readers never block the writer and the writer never
 *   blocks readers; it is also what opencode uses for `opencode.db`.
 * - `busy_timeout` (default 5000 ms): a connection that finds the database
 *   locked by another one retries for that long before failing with a
 *   RepositoryError of reason `Busy`.
 * - `synchronous` (default `FULL`): in WAL mode, `NORMAL` already survives a
 *   crash of the process (a SIGKILL loses nothing committed), but a power loss
 *   or kernel panic can roll back the last commits; `FULL` syncs the WAL on
 *   every commit, so a write the store acknowledged is on disk. The store's
 *   contract is "acknowledged means stored", as with the file-system
 *   repository's `fsync`, so `FULL` is the default; pass `"NORMAL"` to trade
 *   that for lower commit latency when losing the last moments before a power
 *   cut is acceptable.
 * - `foreign_keys = ON`, as opencode runs, so opencode's cascades hold.
 *
 * Opening fails with a RepositoryError (operation `open <filename>`) whose `reason` says why (`Corrupt` for
 * a file that is not a database, `Unavailable` when it cannot be opened,
 * `ReadOnly`…). Statements fail with `SqlError`, whose cause is the
 * `node:sqlite` error (its `errcode` is the extended SQLite result code);
 * the SQL repository maps them to RepositoryError.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql/SqlClient"
 * import * as SqliteClient from "@session-store/core/repository/sql/SqliteClient"
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* SqlClient
 *   return yield* sql<{ n: number }>`SELECT 1 AS n`
 * }).pipe(Effect.provide(SqliteClient.layer({ filename: "/tmp/opencode.db" })))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Scope, Semaphore, Stream } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import * as SqlClient from "effect/sql/SqlClient"
import type { Connection } from "effect/sql/SqlConnection"
import { classifySqliteError, SqlError } from "effect/sql/SqlError"
import * as Statement from "effect/sql/Statement"
import { DatabaseSync, type StatementSync } from "node:sqlite"
import type { RepositoryError } from "../../domain/Errors.ts"
import { toRepositoryError } from "./sqlErrors.ts"

/**
 * How the SQLite file is opened.
 *
 * @example
 * ```ts
 * const options: SqliteClientOptions = { filename: "opencode.db", busyTimeoutMs: 1000, synchronous: "NORMAL" }
 * ```
 */
export interface SqliteClientOptions {
  /** Path of the database file (created when missing, unless `readOnly`), or `:memory:`. */
  readonly filename: string
  /** Open the file read-only: every write fails with a RepositoryError of reason `ReadOnly`. Default false. */
  readonly readOnly?: boolean | undefined
  /** How long a statement waits for a lock held by another connection, in ms. Default 5000. */
  readonly busyTimeoutMs?: number | undefined
  /** `FULL` (default: every acknowledged commit is on disk) or `NORMAL` (survives process crashes only). */
  readonly synchronous?: "FULL" | "NORMAL" | undefined
  /** How many prepared statements to keep. Default 256. */
  readonly statementCacheSize?: number | undefined
}

/**
 * The SQLite-specific side of a client built here: its options and a way to
 * run a statement straight on the connection (for PRAGMAs).
 *
 * @example
 * ```ts
 * const version = (client: SqliteClient) => client.pragma("data_version")
 * ```
 */
export interface SqliteClient {
  readonly options: SqliteClientOptions
  /** Reads a PRAGMA (for example `data_version`) and returns its first column of the first row. */
  readonly pragma: (name: string) => Effect.Effect<unknown, SqlError>
  /**
   * `PRAGMA data_version` of this connection, read at once, without waiting
   * for the connection: it is one synchronous statement that changes nothing,
   * so it cannot interleave with a transaction another fiber has open, and a
   * change watch that reads it is never queued behind a stream of writes. It
   * moves only when another connection committed.
   */
  readonly dataVersion: Effect.Effect<number, SqlError>
  /**
   * Runs `body` synchronously in one `BEGIN IMMEDIATE … COMMIT`, holding the
   * connection throughout (as a transaction of `sql.withTransaction` does, so
   * the two never interleave). `body` runs statements on the connection it is
   * given (SQL and parameters to rows, or to the number of rows changed; a
   * failure is thrown as the classified `SqlError`). A
   * `body` that throws rolls the transaction back: a `SqlError` fails the
   * effect, anything else is a defect. A result for which `keep` says false
   * (an expected failure the body returned) is rolled back too. For writes whose statements are known
   * up front or follow from the rows before them (the SQL repository's write
   * plans): they pay `node:sqlite`'s cost per statement, not a fiber's.
   *
   * @example
   * ```ts
   * const inserted = sqlite.transactionSync((connection) => connection.rows("INSERT INTO t (v) VALUES (?) RETURNING id", ["x"]))
   * ```
   */
  readonly transactionSync: <A>(
    body: (connection: SyncConnection) => A,
    keep?: (result: A) => boolean
  ) => Effect.Effect<A, SqlError>
}

/**
 * The held connection as `Sqlite.transactionSync` gives it to its body: statements run for their rows
 * or for the number of rows they changed; either throws the statement's classified `SqlError`.
 *
 * @example
 * ```ts
 * const count = (connection: SyncConnection) => connection.changes("DELETE FROM t WHERE n > ?", [3])
 * ```
 */
export interface SyncConnection {
  readonly rows: (sql: string, params: ReadonlyArray<unknown>) => ReadonlyArray<unknown>
  readonly changes: (sql: string, params: ReadonlyArray<unknown>) => number
}

/**
 * The service holding the {@link SqliteClient} extras, provided beside `SqlClient` by {@link layer}.
 *
 * @example
 * ```ts
 * const dataVersion = Effect.gen(function*() {
 *   const sqlite = yield* Sqlite
 *   return yield* sqlite.pragma("data_version")
 * })
 * ```
 */
export class Sqlite extends Context.Service<Sqlite, SqliteClient>()("@session-store/core/repository/sql/Sqlite") {}

interface Prepared {
  readonly statement: StatementSync
  readonly returnsRows: boolean
  /** Hit since the cache last passed over it (see `prepare`). */
  used: boolean
}

const classify = (cause: unknown, message: string, operation: string): SqlError => {
  // classifySqliteError reads `errno`; node:sqlite names the extended result code `errcode`.
  if (typeof cause === "object" && cause !== null && "errcode" in cause && !("errno" in cause)) {
    Object.assign(cause, { errno: (cause as { errcode: unknown }).errcode })
  }
  return new SqlError({ reason: classifySqliteError(cause, { message, operation }) })
}

const toParameter = (value: unknown): unknown => {
  if (value === undefined) return null
  if (typeof value === "boolean") return value ? 1 : 0
  if (value instanceof Date) return value.toISOString()
  return value
}

const bind = (params: ReadonlyArray<unknown>): Array<any> => {
  const out = new Array(params.length)
  for (let i = 0; i < params.length; i++) out[i] = toParameter(params[i])
  return out
}

const openDatabase = (options: SqliteClientOptions) =>
  Effect.try({
    try: () => {
      const db = new DatabaseSync(options.filename, {
        readOnly: options.readOnly ?? false,
        timeout: options.busyTimeoutMs ?? 5000,
        enableForeignKeyConstraints: true
      })
      try {
        // Reading the header here makes a file that is not a database fail now, at open.
        if (options.readOnly !== true) db.exec("PRAGMA journal_mode = WAL")
        else db.prepare("SELECT count(*) FROM sqlite_master").get()
        db.exec(`PRAGMA synchronous = ${options.synchronous === "NORMAL" ? "NORMAL" : "FULL"}`)
        db.exec("PRAGMA foreign_keys = ON")
      } catch (error) {
        db.close()
        throw error
      }
      return db
    },
    catch: (cause) => toRepositoryError(cause, `open ${options.filename}`)
  })

/**
 * Opens the database and builds a `SqlClient` (dialect `sqlite`) on it. The
 * database is closed when `scope` closes.
 *
 * @example
 * ```ts
 * const client = Effect.scoped(SqliteClient.make({ filename: "opencode.db" }))
 * ```
 */
export const make = (
  options: SqliteClientOptions
): Effect.Effect<
  { readonly sql: SqlClient.SqlClient; readonly sqlite: SqliteClient },
  RepositoryError,
  Scope.Scope | Reactivity.Reactivity
> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(openDatabase(options), (db) =>
      Effect.sync(() => {
        if (db.isOpen) db.close()
      }))

    const capacity = Math.max(1, options.statementCacheSize ?? 256)
    // Second chance (CLOCK): a hit only marks its entry used, so the hot path is one Map lookup; when full,
    // the oldest entry not used since it was last passed over leaves (a used one goes to the end, unmarked).
    const cache = new Map<string, Prepared>()
    const prepare = (sql: string): Prepared => {
      const hit = cache.get(sql)
      if (hit !== undefined) {
        hit.used = true
        return hit
      }
      const statement = db.prepare(sql)
      const prepared: Prepared = { statement, returnsRows: statement.columns().length > 0, used: false }
      while (cache.size >= capacity) {
        const [oldest, entry] = cache.entries().next().value!
        cache.delete(oldest)
        if (!entry.used) break
        entry.used = false
        cache.set(oldest, entry)
      }
      cache.set(sql, prepared)
      return prepared
    }

    const run = (prepared: Prepared, params: ReadonlyArray<unknown>, raw: boolean): ReadonlyArray<any> | any => {
      if (prepared.returnsRows) return prepared.statement.all(...bind(params))
      const result = prepared.statement.run(...bind(params))
      return raw ? result : []
    }

    const attempt = <A>(f: () => A, operation: string): Effect.Effect<A, SqlError> =>
      Effect.try({ try: f, catch: (cause) => classify(cause, `Failed to ${operation} statement`, operation) })

    const values = (prepared: Prepared, params: ReadonlyArray<unknown>): ReadonlyArray<ReadonlyArray<unknown>> => {
      prepared.statement.setReturnArrays(true)
      try {
        return run(prepared, params, false) as ReadonlyArray<ReadonlyArray<unknown>>
      } finally {
        prepared.statement.setReturnArrays(false)
      }
    }

    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        attempt(() => {
          const rows = run(prepare(sql), params, false) as ReadonlyArray<any>
          return transformRows ? transformRows(rows) : rows
        }, "execute"),
      executeRaw: (sql, params) => attempt(() => run(prepare(sql), params, true), "execute"),
      executeValues: (sql, params) => attempt(() => values(prepare(sql), params), "execute"),
      executeValuesUnprepared: (sql, params) =>
        attempt(() => {
          const statement = db.prepare(sql)
          return values({ statement, returnsRows: statement.columns().length > 0, used: false }, params)
        }, "execute"),
      executeUnprepared: (sql, params, transformRows) =>
        attempt(() => {
          const statement = db.prepare(sql)
          const rows = run({ statement, returnsRows: statement.columns().length > 0, used: false }, params, false) as ReadonlyArray<
            any
          >
          return transformRows ? transformRows(rows) : rows
        }, "execute"),
      executeStream: (sql, params, transformRows) =>
        Stream.fromIterableEffect(
          attempt(() => {
            const rows = run(prepare(sql), params, false) as ReadonlyArray<any>
            return transformRows ? transformRows(rows) : rows
          }, "execute")
        )
    }

    const semaphore = yield* Semaphore.make(1)
    const acquirers = SqlClient.makeSqliteAcquirers({
      connection: Effect.succeed(connection),
      semaphore,
      isTransaction: () => db.isTransaction
    })

    const sql = yield* SqlClient.make({
      ...acquirers,
      compiler: Statement.makeCompilerSqlite(),
      driver: "sqlite-node-session-store",
      spanAttributes: [["db.system.name", "sqlite"]],
      prepareTransactionControls: true,
      // A writer takes the write lock when its transaction begins: with a deferred BEGIN a
      // transaction that reads and then writes can fail with SQLITE_BUSY at once when another
      // process committed in between, without the busy timeout ever applying.
      beginTransaction: "BEGIN IMMEDIATE"
    })

    /** `f`, its node:sqlite error thrown as the classified SqlError (for the synchronous transaction's body). */
    const orThrowSqlError = <A>(f: () => A): A => {
      try {
        return f()
      } catch (cause) {
        throw classify(cause, "Failed to execute statement", "execute")
      }
    }
    const runSync = (sql: string, params: ReadonlyArray<unknown>): ReadonlyArray<unknown> =>
      orThrowSqlError(() => run(prepare(sql), params, false))
    const changesSync = (sql: string, params: ReadonlyArray<unknown>): number =>
      orThrowSqlError(() => {
        const prepared = prepare(sql)
        return prepared.returnsRows ? run(prepared, params, false).length : Number(run(prepared, params, true).changes)
      })
    const syncConnection: SyncConnection = { rows: runSync, changes: changesSync }
    const control = (sql: "BEGIN IMMEDIATE" | "COMMIT" | "ROLLBACK") => runSync(sql, [])
    const rollback = () => {
      // A failed COMMIT may already have ended the transaction (SQLite rolls back on some errors).
      if (db.isTransaction) db.exec("ROLLBACK")
    }
    const transactionSync = <A>(body: (connection: SyncConnection) => A, keep?: (result: A) => boolean): Effect.Effect<A, SqlError> =>
      acquirers.borrower(() =>
        Effect.suspend(() => {
          try {
            // Holding the connection, an open transaction can only be one whose cleanup failed: end it first.
            rollback()
          } catch (cause) {
            return Effect.fail(classify(cause, "Failed to roll back", "rollback"))
          }
          try {
            control("BEGIN IMMEDIATE")
            const result = body(syncConnection)
            if (keep === undefined || keep(result)) control("COMMIT")
            else control("ROLLBACK")
            return Effect.succeed(result)
          } catch (error) {
            try {
              rollback()
            } catch (cause) {
              return Effect.fail(classify(cause, "Failed to roll back", "rollback"))
            }
            return error instanceof SqlError ? Effect.fail(error) : Effect.die(error)
          }
        })
      )

    const sqlite: SqliteClient = {
      transactionSync,
      options,
      pragma: (name) =>
        acquirers.borrower(() =>
          attempt(() => {
            const row = prepare(`PRAGMA ${name}`).statement.all()[0] as Record<string, unknown> | undefined
            return row === undefined ? undefined : Object.values(row)[0]
          }, "pragma")
        ),
      dataVersion: attempt(() => {
        const row = prepare("PRAGMA data_version").statement.get() as Record<string, unknown> | undefined
        return Number(row === undefined ? 0 : Object.values(row)[0])
      }, "pragma")
    }
    return { sql, sqlite }
  })

/**
 * A scoped layer with the `SqlClient` (and {@link Sqlite}) on the file:
 * opened when the layer is built, closed when it is released.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(SqliteClient.layer({ filename: "/home/me/.local/share/opencode/opencode.db" })))
 * ```
 */
export const layer = (options: SqliteClientOptions): Layer.Layer<SqlClient.SqlClient | Sqlite, RepositoryError> =>
  Layer.effectContext(
    Effect.map(make(options), ({ sql, sqlite }) =>
      Context.make(SqlClient.SqlClient, sql).pipe(Context.add(Sqlite, sqlite)))
  ).pipe(Layer.provide(Reactivity.layer))
