/**
 * Memory pressure: the store follows the MemoryMonitor's readings (the test
 * monitor here, set by the spec; the live one in the last specs) and sheds
 * resident sessions in one step, with hysteresis and a cooldown, logging one
 * warning per shedding.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Logger, References } from "effect"
import { TestClock } from "effect/testing"
import { MemoryMonitor, MemoryMonitorTest } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { residentIds, seed, setHeapReading, storeLayer } from "./SessionStore.support.ts"

// Time passes in these specs only for the cooldown: nothing else may end a session meanwhile.
const still = {
  maxSessions: 20,
  sessionTtlMs: 1_000_000_000,
  inactiveTtlMs: 1_000_000_000,
  cleanupIntervalMs: 1_000_000_000
}

interface Line {
  readonly level: string
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
}

/** A logger that keeps every line, with its annotations, for the spec to read. */
const captureLogs = () => {
  const lines: Array<Line> = []
  const logger = Logger.make((options) => {
    lines.push({
      level: options.logLevel,
      message: (options.message as ReadonlyArray<unknown>).join(" "),
      annotations: options.fiber.getRef(References.CurrentLogAnnotations)
    })
  })
  return { lines, warnings: () => lines.filter((l) => l.level === "Warn"), layer: Logger.layer([logger]) }
}

const readAll = (ids: ReadonlyArray<string>) =>
  SessionStore.use((store) => Effect.forEach(ids, (id) => store.getSession(id), { discard: true }))

const six = ["ses_1", "ses_2", "ses_3", "ses_4", "ses_5", "ses_6"]

describe("SessionStore: memory pressure", () => {
  it.effect("a reading at the threshold sheds the least recently used half of the resident bytes in one step, with one warning", () => {
    const logs = captureLogs()
    return Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(6, 3) // six sessions of the same size
      yield* readAll(six)
      const before = yield* store.stats
      const pages = yield* Effect.forEach(six, (id) => store.getMessages(id))

      yield* setHeapReading(0.79) // below the threshold: nothing happens
      assert.strictEqual((yield* store.stats).residentSessions, 6)
      assert.strictEqual(logs.warnings().length, 0)

      yield* setHeapReading({ heapUsed: 800 * 2 ** 20, heapLimit: 1000 * 2 ** 20 }) // exactly 0.8
      assert.deepStrictEqual(yield* residentIds, ["ses_4", "ses_5", "ses_6"])
      const after = yield* store.stats
      assert.strictEqual(after.evictions.pressure, 3)
      assert.strictEqual(after.residentBytes, before.residentBytes / 2)

      const pressure = yield* store.memoryPressure
      assert.isTrue(pressure.underPressure)
      assert.strictEqual(pressure.sheddings, 1)
      assert.strictEqual(pressure.reading.ratio, 0.8)
      assert.deepStrictEqual(
        { sessions: pressure.lastShedding?.sessions, bytes: pressure.lastShedding?.bytes },
        { sessions: 3, bytes: before.residentBytes / 2 }
      )

      const [warning, ...more] = logs.warnings()
      assert.strictEqual(more.length, 0)
      assert.include(warning!.message, "heap at 80.0% of its limit (800.0 MiB of 1000.0 MiB, threshold 80.0%)")
      assert.include(warning!.message, "dropped 3 resident sessions")
      assert.deepStrictEqual(warning!.annotations, {
        heapRatio: 0.8,
        heapUsed: 800 * 2 ** 20,
        heapLimit: 1000 * 2 ** 20,
        threshold: 0.8,
        freedSessions: 3,
        freedBytes: before.residentBytes / 2,
        residentBytes: before.residentBytes / 2
      })

      // Nothing was lost: every session reads back as before (the shed ones reload).
      assert.deepStrictEqual(yield* Effect.forEach(six, (id) => store.getMessages(id)), pages)
    }).pipe(Effect.provide(storeLayer(still)), Effect.provide(logs.layer))
  })

  it.effect("hysteresis: after a shedding, high readings do nothing until one falls below threshold minus hysteresis", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const store = yield* SessionStore
        yield* seed(6)
        yield* readAll(six)
        yield* setHeapReading(0.9)
        assert.strictEqual((yield* store.stats).residentSessions, 3)

        yield* readAll(six) // all resident again
        for (const ratio of [0.95, 0.85, 0.75, 0.71, 0.99]) {
          yield* setHeapReading(ratio) // 0.75 and 0.71 are below 0.8 but not below 0.7: still disarmed
          assert.strictEqual((yield* store.stats).residentSessions, 6, `at ${ratio}`)
        }
        yield* setHeapReading(0.69) // re-armed
        assert.strictEqual((yield* store.stats).residentSessions, 6)
        yield* setHeapReading(0.8)
        const stats = yield* store.stats
        assert.strictEqual(stats.residentSessions, 3)
        assert.strictEqual(stats.evictions.pressure, 6)
        assert.strictEqual((yield* store.memoryPressure).sheddings, 2)
        assert.strictEqual(logs.warnings().length, 2)
      }).pipe(Effect.provide(storeLayer(still)), Effect.provide(logs.layer))
    }))

  it.effect("cooldown: a heap that stays high sheds again once pressureCooldownMs has passed", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const store = yield* SessionStore
        yield* seed(6)
        yield* readAll(six)
        yield* setHeapReading(0.9) // t = 0
        yield* readAll(six)

        yield* TestClock.adjust(testOptions.pressureCooldownMs - 1)
        yield* setHeapReading(0.9)
        assert.strictEqual((yield* store.stats).residentSessions, 6)
        assert.strictEqual((yield* store.memoryPressure).sheddings, 1)

        yield* TestClock.adjust(1)
        yield* setHeapReading(0.9)
        assert.strictEqual((yield* store.stats).residentSessions, 3)
        const pressure = yield* store.memoryPressure
        assert.strictEqual(pressure.sheddings, 2)
        assert.strictEqual(pressure.lastShedding?.at, testOptions.pressureCooldownMs)

        // And the cooldown starts again from this shedding.
        yield* readAll(six)
        yield* TestClock.adjust(testOptions.pressureCooldownMs - 1)
        yield* setHeapReading(0.9)
        assert.strictEqual((yield* store.memoryPressure).sheddings, 2)
        assert.strictEqual(logs.warnings().length, 2)
      }).pipe(Effect.provide(storeLayer(still)), Effect.provide(logs.layer))
    }))

  it.effect("pressureShedTarget sets how much stays: 0 drops every resident session", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(4, 2)
      yield* readAll(["ses_1", "ses_2", "ses_3", "ses_4"])
      yield* setHeapReading(0.85)
      const stats = yield* store.stats
      assert.strictEqual(stats.residentSessions, 0)
      assert.strictEqual(stats.residentBytes, 0)
      assert.strictEqual(stats.evictions.pressure, 4)
      assert.strictEqual((yield* store.getMessages("ses_2")).length, 2)
    }).pipe(Effect.provide(storeLayer({ ...still, pressureShedTarget: 0 })), Effect.provide(Logger.layer([]))))

  it.effect("the reading is the monitor's, as it comes: memoryPressure follows it below the threshold too", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const initial = yield* store.memoryPressure
      assert.deepStrictEqual(
        { ratio: initial.reading.ratio, underPressure: initial.underPressure, sheddings: initial.sheddings },
        { ratio: 0, underPressure: false, sheddings: 0 }
      )
      assert.isUndefined(initial.lastShedding)
      const reading = yield* setHeapReading({ heapUsed: 300, heapLimit: 1_000 })
      assert.deepStrictEqual((yield* store.memoryPressure).reading, reading)
      assert.strictEqual((yield* store.memoryPressure).threshold, 0.5)
      yield* setHeapReading(0.5)
      assert.isTrue((yield* store.memoryPressure).underPressure)
    }).pipe(Effect.provide(storeLayer({ ...still, pressureThreshold: 0.5 })), Effect.provide(Logger.layer([]))))

  it.effect("layerTest provides the test monitor, so a spec sets the reading through MemoryMonitorTest", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(1)
      yield* store.getSession("ses_1")
      yield* MemoryMonitorTest.use((monitor) => monitor.set(0.95))
      for (let turn = 0; turn < 100 && (yield* store.memoryPressure).sheddings === 0; turn++) yield* Effect.yieldNow
      assert.strictEqual((yield* store.stats).evictions.pressure, 1)
    }).pipe(Effect.provide(SessionStore.layerTest), Effect.provide(Logger.layer([]))))
})

