/**
 * The store's eviction order, as a pure policy over slot numbers: which
 * resident session leaves first when the byte budget, the session capacity
 * or memory pressure asks for room.
 *
 * Plain LRU keeps the sessions used last. On opencode's traffic that loses
 * in two ways: sessions differ in size by three orders of magnitude (a few
 * KB to several MB), so one large session that will not be read again
 * pushes out dozens of small ones that will; and the sessions a user comes
 * back to after hours are the ones used often, which LRU has dropped by then
 * behind a stream of sessions used once. So each resident session is worth
 *
 *     (how often it is visited + how recently) / its bytes ^ e
 *
 * and the least worth leaves first, chosen among the `CANDIDATES` least
 * recently used of each size class (a power of two of bytes):
 *
 * - **visits, not operations.** A visit (a turn, a browse) is dozens of
 *   operations a second apart; counted one by one they would rank sessions by
 *   how long their turns are. A use counts as a visit when the session was
 *   idle for at least `VISIT_GAP_MS` (the "correlated reference period" of
 *   LRU-K), and a load always does.
 * - **frequency** is a count-min sketch of visits keyed by the session id's
 *   hash (`sketch.ts`), so it survives eviction (a session read again after
 *   hours is recognised) in bounded memory; every `period` visits all counts
 *   are halved, so popularity that has passed fades (TinyLFU's aging).
 *   Mixed in (`lifeShare`) is the session's **lifetime rate**, its visits
 *   over the visits since its first (`VisitHistory`, bounded too): a count
 *   of the last period or two is a handful of visits for all but the
 *   hottest sessions, and halving cuts it in two at once, so on its own it
 *   ranks a session that has been popular for days barely above one seen
 *   twice. The rate is steadier, and a young session is judged by its
 *   visits per visit of its short life, not per period. Its denominator is
 *   the session's **exposure**, not its age: the visit clock's ticks since
 *   its first visit, each weighed by the population then over the
 *   population now (the distinct sessions among the last
 *   `populationWindow` visits). Sessions keep being created, so a session
 *   first seen among a dozen earned its early visits against a dozen; per
 *   plain tick it looks more popular than one as popular seen first among a
 *   hundred (on the soak's replay, 8 MB: 76.2 → 76.8 %; the plain Zipf
 *   control, where sessions are discovered as they are drawn, gains at
 *   every budget). With the population steady exposure is the age. It weighs as much
 *   as evictions make the room: when expiries make it, a session long
 *   popular may still be about to expire idle, so the share falls with the
 *   expiry share (below).
 * - **recency** falls with the number of visits (to any session) since the
 *   session's own last use: a session just used is worth keeping before it
 *   has any count, the recency guard a frequency filter needs on bursty
 *   traffic where the hot set drifts. Nothing is refused admission: a
 *   read-through store holds what is read, and writes allocate.
 * - **bytes weigh as much as the room is worth.** Per byte is right when
 *   every byte freed is soon used by sessions that would otherwise miss.
 *   Two cases where it is not, measured on the soak's replay:
 *   - *the time rules make the room.* When most bytes leave by expiry (idle
 *     4 h, loaded 24 h), room comes free anyway and evicting a large session
 *     buys little; the exponent `e` is `1 - EXPIRY_RELIEF × share`, `share`
 *     the bytes that left lately by expiry over those that left by expiry or
 *     eviction (an exponential average over departures, so it follows the
 *     traffic). With evictions only, `e` is 1.
 *   - *the eviction needs little room.* A write that grows a session by a
 *     few KB asks for a few KB; evicting a 3 MB session for it leaves most of
 *     the freed bytes idle until the next load, and a session that large is
 *     large because it is visited often: it comes straight back. So bytes
 *     past `max(need, ROOM_SHARE × resident bytes)` do not count: among
 *     sessions larger than that, their visits decide.
 * - **the candidates** are the least recently used of each size class, not
 *   of all slots: the slot worth least per byte is nearly always among the
 *   oldest of its class, and a large session that will not be read again is
 *   found without walking past the many small ones used before it. Of
 *   equals (same worth), the least recently used leaves: with sessions alike
 *   in size and visits the order is LRU's.
 *
 * Cost: a hit does a subtraction, a comparison and a relink in its class
 * list (a few typed-array writes, no allocation); a visit (at most one per
 * session per `VISIT_GAP_MS`) adds four counter increments and two probes of
 * the history's four-entry buckets (its own, and that of the visit leaving
 * the population window); a departure two
 * multiply-adds; an eviction weighs at most `CANDIDATES` slots per non-empty
 * class (an `exp` each). Memory: a few numbers per slot, the sketch and the
 * history, whose sizes follow the resident count up to `MAX_SKETCH_WIDTH`,
 * and the history's ring of the last `populationWindow` visits' hashes; halving
 * it every `period` visits is amortized to a few counter writes per visit.
 *
 * Deterministic: no randomness, no clock of its own; the same calls give the
 * same order, so the offline replay of the soak (`hitRate.ts` in the cli)
 * runs this module and measures what the store does.
 */

