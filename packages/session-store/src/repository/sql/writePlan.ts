/**
 * A write of the SQL repository as a plan: a generator that yields the
 * statements it runs, one at a time, and is given the rows of each. The plan
 * is written once; a driver per dialect runs it:
 *
 * - on SQLite, {@link runPlanSync} runs it synchronously inside one
 *   `BEGIN IMMEDIATE … COMMIT` on the held connection (`Sqlite.transactionSync`):
 *   the connection is SQLite's one writer anyway, and a statement of a few
 *   microseconds then costs what `node:sqlite` charges, not the fiber, span
 *   and connection hand-off that an `effect/sql` statement pays each time
 *   (measured: ~12 µs a statement and ~37 µs a transaction, several times the
 *   statements an append runs);
 * - elsewhere (PostgreSQL), {@link runPlan} yields each statement as an
 *   `effect/sql` effect, inside the caller's `sql.withTransaction`.
 *
 * A statement that fails is thrown into the plan at its `yield`, as the
 * `SqlError`, so the plan can catch what it expects (a missing session, a
 * taken id) and let the rest fail the write. A plan ends with its result or
 * with {@link PlanFailure} (an expected, typed failure: the transaction is
 * rolled back and the error is the write's); anything else it throws is a
 * defect.
 */
import { Effect } from "effect"
import { SqlError } from "effect/sql/SqlError"
import type { SqlClient } from "effect/sql/SqlClient"
import type { Statement } from "effect/sql/Statement"
import type { SyncConnection } from "./SqliteClient.ts"

/**
 * A write: yields statements, receives their rows, returns `A` or a {@link PlanFailure} of `E`.
 *
 * @example
 * ```ts
 * const touch = function*(id: string): WritePlan<void, never> {
 *   yield* query(sql`UPDATE session SET time_updated = ${Date.now()} WHERE id = ${id}`)
 * }
 * ```
 */
export type WritePlan<A, E> = Generator<Step, A | PlanFailure<E>, unknown>

/** What a plan yields: a statement whose rows it wants, or one whose count of changed rows it wants. */
export type Step = Statement<unknown> | Execute | Fixed

/**
 * A statement of fixed text, built once per call site and dialect by {@link makeFixed}: the hot
 * statements of a write skip `effect/sql`'s compile (a Statement per call, its SQL text concatenated
 * and hashed again for the prepared-statement cache: about a fifth of a resident replace's own
 * JavaScript, measured), and the driver gets the same text, so its cache lookup is one hash hit.
 *
 * @example
 * ```ts
 * const fixed = makeFixed("sqlite")
 * const rows = yield* query(fixed`SELECT id FROM session WHERE id = ${id}`)
 * ```
 */
export class Fixed {
  readonly text: string
  readonly params: ReadonlyArray<unknown>
  /** Run for its count of changed rows (see {@link execute}) rather than its rows. */
  readonly counted: boolean
  constructor(text: string, params: ReadonlyArray<unknown>, counted: boolean) {
    this.text = text
    this.params = params
    this.counted = counted
  }
}

/**
 * The tag of {@link Fixed} statements for `dialect`: every `${value}` is a bound parameter (`?` on
 * SQLite, `$1`, `$2`, … on PostgreSQL); the text is built the first time a call site runs.
 *
 * @example
 * ```ts
 * const fixed = makeFixed("pg")
 * fixed`UPDATE message SET data = ${data} WHERE id = ${id}`.text // "UPDATE message SET data = $1 WHERE id = $2"
 * ```
 */
export const makeFixed = (dialect: "sqlite" | "pg") => {
  const texts = new WeakMap<TemplateStringsArray, string>()
  return (strings: TemplateStringsArray, ...params: ReadonlyArray<unknown>): Fixed => {
    let text = texts.get(strings)
    if (text === undefined) {
      text = strings.reduce((sql, part, i) => i === 0 ? part : `${sql}${dialect === "pg" ? `$${i}` : "?"}${part}`, "")
      texts.set(strings, text)
    }
    return new Fixed(text, params, false)
  }
}

/**
 * A statement run for the number of rows it changed, not for rows: no `RETURNING` to buffer and no
 * row objects to build (on SQLite a `RETURNING` costs an upsert of a few parts about a third more).
 *
 * @example
 * ```ts
 * const changed = yield* execute(sql`UPDATE session SET title = ${title} WHERE id = ${id}`)
 * ```
 */
export class Execute {
  readonly statement: Statement<unknown>
  constructor(statement: Statement<unknown>) {
    this.statement = statement
  }
}

/**
 * An expected failure a plan ends with: the write rolls back and fails with `error`.
 *
 * @example
 * ```ts
 * if (rows.length === 0) return new PlanFailure(new SessionNotFound({ sessionId }))
 * ```
 */