describe("SessionStore: memory pressure on the live monitor", () => {
  it.effect("on MemoryMonitor.layerLive the store reads the real V8 heap, at the monitor's interval", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const first = (yield* store.memoryPressure).reading
      assert.strictEqual(first.at, 0)
      assert.isAbove(first.heapUsed, 0)
      assert.isAbove(first.heapLimit, first.heapUsed)
      assert.closeTo(first.ratio, first.heapUsed / first.heapLimit, 1e-12)

      yield* TestClock.adjust(5_000)
      for (let turn = 0; turn < 1_000 && (yield* store.memoryPressure).reading.at === 0; turn++) yield* Effect.yieldNow
      assert.strictEqual((yield* store.memoryPressure).reading.at, 5_000)
    }).pipe(
      Effect.provide(
        SessionStore.layerWith(still).pipe(
          Layer.provideMerge(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerLive({ intervalMs: 5_000 })))
        )
      )
    ))

  it.effect("and acts on it: with a threshold below any real heap, the live reading sheds resident sessions", () =>
    Effect.gen(function*() {
      const logs = captureLogs()
      yield* Effect.gen(function*() {
        const store = yield* SessionStore
        // The reading taken at build already finds the heap "under pressure", with nothing resident.
        for (let turn = 0; turn < 1_000 && (yield* store.memoryPressure).sheddings < 1; turn++) yield* Effect.yieldNow
        assert.strictEqual((yield* store.memoryPressure).lastShedding?.sessions, 0)
        yield* seed(4, 1)
        yield* readAll(["ses_1", "ses_2", "ses_3", "ses_4"])
        yield* TestClock.adjust(1_000) // the next live reading, one cooldown later
        for (let turn = 0; turn < 1_000 && (yield* store.memoryPressure).sheddings < 2; turn++) yield* Effect.yieldNow
        const pressure = yield* store.memoryPressure
        assert.strictEqual(pressure.sheddings, 2)
        assert.isTrue(pressure.underPressure)
        assert.isAbove(pressure.lastShedding!.reading.heapUsed, 0)
        assert.deepStrictEqual(yield* residentIds, ["ses_3", "ses_4"])
        assert.strictEqual(logs.warnings().length, 2)
      }).pipe(
        Effect.provide(
          SessionStore.layerWith({
            ...still,
            pressureThreshold: Number.MIN_VALUE,
            pressureCooldownMs: 1_000
          }).pipe(
            Layer.provideMerge(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerLive({ intervalMs: 1_000 })))
          )
        ),
        Effect.provide(logs.layer)
      )
    }))
})
