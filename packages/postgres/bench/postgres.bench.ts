/**
 * The SQL repository on PostgreSQL beside the same repository on SQLite, in
 * one run, on the same realistic messages (test/fixtures/messages.ts: about
 * 2 KB median, some tool outputs of 10-40 KB):
 *
 * - cold load: `loadSession(id, { newest: 1000 })`, what the store does on a
 *   miss (the newest window of 1,000 plus the totals over all), on sessions of
 *   1,000 and 10,000 messages;
 * - append: `putMessage` of one new message to a session (a transaction:
 *   on PostgreSQL the advisory lock, the writes, the NOTIFY, the commit).
 *
 * SQLite: a temporary file, WAL, synchronous FULL (the default). PostgreSQL:
 * the server of the specs (127.0.0.1:5432, user postgres, database test, or
 * PG* variables), in a schema of its own dropped afterwards, over TCP
 * loopback. Figures are medians of repeated runs, printed, never asserted.
 *
 * Run: npx -y pnpm@10.34.9 --filter @session-store/postgres bench
 */
import * as NFS from "node:fs"
import * as OS from "node:os"
import * as NodePath from "node:path"
import { Effect, Layer, ManagedRuntime } from "effect"
import { SqlClient } from "effect/sql/SqlClient"
import type { SessionId } from "@session-store/core/Ids"
import type { MessageWithParts } from "@session-store/core/Message"
import { SessionRepository } from "@session-store/core/SessionRepository"
import * as SqliteClient from "@session-store/core/SqliteClient"
import { makeSessionInfo, realisticConversation } from "../../session-store/test/fixtures/messages.ts"
import * as PostgresClient from "../src/PostgresClient.ts"
import * as PostgresRepository from "../src/PostgresRepository.ts"
import { testConnection } from "../test/address.ts"
import { createSchema, dropSchema, schemaName } from "../test/support.ts"

const LOADS = Number(process.env["BENCH_LOADS"] ?? 20)
const APPENDS = Number(process.env["BENCH_APPENDS"] ?? 200)
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})

type Runtime = ManagedRuntime.ManagedRuntime<SessionRepository | SqlClient, unknown>

/** The messages of `session`, their ids made unique to it (message and part ids are primary keys). */
const conversation = (session: string, count: number, tag: string): Array<MessageWithParts> =>
  realisticConversation(session, count).map((m) => {
    const id = `${m.info.id}_${tag}`
    return {
      info: { ...m.info, id },
      parts: m.parts.map((p) => ({ ...p, id: `${p.id}_${tag}`, messageID: id }))
    } as unknown as MessageWithParts
  })

const median = (samples: Array<number>) => samples.sort((a, b) => a - b)[samples.length >> 1]!

const timed = async (runtime: Runtime, times: number, effect: (i: number) => Effect.Effect<unknown, unknown, SessionRepository | SqlClient>) => {
  const samples: Array<number> = []
  for (let i = 0; i < times; i++) {
    const start = performance.now()
    await runtime.runPromise(effect(i))
    samples.push(performance.now() - start)
  }
  return median(samples)
}

/** Sessions of 1,000 (written through the repository) and 10,000 messages (ten copies of them, in SQL). */
const seed = (runtime: Runtime) =>
  runtime.runPromise(Effect.gen(function*() {
    const repo = yield* SessionRepository
    const sql = yield* SqlClient
    const small = "ses_bench_1k" as SessionId
    const large = "ses_bench_10k" as SessionId
    yield* repo.createSession(makeSessionInfo(small))
    yield* repo.createSession(makeSessionInfo(large))
    for (const message of conversation(small, 1_000, "s")) yield* repo.putMessage(small, message)
    for (let k = 0; k < 10; k++) {
      const suffix = `_c${k}`
      yield* sql.withTransaction(Effect.andThen(
        sql`INSERT INTO message (id, session_id, time_created, time_updated, data)
          SELECT id || ${suffix}, ${large}, time_created + ${k * 100_000_000}, time_updated, data
          FROM message WHERE session_id = ${small}`,
        sql`INSERT INTO part (id, message_id, session_id, time_created, time_updated, data)
          SELECT id || ${suffix}, message_id || ${suffix}, ${large}, time_created, time_updated, data
          FROM part WHERE session_id = ${small}`
      ))
    }
    const counts = [
      (yield* repo.loadSession(small, { newest: 0 })).messageCount,
      (yield* repo.loadSession(large, { newest: 0 })).messageCount
    ]
    if (counts[0] !== 1_000 || counts[1] !== 10_000) throw new Error(`seeded ${counts.join(", ")}`)
    return { small, large }
  }))

