import { describe, expect, it } from "@effect/vitest"
import { type MessageRef, messageIdOf, sessionIdOf } from "../src/internal/content.ts"
import { makeLedger } from "../src/internal/ledger.ts"
import { makeRng } from "../src/internal/random.ts"

/** The ledger as it was (a Map of refs per session), the reference the packed one must agree with. */
const makeModel = () => {
  const sessions = new Map<string, { session: number; created: number; messages: Map<string, MessageRef> }>()
  const deleted = new Set<string>()
  return {
    sessions,
    deleted,
    created: (sessionId: string, session: number, created: number) =>
      void sessions.set(sessionId, { session, created, messages: new Map() }),
    wrote: (sessionId: string, ref: MessageRef) =>
      void sessions.get(sessionId)?.messages.set(messageIdOf(ref.session, ref.index), ref),
    removed: (sessionId: string) => {
      sessions.delete(sessionId)
      deleted.add(sessionId)
    }
  }
}

const ref = (session: number, index: number, revision: number, created = 1_000 + index): MessageRef => ({
  session,
  index,
  role: index % 4 === 0 ? "user" : "assistant",
  created,
  parent: index - (index % 4),
  revision
})

describe("ledger", () => {
  it("keeps the newest acknowledged version of each message, in first-write order, past its initial capacity", () => {
    const ledger = makeLedger()
    ledger.created("ses_000001", 1, 500)
    // Index 40 first, then 0..99 (40 again), then new revisions of a few.
    ledger.wrote("ses_000001", ref(1, 40, 0))
    for (let index = 0; index < 100; index++) ledger.wrote("ses_000001", ref(1, index, 0))
    ledger.wrote("ses_000001", ref(1, 40, 3, 1.75e12 + 0.5))
    ledger.wrote("ses_000001", ref(1, 99, 7))
    const session = ledger.sessions.get("ses_000001")!
    expect(session).toMatchObject({ session: 1, created: 500, messageCount: 100 })
    const refs = [...session.messages()]
    expect(refs.map((r) => r.index)).toStrictEqual([40, ...Array.from({ length: 100 }, (_, i) => i).filter((i) => i !== 40)])
    expect(refs[0]).toStrictEqual(ref(1, 40, 3, 1.75e12 + 0.5))
    expect(refs.at(-1)).toStrictEqual(ref(1, 99, 7))
    expect(refs[1]).toStrictEqual(ref(1, 0, 0))
    expect(ledger.messageCount()).toBe(100)
  })

  it("forgets a removed session, remembers it as deleted, and ignores writes to sessions it does not know", () => {
    const ledger = makeLedger()
    ledger.created("ses_000001", 1, 0)
    ledger.wrote("ses_000001", ref(1, 0, 0))
    ledger.wrote("ses_000002", ref(2, 0, 0))
    ledger.removed("ses_000001")
    ledger.wrote("ses_000001", ref(1, 1, 0))
    expect([...ledger.sessions.keys()]).toStrictEqual([])
    expect([...ledger.deleted]).toStrictEqual(["ses_000001"])
    expect(ledger.messageCount()).toBe(0)
  })

  it("keeps a session's last acknowledged update: time.updated always, the title revision only on a rename", () => {
    const ledger = makeLedger()
    ledger.created("ses_000001", 1, 500)
    expect(ledger.sessions.get("ses_000001")).toMatchObject({ updated: 500, title: 0 })
    ledger.updated("ses_000001", 900, 1)
    ledger.updated("ses_000001", 1_200, undefined)
    expect(ledger.sessions.get("ses_000001")).toMatchObject({ updated: 1_200, title: 1 })
    ledger.updated("ses_000002", 1_300, 4)
    expect(ledger.sessions.has("ses_000002")).toBe(false)
  })

  it("refuses what it cannot store exactly instead of wrapping it", () => {
    const ledger = makeLedger()
    ledger.created("ses_000001", 1, 0)
    expect(() => ledger.wrote("ses_000001", ref(1, 0, 0x1_0000))).toThrow(RangeError)
    expect(() => ledger.wrote("ses_000001", ref(1, -1, 0))).toThrow(RangeError)
    expect(ledger.messageCount()).toBe(0)
  })

  it("agrees with a Map of refs on 300 random sequences of creates, writes and removes", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = makeRng(seed)
      const ledger = makeLedger()
      const model = makeModel()
      const counts = new Map<number, number>()
      for (let step = 0; step < 400; step++) {
        const session = rng.int(1, 6)
        const sessionId = sessionIdOf(session)
        const roll = rng.next()
        if (roll < 0.05) {
          ledger.created(sessionId, session, step)
          model.created(sessionId, session, step)
        } else if (roll < 0.07) {
          ledger.removed(sessionId)
          model.removed(sessionId)
        } else {
          // Mostly the next message, sometimes an older one again, sometimes a gap.
          const next = counts.get(session) ?? 0
          const index = rng.chance(0.2) ? rng.int(0, next + 40) : next
          counts.set(session, Math.max(next, index + 1))
          const written = { ...ref(session, index, rng.int(0, 14)), created: 1.7e12 + rng.int(0, 1e9) }
          ledger.wrote(sessionId, written)
          model.wrote(sessionId, written)
        }
      }
      expect([...ledger.deleted]).toStrictEqual([...model.deleted])
      expect([...ledger.sessions.keys()]).toStrictEqual([...model.sessions.keys()])
      for (const [sessionId, expected] of model.sessions) {
        const actual = ledger.sessions.get(sessionId)!
        expect({ session: actual.session, created: actual.created }).toStrictEqual({
          session: expected.session,
          created: expected.created
        })
        expect(actual.messageCount).toBe(expected.messages.size)
        expect([...actual.messages()]).toStrictEqual([...expected.messages.values()])
      }
    }
  })
})
