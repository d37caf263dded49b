/**
 * The event stream of `GET /event`: what opencode's server sends its clients
 * about sessions and messages, as server-sent events whose `data` is
 * `{ type, properties }` (the SDK's `Event`):
 *
 * - `server.connected` first, then `server.heartbeat` every
 *   `heartbeatMs` (10 s, as opencode);
 * - `session.created` then `session.updated` `{ info }` on a create,
 *   `session.updated` `{ info }` on an update or a stored message,
 *   `session.deleted` `{ info }` for each deleted session (children first);
 * - `message.updated` `{ info }` and `message.part.updated` `{ part }` for a
 *   stored message, `message.removed` `{ sessionID, messageID }`.
 *
 * The handlers publish after storage acknowledged the write, so a client
 * never hears of a write that did not happen. Each event carries the whole
 * record; two writes to one session at the same moment may be heard in the
 * other order than storage applied them (they are published after the
 * session's lock is released), so a client that must be exact re-reads.
 *
 * **Bounded memory.** Each event is encoded once, and every client has its
 * own backlog of at most `backlog` events and `backlogBytes` bytes. A client
 * that reads slower than events come (one that stopped reading: its socket
 * buffers are full and the response waits for them to drain) reaches the
 * bound and is dropped: its response is interrupted and its connection
 * closed, and its backlog is freed. opencode's own server keeps an unbounded
 * queue per client there. At most `maxClients` are connected at once (503
 * beyond), so the event stream's memory is bounded by
 * `maxClients * backlogBytes` whatever the clients do. A dropped client reconnects like after any network
 * failure (the SDK retries) and reads the current state again.
 *
 * @example
 * ```ts
 * const events = yield* ServerEvents
 * yield* events.publish({ type: "session.updated", properties: { info } })
 * ```
 *
 * @since 0.1.0
 */
import { Context, Effect, type Fiber, Layer, Queue, Schedule, Stream } from "effect"
import { TooManyClients, tooManyClients } from "./errors.ts"

/** One event as opencode sends it. */
export interface ServerEvent {
  readonly type: string
  readonly properties: unknown
}

/** Limits of the event stream. */
export interface EventSettings {
  /** Events a client may have waiting before it is dropped (default 256). */
  readonly backlog: number
  /** Bytes a client may have waiting before it is dropped (default 1 MiB). */
  readonly backlogBytes: number
  /** Interval of `server.heartbeat` (default 10 s, as opencode). */
  readonly heartbeatMs: number
  /** Clients connected at once; one more is refused with 503 (default 128). */
  readonly maxClients: number
}

/** @example `layer({ ...eventDefaults, backlog: 16 })` */
export const eventDefaults: EventSettings = {
  backlog: 256,
  backlogBytes: 1024 * 1024,
  heartbeatMs: 10_000,
  maxClients: 128
}

/** What the event stream did since the server started. */
export interface EventStats {
  /** Clients connected now. */
  readonly clients: number
  /** Clients connected since the start. */
  readonly connected: number
  /** Clients dropped for reaching their backlog bound. */
  readonly dropped: number
  /** Events published. */
  readonly published: number
  /** Events and bytes waiting in all backlogs now. */
  readonly backlogEvents: number
  readonly backlogBytes: number
}

/** One connected client. */
interface Client {
  readonly queue: Queue.Queue<Uint8Array>
  /** The fiber writing its response, interrupted to drop it. */
  readonly fiber: Fiber.Fiber<unknown, unknown>
  bytes: number
}

/**
 * The events service: handlers publish, `GET /event` connects.
 */
