/**
 * Model-based property test of the store's promise, "bounded memory and
 * nothing lost": random sequences of every operation, clock advances,
 * sweeps, heap readings (pressure spikes), injected repository failures and
 * interruptions at random points, against tiny limits (sessions, window,
 * byte budget, message size) so every cause of eviction fires, checked after
 * every step against a plain model of what was acknowledged (an operation is
 * acknowledged when its effect succeeded).
 *
 * After every step:
 * - what the store returned equals what the model predicts (values and error tags);
 * - storage, read around the store, equals the model whenever a write reached it
 *   (no lost write, no phantom write);
 * - memory is a consistent, bounded view of the model (resident counts and
 *   bytes are those of the model's newest messages; at most `maxSessions`;
 *   resident bytes within `maxBytes` unless one session alone is larger; a
 *   shedding leaves at most `pressureShedTarget` of what was resident);
 * - a write that failed left memory exactly as it was;
 * - an interrupted operation is applied entirely or not at all (decided by
 *   reading storage), and left no lock held (the next operations finish).
 * At the end of a sequence every session reads back identical through the
 * store and from storage, and releasing the layer finishes.
 *
 * Runs: SESSION_STORE_MODEL_RUNS sequences on the memory repository (default
 * 1000) and SESSION_STORE_MODEL_SQLITE_RUNS on the SQLite repository on
 * temp files (default 50), from SESSION_STORE_MODEL_SEED (default fixed). A failure
 * prints the shrunk sequence, the step that failed and the seed and path;
 * SESSION_STORE_MODEL_SEED=<seed> SESSION_STORE_MODEL_PATH=<path> replays it.
 */
import { assert } from "@effect/vitest"
import { Effect, Exit, Fiber, Latch, Layer, References, Scope } from "effect"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { MemoryMonitor, MemoryMonitorTest } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { type Planned, plan, s, SESSIONS, sid, type StoreOp, storeOp } from "./Reliability.operations.ts"
import {
  envInt,
  type Model,
  outcomeTag,
  plain,
  promptly,
  readStorage,
  residentBytes,
  SEED
} from "./Reliability.support.ts"
import { instrumentedRepository, RepositoryControls, Storage } from "./support/instrumentedRepository.ts"
import { messageId } from "./SessionStore.support.ts"

export const RUNS = envInt("SESSION_STORE_MODEL_RUNS", 1000)
export const SQLITE_RUNS = envInt("SESSION_STORE_MODEL_SQLITE_RUNS", 50)
export const PATH = process.env["SESSION_STORE_MODEL_PATH"] || undefined
const MAX_STEPS = envInt("SESSION_STORE_MODEL_STEPS", 100)

// Tiny limits: one session more than fit (capacity), windows of four messages,
// messages over 600 bytes refused; the byte budget and the shed target vary per sequence.
const limits = {
  maxSessions: 3,
  maxMessagesPerSession: 4,
  sessionTtlMs: 60_000,
  cleanupIntervalMs: 10_000,
  maxMessageBytes: 600,
  pressureThreshold: 0.8,
  pressureHysteresis: 0.1,
  pressureCooldownMs: 60_000
}
const W = limits.maxMessagesPerSession

// ---------------------------------------------------------------------------
// Steps.

type Step =
  | StoreOp
  | { readonly op: "invalidate"; readonly s: number }
  | { readonly op: "sweep" }
  | { readonly op: "advance"; readonly ms: number }
  /** The heap reading the store's MemoryMonitor reports from now on (threshold 0.8). */
  | { readonly op: "pressure"; readonly ratio: number }
  /** The (after+1)-th repository call made by `inner` fails with a RepositoryError. */
  | { readonly op: "fault"; readonly after: number; readonly inner: StoreOp }
  /** `inner` forked, interrupted after `yields` scheduler turns; every repository call first yields `repoYields` times. */
  | { readonly op: "interrupt"; readonly yields: number; readonly repoYields: number; readonly inner: StoreOp }
  /** `inner` forked and interrupted while its first repository call is blocked. */
  | { readonly op: "interruptBlocked"; readonly inner: StoreOp }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 25, arbitrary: storeOp },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("invalidate" as const), s }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("sweep" as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("advance" as const),
      ms: fc.constantFrom(1_000, 5_000, 10_000, 25_000, 61_000)
    })
  },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("fault" as const), after: fc.nat(2), inner: storeOp }) },
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant("interrupt" as const), yields: fc.nat(8), repoYields: fc.nat(3), inner: storeOp })
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("interruptBlocked" as const), inner: storeOp }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("pressure" as const), ratio: fc.constantFrom(0.3, 0.75, 0.8, 0.85, 0.95) })
  }
)

