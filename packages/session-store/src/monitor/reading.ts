/** What a memory monitor reads and offers; shared by the service module and the live and test monitors. */
import type { Effect, Stream } from "effect"

/**
 * Heap figures in bytes: what a reading is computed from, and what a test
 * may set instead of a bare ratio.
 *
 * @example
 * ```ts
 * const nearlyFull: HeapFigures = { heapUsed: 900 * 1024 ** 2, heapLimit: 1024 ** 3 }
 * ```
 */
export interface HeapFigures {
  /** V8 `used_heap_size`: bytes of live and not yet collected objects. */
  readonly heapUsed: number
  /** V8 `heap_size_limit`: the size past which V8 gives up with "heap out of memory". */
  readonly heapLimit: number
}

/**
 * One memory reading.
 *
 * @example
 * ```ts
 * const describe = (r: MemoryReading) =>
 *   `${(r.heapUsed / 2 ** 20).toFixed(0)} MiB of ${(r.heapLimit / 2 ** 20).toFixed(0)} MiB at ${new Date(r.at).toISOString()}`
 * ```
 */
export interface MemoryReading extends HeapFigures {
  /** `heapUsed / heapLimit`, between 0 and 1 in practice. */
  readonly ratio: number
  /** When it was taken, in epoch milliseconds from Effect's `Clock`. */
  readonly at: number
}

/**
 * What the monitor offers: the latest reading and the stream of readings.
 *
 * @example
 * ```ts
 * const overThreshold = (m: MemoryMonitorShape, threshold: number) =>
 *   Effect.map(m.current, (r) => r.ratio > threshold)
 * ```
 */
export interface MemoryMonitorShape {
  /** The latest reading; there is always one, taken when the layer was built. */
  readonly current: Effect.Effect<MemoryReading>
  /**
   * The latest reading, then every new one. Ends when the layer is released.
   * Each subscriber gets its own unbounded buffer, so consume it or stop it.
   */
  readonly changes: Stream.Stream<MemoryReading>
}
