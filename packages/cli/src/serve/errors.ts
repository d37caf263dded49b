/**
 * The error bodies of `session-store serve`, in opencode's `NamedError` JSON
 * shape (`{ name, data: { message, ... } }`), which is what
 * `@opencode-ai/sdk` decodes into `BadRequestError`, `NotFoundError`, ...
 * Each carries its HTTP status, so a handler fails with one of these and
 * `HttpApi` writes the status and the body.
 *
 * @example
 * ```ts
 * import { notFound } from "./errors.ts"
 *
 * Effect.fail(notFound("Session not found: ses_1")) // 404 {"name":"NotFoundError","data":{"message":"..."}}
 * ```
 *
 * @since 0.1.0
 */
import {
  CorruptRecord,
  InvalidId,
  InvalidInput,
  MessageNotFound,
  RepositoryError,
  SessionAlreadyExists,
  SessionNotFound
} from "@session-store/core/Errors"
import { Effect, Schema } from "effect"

const Message = Schema.Struct({ message: Schema.String })

/**
 * 400: a malformed body, id, query or path parameter (opencode's `BadRequest`).
 *
 * @example
 * ```ts
 * new BadRequest({ name: "BadRequest", data: { message: "invalid sessionID", kind: "Params" } })
 * ```
 */
export class BadRequest extends Schema.Error<BadRequest>("BadRequest")({
  name: Schema.Literal("BadRequest"),
  data: Schema.Struct({
    message: Schema.String,
    kind: Schema.optionalKey(Schema.Literals(["Params", "Headers", "Query", "Body", "Payload"]))
  })
}, { httpApiStatus: 400 }) {}

/**
 * 401: basic auth is on and the request did not carry the right credentials.
 *
 * @example
 * ```ts
 * new Unauthorized({ name: "Unauthorized", data: { message: "credentials required" } })
 * ```
 */
export class Unauthorized extends Schema.Error<Unauthorized>("Unauthorized")({
  name: Schema.Literal("Unauthorized"),
  data: Message
}, { httpApiStatus: 401 }) {}

/**
 * 404: no such session or message (opencode's `NotFoundError`).
 *
 * @example
 * ```ts
 * new NotFound({ name: "NotFoundError", data: { message: "Session not found: ses_1" } })
 * ```
 */
export class NotFound extends Schema.Error<NotFound>("NotFoundError")({
  name: Schema.Literal("NotFoundError"),
  data: Message
}, { httpApiStatus: 404 }) {}

/**
 * 413: the request body is over the server's limit (`--max-body`).
 *
 * @example
 * ```ts
 * new PayloadTooLarge({ name: "PayloadTooLarge", data: { message: "body over 1000000 bytes", limit: 1_000_000 } })
 * ```
 */
export class PayloadTooLarge extends Schema.Error<PayloadTooLarge>("PayloadTooLarge")({
  name: Schema.Literal("PayloadTooLarge"),
  data: Schema.Struct({ message: Schema.String, limit: Schema.Number })
}, { httpApiStatus: 413 }) {}

/**
 * 500: the storage behind the store failed, or a stored record cannot be read.
 * The write it interrupted was not acknowledged and left nothing behind.
 *
 * @example
 * ```ts
 * new StorageError({ name: "StorageError", data: { message: "repository putMessage failed: ENOSPC" } })
 * ```
 */
export class StorageError extends Schema.Error<StorageError>("StorageError")({
  name: Schema.Literal("StorageError"),
  data: Message
}, { httpApiStatus: 500 }) {}

/**
 * 501: the route exists in opencode but needs what this server does not have
 * (a language model, a shell, a share service).
 *
 * @example
 * ```ts
 * new NotImplemented({ name: "NotImplemented", data: { message: "...", route: "POST /session/{sessionID}/init" } })
 * ```
 */
export class NotImplemented extends Schema.Error<NotImplemented>("NotImplemented")({
  name: Schema.Literal("NotImplemented"),
  data: Schema.Struct({ message: Schema.String, route: Schema.String })
}, { httpApiStatus: 501 }) {}

