/**
 * A clock whose time is set by the workload: readings (millis, nanos,
 * monotonic) are the workload's virtual time, while `sleep` waits in real
 * time on the live clock. So the store's time rules (inactivity, TTL) see the
 * hours pass between visits, while its background fibers (sweep timer,
 * memory-pressure monitor) keep real-time pacing and never spin through a
 * day of virtual ticks. The soak calls the store's `sweep` itself whenever
 * virtual time crosses a cleanup interval.
 */
import { Clock, Effect } from "effect"

export interface VirtualClock {
  readonly clock: Clock.Clock
  /** Moves virtual time to `millis` (never backwards). */
  readonly set: (millis: number) => void
  readonly now: () => number
}

export const makeVirtualClock = (live: Clock.Clock, start: number): VirtualClock => {
  let millis = start
  const nanos = () => BigInt(Math.round(millis)) * 1_000_000n
  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => millis,
    currentTimeMillis: Effect.sync(() => millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: nanos,
    monotonicTimeNanos: Effect.sync(nanos),
    sleep: (duration) => live.sleep(duration)
  }
  return {
    clock,
    set: (next) => {
      if (next > millis) millis = next
    },
    now: () => millis
  }
}
