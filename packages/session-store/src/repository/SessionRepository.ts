/**
 * The repository port: where sessions and messages are stored for real. The
 * store treats it as the truth; every write goes here before it is
 * acknowledged. The layers: {@link SessionRepository.layerMemory} for tests,
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
import { Context, Effect, Layer } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import type { SqlClient } from "effect/sql/SqlClient"
import type { IncompatibleSchema, RepositoryError } from "../domain/Errors.ts"
import { makeMemoryRepository } from "./memory.ts"
import * as SqliteClient from "./sql/SqliteClient.ts"
import { makeSqlRepository, type SqlRepositoryOptions } from "./sql/sqlRepository.ts"

import type { SessionRepositoryShape } from "./port.ts"

export type {
  LoadedSession,
  MessageWritten,
  PageRequest,
  SessionChanges,
  SessionRepositoryShape,
  StoredMessage,
  Written
} from "./port.ts"

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
    const watching = options.filename !== ":memory:" && (options.changePollIntervalMs ?? 100) > 0
    return Layer.effect(
      SessionRepository,
      Effect.gen(function*() {
        if (!watching) return yield* makeSqlRepository(options)
        const main = yield* SqliteClient.Sqlite
        // The change watch gets a read-only connection of its own, so it never queues behind this process's writes.
        const { sql } = yield* SqliteClient.make({ ...options, readOnly: true })
        return yield* makeSqlRepository({ ...options, watch: { sql, mainDataVersion: main.dataVersion } })
      })
    ).pipe(Layer.provide(Layer.merge(SqliteClient.layer(options), Reactivity.layer)))
  }
}