interface Settings {
  readonly inactiveTtlMs: number
  readonly maxBytes: number
  readonly pressureShedTarget: number
}

const settings: fc.Arbitrary<Settings> = fc.record({
  inactiveTtlMs: fc.constantFrom(20_000, 90_000),
  // A full resident session here is 1-2 KB: the small budgets evict, the large one never does.
  maxBytes: fc.constantFrom(1_200, 2_500, 4_000, 1_000_000),
  pressureShedTarget: fc.constantFrom(0, 0.5)
})

// ---------------------------------------------------------------------------
// One sequence.


export interface Tally {
  /** Causes of eviction seen over all sequences of a run, to show each was exercised. */
  readonly causes: Record<string, number>
  sequences: number
  steps: number
  faultsInjected: number
  interruptedApplied: number
  interruptedNotApplied: number
  sheddings: number
}

export const newTally = (): Tally => ({
  causes: {},
  sequences: 0,
  steps: 0,
  faultsInjected: 0,
  interruptedApplied: 0,
  interruptedNotApplied: 0,
  sheddings: 0
})

const scenario = (steps: ReadonlyArray<Step>, config: Settings, tally: Tally, bounded: boolean) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const storage = yield* Storage
    const controls = yield* RepositoryControls
    const monitor = yield* MemoryMonitorTest
    let model: Model = new Map()
    let next = 1
    const newId = () => messageId(next++)
    const trail: Array<string> = []
    /** Runs an effect to its exit; on the memory repository, a hang becomes a failure. */
    const settle = <A, E>(effect: Effect.Effect<A, E>, label: string) =>
      bounded ? promptly(effect, label) : Effect.exit(effect)

    const fail = (message: string): never => {
      assert.fail(`${message}\n  steps so far:\n    ${trail.join("\n    ")}`)
    }
    const expectStorage = Effect.fnUntraced(function*(expected: Model, label: string) {
      const stored = yield* readStorage(storage)
      try {
        assert.deepStrictEqual(plain(stored), plain(expected))
      } catch (error) {
        fail(`${label}: storage differs from the acknowledged model: ${(error as Error).message}`)
      }
    })

    const checkMemory = Effect.gen(function*() {
      const residents = yield* store.residents
      const stats = yield* store.stats
      let bytes = 0
      let messages = 0
      for (const r of residents) {
        const m = model.get(r.id)
        if (m === undefined) fail(`${r.id} is resident but was removed (or never created)`)
        assert.strictEqual(r.messageCount, m!.messages.length, `${r.id} resident message count`)
        assert.isAtMost(r.windowMessages, Math.min(W, m!.messages.length), `${r.id} window bound`)
        assert.strictEqual(r.bytes, residentBytes(m!, r.windowMessages), `${r.id} resident bytes`)
        bytes += r.bytes
        messages += r.windowMessages
      }
      assert.isAtMost(residents.length, limits.maxSessions, "resident sessions bound")
      // The byte budget holds, except for the one session in use when it alone is larger.
      if (residents.length > 1) assert.isAtMost(bytes, config.maxBytes, "resident bytes within the budget")
      assert.strictEqual(stats.residentSessions, residents.length)
      assert.strictEqual(stats.residentBytes, bytes)
      assert.strictEqual(stats.residentMessages, messages)
    })

    /** Checks an operation's exit against its plan; adopts the plan's model on success. */
    const judge = (planned: Planned, exit: Exit.Exit<unknown, unknown>) => {
      const tag = outcomeTag(exit)
      if (tag !== planned.failure) {
        fail(`${planned.label}: expected ${planned.failure ?? "success"}, got ${tag ?? "success"}${
          Exit.isFailure(exit) ? `: ${String(exit.cause)}` : ""
        }`)
      }
      if (Exit.isSuccess(exit)) {
        try {
          planned.check(exit.value)
        } catch (error) {
          fail(`${planned.label}: returned a value that differs from the model: ${(error as Error).message}`)
        }
        model = planned.after
      }
    }

    /** After an interruption: storage holds the model before or after the operation, nothing in between. */
    const settleInterrupted = Effect.fnUntraced(function*(planned: Planned, label: string) {
      const stored = plain(yield* readStorage(storage))
      const before = plain(model)
      const after = plain(planned.after)
      const same = (a: unknown, b: unknown) => {
        try {
          assert.deepStrictEqual(a, b)
          return true
        } catch {
          return false
        }
      }
      if (same(stored, after) && planned.after !== model) {
        model = planned.after
        tally.interruptedApplied++
      } else if (same(stored, before)) {
        tally.interruptedNotApplied++
      } else {
        fail(`${label}: interrupted operation left storage half-applied:\n${JSON.stringify(stored)}`)
      }
    })

    for (const [index, current] of steps.entries()) {
      const writesBefore = controls.writes
      let checkStorage = false
      switch (current.op) {
        case "invalidate": {
          trail.push(`invalidate ${sid(current.s)}`)
          const exit = yield* settle(store.invalidate(sid(current.s)), "invalidate")
          if (Exit.isFailure(exit)) fail(`invalidate failed: ${String(exit.cause)}`)
          break
        }
        case "sweep": {
          trail.push("sweep")
          const exit = yield* settle(store.sweep, "sweep")
          if (Exit.isFailure(exit)) fail(`sweep failed: ${String(exit.cause)}`)
          break
        }
        case "pressure": {
          trail.push(`heap reading ${current.ratio}`)
          const before = yield* store.stats
          const sheddings = (yield* store.memoryPressure).sheddings
          const reading = yield* monitor.set(current.ratio)
          let seen = false
          for (let turn = 0; turn < 10_000 && !seen; turn++) {
            seen = (yield* store.memoryPressure).reading === reading
            if (!seen) yield* Effect.yieldNow
          }
          if (!seen) fail(`the store never acted on the heap reading ${current.ratio}`)
          const pressure = yield* store.memoryPressure
          if (pressure.sheddings > sheddings) {
            tally.sheddings++
            const after = yield* store.stats
            assert.isAtMost(
              after.residentBytes,
              Math.floor(before.residentBytes * config.pressureShedTarget),
              "a shedding leaves at most the target fraction of the resident bytes"
            )
          } else if (current.ratio >= limits.pressureThreshold && before.residentSessions > 0) {
            // Not shed at or above the threshold: only because the last shedding is recent and not re-armed.
            assert.isDefined(pressure.lastShedding, "a reading over the threshold sheds unless one just did")
          }
          break
        }
        case "advance": {
          trail.push(`advance ${current.ms} ms`)
          yield* TestClock.adjust(current.ms)
          break
        }
        case "fault": {
          const planned = plan(current.inner, model, newId, limits.maxMessageBytes)
          trail.push(`fault (repository call ${current.after + 1} fails) during ${planned.label}`)
          const residentsBefore = yield* store.residents
          const injectedBefore = controls.injected
          controls.failAfter = current.after
          const exit = yield* settle(planned.run(store), planned.label)
          controls.failAfter = -1
          const injected = controls.injected > injectedBefore
          tally.faultsInjected += injected ? 1 : 0
          if (outcomeTag(exit) === "RepositoryError") {
            if (!injected) fail(`${planned.label}: RepositoryError without an injected failure: ${String(Exit.isFailure(exit) && exit.cause)}`)
            // Typed error, nothing changed: storage, and for a write, memory.
            yield* expectStorage(model, planned.label)
            if (planned.write) {
              assert.deepStrictEqual(yield* store.residents, residentsBefore, `${planned.label}: failed write changed memory`)
            }
          } else {
            judge(planned, exit)
            checkStorage = true
          }
          break
        }
        case "interrupt":
        case "interruptBlocked": {
          const planned = plan(current.inner, model, newId, limits.maxMessageBytes)
          const label = current.op === "interrupt"
            ? `interrupt after ${current.yields} turns (repository yields ${current.repoYields}) ${planned.label}`
            : `interrupt while blocked in the repository: ${planned.label}`
          trail.push(label)
          const latch = current.op === "interruptBlocked" ? yield* Latch.make(false) : undefined
          controls.yieldsFirst = current.op === "interrupt" ? current.repoYields : 0
          controls.hold = latch
          const fiber = yield* Effect.forkChild(planned.run(store), { startImmediately: true })
          if (current.op === "interrupt") {
            for (let n = 0; n < current.yields; n++) yield* Effect.yieldNow
            yield* Fiber.interrupt(fiber)
          } else {
            for (let n = 0; n < 1_000 && controls.blocked === 0 && fiber.pollUnsafe() === undefined; n++) {
              yield* Effect.yieldNow
            }
            // A write inside the repository is uninterruptible: the interruption waits for it.
            const interrupter = yield* Effect.forkChild(Fiber.interrupt(fiber), { startImmediately: true })
            for (let n = 0; n < 5; n++) yield* Effect.yieldNow
            yield* latch!.open
            yield* Fiber.join(interrupter)
          }
          controls.yieldsFirst = 0
          controls.hold = undefined
          const exit = yield* Fiber.await(fiber)
          if (outcomeTag(exit) === "interrupted") yield* settleInterrupted(planned, label)
          else judge(planned, exit)
          checkStorage = true
          break
        }
        default: {
          const planned = plan(current, model, newId, limits.maxMessageBytes)
          trail.push(planned.label)
          judge(planned, yield* settle(planned.run(store), planned.label))
        }
      }
      tally.steps++
      if (checkStorage || controls.writes !== writesBefore) yield* expectStorage(model, `step ${index + 1}`)
      yield* checkMemory
    }

    // No lock was left held: a write and a read of every session finish.
    trail.push("final: touch and read back every session")
    for (let n = 0; n < SESSIONS; n++) {
      const id = sid(n)
      const m = model.get(id)
      const touched = yield* settle(store.updateSession(id, (info) => info), `final update ${id}`)
      assert.strictEqual(outcomeTag(touched), m === undefined ? "SessionNotFound" : undefined, `final update ${id}`)
      if (m === undefined) continue
      assert.deepStrictEqual(yield* store.getSession(id), m.info, `final read ${id}`)
      assert.deepStrictEqual(yield* store.getMessages(id), m.messages, `final messages ${id}`)
    }
    yield* expectStorage(model, "final")
    yield* checkMemory
    const { evictions } = yield* store.stats
    for (const [cause, count] of Object.entries(evictions)) tally.causes[cause] = (tally.causes[cause] ?? 0) + count
    tally.sequences++
  })

