/**
 * The resident set's own mechanics, beside the behaviour the other specs pin:
 * the sweep walks only the fronts of load order and LRU order, so it must
 * still find exactly what a full scan would; and with more cold loads in
 * flight than `maxSessions` (the one case where the Cache's own capacity
 * rule can fire) the ledger stays bounded, exact and fresh.
 */
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Fiber, Latch, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type { SessionId } from "../src/domain/Ids.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { type ResidentSession, SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { message, messageId, seed, sessionInfo, storeLayer } from "./SessionStore.support.ts"
import { RepositoryControls } from "./support/instrumentedRepository.ts"

const noSweep = { cleanupIntervalMs: 1_000_000_000 }

type Step =
  | { readonly kind: "read" | "write"; readonly s: number }
  | { readonly kind: "advance"; readonly ms: number }
  | { readonly kind: "sweep" }

const SESSIONS = 4
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("read" as const), s: fc.nat(SESSIONS - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("write" as const), s: fc.nat(SESSIONS - 1) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("advance" as const), ms: fc.constantFrom(1_000, 5_000, 7_000, 13_000, 19_999, 45_000) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("sweep" as const) }) }
)

const isExpired = (r: ResidentSession, now: number) => now >= r.expiresAt
const isInactive = (r: ResidentSession, now: number) => now - r.lastRead >= testOptions.inactiveTtlMs

const sweepScenario = (steps: ReadonlyArray<Step>) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    yield* seed(SESSIONS)
    let written = 0
    for (const s of steps) {
      const id = `ses_${s.kind === "read" || s.kind === "write" ? s.s + 1 : 0}`
      switch (s.kind) {
        case "read":
          yield* store.getSession(id)
          break
        case "write":
          yield* store.appendMessage(id, message(id, messageId(++written)))
          break
        case "advance":
          yield* TestClock.adjust(s.ms)
          break
        case "sweep": {
          const now = yield* Clock.currentTimeMillis
          const before = yield* store.residents
          const report = yield* store.sweep
          const after = yield* store.residents
          // What a full scan finds, the walks from the fronts find too, and nothing else.
          const stays = before.filter((r) => !isExpired(r, now) && !isInactive(r, now))
          assert.deepStrictEqual(after.map((r) => r.id), stays.map((r) => r.id))
          assert.strictEqual(report.expired, before.filter((r) => isExpired(r, now)).length)
          assert.strictEqual(report.inactive, before.filter((r) => !isExpired(r, now) && isInactive(r, now)).length)
          assert.strictEqual(report.residentSessions, after.length)
          assert.strictEqual(report.residentBytes, after.reduce((n, r) => n + r.bytes, 0))
          break
        }
      }
    }
  })

describe("SessionStore: the resident set", () => {
  it("a sweep evicts exactly the expired and the inactive, walking only the fronts of load and LRU order", async () => {
    // Stays on fc.assert: its pinned regression case (`examples`) has no counterpart in it.effect.prop's options (runs, seed, replay).
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 80 }), (steps) =>
        Effect.runPromise(
          sweepScenario(steps).pipe(
            Effect.provide(storeLayer({ ...noSweep, maxSessions: 4 }).pipe(Layer.provideMerge(TestClock.layer())))
          )
        )),
      {
        numRuns: 400,
        // Loaded first but used last: expired at the front of load order, not of LRU order.
        examples: [[[
          { kind: "read", s: 0 },
          { kind: "advance", ms: 45_000 },
          { kind: "read", s: 1 },
          { kind: "advance", ms: 7_000 },
          { kind: "read", s: 0 },
          { kind: "advance", ms: 7_000 },
          { kind: "advance", ms: 1_000 },
          { kind: "sweep" }
        ]]]
      }
    )
  }, 60_000)

  it.effect("a sweep of thousands runs in slices: other fibers run between them, and what they read meanwhile stays", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      // Far more than a slice's time allows on any machine, so the sweep must yield.
      const count = 20_000
      const ids = Array.from({ length: count }, (_, i) => `ses_${i + 1}`)
      for (const id of ids) yield* store.createSession(sessionInfo(id))
      yield* TestClock.adjust(testOptions.inactiveTtlMs)
      // Reads one session, newest first, each time the sweep lets it run.
      const read: Array<string> = []
      const reader = yield* Effect.forkChild(Effect.forever(Effect.gen(function*() {
        const id = ids[count - 1 - read.length]!
        yield* store.getSession(id)
        read.push(id)
        yield* Effect.yieldNow
      })))
      yield* Effect.yieldNow
      const first = read.length
      const report = yield* store.sweep
      const residents = yield* store.residents
      const during = read.length - first
      yield* Fiber.interrupt(reader)

      assert.isAbove(during, 0, "the reader ran while the sweep did")
      // Read at the sweep's own `now`, they are active: no later slice evicts them; everyone else was inactive.
      assert.sameMembers(residents.map((r) => r.id), read)
      assert.strictEqual(report.residentSessions, read.length)
      assert.strictEqual(report.expired, 0)
      // Each session left once, inactive: by the sweep, or by its own read when that came first
      // (a read of a session resident but inactive drops it, then loads it again).
      const stats = yield* store.stats
      assert.strictEqual(stats.evictions.inactive, count)
      assert.isAtLeast(report.inactive, count - read.length)
      assert.strictEqual(stats.misses, read.length)
      assert.strictEqual(stats.hits, 0)
    }).pipe(Effect.provide(storeLayer({ ...noSweep, maxSessions: 20_000, maxBytes: 1024 * 1024 * 1024 }))), 120_000)

  it.effect("more cold loads in flight than maxSessions: the ledger stays bounded, exact and fresh", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      const repository = yield* SessionRepository
      const ids = yield* seed(8, 2)
      const latch = yield* Latch.make(false)
      controls.held.loadSession = latch
      const readers = yield* Effect.forkChild(
        Effect.all(ids.map((id) => store.getSession(id)), { concurrency: "unbounded" })
      )
      yield* Effect.yieldNow
      assert.strictEqual(controls.calls.loadSession, 8)
      yield* latch.open
      const infos = yield* Fiber.join(readers)
      // Every reader got its own session, though most could not stay.
      assert.deepStrictEqual(infos.map((info) => info.id), ids)

      const residents = yield* store.residents
      const stats = yield* store.stats
      assert.isAtMost(residents.length, testOptions.maxSessions)
      assert.strictEqual(stats.residentSessions, residents.length)
      assert.strictEqual(stats.residentBytes, residents.reduce((n, r) => n + r.bytes, 0))
      assert.strictEqual(stats.residentMessages, residents.reduce((n, r) => n + r.windowMessages, 0))
      assert.strictEqual(stats.evictions.capacity, 8 - residents.length)

      // Resident or not, every session serves what storage holds after a write.
      delete controls.held.loadSession
      for (const id of ids) {
        yield* store.appendMessage(id, message(id, messageId(3)))
        const stored = yield* repository.loadSession(id as SessionId, { newest: 10 })
        assert.deepStrictEqual(yield* store.getMessages(id), stored.messages.map((m) => m.message))
        assert.deepStrictEqual(yield* store.getSession(id), stored.info)
      }
      const after = yield* store.stats
      assert.isAtMost(after.residentSessions, testOptions.maxSessions)
    }).pipe(Effect.provide(storeLayer(noSweep))))
})
