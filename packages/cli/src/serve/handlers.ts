/**
 * The handlers of `session-store serve`: each route of `api.ts` on the
 * `SessionStore` in context, with opencode's semantics:
 *
 * - a new session gets an opencode id (`ses_…`, newest first), the title
 *   `New session - <ISO time>` (`Child session - …` with a parent), the
 *   client's directory (`directory` query or `x-opencode-directory` header,
 *   else the server's) and the project `global`;
 * - an update sets the given fields and `time.updated`;
 * - a delete removes the session's descendants first, then the session, so
 *   a failure part way leaves no child without its parent (and is safe to
 *   retry);
 * - a prompt with `noReply: true` stores the user message (opencode does the
 *   same without calling the model); without it the route answers 501.
 *
 * Every write is acknowledged by the store (storage first) before its event
 * is published. Store errors become 400 (bad id or input), 404 (unknown
 * session or message) or 500 (storage; logged) with an opencode-shaped body.
 *
 * @example
 * ```ts
 * HttpApiBuilder.layer(Api).pipe(Layer.provide(layerHandlers({ directory: process.cwd(), version: "0.1.0" })))
 * ```
 *
 * @since 0.1.0
 */
import type { SessionId } from "@session-store/core/Ids"
import type { MessageWithParts } from "@session-store/core/Message"
import type { SessionInfo } from "@session-store/core/Session"
import { SessionStore } from "@session-store/core/SessionStore"
import { Clock, Effect, Fiber, Layer, Option } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { Api, unsupportedRoutes } from "./api.ts"
import { badRequest, mapStoreError, notImplemented, type NotImplemented } from "./errors.ts"
import { ServerEvents } from "./events.ts"
import { makeIds } from "./ids.ts"

/** What the handlers need besides the store. */
export interface HandlerSettings {
  /** The directory of sessions created without one. */
  readonly directory: string
  /** Written as `version` of new sessions. */
  readonly version: string
  /** Sessions loaded at once by a listing (default 8). */
  readonly listConcurrency?: number | undefined
}


const requestDirectory = (header: string | undefined): string | undefined => {
  if (header === undefined || header === "") return undefined
  try {
    return decodeURIComponent(header)
  } catch {
    return header
  }
}

/**
 * The session routes.
 *
 * @example
 * ```ts
 * layerSessionHandlers({ directory: "/repo", version: "0.1.0" })
 * ```
 */
