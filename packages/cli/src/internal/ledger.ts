/**
 * The soak's model of acknowledged writes: what the store has said yes to,
 * with deletes applied. It keeps only references (a few numbers per message),
 * never the payloads: the content is regenerated from the seed when checked,
 * so the model does not inflate the heap being measured.
 */
import type { MessageRef } from "./content.ts"

export interface LedgerSession {
  readonly session: number
  readonly created: number
  /** Newest acknowledged version of each message, in first-write order (the repository's order). */
  readonly messages: Map<string, MessageRef>
}

export interface Ledger {
  readonly sessions: ReadonlyMap<string, LedgerSession>
  readonly deleted: ReadonlySet<string>
  readonly created: (sessionId: string, session: number, created: number) => void
  readonly wrote: (sessionId: string, messageId: string, ref: MessageRef) => void
  readonly removed: (sessionId: string) => void
  readonly messageCount: () => number
}

export const makeLedger = (): Ledger => {
  const sessions = new Map<string, LedgerSession>()
  const deleted = new Set<string>()
  return {
    sessions,
    deleted,
    created: (sessionId, session, created) => {
      sessions.set(sessionId, { session, created, messages: new Map() })
    },
    wrote: (sessionId, messageId, ref) => {
      sessions.get(sessionId)?.messages.set(messageId, ref)
    },
    removed: (sessionId) => {
      sessions.delete(sessionId)
      deleted.add(sessionId)
    },
    messageCount: () => {
      let total = 0
      for (const s of sessions.values()) total += s.messages.size
      return total
    }
  }
}
