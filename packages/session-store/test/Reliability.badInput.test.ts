/**
 * Bad input, through the store as a caller or an operator meets it: hostile
 * ids, messages over the configured size limit, invalid configuration (a
 * corrupt database or row, on SQLite: SessionRepository.sqliteFaults.test.ts). Each gets a typed error with a message that says
 * what is wrong and where, nothing reaches storage that should not, and the
 * store keeps working for everything else.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Exit, Layer } from "effect"
import * as fc from "fast-check"
import { idProblem } from "../src/domain/Ids.ts"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, type SessionStoreShape } from "../src/store/SessionStore.ts"
import { provider } from "../src/config/StoreConfig.ts"
import { inspectDatabase } from "../src/repository/sql/SqlInspection.ts"
import { outcomeTag, SEED } from "./Reliability.support.ts"
import { instrumentedRepository, RepositoryControls } from "./support/instrumentedRepository.ts"
import { message, sessionInfo } from "./SessionStore.support.ts"


const tempRoot = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "session-store-bad-input-"))),
  (root) => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true }))
)

/** The store on `<directory>/opencode.db` (the folder created), configured from an opencode.json object and an environment. */
const liveStore = (directory: string, file: unknown = {}, env: Record<string, string> = {}) =>
  Layer.unwrap(Effect.sync(() => {
    fs.mkdirSync(directory, { recursive: true })
    return SessionStore.layerSqlite({ filename: path.join(directory, "opencode.db"), synchronous: "NORMAL" }).pipe(
      Layer.provide(ConfigProvider.layer(provider({ file, env })))
    )
  }))

const withStore = <A, E, E2>(
  layer: Layer.Layer<SessionStore, E2>,
  f: (store: SessionStoreShape) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(Layer.build(layer), (context) => f(Context.get(context, SessionStore))))

/**
 * Every file under `root`, with its bytes: for "nothing changed" checks. The
 * WAL index (`-shm`) is left out: readers take their read marks in it.
 */
const snapshot = (root: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.name.endsWith("-shm")) continue
    const full = path.join(entry.parentPath, entry.name)
    out[path.relative(root, full)] = entry.isFile() ? fs.readFileSync(full).toString("base64") : "dir"
  }
  return out
}

/** A failure's tag and message; fails the test on success or a defect. */
const failureOf = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) return assert.fail(`expected a failure, got ${JSON.stringify(exit.value)}`)
    const fail = exit.cause.reasons.find((r) => r._tag === "Fail")
    if (fail === undefined || fail._tag !== "Fail") return assert.fail(`expected a typed failure, got ${String(exit.cause)}`)
    return fail.error as { readonly _tag: string; readonly message: string }
  })

// ---------------------------------------------------------------------------

const hostileIds: ReadonlyArray<readonly [string, unknown, string]> = [
  ["a parent directory", "..", "is a relative directory name"],
  ["the current directory", ".", "is a relative directory name"],
  ["a path escaping upwards", "../../etc/passwd", "contains a path separator"],
  ["a slash", "a/b", "contains a path separator"],
  ["a backslash", "a\\b", "contains a path separator"],
  ["an absolute path", "/etc", "contains a path separator"],
  ["empty", "", "is empty"],
  ["a NUL byte", "ses\u0000x", "contains the control character U+0000"],
  ["a newline", "ses\nx", "contains the control character U+000a"],
  ["a C1 control", "ses\u0085x", "contains the control character U+0085"],
  ["too long", "s".repeat(129), "is longer than 128 characters"],
  ["a number", 42, "is a number, not a string"],
  ["null", null, "is a object, not a string"],
  ["an object", { id: "ses_1" }, "is a object, not a string"]
]

/** Every store operation that takes a session id, called with `id`. */
const everyOperation = (
  store: SessionStoreShape,
  id: unknown
): ReadonlyArray<readonly [string, Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>]> => {
  const s = id as string
  return [
    ["getSession", store.getSession(s)],
    ["updateSession", store.updateSession(s, (info) => info)],
    ["removeSession", store.removeSession(s)],
    ["appendMessage", store.appendMessage(s, message("ses_ok", "msg_1"))],
    ["putMessage", store.putMessage(s, message("ses_ok", "msg_1"))],
    ["getMessage", store.getMessage(s, "msg_1")],
    ["getMessages", store.getMessages(s, { limit: 1 })],
    ["removeMessage", store.removeMessage(s, "msg_1")]
  ]
}

