/**
 * A message read from its rows decodes on its first read, once, to what the
 * rows hold (ids from the columns first), and a row that is not a JSON object
 * throws CorruptRecord naming the message, on every read.
 */
import { assert, describe, it } from "@effect/vitest"
import { CorruptRecord } from "../src/domain/Errors.ts"
import type { MessageId, SessionId } from "../src/domain/Ids.ts"
import { RowMessage } from "../src/repository/sql/rowMessage.ts"

const sid = "ses_1" as SessionId
const mid = "msg_1" as MessageId

describe("RowMessage", () => {
  it("decodes the rows on the first read, ids first, then hands out that same value", () => {
    const stored = new RowMessage(sid, mid, "{\"role\":\"user\",\"time\":{\"created\":1}}", [
      { id: "prt_1", data: "{\"type\":\"text\",\"text\":\"a\"}" },
      { id: "prt_2", data: "{\"type\":\"text\",\"text\":\"b\"}" }
    ], 123)
    assert.strictEqual(stored.id, mid)
    assert.strictEqual(stored.bytes, 123)
    const first = stored.message
    assert.strictEqual(
      JSON.stringify(first),
      JSON.stringify({
        info: { id: mid, sessionID: sid, role: "user", time: { created: 1 } },
        parts: [
          { id: "prt_1", sessionID: sid, messageID: mid, type: "text", text: "a" },
          { id: "prt_2", sessionID: sid, messageID: mid, type: "text", text: "b" }
        ]
      })
    )
    assert.strictEqual(stored.message, first, "decoded once")
  })

  it("a row that is not the JSON text of an object: CorruptRecord naming the message, on every read", () => {
    for (const [data, part] of [["{\"role\":", "{}"], ["{}", "[1]"], ["null", "{}"]] as const) {
      const stored = new RowMessage(sid, mid, data, [{ id: "prt_1", data: part }], 10)
      for (let read = 0; read < 2; read++) {
        let caught: unknown
        try {
          void stored.message
        } catch (error) {
          caught = error
        }
        assert.instanceOf(caught, CorruptRecord, `${data} / ${part}`)
        assert.strictEqual((caught as CorruptRecord).file, `message ${mid}`)
      }
    }
  })
})
