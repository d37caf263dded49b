import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Config, ConfigProvider, Context, Effect, Exit, Fiber, Layer, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import {
  defaultPressureCheckIntervalMs,
  MemoryMonitor,
  type MemoryMonitorShape,
  MemoryMonitorTest,
  type MemoryReading,
  pressureCheckIntervalMs
} from "../src/monitor/MemoryMonitor.ts"

const interval = 1_000

/**
 * Subscribes to `changes` and records every reading. `waitFor(n)` yields until
 * n readings arrived: the subscriber runs on its own fiber, so a reading set
 * by another fiber reaches it a few scheduler turns later.
 */
const record = Effect.fnUntraced(function*(monitor: MemoryMonitorShape) {
  const seen: Array<MemoryReading> = []
  const fiber = yield* monitor.changes.pipe(
    Stream.runForEach((reading) => Effect.sync(() => seen.push(reading))),
    Effect.forkChild
  )
  const waitFor = (n: number): Effect.Effect<void> =>
    Effect.suspend(() => seen.length >= n ? Effect.void : Effect.andThen(Effect.yieldNow, waitFor(n)))
  yield* waitFor(1)
  return { seen, fiber, waitFor }
})

const atOf = (readings: ReadonlyArray<MemoryReading>) => readings.map((r) => r.at)

describe("MemoryMonitor.layerLive", () => {
  it.effect("reads the real V8 heap when built, so current is never empty", () =>
    Effect.gen(function*() {
      const reading = yield* MemoryMonitor.use((m) => m.current)
      expect(reading.at).toBe(0) // taken at build, on the TestClock, before any time passed
      expect(reading.heapUsed).toBeGreaterThan(0)
      expect(reading.heapLimit).toBeGreaterThan(reading.heapUsed)
      expect(reading.ratio).toBeGreaterThan(0)
      expect(reading.ratio).toBeLessThan(1)
      expect(reading.ratio).toBeCloseTo(reading.heapUsed / reading.heapLimit, 12)
    }).pipe(Effect.provide(MemoryMonitor.layerLive({ intervalMs: interval }))))

  it.effect("takes the next reading one interval later, and it sees a heap that grew", () =>
    Effect.gen(function*() {
      const monitor = yield* MemoryMonitor
      const before = yield* monitor.current
      // About 100 MiB of doubles kept alive across the reading; typed arrays
      // would not do, their bytes live outside the V8 heap.
      const ballast = Array.from({ length: 100 }, (_, i) => new Array<number>(131_072).fill(i + 0.5))

      yield* TestClock.adjust(interval - 1)
      expect((yield* monitor.current).at).toBe(0)

      yield* TestClock.adjust(1)
      const after = yield* monitor.current
      expect(after.at).toBe(interval)
      expect(after.heapUsed).toBeGreaterThan(before.heapUsed)
      expect(after.ratio).toBeGreaterThan(before.ratio)
      expect(ballast.length).toBe(100)
    }).pipe(Effect.provide(MemoryMonitor.layerLive({ intervalMs: interval }))))

  it.effect("changes gives the current reading, then one per interval", () =>
    Effect.gen(function*() {
      const monitor = yield* MemoryMonitor
      const { seen, waitFor } = yield* record(monitor)
      yield* TestClock.adjust(interval)
      yield* waitFor(2)
      yield* TestClock.adjust(interval)
      yield* waitFor(3)
      expect(atOf(seen)).toStrictEqual([0, interval, 2 * interval])
      expect(seen.every((r) => r.heapUsed > 0 && r.ratio > 0 && r.ratio < 1)).toBe(true)
    }).pipe(Effect.provide(MemoryMonitor.layerLive({ intervalMs: interval }))))

  it.effect("releasing the layer stops the readings and ends changes", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const monitor = Context.get(yield* Layer.buildWithScope(MemoryMonitor.layerLive({ intervalMs: interval }), scope), MemoryMonitor)
      const { seen, fiber, waitFor } = yield* record(monitor)
      yield* TestClock.adjust(interval)
      yield* waitFor(2)

      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust(10 * interval)

      // The subscriber finished by itself: changes ended with the layer.
      yield* Fiber.join(fiber)
      expect(atOf(seen)).toStrictEqual([0, interval])
      expect((yield* monitor.current).at).toBe(interval)
    }))

  it.effect("rejects an interval that is not a positive integer", () =>
    Effect.gen(function*() {
      for (const intervalMs of [0, -1, 1.5, Number.NaN]) {
        const exit = yield* Effect.exit(Layer.build(MemoryMonitor.layerLive({ intervalMs })))
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      }
    }))

  it("lets a process that built and released it exit by itself", async () => {
    const fixture = fileURLToPath(new URL("./fixtures/memory-monitor-release.ts", import.meta.url))
    // The fixture's interval is an hour: if its fiber outlived the layer, the
    // child would still be waiting when this guard kills it.
    const { stdout } = await promisify(execFile)(process.execPath, [fixture], { timeout: 20_000 })
    const reading = JSON.parse(stdout) as MemoryReading
    expect(reading.heapUsed).toBeGreaterThan(0)
    expect(reading.heapLimit).toBeGreaterThan(reading.heapUsed)
  }, 30_000)
})

