/**
 * Branded identifiers, validated at the boundary. An id is a key in every
 * repository and in logs and file names around it, so anything that could
 * escape a directory or break a name is rejected with {@link InvalidId}.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { decodeSessionId } from "@session-store/core/Ids"
 *
 * const ok = decodeSessionId("ses_01J9")        // Effect<SessionId>
 * const bad = decodeSessionId("../../etc")      // fails with InvalidId
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { InvalidId } from "./Errors.ts"

/** The longest id accepted, in UTF-16 code units. */
export const MAX_ID_LENGTH = 128

// Control characters (C0, DEL, C1) and both path separators.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f/\\]/

/**
 * Why `input` is not a usable id, or `undefined` when it is.
 *
 * @example
 * ```ts
 * idProblem("..") // "is a relative directory name"
 * idProblem("ses_1") // undefined
 * ```
 */
export const idProblem = (input: string): string | undefined => {
  if (input.length === 0) return "is empty"
  if (input.length > MAX_ID_LENGTH) return `is longer than ${MAX_ID_LENGTH} characters`
  if (input === "." || input === "..") return "is a relative directory name"
  const bad = FORBIDDEN.exec(input)
  if (bad !== null) {
    const ch = bad[0]
    return ch === "/" || ch === "\\"
      ? "contains a path separator"
      : `contains the control character U+${ch.charCodeAt(0).toString(16).padStart(4, "0")}`
  }
  return undefined
}

const IdString = Schema.String.check(
  Schema.makeFilter((s: string) => idProblem(s) ?? true, { title: "a safe identifier" })
)

/**
 * The id of a session (opencode writes them as `ses_…`).
 *
 * @example
 * ```ts
 * const id: SessionId = SessionId.make("ses_1")
 * ```
 */
export const SessionId = IdString.pipe(Schema.brand("SessionId"))
export type SessionId = typeof SessionId.Type

/**
 * The id of a message (opencode writes them as `msg_…`).
 *
 * @example
 * ```ts
 * const id: MessageId = MessageId.make("msg_1")
 * ```
 */
export const MessageId = IdString.pipe(Schema.brand("MessageId"))
export type MessageId = typeof MessageId.Type

const decodeId = <B>(kind: string) => (input: unknown): Effect.Effect<B, InvalidId> => {
  if (typeof input !== "string") {
    return Effect.fail(new InvalidId({ kind, id: String(input), reason: `is a ${typeof input}, not a string` }))
  }
  const problem = idProblem(input)
  return problem === undefined
    ? Effect.succeed(input as B)
    : Effect.fail(new InvalidId({ kind, id: input, reason: problem }))
}

/**
 * Validates untrusted input as a {@link SessionId}.
 *
 * @example
 * ```ts
 * decodeSessionId("a/b") // fails: InvalidId "contains a path separator"
 * ```
 */
export const decodeSessionId: (input: unknown) => Effect.Effect<SessionId, InvalidId> = decodeId("SessionId")

/**
 * Validates untrusted input as a {@link MessageId}.
 *
 * @example
 * ```ts
 * decodeMessageId("msg_1") // succeeds
 * ```
 */
export const decodeMessageId: (input: unknown) => Effect.Effect<MessageId, InvalidId> = decodeId("MessageId")
