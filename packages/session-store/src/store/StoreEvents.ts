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
export type { Evicted, Loaded, StoreEvent } from "./model.ts"

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
