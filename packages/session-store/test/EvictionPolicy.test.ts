/**
 * The eviction policy alone: pure and deterministic, driven as the ledger
 * drives it (slot numbers, bytes, idle times), so each spec states an order.
 */
import { assert, describe, it } from "@effect/vitest"
import {
  defaultTuning,
  EvictionPolicy,
  EXPIRY_RELIEF,
  FrequencySketch,
  hashId,
  MAX_SKETCH_WIDTH,
  NO_SLOT,
  VISIT_GAP_MS,
  VisitHistory
} from "../src/store/policy.ts"

const KB = 1_000

/** A policy with `sizes.length` slots admitted in order (slot n is session `ses_n`), `residents` counted as they come. */
const admitted = (sizes: ReadonlyArray<number>, tuning = defaultTuning) => {
  const policy = new EvictionPolicy(tuning)
  sizes.forEach((bytes, n) => policy.admitted(n, hashId(`ses_${n}`), bytes, n + 1))
  return policy
}

/** The order in which the slots would leave, `keep` never: pick, remove, repeat. */
const leavingOrder = (policy: EvictionPolicy, keep: number, bySize = true): Array<number> => {
  const out: Array<number> = []
  for (let n = policy.pick(keep, bySize); n !== NO_SLOT; n = policy.pick(keep, bySize)) {
    out.push(n)
    policy.removed(n)
  }
  return out
}

