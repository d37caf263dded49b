/**
 * Interruption: reads and writes interrupted at random points, many at once
 * on one session, leave no lock held and no half-applied state. A write whose
 * caller was interrupted is either in storage entirely (and then in memory
 * too) or not at all; everything acknowledged is stored; memory ends equal
 * to storage; the next operations finish, and releasing the layer finishes.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Latch, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { inspectDatabase } from "../src/repository/sql/SqlInspection.ts"
import {
  envInt,
  outcomeTag,
  promptly,
  readStorage,
  residentBytes,
  replaying,
  runParameters
} from "./Reliability.support.ts"
import { instrumentedRepository, RepositoryControls, Storage } from "./support/instrumentedRepository.ts"
import { message, messageId, sessionInfo } from "./SessionStore.support.ts"

const W = 4
const INITIAL = 6
const RUNS = envInt("SESSION_STORE_INTERRUPT_RUNS", 1000)
const SQLITE_RUNS = envInt("SESSION_STORE_INTERRUPT_SQLITE_RUNS", 100)

type Kind = "append" | "put" | "update" | "removeMessage" | "read" | "page" | "getMessage"

interface Op {
  readonly kind: Kind
  /** Interrupt after this many scheduler turns of the test fiber; undefined: never interrupted. */
  readonly interruptAfter: number | undefined
  /** Which of the initial messages a put or remove targets. */
  readonly target: number
}

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<Kind>("append", "append", "put", "update", "removeMessage", "read", "page", "getMessage"),
  interruptAfter: fc.option(fc.nat(12), { nil: undefined, freq: 2 }),
  target: fc.nat(INITIAL - 1)
})

interface Scenario {
  readonly ops: ReadonlyArray<Op>
  readonly resident: boolean
  readonly repoYields: number
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  ops: fc.array(opArb, { minLength: 1, maxLength: 30, size: "max" }),
  resident: fc.boolean(),
  repoYields: fc.nat(3)
})

const initialId = (n: number) => messageId(n)
const appendedId = (j: number) => `msg_append_${j}`

