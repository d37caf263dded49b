/**
 * The store's configuration: the `memory` section of opencode.json, read as an
 * Effect `Config` and validated with `effect/Schema`.
 *
 * | key                              | default              | meaning                                                      |
 * |----------------------------------|----------------------|--------------------------------------------------------------|
 * | `memory.maxSessions`             | 100                  | sessions resident at most (least recently used go)           |
 * | `memory.maxMessagesPerSession`   | 1000                 | newest messages kept resident per session                    |
 * | `memory.sessionTtlMs`            | 86 400 000           | a loaded session is reloaded after this long (24 h)          |
 * | `memory.inactiveTtlMs`           | 14 400 000           | a session not used for this long leaves memory (4 h)         |
 * | `memory.cleanupIntervalMs`       | 300 000              | time between two sweeps (5 min)                              |
 * | `memory.maxBytes`                | heap limit / 8       | byte budget of resident data (see {@link defaultMaxBytes})   |
 * | `memory.maxMessageBytes`         | 8 388 608 (8 MiB)    | a larger message is refused with `InvalidInput`              |
 * | `memory.pressureThreshold`       | 0.8                  | heap used / heap limit at which resident sessions are shed   |
 * | `memory.pressureCheckIntervalMs` | 10 000               | time between two heap readings                               |
 * | `memory.pressureHysteresis`      | 0.1                  | re-armed once the reading is below threshold minus this      |
 * | `memory.pressureCooldownMs`      | 60 000               | or once this long has passed since the last shedding         |
 * | `memory.pressureShedTarget`      | 0.5                  | a shedding keeps at most this fraction of the resident bytes |
 *
 * Counts, sizes and durations must be positive integers; `pressureThreshold`
 * a number in (0, 1]; `pressureHysteresis` and `pressureShedTarget` numbers
 * in [0, 1). Anything else (zero, a negative or fractional count, a
 * non-numeric or empty string, a nested object) fails with a `ConfigError`
 * whose message names the key (`at ["memory"]["maxSessions"]`); there is no
 * silent fallback to the default. A missing key, a missing section, or a JSON
 * `null` mean the default.
 *
 * {@link provider} composes the usual sources: environment variables
 * (`MEMORY_` and the key in constant case: `MEMORY_MAX_SESSIONS`,
 * `MEMORY_MAX_MESSAGES_PER_SESSION`, `MEMORY_SESSION_TTL_MS`,
 * `MEMORY_INACTIVE_TTL_MS`, `MEMORY_CLEANUP_INTERVAL_MS`, `MEMORY_MAX_BYTES`,
 * `MEMORY_MAX_MESSAGE_BYTES`, `MEMORY_PRESSURE_THRESHOLD`,
 * `MEMORY_PRESSURE_CHECK_INTERVAL_MS`, `MEMORY_PRESSURE_HYSTERESIS`,
 * `MEMORY_PRESSURE_COOLDOWN_MS`, `MEMORY_PRESSURE_SHED_TARGET`) override the
 * opencode.json object, key by key.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { provider, StoreConfig } from "@session-store/core/StoreConfig"
 *
 * const opencodeJson = { memory: { maxSessions: 100, maxMessagesPerSession: 1000 } }
 * const options = Effect.runSync(StoreConfig.parse(provider({ file: opencodeJson })))
 * // { maxSessions: 100, ..., pressureShedTarget: 0.5 }, with MEMORY_* env vars applied
 * ```
 *
 * @since 0.1.0
 */
import { getHeapStatistics } from "node:v8"
import { Config, ConfigProvider, Effect, Option, Schema, SchemaIssue } from "effect"
import { defaultPressureCheckIntervalMs } from "../monitor/MemoryMonitor.ts"

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
  /** Budget of resident bytes (infos and windows, as the repository measured their JSON). */
  readonly maxBytes: number
  /** Largest message accepted, in bytes of its JSON. */
  readonly maxMessageBytes: number
  /** Heap used over heap limit at or above which the store sheds resident sessions. */
  readonly pressureThreshold: number
  readonly pressureCheckIntervalMs: number
  /** After a shedding, the reading must fall below `pressureThreshold - pressureHysteresis` to re-arm it… */
  readonly pressureHysteresis: number
  /** …or this long must pass since the shedding. */
  readonly pressureCooldownMs: number
  /** A shedding leaves at most this fraction of the resident bytes it found. */
  readonly pressureShedTarget: number
}

/** The namespace every key lives under, in files and in environment variables. */
const NAMESPACE = "memory"

/**
 * Share of the V8 heap limit the default byte budget lets resident sessions
 * occupy: a quarter, so at the default `pressureThreshold` (0.8) the rest of
 * the process keeps more than half of the heap before the store is asked to
 * shed anything.
 */