export const layerSessionHandlers = (settings: HandlerSettings) =>
  HttpApiBuilder.group(
    Api,
    "session",
    Effect.fn(function*(handlers) {
      const store = yield* SessionStore
      const events = yield* ServerEvents
      const ids = makeIds()
      const concurrency = settings.listConcurrency ?? 8

      /** The infos of the listed sessions; one deleted in between is skipped. */
      const loadInfos = (summaries: ReadonlyArray<{ readonly id: SessionId }>) =>
        Effect.forEach(
          summaries,
          (summary) =>
            store.getSession(summary.id).pipe(
              Effect.map(Option.some),
              Effect.catchTag("SessionNotFound", () => Effect.succeed(Option.none<SessionInfo>()))
            ),
          { concurrency }
        ).pipe(Effect.map((found) => found.flatMap((info) => Option.isSome(info) ? [info.value] : [])))

      const allInfos = Effect.flatMap(store.listSessions(), loadInfos)

      const touch = (sessionId: SessionId, now: number) =>
        store.updateSession(sessionId, (info) => ({ ...info, time: { ...info.time, updated: now } })).pipe(
          Effect.flatMap((info) => events.publish({ type: "session.updated", properties: { info } })),
          // The message is stored and acknowledged; a failed touch only leaves time.updated behind.
          Effect.catch((error) => Effect.logWarning("could not bump time.updated after a message", error))
        )

      return handlers.handleAll({
        list: Effect.fn("serve.session.list")(function*({ query }) {
          const needle = query.search?.toLowerCase()
          const summaries = (yield* store.listSessions()).filter((s) =>
            (query.start === undefined || s.updated >= query.start) &&
            (needle === undefined || s.title.toLowerCase().includes(needle))
          )
          const roots = query.roots === "true"
          // Without `roots` the limit applies before loading: only what is returned is loaded.
          const chosen = !roots && query.limit !== undefined ? summaries.slice(0, query.limit) : summaries
          let infos = yield* loadInfos(chosen)
          if (roots) infos = infos.filter((info) => info.parentID === undefined)
          return query.limit === undefined ? infos : infos.slice(0, query.limit)
        }, mapStoreError),

        status: () => Effect.succeed({}),

        create: Effect.fn("serve.session.create")(function*({ payload, query, request }) {
          const now = yield* Clock.currentTimeMillis
          const parentID = payload?.parentID
          if (parentID !== undefined) {
            yield* store.getSession(parentID).pipe(
              Effect.catchTag(
                "SessionNotFound",
                () => Effect.fail(badRequest(`parentID ${parentID}: no such session`, "Payload"))
              )
            )
          }
          const directory = query.directory ?? requestDirectory(request.headers["x-opencode-directory"]) ??
            settings.directory
          const title = payload?.title ??
            `${parentID === undefined ? "New session - " : "Child session - "}${new Date(now).toISOString()}`
          const info = yield* store.createSession({
            id: ids.session(now),
            projectID: "global",
            directory,
            ...(parentID === undefined ? {} : { parentID }),
            title,
            version: settings.version,
            time: { created: now, updated: now }
          })
          yield* events.publish({ type: "session.created", properties: { info } })
          yield* events.publish({ type: "session.updated", properties: { info } })
          return info
        }, mapStoreError),

        get: ({ params }) => store.getSession(params.sessionID).pipe(mapStoreError),

        update: Effect.fn("serve.session.update")(function*({ params, payload }) {
          const now = yield* Clock.currentTimeMillis
          const info = yield* store.updateSession(params.sessionID, (current) => ({
            ...current,
            ...(payload.title === undefined ? {} : { title: payload.title }),
            time: {
              ...current.time,
              ...(payload.time?.archived === undefined ? {} : { archived: payload.time.archived }),
              updated: now
            }
          }))
          yield* events.publish({ type: "session.updated", properties: { info } })
          return info
        }, mapStoreError),

        remove: Effect.fn("serve.session.remove")(function*({ params }) {
          const root = yield* store.getSession(params.sessionID)
          const infos = yield* allInfos
          const children = new Map<string, Array<SessionInfo>>()
          for (const info of infos) {
            if (info.parentID === undefined) continue
            const siblings = children.get(info.parentID)
            if (siblings === undefined) children.set(info.parentID, [info])
            else siblings.push(info)
          }
          // Descendants first (post-order), so a failure never leaves an orphan behind.
          const order: Array<SessionInfo> = []
          const seen = new Set<string>()
          const visit = (info: SessionInfo) => {
            if (seen.has(info.id)) return
            seen.add(info.id)
            for (const child of children.get(info.id) ?? []) visit(child)
            order.push(info)
          }
          visit(root)
          for (const info of order) {
            yield* store.removeSession(info.id).pipe(
              // Gone already (another client deleted it): nothing left to do for it.
              Effect.catchTag("SessionNotFound", () => Effect.void)
            )
            yield* events.publish({ type: "session.deleted", properties: { info } })
          }
          return true
        }, mapStoreError),

        children: Effect.fn("serve.session.children")(function*({ params }) {
          yield* store.getSession(params.sessionID)
          const infos = yield* allInfos
          return infos.filter((info) => info.parentID === params.sessionID)
        }, mapStoreError),

        messages: ({ params, query }) =>
          store.getMessages(params.sessionID, { limit: query.limit, before: query.before }).pipe(
            Effect.catchTag(
              "MessageNotFound",
              (error) => Effect.fail(badRequest(`before: no message ${error.messageId} in this session`, "Query"))
            ),
            mapStoreError
          ),

        message: ({ params }) => store.getMessage(params.sessionID, params.messageID).pipe(mapStoreError),

        removeMessage: Effect.fn("serve.session.removeMessage")(function*({ params }) {
          yield* store.removeMessage(params.sessionID, params.messageID)
          yield* events.publish({
            type: "message.removed",
            properties: { sessionID: params.sessionID, messageID: params.messageID }
          })
          return true
        }, mapStoreError),

        prompt: Effect.fn("serve.session.prompt")(function*({ params, payload }) {
          const sessionID = params.sessionID
          yield* store.getSession(sessionID)
          if (payload.noReply !== true) {
            return yield* notImplemented(
              "POST /session/{sessionID}/message",
              "a reply needs a language model (send noReply: true to store the user message only)"
            )
          }
          if (payload.model === undefined) {
            return yield* badRequest(
              "model is required with noReply: this server has no provider configuration to choose one",
              "Payload"
            )
          }
          const now = yield* Clock.currentTimeMillis
          const messageID = payload.messageID ?? ids.message(now)
          const message: MessageWithParts = yield* store.putMessage(sessionID, {
            info: {
              id: messageID,
              sessionID,
              role: "user",
              time: { created: now },
              agent: payload.agent ?? "build",
              model: payload.model,
              ...(payload.system === undefined ? {} : { system: payload.system }),
              ...(payload.tools === undefined ? {} : { tools: payload.tools })
            },
            parts: payload.parts.map((part) => ({ ...part, id: part.id ?? ids.part(now), sessionID, messageID }))
          })
          yield* events.publish({ type: "message.updated", properties: { info: message.info } })
          for (const part of message.parts) {
            yield* events.publish({ type: "message.part.updated", properties: { part } })
          }
          yield* touch(sessionID, now)
          return message
        }, mapStoreError)
      })
    })
  )