describe("EvictionPolicy", () => {
  it("sessions equal in size and visits leave in least-recently-used order; a use refreshes", () => {
    // Without the lifetime rate: with it, of two sessions visited once the one seen first has
    // the lower rate (the same visits over a longer life), so sessions of different ages are
    // not equals.
    const policy = admitted([10 * KB, 10 * KB, 10 * KB, 10 * KB], { ...defaultTuning, lifeShare: 0 })
    policy.used(0, 1_000) // within the visit: not a new visit, but the most recent use
    assert.deepStrictEqual(leavingOrder(policy, NO_SLOT), [1, 2, 3, 0])
  })

  it("sessions alike in size and visits leave in LRU order, though one was seen first (its lifetime rate a hair lower)", () => {
    const policy = admitted([10 * KB, 10 * KB, 10 * KB, 10 * KB])
    policy.used(0, 1_000) // the most recent use, within its one visit, the first of all
    // Without the tolerance of `pick` the first-seen session's slightly lower rate sent it third.
    assert.deepStrictEqual(leavingOrder(policy, NO_SLOT), [1, 2, 3, 0])
  })

  it("never picks `keep`, and says NO_SLOT when only `keep` is left", () => {
    const policy = admitted([10 * KB, 10 * KB])
    assert.deepStrictEqual(leavingOrder(policy, 1), [0])
    assert.strictEqual(policy.pick(1, true), NO_SLOT)
    assert.strictEqual(new EvictionPolicy().pick(NO_SLOT, true), NO_SLOT)
  })

  it("for the budget, a large session leaves before smaller ones used earlier (worth is per byte)", () => {
    // slot 0 and 1 small and older, slot 2 large and used last.
    const policy = admitted([20 * KB, 20 * KB, 2_000 * KB])
    assert.strictEqual(policy.pick(NO_SLOT, true), 2)
    // Capacity counts sessions, not bytes: there the oldest visit leaves first.
    assert.strictEqual(policy.pick(NO_SLOT, false), 0)
  })

  it("a session visited often outlasts sessions visited once since, though it was used before them (but not the newest two)", () => {
    const policy = new EvictionPolicy()
    const hot = hashId("ses_hot")
    policy.admitted(0, hot, 50 * KB, 1)
    for (let visit = 0; visit < 6; visit++) policy.used(0, VISIT_GAP_MS) // six more visits
    // A stream of once-visited sessions of the same size, each used after the hot one.
    for (let n = 1; n <= 8; n++) policy.admitted(n, hashId(`ses_${n}`), 50 * KB, n + 1)
    // Under LRU it would leave first; here all but the newest two of the stream go before it
    // (its seven visits in fifteen are a high lifetime rate, though they came while it was
    // alone, so its exposure counts at today's nine sessions), and the newest two, just
    // visited, stay longer (the recency guard).
    assert.deepStrictEqual(leavingOrder(policy, NO_SLOT), [1, 2, 3, 4, 5, 6, 0, 7, 8])
  })

  it("uses within the visit gap are one visit: a burst of operations does not make a session frequent", () => {
    const policy = new EvictionPolicy()
    const burst = hashId("ses_burst")
    policy.admitted(0, burst, 10 * KB, 1)
    for (let op = 0; op < 100; op++) policy.used(0, 800)
    assert.strictEqual(policy.sketch.estimate(burst), 1)
    policy.used(0, VISIT_GAP_MS)
    assert.strictEqual(policy.sketch.estimate(burst), 2)
  })

  it("the visits of a session survive its eviction: reloaded, it is recognised", () => {
    const policy = new EvictionPolicy()
    const id = hashId("ses_back")
    policy.admitted(0, id, 10 * KB, 1)
    policy.used(0, VISIT_GAP_MS)
    policy.removed(0)
    policy.admitted(3, id, 10 * KB, 1)
    assert.strictEqual(policy.sketch.estimate(id), 3)
  })

  it("a resize moves a session between size classes without losing it", () => {
    const policy = admitted([10 * KB, 10 * KB])
    policy.resized(0, 5_000 * KB)
    policy.resized(0, 10 * KB)
    policy.resized(1, 3_000 * KB)
    assert.deepStrictEqual(leavingOrder(policy, NO_SLOT), [1, 0])
  })

  it("is deterministic: the same calls give the same order", () => {
    const run = () => {
      const policy = new EvictionPolicy()
      for (let n = 0; n < 40; n++) policy.admitted(n, hashId(`ses_${n}`), ((n * 7919) % 97 + 1) * KB, n + 1)
      for (let n = 0; n < 40; n += 3) policy.used(n, (n % 2) * VISIT_GAP_MS)
      return leavingOrder(policy, 5)
    }
    assert.deepStrictEqual(run(), run())
  })

  it("an eviction that needs little room weighs bytes only up to a share of the resident bytes", () => {
    // A large session visited 30 times, then a 20 KB one and nine of 200 KB visited once each.
    const policy = new EvictionPolicy()
    policy.admitted(0, hashId("ses_hot"), 2_000 * KB, 1)
    for (let visit = 0; visit < 30; visit++) policy.used(0, VISIT_GAP_MS)
    for (let n = 1; n <= 10; n++) policy.admitted(n, hashId(`ses_${n}`), (n === 1 ? 20 : 200) * KB, n + 1)
    // Room for all of its bytes: worth per byte, the large one leaves.
    assert.strictEqual(policy.pick(NO_SLOT, true), 0)
    assert.strictEqual(policy.pick(NO_SLOT, true, 2_000 * KB), 0)
    // A few KB of room: its bytes past 15 % of the resident ones do not count, and its visits
    // keep it; below that share bytes still count, so a 200 KB session leaves before the
    // older 20 KB one.
    assert.strictEqual(policy.pick(NO_SLOT, true, 5 * KB), 2)
  })

  it("when expiries make the room, bytes weigh less; evictions bring them back", () => {
    const policy = new EvictionPolicy()
    policy.admitted(0, hashId("ses_hot"), 2_000 * KB, 1)
    for (let visit = 0; visit < 12; visit++) policy.used(0, VISIT_GAP_MS)
    for (let n = 1; n <= 12; n++) policy.admitted(n, hashId(`ses_${n}`), 100 * KB, n + 1)
    assert.strictEqual(policy.sizeExponent, 1)
    assert.strictEqual(policy.pick(NO_SLOT, true), 0)
    // Sessions leave by the time rules: the exponent falls to 1 - 0.7, and the small session
    // visited once leaves before the large one visited thirteen times.
    for (let n = 10; n <= 12; n++) policy.removed(n, true)
    assert.approximately(policy.sizeExponent, 1 - EXPIRY_RELIEF, 1e-9)
    assert.strictEqual(policy.pick(NO_SLOT, true), 1)
    // The picked slot's removal is an eviction: the exponent rises again. A removal that is
    // neither (a delete) changes nothing.
    policy.removed(1)
    const afterEviction = policy.sizeExponent
    assert.isAbove(afterEviction, 1 - EXPIRY_RELIEF)
    policy.removed(9)
    assert.strictEqual(policy.sizeExponent, afterEviction)
  })

  it("the visit gap is tunable (the ledger shortens it under a short inactivity limit)", () => {
    const policy = new EvictionPolicy({ ...defaultTuning, visitGapMs: 5_000 })
    const id = hashId("ses_a")
    policy.admitted(0, id, 10 * KB, 1)
    policy.used(0, 5_000)
    assert.strictEqual(policy.sketch.estimate(id), 2)
  })
})

