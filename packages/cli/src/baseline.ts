/**
 * The old code, as the "before" of the comparison: sessions and their
 * messages kept in plain `Map`s that grow for as long as the process lives.
 * Nothing is ever evicted and nothing is stored anywhere else, so memory holds
 * every session and every message ever written.
 *
 * It implements the same `SessionStoreShape` as the real store, so the soak
 * drives both through one code path. Like the original, it trusts its input:
 * values are kept exactly as given (no decoding, no copy).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionStore } from "@session-store/core/SessionStore"
 * import { layerBaseline } from "./baseline.ts"
 *
 * const program = SessionStore.use((store) => store.stats)
 * Effect.runPromise(Effect.provide(program, layerBaseline))
 * ```
 *
 * @since 0.1.0
 */
import { MessageNotFound, SessionAlreadyExists, SessionNotFound } from "@session-store/core/Errors"
import type { MessageWithParts } from "@session-store/core/Message"
import type { SessionInfo, SessionSummary } from "@session-store/core/Session"
import {
  type ResidentSession,
  SessionStore,
  type SessionStoreShape,
  type StoreStats
} from "@session-store/core/SessionStore"
import { Clock, Effect, Layer, Stream } from "effect"
import { DatabaseSync } from "node:sqlite"
import { getHeapStatistics } from "node:v8"

/**
 * A fresh unbounded store.
 *
 * @example
 * ```ts
 * const store = makeBaseline()
 * ```
 */
