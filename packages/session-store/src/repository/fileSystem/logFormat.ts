import type { MessageId } from "../../domain/Ids.ts"
import type { MessageWithParts } from "../../domain/Message.ts"
import type { SessionInfo } from "../../domain/Session.ts"
import { encodeRecord } from "../../domain/records.ts"
import { messageProblem, sessionInfoProblem } from "../../domain/validation.ts"

/**
 * The message log of a session (`messages.jsonl`): one record per line, UTF-8,
 * each line ending with `\n`, appended and never edited in place.
 *
 * - `{"put":<message>}` stores a message. A put of an id already in the log
 *   replaces that message in place (it keeps its position); a put of a new id,
 *   or of an id removed earlier, goes to the end.
 * - `{"remove":"<message id>"}` removes a message (a tombstone).
 * - A line ending with the byte 0x1E (ASCII record separator) is a torn record
 *   sealed off: a crash cut a write short, leaving an incomplete last line, and
 *   the next append closed it before writing its own record. JSON text never
 *   contains a raw 0x1E, so the seal cannot be mistaken for a record.
 *
 * Bytes after the last `\n` are a torn tail: never acknowledged, ignored on
 * read, left in place.
 */
const PUT_PREFIX = Buffer.from("{\"put\":", "utf8")
const NEWLINE = 0x0a
const SEAL = 0x1e

/** The line storing a message whose JSON is `json` (as from encodeRecord). */
export const putLine = (json: string): string => `{"put":${json}}\n`

/** The line removing message `id`. */
export const removeLine = (id: string): string => `{"remove":${JSON.stringify(id)}}\n`

/** Written before a record when the log ends in a torn tail: closes that tail as a sealed line. */
export const SEAL_TORN_TAIL = "\x1e\n"

/** Where a live message's latest put is in the log. */
export interface LogEntry {
  /** Byte offset of the line. */
  readonly offset: number
  /** Bytes of the line without its newline. */
  readonly length: number
  /** Bytes of the message record, as `encodeRecord(message).bytes`. */
  readonly bytes: number
  /** The decoded message, while a scan keeps it. */
  message: MessageWithParts | undefined
}

/** A problem found in a log, with its 1-based line number. */
export interface LogProblem {
  readonly line: number
  readonly problem: string
}

/** What a log holds. */
export interface LogScan {
  /** Live messages in message order. */
  readonly entries: Map<MessageId, LogEntry>
  /** Bytes of the file. */
  readonly size: number
  /** Bytes after the last newline: a torn record, ignored. */
  readonly tornBytes: number
  /** Lines that do not decode; a log with problems is not to be trusted or rewritten. */
  readonly problems: ReadonlyArray<LogProblem>
}

/** Bytes of the lines of live messages, newlines included. */
export const liveLineBytes = (entries: Map<MessageId, LogEntry>): number => {
  let total = 0
  for (const entry of entries.values()) total += entry.length + 1
  return total
}

/** Bytes of the messages' records. */
export const messageBytes = (entries: Map<MessageId, LogEntry>): number => {
  let total = 0
  for (const entry of entries.values()) total += entry.bytes
  return total
}

const startsWithPut = (data: Uint8Array, start: number, end: number): boolean => {
  if (end - start < PUT_PREFIX.length + 1 || data[end - 1] !== 0x7d) return false
  for (let i = 0; i < PUT_PREFIX.length; i++) if (data[start + i] !== PUT_PREFIX[i]) return false
  return true
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Replays a log of session `sessionId` (undefined: any session's messages
 * pass, when the owner is unknown). With `allProblems` false the scan stops at the first problem
 * (a repository refuses a corrupt log); with true it reports every one (for
 * verification). Decoded messages are kept on the entries when `keepMessages`.
 */
export const scanLog = (
  data: Buffer,
  sessionId: string | undefined,
  options: { readonly keepMessages: boolean; readonly allProblems: boolean }
): LogScan => {
  const entries = new Map<MessageId, LogEntry>()
  const problems: Array<LogProblem> = []
  const lastNewline = data.lastIndexOf(NEWLINE)
  const end = lastNewline + 1
  let start = 0
  let line = 0
  while (start < end) {
    const lineEnd = data.indexOf(NEWLINE, start)
    line++
    const offset = start
    start = lineEnd + 1
    if (lineEnd > offset && data[lineEnd - 1] === SEAL) continue
    const text = data.toString("utf8", offset, lineEnd)
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (error) {
      problems.push({ line, problem: `not valid JSON (${(error as Error).message})` })
      if (!options.allProblems) break
      continue
    }
    if (isRecord(value) && "put" in value) {
      const message = value["put"]
      const problem = messageProblem(message, sessionId)
      if (problem !== undefined) {
        problems.push({ line, problem })
        if (!options.allProblems) break
        continue
      }
      const decoded = message as MessageWithParts
      const length = lineEnd - offset
      const bytes = startsWithPut(data, offset, lineEnd)
        ? length - PUT_PREFIX.length - 1
        : encodeRecord(decoded).bytes
      const id = decoded.info.id
      const entry: LogEntry = { offset, length, bytes, message: options.keepMessages ? decoded : undefined }
      // Map.set keeps an existing key's position: a replaced message stays in place.
      entries.set(id, entry)
    } else if (isRecord(value) && typeof value["remove"] === "string") {
      entries.delete(value["remove"] as MessageId)
    } else {
      problems.push({ line, problem: "neither a put nor a remove record" })
      if (!options.allProblems) break
    }
  }
  return { entries, size: data.length, tornBytes: data.length - end, problems }
}

/** The decoded info record and its size, or why it is not one. */
export type InfoDecoding =
  | { readonly _tag: "Info"; readonly info: SessionInfo; readonly bytes: number }
  | { readonly _tag: "Problem"; readonly problem: string }

/**
 * Decodes the text of `info.json`. With `sessionId`, the record must be that
 * session's. The byte figure is the record's encoded size, as every repository
 * reports it, whatever whitespace a hand edit left in the file.
 */
export const decodeInfo = (text: string, sessionId: string | undefined): InfoDecoding => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    return { _tag: "Problem", problem: `not valid JSON (${(error as Error).message})` }
  }
  const problem = sessionInfoProblem(value, sessionId)
  if (problem !== undefined) return { _tag: "Problem", problem }
  const info = value as SessionInfo
  return { _tag: "Info", info, bytes: encodeRecord(info).bytes }
}

/**
 * The cached counts of a log, valid only while the log's fingerprint (size,
 * inode, modification time) is what it was when they were taken.
 */
export interface LogSummary {
  readonly fingerprint: string
  readonly messageCount: number
  readonly messageBytes: number
}

/** Decodes `summary.json`; anything unexpected means "no summary". */
export const decodeSummary = (text: string): LogSummary | undefined => {
  try {
    const value: unknown = JSON.parse(text)
    if (
      isRecord(value) && typeof value["fingerprint"] === "string" &&
      Number.isSafeInteger(value["messageCount"]) && Number.isSafeInteger(value["messageBytes"])
    ) {
      return value as unknown as LogSummary
    }
  } catch {
    // a summary is only a cache: a damaged one is ignored and recomputed
  }
  return undefined
}
