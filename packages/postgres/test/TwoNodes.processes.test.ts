/**
 * Nodes in separate OS processes on one database: children append through
 * their own store; this process is node B, with its own store.
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { describe, expect, inject, it } from "@effect/vitest"
import { Effect, Queue } from "effect"
import type { SessionId } from "@session-store/core/Ids"
import { makeSessionInfo } from "../../session-store/test/fixtures/messages.ts"
import { scopedSchema } from "./support.ts"
import { makeNode, serves, summary, until } from "./twoNodes.ts"

const CHILD = fileURLToPath(new URL("./fixtures/nodeChild.ts", import.meta.url))
const sid = (id: string) => id as SessionId

/** Spawns a child node; every line it prints is offered to the returned queue with when it arrived. */
const child = (args: ReadonlyArray<string | number>) =>
  Effect.gen(function*() {
    const lines = yield* Queue.unbounded<{ readonly line: string; readonly at: number }>()
    const exited = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const proc = spawn(process.execPath, ["--conditions=@session-store/source", CHILD, ...args.map(String)], { stdio: ["ignore", "pipe", "pipe"] })
        let stderr = ""
        proc.stderr.on("data", (chunk) => (stderr += String(chunk)))
        createInterface({ input: proc.stdout }).on("line", (line) => {
          Queue.offerUnsafe(lines, { line, at: performance.now() })
        })
        const exit = new Promise<{ code: number | null; stderr: string }>((resolve) =>
          proc.on("exit", (code) => resolve({ code, stderr }))
        )
        return { proc, exit }
      }),
      ({ proc }) => Effect.sync(() => proc.kill())
    )
    return { lines, exit: Effect.promise(() => exited.exit) }
  })

/** Takes lines until `done`, calling `onAck` for each ack. */
const acks = <E>(lines: Queue.Queue<{ readonly line: string; readonly at: number }>, onAck: (id: string, at: number) => Effect.Effect<void, E>) =>
  Effect.gen(function*() {
    while (true) {
      const { at, line } = yield* Queue.take(lines)
      if (line === "done") return
      if (line.startsWith("ack ")) yield* onAck(line.slice(4), at)
    }
  })

describe.skipIf(!inject("postgresAvailable"))("PostgreSQL: two nodes in two OS processes", () => {
  it("a write by the other process is read here within 1 s (100 paced writes)", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const schema = yield* scopedSchema("proc")
      const b = yield* makeNode(schema, `session-store-${schema}-b`, yield* Effect.scope)
      const s = sid("ses_procs")
      yield* b.store.createSession(makeSessionInfo(s))
      yield* b.store.getMessages(s)
      const a = yield* child([schema, s, "a", 100, 1, 20])
      const latencies: Array<number> = []
      yield* acks(a.lines, (id, at) =>
        Effect.gen(function*() {
          yield* until(serves(b, s, id), 1_000, `B reads ${id}`)
          latencies.push(performance.now() - at)
        }))
      expect((yield* a.exit).code).toBe(0)
      const figures = summary(latencies)
      console.log(`write in another process read here after (ms, from its ack): ${JSON.stringify(figures)}`)
      expect(figures.max).toBeLessThan(1_000)
    }))), 60_000)

  it("2 × 1,000 concurrent appends from two processes to one session: none lost, one order, and this node converges", () =>
    Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const schema = yield* scopedSchema("proc")
      const b = yield* makeNode(schema, `session-store-${schema}-b`, yield* Effect.scope)
      const s = sid("ses_procs_race")
      yield* b.store.createSession(makeSessionInfo(s))
      yield* b.store.getMessages(s)
      const one = yield* child([schema, s, "p", 1_000, 16, 0])
      const two = yield* child([schema, s, "q", 1_000, 16, 0])
      const acked: Array<string> = []
      yield* Effect.all([
        acks(one.lines, (id) => Effect.sync(() => acked.push(id))),
        acks(two.lines, (id) => Effect.sync(() => acked.push(id)))
      ], { concurrency: 2 })
      expect((yield* one.exit).code).toBe(0)
      expect((yield* two.exit).code).toBe(0)
      expect(acked.length).toBe(2_000)
      const stored = (yield* b.repository.loadSession(s, { newest: 5_000 })).messages.map((m) => m.message.info.id)
      expect(stored.length).toBe(2_000)
      expect(new Set(stored)).toStrictEqual(new Set(acked))
      // This node had the session resident before the children wrote: it serves storage's order.
      yield* until(Effect.map(b.store.getMessages(s), (ms) => ms.length === 2_000).pipe(Effect.orDie), 1_000, "B serves 2,000")
      expect((yield* b.store.getMessages(s)).map((m) => m.info.id)).toStrictEqual(stored)
    }))), 180_000)
})