/** Runs the operations at once on one session, interrupts some, and checks what is left. */
const scenario = (
  { ops, repoYields, resident }: Scenario,
  bounded: boolean
) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const controls = yield* RepositoryControls
    const storage = yield* Storage
    const id = "ses_1"
    yield* store.createSession(sessionInfo(id))
    const initial = new Map<string, MessageWithParts>()
    for (let n = 0; n < INITIAL; n++) {
      const written = yield* store.appendMessage(id, message(id, initialId(n)))
      initial.set(written.info.id, written)
    }
    if (resident) yield* store.getSession(id)

    const inputs = ops.map((op, j) => {
      switch (op.kind) {
        case "append":
          return message(id, appendedId(j), `append ${j}`) as unknown as MessageWithParts
        case "put":
          return message(id, initialId(op.target), `put ${j}`) as unknown as MessageWithParts
        default:
          return undefined
      }
    })
    const effectOf = (op: Op, j: number): Effect.Effect<unknown, unknown> => {
      switch (op.kind) {
        case "append":
          return store.appendMessage(id, inputs[j])
        case "put":
          return store.putMessage(id, inputs[j])
        case "update":
          return store.updateSession(id, (info) => ({ ...info, title: `title ${j}` }))
        case "removeMessage":
          return store.removeMessage(id, initialId(op.target))
        case "read":
          return store.getSession(id)
        case "page":
          return store.getMessages(id, { limit: 3 })
        case "getMessage":
          return store.getMessage(id, initialId(op.target))
      }
    }

    controls.yieldsFirst = repoYields
    const fibers = yield* Effect.forEach(ops, (op, j) => Effect.forkChild(effectOf(op, j), { startImmediately: true }))
    const interrupters: Array<Fiber.Fiber<void>> = []
    const pending = ops.map((op, j) => ({ at: op.interruptAfter, fiber: fibers[j]! })).filter((p) => p.at !== undefined)
    for (let turn = 0; pending.some((p) => p.at !== undefined); turn++) {
      for (const p of pending) {
        if (p.at === turn) {
          // Forked: interrupting a write that holds its session's lock waits for it to finish.
          interrupters.push(yield* Effect.forkChild(Fiber.interrupt(p.fiber), { startImmediately: true }))
          p.at = undefined
        }
      }
      yield* Effect.yieldNow
    }
    const exits = yield* Effect.forEach(fibers, (fiber) => Fiber.await(fiber))
    yield* Effect.forEach(interrupters, Fiber.join, { discard: true })
    controls.yieldsFirst = 0

    // What storage holds now.
    const stored = (yield* readStorage(storage)).get(id)
    assert.isDefined(stored, "the session is still stored")
    const storedById = new Map(stored!.messages.map((m) => [m.info.id as string, m]))
    const outcomes = exits.map(outcomeTag)
    for (const [j, op] of ops.entries()) {
      const tag = outcomes[j]
      if (tag !== undefined && tag !== "interrupted" && tag !== "MessageNotFound") {
        assert.fail(`op ${j} (${op.kind}) failed with ${tag}: ${String(Exit.isFailure(exits[j]!) && exits[j]!.cause)}`)
      }
      if (op.kind === "append") {
        const there = storedById.get(appendedId(j))
        if (tag === undefined) assert.isDefined(there, `acknowledged append ${j} is stored`)
        // Whole or absent: a stored message is exactly what was written.
        if (there !== undefined) assert.deepStrictEqual(there, inputs[j], `append ${j} stored whole`)
      }
    }
    // Nothing stored that no operation wrote.
    for (const [mid, m] of storedById) {
      if (mid.startsWith("msg_append_")) {
        const j = Number(mid.slice("msg_append_".length))
        assert.strictEqual(ops[j]?.kind, "append", `${mid} was written by an append`)
        continue
      }
      const original = initial.get(mid)
      assert.isDefined(original, `${mid} is an initial message`)
      const candidates = [original, ...ops.flatMap((op, j) => op.kind === "put" && outcomes[j] !== "MessageNotFound" && inputs[j]!.info.id === mid ? [inputs[j]] : [])]
      assert.isTrue(candidates.some((c) => JSON.stringify(c) === JSON.stringify(m)), `${mid} holds a version someone wrote`)
    }
    // A removal that was acknowledged removed its message, unless a put brought it back.
    for (const [j, op] of ops.entries()) {
      if (op.kind !== "removeMessage" || outcomes[j] !== undefined) continue
      const mid = initialId(op.target)
      const putAfter = ops.some((o, k) => o.kind === "put" && inputs[k]!.info.id === mid && outcomes[k] !== "MessageNotFound")
      if (!putAfter) assert.isFalse(storedById.has(mid), `acknowledged removal of ${mid} holds`)
    }
    const titles = new Set(["title of ses_1", ...ops.flatMap((op, j) => op.kind === "update" && outcomes[j] !== "MessageNotFound" ? [`title ${j}`] : [])])
    assert.isTrue(titles.has(stored!.info.title), "the title is one someone wrote")
    if (ops.some((op, j) => op.kind === "update" && outcomes[j] === undefined)) {
      assert.notStrictEqual(stored!.info.title, "title of ses_1", "an acknowledged update holds")
    }

    // Memory equals storage: counts, bytes and the window.
    for (const r of yield* store.residents) {
      assert.strictEqual(r.messageCount, stored!.messages.length, "resident count")
      assert.strictEqual(r.bytes, residentBytes(stored!, r.windowMessages), "resident bytes")
      assert.isAtMost(r.windowMessages, W)
    }
    // No lock left held: a write and reads of the session finish, and see storage.
    const settle = <A, E>(effect: Effect.Effect<A, E>, label: string) =>
      bounded ? promptly(effect, label) : Effect.exit(effect)
    const after = yield* settle(store.appendMessage(id, message(id, "msg_after")), "a write after the interruptions")
    assert.isTrue(Exit.isSuccess(after), "a write after the interruptions succeeds")
    const all = yield* settle(store.getMessages(id), "a read after the interruptions")
    assert.isTrue(Exit.isSuccess(all))
    assert.deepStrictEqual(Exit.isSuccess(all) ? all.value : [], [...stored!.messages, (after as Exit.Success<MessageWithParts>).value])
    assert.deepStrictEqual(yield* store.getSession(id), stored!.info)
    return outcomes
  })

interface Tally {
  interrupted: number
  completed: number
}

const run = (repository: () => Layer.Layer<SessionRepository>, bounded: boolean, tally: Tally) =>
(input: Scenario) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const layer = SessionStore.layerWith({ maxSessions: 3, maxMessagesPerSession: W, cleanupIntervalMs: 1_000_000_000 }).pipe(
        Layer.orDie,
        Layer.provideMerge(instrumentedRepository(repository())),
        Layer.provide(MemoryMonitor.layerTest())
      )
      const context = yield* Layer.buildWithScope(layer, scope)
      const exit = yield* Effect.exit(scenario(input, bounded).pipe(Effect.provideContext(context)))
      // The write gate holds no permit: releasing the layer finishes.
      const released = bounded
        ? yield* promptly(Scope.close(scope, Exit.void), "releasing the layer")
        : yield* Effect.exit(Scope.close(scope, Exit.void))
      const outcomes = yield* exit
      assert.isTrue(Exit.isSuccess(released), "releasing the layer finishes")
      for (const o of outcomes) {
        if (o === "interrupted") tally.interrupted++
        else tally.completed++
      }
    }).pipe(Effect.provide(TestClock.layer()))
  )

