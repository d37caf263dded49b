import type { MessageWithParts } from "./Message.ts"
import type { SessionInfo } from "./Session.ts"

/**
 * The stored form of a record and its size. Every repository measures with
 * this, so the byte figures the store accounts are the same whatever the
 * storage. Domain values need no schema encoding: their encoded form is the
 * value itself (brands exist only in types).
 */
export interface EncodedRecord {
  readonly json: string
  readonly bytes: number
}

export const encodeRecord = (value: SessionInfo | MessageWithParts): EncodedRecord => {
  const json = JSON.stringify(value)
  return { json, bytes: Buffer.byteLength(json, "utf8") }
}
