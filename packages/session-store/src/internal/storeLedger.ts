import type { Fiber } from "effect"
import type { SessionId } from "../Ids.ts"
import type { EvictionCause, StoreStats } from "../SessionStore.ts"
import type { ResidentSnapshot } from "./storeSnapshot.ts"

/**
 * The value the resident-set Cache holds for a session. The store owns it:
 * writes swap `snapshot` under the session's write lock instead of calling
 * `Cache.set`, which would restart the absolute time-to-live (a session
 * written every minute would then never be reloaded) and could evict another
 * entry on the way. Readers take `slot.snapshot` once and work on that value.
 */
export interface Slot {
  readonly id: SessionId
  snapshot: ResidentSnapshot
  /** Clock millis of the last use (a read served from this slot, or a write to it): the inactivity clock. */
  lastRead: number
  /**
   * Clock millis at which the time to live ends: the load's end plus the
   * `sessionTtl` the Cache was given, so never later than the Cache's own
   * deadline for the entry (the Cache counts from the moment it sees the
   * lookup finish, which is after). The hit path checks this, not the Cache.
   */
  readonly expiresAt: number
  /**
   * The fiber that ran the Cache's lookup for this slot, which is the fiber
   * of the Cache's entry. It names the entry even while the lookup is still
   * finishing, so an eviction removes that entry and no other (never a newer
   * load of the same session).
   */
  readonly loader: Fiber.Fiber<unknown, unknown>
  /** The ledger's links in least-recently-used order; only the ledger changes them. */
  older: Slot | undefined
  newer: Slot | undefined
}

// A literal, not a loop over a list: adding a cause to `EvictionCause` makes
// this a compile error until the new counter is added here.
const noEvictions = (): Record<EvictionCause, number> => ({
  capacity: 0,
  expired: 0,
  inactive: 0,
  budget: 0,
  pressure: 0,
  removed: 0,
  invalidated: 0
})

/**
 * The store's accounting, and the authority on which sessions are resident
 * and in what order:
 *
 * - `index`, a `Map` from id to slot, is in load order for free: a slot
 *   enters at its load and leaves with it (a reload enters again at the end),
 *   and every load gets the same time to live, so the front is where the
 *   expired ones are;
 * - a doubly linked list through the slots themselves (`older`/`newer`) is in
 *   least-recently-used order: the front is where the idle ones are
 *   (inactivity, capacity, budget and pressure all take from there).
 *
 * A use relinks one slot at the back: a few pointer writes, no allocation,
 * and nothing that grows with the number of resident sessions. (Keeping the
 * order by deleting and re-inserting in a `Map` costs five times as much at
 * 100,000 sessions: every delete leaves a hole that the table later copies
 * away.)
 *
 * Every total is adjusted by the difference a change makes, so it stays
 * exact without rescanning; the byte figures are the ones the repository
 * measured, never re-serialized.
 *
 * Invariant: `index` and the list hold the same slots; `messages` and `bytes`
 * are the sums over them of their snapshots. Only `admit`, `replace` and
 * `remove` change them.
 */
export class Ledger {
  private readonly index = new Map<SessionId, Slot>()
  private leastRecent: Slot | undefined = undefined
  private mostRecent: Slot | undefined = undefined
  private messages = 0
  private bytes = 0
  hits = 0
  misses = 0
  loads = 0
  loadFailures = 0
  sweeps = 0
  readonly evictions = noEvictions()

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

  /** The resident slot of a session. Takes any string: only validated ids are ever resident. */
  get(id: string): Slot | undefined {
    return this.index.get(id as SessionId)
  }

  /** Whether `slot` is the one the ledger accounts for its session. */
  holds(slot: Slot): boolean {
    return this.index.get(slot.id) === slot
  }

  /** The least recently used slot. */
  oldest(): Slot | undefined {
    return this.leastRecent
  }

  /**
   * The next more recently used slot. Read it before evicting `slot`: a slot
   * taken out of the ledger is unlinked.
   */
  newer(slot: Slot): Slot | undefined {
    return slot.newer
  }

  /** The slot of the oldest load. */
  oldestLoad(): Slot | undefined {
    return this.index.values().next().value
  }

  /** Slots from least to most recently used. A copy, so callers may evict while walking it. */
  ordered(): Array<Slot> {
    const out: Array<Slot> = []
    for (let slot = this.leastRecent; slot !== undefined; slot = slot.newer) out.push(slot)
    return out
  }

  /**
   * Accounts a freshly loaded slot as the most recently used and the newest
   * load. The caller has evicted any slot still accounted for the same
   * session.
   */
  admit(slot: Slot): void {
    this.index.set(slot.id, slot)
    this.link(slot)
    this.messages += slot.snapshot.window.length
    this.bytes += slot.snapshot.bytes
  }

  /**
   * A read served from `slot`, or a write to it: it becomes the most recently
   * used. Its place in load order does not change. The caller checks that the
   * ledger holds it.
   */
  touch(slot: Slot, now: number): void {
    slot.lastRead = now
    if (slot === this.mostRecent) return
    this.unlink(slot)
    this.link(slot)
  }

  /** Swaps the snapshot of `slot`, keeping the totals exact. */
  replace(slot: Slot, next: ResidentSnapshot): void {
    if (this.holds(slot)) {
      this.messages += next.window.length - slot.snapshot.window.length
      this.bytes += next.bytes - slot.snapshot.bytes
    }
    slot.snapshot = next
  }

  /** Takes `slot` out of the accounting with its cause. Returns false when it was not accounted. */
  remove(slot: Slot, cause: EvictionCause): boolean {
    if (!this.holds(slot)) return false
    this.index.delete(slot.id)
    this.unlink(slot)
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

  /** Appends `slot` at the most recent end. */
  private link(slot: Slot): void {
    slot.older = this.mostRecent
    slot.newer = undefined
    if (this.mostRecent === undefined) this.leastRecent = slot
    else this.mostRecent.newer = slot
    this.mostRecent = slot
  }

  private unlink(slot: Slot): void {
    const { older, newer } = slot
    if (older === undefined) this.leastRecent = newer
    else older.newer = newer
    if (newer === undefined) this.mostRecent = older
    else newer.older = older
    slot.older = undefined
    slot.newer = undefined
  }
}
