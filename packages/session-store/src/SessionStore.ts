/**
 * The SessionStore service: sessions and their messages for a long-running
 * opencode process, with a bounded working set in memory and the repository
 * holding the truth.
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
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Context, type Effect } from "effect"
import type {
  CorruptRecord,
  InvalidId,
  InvalidInput,
  MessageNotFound,
  RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "./Errors.ts"
import type { MessageWithParts } from "./Message.ts"
import type { SessionInfo, SessionSummary } from "./Session.ts"

/**
 * Why a session left memory.
 *
 * @example
 * ```ts
 * const isPolicy = (c: EvictionCause) => c !== "removed" && c !== "invalidated"
 * ```
 */
export type EvictionCause = "capacity" | "expired" | "inactive" | "removed" | "invalidated"

/**
 * What one sweep did.
 *
 * @example
 * ```ts
 * const freed = (r: SweepReport) => r.expired + r.inactive
 * ```
 */
export interface SweepReport {
  readonly expired: number
  readonly inactive: number
  readonly residentSessions: number
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
  readonly hits: number
  readonly misses: number
  readonly loads: number
  readonly loadFailures: number
  readonly evictions: Readonly<Record<EvictionCause, number>>
  readonly residentSessions: number
  readonly residentMessages: number
  /** hits / (hits + misses), 0 before any read. */
  readonly hitRate: number
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
  /** At most this many messages (default: all of them). */
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
 * a hostile id fails with `InvalidId` before it reaches storage.
 *
 * @example
 * ```ts
 * const title = (store: SessionStoreShape, id: string) => Effect.map(store.getSession(id), (s) => s.title)
 * ```
 */
export interface SessionStoreShape {
  readonly createSession: (info: unknown) => Effect.Effect<SessionInfo, WriteError | SessionAlreadyExists>
  readonly getSession: (sessionId: string) => Effect.Effect<SessionInfo, LookupError>
  readonly updateSession: (
    sessionId: string,
    edit: (info: SessionInfo) => SessionInfo
  ) => Effect.Effect<SessionInfo, WriteError>
  readonly removeSession: (sessionId: string) => Effect.Effect<void, LookupError>
  readonly listSessions: () => Effect.Effect<ReadonlyArray<SessionSummary>, RepositoryError | CorruptRecord>
  /** Adds a message at the end of the session (an existing id is replaced in place). */
  readonly appendMessage: (sessionId: string, message: unknown) => Effect.Effect<MessageWithParts, WriteError>
  /** Writes a message by id: replaced in place if it exists, appended if not. */
  readonly putMessage: (sessionId: string, message: unknown) => Effect.Effect<MessageWithParts, WriteError>
  readonly getMessage: (
    sessionId: string,
    messageId: string
  ) => Effect.Effect<MessageWithParts, LookupError | MessageNotFound>
  /** Messages oldest first; the newest page is served from memory, older pages from the repository. */
  readonly getMessages: (
    sessionId: string,
    page?: MessagePage
  ) => Effect.Effect<ReadonlyArray<MessageWithParts>, LookupError | MessageNotFound>
  readonly removeMessage: (sessionId: string, messageId: string) => Effect.Effect<void, LookupError | MessageNotFound>
  /** Drops the session from memory only; storage is untouched. */
  readonly invalidate: (sessionId: string) => Effect.Effect<void>
  /** Runs the cleanup now and says what it did. */
  readonly sweep: Effect.Effect<SweepReport>
  readonly stats: Effect.Effect<StoreStats>
}

/**
 * The store service. Layers: `SessionStore.layer` (needs a repository),
 * `SessionStore.layerFileSystem` (the embedded default), `SessionStore.layerTest`.
 *
 * @example
 * ```ts
 * const program = Effect.flatMap(SessionStore.asEffect(), (store) => store.stats)
 * ```
 */
export class SessionStore extends Context.Service<SessionStore, SessionStoreShape>()(
  "@session-store/core/SessionStore"
) {}
