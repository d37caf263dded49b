/**
 * The SessionRepository on PostgreSQL: core's SQL repository (opencode's
 * `session`, `message` and `part` tables, created by its Migrator in
 * PostgreSQL types) on the `PgClient` in context, plus cross-node coherence.
 *
 * - Writes to one session are serialized across nodes by a transaction-scoped
 *   advisory lock on the session id (see core's sql/transactions.ts for why a lock
 *   and not versioned writes), so concurrent appends from several nodes all
 *   land, in one order every node reads.
 * - Every write notifies its session id on {@link PG_CHANGE_CHANNEL} inside
 *   its transaction (delivered on commit). Each repository keeps one
 *   connection LISTENing and reports other nodes' writes as `changes`; the
 *   store drops those sessions from memory. When the listening connection
 *   drops, it reconnects (with backoff) and, once LISTEN is confirmed again,
 *   reports `"all"`: whatever was notified in between is lost, so every
 *   resident session may be stale. A connection that dies without closing
 *   is found by a heartbeat (after 5 s of silence the node notifies itself;
 *   nothing heard within 2 s counts as a drop).
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import type { Notification } from "@effect/sql-pg/PgConnection"
import { Cause, type Config, Duration, Effect, Exit, Layer, Option, PubSub, Queue, Schedule, Scope, Stream } from "effect"
import { SqlClient as SqlClientService } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { IncompatibleSchema, RepositoryError } from "@session-store/core/Errors"
import type { SessionId } from "@session-store/core/Ids"
import { SessionRepository, type SessionChanges, type SessionRepositoryShape } from "@session-store/core/SessionRepository"
import { makeSqlRepository, PG_CHANGE_CHANNEL, toRepositoryError } from "@session-store/core/SqlRepository"
import * as PostgresClient from "./PostgresClient.ts"

/**
 * Options of the PostgreSQL repository.
 *
 * @example
 * ```ts
 * const options: PostgresRepositoryOptions = { reconnectMaxDelayMs: 2_000 }
 * ```
 */
export interface PostgresRepositoryOptions {
  /** The first delay before reconnecting the listener after a drop; doubles up to the max. Default 50 ms. */
  readonly reconnectDelayMs?: number | undefined
  /** The longest delay between reconnection attempts. Default 5,000 ms. */
  readonly reconnectMaxDelayMs?: number | undefined
  /** After this long without a notification, the listener checks it still hears (see `drain`). Default 5,000 ms. */
  readonly heartbeatMs?: number | undefined
  /** How long a heartbeat may take to come back before the listener counts as dropped. Default 2,000 ms. */
  readonly heartbeatTimeoutMs?: number | undefined
  /** How long one attempt to LISTEN may take (at build, and on each reconnection). Default 10,000 ms. */
  readonly listenTimeoutMs?: number | undefined
}

/** The writer id in this node's notifications, to tell its own writes from others'. */
const newWriterId = () => `${process.pid}-${Math.random().toString(36).slice(2, 10)}`

/**
 * The listener: LISTEN on one pooled connection, publish others' session ids,
 * and on a drop reconnect and publish `"all"`. The first LISTEN is confirmed
 * before this returns, so every write committed after the layer is built is
 * seen.
 */
