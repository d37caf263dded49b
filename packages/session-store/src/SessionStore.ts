/**
 * The SessionStore service: sessions and their messages for a long-running
 * opencode process, with a bounded working set in memory and the repository
 * holding the truth.
 *
 * How memory is used:
 *
 * - A resident session is its info plus the newest `maxMessagesPerSession`
 *   messages. At most `maxSessions` are resident, the least recently used
 *   (read or written) leaving first; each is reloaded after `sessionTtlMs`;
 *   one not used for `inactiveTtlMs` is never served from memory and leaves
 *   at the next sweep, which runs every `cleanupIntervalMs`.
 * - Misses load through an Effect `Cache`: concurrent readers of a cold
 *   session share one load, a failed load is not kept, and every loaded entry
 *   gets `sessionTtlMs` as its time to live. Its capacity is only a backstop.
 * - The store's ledger is the authority on what is resident and in what
 *   order: exact counts of resident sessions, messages and bytes (as the
 *   repository measured them), least-recently-used order, when each session
 *   was last used and when its time to live ends, and why each left memory.
 *   A read of a resident session is answered by the ledger alone (a lookup,
 *   the time checks and a move to the most recent end), without touching
 *   the Cache; an eviction takes the session out of both together.
 * - A sweep costs what it evicts, not what is resident: the expired are at
 *   the front of load order, the inactive at the front of LRU order.
 * - Every write goes to the repository first, under the session's lock, then
 *   replaces the resident snapshot if the session is resident. So dropping a
 *   session from memory, for any reason, never loses or changes anything.
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
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { type Config, Context, Effect, Layer, type Stream } from "effect"
import type {
  CorruptRecord,
  InvalidId,
  InvalidInput,
  MessageNotFound,
  RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "./Errors.ts"
import type { SessionId } from "./Ids.ts"
import { MemoryMonitor, type MemoryMonitorTest, type MemoryReading } from "./MemoryMonitor.ts"
import type { MessageWithParts } from "./Message.ts"
import type { SessionInfo, SessionSummary } from "./Session.ts"
import { SessionRepository } from "./SessionRepository.ts"
import { defaults, fromOptions, StoreConfig, type StoreOptions } from "./StoreConfig.ts"
import type { StoreEvent } from "./StoreEvents.ts"
import { makeSessionStore } from "./internal/storeService.ts"

/**
 * Why a session left memory. `capacity`: more than `maxSessions` were
 * resident and it was the least recently used. `budget`: resident bytes were
 * over `maxBytes` and it was among the least recently used. `expired`: loaded
 * longer ago than `sessionTtlMs`. `inactive`: not used for `inactiveTtlMs`.
 * `pressure`: the heap reached `pressureThreshold` and it was among the least
 * recently used. `removed`: the session was deleted. `invalidated`:
 * `invalidate` was called.
 *
 * @example
 * ```ts
 * const isPolicy = (c: EvictionCause) => c !== "removed" && c !== "invalidated"
 * ```
 */
export type EvictionCause =
  | "capacity"
  | "budget"
  | "expired"
  | "inactive"
  | "pressure"
  | "removed"
  | "invalidated"

/**
 * What one sweep did.
 *
 * @example
 * ```ts
 * const freed = (r: SweepReport) => r.expired + r.inactive + r.reconciled
 * ```
 */
export interface SweepReport {
  /** Sessions dropped because their time to live was over. */
  readonly expired: number
  /** Sessions dropped because nobody used them for `inactiveTtlMs`. */
  readonly inactive: number
  /**
   * Sessions the Cache had let go on its own, now taken out of the accounting:
   * 0 unless more loads were in flight at once than `maxSessions` (the store
   * makes room before every load, so the Cache's capacity rule has nothing to
   * do otherwise).
   */
  readonly reconciled: number
  readonly residentSessions: number
  readonly residentBytes: number
}

/**
 * Counters since the layer was built, and what is resident now.
 *
 * @example
 * ```ts
 * const report = (s: StoreStats) => `${(s.hitRate * 100).toFixed(1)}% hits, ${s.residentSessions} resident`
 * ```
 */
export interface StoreStats {
  /** Reads served from memory. */
  readonly hits: number
  /** Reads that needed a load (or joined one in flight). */
  readonly misses: number
  /** Loads from the repository (concurrent readers of one session share one). */
  readonly loads: number
  /** Loads that failed, "not found" included. */
  readonly loadFailures: number
  readonly evictions: Readonly<Record<EvictionCause, number>>
  readonly sweeps: number
  readonly residentSessions: number
  /** Messages held in the resident windows. */
  readonly residentMessages: number
  /** Bytes of the resident infos and windows, as the repository measured their records. */
  readonly residentBytes: number
  /** hits / (hits + misses), 0 before any read. */
  readonly hitRate: number
}

