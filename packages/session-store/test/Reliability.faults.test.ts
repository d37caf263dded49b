/**
 * Faults: storage that fails. Every fault must reach the caller as a typed
 * error, leave memory as it was, leave no phantom data in storage, and later
 * operations must work.
 *
 * - A repository wrapper failing every Nth write and every Nth read, under
 *   random sequences of operations (memory and SQLite repositories).
 *
 * Real faults of the operating system on the SQLite file (a full disk, a
 * read-only file or file system, a corrupt file, a lock held by another
 * process) are in SessionRepository.sqliteFaults.test.ts.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { plan, s, SESSIONS, sid, type StoreOp, storeOp } from "./Reliability.operations.ts"
import {
  envInt,
  type Model,
  outcomeTag,
  plain,
  readStorage,
  residentBytes,
  replaying,
  runParameters
} from "./Reliability.support.ts"
import { instrumentedRepository, RepositoryControls, Storage } from "./support/instrumentedRepository.ts"
import { message, messageId } from "./SessionStore.support.ts"

const RUNS = envInt("SESSION_STORE_FAULT_RUNS", 500)
const SQLITE_RUNS = envInt("SESSION_STORE_FAULT_SQLITE_RUNS", 30)
const W = 4

type Step = StoreOp | { readonly op: "invalidate"; readonly s: number } | { readonly op: "advance" }

interface Scenario {
  /** Fail every Nth write; every Nth read (0: reads never fail). */
  readonly everyNthWrite: number
  readonly everyNthRead: number
  readonly steps: ReadonlyArray<Step>
}

const stepsArb: fc.Arbitrary<ReadonlyArray<Step>> = fc.array(
  fc.oneof(
    { weight: 12, arbitrary: storeOp },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("invalidate" as const), s }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("advance" as const) }) }
  ),
  { minLength: 1, maxLength: 60, size: "max" }
)

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  everyNthWrite: fc.integer({ min: 2, max: 6 }),
  everyNthRead: fc.oneof(fc.constant(0), fc.integer({ min: 2, max: 6 })),
  steps: stepsArb
})

interface Tally {
  failedWrites: number
  failedReads: number
  acknowledged: number
}

const scenario = ({ everyNthRead, everyNthWrite, steps }: Scenario, tally: Tally) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const storage = yield* Storage
    const controls = yield* RepositoryControls
    let model: Model = new Map()
    let next = 1
    const newId = () => messageId(next++)
    const trail: Array<string> = []
    const fail = (text: string): never => assert.fail(`${text}\n  steps so far:\n    ${trail.join("\n    ")}`)

    /** Storage equals the acknowledged model, as the running repository reads it. */
    const expectStored = (label: string) =>
      Effect.gen(function*() {
        const stored = yield* readStorage(storage)
        try {
          assert.deepStrictEqual(plain(stored), plain(model))
        } catch (error) {
          fail(`${label}: storage differs from what was acknowledged: ${(error as Error).message}`)
        }
      })

    controls.failEveryNthWrite = everyNthWrite
    controls.failEveryNthRead = everyNthRead
    for (const current of steps) {
      if (current.op === "invalidate") {
        trail.push(`invalidate ${sid(current.s)}`)
        yield* store.invalidate(sid(current.s))
        continue
      }
      if (current.op === "advance") {
        trail.push("advance 25 s")
        yield* TestClock.adjust(25_000)
        continue
      }
      const planned = plan(current, model, newId)
      trail.push(planned.label)
      const residentsBefore = yield* store.residents
      const injectedBefore = controls.injected
      const writesBefore = controls.writes
      const exit = yield* Effect.exit(planned.run(store))
      const tag = outcomeTag(exit)
      if (tag === "RepositoryError") {
        if (controls.injected === injectedBefore) {
          fail(`${planned.label}: RepositoryError without an injected failure`)
        }
        // A typed error, and nothing changed: not storage, and for a write not memory either.
        yield* expectStored(`${planned.label} failed (no phantom data)`)
        if (planned.write) {
          try {
            assert.deepStrictEqual(yield* store.residents, residentsBefore)
          } catch (error) {
            fail(`${planned.label} failed but memory changed: ${(error as Error).message}`)
          }
          tally.failedWrites++
        } else {
          tally.failedReads++
        }
        continue
      }
      if (tag !== planned.failure) fail(`${planned.label}: expected ${planned.failure ?? "success"}, got ${tag ?? "success"}`)
      if (Exit.isSuccess(exit)) {
        try {
          planned.check(exit.value)
        } catch (error) {
          fail(`${planned.label}: ${(error as Error).message}`)
        }
        model = planned.after
        tally.acknowledged++
      }
      if (controls.writes !== writesBefore) yield* expectStored(`after ${planned.label}`)
      // Memory is a consistent view of the acknowledged model.
      for (const r of yield* store.residents) {
        const m = model.get(r.id)
        if (m === undefined) fail(`${r.id} resident but not acknowledged`)
        assert.strictEqual(r.messageCount, m!.messages.length, `${r.id} count`)
        assert.strictEqual(r.bytes, residentBytes(m!, r.windowMessages), `${r.id} bytes`)
      }
    }

    // Faults gone: later operations work, and everything acknowledged reads back.
    controls.failEveryNthWrite = 0
    controls.failEveryNthRead = 0
    trail.push("faults off: write to and read back every session")
    for (let n = 0; n < SESSIONS; n++) {
      const id = sid(n)
      const m = model.get(id)
      if (m === undefined) {
        assert.strictEqual((yield* Effect.flip(store.getSession(id)))._tag, "SessionNotFound")
        continue
      }
      assert.deepStrictEqual(yield* store.getSession(id), m.info, `${id} info`)
      assert.deepStrictEqual(yield* store.getMessages(id), m.messages, `${id} messages`)
      const written = yield* store.appendMessage(id, message(id, newId(), "after the faults"))
      m.messages.push(written)
      assert.deepStrictEqual(yield* store.getMessages(id), m.messages, `${id} messages after a later write`)
    }
    yield* expectStored("at the end")
  })