/**
 * The 501 routes, each naming itself and why.
 *
 * @example
 * ```ts
 * layerUnsupportedHandlers
 * ```
 */
export const layerUnsupportedHandlers = HttpApiBuilder.group(Api, "unsupported", (handlers) =>
  Effect.succeed(handlers.handleAll(
    Object.fromEntries(unsupportedRoutes.map(([name, method, path, why]) => {
      const error = notImplemented(`${method} ${path.replace(":sessionID", "{sessionID}")}`, why)
      return [name, () => Effect.fail(error)]
    })) as Record<(typeof unsupportedRoutes)[number][0], () => Effect.Effect<never, NotImplemented>>
  )))

/**
 * `GET /event`: registers the client, then streams its frames.
 *
 * @example
 * ```ts
 * layerEventHandlers
 * ```
 */
export const layerEventHandlers = HttpApiBuilder.group(
  Api,
  "event",
  Effect.fn(function*(handlers) {
    const events = yield* ServerEvents
    return handlers.handleRaw(
      "subscribe",
      Effect.fn("serve.event.subscribe")(function*() {
        const fiber = Fiber.getCurrent()!
        const stream = yield* events.connect(fiber)
        return HttpServerResponse.stream(stream, {
          contentType: "text/event-stream",
          headers: {
            "cache-control": "no-cache, no-transform",
            "x-accel-buffering": "no",
            "x-content-type-options": "nosniff"
          }
        })
      })
    )
  })
)

/**
 * `GET /stats` (the store's stats, its memory pressure, the event stream's
 * counters and the process heap) and `GET /metrics` (Prometheus text of the
 * metric registry: the store's `session_store_*` series).
 *
 * @example
 * ```ts
 * layerOpsHandlers
 * ```
 */
export const layerOpsHandlers = HttpApiBuilder.group(
  Api,
  "ops",
  Effect.fn(function*(handlers) {
    const store = yield* SessionStore
    const events = yield* ServerEvents
    return handlers.handleAll({
      stats: Effect.fn("serve.ops.stats")(function*() {
        const { heapUsed, heapTotal, rss } = process.memoryUsage()
        const pressure = yield* store.memoryPressure
        return {
          store: yield* store.stats,
          memoryPressure: {
            reading: pressure.reading,
            threshold: pressure.threshold,
            underPressure: pressure.underPressure,
            sheddings: pressure.sheddings
          },
          events: yield* events.stats,
          process: { heapUsed, heapTotal, rss }
        }
      }),
      metrics: () => PrometheusMetrics.format()
    })
  })
)

/**
 * Every handler group, on the `SessionStore` and `ServerEvents` in context.
 *
 * @example
 * ```ts
 * HttpApiBuilder.layer(Api).pipe(Layer.provide(layerHandlers(settings)))
 * ```
 */
export const layerHandlers = (settings: HandlerSettings) =>
  Layer.mergeAll(layerSessionHandlers(settings), layerUnsupportedHandlers, layerEventHandlers, layerOpsHandlers)
