/**
 * New identifiers in opencode's format: a prefix (`ses`, `msg`, `prt`), an
 * underscore, 12 hex digits of time (milliseconds times 4096 plus a counter,
 * so ids made in one millisecond still sort), and 14 random base-62
 * characters. Session ids are descending (the time bits inverted: the newest
 * sorts first, as opencode lists them), message and part ids ascending (the
 * order they were written).
 *
 * @example
 * ```ts
 * const ids = makeIds()
 * ids.session(Date.now()) // "ses_f3a9..."
 * ids.message(Date.now()) // "msg_0c56..."
 * ```
 *
 * @since 0.1.0
 */
import { randomBytes } from "node:crypto"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
const mask48 = (1n << 48n) - 1n

const random62 = (length: number): string => {
  const bytes = randomBytes(length)
  let out = ""
  for (let i = 0; i < length; i++) out += base62[bytes[i]! % 62]
  return out
}

/**
 * A generator of ids; its counter keeps ids of one millisecond apart and in order.
 *
 * @example
 * ```ts
 * const ids = makeIds()
 * ids.part(0) < ids.part(0) // true
 * ```
 */
export const makeIds = () => {
  let last = -1
  let counter = 0
  const make = (prefix: string, descending: boolean, now: number) => {
    if (now !== last) {
      last = now
      counter = 0
    }
    counter++
    let bits = (BigInt(now) * 4096n + BigInt(counter)) & mask48
    if (descending) bits = ~bits & mask48
    return `${prefix}_${bits.toString(16).padStart(12, "0")}${random62(14)}`
  }
  return {
    session: (now: number) => make("ses", true, now),
    message: (now: number) => make("msg", false, now),
    part: (now: number) => make("prt", false, now)
  }
}
