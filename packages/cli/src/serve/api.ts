/**
 * The HTTP API of `session-store serve`: the session part of opencode's
 * server, with opencode's paths, shapes and status codes (as the root export
 * of `@opencode-ai/sdk` 1.19 calls them), plus `/stats` and `/metrics`.
 *
 * | route | answer |
 * |---|---|
 * | `GET /session?roots&search&limit&start` | `Session[]`, most recently updated first |
 * | `POST /session` `{ parentID?, title? }` | the new `Session` |
 * | `GET /session/status` | `{}` (nothing here ever runs a session) |
 * | `GET /session/{sessionID}` | `Session` or 404 |
 * | `PATCH /session/{sessionID}` `{ title?, time?: { archived? } }` | the updated `Session` |
 * | `DELETE /session/{sessionID}` | `true`; its child sessions go first |
 * | `GET /session/{sessionID}/children` | `Session[]` |
 * | `GET /session/{sessionID}/message?limit&before` | `{ info, parts }[]`, oldest first |
 * | `GET /session/{sessionID}/message/{messageID}` | `{ info, parts }` |
 * | `DELETE /session/{sessionID}/message/{messageID}` | `true` |
 * | `POST /session/{sessionID}/message` | with `noReply: true` the user message is stored; otherwise 501 |
 * | `GET /event` | server-sent events (see `events.ts`) |
 * | `GET /stats`, `GET /metrics` | the store's stats (JSON), its metrics (Prometheus text) |
 *
 * Routes of opencode that need a language model, a shell or a share service
 * answer 501 with a `NotImplemented` body naming the route.
 *
 * @example
 * ```ts
 * import { HttpApiBuilder } from "effect/http-api"
 * import { Api } from "./api.ts"
 *
 * const routes = HttpApiBuilder.layer(Api)
 * ```
 *
 * @since 0.1.0
 */
import { MessageId, SessionId } from "@session-store/core/Ids"
import { MessageWithParts } from "@session-store/core/Message"
import { Rest, SessionInfo } from "@session-store/core/Session"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } from "effect/http-api"
import { Authorization } from "./auth.ts"
import { BadRequest, NotFound, NotImplemented, StorageError, TooManyClients } from "./errors.ts"
import { RequestGuard } from "./requestGuard.ts"

const Count = Schema.NumberFromString.check(Schema.isInt(), Schema.isGreaterThanOrEqualTo(0))
const QueryBoolean = Schema.Literals(["true", "false"])

/** The `directory` every opencode client may send; accepted everywhere, used by create. */
const Routing = { directory: Schema.optional(Schema.String) }

/** Query of `GET /session`. */
export const ListQuery = Schema.Struct({
  ...Routing,
  roots: Schema.optional(QueryBoolean),
  search: Schema.optional(Schema.String),
  limit: Schema.optional(Count),
  start: Schema.optional(Schema.NumberFromString)
})

/** Query of `GET /session/{sessionID}/message`. */
export const MessagesQuery = Schema.Struct({
  ...Routing,
  limit: Schema.optional(Count),
  before: Schema.optional(MessageId)
})

/** Body of `POST /session`; fields opencode accepts and this server does not use (permission) are ignored. */
export const CreatePayload = Schema.Struct({
  parentID: Schema.optional(SessionId),
  title: Schema.optional(Schema.String)
})

/** Body of `PATCH /session/{sessionID}`. */
export const UpdatePayload = Schema.Struct({
  title: Schema.optional(Schema.String),
  time: Schema.optional(Schema.Struct({ archived: Schema.optional(Schema.Finite) }))
})

/** One part of a prompt (`TextPartInput`, `FilePartInput`, ...), kept as sent. */
export const PartInput = Schema.StructWithRest(
  Schema.Struct({ id: Schema.optional(Schema.String), type: Schema.String }),
  [Rest]
)

/** Body of `POST /session/{sessionID}/message`. */
export const PromptPayload = Schema.Struct({
  messageID: Schema.optional(MessageId),
  model: Schema.optional(Schema.Struct({ providerID: Schema.String, modelID: Schema.String })),
  agent: Schema.optional(Schema.String),
  noReply: Schema.optional(Schema.Boolean),
  system: Schema.optional(Schema.String),
  tools: Schema.optional(Schema.Record(Schema.String, Schema.Boolean)),
  parts: Schema.Array(PartInput)
})
export type PromptPayload = typeof PromptPayload.Type

const sessionParams = { sessionID: SessionId }
const messageParams = { sessionID: SessionId, messageID: MessageId }
const lookupErrors = [BadRequest, NotFound, StorageError] as const

