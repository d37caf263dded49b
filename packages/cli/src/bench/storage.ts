/** The bench rows that touch storage: cold loads and appends, on the embedded SQLite repository. */
import type { MessageWithParts } from "@session-store/core/Message"
import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore, type SessionStoreShape } from "@session-store/core/SessionStore"
import type { SessionId } from "@session-store/core/Ids"
import type { StoreOptions } from "@session-store/core/StoreConfig"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { DatabaseSync } from "node:sqlite"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeContent, type MessageRef, messageIdOf, sessionIdOf, type WireMessage } from "../internal/content.ts"
import { measure, type Sample, sink, type Task } from "./measure.ts"


/**
 * The repository every row that touches storage runs on, and its name in the
 * report: the embedded default, SQLite in opencode's tables (`durable`:
 * `synchronous = FULL`, else `NORMAL`; no change watch, one process).
 *
 * @example
 * ```ts
 * const layer = benchRepository("/tmp/bench", false)
 * ```
 */
export const benchRepository = (directory: string, durable: boolean): Layer.Layer<SessionRepository, unknown> =>
  SessionRepository.layerSqlite({
    filename: `${directory}/opencode.db`,
    synchronous: durable ? "FULL" : "NORMAL",
    changePollIntervalMs: 0
  })
export const STORAGE = "SQLite (opencode.db)"
export const RAW_COLD = "raw node:sqlite: open, totals, SELECTs, JSON.parse"

export const sessionInfo = (i: number, now: number) => ({
  id: sessionIdOf(i),
  projectID: "prj_bench",
  directory: "/home/dev/project",
  title: `bench session ${i}`,
  version: "0.15.8",
  time: { created: now, updated: now }
})

/** A store layer on `repository`, with the live monitor. */
export const storeLayer = (repository: Layer.Layer<SessionRepository, unknown>, options: Partial<StoreOptions> = {}) =>
  SessionStore.layerWith(options).pipe(Layer.provide(Layer.mergeAll(repository, MemoryMonitor.layer)))

/** The records of an opencode session of `count` messages (final revisions, as stored). */
export const conversation = (session: number, count: number): Array<WireMessage> => {
  const content = makeContent(7)
  const messages: Array<WireMessage> = []
  let parent = 0
  for (let index = 0; index < count; index++) {
    const user = index % 5 === 0
    if (user) parent = index
    const ref: MessageRef = {
      session,
      index,
      role: user ? "user" : "assistant",
      created: 1_750_000_000_000 + index * 1000,
      parent,
      revision: 99
    }
    messages.push(content.message(ref))
  }
  return messages
}

/** Builds `layer` in a fresh scope, runs `f` on its store, releases it. */
export const withStore = <A>(layer: Layer.Layer<SessionStore, unknown>, f: (store: SessionStoreShape) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(Layer.build(layer), (context) => f(Context.get(context, SessionStore)))))

