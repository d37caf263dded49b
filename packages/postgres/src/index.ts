/**
 * `@session-store/postgres`: the session store's SQL repository on PostgreSQL
 * (`@effect/sql-pg`), for several opencode servers on one database.
 *
 * @since 0.1.0
 */
export * as PostgresClient from "./PostgresClient.ts"
export * as PostgresRepository from "./PostgresRepository.ts"
