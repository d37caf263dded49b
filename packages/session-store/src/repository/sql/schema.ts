/**
 * The tables: opencode's `project`, `session`, `message` and `part`, created
 * with opencode's own DDL when missing, used as they are when present; and two
 * small tables of our own. Run by `effect/sql`'s Migrator, recorded in
 * `session_store_migrations` (ours; opencode's migrator keeps its own record).
 *
 * On an existing opencode.db, opencode's tables are never created, altered or
 * dropped: `CREATE TABLE IF NOT EXISTS` leaves a table that exists as it is,
 * and indexes with opencode's names are created only with the tables. What the
 * store needs of them is checked on every open ({@link checkColumns}); columns
 * of newer versions are tolerated (left to their defaults), a missing column
 * fails with IncompatibleSchema naming the table and the columns.
 */
import { Effect } from "effect"
import * as Migrator from "effect/sql/Migrator"
import { SqlClient } from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { IncompatibleSchema, type RepositoryError } from "../../domain/Errors.ts"
import { REQUIRED_COLUMNS } from "./rows.ts"
import { orRepositoryError, toRepositoryError } from "./sqlErrors.ts"

/** The Migrator's record of what ran, a table of ours. */
export const MIGRATIONS_TABLE = "session_store_migrations"

/** A column: its name, its kind (each dialect spells it in its type, {@link TYPES}) and the rest as SQL. */
type Column = readonly [name: string, kind: keyof typeof TYPES["sqlite"], rest: string]

/** One of opencode's tables: its columns, the column that references another table's `id`, its indexes. */
interface Table {
  readonly name: string
  readonly columns: ReadonlyArray<Column>
  readonly references?: { readonly column: string; readonly table: string }
  readonly indexes: ReadonlyArray<readonly [name: string, columns: ReadonlyArray<string>]>
}

// SQLite's are opencode's own types. On PostgreSQL, `data` and the JSON columns are `json`, not `jsonb`:
// `json` keeps the text as written (key order, no added spaces), so what is read back is what was
// written and the byte sizes the store accounts are the stored ones; jsonb would reorder keys and
// reformat. Times and token counts outgrow PostgreSQL's 32-bit `integer`.
const TYPES = {
  sqlite: { text: "text", json: "text", integer: "integer", bigint: "integer", real: "real" },
  pg: { text: "text", json: "json", integer: "integer", bigint: "bigint", real: "double precision" }
} as const

/** Columns written `name kind rest…`, separated by commas. */
const columns = (list: string): ReadonlyArray<Column> =>
  list.split(",").map((column) => {
    const [name, kind, ...rest] = column.trim().split(/\s+/)
    return [name!, kind as Column[1], rest.join(" ")]
  })

const TIMES = "time_created bigint NOT NULL, time_updated bigint NOT NULL"

// opencode's four tables as its migrator leaves them (sqlite_master of an opencode.db from the
// @opencode-ai/sdk 1.19 era), column for column and index for index.
const OPENCODE_TABLES: ReadonlyArray<Table> = [
  {
    name: "project",
    columns: columns(`id text PRIMARY KEY, worktree text NOT NULL, vcs text, name text, icon_url text,
      icon_url_override text, icon_color text, ${TIMES}, time_initialized bigint, sandboxes json NOT NULL,
      commands json`),
    indexes: []
  },
  {
    name: "session",
    columns: columns(`id text PRIMARY KEY, project_id text NOT NULL, workspace_id text, parent_id text,
      slug text NOT NULL, directory text NOT NULL, path text, title text NOT NULL, version text NOT NULL,
      share_url text, summary_additions integer, summary_deletions integer, summary_files integer,
      summary_diffs json, metadata json, cost real DEFAULT 0 NOT NULL, tokens_input bigint DEFAULT 0 NOT NULL,
      tokens_output bigint DEFAULT 0 NOT NULL, tokens_reasoning bigint DEFAULT 0 NOT NULL,
      tokens_cache_read bigint DEFAULT 0 NOT NULL, tokens_cache_write bigint DEFAULT 0 NOT NULL, revert json,
      permission json, agent text, model json, ${TIMES}, time_compacting bigint, time_archived bigint`),
    references: { column: "project_id", table: "project" },
    indexes: [
      ["session_project_idx", ["project_id"]],
      ["session_workspace_idx", ["workspace_id"]],
      ["session_parent_idx", ["parent_id"]]
    ]
  },
  {
    name: "message",
    columns: columns(`id text PRIMARY KEY, session_id text NOT NULL, ${TIMES}, data json NOT NULL`),
    references: { column: "session_id", table: "session" },
    indexes: [["message_session_time_created_id_idx", ["session_id", "time_created", "id"]]]
  },
  {
    name: "part",
    columns: columns(`id text PRIMARY KEY, message_id text NOT NULL, session_id text NOT NULL, ${TIMES},
      data json NOT NULL`),
    references: { column: "message_id", table: "message" },
    indexes: [["part_message_id_id_idx", ["message_id", "id"]], ["part_session_idx", ["session_id"]]]
  }
]

