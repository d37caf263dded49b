/**
 * The `serve` subcommand: opencode's session HTTP API on the store in
 * `--database`, until interrupted (Ctrl-C releases the store cleanly).
 *
 * @example
 * ```sh
 * session-store serve --database ./opencode.db --port 4096
 * OPENCODE_SERVER_PASSWORD=s3cret session-store serve --database ./opencode.db --budget 64MB
 * ```
 *
 * @since 0.1.0
 */
import { ConfigProvider, Console, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { byteSize, positive } from "../command/arguments.ts"
import { authConfig } from "./auth.ts"
import { eventDefaults } from "./events.ts"
import { layerServer, serveDefaults } from "./server.ts"
import { storeLayer } from "./storage.ts"

const loopback = (host: string) => host === "localhost" || host === "::1" || /^127\./.test(host)

const byteSizeFlag = (name: string, description: string) => byteSize(name).pipe(Flag.withDescription(description))

/**
 * The `serve` command.
 *
 * @example
 * ```ts
 * Command.withSubcommands([serveCommand])
 * ```
 */
export const serveCommand = Command.make(
  "serve",
  {
    database: Flag.String("database").pipe(
      Flag.withDescription("opencode.db (opencode's SQLite database, or a new file): the store reads and writes its session, message and part tables")
    ),
    hostname: Flag.String("hostname").pipe(
      Flag.withDescription(`Address to bind (default ${serveDefaults.host}: this machine only)`),
      Flag.withDefault(serveDefaults.host)
    ),
    port: Flag.Int("port").pipe(
      Flag.withDescription(`Port, 0 for any free one (default ${serveDefaults.port}, as opencode)`),
      Flag.filter((n) => n >= 0 && n < 65536, (n) => `--port must be 0-65535, got ${n}`),
      Flag.withDefault(serveDefaults.port)
    ),
    maxBody: byteSizeFlag("max-body", `Largest request body (default ${serveDefaults.maxBodyBytes} bytes)`).pipe(
      Flag.withDefault(serveDefaults.maxBodyBytes)
    ),
    eventBacklog: positive("event-backlog").pipe(
      Flag.withDescription(
        `Events an event-stream client may fall behind by before it is dropped (default ${eventDefaults.backlog})`
      ),
      Flag.withDefault(eventDefaults.backlog)
    ),
    maxEventClients: positive("max-event-clients").pipe(
      Flag.withDescription(
        `Event-stream clients connected at once; more get 503 (default ${eventDefaults.maxClients})`
      ),
      Flag.withDefault(eventDefaults.maxClients)
    ),
    budget: byteSizeFlag("budget", "The store's byte budget (memory.maxBytes), over the memory config").pipe(
      Flag.optional
    )
  },
  Effect.fn("Command.serve")(function*(flags) {
    const auth = yield* authConfig
    if (!loopback(flags.hostname) && Option.isNone(auth.password)) {
      yield* Console.error(
        `warning: serving on ${flags.hostname} without a password: set OPENCODE_SERVER_PASSWORD to require basic auth`
      )
    }
    const store = Option.isSome(flags.budget)
      ? storeLayer(flags.database).pipe(Layer.provide(
        ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ memory: { maxBytes: flags.budget.value } }), {
          asPrimary: true
        })
      ))
      : storeLayer(flags.database)
    return yield* Layer.launch(
      layerServer({
        ...serveDefaults,
        host: flags.hostname,
        port: flags.port,
        maxBodyBytes: flags.maxBody,
        events: { ...eventDefaults, backlog: flags.eventBacklog, maxClients: flags.maxEventClients }
      }).pipe(Layer.provide(store))
    )
  })
).pipe(
  Command.withDescription(
    "Serve opencode's session HTTP API (sessions, messages, events) from the store, on 127.0.0.1 by default"
  ),
  Command.withExamples([
    { command: "session-store serve --database ./opencode.db", description: "On http://127.0.0.1:4096" },
    {
      command: "OPENCODE_SERVER_PASSWORD=pw session-store serve --database ./opencode.db --port 0",
      description: "Basic auth (user opencode), any free port"
    }
  ])
)
