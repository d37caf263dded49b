/**
 * Basic auth, as opencode's server does it: on when `OPENCODE_SERVER_PASSWORD`
 * is set (and not empty), with the user name `OPENCODE_SERVER_USERNAME`
 * (default `opencode`). Every route is behind it, `/event`, `/stats` and
 * `/metrics` included. A request without the right credentials gets 401 with
 * `WWW-Authenticate: Basic` and an `Unauthorized` body; credentials are
 * compared in constant time.
 *
 * @example
 * ```sh
 * OPENCODE_SERVER_PASSWORD=s3cret session-store serve --database ./data
 * curl -u opencode:s3cret http://127.0.0.1:4096/session
 * ```
 *
 * @since 0.1.0
 */
import { Config, Effect, Layer, Option, Redacted } from "effect"
import { HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiMiddleware } from "effect/http-api"
import { createHash, timingSafeEqual } from "node:crypto"
import { Unauthorized, unauthorized } from "./errors.ts"

/** The credentials the server asks for, or none. */
export interface AuthSettings {
  readonly username: string
  readonly password: Option.Option<Redacted.Redacted<string>>
}

/**
 * opencode's variables: `OPENCODE_SERVER_PASSWORD` (auth is off when unset or
 * empty) and `OPENCODE_SERVER_USERNAME` (default `opencode`).
 *
 * @example
 * ```ts
 * const settings = yield* authConfig
 * ```
 */
export const authConfig: Config.Config<AuthSettings> = Config.all({
  password: Config.Redacted("OPENCODE_SERVER_PASSWORD").pipe(
    Config.option,
    Config.map(Option.filter((password) => Redacted.value(password) !== ""))
  ),
  username: Config.String("OPENCODE_SERVER_USERNAME").pipe(Config.withDefault("opencode"))
})

/**
 * The middleware tag; `layerAuthorization` implements it.
 */
export class Authorization extends HttpApiMiddleware.Service<Authorization>()(
  "@session-store/cli/serve/Authorization",
  { error: Unauthorized }
) {}

const digest = (value: string) => createHash("sha256").update(value, "utf8").digest()

/**
 * Whether an `Authorization` header carries exactly `username:password`.
 *
 * @example
 * ```ts
 * matches(`Basic ${btoa("opencode:pw")}`, "opencode", "pw") // true
 * ```
 */
export const matches = (header: string | undefined, username: string, password: string): boolean => {
  if (header === undefined) return false
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)
  if (match === null) return false
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8")
  // Both sides hashed first: equal lengths for timingSafeEqual, and no early exit on the first differing byte.
  return timingSafeEqual(digest(decoded), digest(`${username}:${password}`))
}

const challenge = { "www-authenticate": "Basic realm=\"session-store\", charset=\"UTF-8\"" }

/**
 * The middleware with the given settings: lets everything through when no
 * password is set.
 *
 * @example
 * ```ts
 * layerAuthorizationWith({ username: "opencode", password: Option.some(Redacted.make("pw")) })
 * ```
 */
export const layerAuthorizationWith = (settings: AuthSettings): Layer.Layer<Authorization> =>
  Layer.succeed(Authorization, (httpEffect) => {
    if (Option.isNone(settings.password)) return httpEffect
    const password = Redacted.value(settings.password.value)
    return Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      if (matches(request.headers["authorization"], settings.username, password)) return httpEffect
      const error = unauthorized("this server requires basic auth (OPENCODE_SERVER_PASSWORD is set)")
      return Effect.succeed(HttpServerResponse.jsonUnsafe(
        { name: error.name, data: error.data },
        { status: 401, headers: challenge }
      ))
    })
  })

/**
 * The middleware configured from opencode's environment variables.
 *
 * @example
 * ```ts
 * HttpApiBuilder.layer(Api).pipe(Layer.provide(layerAuthorization))
 * ```
 */
export const layerAuthorization: Layer.Layer<Authorization, Config.ConfigError> = Layer.unwrap(
  Effect.map(authConfig, layerAuthorizationWith)
)