import { FrequencySketch, VisitHistory } from "./sketch.ts"
import { defaultTuning, type Tuning } from "./tuning.ts"

export { FrequencySketch, hashId, MAX_SKETCH_WIDTH, POPULATION_WINDOW, VisitHistory } from "./sketch.ts"
export { CANDIDATES, defaultTuning, EXPIRY_RELIEF, ROOM_SHARE, type Tuning, VISIT_GAP_MS } from "./tuning.ts"

/** No slot: the end of a list, or nothing to evict. */
export const NO_SLOT = -1

/** Worths this close (relative) are estimates too close to tell apart: the less recently used leaves. */
const ALIKE = 0.01

// Size classes: powers of two of bytes, 1 B to 2^52 B.
const CLASSES = 53
const sizeClass = (bytes: number): number => (bytes < 2 ? 0 : Math.min(CLASSES - 1, Math.floor(Math.log2(bytes))))

const ROW = 8
const [VISIT, USED, BYTES, CLASS, HASH, OLDER, NEWER, LOG_BYTES] = [0, 1, 2, 3, 4, 5, 6, 7] as const
const RECENCY_TABLE = 4_096

/**
 * The policy's state for a host that numbers its resident slots (the
 * store's ledger, or the offline replay): per slot number its bytes, size
 * class, the visit clock of its last visit, its id's hash and its links in
 * its size class's list, plus the sketch, the global visit clock, the
 * resident bytes and the bytes that left lately by expiry and by eviction.
 *
 * The candidates of an eviction are the `candidates` least recently used
 * of each size class (a power of two of bytes), not of all slots: the slot
 * worth least per byte is nearly always among the oldest of its class, and
 * a large session that will not be read again is found without walking past
 * the many small ones used before it.
 *
 * @example
 * ```ts
 * const policy = new EvictionPolicy()
 * policy.admitted(0, hashId("ses_a"), 2_000, 1)
 * policy.used(0, 5_000) // same visit: nothing counted
 * policy.pick(NO_SLOT, true) // 0
 * policy.pick(NO_SLOT, true, 500) // 0: the budget is 500 bytes short
 * policy.removed(0, true) // it expired: bytes weigh less from now on
 * ```
 */
export class EvictionPolicy {
  /** One row of `ROW` numbers per slot (see the column names): what a hit touches of a slot is one cache line. */
  private rows = new Float64Array(ROW * 64)
  private uses = 0
  // Per size class: its least and most recently visited slot.
  private readonly oldest = new Int32Array(CLASSES).fill(NO_SLOT)
  private readonly newest = new Int32Array(CLASSES).fill(NO_SLOT)
  private clock = 0
  readonly sketch = new FrequencySketch()
  readonly history: VisitHistory
  private readonly tuning: Tuning
  private readonly recencyOf: Float64Array
  // The slot `pick` chose last: its removal is an eviction.
  private picked = NO_SLOT
  // Bytes that left lately by expiry and by eviction (exponential averages over departures).
  private expiredBytes = 0
  private evictedBytes = 0
  private residentBytes = 0

