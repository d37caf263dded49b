/**
 * Benchmark of the SQL repository on SQLite against the same statements run
 * raw on `node:sqlite`, side by side in one run (medians of RUNS runs):
 *
 * - cold load (nothing resident: the repository keeps no copy) of a session
 *   of 1,000 and of 10,000 realistic messages, the newest 1,000 of each
 *   (`maxMessagesPerSession`'s default): through the repository vs the same
 *   SELECTs (session row, extra, the newest 1,000 messages on the index,
 *   their parts, the two aggregates) in one read transaction plus a
 *   JSON.parse of every `data`, raw. Goal: ≤ 1.5×, and 10,000 within 2× of 1,000.
 *   The repository keeps each session's totals in memory while no other
 *   connection commits (totalsCache.ts), so the rows "after another commit"
 *   load the same sessions right after a third connection committed (an
 *   UPDATE of an unrelated row, not timed), on both sides: the repository sums
 *   the totals from every row of the session again, as the raw side always
 *   does, and both connections find their page cache invalidated by the
 *   other's commit.
 * - append of one message (its parts) through the repository vs a raw
 *   BEGIN IMMEDIATE + INSERT message + INSERT parts + COMMIT, both on the same
 *   file with synchronous FULL (every commit synced), alternating one of each,
 *   so both meet the same disk, the same WAL and the same checkpoints.
 *   Goal: ≤ 1.5×.
 * - the change watch's cost on the hit path: `getSession` hits through the
 *   store with the watch off and on (polling every 100 ms on its own
 *   connection and fiber).
 *
 * Run: npx -y pnpm@10.34.9 --filter @session-store/core bench
 * Figures are printed, never asserted: they depend on the machine.
 */
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as NodePath from "node:path"
import { DatabaseSync } from "node:sqlite"
import { Context, Effect, Layer } from "effect"
import type { SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { makeSessionInfo, realisticConversation } from "../test/fixtures/messages.ts"

const RUNS = Number(process.env["BENCH_RUNS"] ?? 5)
const root = NFS.mkdtempSync(NodePath.join(OS.tmpdir(), "session-store-sqlite-bench-"))
const filename = NodePath.join(root, "opencode.db")
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/** Message ids are primary keys across sessions: each session's conversation gets ids of its own. */
const rekey = (message: MessageWithParts, prefix: string): MessageWithParts => {
  const id = `${prefix}_${message.info.id}`
  return {
    info: { ...message.info, id },
    parts: message.parts.map((part) => ({ ...part, id: `${prefix}_${part.id}`, messageID: id }))
  } as unknown as MessageWithParts
}

const withRepository = <A, E>(
  options: { readonly synchronous: "FULL" | "NORMAL" },
  f: (repo: SessionRepository["Service"]) => Effect.Effect<A, E>
) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(
      SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0, synchronous: options.synchronous })
    )
    return yield* f(Context.get(context, SessionRepository))
  })))

const sessions = [
  { id: "ses_1k" as SessionId, count: 1_000 },
  { id: "ses_10k" as SessionId, count: 10_000 }
]

// --- setup: the two sessions, written through the repository (NORMAL only to make the setup quick).
await withRepository({ synchronous: "NORMAL" }, (repo) =>
  Effect.gen(function*() {
    for (const { count, id } of sessions) {
      yield* repo.createSession(makeSessionInfo(id))
      for (const message of realisticConversation(id, count, count)) yield* repo.putMessage(id, rekey(message, id))
    }
    yield* repo.createSession(makeSessionInfo("ses_append"))
  }))
const raw = new DatabaseSync(filename, { timeout: 5000 })
raw.exec("PRAGMA synchronous = FULL")
const sizeMB = NFS.statSync(filename).size / 1e6

// --- raw load: the repository's statements, verbatim.
const jsonString = (column: string) =>
  `(octet_length(${column}) + 2 + length(${column}) - length(replace(${column}, '"', '')))`
