/**
 * The store's shared vocabulary: what the service offers and what it reports
 * (eviction causes, stats, sweeps, pressure). The service module, the
 * resident set, metrics and events all import it; it imports none of them.
 */
import type { Effect, Stream } from "effect"
import type {
  CorruptRecord,
  InvalidId,
  InvalidInput,
  MessageNotFound,
  RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "../domain/Errors.ts"
import type { SessionId } from "../domain/Ids.ts"
import type { MessageWithParts } from "../domain/Message.ts"
import type { SessionInfo, SessionSummary } from "../domain/Session.ts"
import type { MemoryReading } from "../monitor/reading.ts"

/**
 * Why a session left memory. `capacity`: more than `maxSessions` were
 * resident and it was the least recently used. `budget`: resident bytes were
 * over `maxBytes` and it was among the least recently used. `expired`: loaded
 * longer ago than `sessionTtlMs`. `inactive`: not used for `inactiveTtlMs`.
 * `pressure`: the heap reached `pressureThreshold` and it was among the least
 * recently used. `removed`: the session was deleted. `invalidated`:
 * `invalidate` was called. `stale`: another process wrote it (shared SQLite
 * file or PostgreSQL; see `SessionRepository`'s `changes`).
 *
 * @example
 * ```ts
 * const isPolicy = (c: EvictionCause) => c !== "removed" && c !== "invalidated"
 * ```
 */
export const evictionCauses = [
  "capacity",
  "budget",
  "expired",
  "inactive",
  "pressure",
  "removed",
  "invalidated",
  "stale"
] as const

/** @see evictionCauses */
export type EvictionCause = typeof evictionCauses[number]

/**
 * What one sweep did.
 *
 * @example
 * ```ts
 * const freed = (r: SweepReport) => r.expired + r.inactive
 * ```
 */
export interface SweepReport {
  /** Sessions dropped because their time to live was over. */
  readonly expired: number
  /** Sessions dropped because nobody used them for `inactiveTtlMs`. */
  readonly inactive: number
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
  /**
   * The hit path of `getSession`, synchronous: the info when the session is
   * resident, live and active (counted as a hit, and it becomes the most
   * recently used, exactly as `getSession` would), `undefined` otherwise
   * (nothing counted: call `getSession`, which loads it). For callers outside
   * Effect that should not pay for a fiber on a hit, such as the facade.
   */
  readonly getSessionIfResident: (sessionId: string) => SessionInfo | undefined
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
 * A session was read from the repository and became resident.
 *
 * @example
 * ```ts
 * const describe = (e: Loaded) => `${e.sessionId}: ${e.messages} messages, ${e.bytes} B in ${e.durationMs} ms`
 * ```
 */
export interface Loaded {
  readonly _tag: "Loaded"
  readonly sessionId: SessionId
  /** Accounted bytes of the resident info and window. */
  readonly bytes: number
  /** Messages in the resident window. */
  readonly messages: number
  /** How long the repository took, from Effect's `Clock`. */
  readonly durationMs: number
  /** Clock millis when it became resident. */
  readonly at: number
}

/**
 * A session left memory. Storage is untouched unless the cause is `removed`.
 *
 * @example
 * ```ts
 * const freed = (events: ReadonlyArray<Evicted>) => events.reduce((n, e) => n + e.bytes, 0)
 * ```
 */
export interface Evicted {
  readonly _tag: "Evicted"
  readonly sessionId: SessionId
  readonly cause: EvictionCause
  /** Accounted bytes it held. */
  readonly bytes: number
  /** Messages its window held. */
  readonly messages: number
  /** Clock millis when it left. */
  readonly at: number
}

/**
 * One event of the resident set.
 *
 * @example
 * ```ts
 * const label = (event: StoreEvent) => event._tag === "Loaded" ? "load" : `evict:${event.cause}`
 * ```
 */
export type StoreEvent = Loaded | Evicted
