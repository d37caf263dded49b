import { execFile } from "node:child_process"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Fiber, Latch, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { message, messageId, seed, storeLayer } from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

const interval = testOptions.cleanupIntervalMs

describe("SessionStore: sweep", () => {
  it.effect("runs every cleanupInterval, first one interval after the layer is built", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* TestClock.adjust(interval - 1)
      assert.strictEqual((yield* store.stats).sweeps, 0)
      yield* TestClock.adjust(1)
      assert.strictEqual((yield* store.stats).sweeps, 1)
      yield* TestClock.adjust(3 * interval)
      assert.strictEqual((yield* store.stats).sweeps, 4)
    }).pipe(Effect.provide(storeLayer())))

  it.effect("the scheduled sweep drops what has expired and what is inactive; stats show it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(3)
      // Sweeps at 10 s, 20 s, … ; sessionTtl 60 s, inactiveTtl 20 s.
      yield* store.getSession("ses_1") // t = 0
      for (let t = 10_000; t <= 50_000; t += 10_000) {
        yield* TestClock.adjust(10_000)
        yield* store.getSession("ses_1") // always active, so only its time to live can end it
        if (t === 40_000) yield* store.getSession("ses_2")
      }
      yield* TestClock.adjust(10_000) // t = 60 s: ses_1 expired, ses_2 read 20 s ago
      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.expired, 1)
      assert.strictEqual(stats.evictions.inactive, 1)
      assert.strictEqual(stats.residentSessions, 0)
      assert.strictEqual(stats.residentBytes, 0)
      assert.strictEqual(stats.residentMessages, 0)
      assert.strictEqual(stats.sweeps, 6)
    }).pipe(Effect.provide(storeLayer())))

  it.effect("sweep on demand reports what it did", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(3, 2)
      // ses_1 is read every 15 s (never idle 20 s) but was loaded at 0: it expires at 60 s.
      yield* store.getSession("ses_1") // t = 0
      yield* TestClock.adjust(15_000)
      yield* store.getSession("ses_1") // t = 15 s
      yield* TestClock.adjust(15_000)
      yield* store.getSession("ses_1") // t = 30 s
      yield* store.getSession("ses_3") // t = 30 s: idle 30 s at 60 s, so inactive
      yield* TestClock.adjust(15_000)
      yield* store.getSession("ses_1") // t = 45 s
      yield* store.getSession("ses_2") // t = 45 s: idle 15 s at 60 s, stays
      yield* TestClock.adjust(10_000)
      yield* store.getSession("ses_1") // t = 55 s
      yield* TestClock.adjust(5_000) // t = 60 s
      assert.strictEqual((yield* store.stats).loads, 3)
      const report = yield* store.sweep
      assert.deepStrictEqual(report, {
        expired: 1,
        inactive: 1,
        residentSessions: 1,
        residentBytes: (yield* store.residents)[0]!.bytes
      })
      assert.deepStrictEqual((yield* store.residents).map((r) => r.id), ["ses_2"])
    }).pipe(Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000 }))))
})

describe("SessionStore: release", () => {
  it.effect("closing the layer stops the sweep: advancing the clock afterwards does nothing", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(storeLayer(), scope)
      const store = Context.get(context, SessionStore)
      yield* seed(1).pipe(Effect.provideContext(context))
      yield* store.getSession("ses_1")
      yield* TestClock.adjust(interval)
      assert.strictEqual((yield* store.stats).sweeps, 1)

      yield* Scope.close(scope, Exit.void)
      yield* TestClock.adjust(100 * interval)
      const stats = yield* store.stats
      assert.strictEqual(stats.sweeps, 1)
      // The session stays accounted as it was: nothing ran to drop it.
      assert.strictEqual(stats.residentSessions, 1)
    }))

  it.effect("closing the layer waits for the writes in flight, then refuses new ones", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(storeLayer(), scope)
      const store = Context.get(context, SessionStore)
      const controls = Context.get(context, RepositoryControls)
      const repository = Context.get(context, SessionRepository)
      yield* seed(1).pipe(Effect.provideContext(context))

      const latch = yield* Latch.make(false)
      controls.held.putMessage = latch
      const writer = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", messageId(1))))
      yield* Effect.yieldNow
      assert.strictEqual(controls.calls.putMessage, 1) // the write is inside storage, held

      const closer = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      assert.isUndefined(closer.pollUnsafe(), "release must wait for the write")

      yield* latch.open
      yield* Fiber.join(closer)
      const written = yield* Fiber.join(writer)
      assert.strictEqual(written.info.id, messageId(1))
      assert.strictEqual((yield* repository.getMessage("ses_1" as never, messageId(1) as never)).message.info.id, messageId(1))

      const late = yield* Effect.exit(store.appendMessage("ses_1", message("ses_1", messageId(2))))
      assert.isTrue(Exit.isFailure(late) && Cause.hasDies(late.cause))
    }))

  it("lets a process that built, used and released the store exit by itself", async () => {
    const fixture = fileURLToPath(new URL("./fixtures/session-store-release.ts", import.meta.url))
    // The fixture's sweep interval is an hour: if the sweep fiber, a lock or a
    // timer outlived the layer, the child would still be running when this guard kills it.
    const { stdout } = await promisify(execFile)(process.execPath, [fixture], { timeout: 20_000 })
    const stats = JSON.parse(stdout) as { hits: number; residentSessions: number }
    assert.isAbove(stats.hits, 0)
    assert.strictEqual(stats.residentSessions, 1)
  }, 30_000)
})
