/**
 * PostgreSQL for the specs: every run works in schemas of its own, created
 * when a layer is built and dropped (CASCADE) when it is released.
 */
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import * as PostgresClient from "../src/PostgresClient.ts"
import * as PostgresRepository from "../src/PostgresRepository.ts"
import { testConnection } from "./address.ts"

let counter = 0
/** A schema name no other run or test uses. */
export const schemaName = (tag = "t") =>
  `ss_${tag}_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`

/** Runs `f` on a client of its own (no search_path), released afterwards. */
export const admin = <A, E>(f: (sql: SqlClient) => Effect.Effect<A, E>) =>
  Effect.flatMap(SqlClient, f).pipe(
    Effect.provide(PostgresClient.layerWith(testConnection, { maxConnections: 1, applicationName: "session-store-admin" }))
  )

export const createSchema = (name: string) => admin((sql) => sql`CREATE SCHEMA ${sql(name)}`)
export const dropSchema = (name: string) => admin((sql) => sql`DROP SCHEMA IF EXISTS ${sql(name)} CASCADE`)

/** The repository (one node) on `schema`. */
export const repositoryOn = (
  schema: string,
  options: PostgresRepository.PostgresRepositoryOptions & PostgresClient.PostgresClientOptions = {}
) =>
  PostgresRepository.layer(options).pipe(
    Layer.provide(PostgresClient.layerWith(testConnection, { schema, ...options }))
  )

/** A scoped schema: created now, dropped when the scope closes. */
export const scopedSchema = (tag?: string) =>
  Effect.acquireRelease(
    Effect.orDie(Effect.gen(function*() {
      const name = schemaName(tag)
      yield* createSchema(name)
      return name
    })),
    (name) => Effect.orDie(dropSchema(name))
  )

/** A repository on an empty schema of its own, dropped with the layer. */
export const freshRepository = (
  options: PostgresRepository.PostgresRepositoryOptions & PostgresClient.PostgresClientOptions = {}
) => Layer.unwrap(Effect.map(scopedSchema(), (schema) => repositoryOn(schema, options)))
