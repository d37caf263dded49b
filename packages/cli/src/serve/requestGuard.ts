/**
 * What every request passes through before its handler: the body limit,
 * and the answers to a request that cannot be decoded. A malformed JSON body,
 * an id that is not a safe identifier, a bad query or a wrong field is a 400
 * with a `BadRequest` body naming the part (`Params`, `Query`, `Payload`) and
 * the problem, where `HttpApi` alone would answer an empty 400; a body over
 * the limit is a 413 with a `PayloadTooLarge` body, read no further than the
 * limit.
 *
 * @example
 * ```ts
 * HttpApiBuilder.layer(Api).pipe(Layer.provide(layerRequestGuard({ maxBodyBytes: 1_000_000 })))
 * ```
 *
 * @since 0.1.0
 */
import { ByteSize, Cause, Effect, Layer, type Types } from "effect"
import { HttpIncomingMessage, HttpServerError } from "effect/http"
import { HttpApiError, HttpApiMiddleware } from "effect/http-api"
import { BadRequest, badRequest, PayloadTooLarge, payloadTooLarge } from "./errors.ts"

/**
 * The middleware tag; `layerRequestGuard` implements it.
 */
export class RequestGuard extends HttpApiMiddleware.Service<RequestGuard>()(
  "@session-store/cli/serve/RequestGuard",
  { error: [BadRequest, PayloadTooLarge] }
) {}

const describe = (error: HttpApiError.HttpApiSchemaError): string => {
  const what = error.kind === "Params" ? "path parameter" : error.kind === "Query" ? "query" : "body"
  return `invalid ${what}: ${error.cause.message}`
}

const isBodyTooLarge = (defect: unknown): boolean =>
  HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError" &&
  defect.reason.reason === "BodyTooLarge"

/**
 * The guard, with bodies limited to `maxBodyBytes`.
 *
 * @example
 * ```ts
 * layerRequestGuard({ maxBodyBytes: 1_000_000 })
 * ```
 */
export const layerRequestGuard = (options: { readonly maxBodyBytes: number }): Layer.Layer<RequestGuard> => {
  const limit = ByteSize.bytes(BigInt(options.maxBodyBytes))
  return Layer.succeed(RequestGuard, (httpEffect) =>
    httpEffect.pipe(
      Effect.catchCause((cause): Effect.Effect<never, BadRequest | PayloadTooLarge | Types.unhandled> => {
        const failure = Cause.findErrorOption(cause)
        if (failure._tag === "Some" && HttpApiError.HttpApiSchemaError.is(failure.value)) {
          const error = failure.value
          // A response that does not encode is the server's fault: leave it to HttpApi (500).
          if (error.kind === "Body" || error.kind === "ResponseHeaders") return Effect.failCause(cause)
          return Effect.fail(badRequest(describe(error), error.kind === "Params" ? "Params" : error.kind === "Query" ? "Query" : "Payload"))
        }
        const defect = Cause.findDefect(cause)
        if (defect._tag === "Success" && isBodyTooLarge(defect.success)) {
          return Effect.fail(payloadTooLarge(options.maxBodyBytes))
        }
        return Effect.failCause(cause)
      }),
      Effect.provideService(HttpIncomingMessage.MaxBodySize, limit)
    ))
}