export class PlanFailure<E> {
  readonly error: E
  constructor(error: E) {
    this.error = error
  }
}

/**
 * Runs `statement` in a plan: `yield*` it to get its rows, typed.
 *
 * @example
 * ```ts
 * const rows = yield* query(sql<{ id: string }>`SELECT id FROM session WHERE id = ${id}`)
 * ```
 */
export const query = function*<T>(statement: Statement<T> | Fixed): Generator<Step, ReadonlyArray<T>, unknown> {
  return (yield statement as Statement<unknown> | Fixed) as ReadonlyArray<T>
}

/**
 * Runs `statement` in a plan for the number of rows it changed (inserted, updated or deleted).
 *
 * @example
 * ```ts
 * const inserted = yield* execute(sql`INSERT INTO t (id) VALUES (${id}) ON CONFLICT (id) DO NOTHING`)
 * ```
 */
export const execute = function*(statement: Statement<unknown> | Fixed): Generator<Step, number, unknown> {
  return (yield statement instanceof Fixed ? new Fixed(statement.text, statement.params, true) : new Execute(statement)) as number
}

/** The number of changed rows in a driver's raw result: `changes` (node:sqlite), `rowCount` (PostgreSQL). */
const changedRows = (result: unknown): number => {
  const value = result as { changes?: unknown; rowCount?: unknown } | null
  return Number(value?.changes ?? value?.rowCount ?? 0)
}

/** What a plan's run came to: its value, or its expected failure. */
export type PlanOutcome<A, E> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: E }

const outcome = <A, E>(result: A | PlanFailure<E>): PlanOutcome<A, E> =>
  result instanceof PlanFailure ? { ok: false, error: result.error } : { ok: true, value: result }

/**
 * Runs `plan` synchronously on `connection` (a statement's SQL and parameters
 * to its rows or its count of changed rows; it throws the statement's `SqlError`). For `Sqlite.transactionSync`:
 * an expected failure is returned as an outcome, so the caller rolls back
 * without taking it for a defect; an uncaught `SqlError` or defect is thrown.
 *
 * @example
 * ```ts
 * const outcome = yield* sqlite.transactionSync((connection) => runPlanSync(plan, connection))
 * ```
 */
export const runPlanSync = <A, E>(plan: WritePlan<A, E>, connection: SyncConnection): PlanOutcome<A, E> => {
  let step = plan.next()
  while (!step.done) {
    const value = step.value
    let counted: boolean
    let sql: string
    let params: ReadonlyArray<unknown>
    if (value instanceof Fixed) {
      counted = value.counted
      sql = value.text
      params = value.params
    } else {
      counted = value instanceof Execute
      ;[sql, params] = (counted ? (value as Execute).statement : value as Statement<unknown>).compile()
    }
    let result: unknown
    try {
      result = counted ? connection.changes(sql, params) : connection.rows(sql, params)
    } catch (error) {
      step = plan.throw(error)
      continue
    }
    step = plan.next(result)
  }
  return outcome(step.value)
}

/**
 * Runs `plan` as effects: each statement through `effect/sql`, its failure
 * thrown into the plan. The caller provides the transaction.
 *
 * @example
 * ```ts
 * const program = sql.withTransaction(Effect.flatMap(runPlan(sql, plan), (o) => o.ok ? Effect.succeed(o.value) : Effect.fail(o.error)))
 * ```
 */
export const runPlan = <A, E>(sql: SqlClient, plan: WritePlan<A, E>): Effect.Effect<PlanOutcome<A, E>, SqlError> => {
  const resume = (advance: () => IteratorResult<Step, A | PlanFailure<E>>): Effect.Effect<
    PlanOutcome<A, E>,
    SqlError
  > => {
    let step: IteratorResult<Step, A | PlanFailure<E>>
    try {
      step = advance()
    } catch (error) {
      return error instanceof SqlError ? Effect.fail(error) : Effect.die(error)
    }
    if (step.done) return Effect.succeed(outcome(step.value))
    const value = step.value
    const run: Effect.Effect<unknown, SqlError> = value instanceof Fixed
      ? (value.counted ? Effect.map(sql.unsafe(value.text, value.params).raw, changedRows) : sql.unsafe(value.text, value.params))
      : value instanceof Execute
      ? Effect.map(value.statement.raw, changedRows)
      : value
    return Effect.matchEffect(run, {
      onFailure: (error) => resume(() => plan.throw(error)),
      onSuccess: (rows) => resume(() => plan.next(rows))
    })
  }
  return Effect.suspend(() => resume(() => plan.next()))
}
