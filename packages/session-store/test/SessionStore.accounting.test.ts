/**
 * Random sequences of every operation, time steps, sweeps and heap readings,
 * checked against a plain model after every step: results and errors agree
 * with the model, the accounting equals what is recomputed from the resident
 * windows, the byte budget holds, and at the end everything written reads
 * back identical, through the store and straight from storage, whatever left
 * memory and why.
 */
import { afterAll, assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Exit, Logger } from "effect"
import { TestClock } from "effect/testing"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import type { SessionInfo } from "../src/domain/Session.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { type EvictionCause, SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { bytesOf, message, messageId, sessionInfo, setHeapReading, storeLayer } from "./SessionStore.support.ts"
import { constantFrom, integer, nat, oneof, option, string } from "./support/arbitraries.ts"

const options = { maxSessions: 3, maxMessagesPerSession: 4 }
// Times vary per run: with an inactivity limit above the time to live, expiry is what ends sessions.
// So does the byte budget: an info is about 250 B and a message 250-600 B, so
// 1 200 B holds one or two sessions, 2 500 B two or three, 1 MB never binds.
const times = Arbitrary.all({
  sessionTtlMs: constantFrom(30_000, 60_000),
  inactiveTtlMs: constantFrom(20_000, 90_000),
  maxBytes: constantFrom(1_200, 2_500, 1_000_000)
})
// One more session than fit, so capacity evictions happen, few enough that sessions grow past the window.
const SESSIONS = 4

type Op =
  | { readonly kind: "create" | "read" | "removeSession" | "invalidate"; readonly s: number }
  | { readonly kind: "page"; readonly s: number; readonly limit: number | undefined; readonly before: number | undefined }
  | { readonly kind: "getMessage" | "removeMessage"; readonly s: number; readonly i: number }
  | { readonly kind: "append"; readonly s: number; readonly text: string }
  | { readonly kind: "put"; readonly s: number; readonly i: number; readonly text: string }
  | { readonly kind: "update"; readonly s: number; readonly title: string }
  | { readonly kind: "advance"; readonly ms: number }
  | { readonly kind: "sweep" }
  | { readonly kind: "heap"; readonly ratio: number }

const text = string(constantFrom("a", "z", " ", "é", "漢", "😀", "\n", "\""), 120)
const s = integer(0, SESSIONS - 1)
const i = nat(40)
const kind = <const K extends Op["kind"]>(k: K) => Arbitrary.Constant(k)

const op: Arbitrary.Arbitrary<Op> = oneof<Op>(
  { weight: 2, arbitrary: Arbitrary.all({ kind: kind("create"), s }) },
  { weight: 4, arbitrary: Arbitrary.all({ kind: kind("read"), s }) },
  { weight: 1, arbitrary: Arbitrary.all({ kind: kind("removeSession"), s }) },
  { weight: 1, arbitrary: Arbitrary.all({ kind: kind("invalidate"), s }) },
  { weight: 3, arbitrary: Arbitrary.all({ kind: kind("page"), s, limit: option(nat(9)), before: option(i) }) },
  { weight: 2, arbitrary: Arbitrary.all({ kind: kind("getMessage"), s, i }) },
  { weight: 2, arbitrary: Arbitrary.all({ kind: kind("removeMessage"), s, i }) },
  { weight: 6, arbitrary: Arbitrary.all({ kind: kind("append"), s, text }) },
  { weight: 3, arbitrary: Arbitrary.all({ kind: kind("put"), s, i, text }) },
  { weight: 1, arbitrary: Arbitrary.all({ kind: kind("update"), s, title: text }) },
  { weight: 2, arbitrary: Arbitrary.all({ kind: kind("advance"), ms: constantFrom(1_000, 5_000, 10_000, 25_000, 61_000) }) },
  { weight: 1, arbitrary: Arbitrary.all({ kind: kind("sweep") }) },
  // Readings on both sides of the threshold (0.8) and of its hysteresis (0.7).
  { weight: 1, arbitrary: Arbitrary.all({ kind: kind("heap"), ratio: constantFrom(0.3, 0.75, 0.85, 0.95) }) }
)
/** 1 to 120 operations, every length as likely (fast-check's `size: "max"`). */
const ops = Arbitrary.flatMap(integer(1, 120), (n) => Arbitrary.array(op, { minLength: n, maxLength: n }))
const RUNS = 300

