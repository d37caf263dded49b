/**
 * The frequency half of the eviction policy (`policy.ts`): a count-min
 * sketch of visits keyed by the hash of a session id, in bounded memory,
 * aged by halving, and a bounded history of each session's visits since its
 * first (its lifetime rate). Re-exported by `policy.ts`.
 */

/**
 * Visits per resident session between two halvings, unless tuned otherwise:
 * with the steadier lifetime rate beside it the sketch can follow change
 * sooner (6, was 8).
 */
export const PERIOD_PER_RESIDENT = 6

/** Widest sketch row (counters); 4 rows of 16-bit counters, 512 KB at most. */
export const MAX_SKETCH_WIDTH = 1 << 16

const MIN_SKETCH_WIDTH = 256
const ROWS = 4
const MAX_COUNT = 0xffff
// Fewest visits between two halvings of the counts, however few are resident.
const MIN_PERIOD = 256

// The sketch: ROWS counters per key, one in each GROUP-sized group of one BLOCK.
const GROUP = 4
const BLOCK = ROWS * GROUP
const SEED = 0x9e3779b1
/** Which counter of each group a key uses: two bits per row, from a second mix of the hash. */
const select = (hash: number): number => Math.imul(hash ^ 0x85ebca77, 0xc2b2ae3d) >>> 24

/**
 * A 32-bit FNV-1a hash of a session id: the sketch's key.
 *
 * @example
 * ```ts
 * hashId("ses_abc") === hashId("ses_abc") // true
 * ```
 */
