/**
 * A clock whose time is the workload's virtual time, sleeps included: the
 * soak moves it forward before each operation, and every sleep whose deadline
 * has passed wakes then. So everything in the store that depends on time, its
 * rules (inactivity, TTL) and its timers (sweep, memory-pressure checks, the
 * repository's idle handles), runs on the same compressed time line as the
 * workload, as if the hours between visits had really passed.
 *
 * Why not real-time sleeps: the soak plays weeks of virtual time in a
 * minute, so a timer of 30 real seconds would span tens of thousands of
 * operations and hold on to whatever it guards for that long, a retention
 * production never sees. Why not `TestClock`: a sleeper woken after a
 * three-hour gap is woken once, at the new time, instead of once per
 * interval along the way, so a 10-second check does not spin a thousand
 * times per idle gap; and there is no test scheduler in a production run.
 */
import { type Clock, Duration, Effect } from "effect"

export interface VirtualClock {
  readonly clock: Clock.Clock
  /** Moves virtual time to `millis` (never backwards) and wakes every sleep that is due. */
  readonly set: (millis: number) => void
  readonly now: () => number
  /** Sleeps waiting for virtual time to pass (for tests and diagnostics). */
  readonly sleeping: () => number
}

interface Sleeper {
  readonly at: number
  readonly wake: () => void
}

export const makeVirtualClock = (start: number): VirtualClock => {
  let millis = start
  // Sorted by deadline, earliest first; equal deadlines wake in order of sleeping.
  const sleepers: Array<Sleeper> = []
  const nanos = () => BigInt(Math.round(millis)) * 1_000_000n

  const sleep = (duration: Duration.Duration): Effect.Effect<void> =>
    Effect.callback<void>((resume) => {
      const at = millis + Duration.toMillis(duration)
      if (at <= millis) return resume(Effect.void)
      const sleeper: Sleeper = { at, wake: () => resume(Effect.void) }
      let low = 0
      let high = sleepers.length
      while (low < high) {
        const mid = (low + high) >>> 1
        if (sleepers[mid]!.at <= at) low = mid + 1
        else high = mid
      }
      sleepers.splice(low, 0, sleeper)
      // Interrupted (e.g. the layer is released): forget the sleeper.
      return Effect.sync(() => {
        const index = sleepers.indexOf(sleeper)
        if (index >= 0) sleepers.splice(index, 1)
      })
    })

  const clock: Clock.Clock = {
    currentTimeMillisUnsafe: () => millis,
    currentTimeMillis: Effect.sync(() => millis),
    currentTimeNanosUnsafe: nanos,
    currentTimeNanos: Effect.sync(nanos),
    monotonicTimeNanosUnsafe: nanos,
    monotonicTimeNanos: Effect.sync(nanos),
    sleep
  }
  return {
    clock,
    set: (next) => {
      if (next > millis) millis = next
      let due = 0
      while (due < sleepers.length && sleepers[due]!.at <= millis) due++
      for (const sleeper of sleepers.splice(0, due)) sleeper.wake()
    },
    now: () => millis,
    sleeping: () => sleepers.length
  }
}