  constructor(tuning: Tuning = defaultTuning) {
    this.tuning = tuning
    this.sketch.perResident = tuning.periodPerResident
    this.history = new VisitHistory(tuning.populationWindow)
    // The recency term by visits since, tabulated: an eviction weighs dozens of slots.
    this.recencyOf = Float64Array.from({ length: RECENCY_TABLE }, (_, d) => tuning.recency * Math.pow(d + 1, -tuning.recencyExponent))
  }

  /** Slot `n` now holds a freshly loaded or created session of `bytes` (`residents` resident, it included): a visit. */
  admitted(n: number, hash: number, bytes: number, residents: number): void {
    if (ROW * (n + 1) > this.rows.length) this.grow(n)
    const at = ROW * n
    this.rows[at + HASH] = hash
    this.residentBytes += bytes
    this.rows[at + BYTES] = bytes
    this.rows[at + LOG_BYTES] = Math.log(Math.max(1, bytes))
    this.rows[at + CLASS] = sizeClass(bytes)
    this.rows[at + USED] = ++this.uses
    this.link(n)
    this.sketch.fit(residents)
    this.history.fit(residents)
    this.rows[at + VISIT] = ++this.clock
    this.sketch.increment(hash)
    this.history.visit(hash, this.clock)
  }

  /**
   * Slot `n` is used again (a hit, a write) after `idleMs` without use. Within
   * a visit that is two number writes; a new visit also counts in the sketch
   * and makes the slot the most recently visited of its class.
   */
  used(n: number, idleMs: number): void {
    const at = ROW * n
    this.rows[at + USED] = ++this.uses
    if (idleMs < this.tuning.visitGapMs) {
      this.rows[at + VISIT] = this.clock
      return
    }
    this.rows[at + VISIT] = ++this.clock
    this.sketch.increment(this.rows[at + HASH]!)
    this.history.visit(this.rows[at + HASH]!, this.clock)
    if (this.newest[this.rows[at + CLASS]!] === n) return
    this.unlink(n)
    this.link(n)
  }

  /** Slot `n` now accounts `bytes` (a write changed it); its recency is the caller's to say with `used`. */
  resized(n: number, bytes: number): void {
    const at = ROW * n
    this.residentBytes += bytes - this.rows[at + BYTES]!
    this.rows[at + BYTES] = bytes
    this.rows[at + LOG_BYTES] = Math.log(Math.max(1, bytes))
    const c = sizeClass(bytes)
    if (c === this.rows[at + CLASS]) return
    this.unlink(n)
    this.rows[at + CLASS] = c
    this.link(n)
  }

  /**
   * Slot `n` is no longer resident; its number may be reused. The sketch
   * keeps its visits. `expired`: it left by the time rules (inactivity or
   * time to live); removing the slot `pick` chose is an eviction. Both
   * count towards the share of expiries that sets the size exponent.
   */
  removed(n: number, expired = false): void {
    if (expired || n === this.picked) {
      const memory = this.tuning.departureMemory
      const bytes = this.rows[ROW * n + BYTES]!
      this.expiredBytes = memory * this.expiredBytes + (expired ? bytes : 0)
      this.evictedBytes = memory * this.evictedBytes + (expired ? 0 : bytes)
    }
    if (n === this.picked) this.picked = NO_SLOT
    this.residentBytes -= this.rows[ROW * n + BYTES]!
    this.unlink(n)
  }

  /**
   * The exponent of bytes in worth per byte: 1 when evictions make all the
   * room, down to `1 - expiryRelief` when expiries do.
   */
  get sizeExponent(): number {
    const total = this.expiredBytes + this.evictedBytes
    return 1 - (total > 0 ? (this.tuning.expiryRelief * this.expiredBytes) / total : 0)
  }

