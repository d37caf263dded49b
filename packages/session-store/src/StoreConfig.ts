/**
 * The store's configuration: the `memory` section of opencode.json, read as an
 * Effect `Config` and validated with `effect/Schema`.
 *
 * | key                            | default      | meaning                                             |
 * |--------------------------------|--------------|-----------------------------------------------------|
 * | `memory.maxSessions`           | 100          | sessions resident at most (least recently used go)  |
 * | `memory.maxMessagesPerSession` | 1000         | newest messages kept resident per session           |
 * | `memory.sessionTtlMs`          | 86 400 000   | a loaded session is reloaded after this long (24 h) |
 * | `memory.inactiveTtlMs`         | 14 400 000   | a session not read for this long leaves memory (4 h)|
 * | `memory.cleanupIntervalMs`     | 300 000      | time between two sweeps (5 min)                     |
 *
 * Every value must be a positive integer. Zero, a negative or fractional
 * number, a non-numeric string, an empty string or a nested object fails with
 * a `ConfigError` whose message names the key (`at ["memory"]["maxSessions"]`);
 * there is no silent fallback to the default. A missing key, a missing
 * section, or a JSON `null` mean the default.
 *
 * {@link provider} composes the usual sources: environment variables
 * (`MEMORY_MAX_SESSIONS`, `MEMORY_MAX_MESSAGES_PER_SESSION`,
 * `MEMORY_SESSION_TTL_MS`, `MEMORY_INACTIVE_TTL_MS`,
 * `MEMORY_CLEANUP_INTERVAL_MS`) override the opencode.json object, key by key.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { provider, StoreConfig } from "@session-store/core/StoreConfig"
 *
 * const opencodeJson = { memory: { maxSessions: 100, maxMessagesPerSession: 1000 } }
 * const options = Effect.runSync(StoreConfig.parse(provider({ file: opencodeJson })))
 * // { maxSessions: 100, ..., cleanupIntervalMs: 300000 }, with MEMORY_* env vars applied
 * ```
 *
 * @since 0.1.0
 */
import { Config, ConfigProvider, Effect, Option, Schema, SchemaIssue } from "effect"

/**
 * The resolved configuration of the store. Durations are in milliseconds, as
 * in opencode.json.
 *
 * @example
 * ```ts
 * const small: StoreOptions = { ...defaults, maxSessions: 10 }
 * ```
 */
export interface StoreOptions {
  readonly maxSessions: number
  readonly maxMessagesPerSession: number
  readonly sessionTtlMs: number
  readonly inactiveTtlMs: number
  readonly cleanupIntervalMs: number
}

/** The namespace every key lives under, in files and in environment variables. */
const NAMESPACE = "memory"

/**
 * The defaults: the values of the original proposal's opencode.json section.
 *
 * @example
 * ```ts
 * defaults.maxSessions // 100
 * ```
 */
export const defaults: StoreOptions = {
  maxSessions: 100,
  maxMessagesPerSession: 1000,
  sessionTtlMs: 86_400_000,
  inactiveTtlMs: 14_400_000,
  cleanupIntervalMs: 300_000
}

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))

// A record or an array where a scalar belongs. Config decodes such a node as
// "absent" for a scalar schema, which would silently fall back to the default;
// probing for it lets `setting` fail instead.
const Structure = Schema.Union([Schema.Struct({}), Schema.Array(Schema.UndefinedOr(Schema.String))])

/**
 * One key of the `memory` section: `schema` validates a present value (its
 * failure names the key), a nested object or array in its place fails too,
 * and only a missing key takes `fallback`. Later keys (`maxBytes`,
 * `pressureThreshold`, `pressureCheckIntervalMs`, `maxMessageBytes`) are one
 * more `setting(...)` each in {@link StoreConfig}.
 */
const setting = <A>(
  key: string,
  schema: Schema.ConstraintCodec<A, unknown>,
  expected: string,
  fallback: A
): Config.Config<A> =>
  Config.schema(schema, key).pipe(
    Config.option,
    Config.flatMap(Option.match({
      onSome: (value) => Config.succeed(value),
      onNone: () =>
        Config.schema(Structure, key).pipe(
          Config.option,
          Config.flatMap((structure) =>
            Option.isSome(structure)
              ? Config.fail(
                new Schema.SchemaError(
                  new SchemaIssue.Pointer(
                    [NAMESPACE, key],
                    new SchemaIssue.InvalidValue({ message: `Expected ${expected}, got an object or array` })
                  )
                )
              )
              : Config.succeed(fallback)
          )
        )
    }))
  )

const positiveInt = (key: keyof StoreOptions) => setting(key, PositiveInt, "a positive integer", defaults[key])

/**
 * The store's configuration as an Effect `Config`, read from the current
 * `ConfigProvider` under `memory`.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const options = yield* StoreConfig
 *   return options.maxSessions
 * })
 * ```
 */
export const StoreConfig: Config.Config<StoreOptions> = Config.all({
  maxSessions: positiveInt("maxSessions"),
  maxMessagesPerSession: positiveInt("maxMessagesPerSession"),
  sessionTtlMs: positiveInt("sessionTtlMs"),
  inactiveTtlMs: positiveInt("inactiveTtlMs"),
  cleanupIntervalMs: positiveInt("cleanupIntervalMs")
}).pipe(Config.nested(NAMESPACE))

/**
 * The provider of a running opencode: environment variables first (a key
 * `memory.maxSessions` is read from `MEMORY_MAX_SESSIONS`), then the parsed
 * opencode.json object. Empty strings are kept as values on both sides so
 * `MEMORY_MAX_SESSIONS=` fails instead of meaning "unset".
 *
 * @example
 * ```ts
 * import { ConfigProvider, Layer } from "effect"
 *
 * const config = ConfigProvider.layer(provider({ file: JSON.parse(opencodeJsonText) }))
 * const store = SessionStore.layer.pipe(Layer.provide(config))
 * ```
 */
export const provider = (sources: {
  /** The parsed opencode.json (or any object with a `memory` section). */
  readonly file?: unknown
  /** The environment; `process.env` when omitted. */
  readonly env?: Record<string, string> | undefined
} = {}): ConfigProvider.ConfigProvider =>
  ConfigProvider.orElse(
    ConfigProvider.fromEnv({ env: sources.env, preserveEmptyStrings: true }).pipe(ConfigProvider.constantCase),
    ConfigProvider.fromUnknown(sources.file ?? {}, { preserveEmptyStrings: true })
  )

/**
 * Resolves explicit options, as a plain object (for the Map-like facade and
 * tests): missing keys take their defaults and every present key is validated
 * exactly as when it comes from a file, with the same errors.
 *
 * @example
 * ```ts
 * fromOptions({ maxSessions: 10 })  // Effect<StoreOptions, ConfigError>
 * fromOptions({ maxSessions: 0 })   // fails: Expected a value greater than 0 at ["memory"]["maxSessions"]
 * ```
 */
export const fromOptions = (options: Partial<StoreOptions> = {}): Effect.Effect<StoreOptions, Config.ConfigError> =>
  StoreConfig.parse(ConfigProvider.fromUnknown({ [NAMESPACE]: options }, { preserveEmptyStrings: true }))