/**
 * 503: the event stream has as many clients as it takes (`maxClients`).
 *
 * @example
 * ```ts
 * tooManyClients(128)
 * ```
 */
export class TooManyClients extends Schema.Error<TooManyClients>("TooManyClients")({
  name: Schema.Literal("TooManyClients"),
  data: Schema.Struct({ message: Schema.String, limit: Schema.Number })
}, { httpApiStatus: 503 }) {}

/** @example `tooManyClients(128)` */
export const tooManyClients = (limit: number): TooManyClients =>
  new TooManyClients({
    name: "TooManyClients",
    data: { message: `the event stream has its ${limit} clients already; retry later`, limit }
  })

/** @example `badRequest("limit must be a non-negative integer", "Query")` */
export const badRequest = (message: string, kind?: BadRequest["data"]["kind"]): BadRequest =>
  new BadRequest({ name: "BadRequest", data: kind === undefined ? { message } : { message, kind } })

/** @example `notFound("Session not found: ses_1")` */
export const notFound = (message: string): NotFound => new NotFound({ name: "NotFoundError", data: { message } })

/** @example `storageError("repository load failed: EIO")` */
export const storageError = (message: string): StorageError =>
  new StorageError({ name: "StorageError", data: { message } })

/** @example `unauthorized("credentials required")` */
export const unauthorized = (message: string): Unauthorized =>
  new Unauthorized({ name: "Unauthorized", data: { message } })

/** @example `payloadTooLarge(1_000_000)` */
export const payloadTooLarge = (limit: number): PayloadTooLarge =>
  new PayloadTooLarge({
    name: "PayloadTooLarge",
    data: { message: `request body over the limit of ${limit} bytes`, limit }
  })

/** @example `notImplemented("POST /session/{sessionID}/init")` */
export const notImplemented = (route: string, why = "it needs a language model"): NotImplemented =>
  new NotImplemented({
    name: "NotImplemented",
    data: {
      message: `${route} is not served by session-store serve: ${why}. ` +
        "This server serves stored sessions and messages only; run opencode itself for it.",
      route
    }
  })

/** Every error the store can raise, as the handlers see them. */
export type StoreError =
  | InvalidId
  | InvalidInput
  | SessionNotFound
  | MessageNotFound
  | SessionAlreadyExists
  | RepositoryError
  | CorruptRecord

/**
 * The HTTP answer to a store error: a bad id or input is 400, an unknown
 * session or message 404, anything of storage 500 (and logged).
 *
 * @example
 * ```ts
 * store.getSession(id).pipe(Effect.catch(fromStoreError))
 * ```
 */
export const fromStoreError = (error: StoreError): Effect.Effect<never, BadRequest | NotFound | StorageError> => {
  if (error instanceof InvalidId || error instanceof InvalidInput) return Effect.fail(badRequest(error.message))
  if (error instanceof SessionNotFound) return Effect.fail(notFound(`Session not found: ${error.sessionId}`))
  if (error instanceof MessageNotFound) {
    return Effect.fail(notFound(`Message not found: ${error.messageId} in session ${error.sessionId}`))
  }
  return Effect.logError("storage failure", error).pipe(Effect.andThen(Effect.fail(storageError(error.message))))
}

const isStoreError = (error: unknown): error is StoreError =>
  error instanceof InvalidId || error instanceof InvalidInput || error instanceof SessionNotFound ||
  error instanceof MessageNotFound || error instanceof SessionAlreadyExists || error instanceof RepositoryError ||
  error instanceof CorruptRecord

/**
 * Turns the store errors of an effect into their HTTP answers
 * ({@link fromStoreError}); other errors pass through.
 *
 * @example
 * ```ts
 * store.getSession(id).pipe(mapStoreError)
 * ```
 */
export const mapStoreError = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, StoreError> | BadRequest | NotFound | StorageError, R> =>
  Effect.catch(
    self,
    (error): Effect.Effect<never, Exclude<E, StoreError> | BadRequest | NotFound | StorageError> =>
      isStoreError(error) ? fromStoreError(error) : Effect.fail(error as Exclude<E, StoreError>)
  )
