// The README's spec example, verbatim but for the fixture: if the README's
// description of the test layer drifts from the code, this fails.
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { MemoryMonitorTest, SessionStore } from "../src/index.ts"
import { makeSessionInfo } from "./fixtures/messages.ts"

const info = makeSessionInfo("ses_readme")

it.effect("an idle session leaves memory at the next sweep and reloads unchanged", () =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    yield* store.createSession(info)
    yield* store.getSession(info.id)
    yield* TestClock.adjust("30 seconds") // past inactiveTtl, and a sweep ran
    expect((yield* store.stats).evictions.inactive).toBe(1)
    expect(yield* store.getSession(info.id)).toStrictEqual(info)
    yield* MemoryMonitorTest.use((monitor) => monitor.set(0.95)) // a pressure spike
    yield* Effect.yieldNow
    expect((yield* store.memoryPressure).underPressure).toBe(true)
    expect((yield* store.stats).evictions.pressure).toBe(1)
  }).pipe(Effect.provide(SessionStore.layerTest)))