const members = `(CASE WHEN octet_length(data) > 2 THEN octet_length(data) - 1 ELSE 0 END)`
const messageRowBytes = `(40 + ${jsonString("id")} + ${jsonString("session_id")} + ${members})`
const partRowBytes = `(34 + ${jsonString("id")} + ${jsonString("session_id")} + ${jsonString("message_id")} + ${members})`
const statements = {
  session: raw.prepare("SELECT * FROM session WHERE id = ?"),
  extra: raw.prepare("SELECT extra FROM session_store_session WHERE session_id = ?"),
  window: raw.prepare(
    "SELECT id, data, octet_length(data) AS data_bytes FROM message WHERE session_id = ? ORDER BY time_created DESC, id DESC LIMIT ?"
  ),
  messageSums: raw.prepare(
    `SELECT count(*) AS n, coalesce(sum(${messageRowBytes}), 0) AS bytes FROM message WHERE session_id = ?`
  ),
  partSums: raw.prepare(
    `SELECT count(DISTINCT message_id) AS owners, coalesce(sum(${partRowBytes}), 0) AS bytes FROM part WHERE session_id = ?`
  ),
  parts: raw.prepare(
    `SELECT message_id, id, data, octet_length(data) AS data_bytes FROM part WHERE message_id IN (${Array(500).fill("?").join(",")}) ORDER BY message_id, time_created, id`
  )
}
const rawLoad = (id: string, newest: number) => {
  raw.exec("BEGIN DEFERRED")
  try {
    const session = statements.session.get(id)
    statements.extra.get(id)
    const rows = (statements.window.all(id, newest) as Array<{ id: string; data: string }>).reverse()
    const out: Array<unknown> = []
    for (let i = 0; i < rows.length; i += 500) {
      const ids = rows.slice(i, i + 500).map((r) => r.id)
      while (ids.length < 500) ids.push("")
      for (const part of statements.parts.all(...ids) as Array<{ data: string }>) out.push(JSON.parse(part.data))
    }
    for (const row of rows) out.push(JSON.parse(row.data))
    statements.messageSums.get(id)
    statements.partSums.get(id)
    return [session, out]
  } finally {
    raw.exec("COMMIT")
  }
}

// --- raw append: one transaction, the message row and its parts, synchronous FULL.
const insertMessage = raw.prepare(
  "INSERT INTO message (id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?)"
)
const insertPart = raw.prepare(
  "INSERT INTO part (id, message_id, session_id, time_created, time_updated, data) VALUES (?, ?, ?, ?, ?, ?)"
)
const rawAppend = (sessionId: string, message: MessageWithParts) => {
  const { id: _id, sessionID: _s, ...info } = message.info as Record<string, unknown>
  const now = Date.now()
  raw.exec("BEGIN IMMEDIATE")
  try {
    insertMessage.run(message.info.id, sessionId, now, now, JSON.stringify(info))
    message.parts.forEach((part, index) => {
      const { id, messageID: _m, sessionID: _ps, ...rest } = part as Record<string, unknown>
      insertPart.run(id as string, message.info.id, sessionId, now + index, now, JSON.stringify(rest))
    })
    raw.exec("COMMIT")
  } catch (error) {
    raw.exec("ROLLBACK")
    throw error
  }
}

const perOp = async (iterations: number, f: (i: number) => unknown | Promise<unknown>) => {
  gc()
  const start = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) await f(i)
  return Number(process.hrtime.bigint() - start) / 1e6 / iterations
}

/** Like perOp, timing `f` only: `before` runs first each time, untimed. */
const perOpAfter = async (iterations: number, before: () => unknown, f: () => Promise<unknown>) => {
  gc()
  let total = 0n
  for (let i = 0; i < iterations; i++) {
    before()
    const start = process.hrtime.bigint()
    await f()
    total += process.hrtime.bigint() - start
  }
  return Number(total) / 1e6 / iterations
}
/** `a` and `b` in turn, `iterations` times each: the mean time of each, in ms. */
const alternating = async (iterations: number, a: () => Promise<unknown>, b: () => unknown) => {
  gc()
  let totalA = 0n
  let totalB = 0n
  for (let i = 0; i < iterations; i++) {
    const start = process.hrtime.bigint()
    await a()
    const middle = process.hrtime.bigint()
    await b()
    totalB += process.hrtime.bigint() - middle
    totalA += middle - start
  }
  return [Number(totalA) / 1e6 / iterations, Number(totalB) / 1e6 / iterations] as const
}
// A commit by a third connection: it moves the data_version of both measured connections.
const other = new DatabaseSync(filename, { timeout: 5000 })
const touch = other.prepare("UPDATE session SET time_updated = time_updated + 1 WHERE id = 'ses_append'")

const appendMessages = realisticConversation("ses_append", 20_000, 99)
let appended = 0
const next = (prefix: string) => {
  const message = appendMessages[appended++ % appendMessages.length]!
  return rekey({ ...message, info: { ...message.info, sessionID: "ses_append" } } as MessageWithParts, `${prefix}${appended}`)
}

