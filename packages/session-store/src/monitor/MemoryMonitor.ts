/**
 * The memory monitor: how full the V8 heap is, measured rather than guessed,
 * as a service so the store's pressure policy can be tested with any reading.
 *
 * The reading is heap in use over the heap size limit, from `node:v8`
 * `getHeapStatistics()` (`used_heap_size` / `heap_size_limit`). That is the
 * ratio at which V8 fails with "JavaScript heap out of memory", and the only
 * memory the store can give back by dropping resident sessions.
 * `process.memoryUsage().rss` is not used: it also counts native memory,
 * buffers and shared pages the store cannot free, and has no limit to divide
 * by. The count of resident entries is not used either: a hundred sessions
 * can weigh a kilobyte or a gigabyte.
 *
 * @example
 * ```ts
 * import { Effect, Stream } from "effect"
 * import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
 *
 * const program = Effect.gen(function*() {
 *   const monitor = yield* MemoryMonitor
 *   const now = yield* monitor.current
 *   yield* Effect.log(`heap ${(now.ratio * 100).toFixed(1)}% of its limit`)
 *   yield* monitor.changes.pipe(
 *     Stream.filter((r) => r.ratio > 0.8),
 *     Stream.runForEach((r) => Effect.logWarning(`memory pressure ${r.ratio}`))
 *   )
 * }).pipe(Effect.provide(MemoryMonitor.layer))
 * ```
 *
 * @since 0.1.0
 */
import { Config, Context, Effect, Layer, Schema } from "effect"
import { makeLive, makeTest } from "./heap.ts"

import type { HeapFigures, MemoryMonitorShape, MemoryReading } from "./reading.ts"

export type { HeapFigures, MemoryMonitorShape, MemoryReading } from "./reading.ts"

/**
 * The default of `memory.pressureCheckIntervalMs`: ten seconds between
 * readings. A reading costs microseconds; heap growth that matters takes
 * longer than that to build up.
 *
 * @example
 * ```ts
 * const layer = MemoryMonitor.layerLive({ intervalMs: defaultPressureCheckIntervalMs })
 * ```
 */
export const defaultPressureCheckIntervalMs = 10_000

const IntervalMs = Schema.Int.check(Schema.isGreaterThan(0))

/**
 * The `pressureCheckIntervalMs` key, relative to the `memory` namespace so it
 * can sit in the store's own `Config.nested("memory")` group: a positive
 * integer of milliseconds, default {@link defaultPressureCheckIntervalMs}.
 * Zero, negative, fractional or non-numeric values fail with a `ConfigError`
 * whose message names the key.
 *
 * @example
 * ```ts
 * import { Config, ConfigProvider, Effect } from "effect"
 *
 * const provider = ConfigProvider.fromUnknown({ memory: { pressureCheckIntervalMs: 5000 } })
 * Effect.runSync(pressureCheckIntervalMs.pipe(Config.nested("memory")).parse(provider)) // 5000
 * ```
 */
export const pressureCheckIntervalMs: Config.Config<number> = Config.schema(IntervalMs, "pressureCheckIntervalMs").pipe(
  Config.withDefault(defaultPressureCheckIntervalMs)
)

/**
 * The handle a spec uses to set the reading of {@link MemoryMonitor.layerTest}.
 * It exists only in the test layer, so production code cannot fake a reading.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const control = yield* MemoryMonitorTest
 *   yield* control.set(0.95) // every subscriber of `changes` sees it
 *   yield* control.set({ heapUsed: 100 * 2 ** 20, heapLimit: 2 ** 30 })
 * }).pipe(Effect.provide(MemoryMonitor.layerTest()))
 * ```
 */
export class MemoryMonitorTest extends Context.Service<MemoryMonitorTest, {
  /**
   * Publishes a new reading, timed by `Clock`. A bare ratio keeps the current
   * limit and is stored exactly as given; heap figures compute the ratio.
   * A negative, non-finite or zero-limit reading is a defect.
   */
  readonly set: (reading: number | HeapFigures) => Effect.Effect<MemoryReading>
}>()("@session-store/core/MemoryMonitorTest") {}

/**
 * The memory monitor service.
 *
 * - `MemoryMonitor.layer`: live, interval from `memory.pressureCheckIntervalMs`.
 * - `MemoryMonitor.layerLive({ intervalMs })`: live, interval given.
 * - `MemoryMonitor.layerTest(initial?)`: a reading set by the spec through
 *   {@link MemoryMonitorTest}.
 *
 * @example
 * ```ts
 * const ratio = MemoryMonitor.use((m) => Effect.map(m.current, (r) => r.ratio))
 * ```
 */
export class MemoryMonitor extends Context.Service<MemoryMonitor, MemoryMonitorShape>()(
  "@session-store/core/MemoryMonitor"
) {
  /**
   * Reads the V8 heap when built, then every `intervalMs` from a fiber in the
   * layer's scope. Releasing the layer interrupts the fiber and ends every
   * `changes` stream; no timer is left behind, so a process that releases it
   * exits by itself. `intervalMs` must be a positive integer (a defect otherwise;
   * use {@link MemoryMonitor.layer} for a checked value from config).
   *
   * @example
   * ```ts
   * const program = MemoryMonitor.use((m) => m.current).pipe(
   *   Effect.provide(MemoryMonitor.layerLive({ intervalMs: 1_000 }))
   * )
   * ```
   */
  static readonly layerLive = (options: { readonly intervalMs: number }): Layer.Layer<MemoryMonitor> =>
    Layer.effect(
      MemoryMonitor,
      Schema.decodeUnknownEffect(IntervalMs)(options.intervalMs).pipe(
        Effect.orDie,
        Effect.flatMap(makeLive)
      )
    )

  /**
   * The live monitor with its interval read from `memory.pressureCheckIntervalMs`
   * (default 10 000 ms). Fails with a `ConfigError` naming the key when the
   * value is not a positive integer.
   *
   * @example
   * ```ts
   * const program = MemoryMonitor.use((m) => m.current).pipe(
   *   Effect.provide(MemoryMonitor.layer)
   * )
   * ```
   */
  static readonly layer: Layer.Layer<MemoryMonitor, Config.ConfigError> = Layer.unwrap(
    Effect.map(
      pressureCheckIntervalMs.pipe(Config.nested("memory")),
      (intervalMs) => MemoryMonitor.layerLive({ intervalMs })
    )
  )

  /**
   * A monitor whose reading only changes when the spec calls
   * {@link MemoryMonitorTest}'s `set`; `current` and `changes` behave as in the
   * live layer. The initial reading is a ratio or heap figures; by default
   * nothing in use out of a 2 GiB limit (ratio 0).
   *
   * @example
   * ```ts
   * it.effect("sheds above the threshold", () =>
   *   Effect.gen(function*() {
   *     yield* MemoryMonitorTest.use((t) => t.set(0.9))
   *     // … assert what the store did
   *   }).pipe(Effect.provide(MemoryMonitor.layerTest(0.5))))
   * ```
   */
  static readonly layerTest = (initial: number | HeapFigures = 0): Layer.Layer<MemoryMonitor | MemoryMonitorTest> =>
    Layer.effectContext(
      Effect.map(
        makeTest(initial),
        ({ monitor, set }) =>
          Context.make(MemoryMonitor, MemoryMonitor.of(monitor)).pipe(
            Context.add(MemoryMonitorTest, MemoryMonitorTest.of({ set }))
          )
      )
    )
}
