/**
 * Concurrency at the sizes the promise is made for: 100 fibers appending 100
 * messages each to one session, 1,000 concurrent reads of a cold session, and
 * writers racing evictions across more sessions than fit. Run on the memory
 * repository (every repository call yields first, so fibers interleave at
 * every step) and on the SQLite repository on a temp file (synchronous FULL).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { TestClock } from "effect/testing"
import { Effect, Fiber, Latch, Layer } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import type { StoreOptions } from "../src/config/StoreConfig.ts"
import { readStorage, residentBytes } from "./Reliability.support.ts"
import { instrumentedRepository, RepositoryControls, Storage } from "./support/instrumentedRepository.ts"
import { message, sessionInfo } from "./SessionStore.support.ts"

const W = 5
const options: Partial<StoreOptions> = { maxSessions: 3, maxMessagesPerSession: W, cleanupIntervalMs: 1_000_000_000 }

const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "session-store-concurrency-"))),
  (directory) => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true }))
)

// The test monitor: no heap readings on a timer (nothing here is about pressure).
const onMemory = SessionStore.layerWith(options).pipe(
  Layer.orDie,
  Layer.provideMerge(instrumentedRepository(SessionRepository.layerMemory)),
  Layer.provide(MemoryMonitor.layerTest())
)

/** The store on a SQLite file in a fresh temporary directory (synchronous FULL or NORMAL). */
const onSqlite = (synchronous: "FULL" | "NORMAL") =>
  Layer.unwrap(Effect.map(tempDirectory, (directory) =>
    SessionStore.layerWith(options).pipe(
      Layer.orDie,
      Layer.provideMerge(instrumentedRepository(
        SessionRepository.layerSqlite({ filename: path.join(directory, "opencode.db"), synchronous }).pipe(Layer.orDie)
      )),
      Layer.provide(MemoryMonitor.layerTest())
    )))

const FIBERS = 100
const PER_FIBER = 100
const fiberMessageId = (f: number, n: number) => `msg_f${String(f).padStart(3, "0")}_${String(n).padStart(3, "0")}`
const fiberOf = (id: string) => Number(id.slice(5, 8))
const indexOf = (id: string) => Number(id.slice(9))

/** Within `ids`, each fiber's messages appear in the order that fiber wrote them. */
const assertPerFiberOrder = (ids: ReadonlyArray<string>, label: string) => {
  const last = new Map<number, number>()
  for (const id of ids) {
    const f = fiberOf(id)
    const n = indexOf(id)
    const previous = last.get(f) ?? -1
    if (n <= previous) assert.fail(`${label}: fiber ${f} wrote ${n} after ${previous}, but it is stored before it`)
    last.set(f, n)
  }
}

/** Memory and storage agree for a resident session: counts, bytes, and the window is storage's newest messages. */
const assertResidentMatchesStorage = Effect.fnUntraced(function*(sessionId: string) {
  const store = yield* SessionStore
  const storage = yield* Storage
  const stored = (yield* readStorage(storage)).get(sessionId)!
  const resident = (yield* store.residents).find((r) => r.id === sessionId)
  assert.isDefined(resident, `${sessionId} resident`)
  assert.strictEqual(resident!.messageCount, stored.messages.length)
  assert.strictEqual(resident!.windowMessages, Math.min(W, stored.messages.length))
  assert.strictEqual(resident!.bytes, residentBytes(stored, resident!.windowMessages))
  assert.deepStrictEqual(
    yield* store.getMessages(sessionId, { limit: resident!.windowMessages }),
    stored.messages.slice(-resident!.windowMessages)
  )
})