export const defaultHeapShare = 0.25

/**
 * V8 heap bytes one accounted byte costs once resident, with a margin.
 * Measured by bench/residentHeap.ts (Node 24, after forced GC): 1.27 for a
 * realistic conversation, 1.33 for many 200-800 B turns, 2.17 for 150 B
 * messages, 1.01 for 50 KB ASCII tool outputs, 0.75 for 50 KB of CJK text
 * (two-byte strings beat UTF-8's three bytes). 2 covers every realistic mix;
 * only sessions made of tiny messages cost more, and those are few bytes.
 */
export const heapBytesPerAccountedByte = 2

/**
 * The default byte budget for a given V8 heap limit: `heapLimit *
 * defaultHeapShare / heapBytesPerAccountedByte`, i.e. an eighth of the limit
 * (536 MiB of JSON under Node 24's default 4 GiB heap), which keeps the
 * resident sessions' heap near a quarter of the limit.
 *
 * @example
 * ```ts
 * defaultMaxBytes(4 * 2 ** 30) // 536870912
 * ```
 */
export const defaultMaxBytes = (heapLimit: number): number =>
  Math.floor(heapLimit * defaultHeapShare / heapBytesPerAccountedByte)

/**
 * The defaults: the values of the original proposal's opencode.json section,
 * and for the later keys the values in the module's table. `maxBytes` depends
 * on this process's heap limit (`--max-old-space-size`).
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
  cleanupIntervalMs: 300_000,
  maxBytes: defaultMaxBytes(getHeapStatistics().heap_size_limit),
  maxMessageBytes: 8 * 1024 * 1024,
  pressureThreshold: 0.8,
  pressureCheckIntervalMs: defaultPressureCheckIntervalMs,
  pressureHysteresis: 0.1,
  pressureCooldownMs: 60_000,
  pressureShedTarget: 0.5
}

const PositiveInt = Schema.Int.check(Schema.isGreaterThan(0))
const Threshold = Schema.Finite.check(Schema.isGreaterThan(0), Schema.isLessThanOrEqualTo(1))
const Fraction = Schema.Finite.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThan(1))

// A record or an array where a scalar belongs. Config decodes such a node as
// "absent" for a scalar schema, which would silently fall back to the default;
// probing for it lets `setting` fail instead.
const Structure = Schema.Union([Schema.Struct({}), Schema.Array(Schema.UndefinedOr(Schema.String))])

/**
 * One key of the `memory` section: `schema` validates a present value (its
 * failure names the key), a nested object or array in its place fails too,
 * and only a missing key takes `fallback`.
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

// "abc" where a number belongs reads as "not a number", not as a schema's
// wording ("a string representing a finite number").
const notANumber = (key: string, expected: string) => (error: Config.ConfigError): Config.Config<never> =>
  Config.schema(Schema.String, key).pipe(
    Config.option,
    Config.flatMap((raw) =>
      Option.isSome(raw) && (raw.value.trim() === "" || Number.isNaN(Number(raw.value)))
        ? Config.fail(
          new Schema.SchemaError(
            new SchemaIssue.Pointer(
              [NAMESPACE, key],
              new SchemaIssue.InvalidValue({
                message: `Expected ${expected}, got ${JSON.stringify(raw.value)}: not a number`
              })
            )
          )
        )
        : Config.fail(error.cause)
    )
  )

const onlySchemaErrors = (f: (error: Config.ConfigError) => Config.Config<never>) => (error: Config.ConfigError) =>
  Schema.isSchemaError(error.cause) ? f(error) : Config.fail(error.cause)

const numeric = <A>(key: keyof StoreOptions, schema: Schema.ConstraintCodec<A, unknown>, expected: string, fallback: A) =>
  setting(key, schema, expected, fallback).pipe(Config.orElse(onlySchemaErrors(notANumber(key, expected))))

const expectations = {
  maxSessions: "a positive integer",
  maxMessagesPerSession: "a positive integer",
  sessionTtlMs: "a positive integer",
  inactiveTtlMs: "a positive integer",
  cleanupIntervalMs: "a positive integer",
  maxBytes: "a positive integer",
  maxMessageBytes: "a positive integer",
  pressureThreshold: "a number in (0, 1]",
  pressureCheckIntervalMs: "a positive integer",
  pressureHysteresis: "a number in [0, 1)",
  pressureCooldownMs: "a positive integer",
  pressureShedTarget: "a number in [0, 1)"
} as const satisfies Record<keyof StoreOptions, string>

const setting_ = (key: keyof StoreOptions): Config.Config<number> => {
  const expected = expectations[key]
  const schema = expected === "a positive integer" ? PositiveInt : expected === "a number in (0, 1]" ? Threshold : Fraction
  return numeric(key, schema, expected, defaults[key])
}

/** Every key of the `memory` section, in the order of the table above. */
export const knownKeys: ReadonlyArray<keyof StoreOptions> = Object.keys(expectations) as Array<keyof StoreOptions>

