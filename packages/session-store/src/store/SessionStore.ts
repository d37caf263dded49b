/**
 * The SessionStore service: sessions and their messages for a long-running
 * opencode process, with a bounded working set in memory and the repository
 * holding the truth. How residency works is explained once, in
 * `residentSet.ts`; the vocabulary (`EvictionCause`, `StoreStats`, …) is in
 * `model.ts` and re-exported here.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionStore } from "@session-store/core/SessionStore"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* SessionStore
 *   const info = yield* store.getSession("ses_1")
 *   const recent = yield* store.getMessages("ses_1", { limit: 50 })
 *   return { title: info.title, recent: recent.length }
 * }).pipe(Effect.provide(SessionStore.layerTest))
 * ```
 *
 * @since 0.1.0
 */
import { type Config, Context, Effect, Layer } from "effect"
import { defaults, fromOptions, StoreConfig, type StoreOptions } from "../config/StoreConfig.ts"
import type { IncompatibleSchema, RepositoryError } from "../domain/Errors.ts"
import { MemoryMonitor, type MemoryMonitorTest } from "../monitor/MemoryMonitor.ts"
import { SessionRepository } from "../repository/SessionRepository.ts"
import type { SqliteClientOptions } from "../repository/sql/SqliteClient.ts"
import type { SqlRepositoryOptions } from "../repository/sql/sqlRepository.ts"
import type { SessionStoreShape } from "./model.ts"
import { makeSessionStore } from "./service.ts"

export {
  type EvictionCause,
  evictionCauses,
  type LookupError,
  type MemoryPressure,
  type MessagePage,
  type ResidentSession,
  type SessionStoreShape,
  type Shedding,
  type StoreStats,
  type SweepReport,
  type WriteError
} from "./model.ts"

/**
 * Small limits for tests, every time rule reachable with a few `TestClock`
 * adjustments: 3 sessions, 5 messages each, reloaded after a minute, inactive
 * after 20 seconds, swept every 10 seconds; a 4 MiB byte budget (more than
 * small test sessions reach: a spec of the budget sets its own), and the
 * default pressure settings (threshold 0.8, hysteresis 0.1, cooldown a
 * minute, shedding to half).
 *
 * @example
 * ```ts
 * yield* TestClock.adjust(testOptions.inactiveTtlMs)
 * ```
 */
export const testOptions: StoreOptions = {
  ...defaults,
  maxSessions: 3,
  maxMessagesPerSession: 5,
  sessionTtlMs: 60_000,
  inactiveTtlMs: 20_000,
  cleanupIntervalMs: 10_000,
  maxBytes: 4 * 1024 * 1024
}

/**
 * The store service. `layer` and `layerWith` need a `SessionRepository` and a
 * `MemoryMonitor`; the ready-made layers provide both.
 *
 * - `SessionStore.layer`: options from the `memory` config (see `StoreConfig`).
 * - `SessionStore.layerWith(options)`: explicit options, validated like the config.
 * - `SessionStore.layerSqlite({ filename })`: the embedded default, on a SQLite
 *   file in opencode's tables (opencode.db), and the live `MemoryMonitor.layer`.
 * - `SessionStore.layerTest`: the memory repository, the test `MemoryMonitor` and
 *   {@link testOptions}; also provides the repository and `MemoryMonitorTest`.
 *
 * Releasing a layer stops the sweep and the pressure fiber, waits for the
 * writes in flight, ends the `events` streams, removes its metric series and
 * leaves no fiber or timer behind.
 *
 * @example
 * ```ts
 * const program = SessionStore.use((store) => store.stats)
 * program.pipe(Effect.provide(SessionStore.layer.pipe(
 *   Layer.provide(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layer))
 * )))
 * ```
 */
export class SessionStore extends Context.Service<SessionStore, SessionStoreShape>()(
  "@session-store/core/SessionStore"
) {
  /**
   * The store with explicit options: missing keys take their defaults, present
   * ones are validated exactly like the config (a `ConfigError` naming the key).
   *
   * @example
   * ```ts
   * SessionStore.layerWith({ maxSessions: 20 }).pipe(
   *   Layer.provide(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerLive({ intervalMs: 10_000 })))
   * )
   * ```
   */
  static readonly layerWith = (
    options: Partial<StoreOptions> = {}
  ): Layer.Layer<SessionStore, Config.ConfigError, SessionRepository | MemoryMonitor> =>
    Layer.effect(SessionStore, Effect.flatMap(fromOptions(options), makeSessionStore))

  /**
   * The store configured from the current `ConfigProvider` (`memory.*` keys;
   * see `StoreConfig.provider` for opencode.json plus `MEMORY_*` env vars).
   *
   * @example
   * ```ts
   * SessionStore.layer.pipe(Layer.provide(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layer)))
   * ```
   */
  static readonly layer: Layer.Layer<SessionStore, Config.ConfigError, SessionRepository | MemoryMonitor> = Layer.effect(
    SessionStore,
    Effect.flatMap(StoreConfig, makeSessionStore)
  )

  /**
   * The store on a fresh memory repository and the test `MemoryMonitor`
   * (heap reading 0 until a spec sets one) with {@link testOptions}, for specs
   * under `TestClock`. The repository and `MemoryMonitorTest` are provided
   * too, so a spec can check what storage holds and set the heap reading.
   *
   * @example
   * ```ts
   * it.effect("sheds under pressure", () =>
   *   Effect.gen(function*() {
   *     yield* MemoryMonitorTest.use((monitor) => monitor.set(0.9))
   *   }).pipe(Effect.provide(SessionStore.layerTest)))
   * ```
   */
  static readonly layerTest: Layer.Layer<SessionStore | SessionRepository | MemoryMonitor | MemoryMonitorTest> =
    SessionStore.layerWith(testOptions).pipe(
      Layer.orDie,
      Layer.provideMerge(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerTest()))
    )

  /**
   * The embedded default: the store, configured from the current
   * `ConfigProvider`, on a SQLite database in opencode's own tables (an
   * existing `opencode.db`, or a new file), with the live `MemoryMonitor`.
   * Writes by other processes to the same file reach this store's memory
   * within `changePollIntervalMs` (default 100 ms): their sessions leave
   * memory (cause `stale`) and the next read loads them again. Fails with
   * `RepositoryError` when the file cannot be opened, `IncompatibleSchema`
   * when its tables lack a column the store needs, `ConfigError` when a
   * `memory.*` key is invalid.
   *
   * @example
   * ```ts
   * import { ConfigProvider, Layer } from "effect"
   * import { provider } from "@session-store/core/StoreConfig"
   *
   * const StoreLive = SessionStore.layerSqlite({ filename: "/home/me/.local/share/opencode/opencode.db" }).pipe(
   *   Layer.provide(ConfigProvider.layer(provider({ file: opencodeJson })))
   * )
   * ```
   */
  static readonly layerSqlite = (
    options: SqliteClientOptions & SqlRepositoryOptions
  ): Layer.Layer<SessionStore, Config.ConfigError | RepositoryError | IncompatibleSchema> =>
    SessionStore.layer.pipe(
      Layer.provide(Layer.mergeAll(SessionRepository.layerSqlite(options), MemoryMonitor.layer))
    )
}
