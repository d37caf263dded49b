/**
 * Benchmark of the file-system repository against the raw file operations it
 * is built on, in one run:
 *
 * - cold load of a session of 1,000 realistic messages (about 2 MB) through
 *   the repository (every record read and checked against the domain
 *   schemas) vs readFile + JSON.parse of every line of the same file;
 * - appending one message through the repository vs writing the same bytes
 *   to a file directly, with the same durability (fsync on both sides, then
 *   off on both sides).
 *
 * Run: npx -y pnpm@10.34.9 --filter @session-store/core bench
 * Figures are printed, never asserted: they depend on the machine.
 */
import { NodeServices } from "@effect/platform-node"
import { Effect, Layer, ManagedRuntime } from "effect"
import * as NFS from "node:fs"
import * as FSP from "node:fs/promises"
import * as OS from "node:os"
import * as NodePath from "node:path"
import { Bench } from "tinybench"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { sessionDirectoryName } from "../src/repository/fileSystem/layout.ts"
import { makeFileSystemRepository } from "../src/repository/fileSystem/fileSystemRepository.ts"
import { putLine } from "../src/repository/fileSystem/logFormat.ts"
import { encodeRecord } from "../src/domain/records.ts"
import { makeSessionInfo, realisticConversation } from "../test/fixtures/messages.ts"

const root = NFS.mkdtempSync(NodePath.join(OS.tmpdir(), "session-store-bench-"))
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

const repositoryRuntime = (options: { readonly fsync: boolean; readonly idleTimeToLive?: number }) =>
  ManagedRuntime.make(
    Layer.effect(
      SessionRepository,
      makeFileSystemRepository({ directory: NodePath.join(root, "store"), ...options })
    ).pipe(Layer.provide(NodeServices.layer))
  )

