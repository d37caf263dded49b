import type { SessionId } from "../domain/Ids.ts"
import type { SessionInfo } from "../domain/Session.ts"
import { type EvictionCause, evictionCauses, type StoreStats } from "./model.ts"
import { defaultTuning, EvictionPolicy, hashId, VISIT_GAP_MS } from "./policy.ts"
import type { ResidentSnapshot } from "./snapshot.ts"

/**
 * A resident session: what the Cache's lookup returns and the ledger
 * accounts. Writes swap `snapshot` under the session's lock; readers take
 * `slot.snapshot` once and work on that value. What a hit reads and writes
 * (last use, deadline, LRU links, the info) lives in the ledger's arrays, at
 * the slot's number.
 */
export interface Slot {
  readonly id: SessionId
  snapshot: ResidentSnapshot
  /** Clock millis at which the time to live ends (the load, or the write that allocated it, plus `sessionTtl`). */
  readonly expiresAt: number
  /**
   * The slot's number in the ledger while accounted; -1 before, and after a
   * removal of this one slot. Only the ledger sets it. A batch removal
   * leaves it as it was (writing it would visit every slot object), so
   * whether the slot is still accounted is {@link Ledger.holds}'s to say.
   */
  n: number
}

const noEvictions = (): Record<EvictionCause, number> =>
  Object.fromEntries(evictionCauses.map((cause) => [cause, 0])) as Record<EvictionCause, number>

/** No slot: the end of a list, or an id the ledger does not hold. */
export const NONE = -1

const ROW = 4
/** Entries of `refs` a slot number has: the slot, its info, its id. */
const REFS = 3

/** The most slots one of the sweep's batch removals takes out (`Ledger.removeIdle`, `removeExpired`). */
export const BATCH = 16
const LAST_READ = 0
const EXPIRES_AT = 1
const OLDER = 2
const NEWER = 3


/**
 * The store's accounting, and the authority on which sessions are resident
 * and in what order:
 *
 * - `index`, a `Map` from id to slot number, is in load order for free: a
 *   slot enters at its load and leaves with it (a reload enters again at the
 *   end), and every load gets the same time to live, so the front is where
 *   the expired ones are;
 * - a doubly linked list over slot numbers is in least-recently-used order:
 *   the front is where the idle ones are (the sweep's inactivity walk and
 *   memory pressure, which must shed fast, take from there);
 * - the eviction order for capacity and the budget is the policy's
 *   ({@link EvictionPolicy}, `policy.ts`): the resident session worth least
 *   per byte, by how often and how recently it is visited, leaves first
 *   (bytes weighing less when expiries make most of the room or the
 *   eviction needs little of it). Each removal tells the policy whether the
 *   time rules caused it.
 *
 * What a hit touches is kept by slot number in flat arrays (a `Float64Array`
 * row of last use, deadline and LRU links, and `refs`: the slot, its info and
 * its id side by side) rather than in each slot object: a hit then reads two
 * compact arrays instead of following pointers to objects scattered over the
 * heap, which among 100,000 resident sessions is most of what a hit costs. A
 * use relinks one number at the back: a few number writes, no allocation.
 * Numbers of evicted slots are reused. What a removal needs is there too (the
 * id, and in `sizes` the bytes and messages), not in the slot objects.
 *
 * Every total is adjusted by the difference a change makes, so it stays
 * exact without rescanning; the byte figures are the ones the repository
 * measured, never re-serialized.
 *
 * Invariant: `index`, `refs` and the list hold the same slots; `messages`
 * and `bytes` are the sums over them of their snapshots. Only `admit`,
 * `replace` and `remove` change them.
 */
