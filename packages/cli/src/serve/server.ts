/**
 * The server of `session-store serve`: the `HttpApi` of `api.ts` with its
 * handlers, auth, request guard and event stream, on Node's HTTP server,
 * serving whatever `SessionStore` is in context.
 *
 * Safe by default: it binds `127.0.0.1`; basic auth is on when
 * `OPENCODE_SERVER_PASSWORD` is set; bodies are limited (1 MB); each event
 * client's backlog is bounded.
 *
 * @example
 * ```ts
 * Layer.launch(layerServer(serveDefaults).pipe(Layer.provide(SessionStore.layerTest)))
 * ```
 *
 * @since 0.1.0
 */
import { NodeHttpServer } from "@effect/platform-node"
import { Console, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { createServer } from "node:http"
import { Api } from "./api.ts"
import { type AuthSettings, layerAuthorization, layerAuthorizationWith } from "./auth.ts"
import { eventDefaults, type EventSettings, layer as layerEvents } from "./events.ts"
import { layerHandlers } from "./handlers.ts"
import { layerRequestGuard } from "./requestGuard.ts"

/** Everything the server is configured with. */
export interface ServeOptions {
  readonly host: string
  /** 0 picks a free port (printed on start). */
  readonly port: number
  readonly maxBodyBytes: number
  readonly events: EventSettings
  /** The directory of sessions created without one. */
  readonly directory: string
  /** Written as `version` of new sessions. */
  readonly version: string
  /** Basic auth; read from `OPENCODE_SERVER_PASSWORD` / `OPENCODE_SERVER_USERNAME` when absent. */
  readonly auth?: AuthSettings | undefined
}

/**
 * The defaults: loopback, opencode's port 4096, 1 MB bodies.
 *
 * @example
 * ```ts
 * layerServer({ ...serveDefaults, port: 0 })
 * ```
 */
export const serveDefaults: ServeOptions = {
  host: "127.0.0.1",
  port: 4096,
  maxBodyBytes: 1_000_000,
  events: eventDefaults,
  directory: process.cwd(),
  version: "0.1.0"
}

/**
 * The routes without a server: for `HttpRouter.serve`, `HttpRouter.toWebHandler`
 * or `HttpApiTest`. Needs the `SessionStore`.
 *
 * @example
 * ```ts
 * HttpRouter.toWebHandler(layerRoutes(serveDefaults).pipe(Layer.provide([SessionStore.layerTest, HttpServer.layerServices])))
 * ```
 */
export const layerRoutes = (options: ServeOptions) =>
  HttpApiBuilder.layer(Api).pipe(
    Layer.provide(layerHandlers({ directory: options.directory, version: options.version })),
    Layer.provide([
      layerRequestGuard({ maxBodyBytes: options.maxBodyBytes }),
      options.auth === undefined ? layerAuthorization : layerAuthorizationWith(options.auth)
    ]),
    Layer.provide(layerEvents(options.events))
  )

/**
 * The listening server; prints `session-store serve: listening on <url>` once bound.
 *
 * @example
 * ```ts
 * Layer.launch(layerServer(serveDefaults).pipe(Layer.provide(store)))
 * ```
 */
export const layerServer = (options: ServeOptions) =>
  HttpRouter.serve(layerRoutes(options), { disableListenLog: true, disableLogger: true }).pipe(
    Layer.provideMerge(Layer.effectDiscard(
      HttpServer.addressFormattedWith((url) => Console.log(`session-store serve: listening on ${url}`))
    )),
    Layer.provide(NodeHttpServer.layer(() => createServer({ requestTimeout: 60_000 }), {
      host: options.host,
      port: options.port
    }))
  )