const appendsFromManyFibers = Effect.gen(function*() {
  const store = yield* SessionStore
  const controls = yield* RepositoryControls
  yield* store.createSession(sessionInfo("ses_hot"))
  yield* store.getSession("ses_hot") // resident: every append also updates memory
  controls.yieldsFirst = 1
  const torn: Array<string> = []
  const writers = Effect.all(
    Array.from({ length: FIBERS }, (_, f) =>
      Effect.forEach(
        Array.from({ length: PER_FIBER }, (_, n) => n),
        (n) => store.appendMessage("ses_hot", message("ses_hot", fiberMessageId(f, n), `fiber ${f} message ${n}`)),
        { discard: true }
      )),
    { concurrency: "unbounded", discard: true }
  )
  // Readers during the writes: every page they see is a consistent snapshot (each fiber's order kept).
  let pagesRead = 0
  const reader = Effect.gen(function*() {
    for (let k = 0; k < 50; k++) {
      const page = yield* store.getMessages("ses_hot", { limit: W })
      try {
        assertPerFiberOrder(page.map((m) => m.info.id), "a page read during the appends")
      } catch (error) {
        torn.push((error as Error).message)
      }
      pagesRead++
    }
  })
  yield* Effect.all([writers, Effect.all(Array.from({ length: 10 }, () => reader), { concurrency: "unbounded" })], {
    concurrency: "unbounded"
  })
  controls.yieldsFirst = 0
  assert.deepStrictEqual(torn, [])
  assert.strictEqual(pagesRead, 500)

  const stored = (yield* readStorage(yield* Storage)).get("ses_hot")!
  assert.strictEqual(stored.messages.length, FIBERS * PER_FIBER, "every acknowledged append is stored")
  const ids = stored.messages.map((m) => m.info.id as string)
  assert.strictEqual(new Set(ids).size, FIBERS * PER_FIBER, "no message stored twice")
  assertPerFiberOrder(ids, "storage")
  for (let f = 0; f < FIBERS; f++) {
    assert.strictEqual(ids.filter((id) => fiberOf(id) === f).length, PER_FIBER, `fiber ${f}`)
  }
  yield* assertResidentMatchesStorage("ses_hot")
  // Through the store, all of them, paged from storage past the window.
  assert.deepStrictEqual((yield* store.getMessages("ses_hot")).map((m) => m.info.id), ids)
  const stats = yield* store.stats
  assert.strictEqual(stats.residentMessages, W)
})

const READERS = 1_000

const coldReadsShareOneLoad = (hold: boolean) =>
  Effect.gen(function*() {
    const store = yield* SessionStore
    const controls = yield* RepositoryControls
    const storage = yield* Storage
    yield* storage.createSession(sessionInfo("ses_cold") as never)
    for (let n = 0; n < 12; n++) yield* storage.putMessage("ses_cold" as SessionId, message("ses_cold", `msg_${n}`) as never)
    const latch = yield* Latch.make(false)
    if (hold) controls.hold = latch
    const readers = yield* Effect.forkChild(
      Effect.all(
        Array.from({ length: READERS }, (_, k) =>
          k % 3 === 0
            ? store.getSession("ses_cold")
            : k % 3 === 1
            ? store.getMessages("ses_cold", { limit: 3 })
            : store.getMessage("ses_cold", "msg_11")),
        { concurrency: "unbounded" }
      ),
      { startImmediately: true }
    )
    if (hold) {
      // Wait until the one load is inside the repository, let every reader arrive, then release it.
      while (controls.blocked === 0) yield* Effect.yieldNow
      for (let k = 0; k < 100; k++) yield* Effect.yieldNow
      controls.hold = undefined
      yield* latch.open
    }
    const results = yield* Fiber.join(readers)
    assert.strictEqual(results.length, READERS)
    assert.strictEqual(controls.calls.loadSession, 1, "one load from the repository")
    const stats = yield* store.stats
    assert.strictEqual(stats.loads, 1)
    assert.strictEqual(stats.hits + stats.misses, READERS)
    assert.strictEqual(stats.residentSessions, 1)
    // Every reader got the same, correct answer.
    const info = results[0] as { id: string }
    assert.strictEqual(info.id, "ses_cold")
    for (const [k, r] of results.entries()) {
      if (k % 3 === 0) assert.strictEqual(r, results[0])
      else if (k % 3 === 1) assert.deepStrictEqual((r as ReadonlyArray<MessageWithParts>).map((m) => m.info.id), ["msg_9", "msg_10", "msg_11"])
      else assert.strictEqual((r as MessageWithParts).info.id, "msg_11")
    }
  })