export class Ledger {
  private readonly index = new Map<SessionId, number>()
  /** `REFS` entries per slot number: the slot, its info, its id; what a removal reads and clears is one cache line. */
  private readonly refs: Array<Slot | SessionInfo | SessionId | undefined> = []
  /** Two numbers per slot number: the accounted bytes and messages. */
  private sizes = new Float64Array(2 * 32)
  /** What `removeIdle` read ahead, kept (public, so it counts as read) lest the compiler drop those reads. */
  lookahead = 0
  /**
   * What the last batch removal took out: ids, and bytes and messages (two
   * numbers each). Not a callback per slot: a closure made per sweep, once
   * inlined, is embedded in optimized code that a collection freeing it discards.
   */
  readonly departedIds: Array<SessionId> = []
  readonly departedSizes = new Float64Array(2 * BATCH)
  /**
   * One row of `ROW` numbers per slot number: the last use and the deadline
   * (clock millis), then the less and the more recently used neighbours.
   * Together, so what a hit reads and writes of its own slot is one cache line.
   */
  private rows = new Float64Array(ROW * 32)
  private readonly free: Array<number> = []
  private leastRecent = NONE
  private mostRecent = NONE
  private messages = 0
  private bytes = 0
  private readonly policy: EvictionPolicy
  hits = 0
  misses = 0
  loads = 0
  loadFailures = 0
  sweeps = 0
  readonly evictions = noEvictions()

  /**
   * `inactiveTtlMs` bounds the policy's visit gap: a session idle longer
   * than the inactivity limit has left, so a gap longer than a quarter of it
   * would count no second visit at all.
   */
  constructor(inactiveTtlMs: number = Number.POSITIVE_INFINITY) {
    this.policy = new EvictionPolicy({ ...defaultTuning, visitGapMs: Math.min(VISIT_GAP_MS, inactiveTtlMs / 4) })
  }

  /** Accounted bytes of every resident slot. */
  get residentBytes(): number {
    return this.bytes
  }

  get residentMessages(): number {
    return this.messages
  }

  get residentSessions(): number {
    return this.index.size
  }

  /** The number of a session's resident slot, or `NONE`. Takes any string: only validated ids are ever resident. */
  find(id: string): number {
    return this.index.get(id as SessionId) ?? NONE
  }

  /** The resident slot of a session. */
  get(id: string): Slot | undefined {
    const n = this.index.get(id as SessionId)
    return n === undefined ? undefined : this.slotAt(n)
  }

  slotAt(n: number): Slot {
    return this.refs[REFS * n] as Slot
  }

  /** The session info of the resident slot numbered `n`. */
  infoAt(n: number): SessionInfo {
    return this.refs[REFS * n + 1] as SessionInfo
  }

  /** Clock millis of the last use of the resident slot numbered `n`. */
  lastReadAt(n: number): number {
    return this.rows[ROW * n + LAST_READ]!
  }

  /** Clock millis at which the time to live of the resident slot numbered `n` ends. */
  expiresAt(n: number): number {
    return this.rows[ROW * n + EXPIRES_AT]!
  }

  /** Whether `slot` is the one the ledger accounts for its session. */
  holds(slot: Slot): boolean {
    return slot.n !== NONE && this.refs[REFS * slot.n] === slot
  }

  /** The least recently used slot. */
  oldest(): Slot | undefined {
    return this.leastRecent === NONE ? undefined : this.slotAt(this.leastRecent)
  }

  /**
   * The slot to evict next, never `keep`: the policy's choice, worth least per byte for the budget
   * (`bySize`, with `need` the bytes the budget is short), per session for the capacity; among the
   * least recently used of each size class, so it costs a few dozen reads, not a walk over the set.
   */
  victim(keep: Slot, bySize: boolean, need?: number): Slot | undefined {
    const n = this.policy.pick(keep.n, bySize, need)
    return n === NONE ? undefined : this.slotAt(n)
  }

  /** The next more recently used slot after a resident one: read it before evicting `slot`, which unlinks it. */
  newer(slot: Slot): Slot | undefined {
    const next = this.rows[ROW * slot.n + NEWER]!
    return next === NONE ? undefined : this.slotAt(next)
  }