  /** The share of the frequency that is the lifetime rate: `lifeShare` times the share of departures that are evictions. */
  get lifeShare(): number {
    const total = this.expiredBytes + this.evictedBytes
    return this.tuning.lifeShare * (total > 0 ? this.evictedBytes / total : 1)
  }

  /**
   * What keeping slot `n` is worth: visits expected, per `bytes ^
   * sizeExponent` when `bySize` (capacity counts sessions, not bytes), its
   * bytes counted up to `e ^ logBytesCap`.
   */
  worth(n: number, bySize: boolean, sizeExponent = this.sizeExponent, logBytesCap = Infinity, lifeShare = this.lifeShare): number {
    const at = ROW * n
    const t = this.tuning
    const hash = this.rows[at + HASH]!
    const recent = (this.sketch.estimate(hash) + t.prior) / this.sketch.period
    const frequency = lifeShare === 0
      ? recent
      : (1 - lifeShare) * recent + lifeShare * t.lifeScale * this.history.rate(hash, this.clock, t.lifePrior, t.lifeAge)
    const since = this.clock - this.rows[at + VISIT]!
    const recency = since < RECENCY_TABLE
      ? this.recencyOf[since]!
      : this.tuning.recency * Math.pow(since + 1, -this.tuning.recencyExponent)
    return bySize
      ? (frequency + recency) * Math.exp(-sizeExponent * Math.min(logBytesCap, this.rows[at + LOG_BYTES]!))
      : frequency + recency
  }

  /**
   * The slot to evict, other than `keep`: of the `candidates` least recently
   * visited of each size class, the one worth least (per `bytes ^
   * sizeExponent` when `bySize`, its bytes counted up to `max(need,
   * roomShare × resident bytes)` when the eviction is to free `need` bytes);
   * of equals, the least recently used. `NO_SLOT` when none is resident but `keep`.
   */
  pick(keep: number, bySize: boolean, need = Number.POSITIVE_INFINITY): number {
    let best = NO_SLOT
    let least = Number.POSITIVE_INFINITY
    const limit = this.tuning.candidates
    const rows = this.rows
    const exponent = this.sizeExponent
    const lifeShare = this.lifeShare
    const cap = Math.log(Math.max(1, need, this.tuning.roomShare * this.residentBytes))
    for (let c = 0; c < CLASSES; c++) {
      let seen = 0
      for (let n = this.oldest[c]!; n !== NO_SLOT && seen < limit; n = rows[ROW * n + NEWER]!) {
        if (n === keep) continue
        seen++
        const w = this.worth(n, bySize, exponent, cap, lifeShare)
        // Within ALIKE the less recently used goes first: sessions alike leave in LRU order.
        if (w < least * (1 - ALIKE) || (w <= least * (1 + ALIKE) && rows[ROW * n + USED]! < rows[ROW * best + USED]!)) {
          least = w
          best = n
        }
      }
    }
    this.picked = best
    return best
  }

  /** Appends `n` at the most recent end of its class. */
  private link(n: number): void {
    const rows = this.rows
    const c = rows[ROW * n + CLASS]!
    const last = this.newest[c]!
    rows[ROW * n + OLDER] = last
    rows[ROW * n + NEWER] = NO_SLOT
    if (last === NO_SLOT) this.oldest[c] = n
    else rows[ROW * last + NEWER] = n
    this.newest[c] = n
  }

  private unlink(n: number): void {
    const rows = this.rows
    const c = rows[ROW * n + CLASS]!
    const before = rows[ROW * n + OLDER]!
    const after = rows[ROW * n + NEWER]!
    if (before === NO_SLOT) this.oldest[c] = after
    else rows[ROW * before + NEWER] = after
    if (after === NO_SLOT) this.newest[c] = before
    else rows[ROW * after + OLDER] = before
  }

  private grow(n: number): void {
    let size = this.rows.length
    while (size < ROW * (n + 1)) size *= 2
    const rows = new Float64Array(size)
    rows.set(this.rows)
    this.rows = rows
  }
}
