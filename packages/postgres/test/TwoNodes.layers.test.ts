/**
 * Two nodes in one process: two SessionStore layers, each on its own pool and
 * LISTEN connection, on one schema.
 */
import { describe, expect, inject, it } from "@effect/vitest"
import { Effect } from "effect"
import type { SessionId } from "@session-store/core/Ids"
import { makeSessionInfo, userMessage } from "../../session-store/test/fixtures/messages.ts"
import { admin, scopedSchema } from "./support.ts"
import { makeNode, newestIs, type Node, summary, until } from "./twoNodes.ts"

const sid = (id: string) => id as SessionId
const ids = (ms: ReadonlyArray<{ readonly message: { readonly info: { readonly id: string } } }>) =>
  ms.map((m) => m.message.info.id)

/** Runs `body` with two fresh nodes A and B on one fresh schema. */
const twoNodes = <A, E>(body: (a: Node, b: Node, schema: string) => Effect.Effect<A, E>) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const { a, b, schema } = yield* nodes
    return yield* body(a, b, schema)
  })))

const nodes = Effect.gen(function*() {
  const schema = yield* scopedSchema("two")
  const scope = yield* Effect.scope
  const a = yield* makeNode(schema, `session-store-${schema}-a`, scope)
  const b = yield* makeNode(schema, `session-store-${schema}-b`, scope)
  return { a, b, schema }
})

describe.skipIf(!inject("postgresAvailable"))("PostgreSQL: two nodes (two store layers, one database)", () => {
  it("a write on A is read on B within 1 s, every time (200 writes, B reading between them)", () =>
    twoNodes((a, b) =>
      Effect.gen(function*() {
        const s = sid("ses_coherent")
        yield* a.store.createSession(makeSessionInfo(s))
        const latencies: Array<number> = []
        for (let n = 1; n <= 200; n++) {
          // B holds the session resident (its newest is the previous message) before A writes.
          if (n > 1) expect(yield* newestIs(b, s, `msg_${n - 1}`)).toBe(true)
          else yield* b.store.getMessages(s)
          yield* a.store.appendMessage(s, userMessage(s, `msg_${n}`, n))
          latencies.push(yield* until(newestIs(b, s, `msg_${n}`), 1_000, `B reads msg_${n}`))
        }
        const figures = summary(latencies)
        console.log(`A write read on B after (ms): ${JSON.stringify(figures)}`)
        expect(figures.max).toBeLessThan(1_000)
      })))

  it("2 × 1,000 concurrent appends to one session from A and B: none lost, both read them in one order", () =>
    twoNodes((a, b) =>
      Effect.gen(function*() {
        const s = sid("ses_race")
        yield* a.store.createSession(makeSessionInfo(s))
        const appends = (node: Node, prefix: string) =>
          Effect.forEach(
            Array.from({ length: 1_000 }, (_, i) => i),
            (i) => node.store.appendMessage(s, userMessage(s, `msg_${prefix}_${String(i).padStart(4, "0")}`, i)),
            { concurrency: 16, discard: true }
          )
        const started = Date.now()
        yield* Effect.all([appends(a, "a"), appends(b, "b")], { concurrency: 2 })
        console.log(`2 × 1,000 concurrent appends from two nodes: ${Date.now() - started} ms`)
        const onA = ids((yield* a.repository.loadSession(s, { newest: 5_000 })).messages)
        const onB = ids((yield* b.repository.loadSession(s, { newest: 5_000 })).messages)
        expect(onA.length).toBe(2_000)
        expect(new Set(onA).size).toBe(2_000)
        expect(onB).toStrictEqual(onA)
        // Each node's own appends kept their relative order only where they were sequential; what matters is
        // that storage has one order and both stores serve it (after the notifications drained).
        const storeA = yield* until(
          Effect.map(a.store.getMessages(s), (ms) => ms.length === 2_000).pipe(Effect.orDie),
          1_000,
          "A serves all 2,000"
        )
        const storeB = yield* until(
          Effect.map(b.store.getMessages(s), (ms) => ms.length === 2_000).pipe(Effect.orDie),
          1_000,
          "B serves all 2,000"
        )
        void storeA
        void storeB
        expect((yield* a.store.getMessages(s)).map((m) => m.info.id)).toStrictEqual(onA)
        expect((yield* b.store.getMessages(s)).map((m) => m.info.id)).toStrictEqual(onA)
      })), 120_000)

  it("B's listening connection killed (pg_terminate_backend), then writes on A: B still converges", () =>
    twoNodes((a, b) =>
      Effect.gen(function*() {
        const s = sid("ses_killed")
        yield* a.store.createSession(makeSessionInfo(s))
        yield* a.store.appendMessage(s, userMessage(s, "msg_0", 0))
        yield* b.store.getMessages(s)
        expect(yield* newestIs(b, s, "msg_0")).toBe(true)
        const killed = yield* Effect.orDie(admin((sql) =>
          sql<{ pid: number; killed: boolean }>`SELECT pid, pg_terminate_backend(pid) AS killed FROM pg_stat_activity
            WHERE application_name = ${b.name} AND query LIKE 'LISTEN%'`
        ))
        expect(killed.length).toBe(1)
        expect(killed[0]!.killed).toBe(true)
        // Written while B has no listener: these notifications reach no one on B.
        for (let n = 1; n <= 5; n++) yield* a.store.appendMessage(s, userMessage(s, `msg_${n}`, n))
        const converged = yield* until(newestIs(b, s, "msg_5"), 10_000, "B converges after its listener was killed")
        console.log(`B converged ${converged.toFixed(1)} ms after A's writes (listener killed before them)`)
        // And it listens again: a later write reaches it like any other.
        yield* a.store.appendMessage(s, userMessage(s, "msg_6", 6))
        const again = yield* until(newestIs(b, s, "msg_6"), 1_000, "B reads a write after reconnecting")
        console.log(`after the reconnect, a write on A read on B after ${again.toFixed(1)} ms`)
        const relisten = yield* Effect.orDie(admin((sql) =>
          sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE application_name = ${b.name} AND query LIKE 'LISTEN%'`
        ))
        expect(relisten.length).toBe(1)
        expect(relisten[0]!.pid).not.toBe(killed[0]!.pid)
      })), 60_000)

  it("an idle listener's heartbeat (every 100 ms here) comes back: no reconnection, and writes still arrive", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const schema = yield* scopedSchema("beat")
      const scope = yield* Effect.scope
      const a = yield* makeNode(schema, `session-store-${schema}-a`, scope)
      const b = yield* makeNode(schema, `session-store-${schema}-b`, scope, { heartbeatMs: 100, heartbeatTimeoutMs: 1_000 })
      const listener = () =>
        Effect.orDie(admin((sql) =>
          sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE application_name = ${b.name} AND query LIKE 'LISTEN%'`
        ))
      const before = yield* listener()
      const s = sid("ses_beat")
      yield* a.store.createSession(makeSessionInfo(s))
      yield* b.store.getMessages(s)
      yield* Effect.sleep("1500 millis") // about fifteen heartbeats
      yield* a.store.appendMessage(s, userMessage(s, "msg_1", 1))
      yield* until(newestIs(b, s, "msg_1"), 1_000, "B reads msg_1")
      const after = yield* listener()
      expect(before.length).toBe(1)
      expect(after.map((r) => r.pid)).toStrictEqual(before.map((r) => r.pid))
    }))))
})