const listenForChanges = (
  pg: PgClient.PgClient,
  writer: string,
  options: PostgresRepositoryOptions
) =>
  Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<SessionChanges>(), PubSub.shutdown)
    const prefix = `${writer}\t`

    /** LISTEN on a connection of its own, held until `scope` closes. */
    const connect = (scope: Scope.Scope) => Scope.provide(pg.listen(PG_CHANGE_CHANNEL), scope)

    const heartbeatMs = options.heartbeatMs ?? 5_000
    const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 2_000
    const listenTimeoutMs = options.listenTimeoutMs ?? 10_000

    /**
     * Publishes the ids of others' writes, a batch at a time, until the
     * connection fails. A connection that dies quietly (a network partition,
     * no FIN or RST) would wait forever: after `heartbeatMs` without a
     * notification this node notifies itself through the pool, and a listener
     * that hears nothing, not even that, within `heartbeatTimeoutMs` counts as
     * dropped.
     */
    const drain = (queue: Queue.Dequeue<Notification, SqlError>) =>
      Effect.gen(function*() {
        while (true) {
          let batch = yield* Effect.timeoutOption(Queue.takeAll(queue), Duration.millis(heartbeatMs))
          if (Option.isNone(batch)) {
            // The notify is inside the timeout: on a partition it may hang as the listener does.
            batch = yield* Effect.timeoutOption(
              Effect.andThen(Effect.ignore(pg.notify(PG_CHANGE_CHANNEL, `${prefix}heartbeat`)), Queue.takeAll(queue)),
              Duration.millis(heartbeatTimeoutMs)
            )
            if (Option.isNone(batch)) return yield* Effect.fail(new Error(`no notification within ${heartbeatTimeoutMs} ms of a heartbeat`))
          }
          const ids = new Set<SessionId>()
          for (const { payload } of batch.value) {
            if (payload.startsWith(prefix)) continue
            ids.add(payload.slice(payload.indexOf("\t") + 1) as SessionId)
          }
          if (ids.size > 0) yield* PubSub.publish(pubsub, [...ids])
        }
      })

    // Each connection's scope is a child of the layer's: released with the layer, or closed when it failed.
    const layerScope = yield* Effect.scope
    const open = Effect.gen(function*() {
      const scope = yield* Scope.fork(layerScope)
      return yield* connect(scope).pipe(
        // On a partition LISTEN may hang as everything else does: an attempt that takes too long is retried.
        Effect.timeout(Duration.millis(listenTimeoutMs)),
        Effect.map((queue) => ({ queue, scope })),
        Effect.tapCause((cause) => Scope.close(scope, Exit.failCause(cause)))
      )
    })
    const initial = yield* open.pipe(Effect.mapError((error) => toRepositoryError(error, "listen")))

    const base = options.reconnectDelayMs ?? 50
    const max = options.reconnectMaxDelayMs ?? 5_000
    const reconnect = open.pipe(
      Effect.tapError((error) => Effect.logWarning(`session change listener: reconnecting failed (${String(error)})`)),
      Effect.retry(Schedule.min([Schedule.exponential(Duration.millis(base)), Schedule.spaced(Duration.millis(max))]))
    )

    const loop = Effect.gen(function*() {
      let current = initial
      while (true) {
        const exit = yield* Effect.exit(drain(current.queue))
        yield* Scope.close(current.scope, exit)
        // The queue shut down (its connection released: the layer is being released), not a drop.
        if (Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause)) return
        yield* Effect.logWarning(
          `session change listener dropped (${Exit.isFailure(exit) ? Cause.squash(exit.cause) : "ended"}); reconnecting`
        )
        current = yield* reconnect
        // Notifications sent while no connection listened are gone: anything may have changed.
        yield* PubSub.publish(pubsub, "all")
      }
    })
    yield* Effect.forkScoped(loop)
    // Subscribed when the effect runs, so nothing published after it is missed.
    return Effect.map(PubSub.subscribe(pubsub), Stream.fromSubscription)
  })

/**
 * Builds the repository on the `PgClient` in context: migrates, then starts
 * the listener in the current scope.
 *
 * @example
 * ```ts
 * const repo = yield* makePostgresRepository()
 * ```
 */
export const makePostgresRepository = (
  options: PostgresRepositoryOptions = {}
): Effect.Effect<SessionRepositoryShape, RepositoryError | IncompatibleSchema, PgClient.PgClient | Scope.Scope> =>
  Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const writerId = newWriterId()
    const repository = yield* makeSqlRepository({ writerId, changePollIntervalMs: 0 }).pipe(
      Effect.provideService(SqlClientService, pg)
    )
    const changes = yield* listenForChanges(pg, writerId, options)
    return { ...repository, changes }
  })

/**
 * The repository as a layer, on the `PgClient` in context.
 *
 * @example
 * ```ts
 * const RepositoryLive = PostgresRepository.layer().pipe(Layer.provide(PostgresClient.layer()))
 * ```
 */
export const layer = (
  options: PostgresRepositoryOptions = {}
): Layer.Layer<SessionRepository, RepositoryError | IncompatibleSchema, PgClient.PgClient> =>
  Layer.effect(SessionRepository, makePostgresRepository(options))

/**
 * The one layer to switch a store to PostgreSQL: the repository on a
 * `PgClient` connected from `Config` (`DATABASE_URL` or `PG*`).
 *
 * @example
 * ```ts
 * const StoreLive = SessionStore.layer.pipe(Layer.provide(PostgresRepository.layerConfig()))
 * ```
 */
export const layerConfig = (
  options: PostgresRepositoryOptions & PostgresClient.PostgresClientOptions = {}
): Layer.Layer<SessionRepository, RepositoryError | IncompatibleSchema | Config.ConfigError | SqlError> =>
  layer(options).pipe(Layer.provide(PostgresClient.layer(options)))
