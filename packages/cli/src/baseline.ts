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
  // the baseline's bytes beside the store's, with the same JSON measure.
  const sizes = new Map<string, number>()
  let residentBytes = 0
  const measure = (key: string, value: unknown) => {
    const bytes = Buffer.byteLength(JSON.stringify(value), "utf8")
    residentBytes += bytes - (sizes.get(key) ?? 0)
    sizes.set(key, bytes)
  }
  const forget = (key: string) => {
    residentBytes -= sizes.get(key) ?? 0
    sizes.delete(key)
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
    evictions: { capacity: 0, budget: 0, expired: 0, inactive: 0, pressure: 0, removed: 0, invalidated: 0 },
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
      return { expired: 0, inactive: 0, reconciled: 0, residentSessions: sessions.size, residentBytes }
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
        residentBytes
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
    residents: Effect.sync(() =>
      [...sessions.values()].map((info): ResidentSession => ({
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
    )
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
