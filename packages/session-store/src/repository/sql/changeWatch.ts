/**
 * How a SQLite repository learns of other processes' writes: `PRAGMA
 * data_version` polled, then the change record read. One concept, apart from
 * the repository that writes the change rows.
 */
import { Clock, Effect, PubSub, Stream } from "effect"
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as { code?: string }).code === "EPERM"
  }
}

/**
 * A change row that names no session: a commit that changed none (a watcher coming or going), so that
 * other watchers, seeing a row of another writer, do not take it for a write that keeps no rows.
 */
const noSessionChanged = (sql: SqlClient, writer: string) =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    // The writers' clock, as their own change rows have it: the prune compares these times with theirs.
    (time) => sql`INSERT INTO session_store_change (session_id, writer, time_created) VALUES ('', ${writer}, ${time})`
  )

/** Adds `writer` to the watchers, and removes the rows of watchers whose process is gone (a crash leaves them). */
const register = (sql: SqlClient, writer: string) =>
  sql.withTransaction(Effect.gen(function*() {
    for (const row of yield* sql<{ writer: string; pid: number }>`SELECT writer, pid FROM session_store_watcher`) {
      if (!alive(Number(row.pid))) yield* sql`DELETE FROM session_store_watcher WHERE writer = ${row.writer}`
    }
    yield* sql`INSERT INTO session_store_watcher (writer, pid, time_created) VALUES (${writer}, ${process.pid}, ${yield* Clock.currentTimeMillis})
      ON CONFLICT (writer) DO UPDATE SET pid = excluded.pid, time_created = excluded.time_created`
    yield* noSessionChanged(sql, writer)
  }))

const unregister = (sql: SqlClient, writer: string) =>
  sql.withTransaction(Effect.andThen(
    sql`DELETE FROM session_store_watcher WHERE writer = ${writer}`,
    noSessionChanged(sql, writer)
  ))

/**
 * The change watch (SQLite): every `interval`, the repository connection's
 * `PRAGMA data_version`, which moves when, and only when, another connection
 * committed (this process's own commits leave it alone); when it moved, the
 * change rows after the last one seen, by other writers, published to every
 * subscriber of the returned stream. A commit with no change row of another
 * writer (opencode itself keeps none) publishes "all". The polling fiber
 * lives in the scope. While no one else writes, a poll is that one PRAGMA.
 *
 * With `watch`, the change rows are read on the watch's own connection, so
 * the read never queues behind this process's writes, and the repository
 * connection's `data_version` is read without waiting for it.
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
    const othersVersion = watch?.mainDataVersion ??
      Effect.map(sql.unsafe<Record<string, unknown>>("PRAGMA data_version"), (rows) => Number(Object.values(rows[0] ?? {})[0]))
    const lastSeq = () =>
      Effect.map(
        reader<{ seq: number | null }>`SELECT max(seq) AS seq FROM session_store_change`,
        (rows) => Number(rows[0]?.seq ?? 0)
      )
    // Registered first, before anything is loaded: from the next write of any other repository on, its
    // change rows are kept (transactions.ts). Rows of processes that died are removed on the way.
    yield* Effect.acquireRelease(
      orRepositoryError("watch")(register(sql, writer)),
      () => Effect.ignore(unregister(sql, writer))
    )
    let version = yield* orRepositoryError("watch")(othersVersion)
    let seen = yield* orRepositoryError("watch")(lastSeq())

    const readChanges = (current: number): Effect.Effect<void, SqlError> => Effect.gen(function*() {
      version = current
      const result = yield* reader.withTransaction(Effect.gen(function*() {
        const [bounds] = yield* reader<{ low: number | null }>`SELECT min(seq) AS low FROM session_store_change`
        const rows = yield* reader<{ seq: number; session_id: string; writer: string }>`SELECT seq, session_id, writer
          FROM session_store_change WHERE seq > ${seen} ORDER BY seq`
        return { low: bounds?.low === null || bounds?.low === undefined ? undefined : Number(bounds.low), rows }
      })).pipe(Effect.provideService(BeginTransaction, "BEGIN DEFERRED"))
      const fellBehind = result.low !== undefined && result.low > seen + 1 && seen > 0
      const ids = new Set<SessionId>()
      let rowsOfOthers = 0
      for (const row of result.rows) {
        seen = Math.max(seen, Number(row.seq))
        if (row.writer === writer) continue
        rowsOfOthers++
        if (row.session_id !== "") ids.add(row.session_id as SessionId)
      }
      if (fellBehind) return yield* PubSub.publish(pubsub, "all")
      // Someone else committed: another store names its sessions (or none: a watcher came or went); a
      // writer that keeps no change rows (opencode) could have changed any.
      if (rowsOfOthers === 0) return yield* PubSub.publish(pubsub, "all")
      if (ids.size > 0) yield* PubSub.publish(pubsub, [...ids])
    })
    // A poll is one PRAGMA while nobody else writes: the change rows are read only once data_version moved.
    const poll = Effect.flatMap(othersVersion, (current) => current === version ? Effect.void : readChanges(current))

    // A plain sleep and poll, forever: it runs ten times a second for as long as the process lives, and a
    // Schedule's step per poll cost more than the poll.
    yield* Effect.sleep(interval).pipe(
      Effect.andThen(poll),
      Effect.catchCause((cause) => Effect.logWarning("session change watch failed", cause)),
      Effect.forever,
      Effect.forkScoped
    )
    // Subscribed when the effect runs, so nothing published after it is missed.
    return Effect.map(PubSub.subscribe(pubsub), Stream.fromSubscription)
  })