export const coldLoad = async (messages: number, time: number, progress: boolean): Promise<Array<Sample>> => {
  const directory = mkdtempSync(join(tmpdir(), "session-store-bench-"))
  try {
    const id = sessionIdOf(1)
    await withStore(storeLayer(benchRepository(directory, false)), (store) =>
      Effect.gen(function*() {
        yield* store.createSession(sessionInfo(1, Date.now()))
        for (const message of conversation(1, messages)) yield* store.appendMessage(id, message)
      }))
    const window = Math.min(messages, 1000)
    const layer = () => storeLayer(benchRepository(directory, false))
    const tasks: Array<Task> = [
      {
        name: "store, fresh layer",
        batch: 1,
        fn: () =>
          withStore(layer(), (store) => store.getMessages(id)).then((read) => {
            if (read.length !== messages) throw new Error(`cold load read ${read.length} of ${messages} messages`)
            sink.total += read.length
          })
      },
      {
        name: "repository alone, fresh layer",
        batch: 1,
        fn: () =>
          Effect.runPromise(Effect.scoped(Effect.gen(function*() {
            const repository = Context.get(yield* Layer.build(benchRepository(directory, false)), SessionRepository)
            const loaded = yield* repository.loadSession(id as SessionId, { newest: window })
            // Every message read, as the raw row parses every row: a loaded message decodes on its first read.
            for (const stored of loaded.messages) sink.total += stored.message.parts.length
          })))
      }
    ]
    // The raw reference, as cold as the repository's row: the file opened afresh each sample, the
    // session's totals aggregated, the same newest-window SELECTs, every row's JSON parsed.
    const file = `${directory}/opencode.db`
    tasks.push({
      name: RAW_COLD,
      batch: 1,
      fn: () => {
        const raw = new DatabaseSync(file, { readOnly: true })
        try {
          const totals = raw.prepare(
            "SELECT count(*) AS n, coalesce(sum(length(data)), 0) AS bytes FROM message WHERE session_id = ?"
          ).get(id) as { n: number; bytes: number }
          const partBytes = raw.prepare("SELECT coalesce(sum(length(data)), 0) AS bytes FROM part WHERE session_id = ?")
            .get(id) as { bytes: number }
          sink.total += totals.n + totals.bytes + partBytes.bytes
          const newestMessages = raw.prepare(
            "SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created DESC, id DESC LIMIT ?"
          )
          const partsOf = raw.prepare("SELECT data FROM part WHERE message_id = ? ORDER BY id")
          for (const row of newestMessages.all(id, window) as Array<{ id: string; data: string }>) {
            sink.total += Object.keys(JSON.parse(row.data)).length
            for (const part of partsOf.all(row.id) as Array<{ data: string }>) {
              sink.total += Object.keys(JSON.parse(part.data)).length
            }
          }
        } finally {
          raw.close()
        }
      }
    })
    return await measure(`cold load, ${messages.toLocaleString("en-US")} messages`, time, tasks, progress, { iterations: 5 })
  } finally {
    rmSync(directory, { recursive: true, force: true })
  }
}

export const append = async (durable: boolean, time: number, progress: boolean): Promise<Array<Sample>> => {
  const storeDir = mkdtempSync(join(tmpdir(), "session-store-bench-"))
  const repoDir = mkdtempSync(join(tmpdir(), "session-store-bench-"))
  const scope = Effect.runSync(Scope.make())
  try {
    const store = Context.get(
      await Effect.runPromise(Layer.buildWithScope(storeLayer(benchRepository(storeDir, durable)), scope)),
      SessionStore
    )
    const repository = Context.get(
      await Effect.runPromise(Layer.buildWithScope(benchRepository(repoDir, durable), scope)),
      SessionRepository
    )
    const id = sessionIdOf(2)
    const info = sessionInfo(2, Date.now())
    await Effect.runPromise(store.createSession(info))
    await Effect.runPromise(repository.createSession(info as never))
    const templates = conversation(2, 200)
    let n = 0
    // A fresh id per call, so every call appends; its parts get fresh ids too
    // (a part's id is the primary key of opencode's part table) and carry it.
    const fresh = (): MessageWithParts => {
      const template = templates[n % templates.length]!
      const messageId = messageIdOf(2, n++)
      return {
        info: { ...template.info, id: messageId },
        parts: template.parts.map((part, i) => ({ ...part, id: `prt_${messageId.slice(4)}_${i}`, messageID: messageId }))
      } as unknown as MessageWithParts
    }
    const samples = await measure(`append ~2 KB, fsync ${durable ? "on" : "off"}`, time, [
      {
        name: "repository alone",
        batch: 1,
        fn: () => Effect.runPromise(repository.putMessage(id as SessionId, fresh())).then((w) => { sink.total += w.bytes })
      },
      {
        name: "store, resident session",
        batch: 1,
        fn: () => Effect.runPromise(store.appendMessage(id, fresh())).then((m) => { sink.total += m.parts.length })
      }
    ], progress, { iterations: 16 })
    const stats = await Effect.runPromise(store.stats)
    if (store.getSessionIfResident(id) === undefined || stats.loads !== 0) {
      throw new Error("bench: the appended session did not stay resident")
    }
    return samples
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    rmSync(storeDir, { recursive: true, force: true })
    rmSync(repoDir, { recursive: true, force: true })
  }
}