export const makeBaseline = (): SessionStoreShape => {
  const sessions = new Map<string, SessionInfo>()
  const messages = new Map<string, Map<string, MessageWithParts>>()
  let reads = 0

  const session = (sessionId: string) =>
    Effect.suspend(() => {
      const info = sessions.get(sessionId)
      if (info === undefined) return Effect.fail(new SessionNotFound({ sessionId }))
      reads++
      return Effect.succeed(info)
    })

  const messagesOf = (sessionId: string) =>
    Effect.suspend(() => {
      const byId = messages.get(sessionId)
      return byId === undefined ? Effect.fail(new SessionNotFound({ sessionId })) : Effect.succeed(byId)
    })

  // Not something the old code did: measured here only so the report can put
  // the baseline's bytes beside the store's, with the same JSON measure. So it
  // is measured when the figures are read (`stats`, which the soak times apart
  // from the workload), not on every write: a write only notes what changed.
  // The values are kept as given, never changed, so measuring later measures what was written.
  const sizes = new Map<string, number>()
  const unmeasured = new Map<string, unknown>()
  let residentBytes = 0
  const measure = (key: string, value: unknown) => {
    unmeasured.set(key, value)
  }
  const forget = (key: string) => {
    unmeasured.delete(key)
    residentBytes -= sizes.get(key) ?? 0
    sizes.delete(key)
  }
  const measured = () => {
    for (const [key, value] of unmeasured) {
      const bytes = Buffer.byteLength(JSON.stringify(value), "utf8")
      residentBytes += bytes - (sizes.get(key) ?? 0)
      sizes.set(key, bytes)
    }
    unmeasured.clear()
    return residentBytes
  }

  const put = (sessionId: string, message: unknown) =>
    Effect.map(messagesOf(sessionId), (byId) => {
      const value = message as MessageWithParts
      byId.set(value.info.id, value)
      measure(`${sessionId}/${value.info.id}`, value)
      return value
    })

  const stats: StoreStats = {
    hits: 0,
    misses: 0,
    loads: 0,
    loadFailures: 0,
    evictions: { capacity: 0, budget: 0, expired: 0, inactive: 0, pressure: 0, removed: 0, invalidated: 0, stale: 0 },
    sweeps: 0,
    residentSessions: 0,
    residentMessages: 0,
    residentBytes: 0,
    hitRate: 0
  }
  let sweeps = 0

  return {
    createSession: (input) =>
      Effect.suspend(() => {
        const info = input as SessionInfo
        if (sessions.has(info.id)) return Effect.fail(new SessionAlreadyExists({ sessionId: info.id }))
        sessions.set(info.id, info)
        messages.set(info.id, new Map())
        measure(info.id, info)
        return Effect.succeed(info)
      }),
    getSession: session,
    getSessionIfResident: (sessionId) => {
      const info = sessions.get(sessionId)
      if (info !== undefined) reads++
      return info
    },
    updateSession: (sessionId, edit) =>
      Effect.map(session(sessionId), (info) => {
        const next = edit(info)
        sessions.set(sessionId, next)
        measure(sessionId, next)
        return next
      }),
    removeSession: (sessionId) =>
      Effect.suspend(() => {
        if (!sessions.delete(sessionId)) return Effect.fail(new SessionNotFound({ sessionId }))
        for (const messageId of messages.get(sessionId)?.keys() ?? []) forget(`${sessionId}/${messageId}`)
        messages.delete(sessionId)
        forget(sessionId)
        return Effect.void
      }),
    listSessions: () =>
      Effect.sync(() =>
        [...sessions.values()].map((info): SessionSummary => ({
          id: info.id,
          title: info.title,
          updated: info.time.updated,
          messageCount: messages.get(info.id)?.size ?? 0,
          bytes: 0
        }))
      ),
    appendMessage: put,
    putMessage: put,
    getMessage: (sessionId, messageId) =>
      Effect.flatMap(messagesOf(sessionId), (byId) => {
        const message = byId.get(messageId)
        reads++
        return message === undefined
          ? Effect.fail(new MessageNotFound({ sessionId, messageId }))
          : Effect.succeed(message)
      }),
    getMessages: (sessionId, page) =>
      Effect.flatMap(messagesOf(sessionId), (byId) => {
        reads++
        let all = [...byId.values()]
        if (page?.before !== undefined) {
          const before = page.before
          const at = all.findIndex((m) => m.info.id === before)
          if (at === -1) return Effect.fail(new MessageNotFound({ sessionId, messageId: before }))
          all = all.slice(0, at)
        }
        return Effect.succeed(page?.limit === undefined ? all : all.slice(Math.max(0, all.length - page.limit)))
      }),
    removeMessage: (sessionId, messageId) =>
      Effect.flatMap(messagesOf(sessionId), (byId) =>
        byId.delete(messageId)
          ? Effect.sync(() => forget(`${sessionId}/${messageId}`))
          : Effect.fail(new MessageNotFound({ sessionId, messageId }))),
    invalidate: () => Effect.void,
    sweep: Effect.sync(() => {
      sweeps++
      return { expired: 0, inactive: 0, reconciled: 0, residentSessions: sessions.size, residentBytes: measured() }
    }),
    stats: Effect.sync(() => {
      let residentMessages = 0
      for (const byId of messages.values()) residentMessages += byId.size
      return {
        ...stats,
        hits: reads,
        hitRate: reads > 0 ? 1 : 0,
        sweeps,
        residentSessions: sessions.size,
        residentMessages,
        residentBytes: measured()
      }
    }),
    // The old code had no events and did nothing about memory pressure.
    events: Stream.empty,
    memoryPressure: Effect.gen(function*() {
      const heap = getHeapStatistics()
      const at = yield* Clock.currentTimeMillis
      return {
        reading: {
          heapUsed: heap.used_heap_size,
          heapLimit: heap.heap_size_limit,
          ratio: heap.used_heap_size / heap.heap_size_limit,
          at
        },
        threshold: 1,
        underPressure: false,
        sheddings: 0,
        lastShedding: undefined
      }
    }),
    residents: Effect.sync(() => {
      measured()
      return [...sessions.values()].map((info): ResidentSession => ({
        id: info.id,
        windowMessages: messages.get(info.id)?.size ?? 0,
        messageCount: messages.get(info.id)?.size ?? 0,
        bytes: [...(messages.get(info.id)?.keys() ?? [])].reduce(
          (total, messageId) => total + (sizes.get(`${info.id}/${messageId}`) ?? 0),
          sizes.get(info.id) ?? 0
        ),
        lastRead: 0,
        expiresAt: Number.POSITIVE_INFINITY
      }))
    })
  }
}

/**
 * The baseline as a `SessionStore` layer; each build starts empty.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(layerBaseline))
 * ```
 */
export const layerBaseline: Layer.Layer<SessionStore> = Layer.sync(SessionStore, makeBaseline)

/**
 * opencode's tables as it creates them (`packages/opencode/src/session/session.sql.ts`
 * in the opencode repository): a column per session field, each message and
 * part as JSON in `data` without the ids that have columns. Written by us
 * from that schema, without the project table and its foreign key.
 */