/**
 * The DDL of `table` in `dialect`: `CREATE TABLE IF NOT EXISTS` (so that a table opencode created
 * already is left alone) and its indexes. On SQLite it is opencode's text, quotes and layout included.
 */
const ddl = (table: Table, dialect: keyof typeof TYPES): readonly [create: string, indexes: ReadonlyArray<string>] => {
  const q = dialect === "sqlite" ? "`" : "\""
  const name = (identifier: string) => `${q}${identifier}${q}`
  const lines = table.columns.map(([column, kind, rest]) =>
    `${name(column)} ${TYPES[dialect][kind]}${rest === "" ? "" : ` ${rest}`}`
  )
  const ref = table.references
  if (ref !== undefined) {
    lines.push(
      `CONSTRAINT ${name(`fk_${table.name}_${ref.column}_${ref.table}_id_fk`)} FOREIGN KEY (${name(ref.column)}) ` +
        `REFERENCES ${name(ref.table)}(${name("id")}) ON DELETE CASCADE`
    )
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${name(table.name)} (\n\t${lines.join(",\n\t")}\n)`,
    table.indexes.map(([index, columns]) =>
      `CREATE INDEX IF NOT EXISTS ${name(index)} ON ${name(table.name)} (${columns.map(name).join(",")})`
    )
  ]
}

/** The columns `table` has, or `undefined` when there is no such table. */
export const tableColumns = (table: string): Effect.Effect<ReadonlySet<string> | undefined, SqlError, SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient
    const rows = yield* sql.onDialectOrElse({
      pg: () =>
        sql<{ name: string }>`SELECT column_name AS name FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name = ${table}`,
      orElse: () => sql<{ name: string }>`SELECT name FROM pragma_table_info(${table})`
    })
    return rows.length === 0 ? undefined : new Set(rows.map((row) => row.name))
  })

/** Migration 1: opencode's tables, each created only where it does not exist (with its indexes). */
const opencodeTables = Effect.gen(function*() {
  const sql = yield* SqlClient
  const dialect = sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })
  for (const table of OPENCODE_TABLES) {
    if ((yield* tableColumns(table.name)) !== undefined) continue
    const [create, indexes] = ddl(table, dialect)
    yield* sql.unsafe(create).unprepared
    for (const index of indexes) yield* sql.unsafe(index).unprepared
  }
})

/**
 * Migration 2: our own tables.
 *
 * - `session_store_session`: per session, what of its SessionInfo has no column in `session` (see rows.ts).
 * - `session_store_change`: one row per committed write (the session it changed, the writer's id), so
 *   another process can tell which sessions changed since it last looked. Rows older than a minute are
 *   pruned by the writers.
 */
const ownTables = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql.onDialectOrElse({
    pg: () =>
      Effect.andThen(
        sql`CREATE TABLE IF NOT EXISTS session_store_session (
          session_id text PRIMARY KEY REFERENCES "session"("id") ON DELETE CASCADE,
          extra json NOT NULL
        )`,
        sql`CREATE TABLE IF NOT EXISTS session_store_change (
          seq bigserial PRIMARY KEY, session_id text NOT NULL, writer text NOT NULL, time_created bigint NOT NULL
        )`
      ),
    orElse: () =>
      Effect.andThen(
        sql`CREATE TABLE IF NOT EXISTS session_store_session (
          session_id text PRIMARY KEY REFERENCES session(id) ON DELETE CASCADE,
          extra text NOT NULL
        )`,
        sql`CREATE TABLE IF NOT EXISTS session_store_change (
          seq integer PRIMARY KEY AUTOINCREMENT, session_id text NOT NULL, writer text NOT NULL,
          time_created integer NOT NULL
        )`
      )
  })
  yield* sql`CREATE INDEX IF NOT EXISTS session_store_change_time_idx ON session_store_change (time_created)`
})

/**
 * Migration 3 (SQLite): the change record without what every write paid for and nothing needed:
 * AUTOINCREMENT (a write of `sqlite_sequence` per commit) and the index on `time_created` (a page per
 * commit, for a prune once a second, which now walks from the oldest row instead). `seq` still only
 * grows: each write inserts its row before it prunes, and a prune deletes only rows before the first
 * recent one, so the row with the highest `seq` is never deleted and no `seq` (highest + 1) is given
 * twice. The rows are copied with their `seq`, so a watcher's place in the record survives the change.
 */
const leanChangeRecord = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql.onDialectOrElse({
    pg: () => Effect.void,
    orElse: () =>
      Effect.gen(function*() {
        yield* sql`CREATE TABLE session_store_change_lean (
          seq integer PRIMARY KEY, session_id text NOT NULL, writer text NOT NULL, time_created integer NOT NULL
        )`
        yield* sql`INSERT INTO session_store_change_lean (seq, session_id, writer, time_created)
          SELECT seq, session_id, writer, time_created FROM session_store_change`
        yield* sql`DROP TABLE session_store_change`
        yield* sql`ALTER TABLE session_store_change_lean RENAME TO session_store_change`
      })
  })
})

/**
 * Migration 4 (SQLite): who watches for changes. A repository whose change watch runs keeps a row here
 * while it runs (changeWatch.ts); a write records its change row only while a writer other than itself
 * watches (transactions.ts), so a database that one process uses pays nothing for the change record.
 */
const watcherRegistry = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql.onDialectOrElse({
    pg: () => Effect.void,
    orElse: () =>
      sql`CREATE TABLE IF NOT EXISTS session_store_watcher (
        writer text PRIMARY KEY, pid integer NOT NULL, time_created integer NOT NULL
      )`
  })
})

/**
 * Fails with IncompatibleSchema when a table the store uses lacks a column it
 * needs (with `onlyExisting`, tables that do not exist yet are skipped);
 * returns the columns of `session` (newer columns are used when there).
 */
export const checkColumns = (
  options: { readonly onlyExisting: boolean }
): Effect.Effect<ReadonlySet<string>, IncompatibleSchema | SqlError, SqlClient> =>
  Effect.gen(function*() {
    let sessionColumns: ReadonlySet<string> = new Set()
    for (const [table, required] of Object.entries(REQUIRED_COLUMNS)) {
      const found = yield* tableColumns(table)
      if (found === undefined && options.onlyExisting) continue
      const columns = found ?? new Set<string>()
      const missing = required.filter((column) => !columns.has(column))
      if (missing.length > 0) return yield* new IncompatibleSchema({ table, missingColumns: missing })
      if (table === "session") sessionColumns = columns
    }
    return sessionColumns
  })

/**
 * The window and paging queries need an index on message (session_id,
 * time_created, id). opencode's databases have had it since early 2026; an
 * older one gets an index of ours (an index is not a change to the table:
 * opencode's migrations neither see nor trip over it).
 */
const ensureWindowIndex = Effect.gen(function*() {
  const sql = yield* SqlClient
  yield* sql.onDialectOrElse({
    sqlite: () =>
      Effect.gen(function*() {
        const indexes = yield* sql<{ name: string }>`SELECT name FROM pragma_index_list('message')`
        for (const { name } of indexes) {
          const columns = yield* sql<{ name: string }>`SELECT name FROM pragma_index_info(${name}) ORDER BY seqno`
          if (columns.map((c) => c.name).join(",") === "session_id,time_created,id") return
        }
        yield* sql`CREATE INDEX IF NOT EXISTS session_store_message_window_idx ON message (session_id, time_created, id)`
      }),
    orElse: () =>
      sql`CREATE INDEX IF NOT EXISTS session_store_message_window_idx ON message (session_id, time_created, id)`
  })
})

const migrate = Migrator.make({})

/**
 * Brings the database to what the store needs: runs the migrations not run
 * yet, then checks the columns (every open: opencode may have migrated the
 * file since). Returns the columns of `session`.
 */
export const prepareSchema: Effect.Effect<ReadonlySet<string>, RepositoryError | IncompatibleSchema, SqlClient> = Effect
  .gen(function*() {
    // An existing database that cannot be used is left untouched: checked before anything is created.
    yield* orRepositoryError("open")(checkColumns({ onlyExisting: true }))
    yield* migrate({
      table: MIGRATIONS_TABLE,
      loader: Migrator.fromRecord({
        "1_opencode_tables": opencodeTables,
        "2_session_store_tables": ownTables,
        "3_lean_change_record": leanChangeRecord,
        "4_watcher_registry": watcherRegistry
      })
    }).pipe(
      Effect.mapError((error) => error._tag === "MigrationError" ? toRepositoryError(error, "migrate") : error),
      orRepositoryError("migrate")
    )
    const columns = yield* orRepositoryError("open")(checkColumns({ onlyExisting: false }))
    yield* orRepositoryError("open")(ensureWindowIndex)
    return columns
  })