describe("Reliability: hostile ids", () => {
  it.effect("every operation refuses a hostile session or message id with InvalidId naming the problem; storage is never asked", () =>
    Effect.gen(function*() {
      const store = yield* SessionStore
      const controls = yield* RepositoryControls
      yield* store.createSession(sessionInfo("ses_ok"))
      yield* store.appendMessage("ses_ok", message("ses_ok", "msg_1"))
      const callsBefore = { ...controls.calls }
      for (const [label, id, reason] of hostileIds) {
        for (const [operation, effect] of everyOperation(store, id)) {
          const error = yield* failureOf(effect)
          assert.strictEqual(error._tag, "InvalidId", `${operation} with ${label}`)
          assert.include(error.message, "invalid SessionId", `${operation} with ${label}`)
          assert.include(error.message, reason, `${operation} with ${label}`)
        }
        // The same ids as message ids.
        for (
          const [operation, effect] of [
            ["getMessage", store.getMessage("ses_ok", id as string)],
            ["removeMessage", store.removeMessage("ses_ok", id as string)],
            ["getMessages before", store.getMessages("ses_ok", { before: id as string })]
          ] as const
        ) {
          const error = yield* failureOf(effect as Effect.Effect<unknown, { _tag: string }>)
          assert.strictEqual(error._tag, "InvalidId", `${operation} with ${label}`)
          assert.include(error.message, "invalid MessageId", `${operation} with ${label}`)
          assert.include(error.message, reason, `${operation} with ${label}`)
        }
        // Inside a record, an id is input: InvalidInput, naming the field.
        if (typeof id === "string") {
          const created = yield* failureOf(store.createSession(sessionInfo(id)))
          assert.strictEqual(created._tag, "InvalidInput", `create with ${label}`)
          assert.include(created.message, "invalid session", `create with ${label}`)
          assert.include(created.message, `["id"]`, `create with ${label}`)
          const written = yield* failureOf(store.appendMessage("ses_ok", message("ses_ok", id)))
          assert.strictEqual(written._tag, "InvalidInput", `message with ${label}`)
          assert.include(written.message, `["info"]["id"]`, `message with ${label}`)
        }
        // Invalidating an id that can never be resident is a no-op, not an error.
        yield* store.invalidate(id as string)
      }
      assert.deepStrictEqual(controls.calls, callsBefore, "no hostile id reached the repository")
      assert.deepStrictEqual((yield* store.getMessages("ses_ok")).map((m) => m.info.id), ["msg_1"])
    }).pipe(Effect.provide(SessionStore.layerWith({}).pipe(
      Layer.orDie,
      Layer.provideMerge(instrumentedRepository(SessionRepository.layerMemory)),
      Layer.provide(MemoryMonitor.layerTest())
    ))))

  it.effect("any string as an id, on a SQLite file: refused exactly when unsafe, else it round-trips, and nothing but the database is written", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = path.join(root, "store")
      const id = fc.oneof(
        fc.string({ unit: "binary", maxLength: 140 }),
        fc.string({ unit: fc.constantFrom(".", "/", "\\", "a", "A", "é", "\u0000", "%", "^", "="), maxLength: 8 }),
        fc.constantFrom("..", ".", "con", "NUL", "ses_A", "ses_a", "%41", "^a", ".hidden", " ", "e\u0301")
      )
      const samples = fc.sample(fc.uniqueArray(id, { minLength: 150, maxLength: 150 }), { numRuns: 1, seed: SEED })[0]!
      let accepted = 0
      const messageIds = new Map<string, string>()
      yield* withStore(liveStore(directory), (store) =>
        Effect.gen(function*() {
          for (const sessionId of samples) {
            const problem = idProblem(sessionId)
            const exit = yield* Effect.exit(store.createSession(sessionInfo(sessionId)))
            if (problem !== undefined) {
              assert.strictEqual(outcomeTag(exit), "InvalidInput", JSON.stringify(sessionId))
              assert.strictEqual(outcomeTag(yield* Effect.exit(store.getSession(sessionId))), "InvalidId")
              continue
            }
            assert.isTrue(Exit.isSuccess(exit), `${JSON.stringify(sessionId)}: ${Exit.isFailure(exit) ? String(exit.cause) : ""}`)
            accepted++
            // Message ids are unique across sessions (opencode's message table).
            messageIds.set(sessionId, `msg_${accepted}`)
            yield* store.appendMessage(sessionId, message(sessionId, `msg_${accepted}`))
          }
          for (const sessionId of samples.filter((s) => idProblem(s) === undefined)) {
            assert.strictEqual((yield* store.getSession(sessionId)).id, sessionId)
            assert.deepStrictEqual((yield* store.getMessages(sessionId)).map((m) => m.info.id), [messageIds.get(sessionId)])
          }
          assert.strictEqual((yield* store.listSessions()).length, accepted)
        }))
      // Nothing escaped: the only entry next to the store is the store, which holds the database and its WAL files.
      assert.deepStrictEqual(fs.readdirSync(root), ["store"])
      for (const name of fs.readdirSync(directory)) assert.match(name, /^opencode\.db(-wal|-shm)?$/)
      assert.isAbove(accepted, 50)
      const inspection = yield* inspectDatabase(path.join(directory, "opencode.db"), { verify: true })
      assert.deepStrictEqual(inspection.problems, [])
      assert.strictEqual(inspection.sessions.length, accepted)
    }), 60_000)
})

