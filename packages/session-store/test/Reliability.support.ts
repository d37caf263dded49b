/**
 * Support for the reliability specs: helpers to compare what storage holds
 * (read around the wrapper of support/instrumentedRepository.ts) with a
 * plain model, to run steps, and a file system that fails as disks do.
 */
import * as nodeFs from "node:fs"
import * as nodePath from "node:path"
import { Effect, Exit, Fiber, FileSystem, Layer } from "effect"
import { systemError } from "effect/PlatformError"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import type { SessionInfo } from "../src/domain/Session.ts"
import type { SessionRepositoryShape } from "../src/repository/SessionRepository.ts"
import { decodeInfo, scanLog } from "../src/repository/fileSystem/logFormat.ts"
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

// ---------------------------------------------------------------------------
// A real file system that fails the way disks do.

/**
 * Steers {@link faultyFileSystem}. Counters run over every call while
 * `enabled`; 0 turns a kind of fault off.
 */
export interface DiskFaults {
  enabled: boolean
  /**
   * At most one fault per arming: an injection turns `enabled` off until the
   * spec turns it on again (before the next operation). A second fault in
   * the repair of the first is a different, rarer story (see the report).
   */
  single: boolean
  /** Every Nth `fsync` (of a file or a directory) fails with EIO, after the data went to the page cache. */
  failEveryNthSync: number
  /** Every Nth `writeAll` writes half its bytes, then fails with ENOSPC, as a filling disk does. */
  failEveryNthWrite: number
  /** Every Nth `rename` fails with EIO before renaming anything. */
  failEveryNthRename: number
  /** One shot: the Nth `fsync` from now fails (as above); 0 = off. Counts down while enabled. */
  failSyncIn: number
  syncs: number
  writes: number
  renames: number
  injected: number
}

export const makeDiskFaults = (): DiskFaults => ({
  enabled: false,
  single: false,
  failEveryNthSync: 0,
  failEveryNthWrite: 0,
  failEveryNthRename: 0,
  failSyncIn: 0,
  syncs: 0,
  writes: 0,
  renames: 0,
  injected: 0
})

const systemFailure = (method: string, path: string, code: string, text: string) =>
  systemError({
    _tag: "Unknown",
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    syscall: method,
    cause: Object.assign(new Error(`${code}: ${text}, ${method}`), { code })
  })

/** The file system in context, with the faults of `faults` injected into fsync, writes and renames. */
export const faultyFileSystem = (faults: DiskFaults): Layer.Layer<FileSystem.FileSystem, never, FileSystem.FileSystem> =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (real) => {
      const due = (every: number, n: number) => faults.enabled && every > 0 && n % every === 0
      const injected = () => {
        faults.injected++
        if (faults.single) faults.enabled = false
      }
      const wrapFile = (path: string, file: FileSystem.File): FileSystem.File =>
        new Proxy(file, {
          get(target, property) {
            if (property === "sync") {
              return Effect.suspend(() => {
                const n = ++faults.syncs
                const once = faults.enabled && faults.failSyncIn > 0 && --faults.failSyncIn === 0
                if (!once && !due(faults.failEveryNthSync, n)) return target.sync
                injected()
                return Effect.andThen(target.sync, Effect.fail(systemFailure("fsync", path, "EIO", "i/o error")))
              })
            }
            if (property === "writeAll") {
              return (buffer: Uint8Array) =>
                Effect.suspend(() => {
                  const n = ++faults.writes
                  if (!due(faults.failEveryNthWrite, n)) return target.writeAll(buffer)
                  injected()
                  return Effect.andThen(
                    target.writeAll(buffer.subarray(0, buffer.length >> 1)),
                    Effect.fail(systemFailure("write", path, "ENOSPC", "no space left on device"))
                  )
                })
            }
            const value = (target as unknown as Record<PropertyKey, unknown>)[property]
            return typeof value === "function" ? value.bind(target) : value
          }
        })
      return FileSystem.FileSystem.of({
        ...real,
        open: (path, options) => Effect.map(real.open(path, options), (file) => wrapFile(path, file)),
        rename: (from, to) =>
          Effect.suspend(() => {
            const n = ++faults.renames
            if (!due(faults.failEveryNthRename, n)) return real.rename(from, to)
            injected()
            return Effect.fail(systemFailure("rename", from, "EIO", "i/o error"))
          })
      })
    })
  )

/**
 * What a file-system repository directory holds, read straight from the
 * files (as a restarted process would find it), as a model. Torn tails and
 * sealed records are skipped as the repository skips them.
 */
export const readDisk = (directory: string): Model => {
  const out: Model = new Map()
  const sessions = nodePath.join(directory, "sessions")
  if (!nodeFs.existsSync(sessions)) return out
  for (const name of nodeFs.readdirSync(sessions)) {
    const infoText = nodeFs.readFileSync(nodePath.join(sessions, name, "info.json"), "utf8")
    const decoded = decodeInfo(infoText, undefined)
    if (decoded._tag === "Problem") throw new Error(`${name}/info.json: ${decoded.problem}`)
    const logPath = nodePath.join(sessions, name, "messages.jsonl")
    const data = nodeFs.existsSync(logPath) ? nodeFs.readFileSync(logPath) : Buffer.alloc(0)
    const scan = scanLog(data, decoded.info.id, { keepMessages: true, allProblems: true })
    if (scan.problems.length > 0) throw new Error(`${name}/messages.jsonl: ${JSON.stringify(scan.problems)}`)
    out.set(decoded.info.id, { info: decoded.info, messages: [...scan.entries.values()].map((e) => e.message!) })
  }
  return out
}

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