  /** The slot of the oldest load. */
  oldestLoad(): Slot | undefined {
    const n = this.index.values().next().value
    return n === undefined ? undefined : this.slotAt(n)
  }

  /** Slot numbers in load order, oldest first, live: what leaves meanwhile is skipped, what is admitted comes at the end. */
  loadOrder(): Iterator<number> {
    return this.index.values()
  }

  /** Slots from least to most recently used. A copy, so callers may evict while walking it. */
  ordered(): Array<Slot> {
    const out: Array<Slot> = []
    for (let n = this.leastRecent; n !== NONE; n = this.rows[ROW * n + NEWER]!) out.push(this.slotAt(n))
    return out
  }

  /**
   * Accounts a freshly loaded slot, used at `now`, as the most recently used
   * and the newest load. The caller has evicted any slot still accounted for
   * the same session.
   */
  admit(slot: Slot, now: number): void {
    const n = this.free.pop() ?? this.refs.length / REFS
    if (ROW * (n + 1) > this.rows.length) this.grow()
    this.refs[REFS * n] = slot
    this.refs[REFS * n + 1] = slot.snapshot.info
    this.refs[REFS * n + 2] = slot.id
    slot.n = n
    this.sizes[2 * n] = slot.snapshot.bytes
    this.sizes[2 * n + 1] = slot.snapshot.window.length
    this.index.set(slot.id, n)
    this.rows[ROW * n + LAST_READ] = now
    this.rows[ROW * n + EXPIRES_AT] = slot.expiresAt
    this.link(n)
    this.messages += slot.snapshot.window.length
    this.bytes += slot.snapshot.bytes
    this.policy.admitted(n, hashId(slot.id), slot.snapshot.bytes, this.index.size)
  }

  /**
   * A read served from the slot numbered `n`, or a write to it: it becomes
   * the most recently used. Its place in load order does not change.
   */
  touchAt(n: number, now: number): void {
    const idle = now - this.rows[ROW * n + LAST_READ]!
    this.rows[ROW * n + LAST_READ] = now
    this.policy.used(n, idle)
    if (n === this.mostRecent) return
    this.unlink(n)
    this.link(n)
  }

  /** `touchAt` for a slot the ledger holds. */
  touch(slot: Slot, now: number): void {
    this.touchAt(slot.n, now)
  }

  /** Swaps the snapshot of `slot`, keeping the totals exact. */
  replace(slot: Slot, next: ResidentSnapshot): void {
    if (this.holds(slot)) {
      this.messages += next.window.length - slot.snapshot.window.length
      this.bytes += next.bytes - slot.snapshot.bytes
      this.refs[REFS * slot.n + 1] = next.info
      this.sizes[2 * slot.n] = next.bytes
      this.sizes[2 * slot.n + 1] = next.window.length
      this.policy.resized(slot.n, next.bytes)
    }
    slot.snapshot = next
  }

  /** Takes `slot` out of the accounting with its cause. Returns false when it was not accounted. */
  remove(slot: Slot, cause: EvictionCause): boolean {
    if (!this.holds(slot)) return false
    const n = slot.n
    this.index.delete(slot.id)
    this.unlink(n)
    this.policy.removed(n, cause === "inactive" || cause === "expired")
    this.clear(n)
    slot.n = NONE
    this.messages -= slot.snapshot.window.length
    this.bytes -= slot.snapshot.bytes
    this.evictions[cause]++
    return true
  }