const run = (repository: () => Layer.Layer<SessionRepository>, tally: Tally) => (input: Scenario) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const layer = SessionStore.layerWith({
        maxSessions: 3,
        maxMessagesPerSession: W,
        sessionTtlMs: 60_000,
        inactiveTtlMs: 20_000,
        cleanupIntervalMs: 10_000
      }).pipe(
        Layer.orDie,
        Layer.provideMerge(instrumentedRepository(repository())),
        Layer.provide(MemoryMonitor.layerTest())
      )
      const context = yield* Layer.buildWithScope(layer, scope)
      const exit = yield* Effect.exit(scenario(input, tally).pipe(Effect.provideContext(context)))
      yield* Scope.close(scope, Exit.void)
      return yield* exit
    }).pipe(Effect.provide(TestClock.layer()))
  )

describe("Reliability: faults", () => {
  it(`a repository failing every Nth write and read: ${RUNS} random sequences on memory`, async () => {
    const tally: Tally = { failedWrites: 0, failedReads: 0, acknowledged: 0 }
    // Stays on fc.assert: it.effect.prop (@effect/vitest 4.0.5) takes only effect/Arbitrary or Schema inputs and { runs, seed, replay }, not fast-check's seed and SESSION_STORE_MODEL_PATH replay.
    await fc.assert(fc.asyncProperty(scenarioArb, run(() => SessionRepository.layerMemory, tally)), runParameters(RUNS))
    console.log(
      `faults, memory: ${RUNS} sequences; ${tally.failedWrites} writes and ${tally.failedReads} reads failed, ${tally.acknowledged} operations acknowledged`
    )
    if (!replaying && RUNS >= 50) {
      assert.isAbove(tally.failedWrites, RUNS)
      assert.isAbove(tally.failedReads, RUNS)
    }
  }, 120_000)

  it(`a repository failing every Nth write and read: ${SQLITE_RUNS} random sequences on SQLite files`, async () => {
    const tally: Tally = { failedWrites: 0, failedReads: 0, acknowledged: 0 }
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "session-store-faults-"))
    let n = 0
    try {
      // Stays on fc.assert: it.effect.prop (@effect/vitest 4.0.5) takes only effect/Arbitrary or Schema inputs and { runs, seed, replay }, not fast-check's seed and SESSION_STORE_MODEL_PATH replay.
      await fc.assert(
        fc.asyncProperty(
          scenarioArb,
          run(() =>
            SessionRepository.layerSqlite({ filename: path.join(root, `run-${n++}.db`), synchronous: "NORMAL" }).pipe(
              Layer.orDie
            ), tally)
        ),
        runParameters(SQLITE_RUNS)
      )
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
    console.log(`faults, SQLite: ${SQLITE_RUNS} sequences; ${tally.failedWrites} writes and ${tally.failedReads} reads failed`)
  }, 120_000)
})
