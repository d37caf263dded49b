/**
 * The model-based property of Reliability.model.test.ts's operations on a real
 * SQLite file: random sequences of store operations (Reliability.operations.ts:
 * creates, reads, updates, appends, puts, pages, message reads and removals,
 * session removals, listings, plus invalidations and time steps that make the
 * store evict and reload), against `SessionRepository.layerSqlite` on a fresh
 * temporary file per sequence. After every step the outcome is the one the
 * model of acknowledged writes predicts (`plan`), and the database holds exactly
 * the model (read back through the repository); at the end a fresh layer on
 * the same file reads back the model too.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { plan, s, sid, type StoreOp, storeOp } from "./Reliability.operations.ts"
import { envInt, type Model, outcomeTag, plain, readStorage, runParameters } from "./Reliability.support.ts"
import { instrumentedRepository, Storage } from "./support/instrumentedRepository.ts"
import { messageId } from "./SessionStore.support.ts"

const RUNS = envInt("SESSION_STORE_MODEL_SQLITE_RUNS", 100)
const W = 4

type Step = StoreOp | { readonly op: "invalidate"; readonly s: number } | { readonly op: "advance" }

const steps: fc.Arbitrary<ReadonlyArray<Step>> = fc.array(
  fc.oneof(
    { weight: 12, arbitrary: storeOp },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("invalidate" as const), s }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant("advance" as const) }) }
  ),
  { minLength: 1, maxLength: 60, size: "max" }
)

const storeOn = (filename: string) =>
  SessionStore.layerWith({ maxSessions: 3, maxMessagesPerSession: W, sessionTtlMs: 60_000, inactiveTtlMs: 30_000 }).pipe(
    Layer.orDie,
    Layer.provideMerge(instrumentedRepository(SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0 }).pipe(Layer.orDie))),
    Layer.provide(MemoryMonitor.layerTest())
  )

const sequence = (filename: string, sequenceSteps: ReadonlyArray<Step>) =>
  Effect.gen(function*() {
    let model: Model = new Map()
    yield* Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(storeOn(filename))
      const store = Context.get(context, SessionStore)
      const storage = Context.get(context, Storage)
      let next = 1
      const newId = () => messageId(next++)
      const trail: Array<string> = []
      for (const current of sequenceSteps) {
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
        const exit = yield* Effect.exit(planned.run(store))
        const where = `${planned.label}\n  steps:\n    ${trail.join("\n    ")}`
        assert.strictEqual(outcomeTag(exit), planned.failure, `${where}\n  exit: ${String(exit)}`)
        if (exit._tag === "Success") {
          planned.check(exit.value)
          model = planned.after
        }
        assert.deepStrictEqual(plain(yield* readStorage(storage)), plain(model), `the database after ${where}`)
      }
    }))
    // A fresh layer on the same file.
    yield* Effect.scoped(Effect.gen(function*() {
      const storage = Context.get(yield* Layer.build(storeOn(filename)), Storage)
      assert.deepStrictEqual(plain(yield* readStorage(storage)), plain(model), "after a restart")
    }))
  }).pipe(Effect.provide(TestClock.layer()))

describe("model-based, on a real SQLite file", () => {
  it(`SessionRepository.layerSqlite: ${RUNS} random sequences agree with the model after every step`, async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "session-store-sqlite-model-"))
    let n = 0
    try {
      await fc.assert(
        fc.asyncProperty(steps, (sequenceSteps) =>
          Effect.runPromise(sequence(path.join(root, `run-${n++}.db`), sequenceSteps))),
        runParameters(RUNS)
      )
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  }, 300_000)
})