interface ModelSession {
  info: SessionInfo
  messages: Array<MessageWithParts>
}

/** Evictions seen over every run, to show each cause was exercised. */
const causesSeen: Record<EvictionCause, number> = {
  capacity: 0,
  budget: 0,
  expired: 0,
  inactive: 0,
  pressure: 0,
  removed: 0,
  invalidated: 0,
  stale: 0
}

const scenario = (ops: ReadonlyArray<Op>, maxBytes: number) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const repository = yield* SessionRepository
    const model = new Map<string, ModelSession>()
    let nextMessage = 1
    const sid = (n: number) => `ses_${n}`
    const pick = <A>(items: ReadonlyArray<A>, n: number): A | undefined =>
      items.length === 0 ? undefined : items[n % items.length]

    /** Runs an operation, checks it succeeded exactly when the model says it should, returns the value. */
    const expect = <A, E extends { readonly _tag: string }>(
      effect: Effect.Effect<A, E>,
      failure: string | undefined,
      label: string
    ) =>
      Effect.map(Effect.exit(effect), (exit) => {
        if (failure === undefined) {
          if (Exit.isFailure(exit)) assert.fail(`${label} failed: ${String(exit.cause)}`)
          return exit.value
        }
        assert.isTrue(Exit.isFailure(exit), `${label} should fail with ${failure}`)
        if (Exit.isFailure(exit)) {
          const error = exit.cause.reasons[0]
          assert.strictEqual(error?._tag === "Fail" ? error.error._tag : "defect", failure, label)
        }
        return undefined
      })

    const checkAccounting = Effect.gen(function*() {
      const residents = yield* store.residents
      const stats = yield* store.stats
      let bytes = 0
      let messages = 0
      for (const r of residents) {
        const m = model.get(r.id)
        assert.isDefined(m, `${r.id} is resident but does not exist`)
        assert.strictEqual(r.messageCount, m!.messages.length, `${r.id} count`)
        assert.isAtMost(r.windowMessages, Math.min(options.maxMessagesPerSession, m!.messages.length))
        const window = m!.messages.slice(m!.messages.length - r.windowMessages)
        const expected = bytesOf(m!.info) + window.reduce((n, msg) => n + bytesOf(msg), 0)
        assert.strictEqual(r.bytes, expected, `${r.id} bytes`)
        bytes += r.bytes
        messages += r.windowMessages
      }
      assert.isAtMost(residents.length, options.maxSessions)
      // The budget holds, except for a single session larger than it alone.
      assert.isTrue(bytes <= maxBytes || residents.length === 1, `${bytes} B resident over a budget of ${maxBytes} B`)
      assert.strictEqual(stats.residentSessions, residents.length)
      assert.strictEqual(stats.residentBytes, bytes)
      assert.strictEqual(stats.residentMessages, messages)
    })

    for (const step of ops) {
      switch (step.kind) {
        case "create": {
          const id = sid(step.s)
          const info = yield* expect(
            store.createSession(sessionInfo(id)),
            model.has(id) ? "SessionAlreadyExists" : undefined,
            `create ${id}`
          )
          if (info !== undefined) model.set(id, { info, messages: [] })
          break
        }
        case "read": {
          const id = sid(step.s)
          const info = yield* expect(store.getSession(id), model.has(id) ? undefined : "SessionNotFound", `read ${id}`)
          if (info !== undefined) assert.deepStrictEqual(info, model.get(id)!.info)
          break
        }
        case "removeSession": {
          const id = sid(step.s)
          yield* expect(store.removeSession(id), model.has(id) ? undefined : "SessionNotFound", `remove ${id}`)
          model.delete(id)
          break
        }
        case "invalidate": {
          yield* store.invalidate(sid(step.s))
          break
        }
        case "page": {
          const id = sid(step.s)
          const m = model.get(id)
          const before = m === undefined || step.before === undefined ? undefined : pick(m.messages, step.before)
          const page = yield* expect(
            store.getMessages(id, { limit: step.limit, before: before?.info.id }),
            m === undefined ? "SessionNotFound" : undefined,
            `page ${id}`
          )
          if (m !== undefined) {
            const end = before === undefined ? m.messages.length : m.messages.indexOf(before)
            const start = step.limit === undefined ? 0 : Math.max(0, end - step.limit)
            assert.deepStrictEqual(page, m.messages.slice(start, end), `page ${id}`)
          }
          break
        }
        case "getMessage": {
          const id = sid(step.s)
          const m = model.get(id)
          const target = m === undefined ? undefined : pick(m.messages, step.i)
          const got = yield* expect(
            store.getMessage(id, target?.info.id ?? "msg_none"),
            m === undefined ? "SessionNotFound" : target === undefined ? "MessageNotFound" : undefined,
            `getMessage ${id}`
          )
          if (target !== undefined) assert.deepStrictEqual(got, target)
          break
        }
        case "removeMessage": {
          const id = sid(step.s)
          const m = model.get(id)
          const target = m === undefined ? undefined : pick(m.messages, step.i)
          yield* expect(
            store.removeMessage(id, target?.info.id ?? "msg_none"),
            m === undefined ? "SessionNotFound" : target === undefined ? "MessageNotFound" : undefined,
            `removeMessage ${id}`
          )
          if (m !== undefined && target !== undefined) m.messages.splice(m.messages.indexOf(target), 1)
          break
        }
        case "append":
        case "put": {
          const id = sid(step.s)
          const m = model.get(id)
          const existing = step.kind === "put" && m !== undefined ? pick(m.messages, step.i) : undefined
          const mid = existing?.info.id ?? messageId(nextMessage++)
          const written = yield* expect(
            step.kind === "append"
              ? store.appendMessage(id, message(id, mid, step.text))
              : store.putMessage(id, message(id, mid, step.text)),
            m === undefined ? "SessionNotFound" : undefined,
            `${step.kind} ${id}`
          )
          if (m !== undefined && written !== undefined) {
            const index = m.messages.findIndex((x) => x.info.id === mid)
            if (index >= 0) m.messages[index] = written
            else m.messages.push(written)
          }
          break
        }
        case "update": {
          const id = sid(step.s)
          const m = model.get(id)
          const info = yield* expect(
            store.updateSession(id, (current) => ({ ...current, title: step.title })),
            m === undefined ? "SessionNotFound" : undefined,
            `update ${id}`
          )
          if (m !== undefined && info !== undefined) m.info = info
          break
        }
        case "advance": {
          yield* TestClock.adjust(step.ms)
          break
        }
        case "sweep": {
          yield* store.sweep
          break
        }
        case "heap": {
          yield* setHeapReading(step.ratio)
          break
        }
      }
      yield* checkAccounting
    }

    // Everything written reads back identical, from the store and from storage.
    for (let n = 0; n < SESSIONS; n++) {
      const id = sid(n)
      const m = model.get(id)
      if (m === undefined) {
        yield* expect(store.getSession(id), "SessionNotFound", `final read ${id}`)
        continue
      }
      assert.deepStrictEqual(yield* store.getSession(id), m.info)
      assert.deepStrictEqual(yield* store.getMessages(id), m.messages)
      const stored = yield* repository.loadSession(id as SessionId, { newest: Number.MAX_SAFE_INTEGER })
      assert.deepStrictEqual(stored.info, m.info)
      assert.deepStrictEqual(stored.messages.map((x) => x.message), m.messages)
    }
    yield* checkAccounting
    const { evictions } = yield* store.stats
    for (const cause of Object.keys(causesSeen) as Array<EvictionCause>) causesSeen[cause] += evictions[cause]
  })