export const hashId = (id: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * A count-min sketch of visits: four rows of 16-bit counters, incremented
 * conservatively (only the rows at the minimum), halved every `period`
 * increments. An estimate is never below the true (halved) count.
 *
 * @example
 * ```ts
 * const sketch = new FrequencySketch()
 * sketch.increment(hashId("ses_a"))
 * sketch.estimate(hashId("ses_a")) // 1
 * ```
 */
export class FrequencySketch {
  // Blocks of BLOCK counters, ROWS groups of BLOCK / ROWS each: a key's four counters share one
  // block, so a visit costs one cache miss on the table, not four.
  private table = new Uint16Array(BLOCK * (MIN_SKETCH_WIDTH / GROUP))
  private blocks = MIN_SKETCH_WIDTH / GROUP
  private shift = 32 - Math.log2(MIN_SKETCH_WIDTH / GROUP)
  private additions = 0
  /** Increments between two halvings. */
  period = MIN_PERIOD
  /** Visits per resident session between two halvings. */
  perResident = PERIOD_PER_RESIDENT

  /** Counters per row. */
  get width(): number {
    return this.blocks * GROUP
  }

  /** The estimated (aged) count of `hash`. */
  estimate(hash: number): number {
    const base = this.base(hash)
    const pick = select(hash)
    let min = MAX_COUNT
    for (let r = 0; r < ROWS; r++) {
      const c = this.table[base + r * GROUP + ((pick >>> (2 * r)) & (GROUP - 1))]!
      if (c < min) min = c
    }
    return min
  }

  /** Counts one visit of `hash`; every `period` visits, every count is halved. */
  increment(hash: number): void {
    const min = this.estimate(hash)
    if (min < MAX_COUNT) {
      const base = this.base(hash)
      const pick = select(hash)
      for (let r = 0; r < ROWS; r++) {
        const i = base + r * GROUP + ((pick >>> (2 * r)) & (GROUP - 1))
        if (this.table[i] === min) this.table[i] = min + 1
      }
    }
    if (++this.additions >= this.period) this.age()
  }

  /**
   * Sizes the sketch for `residents` sessions: the width doubles (each
   * block copied to the two it splits into, so no estimate drops) up to
   * `MAX_SKETCH_WIDTH`, and the aging period follows the resident count.
   */
  fit(residents: number): void {
    while (this.width < MAX_SKETCH_WIDTH && this.width < 4 * residents) {
      const table = new Uint16Array(this.table.length * 2)
      // A block is the top bits of the mixed hash: one more bit splits block i into 2i and 2i + 1.
      for (let b = 0; b < this.blocks; b++) {
        const block = this.table.subarray(b * BLOCK, (b + 1) * BLOCK)
        table.set(block, 2 * b * BLOCK)
        table.set(block, (2 * b + 1) * BLOCK)
      }
      this.table = table
      this.blocks *= 2
      this.shift--
    }
    this.period = Math.max(MIN_PERIOD, this.perResident * residents)
  }

  private base(hash: number): number {
    return (Math.imul(hash ^ SEED, 0x2c1b3c6d) >>> this.shift) * BLOCK
  }

  private age(): void {
    this.additions = 0
    const table = this.table
    for (let i = 0; i < table.length; i++) table[i] = table[i]! >>> 1
  }
}

// The history: WAYS entries per bucket, at least MIN_HISTORY entries, HISTORY_PER_RESIDENT per resident.
const WAYS = 4
const MIN_HISTORY = 1_024
const HISTORY_PER_RESIDENT = 16

/**
 * Visits over which the history counts the sessions competing for visits
 * (the distinct sessions among the last this many visits), unless tuned
 * otherwise.
 */
export const POPULATION_WINDOW = 1_000

/**
 * Each session's visits since it was first seen, and how much visiting
 * there was to go round since then, for the sessions visited most lately
 * per visit: a visit rate over the session's whole life, where the sketch
 * counts only the last period or two. Bounded: `WAYS`-way buckets keyed by
 * the id's hash, sized like the sketch by the resident count (up to
 * `MAX_SKETCH_WIDTH` entries); a session new to a full bucket takes the
 * place of the entry of lowest rate.
 *
 * **Exposure, not age.** A session's share of the visits depends on how
 * many sessions compete for them, and that number changes: sessions are
 * created all the time. Counted per tick of the visit clock, a session
 * seen first when a dozen others were in use earned its visits against a
 * dozen, one seen first among a hundred against a hundred; the first looks
 * popular for being old. So the history keeps a second clock that runs at
 * `1 / population` per tick, `population` the distinct sessions among the
 * last `window` visits (a ring of their hashes), and a session's exposure
 * is that clock's advance since its first visit, times the population now:
 * ticks of the visit clock at today's competition. With the population
 * steady it is the plain age.
 *
 * @example
 * ```ts
 * const history = new VisitHistory()
 * history.visit(hashId("ses_a"), 1)
 * history.rate(hashId("ses_a"), 11, 1, 0) // (1 + 1) / 10
 * ```
 */
export class VisitHistory {
  // Per entry: the full hash (0 with no visits), visits, the exposure clock at the first and
  // the number of the last visit (its place in the ring while within the window).
  private hashes = new Uint32Array(MIN_HISTORY)
  private visits = new Float64Array(MIN_HISTORY)
  private firsts = new Float64Array(MIN_HISTORY)
  private lasts = new Float64Array(MIN_HISTORY)
  private shift = 32 - Math.log2(MIN_HISTORY / WAYS)
  // The hashes of the last `window` visits (visit number modulo window), and the visits so far.
  private readonly ring: Uint32Array
  private seen = 0
  // Distinct sessions among the last `window` visits.
  private active = 0
  // The exposure clock (visit-clock ticks over the population), as of visit-clock `now`.
  private exposure = 0
  private now = 0

  constructor(window: number = POPULATION_WINDOW) {
    this.ring = new Uint32Array(Math.max(1, Math.round(window)))
  }

  /** Entries held. */
  get size(): number {
    return this.hashes.length
  }

  /** The distinct sessions among the last `window` visits (at least 1). */
  get population(): number {
    return Math.max(1, this.active)
  }

  /** Counts a visit of `hash` at visit clock `clock`. */
  visit(hash: number, clock: number): void {
    if (clock > this.now) {
      this.exposure += (clock - this.now) / this.population
      this.now = clock
    }
    const window = this.ring.length
    const n = this.seen++
    const slot = n % window
    // The visit leaving the window: its session leaves the population if that was its last.
    if (n >= window) {
      const gone = this.find(this.ring[slot]!)
      if (gone >= 0 && this.lasts[gone] === n - window) this.active--
    }
    this.ring[slot] = hash
    const base = this.bucket(hash)
    let lowest = base
    for (let i = base; i < base + WAYS; i++) {
      if (this.visits[i]! > 0 && this.hashes[i] === hash) {
        if (this.lasts[i]! < n - window + 1) this.active++
        this.visits[i]!++
        this.lasts[i] = n
        return
      }
      if (this.worse(i, lowest)) lowest = i
    }
    // The entry given up: its session, if in the window, is no longer known to be.
    if (this.visits[lowest]! > 0 && this.lasts[lowest]! >= n - window + 1) this.active--
    this.active++
    this.hashes[lowest] = hash
    this.visits[lowest] = 1
    this.firsts[lowest] = this.exposure
    this.lasts[lowest] = n
  }

  /**
   * The visit rate of `hash` at `clock`: `(visits + prior) / (exposure since
   * its first + age)`, exposure in visit-clock ticks at the population now
   * (see the class), and `prior / age` for a session not held.
   */
  rate(hash: number, clock: number, prior: number, age: number): number {
    const i = this.find(hash)
    if (i < 0) return prior / age
    const exposure = this.exposure + Math.max(0, clock - this.now) / this.population - this.firsts[i]!
    return (this.visits[i]! + prior) / (exposure * this.population + age)
  }

  /** Sizes the history for `residents` sessions: it doubles (every entry kept) up to `MAX_SKETCH_WIDTH` entries. */
  fit(residents: number): void {
    while (this.hashes.length < MAX_SKETCH_WIDTH && this.hashes.length < HISTORY_PER_RESIDENT * residents) {
      const [hashes, visits, firsts, lasts] = [this.hashes, this.visits, this.firsts, this.lasts]
      this.hashes = new Uint32Array(hashes.length * 2)
      this.visits = new Float64Array(hashes.length * 2)
      this.firsts = new Float64Array(hashes.length * 2)
      this.lasts = new Float64Array(hashes.length * 2)
      this.shift--
      // One more bit of the hash splits each bucket in two: no bucket overflows.
      const fill = new Uint8Array(this.hashes.length / WAYS)
      for (let i = 0; i < hashes.length; i++) {
        if (visits[i] === 0) continue
        const b = this.bucket(hashes[i]!)
        const at = b + fill[b / WAYS]!++
        this.hashes[at] = hashes[i]!
        this.visits[at] = visits[i]!
        this.firsts[at] = firsts[i]!
        this.lasts[at] = lasts[i]!
      }
    }
  }

  // The entry of `hash`, or -1.
  private find(hash: number): number {
    const base = this.bucket(hash)
    for (let i = base; i < base + WAYS; i++) if (this.visits[i]! > 0 && this.hashes[i] === hash) return i
    return -1
  }

  private bucket(hash: number): number {
    return (Math.imul(hash ^ SEED, 0x2c1b3c6d) >>> this.shift) * WAYS
  }

  // Entry i is a better place for a newcomer than entry j: empty, or of a lower rate (visits per exposure since first).
  private worse(i: number, j: number): boolean {
    if (this.visits[j] === 0) return false
    if (this.visits[i] === 0) return true
    const tick = 1 / this.population
    return this.visits[i]! * (this.exposure - this.firsts[j]! + tick) < this.visits[j]! * (this.exposure - this.firsts[i]! + tick)
  }
}