/**
 * Eight sessions, three fit: every fiber writes to and reads random sessions,
 * so evictions for capacity race writes and loads all the time. Nothing
 * acknowledged is lost, and memory ends consistent with storage.
 */
const writersRacingEvictions = Effect.gen(function*() {
  const store = yield* SessionStore
  const controls = yield* RepositoryControls
  const sessions = Array.from({ length: 8 }, (_, k) => `ses_${k}`)
  for (const id of sessions) yield* store.createSession(sessionInfo(id))
  controls.yieldsFirst = 1
  const acknowledged = new Map<string, Array<string>>(sessions.map((id) => [id, []]))
  yield* Effect.all(
    Array.from({ length: 40 }, (_, f) =>
      Effect.forEach(Array.from({ length: 25 }, (_, n) => n), (n) => {
        const id = sessions[(f * 7 + n * 3) % sessions.length]!
        const mid = fiberMessageId(f, n)
        return store.appendMessage(id, message(id, mid)).pipe(
          Effect.tap(() => Effect.sync(() => acknowledged.get(id)!.push(mid))),
          Effect.andThen(store.getMessages(sessions[(f + n) % sessions.length]!, { limit: 2 })),
          Effect.andThen(n % 5 === 0 ? store.invalidate(id) : Effect.void)
        )
      }, { discard: true })),
    { concurrency: "unbounded", discard: true }
  )
  controls.yieldsFirst = 0
  const stored = yield* readStorage(yield* Storage)
  for (const id of sessions) {
    const ids = stored.get(id)!.messages.map((m) => m.info.id as string)
    assert.deepStrictEqual([...ids].sort(), [...acknowledged.get(id)!].sort(), `${id}: storage holds exactly what was acknowledged`)
    assertPerFiberOrder(ids, id)
  }
  const stats = yield* store.stats
  assert.isAtMost(stats.residentSessions, 3)
  assert.isAbove(stats.evictions.capacity + stats.evictions.invalidated, 0)
  for (const r of yield* store.residents) yield* assertResidentMatchesStorage(r.id)
})

describe("Reliability: concurrency on the memory repository", () => {
  // 10,000 appends take seconds of wall time while the store's sweep and heap monitor wait on the
  // TestClock, which no one needs to advance here: a TestClock that only warns after a minute, so its
  // "is not advancing the test clock" warning does not land in the test output.
  it.effect(`${FIBERS} fibers append ${PER_FIBER} messages each to one session: all stored, each fiber's order kept`, () =>
    appendsFromManyFibers.pipe(Effect.provide(onMemory), Effect.provide(TestClock.layer({ warningDelay: "1 minute" }))), 60_000)

  it.effect(`${READERS} concurrent reads of a cold session share one load`, () =>
    coldReadsShareOneLoad(true).pipe(Effect.provide(onMemory)))

  it.effect("writers racing capacity evictions across more sessions than fit lose nothing", () =>
    writersRacingEvictions.pipe(Effect.provide(onMemory)))
})

describe("Reliability: concurrency on the SQLite repository", () => {
  it.live(`${FIBERS} fibers append ${PER_FIBER} messages each to one session (synchronous FULL): all stored, each fiber's order kept`, () =>
    appendsFromManyFibers.pipe(Effect.provide(onSqlite("FULL"))), 120_000)

  it.live(`${READERS} concurrent reads of a cold session share one load`, () =>
    coldReadsShareOneLoad(false).pipe(Effect.provide(onSqlite("FULL"))))

  it.live("writers racing capacity evictions across more sessions than fit lose nothing (synchronous FULL)", () =>
    writersRacingEvictions.pipe(Effect.provide(onSqlite("FULL"))), 120_000)
})
