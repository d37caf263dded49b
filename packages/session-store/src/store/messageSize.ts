import { encodeRecord } from "../domain/records.ts"

// The longest JSON form of a finite number, "-0.0000012345678901234567" (a
// non-finite one is "null").
const NUMBER = 25
// Deeper than any message; a cycle (which JSON.stringify refuses) ends here too.
const DEPTH = 64

/**
 * An upper bound of the UTF-8 bytes of `JSON.stringify(value)`, or Infinity
 * once it passes `limit`, or where a walk cannot bound it (anything but plain
 * objects, arrays and primitives: `toJSON`, boxed primitives, class
 * instances; a bigint; too deep). One UTF-16 unit of a string or key is at
 * most 6 bytes (`\u001f`, a lone surrogate), a number at most `NUMBER`; the
 * punctuation is counted as if every value were written.
 *
 * @example
 * ```ts
 * jsonBytesAtMost({ a: "é" }, 1000) >= Buffer.byteLength(JSON.stringify({ a: "é" })) // true
 * ```
 */
export const jsonBytesAtMost = (value: unknown, limit: number): number => {
  const bytes = bound(value, DEPTH, limit)
  return bytes > limit ? Infinity : bytes
}

const bound = (value: unknown, depth: number, left: number): number => {
  switch (typeof value) {
    case "string":
      return 2 + 6 * value.length
    case "number":
      return NUMBER
    case "boolean":
      return 5
    case "undefined":
    case "function":
    case "symbol":
      // "null" in an array, nothing in an object.
      return 4
    case "object": {
      if (value === null) return 4
      if (depth === 0) return Infinity
      if (Array.isArray(value)) {
        let total = 2
        for (let i = 0; i < value.length; i++) {
          total += 1 + bound(value[i], depth - 1, left - total)
          if (total > left) return Infinity
        }
        return total
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return Infinity
      if (typeof (value as { readonly toJSON?: unknown }).toJSON === "function") return Infinity
      let total = 2
      const record = value as Record<string, unknown>
      for (const key of Object.keys(record)) {
        // "key":value,
        total += 4 + 6 * key.length + bound(record[key], depth - 1, left - total)
        if (total > left) return Infinity
      }
      return total
    }
    default:
      // bigint: JSON.stringify throws; the exact encoding will say so.
      return Infinity
  }
}

/**
 * The size of a message when it is over `maxBytes` (by the repositories' own
 * measure, `encodeRecord`), `undefined` when it fits. The repository encodes
 * every message it writes, so encoding it here as well would double the
 * largest cost of a write; a message is encoded here only when the bound
 * cannot clear it (at the default 8 MiB limit, one with over a megabyte of
 * text).
 *
 * @example
 * ```ts
 * const over = messageBytesOver(message, options.maxMessageBytes)
 * if (over !== undefined) return yield* new InvalidInput({ what: "message", reason: `${over} bytes` })
 * ```
 */
export const messageBytesOver = (message: Parameters<typeof encodeRecord>[0], maxBytes: number): number | undefined => {
  if (jsonBytesAtMost(message, maxBytes) <= maxBytes) return undefined
  const bytes = encodeRecord(message).bytes
  return bytes > maxBytes ? bytes : undefined
}