describe("Reliability: interruption", () => {
  it(`memory repository: ${RUNS} random mixes of concurrent operations, some interrupted at random points`, async () => {
    const tally: Tally = { interrupted: 0, completed: 0 }
    // Stays on fc.assert: it.effect.prop (@effect/vitest 4.0.5) takes only effect/Arbitrary or Schema inputs and { runs, seed, replay }, not fast-check's seed and SESSION_STORE_MODEL_PATH replay.
    await fc.assert(fc.asyncProperty(scenarioArb, run(() => SessionRepository.layerMemory, true, tally)), runParameters(RUNS))
    console.log(`interruption, memory: ${RUNS} runs, ${tally.interrupted} operations interrupted, ${tally.completed} completed`)
    if (!replaying && RUNS >= 50) assert.isAbove(tally.interrupted, RUNS / 2)
  }, 120_000)

  it(`SQLite repository on temp files: ${SQLITE_RUNS} random mixes, and the database verifies clean after each`, async () => {
    const tally: Tally = { interrupted: 0, completed: 0 }
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "session-store-interrupt-"))
    let n = 0
    try {
      // Stays on fc.assert: it.effect.prop (@effect/vitest 4.0.5) takes only effect/Arbitrary or Schema inputs and { runs, seed, replay }, not fast-check's seed and SESSION_STORE_MODEL_PATH replay.
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (input) => {
          const filename = path.join(root, `run-${n++}.db`)
          await run(
            () => SessionRepository.layerSqlite({ filename, synchronous: "FULL" }).pipe(Layer.orDie),
            false,
            tally
          )(input)
          const inspection = await Effect.runPromise(inspectDatabase(filename, { verify: true }))
          assert.deepStrictEqual(inspection.problems, [], "no torn or corrupt row left behind")
        }),
        runParameters(SQLITE_RUNS)
      )
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
    console.log(`interruption, SQLite: ${SQLITE_RUNS} runs, ${tally.interrupted} operations interrupted, ${tally.completed} completed`)
  }, 300_000)

  it.effect("interrupting the only reader of a cold load in flight frees the session: a write goes through, the next read sees it", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* store.createSession(sessionInfo("ses_1"))
      yield* store.invalidate("ses_1") // cold: the create left it resident
      const latch = yield* Latch.make(false)
      controls.hold = latch
      const reader = yield* Effect.forkChild(store.getMessages("ses_1"), { startImmediately: true })
      while (controls.blocked === 0) yield* Effect.yieldNow
      yield* Fiber.interrupt(reader)
      assert.strictEqual(controls.blocked, 0, "the abandoned load was interrupted inside the repository")
      controls.hold = undefined
      const write = yield* promptly(store.appendMessage("ses_1", message("ses_1", "msg_1")), "a write after the abandoned load")
      assert.isTrue(Exit.isSuccess(write))
      assert.deepStrictEqual((yield* store.getMessages("ses_1")).map((m) => m.info.id), ["msg_1"])
      const stats = yield* store.stats
      assert.strictEqual(stats.residentSessions, 1)
      assert.strictEqual(stats.residentMessages, 1)
    }).pipe(Effect.provide(SessionStore.layerWith({ cleanupIntervalMs: 1_000_000_000 }).pipe(
      Layer.orDie,
      Layer.provideMerge(instrumentedRepository(SessionRepository.layerMemory)),
      Layer.provide(MemoryMonitor.layerTest())
    ))))

  it.effect("a writer interrupted while it waits for a busy session is not applied, and the lock stays usable", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      const storage = yield* Storage
      yield* store.createSession(sessionInfo("ses_1"))
      yield* store.getSession("ses_1")
      const latch = yield* Latch.make(false)
      controls.hold = latch
      const first = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", "msg_1")), { startImmediately: true })
      while (controls.blocked === 0) yield* Effect.yieldNow
      const second = yield* Effect.forkChild(store.appendMessage("ses_1", message("ses_1", "msg_2")), { startImmediately: true })
      for (let k = 0; k < 10; k++) yield* Effect.yieldNow
      yield* Fiber.interrupt(second) // waiting for the lock: interruptible, never started
      controls.hold = undefined
      yield* latch.open
      yield* Fiber.join(first)
      assert.deepStrictEqual(
        (yield* storage.pageMessages("ses_1" as SessionId, { limit: 10 })).map((m) => m.message.info.id),
        ["msg_1"]
      )
      const third = yield* promptly(store.appendMessage("ses_1", message("ses_1", "msg_3")), "a write after the interrupted one")
      assert.isTrue(Exit.isSuccess(third))
      assert.deepStrictEqual((yield* store.getMessages("ses_1")).map((m) => m.info.id), ["msg_1", "msg_3"])
    }).pipe(Effect.provide(SessionStore.layerWith({ cleanupIntervalMs: 1_000_000_000 }).pipe(
      Layer.orDie,
      Layer.provideMerge(instrumentedRepository(SessionRepository.layerMemory)),
      Layer.provide(MemoryMonitor.layerTest())
    ))))
})
