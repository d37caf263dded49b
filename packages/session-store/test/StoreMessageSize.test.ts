/**
 * The store refuses a message over `maxMessageBytes` without encoding it when
 * a cheap bound clears it. The bound must never be below the exact size, or an
 * oversized message would get through: checked here against
 * `JSON.stringify` over arbitrary values, strings of every kind of UTF-16
 * unit (control characters, quotes, non-ASCII, lone surrogates) and the
 * longest number forms.
 */
import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Schema } from "effect"
import { encodeRecord } from "../src/domain/records.ts"
import { jsonBytesAtMost, messageBytesOver } from "../src/store/messageSize.ts"
import { constantFrom, dictionary, integer, nat, oneof, string } from "./support/arbitraries.ts"

const exact = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? "", "utf8")

const unit = oneof(
  {
    weight: 1,
    arbitrary: constantFrom("\u0000", "\u001f", "\"", "\\", "\n", "\u2028", "\ud800", "\udfff", "😀", "é", "漢", "a")
  },
  { weight: 1, arbitrary: Arbitrary.map(integer(0, 0xffff), (code) => String.fromCharCode(code)) }
)
const text = string(unit, 40)
const number = oneof(
  { weight: 1, arbitrary: Arbitrary.schema(Schema.Number) },
  {
    weight: 1,
    arbitrary: constantFrom(
      -0.0000012345678901234567,
      -1.7976931348623157e308,
      5e-324,
      -123456789012345680000,
      NaN,
      -Infinity
    )
  }
)
const leaf = (arbitrary: Arbitrary.Arbitrary<unknown>) => ({ weight: 1, arbitrary })
const leaves = [
  leaf(text),
  leaf(number),
  leaf(Arbitrary.schema(Schema.Boolean)),
  leaf(Arbitrary.Constant(null)),
  leaf(Arbitrary.Constant(undefined))
]
/** Any JSON-ish value, nested at most `depth` arrays or objects deep. */
const valueAt = (depth: number): Arbitrary.Arbitrary<unknown> =>
  depth === 0 ? oneof(...leaves) : oneof(
    ...leaves,
    leaf(Arbitrary.array(valueAt(depth - 1), { maxLength: 6 })),
    leaf(dictionary(text, valueAt(depth - 1), 6))
  )
const value = valueAt(3)

describe("message size bound", () => {
  it.prop("is never below the UTF-8 bytes of the JSON", [value], ([v]) => {
    const bound = jsonBytesAtMost(v, Number.MAX_SAFE_INTEGER)
    assert.isAtLeast(bound, exact(v))
  }, { arbitrary: { runs: 2_000 } })

  it("gives up (Infinity) past the limit and on what it cannot walk", () => {
    assert.strictEqual(jsonBytesAtMost("x".repeat(100), 50), Infinity)
    assert.strictEqual(jsonBytesAtMost({ at: new Date(0) }, 1_000), Infinity)
    assert.strictEqual(jsonBytesAtMost([new Number(1e300)], 1_000), Infinity)
    const cyclic: Record<string, unknown> = {}
    cyclic["self"] = cyclic
    assert.strictEqual(jsonBytesAtMost(cyclic, Number.MAX_SAFE_INTEGER), Infinity)
  })

  it.prop(
    "refuses exactly what is over the limit, measured as the repositories measure",
    [dictionary(text, value, 8), nat(2_000)],
    ([record, max]) => {
      const message = { info: record, parts: [] } as never
      const bytes = encodeRecord(message).bytes
      assert.strictEqual(messageBytesOver(message, max), bytes > max ? bytes : undefined)
    },
    { arbitrary: { runs: 2_000 } }
  )
})
