import type { SessionId } from "../domain/Ids.ts"
import type { Ledger, Slot } from "./ledger.ts"
import type { EvictionCause } from "./model.ts"
import type { StoreEvent } from "./StoreEvents.ts"

/** What one operation took out of memory, to be settled with the Cache and the event hub. */
export class Departures {
  readonly events: Array<StoreEvent> = []
  readonly ids: Array<SessionId> = []
}

/**
 * The one way out of memory but the sweep's batches (`Ledger.removeIdle`,
 * `removeExpired`, `sweep.ts`): takes the slot out of the ledger, which counts
 * the cause, and records the departure; `uncache: false` leaves the Cache's
 * entry of the id alone (a lookup evicting the slot it replaces: that entry
 * is its own). False when the ledger no longer held the slot.
 */
export const evictSlot = (
  ledger: Ledger,
  slot: Slot,
  cause: EvictionCause,
  now: number,
  out: Departures,
  uncache = true
): boolean => {
  // Read before `remove`, which takes the slot's totals out of the ledger's.
  const snapshot = slot.snapshot
  if (!ledger.remove(slot, cause)) return false
  if (uncache) out.ids.push(slot.id)
  out.events.push({
    _tag: "Evicted",
    sessionId: slot.id,
    cause,
    bytes: snapshot.bytes,
    messages: snapshot.window.length,
    at: now
  })
  return true
}
