import { Effect, Metric, type Scope } from "effect"
import { evictionCauses, type MemoryPressure } from "./model.ts"
import type { ResidentSet } from "./residentSet.ts"
import * as StoreMetrics from "./StoreMetrics.ts"

const counter = (get: () => number): Metric.Metric.Hooks<number, Metric.CounterState<number>> => ({
  get: () => ({ count: get(), incremental: true }),
  update: () => {},
  modify: () => {}
})

const gauge = (get: () => number): Metric.Metric.Hooks<number, Metric.GaugeState<number>> => ({
  get: () => ({ value: get() }),
  update: () => {},
  modify: () => {}
})

/**
 * Registers the store's series in the metric registry of the current context
 * (the one the layer is built in), each read from the ledger or the pressure
 * state when the registry is read: the counters already exist there, exact,
 * so a hit pays nothing for its metric. Removed when the scope closes.
 */
export const registerMetrics = (
  ledger: ResidentSet["ledger"],
  pressure: () => MemoryPressure,
  maxBytes: number
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.contextWith((context) => {
    const registrations = [
      Metric.registerUnsafe(StoreMetrics.hits, context, counter(() => ledger.hits)),
      Metric.registerUnsafe(StoreMetrics.misses, context, counter(() => ledger.misses)),
      Metric.registerUnsafe(StoreMetrics.loads, context, counter(() => ledger.loads)),
      Metric.registerUnsafe(StoreMetrics.loadFailures, context, counter(() => ledger.loadFailures)),
      ...evictionCauses.map((cause) =>
        Metric.registerUnsafe(StoreMetrics.evictionsFor(cause), context, counter(() => ledger.evictions[cause]))
      ),
      Metric.registerUnsafe(StoreMetrics.residentSessions, context, gauge(() => ledger.residentSessions)),
      Metric.registerUnsafe(StoreMetrics.residentMessages, context, gauge(() => ledger.residentMessages)),
      Metric.registerUnsafe(StoreMetrics.residentBytes, context, gauge(() => ledger.residentBytes)),
      Metric.registerUnsafe(StoreMetrics.maxBytes, context, gauge(() => maxBytes)),
      Metric.registerUnsafe(StoreMetrics.heapRatio, context, gauge(() => pressure().reading.ratio)),
      Metric.registerUnsafe(StoreMetrics.pressureSheddings, context, counter(() => pressure().sheddings))
    ]
    return Effect.addFinalizer(() => Effect.sync(() => registrations.forEach((r) => r.remove())))
  })