const OPENCODE_DDL = `
create table if not exists session (
  id text primary key, project_id text not null, workspace_id text, parent_id text, slug text not null,
  directory text not null, path text, title text not null, version text not null, share_url text,
  summary_additions integer, summary_deletions integer, summary_files integer, summary_diffs text,
  cost real not null default 0, tokens_input integer not null default 0, tokens_output integer not null default 0,
  tokens_reasoning integer not null default 0, tokens_cache_read integer not null default 0,
  tokens_cache_write integer not null default 0, revert text, permission text, goal text, agent text, model text,
  time_created integer not null, time_updated integer not null, time_compacting integer, time_archived integer);
create index if not exists session_project_idx on session (project_id);
create index if not exists session_parent_idx on session (parent_id);
create table if not exists message (
  id text primary key, session_id text not null references session (id) on delete cascade,
  time_created integer not null, time_updated integer not null, data text not null);
create index if not exists message_session_time_created_id_idx on message (session_id, time_created, id);
create table if not exists part (
  id text primary key, message_id text not null references message (id) on delete cascade,
  session_id text not null, time_created integer not null, time_updated integer not null, data text not null);
create index if not exists part_message_id_id_idx on part (message_id, id);
create index if not exists part_session_idx on part (session_id);
`

/**
 * "opencode today": the unbounded `Map`s of {@link makeBaseline}, plus every
 * write stored in SQLite the way opencode stores it (`node:sqlite`, WAL, one
 * transaction per message with its parts, upserts by id), so the soak shows
 * the store beside what opencode runs now. Reads come from the Maps, as
 * opencode's in-memory state serves them.
 *
 * @example
 * ```ts
 * const layer = layerOpencodeToday("/tmp/opencode.db", { synchronous: "NORMAL" })
 * ```
 */
export const layerOpencodeToday = (
  filename: string,
  options: { readonly synchronous: "FULL" | "NORMAL" }
): Layer.Layer<SessionStore> =>
  Layer.effect(
    SessionStore,
    Effect.acquireRelease(
      Effect.sync(() => {
        const db = new DatabaseSync(filename)
        db.exec(`pragma journal_mode = wal; pragma synchronous = ${options.synchronous}; pragma foreign_keys = on; pragma busy_timeout = 5000`)
        db.exec(OPENCODE_DDL)
        return db
      }),
      (db) => Effect.sync(() => db.close())
    ).pipe(Effect.map((db) => {
      const maps = makeBaseline()
      const upsertSession = db.prepare(
        `insert into session (id, project_id, parent_id, slug, directory, title, version, time_created, time_updated)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (id) do update set title = excluded.title, time_updated = excluded.time_updated`
      )
      const upsertMessage = db.prepare(
        `insert into message (id, session_id, time_created, time_updated, data) values (?, ?, ?, ?, ?)
         on conflict (id) do update set time_updated = excluded.time_updated, data = excluded.data`
      )
      const upsertPart = db.prepare(
        `insert into part (id, message_id, session_id, time_created, time_updated, data) values (?, ?, ?, ?, ?, ?)
         on conflict (id) do update set time_updated = excluded.time_updated, data = excluded.data`
      )
      const deleteSession = db.prepare("delete from session where id = ?")
      const writeSession = (info: SessionInfo) => {
        const raw = info as unknown as Record<string, unknown>
        upsertSession.run(
          info.id,
          String(raw["projectID"] ?? ""),
          (raw["parentID"] as string | undefined) ?? null,
          String(raw["slug"] ?? info.id),
          String(raw["directory"] ?? ""),
          info.title,
          String(raw["version"] ?? ""),
          info.time.created,
          info.time.updated
        )
      }
      const writeMessage = (sessionId: string, message: MessageWithParts) => {
        const { id, sessionID: _s, ...info } = message.info as unknown as Record<string, unknown> & { id: string }
        const created = ((info["time"] as { created?: number } | undefined)?.created) ?? Date.now()
        const now = Date.now()
        db.exec("begin")
        try {
          upsertMessage.run(id, sessionId, created, now, JSON.stringify(info))
          for (const part of message.parts as unknown as ReadonlyArray<Record<string, unknown> & { id: string }>) {
            const { id: partId, sessionID: _ps, messageID: _pm, ...data } = part
            upsertPart.run(partId, id, sessionId, created, now, JSON.stringify(data))
          }
          db.exec("commit")
        } catch (error) {
          db.exec("rollback")
          throw error
        }
      }
      const put = (sessionId: string, input: unknown) =>
        Effect.tap(maps.putMessage(sessionId, input), (message) => Effect.sync(() => writeMessage(sessionId, message)))
      return {
        ...maps,
        createSession: (input) => Effect.tap(maps.createSession(input), (info) => Effect.sync(() => writeSession(info))),
        updateSession: (sessionId, edit) =>
          Effect.tap(maps.updateSession(sessionId, edit), (info) => Effect.sync(() => writeSession(info))),
        removeSession: (sessionId) =>
          Effect.tap(maps.removeSession(sessionId), () => Effect.sync(() => deleteSession.run(sessionId))),
        appendMessage: put,
        putMessage: put
      } satisfies SessionStoreShape
    }))
  )
