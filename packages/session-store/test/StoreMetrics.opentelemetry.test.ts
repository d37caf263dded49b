/**
 * The store's metrics exported through `@effect/opentelemetry`, the way an
 * application wires them (here to an in-memory exporter instead of OTLP):
 * `OtelMetrics.layer` reads Effect's metric registry, so the store's series
 * arrive with their names, attributes and values.
 */
// The module paths, not the package index: the index also loads the tracer
// and logger modules, whose OpenTelemetry SDKs a metrics-only setup lacks.
import * as OtelMetrics from "@effect/opentelemetry/OtelMetrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { assert, describe, it } from "@effect/vitest"
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  PeriodicExportingMetricReader
} from "@opentelemetry/sdk-metrics"
import { Effect, Layer, Metric } from "effect"
import { SessionStore } from "../src/store/SessionStore.ts"
import { seed, storeLayer } from "./SessionStore.support.ts"

describe("StoreMetrics through @effect/opentelemetry", () => {
  it.effect("an OpenTelemetry metric reader receives the store's series", () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    const telemetry = OtelMetrics.layer(() => reader).pipe(
      Layer.provide(Resource.layer({ serviceName: "opencode" }))
    )
    return Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(4)
      for (const id of ["ses_1", "ses_1", "ses_2", "ses_3", "ses_4"]) yield* store.getSession(id)

      yield* Effect.promise(() => reader.forceFlush())
      const metrics = exporter.getMetrics().flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics))
      const points = (name: string) => metrics.find((m) => m.descriptor.name === name)?.dataPoints ?? []
      const value = (name: string) => points(name)[0]?.value

      assert.strictEqual(value("session_store_hits_total"), 1)
      assert.strictEqual(value("session_store_misses_total"), 4)
      assert.strictEqual(value("session_store_resident_sessions"), 3)
      assert.strictEqual(value("session_store_resident_bytes"), (yield* store.stats).residentBytes)
      const capacity = points("session_store_evictions_total").find((p) => p.attributes["cause"] === "capacity")
      assert.strictEqual(capacity?.value, 1)
      assert.isDefined(metrics.find((m) => m.descriptor.name === "session_store_load_duration_ms"))
    }).pipe(
      Effect.provide(Layer.merge(storeLayer(), telemetry)),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  })
})