/** The session routes. */
export class SessionGroup extends HttpApiGroup.make("session", { topLevel: false })
  .add(
    HttpApiEndpoint.get("list", "/session", { query: ListQuery, success: Schema.Array(SessionInfo), error: lookupErrors }),
    HttpApiEndpoint.get("status", "/session/status", {
      query: Routing,
      success: Schema.Record(Schema.String, Schema.Unknown)
    }),
    HttpApiEndpoint.post("create", "/session", {
      query: Routing,
      payload: Schema.optional(CreatePayload),
      success: SessionInfo,
      error: lookupErrors
    }),
    HttpApiEndpoint.get("get", "/session/:sessionID", {
      params: sessionParams,
      query: Routing,
      success: SessionInfo,
      error: lookupErrors
    }),
    HttpApiEndpoint.patch("update", "/session/:sessionID", {
      params: sessionParams,
      query: Routing,
      payload: UpdatePayload,
      success: SessionInfo,
      error: lookupErrors
    }),
    HttpApiEndpoint.delete("remove", "/session/:sessionID", {
      params: sessionParams,
      query: Routing,
      success: Schema.Boolean,
      error: lookupErrors
    }),
    HttpApiEndpoint.get("children", "/session/:sessionID/children", {
      params: sessionParams,
      query: Routing,
      success: Schema.Array(SessionInfo),
      error: lookupErrors
    }),
    HttpApiEndpoint.get("messages", "/session/:sessionID/message", {
      params: sessionParams,
      query: MessagesQuery,
      success: Schema.Array(MessageWithParts),
      error: lookupErrors
    }),
    HttpApiEndpoint.get("message", "/session/:sessionID/message/:messageID", {
      params: messageParams,
      query: Routing,
      success: MessageWithParts,
      error: lookupErrors
    }),
    HttpApiEndpoint.delete("removeMessage", "/session/:sessionID/message/:messageID", {
      params: messageParams,
      query: Routing,
      success: Schema.Boolean,
      error: lookupErrors
    }),
    HttpApiEndpoint.post("prompt", "/session/:sessionID/message", {
      params: sessionParams,
      query: Routing,
      payload: PromptPayload,
      success: MessageWithParts,
      error: [...lookupErrors, NotImplemented]
    })
  )
{}

/**
 * opencode's session routes that need a language model, a shell or a share
 * service, each answered with 501: `[name, method, path, why]`.
 */
export const unsupportedRoutes = [
  ["init", "POST", "/session/:sessionID/init", "it needs a language model"],
  ["summarize", "POST", "/session/:sessionID/summarize", "it needs a language model"],
  ["promptAsync", "POST", "/session/:sessionID/prompt_async", "it needs a language model"],
  ["command", "POST", "/session/:sessionID/command", "it needs a language model"],
  ["shell", "POST", "/session/:sessionID/shell", "it needs a shell and a language model"],
  ["abort", "POST", "/session/:sessionID/abort", "nothing here runs a session"],
  ["fork", "POST", "/session/:sessionID/fork", "forking is not implemented by this server"],
  ["revert", "POST", "/session/:sessionID/revert", "it needs opencode's file snapshots"],
  ["unrevert", "POST", "/session/:sessionID/unrevert", "it needs opencode's file snapshots"],
  ["share", "POST", "/session/:sessionID/share", "it needs opencode's share service"],
  ["unshare", "DELETE", "/session/:sessionID/share", "it needs opencode's share service"]
] as const

const unsupported = { error: NotImplemented }

/** The 501 routes (`unsupportedRoutes`). */
export class UnsupportedGroup extends HttpApiGroup.make("unsupported").add(
  HttpApiEndpoint.post("init", "/session/:sessionID/init", unsupported),
  HttpApiEndpoint.post("summarize", "/session/:sessionID/summarize", unsupported),
  HttpApiEndpoint.post("promptAsync", "/session/:sessionID/prompt_async", unsupported),
  HttpApiEndpoint.post("command", "/session/:sessionID/command", unsupported),
  HttpApiEndpoint.post("shell", "/session/:sessionID/shell", unsupported),
  HttpApiEndpoint.post("abort", "/session/:sessionID/abort", unsupported),
  HttpApiEndpoint.post("fork", "/session/:sessionID/fork", unsupported),
  HttpApiEndpoint.post("revert", "/session/:sessionID/revert", unsupported),
  HttpApiEndpoint.post("unrevert", "/session/:sessionID/unrevert", unsupported),
  HttpApiEndpoint.post("share", "/session/:sessionID/share", unsupported),
  HttpApiEndpoint.delete("unshare", "/session/:sessionID/share", unsupported)
) {}

/** `GET /event`: the event stream (handled raw, see `events.ts`). */
export class EventGroup extends HttpApiGroup.make("event").add(
  HttpApiEndpoint.get("subscribe", "/event", { query: Routing, error: TooManyClients })
) {}

/** `GET /stats` and `GET /metrics`. */
export class OpsGroup extends HttpApiGroup.make("ops").add(
  HttpApiEndpoint.get("stats", "/stats", { success: Schema.Unknown }),
  HttpApiEndpoint.get("metrics", "/metrics", {
    success: Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/plain; version=0.0.4" }))
  })
) {}

/**
 * The whole API. `RequestGuard` (body limit, schema errors as 400 bodies)
 * runs inside `Authorization` (basic auth), so nothing is decoded before the
 * credentials are checked.
 */
export class Api extends HttpApi.make("session-store-serve")
  .add(SessionGroup)
  .add(UnsupportedGroup)
  .add(EventGroup)
  .add(OpsGroup)
  .middleware(RequestGuard)
  .middleware(Authorization)
{}
