/**
 * The store's Effect `Metric`s. Any exporter that reads Effect's metric
 * registry sees them: `@effect/opentelemetry`'s `NodeSdk.layer` with a
 * metric reader, or `effect/unstable/observability`'s Prometheus or OTLP
 * exporters.
 *
 * | name                                      | type      | what                                                   |
 * |-------------------------------------------|-----------|--------------------------------------------------------|
 * | `session_store_hits_total`                | counter   | reads served from memory                               |
 * | `session_store_misses_total`              | counter   | reads that needed a load (or joined one)               |
 * | `session_store_loads_total`               | counter   | loads from the repository                              |
 * | `session_store_load_failures_total`       | counter   | loads that failed ("not found" included)               |
 * | `session_store_load_duration_ms`          | histogram | time of each successful load, in milliseconds          |
 * | `session_store_evictions_total{cause}`    | counter   | sessions that left memory, one series per cause        |
 * | `session_store_resident_sessions`         | gauge     | sessions in memory                                     |
 * | `session_store_resident_messages`         | gauge     | messages in the resident windows                       |
 * | `session_store_resident_bytes`            | gauge     | accounted bytes in memory                              |
 * | `session_store_max_bytes`                 | gauge     | the byte budget (`memory.maxBytes`)                    |
 * | `session_store_heap_ratio`                | gauge     | the latest heap reading: used over limit               |
 * | `session_store_pressure_sheddings_total`  | counter   | times memory pressure made the store shed sessions     |
 *
 * Every series but the load histogram is read from the store's own exact
 * accounting when the registry is read (`Metric.registerUnsafe`), so the
 * figures equal `SessionStore.stats` and a read served from memory costs no
 * metric update. Each store registers them when its layer is built and
 * removes them when it is released; the histogram is updated on each load
 * (a miss, never a hit) and stays. A registry holds one store's series: give
 * each store its own `Metric.MetricRegistry` if one process runs several.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { SessionStore } from "@session-store/core/SessionStore"
 * import * as StoreMetrics from "@session-store/core/StoreMetrics"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* SessionStore
 *   yield* store.getSession("ses_1")
 *   const hits = yield* Metric.value(StoreMetrics.hits)
 *   const evictedForBudget = yield* Metric.value(StoreMetrics.evictionsFor("budget"))
 *   return { hits: hits.count, budget: evictedForBudget.count }
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Metric } from "effect"
import type { EvictionCause } from "./model.ts"

// Every counter is read from the store's own running totals: incremental.
const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

export const hits = counter("session_store_hits_total", "Reads served from memory")

export const misses = counter("session_store_misses_total", "Reads that needed a load from the repository (or joined one in flight)")

export const loads = counter("session_store_loads_total", "Loads from the repository; concurrent readers of one session share one")

export const loadFailures = counter("session_store_load_failures_total", "Loads that failed, session not found included")

/**
 * Load time in milliseconds, with buckets from a quarter of a millisecond
 * (a small session from a warm page cache) doubling up to about 8 seconds.
 *
 * @example
 * ```ts
 * const p = Effect.map(Metric.value(loadDuration), (h) => h.sum / Math.max(1, h.count))
 * ```
 */
export const loadDuration = Metric.histogram("session_store_load_duration_ms", {
  description: "Time to load a session from the repository, in milliseconds",
  boundaries: Metric.exponentialBoundaries({ start: 0.25, factor: 2, count: 16 })
})

/**
 * Sessions that left memory, all causes; {@link evictionsFor} is the series of one cause.
 *
 * @example
 * ```ts
 * Metric.value(evictionsFor("pressure"))
 * ```
 */
export const evictions = counter("session_store_evictions_total", "Sessions that left memory, by cause")

/**
 * The series of {@link evictions} for one cause (attribute `cause`).
 *
 * @example
 * ```ts
 * const budget = Metric.value(evictionsFor("budget"))
 * ```
 */
export const evictionsFor = (cause: EvictionCause): Metric.Counter<number> =>
  Metric.withAttributes(evictions, { cause })

export const residentSessions = Metric.gauge("session_store_resident_sessions", { description: "Sessions resident in memory" })

export const residentMessages = Metric.gauge("session_store_resident_messages", { description: "Messages held in the resident windows" })

export const residentBytes = Metric.gauge("session_store_resident_bytes", { description: "Bytes of the resident infos and windows, as the repository measured their JSON" })

export const maxBytes = Metric.gauge("session_store_max_bytes", { description: "The byte budget of resident data (memory.maxBytes)" })

export const heapRatio = Metric.gauge("session_store_heap_ratio", { description: "The latest V8 heap reading: heap used over heap limit" })

export const pressureSheddings = counter("session_store_pressure_sheddings_total", "Times memory pressure made the store shed resident sessions")

/**
 * Every metric name, as exporters show them.
 *
 * @example
 * ```ts
 * names.includes("session_store_heap_ratio") // true
 * ```
 */
export const names: ReadonlyArray<string> = [
  hits,
  misses,
  loads,
  loadFailures,
  loadDuration,
  evictions,
  residentSessions,
  residentMessages,
  residentBytes,
  maxBytes,
  heapRatio,
  pressureSheddings
].map((metric) => metric.id)
