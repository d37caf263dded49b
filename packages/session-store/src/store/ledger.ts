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
  /** The slot's number in the ledger while accounted, -1 otherwise. Only the ledger sets it. */
  n: number
}

const noEvictions = (): Record<EvictionCause, number> =>
  Object.fromEntries(evictionCauses.map((cause) => [cause, 0])) as Record<EvictionCause, number>

/** No slot: the end of a list, or an id the ledger does not hold. */
export const NONE = -1

const ROW = 4
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
 * row of last use, deadline and LRU links, and the infos) rather than in each
 * slot object: a hit then reads two compact arrays instead of following
 * pointers to objects scattered over the heap, which among 100,000 resident
 * sessions is most of what a hit costs. A use relinks one number at the back:
 * a few number writes, no allocation. Numbers of evicted slots are reused.
 *
 * Every total is adjusted by the difference a change makes, so it stays
 * exact without rescanning; the byte figures are the ones the repository
 * measured, never re-serialized.
 *
 * Invariant: `index`, `slots` and the list hold the same slots; `messages`
 * and `bytes` are the sums over them of their snapshots. Only `admit`,
 * `replace` and `remove` change them.
 */
export class Ledger {
  private readonly index = new Map<SessionId, number>()
  private readonly slots: Array<Slot | undefined> = []
  private readonly infos: Array<SessionInfo | undefined> = []
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
    return n === undefined ? undefined : this.slots[n]
  }

  slotAt(n: number): Slot {
    return this.slots[n]!
  }

  /** The session info of the resident slot numbered `n`. */
  infoAt(n: number): SessionInfo {
    return this.infos[n]!
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
    return slot.n !== NONE
  }

  /** The least recently used slot. */
  oldest(): Slot | undefined {
    return this.leastRecent === NONE ? undefined : this.slots[this.leastRecent]
  }

  /**
   * The slot to evict next, never `keep`: the policy's choice, worth least
   * per byte for the budget (`bySize`, with `need` the bytes the budget is
   * short), per session for the capacity. Among the least recently used of
   * each size class, so it costs a few dozen reads, not a walk over the
   * resident set.
   */
  victim(keep: Slot, bySize: boolean, need?: number): Slot | undefined {
    const n = this.policy.pick(keep.n, bySize, need)
    return n === NONE ? undefined : this.slots[n]
  }

  /**
   * The next more recently used slot after a resident one. Read it before
   * evicting `slot`: a slot taken out of the ledger is unlinked.
   */
  newer(slot: Slot): Slot | undefined {
    const next = this.rows[ROW * slot.n + NEWER]!
    return next === NONE ? undefined : this.slots[next]
  }

  /** The slot of the oldest load. */
  oldestLoad(): Slot | undefined {
    const n = this.index.values().next().value
    return n === undefined ? undefined : this.slots[n]
  }

  /**
   * Slot numbers in load order, oldest first, live: what is removed while
   * walking it is skipped, what is admitted meanwhile comes at the end.
   */
  loadOrder(): Iterator<number> {
    return this.index.values()
  }

  /** Slots from least to most recently used. A copy, so callers may evict while walking it. */
  ordered(): Array<Slot> {
    const out: Array<Slot> = []
    for (let n = this.leastRecent; n !== NONE; n = this.rows[ROW * n + NEWER]!) out.push(this.slots[n]!)
    return out
  }

  /**
   * Accounts a freshly loaded slot, used at `now`, as the most recently used
   * and the newest load. The caller has evicted any slot still accounted for
   * the same session.
   */
  admit(slot: Slot, now: number): void {
    const n = this.free.pop() ?? this.slots.length
    if (n === this.slots.length) {
      this.slots.push(slot)
      this.infos.push(slot.snapshot.info)
      if (ROW * (n + 1) > this.rows.length) this.grow()
    } else {
      this.slots[n] = slot
      this.infos[n] = slot.snapshot.info
    }
    slot.n = n
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
      this.infos[slot.n] = next.info
      this.policy.resized(slot.n, next.bytes)
    }
    slot.snapshot = next
  }

  /** Takes `slot` out of the accounting with its cause. Returns false when it was not accounted. */
  remove(slot: Slot, cause: EvictionCause): boolean {
    const n = slot.n
    if (n === NONE) return false
    this.index.delete(slot.id)
    this.unlink(n)
    this.policy.removed(n, cause === "inactive" || cause === "expired")
    this.slots[n] = undefined
    this.infos[n] = undefined
    this.free.push(n)
    slot.n = NONE
    this.messages -= slot.snapshot.window.length
    this.bytes -= slot.snapshot.bytes
    this.evictions[cause]++
    return true
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
  }
}
