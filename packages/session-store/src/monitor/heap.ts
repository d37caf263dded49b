import { getHeapStatistics } from "node:v8"
import { Clock, Duration, Effect, PubSub, Schedule, type Scope, SubscriptionRef } from "effect"
import type { HeapFigures, MemoryMonitorShape, MemoryReading } from "./reading.ts"

/** Builds a reading; the guard keeps a zero limit from turning into a NaN ratio that compares false with any threshold. */
export const readingOf = (figures: HeapFigures, at: number): MemoryReading => ({
  heapUsed: figures.heapUsed,
  heapLimit: figures.heapLimit,
  ratio: figures.heapLimit > 0 ? figures.heapUsed / figures.heapLimit : 0,
  at
})

/**
 * One reading of the V8 heap: `used_heap_size` over `heap_size_limit`, the
 * ratio at which V8 fails with "heap out of memory" (why not rss or an entry
 * count: see the module comment of MemoryMonitor.ts). The time comes from
 * `Clock`, so TestClock controls it.
 */
export const readHeap: Effect.Effect<MemoryReading> = Effect.flatMap(
  Clock.currentTimeMillis,
  (at) =>
    Effect.sync(() => {
      const stats = getHeapStatistics()
      return readingOf({ heapUsed: stats.used_heap_size, heapLimit: stats.heap_size_limit }, at)
    })
)

/**
 * A SubscriptionRef whose `changes` streams end when the scope closes,
 * so a subscriber of a released monitor finishes instead of waiting forever.
 */
export const scopedRef = (
  initial: MemoryReading
): Effect.Effect<SubscriptionRef.SubscriptionRef<MemoryReading>, never, Scope.Scope> =>
  Effect.tap(
    SubscriptionRef.make(initial),
    (ref) => Effect.addFinalizer(() => PubSub.shutdown(ref.pubsub))
  )

export const shapeOf = (ref: SubscriptionRef.SubscriptionRef<MemoryReading>): MemoryMonitorShape => ({
  current: SubscriptionRef.get(ref),
  changes: SubscriptionRef.changes(ref)
})

/**
 * The live monitor: one reading now, so `current` is never empty, then one
 * every `intervalMs` from a fiber in the caller's scope. The fiber is forked
 * after the finalizer that ends `changes`, so closing the scope interrupts the
 * fiber first (no reading can land after subscribers were told it is over).
 */
export const makeLive = Effect.fnUntraced(function*(intervalMs: number) {
  const ref = yield* scopedRef(yield* readHeap)
  yield* readHeap.pipe(
    Effect.flatMap((reading) => SubscriptionRef.set(ref, reading)),
    Effect.schedule(Schedule.spaced(Duration.millis(intervalMs))),
    Effect.forkScoped
  )
  return shapeOf(ref)
})

/** A 2 GiB limit, about what V8 picks on a small 64-bit machine, with nothing in use: no pressure. */
export const defaultTestFigures: HeapFigures = { heapUsed: 0, heapLimit: 2 * 1024 ** 3 }

/** How a test states a reading: a bare ratio, or the two heap figures. */
export type ReadingInput = number | HeapFigures

const invalid = (input: ReadingInput): boolean =>
  typeof input === "number"
    ? !Number.isFinite(input) || input < 0
    : !Number.isFinite(input.heapUsed) || !Number.isFinite(input.heapLimit) || input.heapUsed < 0 ||
      input.heapLimit <= 0

/**
 * A bare ratio keeps the previous limit and is stored exactly as given, so a
 * spec comparing it with a threshold compares the number it wrote.
 */
const nextReading = (previous: MemoryReading, input: ReadingInput, at: number): MemoryReading =>
  typeof input === "number"
    ? { heapUsed: Math.round(input * previous.heapLimit), heapLimit: previous.heapLimit, ratio: input, at }
    : readingOf(input, at)

/** The test monitor and the handle that sets its reading; both share one ref, so `changes` behaves as live. */
export const makeTest = Effect.fnUntraced(function*(initial: ReadingInput) {
  if (invalid(initial)) {
    return yield* Effect.die(new RangeError(`MemoryMonitor.layerTest: invalid reading ${JSON.stringify(initial)}`))
  }
  const at = yield* Clock.currentTimeMillis
  const ref = yield* scopedRef(nextReading(readingOf(defaultTestFigures, at), initial, at))
  const set = (input: ReadingInput): Effect.Effect<MemoryReading> =>
    invalid(input)
      ? Effect.die(new RangeError(`MemoryMonitorTest.set: invalid reading ${JSON.stringify(input)}`))
      : Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => SubscriptionRef.updateAndGet(ref, (previous) => nextReading(previous, input, now))
      )
  return { monitor: shapeOf(ref), set }
})