/**
 * One resident session, as the ledger sees it.
 *
 * @example
 * ```ts
 * const idleFor = (r: ResidentSession, now: number) => now - r.lastRead
 * ```
 */
export interface ResidentSession {
  readonly id: SessionId
  /** Messages in the resident window. */
  readonly windowMessages: number
  /** Messages of the session in storage. */
  readonly messageCount: number
  readonly bytes: number
  /** Clock millis of the last use: a read served from memory, or a write. */
  readonly lastRead: number
  /** Clock millis at which its time to live ends: the next use reloads it. */
  readonly expiresAt: number
}

/**
 * One shedding under memory pressure.
 *
 * @example
 * ```ts
 * const line = (s: Shedding) => `at ${(s.reading.ratio * 100).toFixed(0)}% freed ${s.bytes} B in ${s.sessions} sessions`
 * ```
 */
export interface Shedding {
  /** Clock millis when it happened. */
  readonly at: number
  /** The reading that caused it. */
  readonly reading: MemoryReading
  /** Sessions dropped. */
  readonly sessions: number
  /** Accounted bytes freed. */
  readonly bytes: number
  /** Accounted bytes still resident afterwards. */
  readonly residentBytes: number
}

/**
 * The store's view of memory pressure: the latest heap reading it received
 * from the `MemoryMonitor` and what it did about it.
 *
 * @example
 * ```ts
 * const warn = (p: MemoryPressure) => p.underPressure ? `heap at ${(p.reading.ratio * 100).toFixed(0)}%` : undefined
 * ```
 */
export interface MemoryPressure {
  readonly reading: MemoryReading
  /** `memory.pressureThreshold`. */
  readonly threshold: number
  /** Whether the latest reading is at or above the threshold. */
  readonly underPressure: boolean
  /** Times the store shed sessions since the layer was built. */
  readonly sheddings: number
  readonly lastShedding: Shedding | undefined
}

/**
 * Which page of a session's messages to read.
 *
 * @example
 * ```ts
 * const newest50: MessagePage = { limit: 50 }
 * const olderPage: MessagePage = { limit: 50, before: "msg_0100" }
 * ```
 */
export interface MessagePage {
  /** At most this many messages, a non-negative integer (default: all of them). */
  readonly limit?: number | undefined
  /** Only messages older than this one. */
  readonly before?: string | undefined
}

/** Errors of reading a session. */
export type LookupError = InvalidId | SessionNotFound | RepositoryError | CorruptRecord
/** Errors of writing to a session. */
export type WriteError = LookupError | InvalidInput

/**
 * The store's operations. Ids are plain strings and are validated here, so
 * a hostile id fails with `InvalidId` before it reaches storage; sessions and
 * messages arrive as `unknown` and are decoded with the domain schemas
 * (`InvalidInput` names the problem).
 *
 * Values returned are the resident ones, shared with memory: they are typed
 * read-only, and must not be mutated.
 *
 * @example
 * ```ts
 * const title = (store: SessionStoreShape, id: string) => Effect.map(store.getSession(id), (s) => s.title)
 * ```
 */
