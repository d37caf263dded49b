/**
 * The store's Effect metrics move with its operations and equal its stats.
 * Each spec runs on a registry of its own, so no other store's series mix in.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Latch, Layer, Logger, Metric, Scope } from "effect"
import { TestClock } from "effect/testing"
import { SessionStore } from "../src/store/SessionStore.ts"
import * as StoreMetrics from "../src/store/StoreMetrics.ts"
import { seed, setHeapReading, storeLayer } from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

const ownRegistry = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.suspend(() => Effect.provideService(effect, Metric.MetricRegistry, new Map()))

const count = (metric: Metric.Metric<number, Metric.CounterState<number>>) =>
  Effect.map(Metric.value(metric), (state) => state.count)
const gauge = (metric: Metric.Metric<number, Metric.GaugeState<number>>) =>
  Effect.map(Metric.value(metric), (state) => state.value)

const maxBytes = 1_000_000

describe("StoreMetrics", () => {
  it.effect("counters, gauges and the load histogram move with the operations and equal the stats", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* seed(4, 2)
      assert.strictEqual(yield* count(StoreMetrics.hits), 0)
      assert.strictEqual(yield* gauge(StoreMetrics.residentSessions), 0)
      assert.strictEqual(yield* gauge(StoreMetrics.maxBytes), maxBytes)

      // One load held for 40 ms of the Clock.
      const latch = yield* Latch.make(false)
      controls.held.loadSession = latch
      const reader = yield* Effect.forkChild(store.getSession("ses_1"))
      yield* TestClock.adjust(40)
      yield* latch.open
      yield* Fiber.join(reader)
      delete controls.held.loadSession

      yield* store.getSession("ses_1") // hit
      yield* store.getMessages("ses_1") // hit
      yield* Effect.flip(store.getSession("ses_missing")) // miss, failed load
      for (const id of ["ses_2", "ses_3", "ses_4"]) yield* store.getSession(id) // capacity: ses_1
      yield* store.invalidate("ses_2")

      const stats = yield* store.stats
      assert.deepStrictEqual(
        {
          hits: yield* count(StoreMetrics.hits),
          misses: yield* count(StoreMetrics.misses),
          loads: yield* count(StoreMetrics.loads),
          loadFailures: yield* count(StoreMetrics.loadFailures),
          residentSessions: yield* gauge(StoreMetrics.residentSessions),
          residentMessages: yield* gauge(StoreMetrics.residentMessages),
          residentBytes: yield* gauge(StoreMetrics.residentBytes)
        },
        {
          hits: 2,
          misses: 5,
          loads: 5,
          loadFailures: 1,
          residentSessions: 2,
          residentMessages: 4,
          residentBytes: stats.residentBytes
        }
      )
      assert.strictEqual(stats.hits, 2)
      for (const cause of Object.keys(stats.evictions) as Array<keyof typeof stats.evictions>) {
        assert.strictEqual(yield* count(StoreMetrics.evictionsFor(cause)), stats.evictions[cause], cause)
      }
      assert.strictEqual(yield* count(StoreMetrics.evictionsFor("capacity")), 1)
      assert.strictEqual(yield* count(StoreMetrics.evictionsFor("invalidated")), 1)

      // The histogram counts the successful loads, the held one 40 ms long.
      const loadTimes = yield* Metric.value(StoreMetrics.loadDuration)
      assert.strictEqual(loadTimes.count, 4)
      assert.strictEqual(loadTimes.max, 40)
      assert.strictEqual(loadTimes.sum, 40)

      // The heap reading and the sheddings it caused.
      assert.strictEqual(yield* gauge(StoreMetrics.heapRatio), 0)
      yield* setHeapReading(0.5)
      assert.strictEqual(yield* gauge(StoreMetrics.heapRatio), 0.5)
      assert.strictEqual(yield* count(StoreMetrics.pressureSheddings), 0)
      yield* setHeapReading(0.9)
      assert.strictEqual(yield* gauge(StoreMetrics.heapRatio), 0.9)
      assert.strictEqual(yield* count(StoreMetrics.pressureSheddings), 1)
      assert.strictEqual(yield* count(StoreMetrics.evictionsFor("pressure")), 1)
      assert.strictEqual(yield* gauge(StoreMetrics.residentSessions), 1)
    }).pipe(
      Effect.provide(storeLayer({ maxBytes, cleanupIntervalMs: 1_000_000_000 })),
      Effect.provide(Logger.layer([])),
      ownRegistry
    ))

  it.effect("a snapshot of the registry, as an exporter reads it, has every named series, evictions by cause", () =>
    Effect.gen(function*() {
      yield* SessionStore.use((store) => store.stats)
      const snapshot = yield* Metric.snapshot
      for (const name of StoreMetrics.names) {
        assert.isTrue(snapshot.some((s) => s.id === name) || name === StoreMetrics.loadDuration.id, name)
      }
      const causes = snapshot
        .filter((s) => s.id === "session_store_evictions_total")
        .map((s) => s.attributes?.["cause"])
        .sort()
      // Every cause has its series from the start (stale at 0: it needs another process writing).
      assert.deepStrictEqual(causes, ["budget", "capacity", "expired", "inactive", "invalidated", "pressure", "removed", "stale"])
      assert.deepStrictEqual(StoreMetrics.names, [
        "session_store_hits_total",
        "session_store_misses_total",
        "session_store_loads_total",
        "session_store_load_failures_total",
        "session_store_load_duration_ms",
        "session_store_evictions_total",
        "session_store_resident_sessions",
        "session_store_resident_messages",
        "session_store_resident_bytes",
        "session_store_max_bytes",
        "session_store_heap_ratio",
        "session_store_pressure_sheddings_total"
      ])
    }).pipe(Effect.provide(storeLayer()), ownRegistry))

  it.effect("releasing the store removes its series from the registry", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(storeLayer(), scope)
      yield* Context.get(context, SessionStore).stats
      const ours = (snapshot: ReadonlyArray<Metric.Metric.Snapshot>) =>
        snapshot.filter((s) => s.id.startsWith("session_store_") && s.id !== StoreMetrics.loadDuration.id)
      assert.strictEqual(ours(yield* Metric.snapshot).length, 18)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(ours(yield* Metric.snapshot).length, 0)
    }).pipe(ownRegistry))
})
