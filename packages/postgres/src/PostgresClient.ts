/**
 * The `PgClient` (`@effect/sql-pg`) the SQL repository runs on, connected from
 * Effect `Config`: `DATABASE_URL` when set, otherwise the usual libpq
 * variables (`PGHOST`, `PGPORT`, `PGDATABASE`, `PGUSER`, `PGPASSWORD`,
 * `PGAPPNAME`), each optional, with libpq's defaults (localhost, 5432, the OS
 * user).
 *
 * JSON columns are read and written as the text they hold, and `bigint` as a number: the repository
 * writes the JSON it encoded (so what is stored is byte for byte what the
 * store accounts) and parses what it reads itself; the driver's default
 * codec would parse on read and `JSON.stringify` a string once more on write.
 *
 * @since 0.1.0
 */
import { PgClient, PgTypes } from "@effect/sql-pg"
import { Config, Effect, type Layer, Option, Result } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/**
 * Connection settings beyond what `Config` provides.
 *
 * @example
 * ```ts
 * const options: PostgresClientOptions = { schema: "tenant_a", maxConnections: 20 }
 * ```
 */
export interface PostgresClientOptions {
  /** The schema the tables live in (`search_path`); default: the server's (`public`). */
  readonly schema?: string | undefined
  /** Pool size; default 10. */
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** `json` as text both ways: a string is sent as it is, anything else as its JSON. */
const jsonAsText: PgTypes.Codec<unknown> = {
  encode: (value) => Result.succeed(encoder.encode(typeof value === "string" ? value : JSON.stringify(value))),
  decode: (bytes) => Result.succeed(decoder.decode(bytes))
}

/**
 * `bigint` (int8) as a JS number: the columns that hold it are epoch
 * milliseconds, token counts and `count(*)`, far below 2^53.
 */
const int8AsNumber: PgTypes.Codec<number | bigint> = {
  encode: (value) => {
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigInt64(0, BigInt(value))
    return Result.succeed(bytes)
  },
  decode: (bytes) =>
    Result.succeed(Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigInt64(0)))
}

/** The codec registry of the store's clients: the built-ins, `json` as text, `bigint` as number. */
export const makeTypes = (): PgTypes.Registry => {
  const types = PgTypes.makeRegistry()
  types.register(PgTypes.OID.json, jsonAsText)
  types.register(PgTypes.OID.int8, int8AsNumber)
  return types
}

const optional = <A>(config: Config.Config<A>) => Config.map(Config.option(config), Option.getOrUndefined)

/**
 * The pool configuration read from `Config`: `DATABASE_URL`, else `PG*`.
 *
 * @example
 * ```ts
 * const settings = yield* PostgresClient.config
 * ```
 */
export const config: Config.Config<PgClient.PgPoolConfig> = Config.all({
  url: optional(Config.Redacted("DATABASE_URL")),
  host: optional(Config.String("PGHOST")),
  port: optional(Config.Port("PGPORT")),
  database: optional(Config.String("PGDATABASE")),
  username: optional(Config.String("PGUSER")),
  password: optional(Config.Redacted("PGPASSWORD")),
  applicationName: optional(Config.String("PGAPPNAME"))
}).pipe(Config.map((settings): PgClient.PgPoolConfig => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(settings)) if (value !== undefined) out[key] = value
  return out as PgClient.PgPoolConfig
}))

/** The full client settings: what `Config` read, the schema, the pool, json as text. */
export const settings = (
  base: PgClient.PgPoolConfig,
  options: PostgresClientOptions = {}
): PgClient.PgPoolConfig => ({
  ...base,
  ...(options.applicationName === undefined && base.applicationName === undefined
    ? { applicationName: "session-store" }
    : options.applicationName === undefined
    ? {}
    : { applicationName: options.applicationName }),
  ...(options.schema === undefined ? {} : { startupParameters: { search_path: options.schema } }),
  maxConnections: options.maxConnections ?? base.maxConnections ?? 10,
  types: makeTypes()
})

/**
 * `PgClient` and `SqlClient` from `Config`, released with the layer.
 *
 * @example
 * ```ts
 * const RepositoryLive = PostgresRepository.layer().pipe(Layer.provide(PostgresClient.layer()))
 * ```
 */
export const layer = (
  options: PostgresClientOptions = {}
): Layer.Layer<PgClient.PgClient | SqlClient, Config.ConfigError | SqlError> =>
  PgClient.layerFrom(Effect.flatMap(config, (base) => PgClient.make(settings(base, options))))

/**
 * The same from explicit settings (tests, or a caller that has its own config).
 *
 * @example
 * ```ts
 * PostgresClient.layerWith({ host: "127.0.0.1", username: "postgres", database: "test" })
 * ```
 */
export const layerWith = (
  base: PgClient.PgPoolConfig,
  options: PostgresClientOptions = {}
): Layer.Layer<PgClient.PgClient | SqlClient, SqlError> => PgClient.layerFrom(PgClient.make(settings(base, options)))