/** Builds the store on `repository`, runs the scenario, then checks that releasing the layer finishes. */
const runSequence = (
  repository: Layer.Layer<SessionRepository>,
  bounded: boolean,
  tally: Tally
) =>
(steps: ReadonlyArray<Step>, config: Settings) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const layer = SessionStore.layerWith({ ...limits, ...config }).pipe(
        Layer.orDie,
        Layer.provideMerge(instrumentedRepository(repository)),
        Layer.provideMerge(MemoryMonitor.layerTest())
      )
      const context = yield* Layer.buildWithScope(layer, scope)
      const exit = yield* Effect.exit(scenario(steps, config, tally, bounded).pipe(Effect.provideContext(context)))
      const released = bounded
        ? yield* promptly(Scope.close(scope, Exit.void), "releasing the layer")
        : yield* Effect.exit(Scope.close(scope, Exit.void))
      if (Exit.isFailure(exit)) return yield* exit
      assert.isTrue(Exit.isSuccess(released), "releasing the layer finishes")
    }).pipe(
      Effect.provide(TestClock.layer()),
      // Each shedding logs a warning, by design; hundreds of them would only bury a failure.
      Effect.provideService(References.MinimumLogLevel, "Error")
    )
  )

export const property = (tally: Tally, repository: () => Layer.Layer<SessionRepository>, bounded: boolean) =>
  fc.asyncProperty(
    fc.array(step, { minLength: 1, maxLength: MAX_STEPS, size: "max" }),
    settings,
    (steps, config) => runSequence(repository(), bounded, tally)(steps, config)
  )

export const report = (name: string, tally: Tally) =>
  console.log(
    `${name}: ${tally.sequences} sequences, ${tally.steps} steps (seed ${SEED}); evictions by cause ${
      JSON.stringify(tally.causes)
    }; ${tally.faultsInjected} faults injected; interrupted operations applied ${tally.interruptedApplied}, not applied ${tally.interruptedNotApplied}; ${tally.sheddings} sheddings under pressure`
  )
