/**
 * The baseline's byte figure: the JSON bytes of what it holds, measured when
 * the figures are read (not on every write), so rewrites count once at their
 * last size and removed values do not count at all.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makeBaseline } from "../src/baseline.ts"

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), "utf8")
const info = { id: "ses_b", title: "b", time: { created: 1, updated: 1 } }
const message = (id: string, text: string) => ({
  info: { id, sessionID: "ses_b", role: "user", time: { created: 1 } },
  parts: [{ id: `prt_${id}`, sessionID: "ses_b", messageID: id, type: "text", text }]
})

describe("baseline", () => {
  it.effect("residentBytes is the JSON bytes of what it holds, through rewrites and removals", () =>
    Effect.gen(function*() {
      const store = makeBaseline()
      yield* store.createSession(info)
      yield* store.putMessage("ses_b", message("m1", "short"))
      expect((yield* store.stats).residentBytes).toBe(bytes(info) + bytes(message("m1", "short")))
      // Rewritten twice and one more written before the next read; then that one removed.
      yield* store.putMessage("ses_b", message("m1", "longer text"))
      yield* store.putMessage("ses_b", message("m1", "the longest text of all"))
      yield* store.putMessage("ses_b", message("m2", "gone soon"))
      yield* store.removeMessage("ses_b", "m2")
      const held = bytes(info) + bytes(message("m1", "the longest text of all"))
      expect((yield* store.stats).residentBytes).toBe(held)
      expect((yield* store.sweep).residentBytes).toBe(held)
      expect((yield* store.residents).map((r) => r.bytes)).toEqual([held])
      yield* store.removeSession("ses_b")
      expect((yield* store.stats).residentBytes).toBe(0)
    }))
})