/** Property cases run, so the coverage check below knows the property ran in full. */
let cases = 0

describe("SessionStore: accounting and integrity under random operations", () => {
  // The store's own fibers (the sweep) and the scenario share the one TestClock it.effect.prop gives each case.
  it.effect.prop(
    "every step agrees with the model, and the accounting stays exact",
    [ops, times],
    ([ops, limits]) =>
      scenario(ops, limits.maxBytes).pipe(
        Effect.provide(storeLayer({ ...options, ...limits })),
        // The pressure warnings are the subject of the pressure specs, not of this one.
        Effect.provide(Logger.layer([])),
        Effect.ensuring(Effect.sync(() => cases++))
      ),
    { timeout: 120_000, arbitrary: { runs: RUNS } }
  )

  // The generated runs went through every way out of memory.
  afterAll(() => {
    if (cases < RUNS) return
    // `stale` needs a second process writing: SessionStore.coherence.test.ts.
    for (const [cause, count] of Object.entries(causesSeen)) if (cause !== "stale") assert.isAbove(count, 0, cause)
  })

  it.effect("after evictions of every cause, everything written reads back identical", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const repository = yield* SessionRepository
      const expected = new Map<string, { info: SessionInfo; messages: Array<MessageWithParts> }>()
      const ids = ["ses_1", "ses_2", "ses_3", "ses_4", "ses_5"]
      const append = Effect.fnUntraced(function*(id: string, n: number, text?: string) {
        const written = yield* store.appendMessage(id, message(id, messageId(n), text))
        const list = expected.get(id)!.messages
        const at = list.findIndex((m) => m.info.id === written.info.id)
        if (at >= 0) list[at] = written
        else list.push(written)
      })

      for (const id of ids) {
        expected.set(id, { info: yield* store.createSession(sessionInfo(id)), messages: [] })
        for (let n = 1; n <= 8; n++) yield* append(id, n) // writes allocate: the last three created stay
      }
      for (const id of ["ses_1", "ses_2", "ses_3"]) yield* store.getSession(id)
      yield* store.getSession("ses_4") // capacity: ses_1 leaves
      yield* append("ses_1", 2, "rewritten while out of memory")
      yield* append("ses_4", 3, "rewritten outside the window")
      yield* append("ses_4", 9)
      expected.get("ses_3")!.info = yield* store.updateSession("ses_3", (info) => ({ ...info, title: "renamed" }))
      yield* store.removeMessage("ses_3", messageId(1))
      expected.get("ses_3")!.messages.shift()
      yield* store.invalidate("ses_1") // invalidated (the append above brought it back)

      yield* TestClock.adjust(testOptions.inactiveTtlMs)
      yield* store.sweep // ses_3 and ses_4 inactive
      for (let t = 0; t <= testOptions.sessionTtlMs; t += 15_000) {
        yield* store.getSession("ses_5") // read every 15 s: only its time to live ends it
        yield* append("ses_5", 100 + t / 1000)
        yield* TestClock.adjust(15_000)
      }
      yield* store.getSession("ses_5") // expired: reloaded
      yield* store.getSession("ses_1")
      yield* store.removeSession("ses_1") // removed while resident
      expected.delete("ses_1")

      yield* store.getSession("ses_2")
      yield* store.getSession("ses_3") // resident, least recent first: ses_5, ses_2, ses_3
      yield* append("ses_3", 200, "x".repeat(18_000)) // over the 20 kB budget: ses_5 and ses_2 leave
      assert.deepStrictEqual((yield* store.residents).map((r) => r.id), ["ses_3"])
      yield* store.getSession("ses_4") // and ses_3 leaves to make room for it
      assert.deepStrictEqual((yield* store.residents).map((r) => r.id), ["ses_4"])
      yield* store.getSession("ses_2")
      yield* store.getSession("ses_5")
      const before = (yield* store.stats).residentBytes
      yield* setHeapReading(0.9) // pressure: at least half of the resident bytes go, least recent first
      const after = yield* store.residents
      assert.isAtMost(after.reduce((n, r) => n + r.bytes, 0), before / 2)
      assert.deepStrictEqual(after.map((r) => r.id), ["ses_4", "ses_2", "ses_5"].slice(3 - after.length))

      const { evictions } = yield* store.stats
      // `stale` needs another process writing: SessionStore.coherence.test.ts and SessionStore.twoProcesses.test.ts.
      for (const cause of Object.keys(evictions) as Array<EvictionCause>) {
        if (cause !== "stale") assert.isAbove(evictions[cause], 0, cause)
      }

      assert.deepStrictEqual((yield* store.listSessions()).map((x) => x.id).sort(), [...expected.keys()].sort())
      for (const [id, want] of expected) {
        assert.deepStrictEqual(yield* store.getSession(id), want.info, id)
        assert.deepStrictEqual(yield* store.getMessages(id), want.messages, id)
        const stored = yield* repository.loadSession(id as SessionId, { newest: Number.MAX_SAFE_INTEGER })
        assert.deepStrictEqual(stored.info, want.info, id)
        assert.deepStrictEqual(stored.messages.map((x) => x.message), want.messages, id)
      }
      assert.strictEqual((yield* Effect.flip(store.getSession("ses_1")))._tag, "SessionNotFound")
    }).pipe(
      Effect.provide(storeLayer({ cleanupIntervalMs: 1_000_000_000, maxBytes: 20_000 })),
      Effect.provide(Logger.layer([]))
    ))
})