export class ServerEvents extends Context.Service<ServerEvents, {
  /** Sends an event to every connected client; never blocks or fails. */
  readonly publish: (event: ServerEvent) => Effect.Effect<void>
  /**
   * Registers a client now (so it misses nothing published from here on)
   * and returns its stream of encoded SSE frames, `server.connected` first.
   * `fiber` is the fiber that writes the client's response: it is
   * interrupted if the client is dropped. The registration ends with the stream.
   * Fails with `TooManyClients` when `maxClients` are connected already.
   */
  readonly connect: (
    fiber: Fiber.Fiber<unknown, unknown>
  ) => Effect.Effect<Stream.Stream<Uint8Array>, TooManyClients>
  readonly stats: Effect.Effect<EventStats>
}>()("@session-store/cli/serve/ServerEvents") {}

const encoder = new TextEncoder()

/**
 * One SSE frame: `data: <json>` and a blank line.
 *
 * @example
 * ```ts
 * new TextDecoder().decode(frame({ type: "server.connected", properties: {} }))
 * // 'data: {"type":"server.connected","properties":{}}\n\n'
 * ```
 */
export const frame = (event: ServerEvent): Uint8Array =>
  encoder.encode(`data: ${JSON.stringify({ type: event.type, properties: event.properties })}\n\n`)

const connectedFrame = frame({ type: "server.connected", properties: {} })

/**
 * The service, with its heartbeat fiber in the layer's scope.
 *
 * @example
 * ```ts
 * layer()
 * layer({ ...eventDefaults, backlog: 16 })
 * ```
 */
export const layer = (settings: EventSettings = eventDefaults): Layer.Layer<ServerEvents> =>
  Layer.effect(
    ServerEvents,
    Effect.gen(function*() {
      const clients = new Set<Client>()
      let connected = 0
      let dropped = 0
      let published = 0

      const drop = (client: Client) => {
        if (!clients.delete(client)) return
        dropped++
        client.bytes = 0
        Queue.shutdownUnsafe(client.queue)
        client.fiber.interruptUnsafe()
      }

      const offer = (client: Client, bytes: Uint8Array) => {
        if (client.bytes + bytes.length > settings.backlogBytes || !Queue.offerUnsafe(client.queue, bytes)) {
          drop(client)
          return
        }
        client.bytes += bytes.length
      }

      const publishFrame = (bytes: Uint8Array) =>
        Effect.sync(() => {
          published++
          for (const client of Array.from(clients)) offer(client, bytes)
        })

      // Nobody listening: count it, encode nothing.
      const publish = (event: ServerEvent) =>
        Effect.suspend(() => clients.size === 0 ? Effect.sync(() => void published++) : publishFrame(frame(event)))

      const connect = (fiber: Fiber.Fiber<unknown, unknown>) =>
        Effect.gen(function*() {
          if (clients.size >= settings.maxClients) return yield* tooManyClients(settings.maxClients)
          const queue = yield* Queue.bounded<Uint8Array>(settings.backlog)
          const client: Client = { queue, fiber, bytes: 0 }
          clients.add(client)
          connected++
          offer(client, connectedFrame)
          return Stream.fromQueue(queue).pipe(
            Stream.map((bytes) => {
              client.bytes -= bytes.length
              return bytes
            }),
            Stream.ensuring(Effect.sync(() => {
              if (clients.delete(client)) Queue.shutdownUnsafe(queue)
            }))
          )
        })

      const stats = Effect.sync((): EventStats => {
        let backlogEvents = 0
        let backlogBytes = 0
        for (const client of clients) {
          backlogEvents += Queue.sizeUnsafe(client.queue)
          backlogBytes += client.bytes
        }
        return { clients: clients.size, connected, dropped, published, backlogEvents, backlogBytes }
      })

      yield* publish({ type: "server.heartbeat", properties: {} }).pipe(
        Effect.repeat(Schedule.spaced(settings.heartbeatMs)),
        Effect.delay(settings.heartbeatMs),
        Effect.forkScoped
      )
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          for (const client of clients) Queue.shutdownUnsafe(client.queue)
          clients.clear()
        })
      )

      return ServerEvents.of({ publish, connect, stats })
    })
  )
