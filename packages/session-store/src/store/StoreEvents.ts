/**
 * What the store tells about its resident set as it happens: a session was
 * loaded into memory, or left it and why. Read them from
 * `SessionStore.events`, a `Stream` that each consumer runs for itself.
 *
 * The events travel through a sliding `PubSub` of {@link eventCapacity}
 * entries: a consumer that falls behind loses the oldest events it has not
 * read, never slows the store down, and never makes memory grow. Publishing
 * cannot fail or block a store operation.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { SessionStore } from "@session-store/core/SessionStore"
 *
 * const logEvictions = SessionStore.use((store) =>
 *   store.events.pipe(
 *     Stream.filter((event) => event._tag === "Evicted"),
 *     Stream.runForEach((event) => Effect.logDebug(`${event.sessionId} left memory: ${event.cause}`))
 *   )
 * )
 * // Effect.forkScoped(logEvictions) in the layer that builds the application
 * ```
 *
 * @since 0.1.0
 */
import type { SessionId } from "../domain/Ids.ts"
import type { EvictionCause } from "./model.ts"

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

/**
 * Events a consumer can fall behind by before it loses the oldest: 1024, a
 * few hundred bytes each, so a consumer that never reads costs a few hundred
 * kilobytes at most.
 *
 * @example
 * ```ts
 * const worstCaseBacklog = eventCapacity // events, per the shared buffer
 * ```
 */
export const eventCapacity = 1024