// ---------------------------------------------------------------------------

describe("Reliability: messages over the configured size limit", () => {
  it.effect("MEMORY_MAX_MESSAGE_BYTES over opencode.json: an oversized append or rewrite is refused naming its size and the key, nothing on disk changes, the old version stays", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = path.join(root, "store")
      const limit = 2_000
      const file = { memory: { maxMessageBytes: 1_000_000 } }
      const env = { MEMORY_MAX_MESSAGE_BYTES: String(limit) }
      yield* withStore(liveStore(directory, file, env), (store) =>
        Effect.gen(function*() {
          yield* store.createSession(sessionInfo("ses_1"))
          const small = yield* store.appendMessage("ses_1", message("ses_1", "msg_1", "fits"))
          yield* store.getSession("ses_1")
          const before = snapshot(root)
          const residents = yield* store.residents
          // 3-byte characters: the limit is in UTF-8 bytes of the record, not in characters.
          const oversized = [
            ["a new message", message("ses_1", "msg_2", "漢".repeat(700))],
            ["a rewrite of an existing one", message("ses_1", "msg_1", "漢".repeat(700))]
          ] as const
          for (const [label, big] of oversized) {
            for (const write of [store.appendMessage, store.putMessage]) {
              const error = yield* failureOf(write("ses_1", big))
              assert.strictEqual(error._tag, "InvalidInput", label)
              assert.match(error.message, /is \d+ bytes, over the limit of 2000 bytes \(memory\.maxMessageBytes\)/, label)
            }
          }
          assert.deepStrictEqual(snapshot(root), before, "nothing was written")
          assert.deepStrictEqual(yield* store.residents, residents, "memory unchanged")
          assert.deepStrictEqual(yield* store.getMessages("ses_1"), [small])
          // Under the limit, the same session takes writes as before.
          yield* store.appendMessage("ses_1", message("ses_1", "msg_3", "漢".repeat(100)))
          assert.strictEqual((yield* store.getMessages("ses_1")).length, 2)
        }))
      // The limit is on writes: a message stored under a larger limit still loads when the limit shrinks.
      yield* withStore(liveStore(directory, file, {}), (store) =>
        store.appendMessage("ses_1", message("ses_1", "msg_big", "漢".repeat(700))))
      const loaded = yield* withStore(liveStore(directory, file, env), (store) => store.getMessages("ses_1"))
      assert.deepStrictEqual(loaded.map((m) => m.info.id), ["msg_1", "msg_3", "msg_big"])
    }))
})

// ---------------------------------------------------------------------------

describe("Reliability: invalid configuration", () => {
  const bad: ReadonlyArray<readonly [string, string]> = [
    ["maxSessions", "0"],
    ["maxMessagesPerSession", "-1"],
    ["sessionTtlMs", "1.5"],
    ["inactiveTtlMs", "soon"],
    ["cleanupIntervalMs", ""],
    ["maxBytes", "0"],
    ["maxMessageBytes", "-2048"],
    ["pressureThreshold", "1.5"],
    ["pressureCheckIntervalMs", "0"],
    ["pressureHysteresis", "1"],
    ["pressureCooldownMs", "never"],
    ["pressureShedTarget", "-0.5"]
  ]
  const envName = (key: string) => `MEMORY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`

  it.effect("every memory.* key, invalid in the environment or in opencode.json, fails the live layer with a ConfigError naming it", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      for (const [key, value] of bad) {
        for (const [where, file, env] of [
          ["env", {}, { [envName(key)]: value }],
          ["opencode.json", { memory: { [key]: value } }, {}]
        ] as const) {
          const error = yield* failureOf(withStore(liveStore(path.join(root, `${key}-${where}`), file, env), () => Effect.void))
          assert.strictEqual(error._tag, "ConfigError", `${key} in ${where}`)
          assert.include(error.message, `["memory"]["${key}"]`, `${key} in ${where}`)
        }
      }
    }))
})
