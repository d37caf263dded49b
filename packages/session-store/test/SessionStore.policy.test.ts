/**
 * The store's eviction order as the store applies it (the policy alone is
 * specified in EvictionPolicy.test.ts): for the budget, worth per byte; for
 * the capacity, worth per session; visits, not operations, make a session
 * frequent. With the test options the inactivity limit is 20 s, so the visit
 * gap is a quarter of it, 5 s (see `Ledger`).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import { SessionStore } from "../src/store/SessionStore.ts"
import { residentIds, seed, sessionOf, storeLayer } from "./SessionStore.support.ts"

const noSweep = { cleanupIntervalMs: 1_000_000_000 }
const VISIT_GAP = 5_000

describe("SessionStore: eviction order", () => {
  it.effect("over maxBytes, a large session leaves before two small ones read before it: worth is per byte", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const small = yield* sessionOf("ses_1", "x".repeat(1_000))
      yield* sessionOf("ses_2", "x".repeat(1_000))
      const large = yield* sessionOf("ses_big", "x".repeat(20_000))
      yield* sessionOf("ses_3", "x".repeat(1_000))
      for (const id of ["ses_1", "ses_2", "ses_big"]) {
        yield* store.getSession(id)
        yield* TestClock.adjust(VISIT_GAP)
      }
      assert.strictEqual((yield* store.stats).residentBytes, 2 * small + large)
      // One more small session does not fit: LRU would drop ses_1; the store drops ses_big.
      yield* store.getSession("ses_3")
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_2", "ses_3"])
      assert.strictEqual((yield* store.stats).evictions.budget, 1)
    }).pipe(Effect.provide(storeLayer({ ...noSweep, maxSessions: 50, maxBytes: 2 * 1_200 + 21_000 }))))

  it.effect("past maxSessions, a session visited often outlasts one read once after it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(4)
      // ses_1: eight visits, a gap apart; then ses_2 and ses_3 once each.
      for (let visit = 0; visit < 8; visit++) {
        yield* store.getSession("ses_1")
        yield* TestClock.adjust(VISIT_GAP)
      }
      yield* store.getSession("ses_2")
      yield* TestClock.adjust(VISIT_GAP)
      yield* store.getSession("ses_3")
      yield* TestClock.adjust(VISIT_GAP)
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_2", "ses_3"])
      // LRU would drop ses_1, the least recently read; its visits keep it.
      yield* store.getSession("ses_4")
      assert.deepStrictEqual(yield* residentIds, ["ses_1", "ses_3", "ses_4"])
      assert.strictEqual((yield* store.stats).evictions.capacity, 1)
    }).pipe(Effect.provide(storeLayer(noSweep))))

  it.effect("reads within one visit do not make a session frequent: it leaves as LRU would have it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      yield* seed(4)
      // Ten reads of ses_1 in one burst (no time passes): one visit.
      for (let read = 0; read < 10; read++) yield* store.getSession("ses_1")
      yield* TestClock.adjust(VISIT_GAP)
      yield* store.getSession("ses_2")
      yield* TestClock.adjust(VISIT_GAP)
      yield* store.getSession("ses_3")
      yield* TestClock.adjust(VISIT_GAP)
      yield* store.getSession("ses_4")
      assert.deepStrictEqual(yield* residentIds, ["ses_2", "ses_3", "ses_4"])
    }).pipe(Effect.provide(storeLayer(noSweep))))
})
