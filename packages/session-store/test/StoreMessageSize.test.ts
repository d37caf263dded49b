/**
 * The store refuses a message over `maxMessageBytes` without encoding it when
 * a cheap bound clears it. The bound must never be below the exact size, or an
 * oversized message would get through: checked here against
 * `JSON.stringify` over arbitrary values, strings of every kind of UTF-16
 * unit (control characters, quotes, non-ASCII, lone surrogates) and the
 * longest number forms.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fc from "fast-check"
import { encodeRecord } from "../src/domain/records.ts"
import { jsonBytesAtMost, messageBytesOver } from "../src/store/messageSize.ts"

const exact = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? "", "utf8")

const unit = fc.oneof(
  fc.constantFrom("\u0000", "\u001f", "\"", "\\", "\n", "\u2028", "\ud800", "\udfff", "😀", "é", "漢", "a"),
  fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))
)
const text = fc.string({ unit, maxLength: 40 })
const number = fc.oneof(
  fc.double(),
  fc.constantFrom(-0.0000012345678901234567, -1.7976931348623157e308, 5e-324, -123456789012345680000, NaN, -Infinity)
)
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: "small" },
    text,
    number,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(tie("any"), { maxLength: 6 }),
    fc.dictionary(text, tie("any"), { maxKeys: 6 })
  )
})).any

describe("message size bound", () => {
  it("is never below the UTF-8 bytes of the JSON", () => {
    fc.assert(
      fc.property(value, (v) => {
        const bound = jsonBytesAtMost(v, Number.MAX_SAFE_INTEGER)
        assert.isAtLeast(bound, exact(v))
      }),
      { numRuns: 2_000 }
    )
  })

  it("gives up (Infinity) past the limit and on what it cannot walk", () => {
    assert.strictEqual(jsonBytesAtMost("x".repeat(100), 50), Infinity)
    assert.strictEqual(jsonBytesAtMost({ at: new Date(0) }, 1_000), Infinity)
    assert.strictEqual(jsonBytesAtMost([new Number(1e300)], 1_000), Infinity)
    const cyclic: Record<string, unknown> = {}
    cyclic["self"] = cyclic
    assert.strictEqual(jsonBytesAtMost(cyclic, Number.MAX_SAFE_INTEGER), Infinity)
  })

  it("refuses exactly what is over the limit, measured as the repositories measure", () => {
    fc.assert(
      fc.property(fc.dictionary(text, value, { maxKeys: 8 }), fc.nat(2_000), (record, max) => {
        const message = { info: record, parts: [] } as never
        const bytes = encodeRecord(message).bytes
        assert.strictEqual(messageBytesOver(message, max), bytes > max ? bytes : undefined)
      }),
      { numRuns: 2_000 }
    )
  })
})
