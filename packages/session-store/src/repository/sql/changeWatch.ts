/**
 * How a SQLite repository learns of other processes' writes: `PRAGMA
 * data_version` polled, then the change record read. One concept, apart from
 * the repository that writes the change rows.
 */
import { Effect, PubSub, Schedule, Stream } from "effect"
import { BeginTransaction, type SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import type { SessionId } from "../../domain/Ids.ts"
import type { SessionChanges } from "../port.ts"
import { orRepositoryError } from "./sqlErrors.ts"

/**
 * A connection of its own for the change watch, and the `data_version` of the
 * repository's connection (see `SqlRepositoryOptions.watch`).
 *
 * @example
 * ```ts
 * const watch: WatchConnection = { sql: readOnlyClient, mainDataVersion: Effect.succeed(1) }
 * ```
 */
export interface WatchConnection {
  readonly sql: SqlClient
  readonly mainDataVersion: Effect.Effect<number, SqlError>
}

/**
 * The change watch (SQLite): every `interval`, `PRAGMA data_version` (it
 * moves when another connection committed); when it moved, the change rows
 * after the last one seen, by other writers, published to every subscriber of
 * the returned stream. A commit with no change row of another writer (opencode
 * itself keeps none) publishes "all". The polling fiber lives in the scope.
 *
 * With `watch`, the queries run on the watch's own connection, so they never
 * queue behind this process's writes. That connection also sees this
 * process's commits move its `data_version`; when it moved with no change row
 * of another writer, the repository connection's `data_version` (which only
 * moves on commits of others) tells whether someone else (opencode) wrote.
 */
export const watchChanges = (
  sql: SqlClient,
  writer: string,
  interval: number,
  watch: WatchConnection | undefined
) =>
  Effect.gen(function*() {
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<SessionChanges>(), PubSub.shutdown)
    const reader = watch?.sql ?? sql
    const dataVersion = (client: SqlClient) =>
      Effect.map(client.unsafe<Record<string, unknown>>("PRAGMA data_version"), (rows) => Number(Object.values(rows[0] ?? {})[0]))
    const lastSeq = () =>
      Effect.map(
        reader<{ seq: number | null }>`SELECT max(seq) AS seq FROM session_store_change`,
        (rows) => Number(rows[0]?.seq ?? 0)
      )
    let version = yield* orRepositoryError("watch")(dataVersion(reader))
    let mainVersion = watch === undefined ? version : yield* orRepositoryError("watch")(watch.mainDataVersion)
    let othersSinceMainCheck = false
    let seen = yield* orRepositoryError("watch")(lastSeq())

    const poll = Effect.gen(function*() {
      const current = yield* dataVersion(reader)
      if (current === version) return
      version = current
      const result = yield* reader.withTransaction(Effect.gen(function*() {
        const [bounds] = yield* reader<{ low: number | null }>`SELECT min(seq) AS low FROM session_store_change`
        const rows = yield* reader<{ seq: number; session_id: string; writer: string }>`SELECT seq, session_id, writer
          FROM session_store_change WHERE seq > ${seen} ORDER BY seq`
        return { low: bounds?.low === null || bounds?.low === undefined ? undefined : Number(bounds.low), rows }
      })).pipe(Effect.provideService(BeginTransaction, "BEGIN DEFERRED"))
      const fellBehind = result.low !== undefined && result.low > seen + 1 && seen > 0
      const ids = new Set<SessionId>()
      for (const row of result.rows) {
        seen = Math.max(seen, Number(row.seq))
        if (row.writer !== writer) ids.add(row.session_id as SessionId)
      }
      if (fellBehind) return yield* PubSub.publish(pubsub, "all")
      if (ids.size > 0) {
        othersSinceMainCheck = true
        return yield* PubSub.publish(pubsub, [...ids])
      }
      // No change row of another store: a writer that keeps none (opencode), or (on the watch's own
      // connection) only this process's commits.
      if (watch === undefined) return yield* PubSub.publish(pubsub, "all")
      const main = yield* watch.mainDataVersion
      const othersCommitted = main !== mainVersion && !othersSinceMainCheck
      mainVersion = main
      othersSinceMainCheck = false
      if (othersCommitted) yield* PubSub.publish(pubsub, "all")
    })

    yield* poll.pipe(
      Effect.catchCause((cause) => Effect.logWarning("session change watch failed", cause)),
      Effect.repeat(Schedule.spaced(interval)),
      Effect.forkScoped
    )
    // Subscribed when the effect runs, so nothing published after it is missed.
    return Effect.map(PubSub.subscribe(pubsub), Stream.fromSubscription)
  })
