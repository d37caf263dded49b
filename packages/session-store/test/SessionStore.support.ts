/**
 * Fixtures for the SessionStore specs: domain values, and the store built on
 * the instrumented memory repository (support/instrumentedRepository.ts).
 */
import { Effect, Layer } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import { type HeapFigures, MemoryMonitor, MemoryMonitorTest } from "../src/monitor/MemoryMonitor.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import type { StoreOptions } from "../src/config/StoreConfig.ts"
import { encodeRecord } from "../src/domain/records.ts"
import { instrumentedRepository, RepositoryControls, Storage } from "./support/instrumentedRepository.ts"

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

/**
 * The store on an instrumented memory repository and the test memory monitor (heap
 * reading 0 until a spec sets one through `MemoryMonitorTest`), with the test
 * limits unless overridden.
 */
export const storeLayer = (
  options: Partial<StoreOptions> = {}
): Layer.Layer<SessionStore | SessionRepository | RepositoryControls | Storage | MemoryMonitor | MemoryMonitorTest> =>
  SessionStore.layerWith({ ...testOptions, ...options }).pipe(
    Layer.orDie,
    Layer.provideMerge(Layer.mergeAll(instrumentedRepository(SessionRepository.layerMemory), MemoryMonitor.layerTest()))
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

/** The resident sessions' ids, least recently used first. */
export const residentIds = Effect.map(
  SessionStore.use((store) => store.residents),
  (residents) => residents.map((r) => r.id as string)
)

/** Creates a session in storage holding one message of `text`; returns what it weighs once resident. */
export const sessionOf = Effect.fnUntraced(function*(id: string, text: string) {
  const repository = yield* SessionRepository
  const info = sessionInfo(id)
  const only = message(id, messageId(1), text)
  yield* repository.createSession(info as never)
  yield* repository.putMessage(id as SessionId, only as never)
  return bytesOf(info) + bytesOf(only)
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
