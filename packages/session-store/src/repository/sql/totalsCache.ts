/**
 * Session totals (message count, message bytes) kept in memory by a SQLite
 * repository, so that a load does not sum every row of the session each
 * time (those sums visit all of a session's rows: for a long session they
 * cost more than reading its newest window).
 *
 * Why the figures stay right when others write the file: an entry is only
 * trusted while the `PRAGMA data_version` of the repository's connection is
 * the one it was read under. That number moves when, and only when, another
 * connection (opencode itself, another store, any process) committed; the
 * repository's own commits leave it alone and adjust their session's entry
 * instead. Every transaction that uses the cache reads it first (inside the
 * transaction, so it is the version of the snapshot being read) and drops
 * every entry when it moved: after a write by anyone else, each session's
 * totals are summed again from the rows on its next load.
 *
 * A write's adjustment is made inside its transaction, while it holds the
 * connection, and marked pending until the transaction is known to have
 * committed: a load that finds a pending entry (the commit's outcome not
 * known yet to the writer) sums the rows instead and replaces it. A write
 * that failed drops its session's entry.
 */
import { Effect } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"

/** A session's message count and the bytes of its messages (not its info). */
export interface Totals {
  readonly count: number
  readonly bytes: number
}

interface Entry extends Totals {
  /** The write whose adjustment this is, until it is known to have committed. */
  readonly pending: object | undefined
}

/** How many sessions' totals are kept at most (least recently used go first): a few numbers each. */
const CAPACITY = 10_000

/** The totals of a SQLite repository's sessions, valid for one `data_version` of its connection. */
export interface TotalsCache {
  /** Inside a transaction, first: drops every entry when another connection committed since the last check. */
  readonly check: Effect.Effect<void, SqlError>
  /** {@link check} with the connection's `data_version` at hand (a write transaction reads it first). */
  readonly observe: (version: number) => void
  /** Whether the session has an entry (pending or not, maybe stale until {@link check}). */
  readonly has: (sessionId: string) => boolean
  /** The session's totals, unless unknown or pending. */
  readonly get: (sessionId: string) => Totals | undefined
  /** Totals just summed from the rows, inside the transaction that read them. */
  readonly set: (sessionId: string, totals: Totals) => void
  /**
   * A write's change to a known entry, made inside its transaction (after {@link check}); returns the
   * token to {@link settle} with once it committed. An entry still pending is dropped instead.
   */
  readonly adjust: (sessionId: string, count: number, bytes: number) => object | undefined
  /** The write of `token` committed: its adjustment is the truth. */
  readonly settle: (sessionId: string, token: object | undefined) => void
  /** Forgets the session's totals (a write that cannot tell its change, or one that failed). */
  readonly drop: (sessionId: string) => void
}

/** A cache for the repository on `sql` (SQLite: `PRAGMA data_version` says when others committed). */
export const makeTotalsCache = (sql: SqlClient): TotalsCache => {
  const entries = new Map<string, Entry>()
  let version: number | undefined
  const put = (sessionId: string, entry: Entry) => {
    entries.delete(sessionId)
    entries.set(sessionId, entry)
    if (entries.size > CAPACITY) entries.delete(entries.keys().next().value!)
  }
  const versionStatement = sql.unsafe<Record<string, unknown>>("PRAGMA data_version")
  const observe = (current: number) => {
    if (current !== version) {
      entries.clear()
      version = current
    }
  }
  return {
    check: Effect.map(versionStatement, (rows) => observe(Number(Object.values(rows[0] ?? {})[0]))),
    observe,
    has: (sessionId) => entries.has(sessionId),
    get: (sessionId) => {
      const entry = entries.get(sessionId)
      return entry === undefined || entry.pending !== undefined ? undefined : entry
    },
    set: (sessionId, totals) => put(sessionId, { count: totals.count, bytes: totals.bytes, pending: undefined }),
    adjust: (sessionId, count, bytes) => {
      const entry = entries.get(sessionId)
      if (entry === undefined) return undefined
      if (entry.pending !== undefined) {
        entries.delete(sessionId)
        return undefined
      }
      const token = {}
      put(sessionId, { count: entry.count + count, bytes: entry.bytes + bytes, pending: token })
      return token
    },
    settle: (sessionId, token) => {
      const entry = entries.get(sessionId)
      if (token !== undefined && entry?.pending === token) entries.set(sessionId, { ...entry, pending: undefined })
    },
    drop: (sessionId) => {
      entries.delete(sessionId)
    }
  }
}