const figures = {
  load1k: [] as Array<number>,
  raw1k: [] as Array<number>,
  load10k: [] as Array<number>,
  raw10k: [] as Array<number>,
  summed1k: [] as Array<number>,
  summed10k: [] as Array<number>,
  rawSummed1k: [] as Array<number>,
  rawSummed10k: [] as Array<number>,
  append: [] as Array<number>,
  rawAppend: [] as Array<number>
}
for (let run = 0; run < RUNS; run++) {
  await withRepository({ synchronous: "FULL" }, (repo) =>
    Effect.promise(async () => {
      // Every message read, as the raw load parses every row: a loaded message decodes on its first read.
      const load = (id: SessionId) =>
        Effect.runPromise(repo.loadSession(id, { newest: 1_000 })).then((loaded) => {
          let parts = 0
          for (const stored of loaded.messages) parts += stored.message.parts.length
          return parts
        })
      await load("ses_1k" as SessionId) // prepared statements in, as in a running process
      figures.load1k.push(await perOp(20, () => load("ses_1k" as SessionId)))
      figures.raw1k.push(await perOp(20, () => rawLoad("ses_1k", 1_000)))
      figures.load10k.push(await perOp(20, () => load("ses_10k" as SessionId)))
      figures.raw10k.push(await perOp(20, () => rawLoad("ses_10k", 1_000)))
      figures.summed1k.push(await perOpAfter(20, () => touch.run(), () => load("ses_1k" as SessionId)))
      figures.rawSummed1k.push(await perOpAfter(20, () => touch.run(), async () => rawLoad("ses_1k", 1_000)))
      figures.summed10k.push(await perOpAfter(20, () => touch.run(), () => load("ses_10k" as SessionId)))
      figures.rawSummed10k.push(await perOpAfter(20, () => touch.run(), async () => rawLoad("ses_10k", 1_000)))
      const append = (message: MessageWithParts) => Effect.runPromise(repo.putMessage("ses_append" as SessionId, message))
      await append(next("w"))
      rawAppend("ses_append", next("v"))
      const [repository, direct] = await alternating(100, () => append(next("r")), () => rawAppend("ses_append", next("x")))
      figures.append.push(repository)
      figures.rawAppend.push(direct)
    }))
}

// --- the change watch on the hit path.
const hits = async (changePollIntervalMs: number) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const context = yield* Layer.build(
      SessionStore.layerWith(testOptions).pipe(
        Layer.provide(Layer.mergeAll(
          SessionRepository.layerSqlite({ filename, changePollIntervalMs }),
          MemoryMonitor.layerTest()
        ))
      )
    )
    const store = Context.get(context, SessionStore)
    yield* store.getSession("ses_1k")
    const result: Array<number> = []
    for (let run = 0; run < RUNS; run++) {
      const n = 200_000
      const start = process.hrtime.bigint()
      for (let i = 0; i < n; i++) yield* store.getSession("ses_1k")
      result.push(Number(process.hrtime.bigint() - start) / n)
      yield* Effect.sleep(150) // a poll or more runs between the runs
    }
    return median(result)
  })))
// Alternated, twice each: the first measurements of a process carry JIT warm-up.
const hitOff = await hits(0)
const hitOn = await hits(100)
const hitOff2 = await hits(0)
const hitOn2 = await hits(100)

raw.close()
other.close()
NFS.rmSync(root, { recursive: true, force: true })

const ms = (x: number) => `${x.toFixed(3)} ms`
const ratio = (a: number, b: number, goal: number) => `${(a / b).toFixed(2)}x (goal <= ${goal}x${a / b <= goal ? ", met" : ", MISSED"})`
const m = Object.fromEntries(Object.entries(figures).map(([k, v]) => [k, median(v)])) as Record<keyof typeof figures, number>
console.log(`SQLite bench (node ${process.version}, ${RUNS} runs, medians; database ${sizeMB.toFixed(1)} MB, synchronous FULL)`)
console.log(`cold load, 1,000 messages:          repository ${ms(m.load1k)}  raw ${ms(m.raw1k)}  ${ratio(m.load1k, m.raw1k, 1.5)}`)
console.log(`cold load, 10,000 (newest 1,000):   repository ${ms(m.load10k)}  raw ${ms(m.raw10k)}  ${ratio(m.load10k, m.raw10k, 1.5)}`)
console.log(`10,000 vs 1,000 through the repo:   ${ratio(m.load10k, m.load1k, 2)}`)
console.log(`  after another commit, 1,000:      repository ${ms(m.summed1k)}  raw ${ms(m.rawSummed1k)}  ${ratio(m.summed1k, m.rawSummed1k, 1.5)}`)
console.log(`  after another commit, 10,000:     repository ${ms(m.summed10k)}  raw ${ms(m.rawSummed10k)}  ${ratio(m.summed10k, m.rawSummed10k, 1.5)}`)
console.log(`  after another commit, 10k vs 1k:  ${ratio(m.summed10k, m.summed1k, 2)}`)
console.log(`append one message (FULL):          repository ${ms(m.append)}  raw INSERT ${ms(m.rawAppend)}  ${ratio(m.append, m.rawAppend, 1.5)}`)
console.log(`getSession hit, change watch off:   ${hitOff.toFixed(0)} ns, then ${hitOff2.toFixed(0)} ns`)
console.log(`getSession hit, change watch 100ms: ${hitOn.toFixed(0)} ns, then ${hitOn2.toFixed(0)} ns (second pair: ${(hitOn2 / hitOff2).toFixed(2)}x of off)`)