describe("FrequencySketch", () => {
  it("never underestimates, and halves every count each period", () => {
    const sketch = new FrequencySketch()
    const ids = Array.from({ length: 50 }, (_, i) => hashId(`ses_${i}`))
    ids.forEach((h, i) => {
      for (let k = 0; k <= i % 5; k++) sketch.increment(h)
    })
    ids.forEach((h, i) => assert.isAtLeast(sketch.estimate(h), (i % 5) + 1))

    const fresh = new FrequencySketch()
    const hot = hashId("ses_hot")
    for (let k = 0; k < 10; k++) fresh.increment(hot)
    assert.strictEqual(fresh.estimate(hot), 10)
    // The period's last increment halves every count: 10 becomes 5.
    for (let k = 10; k < fresh.period; k++) fresh.increment(hashId(`other_${k}`))
    assert.strictEqual(fresh.estimate(hot), 5)
  })

  it("growing for more residents keeps every estimate, up to MAX_SKETCH_WIDTH", () => {
    const sketch = new FrequencySketch()
    const ids = Array.from({ length: 200 }, (_, i) => hashId(`ses_${i}`))
    for (const h of ids) sketch.increment(h)
    const before = ids.map((h) => sketch.estimate(h))
    sketch.fit(10_000)
    ids.forEach((h, i) => assert.isAtLeast(sketch.estimate(h), before[i]!))
    // The aging period follows the resident count; the width stops at MAX_SKETCH_WIDTH.
    sketch.fit(10_000_000)
    assert.strictEqual(sketch.period, 6 * 10_000_000)
    assert.strictEqual(sketch.width, MAX_SKETCH_WIDTH)
  })

  it("hashId is stable and spreads ids", () => {
    assert.strictEqual(hashId("ses_1"), hashId("ses_1"))
    const hashes = new Set(Array.from({ length: 1_000 }, (_, i) => hashId(`ses_${i}`)))
    assert.strictEqual(hashes.size, 1_000)
  })
})

describe("VisitHistory", () => {
  it("is a session's visits over its life, with a prior for one not held", () => {
    const history = new VisitHistory()
    const a = hashId("ses_a")
    history.visit(a, 1)
    history.visit(a, 5)
    // Two visits since clock 1: at 11, (2 + 1) / (10 + 10).
    assert.strictEqual(history.rate(a, 11, 1, 10), 3 / 20)
    assert.strictEqual(history.rate(hashId("ses_b"), 11, 1, 10), 1 / 10)
  })

  it("a full bucket gives up its lowest rate; growing for more residents keeps every entry", () => {
    const history = new VisitHistory()
    const hot = hashId("ses_hot")
    for (let k = 0; k < 50; k++) history.visit(hot, 1)
    // 2,000 sessions visited once into 1,024 entries: the hot one, visited most per visit, stays.
    const ids = Array.from({ length: 2_000 }, (_, i) => hashId(`ses_${i}`))
    ids.forEach((h, i) => history.visit(h, i + 2))
    // Held (a session not held has rate prior / age, 0 here), and of all the highest.
    const hotRate = history.rate(hot, 3_000, 0, 1)
    const before = ids.map((h) => history.rate(h, 3_000, 0, 1))
    assert.isAbove(hotRate, 0)
    assert.isAbove(hotRate, Math.max(...before))
    history.fit(10_000)
    assert.strictEqual(history.size, MAX_SKETCH_WIDTH)
    assert.strictEqual(history.rate(hot, 3_000, 0, 1), hotRate)
    ids.forEach((h, i) => assert.strictEqual(history.rate(h, 3_000, 0, 1), before[i]))
  })

  it("the population is the distinct sessions among the last `window` visits", () => {
    const history = new VisitHistory(10)
    for (let i = 0; i < 5; i++) history.visit(hashId(`ses_${i}`), i + 1)
    assert.strictEqual(history.population, 5)
    for (let i = 0; i < 10; i++) history.visit(hashId("ses_0"), 6 + i)
    assert.strictEqual(history.population, 1)
    history.visit(hashId("ses_1"), 16)
    assert.strictEqual(history.population, 2)
  })

  it("exposure is at today's population: visits earned against few sessions count for less", () => {
    const history = new VisitHistory(1_000)
    const early = hashId("ses_early")
    const late = hashId("ses_late")
    // The early session: 3 visits while alone (10 ticks), then 90 others arrive.
    history.visit(early, 1)
    history.visit(early, 5)
    history.visit(early, 10)
    for (let i = 0; i < 90; i++) history.visit(hashId(`ses_${i}`), 11 + i)
    // The late one: 3 visits over the last 10 ticks, among the 91.
    history.visit(late, 101)
    history.visit(late, 105)
    history.visit(late, 110)
    // Same visits, and the early one is older by the plain clock (so its plain rate is lower too),
    // but most of its ticks passed with nobody to compete with: far lower at today's population.
    const [e, l] = [history.rate(early, 110, 0, 1), history.rate(late, 110, 0, 1)]
    assert.isBelow(e, l)
    assert.isBelow(e, 3 / 110)
  })
})
