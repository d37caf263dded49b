/**
 * Fixed-text statements (writePlan.ts): each `${value}` becomes the dialect's
 * placeholder in order, the text of a call site is built once, and a plan
 * that runs one for its count of changed rows asks the connection for that.
 */
import { assert, describe, it } from "@effect/vitest"
import { execute, Fixed, makeFixed, query, runPlanSync, type WritePlan } from "../src/repository/sql/writePlan.ts"

describe("makeFixed", () => {
  it("numbers PostgreSQL's placeholders in order and uses ? on SQLite", () => {
    const pg = makeFixed("pg")
    const sqlite = makeFixed("sqlite")
    const at = (fixed: ReturnType<typeof makeFixed>, data: string, id: string) =>
      fixed`UPDATE message SET data = ${data}, time_updated = ${1} WHERE id = ${id}`
    assert.strictEqual(at(pg, "d", "m").text, "UPDATE message SET data = $1, time_updated = $2 WHERE id = $3")
    assert.strictEqual(at(sqlite, "d", "m").text, "UPDATE message SET data = ?, time_updated = ? WHERE id = ?")
    assert.deepStrictEqual(at(pg, "d", "m").params, ["d", 1, "m"])
  })

  it("builds a call site's text once: later calls bind new values to the same string", () => {
    const fixed = makeFixed("sqlite")
    const probe = (id: string) => fixed`SELECT session_id FROM message WHERE id = ${id}`
    const first = probe("a")
    const second = probe("b")
    assert.strictEqual(first.text, second.text)
    assert.deepStrictEqual([first.params, second.params], [["a"], ["b"]])
    // Another call site with the same shape is another text, built on its own.
    assert.strictEqual(fixed`SELECT ${1}`.text, "SELECT ?")
  })
})

describe("runPlanSync with fixed statements", () => {
  it("runs a query for its rows and an execute for its count of changed rows", () => {
    const fixed = makeFixed("sqlite")
    const calls: Array<string> = []
    const plan = function*(): WritePlan<number, never> {
      const rows = yield* query<{ n: number }>(fixed`SELECT ${7} AS n`)
      const changed = yield* execute(fixed`DELETE FROM part WHERE message_id = ${"m"}`)
      return rows[0]!.n + changed
    }
    const outcome = runPlanSync(plan(), {
      rows: (sql, params) => {
        calls.push(`rows ${sql} ${JSON.stringify(params)}`)
        return [{ n: 7 }]
      },
      changes: (sql, params) => {
        calls.push(`changes ${sql} ${JSON.stringify(params)}`)
        return 3
      }
    })
    assert.deepStrictEqual(outcome, { ok: true, value: 10 })
    assert.deepStrictEqual(calls, [
      "rows SELECT ? AS n [7]",
      "changes DELETE FROM part WHERE message_id = ? [\"m\"]"
    ])
    assert.instanceOf(fixed`SELECT 1`, Fixed)
  })
})