/** The environment variable a key is read from: `maxSessions` → `MEMORY_MAX_SESSIONS`. */
export const envName = (key: string): string =>
  `${NAMESPACE}_${key.replace(/([a-z0-9])([A-Z])/g, "$1_$2")}`.toUpperCase()

const distance = (a: string, b: string): number => {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1))
      diagonal = above
    }
  }
  return row[b.length]!
}

/** The known key nearest to `key` (case-insensitive edit distance). */
export const nearestKey = (key: string): keyof StoreOptions =>
  knownKeys.reduce((best, known) =>
    distance(key.toLowerCase(), known.toLowerCase()) < distance(key.toLowerCase(), best.toLowerCase()) ? known : best
  )

/**
 * What is wrong with a `memory` section as a whole, before any key is read:
 * not an object, or a key the store does not know (with the nearest known
 * one). `undefined` when the section is absent, `null` or fine.
 */
export const sectionProblem = (section: unknown, where: string): string | undefined => {
  if (section === undefined || section === null) return undefined
  if (typeof section !== "object" || Array.isArray(section)) {
    return `${where}: expected an object of settings, got ${Array.isArray(section) ? "an array" : JSON.stringify(section)}`
  }
  for (const key of Object.keys(section)) {
    if (!(knownKeys as ReadonlyArray<string>).includes(key)) {
      return `${where}: unknown key ${JSON.stringify(key)}; did you mean ${JSON.stringify(nearestKey(key))}?`
    }
  }
  return undefined
}

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
  maxSessions: setting_("maxSessions"),
  maxMessagesPerSession: setting_("maxMessagesPerSession"),
  sessionTtlMs: setting_("sessionTtlMs"),
  inactiveTtlMs: setting_("inactiveTtlMs"),
  cleanupIntervalMs: setting_("cleanupIntervalMs"),
  maxBytes: setting_("maxBytes"),
  maxMessageBytes: setting_("maxMessageBytes"),
  pressureThreshold: setting_("pressureThreshold"),
  pressureCheckIntervalMs: setting_("pressureCheckIntervalMs"),
  pressureHysteresis: setting_("pressureHysteresis"),
  pressureCooldownMs: setting_("pressureCooldownMs"),
  pressureShedTarget: setting_("pressureShedTarget")
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
} = {}): ConfigProvider.ConfigProvider => strict(sources.file ?? {}, sources.env, "opencode.json")

const sourceError = (message: string) => new ConfigProvider.SourceError({ message })

// Env first, then the file, key by key (as ConfigProvider.orElse), with two
// checks no schema can make: the file's section must be an object of known
// keys, and a bad environment value is reported under its variable's name.
const strict = (file: unknown, env: Record<string, string> | undefined, where: string): ConfigProvider.ConfigProvider => {
  const fromEnv = ConfigProvider.fromEnv({ env, preserveEmptyStrings: true }).pipe(ConfigProvider.constantCase)
  const fromFile = ConfigProvider.fromUnknown(file, { preserveEmptyStrings: true })
  const section = typeof file === "object" && file !== null ? (file as Record<string, unknown>)[NAMESPACE] : undefined
  const problem = sectionProblem(section, `${where} "${NAMESPACE}"`)
  return ConfigProvider.make((path) =>
    Effect.gen(function*() {
      if (path[0] === NAMESPACE && problem !== undefined) return yield* Effect.fail(sourceError(problem))
      const node = yield* fromEnv.load(path)
      if (node === undefined) return yield* fromFile.load(path)
      const key = path[1]
      if (path.length === 2 && path[0] === NAMESPACE && node._tag === "Value" && typeof key === "string"
        && (knownKeys as ReadonlyArray<string>).includes(key)) {
        const checked = yield* Effect.result(
          setting_(key as keyof StoreOptions).parse(ConfigProvider.fromUnknown({ [key]: node.value }, { preserveEmptyStrings: true }))
        )
        if (checked._tag === "Failure") {
          const reason = checked.failure.message.replace(/^SchemaError\((.*)\)$/s, "$1").split("\n")[0]
          return yield* Effect.fail(
            sourceError(`environment variable ${envName(key)}=${JSON.stringify(node.value)}: ${reason}\n  at ["${NAMESPACE}"]["${key}"]`)
          )
        }
      }
      return node
    })
  )
}

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
  StoreConfig.parse(strict({ [NAMESPACE]: options }, {}, "options"))
