import { Clock, Effect, type Scope, Stream } from "effect"
import type { MemoryMonitorShape, MemoryReading } from "../monitor/reading.ts"
import type { MemoryPressure, Shedding } from "./model.ts"
import type { StoreOptions } from "../config/StoreConfig.ts"
import type { ResidentSet } from "./residentSet.ts"

/**
 * When a reading makes the store shed, as a pure rule so the policy reads in
 * one place. Starts armed. A reading at or above the threshold sheds when
 * armed, or when `cooldownMs` has passed since the last shedding; shedding
 * disarms. A reading below `threshold - hysteresis` re-arms. So a heap that
 * hovers around the threshold sheds once, not at every reading, and a heap
 * that stays high sheds again once per cooldown.
 */
export interface PressureRule {
  readonly armed: boolean
  readonly lastShedAt: number | undefined
}

export const initialRule: PressureRule = { armed: true, lastShedAt: undefined }

export const decide = (
  rule: PressureRule,
  ratio: number,
  now: number,
  options: Pick<StoreOptions, "pressureThreshold" | "pressureHysteresis" | "pressureCooldownMs">
): { readonly shed: boolean; readonly next: PressureRule } => {
  const armed = rule.armed || ratio < options.pressureThreshold - options.pressureHysteresis
  const cooled = rule.lastShedAt === undefined || now - rule.lastShedAt >= options.pressureCooldownMs
  if (ratio >= options.pressureThreshold && (armed || cooled)) {
    return { shed: true, next: { armed: false, lastShedAt: now } }
  }
  return { shed: false, next: armed === rule.armed ? rule : { ...rule, armed } }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`
const percent = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`

/**
 * The store's side of memory pressure: a fiber in the caller's scope that
 * follows the monitor's readings and sheds resident sessions when the rule
 * says so, logging one warning per shedding with the reading and what it
 * freed. `state` is what the store reports as `memoryPressure`.
 */
export const makePressure = Effect.fnUntraced(function*(
  monitor: MemoryMonitorShape,
  options: StoreOptions,
  resident: Pick<ResidentSet, "shed">
): Effect.fn.Return<{ readonly state: () => MemoryPressure }, never, Scope.Scope> {
  let reading = yield* monitor.current
  let rule = initialRule
  let sheddings = 0
  let lastShedding: Shedding | undefined

  // `reading` changes last, once the reading has been acted on: whoever sees
  // it in `state` sees what the store did about it too.
  const onReading = Effect.fnUntraced(function*(next: MemoryReading) {
    const now = yield* Clock.currentTimeMillis
    const decision = decide(rule, next.ratio, now, options)
    rule = decision.next
    if (decision.shed) yield* shed(next, now)
    reading = next
  })

  const shed = Effect.fnUntraced(function*(next: MemoryReading, now: number) {
    sheddings++
    const freed = yield* resident.shed(options.pressureShedTarget)
    lastShedding = { at: now, reading: next, ...freed }
    yield* Effect.logWarning(
      `SessionStore: memory pressure: heap at ${percent(next.ratio)} of its limit ` +
        `(${mib(next.heapUsed)} of ${mib(next.heapLimit)}, threshold ${percent(options.pressureThreshold)}); ` +
        `dropped ${freed.sessions} resident sessions, ${mib(freed.bytes)}; ${mib(freed.residentBytes)} stay resident`
    ).pipe(
      Effect.annotateLogs({
        heapRatio: next.ratio,
        heapUsed: next.heapUsed,
        heapLimit: next.heapLimit,
        threshold: options.pressureThreshold,
        freedSessions: freed.sessions,
        freedBytes: freed.bytes,
        residentBytes: freed.residentBytes
      })
    )
  })

  yield* monitor.changes.pipe(Stream.runForEach(onReading), Effect.forkScoped)

  return {
    state: (): MemoryPressure => ({
      reading,
      threshold: options.pressureThreshold,
      underPressure: reading.ratio >= options.pressureThreshold,
      sheddings,
      lastShedding
    })
  }
})
