/**
 * Support for the reliability specs: helpers to compare what storage holds
 * (read around the wrapper of support/instrumentedRepository.ts) with a
 * plain model, and to run steps.
 */
import { Effect, Exit, Fiber } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import type { SessionInfo } from "../src/domain/Session.ts"
import type { SessionRepositoryShape } from "../src/repository/SessionRepository.ts"
import { encodeRecord } from "../src/domain/records.ts"

// ---------------------------------------------------------------------------
// The model: what was acknowledged.

export interface ModelSession {
  info: SessionInfo
  messages: Array<MessageWithParts>
}

/** Acknowledged state: sessions by id, each with its info and its messages in order of first write. */
export type Model = Map<string, ModelSession>

export const cloneModel = (model: Model): Model =>
  new Map([...model].map(([id, s]) => [id, { info: s.info, messages: s.messages.slice() }]))

/** A plain, key-sorted form of a model, for deep comparison and readable diffs. */
export const plain = (model: Model) =>
  Object.fromEntries(
    [...model.keys()].sort().map((id) => {
      const s = model.get(id)!
      return [id, { info: s.info, messages: s.messages }]
    })
  )

/** Everything storage holds, read around the wrapper, as a model. */
export const readStorage = Effect.fnUntraced(function*(storage: SessionRepositoryShape) {
  const out: Model = new Map()
  for (const summary of yield* storage.listSessions()) {
    const loaded = yield* storage.loadSession(summary.id, { newest: Number.MAX_SAFE_INTEGER })
    out.set(summary.id, { info: loaded.info, messages: loaded.messages.map((m) => m.message) })
  }
  return out
})

export const recordBytes = (value: SessionInfo | MessageWithParts) => encodeRecord(value).bytes

/** What a session of the model weighs in memory with a window of its newest `window` messages. */
export const residentBytes = (session: ModelSession, window: number) =>
  recordBytes(session.info) +
  session.messages.slice(session.messages.length - window).reduce((n, m) => n + recordBytes(m), 0)

// ---------------------------------------------------------------------------
// Running steps.

/**
 * Runs `effect` in a child fiber and gives it a bounded number of scheduler
 * turns to finish. On the memory repository every operation finishes within
 * a few turns unless it waits for something that will never come (a lock or
 * a gate permit left held), which this turns into a failure instead of a hang.
 */
export const promptly = <A, E>(effect: Effect.Effect<A, E>, label: string, turns = 10_000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.forkChild(effect, { startImmediately: true })
    for (let i = 0; i < turns && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    const exit = fiber.pollUnsafe()
    if (exit === undefined) {
      yield* Fiber.interrupt(fiber)
      return yield* Effect.die(new Error(`${label}: did not finish (a lock or the write gate is still held)`))
    }
    return exit as Exit.Exit<A, E>
  })

/** The tag of a failure, "interrupted" for an interruption, "defect" for a defect; undefined on success. */
export const outcomeTag = (exit: Exit.Exit<unknown, unknown>): string | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const reasons = exit.cause.reasons
  const fail = reasons.find((r) => r._tag === "Fail")
  if (fail !== undefined && fail._tag === "Fail") {
    const error = fail.error as { readonly _tag?: unknown }
    return typeof error._tag === "string" ? error._tag : "untagged failure"
  }
  if (reasons.some((r) => r._tag === "Die")) return "defect"
  return "interrupted"
}

/** Test parameters from the environment: `name` as a non-negative integer, or `fallback`. */
export const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name]
  if (raw === undefined || raw === "") return fallback
  const value = Number(raw)
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`)
  return value
}

export type { SessionId }

/** The seed of every reliability property (SESSION_STORE_MODEL_SEED), fixed by default so CI runs are reproducible. */
export const SEED = envInt("SESSION_STORE_MODEL_SEED", 20_260_606)

/**
 * fast-check parameters: `numRuns` runs from {@link SEED}; with
 * SESSION_STORE_MODEL_PATH (printed with a failure, next to the seed) only
 * that failing case is replayed. Pick the property with vitest's `-t`.
 */
export const runParameters = (numRuns: number): { numRuns: number; seed: number; path?: string; endOnFailure?: boolean } => {
  const path = process.env["SESSION_STORE_MODEL_PATH"]
  return path === undefined || path === "" ? { numRuns, seed: SEED } : { numRuns, seed: SEED, path, endOnFailure: true }
}

/** Whether one recorded case is being replayed (coverage tallies then mean nothing). */
export const replaying = (process.env["SESSION_STORE_MODEL_PATH"] ?? "") !== ""
