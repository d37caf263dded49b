import { Effect, PubSub, type Scope, Stream } from "effect"
import type { StoreEvent } from "./StoreEvents.ts"

/**
 * Where the resident set's events go: a sliding `PubSub`, so publishing
 * never blocks, fails or grows past `capacity`; a subscriber that falls that
 * far behind loses the oldest events.
 */
export interface EventHub {
  readonly publish: (events: ReadonlyArray<StoreEvent>) => Effect.Effect<void>
  readonly events: Stream.Stream<StoreEvent>
  /** Events the PubSub holds for its slowest subscriber (0 without subscribers). */
  readonly buffered: () => number
}

export const makeEventHub = Effect.fnUntraced(function*(capacity: number): Effect.fn.Return<EventHub, never, Scope.Scope> {
  const pubsub = yield* PubSub.sliding<StoreEvent>(capacity)
  // Ends every running `events` stream when the store is released.
  yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
  return {
    publish: (events) => events.length === 0 ? Effect.void : Effect.asVoid(PubSub.publishAll(pubsub, events)),
    events: Stream.fromPubSub(pubsub),
    buffered: () => PubSub.sizeUnsafe(pubsub)
  }
})
