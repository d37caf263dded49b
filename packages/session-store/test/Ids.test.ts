import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { decodeMessageId, decodeSessionId, MAX_ID_LENGTH } from "../src/domain/Ids.ts"

describe("Ids", () => {
  it.effect("accepts opencode-style ids", () =>
    Effect.gen(function*() {
      expect(yield* decodeSessionId("ses_01J9ZK3Q8W")).toBe("ses_01J9ZK3Q8W")
      expect(yield* decodeMessageId("msg_01J9ZK3Q8W")).toBe("msg_01J9ZK3Q8W")
      expect(yield* decodeSessionId("a".repeat(MAX_ID_LENGTH))).toHaveLength(MAX_ID_LENGTH)
    }))

  const hostile: ReadonlyArray<[unknown, string]> = [
    ["", "is empty"],
    ["a".repeat(MAX_ID_LENGTH + 1), "is longer than 128 characters"],
    [".", "is a relative directory name"],
    ["..", "is a relative directory name"],
    ["../../etc/passwd", "contains a path separator"],
    ["a\\b", "contains a path separator"],
    ["a\u0000b", "contains the control character U+0000"],
    ["line\nbreak", "contains the control character U+000a"],
    [42, "is a number, not a string"]
  ]
  for (const [input, reason] of hostile) {
    it.effect(`rejects ${JSON.stringify(input)} with InvalidId naming the problem`, () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(decodeSessionId(input))
        expect(exit).toStrictEqual(Exit.fail(expect.anything()))
        const error = yield* Effect.flip(decodeSessionId(input))
        expect(error._tag).toBe("InvalidId")
        expect(error.kind).toBe("SessionId")
        expect(error.reason).toBe(reason)
        expect(error.message).toContain(reason)
      }))
  }
})