  /**
   * Takes out, with `cause`, the least recently used slots idle for at
   * least `idleMs` at `now`, at most `BATCH`; how many left (see
   * {@link departedIds}). The front of LRU order: the list loses it in one
   * cut. Each step first reads what the next one will need (its row, id
   * and sizes): those loads then miss the cache while this step works,
   * not one after the other (measured: a quarter less time a sweep).
   */
  removeIdle(now: number, idleMs: number, cause: EvictionCause): number {
    const rows = this.rows
    let n = this.leastRecent
    if (n === NONE || !(now - rows[ROW * n + LAST_READ]! >= idleMs)) return 0
    let k = 0
    let ahead = 0
    for (let more = true; more;) {
      const next = rows[ROW * n + NEWER]!
      more = next !== NONE && k + 1 < BATCH && now - rows[ROW * next + LAST_READ]! >= idleMs
      if (more) ahead += (this.refs[REFS * next + 2] as SessionId).length + this.sizes[2 * next]!
      this.take(n, k++, false)
      n = next
    }
    this.lookahead = ahead
    this.leastRecent = n
    if (n === NONE) this.mostRecent = NONE
    else rows[ROW * n + OLDER] = NONE
    this.evictions[cause] += k
    return k
  }

  /**
   * Takes out, with `cause`, the slots at the front of `loadOrder` (from
   * {@link loadOrder}) whose time to live is over at `now`, at most `BATCH`;
   * how many left (see {@link departedIds}). Fewer than `BATCH`: the front
   * now holds none (the entry that stays is consumed from the iterator).
   */
  removeExpired(loadOrder: Iterator<number>, now: number, cause: EvictionCause): number {
    let k = 0
    while (k < BATCH) {
      const next = loadOrder.next()
      if (next.done === true || now < this.rows[ROW * next.value + EXPIRES_AT]!) break
      this.take(next.value, k++, true)
    }
    this.evictions[cause] += k
    return k
  }

  /**
   * Takes number `n` out as the `k`th departure of a batch, for a time rule
   * (the sweep's causes, as the policy is told); `relink`: it leaves the LRU
   * list on its own (else the caller cuts the list). It reads the ledger's
   * arrays and the policy's, never the slot object.
   */
  private take(n: number, k: number, relink: boolean): void {
    const id = this.refs[REFS * n + 2] as SessionId
    this.index.delete(id)
    if (relink) this.unlink(n)
    this.policy.removed(n, true)
    this.clear(n)
    const bytes = this.sizes[2 * n]!
    const messages = this.sizes[2 * n + 1]!
    this.bytes -= bytes
    this.messages -= messages
    this.departedIds[k] = id
    this.departedSizes[2 * k] = bytes
    this.departedSizes[2 * k + 1] = messages
  }

  /** Number `n` holds no slot any more, and may be reused. */
  private clear(n: number): void {
    this.refs[REFS * n] = undefined
    this.refs[REFS * n + 1] = undefined
    this.refs[REFS * n + 2] = undefined
    this.free.push(n)
  }

  stats(): StoreStats {
    const reads = this.hits + this.misses
    return {
      hits: this.hits,
      misses: this.misses,
      loads: this.loads,
      loadFailures: this.loadFailures,
      evictions: { ...this.evictions },
      sweeps: this.sweeps,
      residentSessions: this.index.size,
      residentMessages: this.messages,
      residentBytes: this.bytes,
      hitRate: reads === 0 ? 0 : this.hits / reads
    }
  }

  /** Appends number `n` at the most recent end. */
  private link(n: number): void {
    const rows = this.rows
    rows[ROW * n + OLDER] = this.mostRecent
    rows[ROW * n + NEWER] = NONE
    if (this.mostRecent === NONE) this.leastRecent = n
    else rows[ROW * this.mostRecent + NEWER] = n
    this.mostRecent = n
  }

  private unlink(n: number): void {
    const rows = this.rows
    const older = rows[ROW * n + OLDER]!
    const newer = rows[ROW * n + NEWER]!
    if (older === NONE) this.leastRecent = newer
    else rows[ROW * older + NEWER] = newer
    if (newer === NONE) this.mostRecent = older
    else rows[ROW * newer + OLDER] = older
  }

  private grow(): void {
    const rows = new Float64Array(this.rows.length * 2)
    rows.set(this.rows)
    this.rows = rows
    const sizes = new Float64Array(this.sizes.length * 2)
    sizes.set(this.sizes)
    this.sizes = sizes
  }
}