const main = async () => {
  const session = "ses_bench" as SessionId
  const messages = realisticConversation(session, 1000)
  const sizes = messages.map((m) => encodeRecord(m).bytes).sort((a, b) => a - b)
  const totalBytes = sizes.reduce((n, s) => n + s, 0)

  // Write the session once, then keep its log as the raw baseline's input.
  const setup = repositoryRuntime({ fsync: false })
  await setup.runPromise(Effect.gen(function*() {
    const repo = yield* SessionRepository
    yield* repo.createSession(makeSessionInfo(session))
    for (const message of messages) yield* repo.putMessage(session, message)
  }))
  await setup.dispose()
  const log = NodePath.join(root, "store", "sessions", sessionDirectoryName(session), "messages.jsonl")

  // Cold: the index is dropped as soon as a call ends (idleTimeToLive 0), so
  // every load reads and checks the whole log, as the first load after a start.
  const cold = repositoryRuntime({ fsync: true, idleTimeToLive: 0 })
  const warm = repositoryRuntime({ fsync: true })
  const load = (runtime: typeof cold) => () =>
    runtime.runPromise(Effect.flatMap(SessionRepository, (repo) => repo.loadSession(session, { newest: 1000 })))
  const loaded = await load(cold)()
  if (loaded.messageCount !== 1000) throw new Error(`expected 1000 messages, loaded ${loaded.messageCount}`)

  const loads = new Bench({ name: "cold load, 1,000 messages", time: 2000, warmupTime: 300 })
  loads
    .add("raw: readFile + JSON.parse per line", async () => {
      const text = await FSP.readFile(log, "utf8")
      let count = 0
      for (const line of text.split("\n")) if (line.length > 0) count += JSON.parse(line) === null ? 0 : 1
      if (count !== 1000) throw new Error("raw parse")
    }, { beforeAll: gc })
    .add("repository: loadSession, cold", load(cold), { beforeAll: gc })
    .add("repository: loadSession, index held", load(warm), { beforeAll: gc })
  await loads.run()

  // Appends: a fresh session for the repository, a plain file for the raw
  // side; both get the same line bytes, one message per call.
  const appends = new Bench({ name: "append one message", time: 2000, warmupTime: 200 })
  const addAppendTasks = async (fsync: boolean) => {
    const label = fsync ? "fsync" : "no fsync"
    const runtime = repositoryRuntime({ fsync })
    const target = `ses_append_${fsync ? "durable" : "fast"}` as SessionId
    const source = realisticConversation(target, 1000, 7)
    // Fresh ids, so every call appends a new message (no replacement, no compaction).
    const toAppend = (n: number) => {
      const message = source[n % source.length]!
      return { ...message, info: { ...message.info, id: `msg_${n}` } } as MessageWithParts
    }
    const lines = Array.from({ length: 1000 }, (_, n) => Buffer.from(putLine(encodeRecord(toAppend(n)).json), "utf8"))
    await runtime.runPromise(
      Effect.flatMap(SessionRepository, (repo) => repo.createSession(makeSessionInfo(target)))
    )
    const rawPath = NodePath.join(root, `raw-${fsync ? "durable" : "fast"}.jsonl`)
    const keptOpen = await FSP.open(NodePath.join(root, `raw-fd-${fsync ? "durable" : "fast"}.jsonl`), "a", 0o600)
    let i = 0
    let j = 0
    let k = 0
    appends
      .add(`raw (${label}): open, append, ${fsync ? "fsync, " : ""}close`, async () => {
        const file = await FSP.open(rawPath, "a", 0o600)
        await file.write(lines[i++ % lines.length]!)
        if (fsync) await file.sync()
        await file.close()
      })
      .add(`raw (${label}): write to a descriptor kept open${fsync ? ", fsync" : ""}`, async () => {
        await keptOpen.write(lines[j++ % lines.length]!)
        if (fsync) await keptOpen.sync()
      })
      .add(`repository (${label}): putMessage`, () => {
        const message = toAppend(k++)
        return runtime.runPromise(Effect.flatMap(SessionRepository, (repo) => repo.putMessage(target, message)))
      })
    return { runtime, keptOpen }
  }
  const durable = await addAppendTasks(true)
  const fast = await addAppendTasks(false)
  await appends.run()

  await Promise.all([cold.dispose(), warm.dispose(), durable.runtime.dispose(), fast.runtime.dispose()])
  await Promise.all([durable.keptOpen.close(), fast.keptOpen.close()])

  const latency = (bench: Bench, name: string) => {
    const result = bench.getTask(name)?.result
    if (result === undefined || !("latency" in result)) throw new Error(`no result for ${name}`)
    return result.latency
  }
  const ms = (x: number) => `${x.toFixed(3)} ms`
  const rows: Array<Record<string, string>> = []
  // The verdict uses means (garbage collection pauses included); medians are printed beside.
  const compare = (what: string, bench: Bench, ours: string, raw: string, target: number) => {
    const a = latency(bench, ours)
    const b = latency(bench, raw)
    const ratio = a.mean / b.mean
    rows.push({
      what,
      "repository mean": ms(a.mean),
      "raw mean": ms(b.mean),
      "ratio of means": `${ratio.toFixed(2)}x`,
      "ratio of medians": `${(a.p50 / b.p50).toFixed(2)}x`,
      target: `<= ${target}x`,
      verdict: ratio <= target ? "ok" : "OVER TARGET"
    })
  }

  console.log(`\nsession: ${messages.length} messages, ${(totalBytes / 1e6).toFixed(2)} MB of records,`)
  console.log(
    `  median ${sizes[500]} B, p90 ${sizes[900]} B, p99 ${sizes[990]} B, largest ${sizes.at(-1)} B (${root})\n`
  )
  console.log(loads.name)
  console.table(loads.table())
  console.log(appends.name)
  console.table(appends.table())
  compare("cold load (full read, every record checked)", loads, "repository: loadSession, cold", "raw: readFile + JSON.parse per line", 2)
  compare("load with the index held", loads, "repository: loadSession, index held", "raw: readFile + JSON.parse per line", 2)
  compare("append, fsync (vs open/append/fsync/close)", appends, "repository (fsync): putMessage", "raw (fsync): open, append, fsync, close", 1.5)
  compare("append, fsync (vs descriptor kept open)", appends, "repository (fsync): putMessage", "raw (fsync): write to a descriptor kept open, fsync", 2)
  compare("append, no fsync (vs open/append/close)", appends, "repository (no fsync): putMessage", "raw (no fsync): open, append, close", 3)
  compare("append, no fsync (vs descriptor kept open)", appends, "repository (no fsync): putMessage", "raw (no fsync): write to a descriptor kept open", 6)
  console.log("summary (mean latency per call; ratio = repository / raw)")
  console.table(rows)
}

main()
  .finally(() => NFS.rmSync(root, { recursive: true, force: true }))
  .catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
