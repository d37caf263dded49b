/**
 * The soak's model of acknowledged writes: what the store has said yes to,
 * with deletes applied. It never keeps payloads (the content is regenerated
 * from the seed when checked), and per message it keeps only the numbers that
 * regenerating the newest acknowledged version needs, packed in typed-array
 * columns per session, indexed by the message's index and doubled when full:
 * about 19 bytes a message (created 8, parent 4, first-write order 4,
 * revision 2, role 1), where a `Map` entry, a `MessageRef` object and an id
 * string cost about 180. The ledger grows with every message of the run, so
 * at 180 bytes it showed in the store's heap as a slope of its own.
 *
 * Per session it keeps the number, creation time, and what acknowledged
 * `updateSession` calls changed (`time.updated` and the title's revision).
 *
 * A message's id is not stored: it is `messageIdOf(ref.session, ref.index)`,
 * as in the workload.
 */
import type { MessageRef } from "./content.ts"

/** What the ledger knows of one session. */
export interface LedgerSession {
  readonly session: number
  readonly created: number
  /** `time.updated` as last acknowledged (`created` until the first update). */
  readonly updated: number
  /** Title revision as last acknowledged (0: the title it was created with). */
  readonly title: number
  /** Acknowledged messages. */
  readonly messageCount: number
  /** The newest acknowledged version of each message, in first-write order (the repository's order). */
  readonly messages: () => Iterable<MessageRef>
}

export interface Ledger {
  readonly sessions: ReadonlyMap<string, LedgerSession>
  readonly deleted: ReadonlySet<string>
  readonly created: (sessionId: string, session: number, created: number) => void
  readonly wrote: (sessionId: string, ref: MessageRef) => void
  /** An acknowledged `updateSession`: `time.updated` is now `at`, and the title revision `title` when given. */
  readonly updated: (sessionId: string, at: number, title: number | undefined) => void
  readonly removed: (sessionId: string) => void
  readonly messageCount: () => number
}

const INITIAL_CAPACITY = 16
// Revisions are stored plus one, so that zero means "never acknowledged".
const MAX_REVISION = 0xfffe

const USER = 0
const ASSISTANT = 1

/** One session's messages as columns, indexed by message index. */
class Columns {
  created = new Float64Array(INITIAL_CAPACITY)
  parent = new Int32Array(INITIAL_CAPACITY)
  revision = new Uint16Array(INITIAL_CAPACITY)
  role = new Uint8Array(INITIAL_CAPACITY)
  /** Message indices in the order of their first acknowledged write. */
  order = new Int32Array(INITIAL_CAPACITY)
  count = 0

  write(ref: MessageRef): void {
    const index = ref.index
    if (!Number.isInteger(index) || index < 0 || index > 0x7fff_ffff) {
      throw new RangeError(`message index ${index} out of range`)
    }
    if (!Number.isInteger(ref.revision) || ref.revision < 0 || ref.revision > MAX_REVISION) {
      throw new RangeError(`message revision ${ref.revision} out of range`)
    }
    if (index >= this.created.length) this.grow(index + 1)
    if (this.revision[index] === 0) this.order[this.count++] = index
    this.created[index] = ref.created
    this.parent[index] = ref.parent
    this.revision[index] = ref.revision + 1
    this.role[index] = ref.role === "user" ? USER : ASSISTANT
  }

  *refs(session: number): Generator<MessageRef, void, undefined> {
    for (let position = 0; position < this.count; position++) {
      const index = this.order[position]!
      yield {
        session,
        index,
        role: this.role[index] === USER ? "user" : "assistant",
        created: this.created[index]!,
        parent: this.parent[index]!,
        revision: this.revision[index]! - 1
      }
    }
  }

  private grow(needed: number): void {
    let capacity = this.created.length * 2
    while (capacity < needed) capacity *= 2
    const widen = <A extends Float64Array | Int32Array | Uint16Array | Uint8Array>(from: A, to: A): A => {
      to.set(from)
      return to
    }
    this.created = widen(this.created, new Float64Array(capacity))
    this.parent = widen(this.parent, new Int32Array(capacity))
    this.revision = widen(this.revision, new Uint16Array(capacity))
    this.role = widen(this.role, new Uint8Array(capacity))
    // At most one entry per index, so the order never needs more room than the columns.
    this.order = widen(this.order, new Int32Array(capacity))
  }
}

class Session implements LedgerSession {
  readonly session: number
  readonly created: number
  readonly columns = new Columns()
  updated: number
  title = 0
  constructor(session: number, created: number) {
    this.session = session
    this.created = created
    this.updated = created
  }
  get messageCount() {
    return this.columns.count
  }
  messages() {
    return this.columns.refs(this.session)
  }
}

export const makeLedger = (): Ledger => {
  const sessions = new Map<string, Session>()
  const deleted = new Set<string>()
  return {
    sessions,
    deleted,
    created: (sessionId, session, created) => {
      sessions.set(sessionId, new Session(session, created))
    },
    wrote: (sessionId, ref) => {
      sessions.get(sessionId)?.columns.write(ref)
    },
    updated: (sessionId, at, title) => {
      const session = sessions.get(sessionId)
      if (session === undefined) return
      session.updated = at
      if (title !== undefined) session.title = title
    },
    removed: (sessionId) => {
      sessions.delete(sessionId)
      deleted.add(sessionId)
    },
    messageCount: () => {
      let total = 0
      for (const s of sessions.values()) total += s.messageCount
      return total
    }
  }
}
