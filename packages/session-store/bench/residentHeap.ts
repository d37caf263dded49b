/**
 * How much V8 heap a resident session costs per byte the store accounts for
 * it (the UTF-8 bytes of its JSON records, as the repository measured them).
 * The default of `memory.maxBytes` is derived from this figure: see
 * `defaultMaxBytes` in src/StoreConfig.ts.
 *
 * For each content mix, sessions are written to a memory repository (their
 * JSON text is on the heap before and after, so it cancels out), the heap is
 * measured after a forced GC, every session is read so it becomes resident
 * (a fresh object graph parsed from the JSON), and the heap is measured again.
 * Then everything is dropped from memory and measured once more, to show the
 * cost goes away with it.
 *
 * Run: npx -y pnpm@10.34.9 --filter @session-store/core exec node --expose-gc bench/residentHeap.ts
 * Figures are printed, never asserted: they depend on the machine and on V8.
 */
import { getHeapStatistics } from "node:v8"
import { Effect, Layer, ManagedRuntime } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { makeSessionInfo, realisticConversation, seeded, userMessage } from "../test/fixtures/messages.ts"

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error("run with node --expose-gc")
  process.exit(1)
}

const heapUsed = (): number => {
  for (let i = 0; i < 3; i++) gc()
  return getHeapStatistics().used_heap_size
}

/** A tool-output message of about `bytes` of text from `alphabet`. */
const toolOutput = (sessionID: string, index: number, bytes: number, alphabet: string, random: () => number): MessageWithParts => {
  const id = `msg_${index.toString().padStart(6, "0")}`
  const chars = Array.from(alphabet)
  const words: Array<string> = []
  for (let length = 0; length < bytes;) {
    let word = ""
    for (let i = 0; i < 6; i++) word += chars[Math.floor(random() * chars.length)]
    words.push(word)
    length += Buffer.byteLength(word) + 1
  }
  const output = words.join(" ")
  return {
    info: { id, sessionID, role: "assistant", time: { created: 1_700_000_000_000 + index } },
    parts: [{
      id: `prt_${id}`,
      sessionID,
      messageID: id,
      type: "tool",
      tool: "bash",
      callID: `toolu_${index}`,
      state: { status: "completed", input: { command: "pnpm test" }, output, title: "pnpm test", metadata: {} }
    }]
  } as unknown as MessageWithParts
}

interface Mix {
  readonly name: string
  readonly sessions: number
  readonly messages: (sessionId: string) => ReadonlyArray<MessageWithParts>
}

const mixes: ReadonlyArray<Mix> = [
  {
    name: "realistic conversation (1-2 KB turns, some 10-40 KB tool outputs)",
    sessions: 40,
    messages: (id) => realisticConversation(id, 500, id.length * 7919)
  },
  {
    name: "many small messages (user turns of 200-800 B)",
    sessions: 40,
    messages: (id) => realisticConversation(id, 1000, 7).filter((m) => m.info.role === "user")
  },
  {
    name: "tiny messages (about 150 B of text each)",
    sessions: 20,
    messages: (id) =>
      Array.from({ length: 1000 }, (_, i) => userMessage(id, `msg_${i.toString().padStart(6, "0")}`, i, "ok, next step"))
  },
  {
    name: "large ASCII tool outputs (50 KB each)",
    sessions: 20,
    messages: (id) => {
      const random = seeded(11)
      return Array.from({ length: 100 }, (_, i) => toolOutput(id, i, 50_000, "abcdefghijklmnopqrstuvwxyz0123456789", random))
    }
  },
  {
    name: "large non-Latin tool outputs (50 KB of CJK text each)",
    sessions: 20,
    messages: (id) => {
      const random = seeded(13)
      return Array.from({ length: 100 }, (_, i) => toolOutput(id, i, 50_000, "漢字仮名交じり文構築試験出力", random))
    }
  }
]

const measure = async (mix: Mix) => {
  // Limits high enough that everything written stays resident; pressure off.
  const runtime = ManagedRuntime.make(
    SessionStore.layerWith({
      maxSessions: 10_000,
      maxMessagesPerSession: 100_000,
      cleanupIntervalMs: 3_600_000,
      inactiveTtlMs: 3_600_000
    }).pipe(Layer.provideMerge(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerTest())))
  )
  const ids: Array<SessionId> = []
  await runtime.runPromise(Effect.gen(function*() {
    const repository = yield* SessionRepository
    for (let s = 0; s < mix.sessions; s++) {
      const id = `ses_${s}` as SessionId
      yield* repository.createSession(makeSessionInfo(id))
      for (const message of mix.messages(id)) yield* repository.putMessage(id, message)
      ids.push(id)
    }
  }))
  const store = await runtime.runPromise(SessionStore.use(Effect.succeed))
  const before = heapUsed()
  for (const id of ids) await runtime.runPromise(store.getSession(id))
  const loaded = heapUsed()
  const stats = await runtime.runPromise(store.stats)
  for (const id of ids) await runtime.runPromise(store.invalidate(id))
  const dropped = heapUsed()
  await runtime.dispose()
  const perByte = (loaded - before) / stats.residentBytes
  return {
    mix: mix.name,
    residentSessions: stats.residentSessions,
    residentMessages: stats.residentMessages,
    residentMiB: +(stats.residentBytes / 2 ** 20).toFixed(1),
    heapGrowthMiB: +((loaded - before) / 2 ** 20).toFixed(1),
    heapPerAccountedByte: +perByte.toFixed(2),
    heapLeftAfterDropMiB: +((dropped - before) / 2 ** 20).toFixed(1)
  }
}

const main = async () => {
  const limit = getHeapStatistics().heap_size_limit
  console.log(`node ${process.version}, heap_size_limit ${(limit / 2 ** 20).toFixed(0)} MiB`)
  const rows = []
  for (const mix of mixes) rows.push(await measure(mix))
  console.table(rows)
}

await main()