const measure = async (name: string, runtime: Runtime) => {
  const seedStart = performance.now()
  const { large, small } = await seed(runtime)
  const seeding = performance.now() - seedStart
  const load = (session: SessionId) => () =>
    Effect.flatMap(SessionRepository, (repo) => repo.loadSession(session, { newest: 1_000 }))
  await timed(runtime, 3, load(small))
  gc()
  const load1k = await timed(runtime, LOADS, load(small))
  gc()
  const load10k = await timed(runtime, LOADS, load(large))
  const target = "ses_bench_append" as SessionId
  const messages = conversation(target, APPENDS, "a")
  await runtime.runPromise(Effect.flatMap(SessionRepository, (repo) => repo.createSession(makeSessionInfo(target))))
  gc()
  const append = await timed(
    runtime,
    APPENDS,
    (i) => Effect.flatMap(SessionRepository, (repo) => repo.putMessage(target, messages[i]!))
  )
  console.log(`${name}: seeded in ${(seeding / 1000).toFixed(1)} s`)
  return { load1k, load10k, append }
}

const main = async () => {
  const directory = NFS.mkdtempSync(NodePath.join(OS.tmpdir(), "session-store-pg-bench-"))
  const schema = schemaName("bench")
  await Effect.runPromise(createSchema(schema))
  try {
    const sqlite: Runtime = ManagedRuntime.make(
      SessionRepository.layerSql({ changePollIntervalMs: 0 }).pipe(
        Layer.provideMerge(SqliteClient.layer({ filename: NodePath.join(directory, "opencode.db") }))
      )
    )
    const postgres: Runtime = ManagedRuntime.make(
      PostgresRepository.layer().pipe(Layer.provideMerge(PostgresClient.layerWith(testConnection, { schema })))
    )
    const s = await measure("SQLite (node:sqlite, WAL, synchronous FULL)", sqlite)
    const p = await measure(`PostgreSQL (${testConnection.host}:${testConnection.port}, @effect/sql-pg)`, postgres)
    await sqlite.dispose()
    await postgres.dispose()
    const row = (what: string, a: number, b: number) =>
      `| ${what.padEnd(34)} | ${a.toFixed(2).padStart(9)} | ${b.toFixed(2).padStart(9)} | ${(b / a).toFixed(1).padStart(5)}x |`
    console.log(`\nmedians (ms), ${LOADS} loads and ${APPENDS} appends each, Node ${process.version}`)
    console.log(`| ${"".padEnd(34)} | ${"SQLite".padStart(9)} | ${"Postgres".padStart(9)} | ratio |`)
    console.log(`|${"-".repeat(36)}|${"-".repeat(11)}|${"-".repeat(11)}|-------|`)
    console.log(row("cold load, 1,000 messages", s.load1k, p.load1k))
    console.log(row("cold load, newest 1,000 of 10,000", s.load10k, p.load10k))
    console.log(row("append one message", s.append, p.append))
  } finally {
    await Effect.runPromise(dropSchema(schema))
    NFS.rmSync(directory, { recursive: true, force: true })
  }
}

main().then(() => process.exit(0), (error) => {
  console.error(error)
  process.exit(1)
})