describe("MemoryMonitor.layer (from config)", () => {
  const withConfig = (input: unknown) =>
    MemoryMonitor.layer.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(input))))

  it.effect("reads every memory.pressureCheckIntervalMs", () =>
    Effect.gen(function*() {
      const monitor = yield* MemoryMonitor
      yield* TestClock.adjust(2_499)
      expect((yield* monitor.current).at).toBe(0)
      yield* TestClock.adjust(1)
      expect((yield* monitor.current).at).toBe(2_500)
    }).pipe(Effect.provide(withConfig({ memory: { pressureCheckIntervalMs: 2_500 } }))))

  it.effect("fails to build with a ConfigError naming the key when the interval is invalid", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(withConfig({ memory: { pressureCheckIntervalMs: 0 } })))
      expect(error._tag).toBe("ConfigError")
      expect(error.message).toContain("pressureCheckIntervalMs")
    }))
})

describe("pressureCheckIntervalMs", () => {
  const parse = (provider: ConfigProvider.ConfigProvider) =>
    pressureCheckIntervalMs.pipe(Config.nested("memory")).parse(provider)

  it.effect("defaults to 10 seconds when the key or the whole section is absent", () =>
    Effect.gen(function*() {
      expect(defaultPressureCheckIntervalMs).toBe(10_000)
      expect(yield* parse(ConfigProvider.fromUnknown({}))).toBe(10_000)
      expect(yield* parse(ConfigProvider.fromUnknown({ memory: { maxSessions: 100 } }))).toBe(10_000)
    }))

  it.effect("reads the file value and the environment's string form", () =>
    Effect.gen(function*() {
      expect(yield* parse(ConfigProvider.fromUnknown({ memory: { pressureCheckIntervalMs: 5_000 } }))).toBe(5_000)
      expect(yield* parse(ConfigProvider.fromEnv({ env: { memory_pressureCheckIntervalMs: "2500" } }))).toBe(2_500)
    }))

  it.effect("rejects zero, negative, fractional and non-numeric values with a ConfigError naming the key", () =>
    Effect.gen(function*() {
      for (const value of [0, -5, 1.5, "abc", "0"]) {
        const error = yield* Effect.flip(parse(ConfigProvider.fromUnknown({ memory: { pressureCheckIntervalMs: value } })))
        expect(error._tag).toBe("ConfigError")
        expect(error.message).toMatch(/\["memory"\]\["pressureCheckIntervalMs"\]/)
      }
    }))
})

describe("MemoryMonitor.layerTest", () => {
  it.effect("starts with no pressure by default", () =>
    Effect.gen(function*() {
      const reading = yield* MemoryMonitor.use((m) => m.current)
      expect(reading).toStrictEqual({ heapUsed: 0, heapLimit: 2 * 1024 ** 3, ratio: 0, at: 0 })
    }).pipe(Effect.provide(MemoryMonitor.layerTest())))

  it.effect("set shows in current and in changes, timed by the Clock", () =>
    Effect.gen(function*() {
      const monitor = yield* MemoryMonitor
      const control = yield* MemoryMonitorTest
      const { seen, waitFor } = yield* record(monitor)
      expect((yield* monitor.current).ratio).toBe(0.5)

      yield* TestClock.adjust(1_000)
      const set = yield* control.set(0.9)
      expect(set).toStrictEqual({ heapUsed: Math.round(0.9 * 2 * 1024 ** 3), heapLimit: 2 * 1024 ** 3, ratio: 0.9, at: 1_000 })
      expect(yield* monitor.current).toStrictEqual(set)

      yield* control.set(0.2)
      yield* waitFor(3)
      expect(seen.map((r) => r.ratio)).toStrictEqual([0.5, 0.9, 0.2])
    }).pipe(Effect.provide(MemoryMonitor.layerTest(0.5))))

  it.effect("heap figures compute the ratio, and a later bare ratio keeps their limit", () =>
    Effect.gen(function*() {
      const control = yield* MemoryMonitorTest
      expect(yield* control.set({ heapUsed: 300, heapLimit: 1_000 })).toMatchObject({ ratio: 0.3 })
      expect(yield* control.set(0.5)).toMatchObject({ heapUsed: 500, heapLimit: 1_000, ratio: 0.5 })
    }).pipe(Effect.provide(MemoryMonitor.layerTest({ heapUsed: 100, heapLimit: 1_000 }))))

  it.effect("a reading that cannot happen is a defect, and the reading stays as it was", () =>
    Effect.gen(function*() {
      const control = yield* MemoryMonitorTest
      for (const bad of [-0.1, Number.NaN, Number.POSITIVE_INFINITY, { heapUsed: 1, heapLimit: 0 }]) {
        const exit = yield* Effect.exit(control.set(bad))
        expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
      }
      expect((yield* MemoryMonitor.use((m) => m.current)).ratio).toBe(0.4)
    }).pipe(Effect.provide(MemoryMonitor.layerTest(0.4))))

  it.effect("releasing it ends changes like the live layer", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const built = yield* Layer.buildWithScope(MemoryMonitor.layerTest(0.1), scope)
      const { seen, fiber } = yield* record(Context.get(built, MemoryMonitor))
      yield* Scope.close(scope, Exit.void)
      yield* Fiber.join(fiber)
      expect(seen.map((r) => r.ratio)).toStrictEqual([0.1])
    }))
})
