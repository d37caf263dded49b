import { Effect, PubSub, type Scope, Stream } from "effect"
import type { StoreEvent } from "../StoreEvents.ts"

/**
 * Where the resident set's events go. Evictions happen inside synchronous
 * bookkeeping (the Cache and the ledger must change together), so `emit` is
 * synchronous: it hands the event to the PubSub at once when the PubSub can
 * take it without its sliding step, which is every time but when a
 * subscriber is `capacity` events behind. Then the event waits in `pending`
 * (bounded by the same capacity, oldest dropped first, as the PubSub would)
 * until the operation that emitted it runs `flush`, which publishes through
 * the sliding strategy. Neither ever blocks, fails or grows past `capacity`.
 */
export interface EventHub {
  readonly emit: (event: StoreEvent) => void
  readonly flush: Effect.Effect<void>
  readonly events: Stream.Stream<StoreEvent>
  /** Events the PubSub holds for its slowest subscriber (0 without subscribers). */
  readonly buffered: () => number
}

export const makeEventHub = (capacity: number): Effect.Effect<EventHub, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pubsub = yield* PubSub.sliding<StoreEvent>(capacity)
    // Ends every running `events` stream when the store is released.
    yield* Effect.addFinalizer(() => PubSub.shutdown(pubsub))
    let pending: Array<StoreEvent> = []

    const emit = (event: StoreEvent): void => {
      if (pending.length === 0 && PubSub.publishUnsafe(pubsub, event)) return
      if (pending.length >= capacity) pending.shift()
      pending.push(event)
    }

    const flush: Effect.Effect<void> = Effect.suspend(() => {
      if (pending.length === 0) return Effect.void
      const batch = pending
      pending = []
      return Effect.asVoid(PubSub.publishAll(pubsub, batch))
    })

    return {
      emit,
      flush,
      events: Stream.fromPubSub(pubsub),
      buffered: () => PubSub.sizeUnsafe(pubsub)
    }
  })
