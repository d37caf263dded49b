/**
 * Fixtures for the SessionStore specs: domain values, a repository that
 * counts and can hold or fail calls, and the store built on it.
 */
import { Context, Effect, Layer, type Latch } from "effect"
import { RepositoryError } from "../src/domain/Errors.ts"
import type { SessionId } from "../src/domain/Ids.ts"
import { type HeapFigures, MemoryMonitor, MemoryMonitorTest } from "../src/monitor/MemoryMonitor.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionRepository, type SessionRepositoryShape } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import type { StoreOptions } from "../src/config/StoreConfig.ts"
import { makeMemoryRepository } from "../src/repository/memory.ts"
import { encodeRecord } from "../src/domain/records.ts"

export const sessionInfo = (id: string, title = `title of ${id}`) => ({
  id,
  projectID: "prj_1",
  directory: "/repo",
  title,
  version: "1.0.0",
  time: { created: 1_700_000_000_000, updated: 1_700_000_000_000 },
  share: { url: `https://example.test/${id}` }
})

export const message = (sessionId: string, id: string, text = `text of ${id}`) => ({
  info: { id, sessionID: sessionId, role: "user" as const, time: { created: 1_700_000_000_000 } },
  parts: [{ id: `prt_${id}`, sessionID: sessionId, messageID: id, type: "text", text }]
})

/** `msg_0001`…: ids that sort in the order they are written. */
export const messageId = (n: number) => `msg_${String(n).padStart(4, "0")}`

export const bytesOf = (value: unknown) => encodeRecord(value as MessageWithParts).bytes

export type Operation = keyof SessionRepositoryShape

/** What a spec can see and steer of the repository under the store. */
export interface Probe {
  readonly calls: Record<Operation, number>
  /** Operations that wait until their latch opens (before touching storage). */
  readonly held: Partial<Record<Operation, Latch.Latch>>
  /** When set, only calls for these sessions are held. */
  heldSessions: ReadonlySet<string> | undefined
  /** Every call yields to other fibers first, as real storage would, so fibers interleave. */
  yieldFirst: boolean
  /** Operations that fail with a RepositoryError, before touching storage. */
  readonly failing: Set<Operation>
}

export class RepositoryProbe extends Context.Service<RepositoryProbe, Probe>()("test/RepositoryProbe") {}

const operations: ReadonlyArray<Operation> = [
  "createSession",
  "updateSession",
  "loadSession",
  "putMessage",
  "getMessage",
  "pageMessages",
  "removeMessage",
  "removeSession",
  "listSessions"
]

/** The memory repository, with every call counted and optionally held or failed. */
export const probedRepository: Layer.Layer<SessionRepository | RepositoryProbe> = Layer.effectContext(
  Effect.sync(() => {
    const inner = makeMemoryRepository()
    const probe: Probe = {
      calls: Object.fromEntries(operations.map((op) => [op, 0])) as Record<Operation, number>,
      held: {},
      heldSessions: undefined,
      yieldFirst: false,
      failing: new Set()
    }
    const wrap = <Args extends Array<any>, A, E>(
      op: Operation,
      f: (...args: Args) => Effect.Effect<A, E>
    ) =>
    (...args: Args): Effect.Effect<A, E | RepositoryError> =>
      Effect.suspend((): Effect.Effect<A, E | RepositoryError> => {
        probe.calls[op]++
        const sessionId = typeof args[0] === "string" ? args[0] : undefined
        if (probe.failing.has(op)) {
          return Effect.fail(new RepositoryError({ operation: op, sessionId, cause: new Error("injected failure") }))
        }
        const hold = sessionId === undefined || probe.heldSessions === undefined || probe.heldSessions.has(sessionId)
          ? probe.held[op]
          : undefined
        const call = hold === undefined ? f(...args) : Effect.andThen(hold.await, f(...args))
        return probe.yieldFirst ? Effect.andThen(Effect.yieldNow, call) : call
      })
    const repository = {
      createSession: wrap("createSession", inner.createSession),
      updateSession: wrap("updateSession", inner.updateSession),
      loadSession: wrap("loadSession", inner.loadSession),
      putMessage: wrap("putMessage", inner.putMessage),
      getMessage: wrap("getMessage", inner.getMessage),
      pageMessages: wrap("pageMessages", inner.pageMessages),
      removeMessage: wrap("removeMessage", inner.removeMessage),
      removeSession: wrap("removeSession", inner.removeSession),
      listSessions: wrap("listSessions", inner.listSessions)
    } as SessionRepositoryShape
    return Context.make(SessionRepository, repository).pipe(Context.add(RepositoryProbe, probe))
  })
)

/**
 * The store on a probed memory repository and the test memory monitor (heap
 * reading 0 until a spec sets one through `MemoryMonitorTest`), with the test
 * limits unless overridden.
 */
export const storeLayer = (
  options: Partial<StoreOptions> = {}
): Layer.Layer<SessionStore | SessionRepository | RepositoryProbe | MemoryMonitor | MemoryMonitorTest> =>
  SessionStore.layerWith({ ...testOptions, ...options }).pipe(
    Layer.orDie,
    Layer.provideMerge(Layer.mergeAll(probedRepository, MemoryMonitor.layerTest()))
  )

/** Creates `count` sessions with `messages` messages each, straight in storage. */
export const seed = Effect.fnUntraced(function*(count: number, messages = 0, prefix = "ses_") {
  const repository = yield* SessionRepository
  const ids: Array<SessionId> = []
  for (let s = 1; s <= count; s++) {
    const id = `${prefix}${s}` as SessionId
    yield* repository.createSession(sessionInfo(id) as never)
    for (let m = 1; m <= messages; m++) yield* repository.putMessage(id, message(id, messageId(m)) as never)
    ids.push(id)
  }
  return ids
})

/**
 * Sets the test monitor's heap reading and waits until the store has acted
 * on it (its pressure fiber follows the monitor's `changes` on its own fiber,
 * so that takes a few scheduler turns). Returns the reading.
 */
export const setHeapReading = Effect.fnUntraced(function*(input: number | HeapFigures) {
  const store = yield* SessionStore
  const reading = yield* MemoryMonitorTest.use((monitor) => monitor.set(input))
  for (let turn = 0; turn < 10_000; turn++) {
    if ((yield* store.memoryPressure).reading === reading) return reading
    yield* Effect.yieldNow
  }
  return yield* Effect.die(new Error(`the store never acted on the reading ${JSON.stringify(reading)}`))
})
