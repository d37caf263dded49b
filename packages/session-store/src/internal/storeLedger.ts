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
   * When the Cache's own time-to-live ends for this slot (load time plus
   * `sessionTtl`). Only used to name the cause when the Cache has dropped it.
   */
  readonly expiresAt: number
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
 * The store's accounting beside the Cache: which slots are resident, in
 * least-recently-used order (a `Map` keeps insertion order; a use re-inserts),
 * the totals of what they hold, and the counters. Every total is adjusted by
 * the difference a change makes, so it stays exact without rescanning; the
 * byte figures are the ones the repository measured, never re-serialized.
 *
 * Invariant: `messages` and `bytes` are the sums over `slots` of their
 * snapshots. Only `admit`, `replace` and `remove` change them.
 */
export class Ledger {
  private readonly slots = new Map<SessionId, Slot>()
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
    return this.slots.size
  }

  get(id: SessionId): Slot | undefined {
    return this.slots.get(id)
  }

  /** Whether `slot` is the one the ledger accounts for its session. */
  holds(slot: Slot): boolean {
    return this.slots.get(slot.id) === slot
  }

  /** Slots from least to most recently used. A copy, so callers may evict while walking it. */
  ordered(): Array<Slot> {
    return Array.from(this.slots.values())
  }

  /** The least recently used slot. */
  oldest(): Slot | undefined {
    return this.slots.values().next().value
  }

  /**
   * Accounts a freshly loaded slot as the most recently used. The caller has
   * evicted any slot still accounted for the same session: a load only runs
   * when the Cache has no live entry, so that one is gone from the Cache.
   */
  admit(slot: Slot): void {
    this.slots.set(slot.id, slot)
    this.messages += slot.snapshot.window.length
    this.bytes += slot.snapshot.bytes
  }

  /** A read served from `slot`, or a write to it: it becomes the most recently used. */
  touch(slot: Slot, now: number): void {
    if (!this.holds(slot)) return
    slot.lastRead = now
    this.slots.delete(slot.id)
    this.slots.set(slot.id, slot)
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
    this.slots.delete(slot.id)
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
      residentSessions: this.slots.size,
      residentMessages: this.messages,
      residentBytes: this.bytes,
      hitRate: reads === 0 ? 0 : this.hits / reads
    }
  }
}