export interface SessionStoreShape {
  /** Stores a new session (never overwrites one). It becomes resident when first read. */
  readonly createSession: (info: unknown) => Effect.Effect<SessionInfo, WriteError | SessionAlreadyExists>
  readonly getSession: (sessionId: string) => Effect.Effect<SessionInfo, LookupError>
  /** Replaces the info with `edit(current)`; an edit that changes the id fails with `InvalidInput`. */
  readonly updateSession: (
    sessionId: string,
    edit: (info: SessionInfo) => SessionInfo
  ) => Effect.Effect<SessionInfo, WriteError>
  /** Deletes the session and its messages from storage and memory. */
  readonly removeSession: (sessionId: string) => Effect.Effect<void, LookupError>
  /** Every stored session, most recently updated first (from storage). */
  readonly listSessions: () => Effect.Effect<ReadonlyArray<SessionSummary>, RepositoryError | CorruptRecord>
  /** Adds a message at the end of the session (an existing id is replaced in place). */
  readonly appendMessage: (sessionId: string, message: unknown) => Effect.Effect<MessageWithParts, WriteError>
  /** Writes a message by id: replaced in place if it exists, appended if not. */
  readonly putMessage: (sessionId: string, message: unknown) => Effect.Effect<MessageWithParts, WriteError>
  /** One message: from the resident window, or read from storage (and not kept) when older. */
  readonly getMessage: (
    sessionId: string,
    messageId: string
  ) => Effect.Effect<MessageWithParts, LookupError | MessageNotFound>
  /**
   * Messages oldest first: the newest `limit` before `before`. Served from
   * memory when the resident window covers the page entirely, otherwise paged
   * from storage and not kept.
   */
  readonly getMessages: (
    sessionId: string,
    page?: MessagePage
  ) => Effect.Effect<ReadonlyArray<MessageWithParts>, LookupError | InvalidInput | MessageNotFound>
  readonly removeMessage: (sessionId: string, messageId: string) => Effect.Effect<void, LookupError | MessageNotFound>
  /** Drops the session from memory only; storage is untouched. */
  readonly invalidate: (sessionId: string) => Effect.Effect<void>
  /** Runs the cleanup now and says what it did. */
  readonly sweep: Effect.Effect<SweepReport>
  readonly stats: Effect.Effect<StoreStats>
  /** The resident sessions, least recently used first. */
  readonly residents: Effect.Effect<ReadonlyArray<ResidentSession>>
  /**
   * Loads and evictions as they happen, from the moment the stream is run;
   * ends when the layer is released. A consumer that falls more than
   * `eventCapacity` (1024) events behind loses the oldest (see `StoreEvents`).
   */
  readonly events: Stream.Stream<StoreEvent>
  /** The latest heap reading and what the store did about pressure. */
  readonly memoryPressure: Effect.Effect<MemoryPressure>
}

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
 * The store service.
 *
 * - `SessionStore.layer`: options from the `memory` config (see `StoreConfig`), on a given repository.
 * - `SessionStore.layerWith(options)`: explicit options, validated like the config.
 * - `SessionStore.layerFileSystem({ directory })`: the embedded default, on the file-system repository.
 * - `SessionStore.layerTest`: the memory repository, the test `MemoryMonitor` and
 *   {@link testOptions}; also provides the repository and `MemoryMonitorTest`.
 *
 * Memory pressure follows the `MemoryMonitor` in context when one is
 * provided (a spec provides `MemoryMonitor.layerTest()`); otherwise each
 * store starts the live monitor in its own scope, reading the V8 heap every
 * `pressureCheckIntervalMs`. So the one `memory` config covers every setting.
 *
 * Releasing a layer stops the sweep, the pressure fiber and its own monitor,
 * waits for the writes in flight, ends the `events` streams, removes its
 * metric series and leaves no fiber or timer behind.
 *
 * @example
 * ```ts
 * const program = SessionStore.use((store) => store.stats)
 * program.pipe(Effect.provide(SessionStore.layer.pipe(Layer.provide(SessionRepository.layerMemory))))
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
   * SessionStore.layerWith({ maxSessions: 20 }).pipe(Layer.provide(SessionRepository.layerMemory))
   * ```
   */
  static readonly layerWith = (
    options: Partial<StoreOptions> = {}
  ): Layer.Layer<SessionStore, Config.ConfigError, SessionRepository> =>
    Layer.effect(SessionStore, Effect.flatMap(fromOptions(options), makeSessionStore))

  /**
   * The store configured from the current `ConfigProvider` (`memory.*` keys;
   * see `StoreConfig.provider` for opencode.json plus `MEMORY_*` env vars).
   *
   * @example
   * ```ts
   * SessionStore.layer.pipe(Layer.provide(SessionRepository.layerMemory))
   * ```
   */
  static readonly layer: Layer.Layer<SessionStore, Config.ConfigError, SessionRepository> = Layer.effect(
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
   * `ConfigProvider`, on the file-system repository in `directory`, with
   * Node's file system and the live `MemoryMonitor` (every
   * `memory.pressureCheckIntervalMs`). Fails with `RepositoryError` when the
   * directory cannot be opened, `ConfigError` when a `memory.*` key is invalid.
   *
   * @example
   * ```ts
   * import { ConfigProvider, Layer } from "effect"
   * import { provider } from "@session-store/core/StoreConfig"
   *
   * const StoreLive = SessionStore.layerFileSystem({ directory: "/var/lib/opencode/sessions" }).pipe(
   *   Layer.provide(ConfigProvider.layer(provider({ file: opencodeJson })))
   * )
   * ```
   */
  static readonly layerFileSystem = (options: {
    readonly directory: string
    /** Flush every write to disk before acknowledging it (default true). */
    readonly fsync?: boolean | undefined
  }): Layer.Layer<SessionStore, Config.ConfigError | RepositoryError> =>
    SessionStore.layer.pipe(
      Layer.provide(SessionRepository.layerFileSystem(options)),
      Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer))
    )
}
