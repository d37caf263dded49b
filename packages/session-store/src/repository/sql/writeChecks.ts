/**
 * What a write checks before and while it writes: a message names its
 * session and its own id in every part, once each (InvalidInput, a defect:
 * the caller's bug, never retried), and which storage refusals mean what.
 */
import { Effect } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import { InvalidInput } from "../../domain/Errors.ts"
import type { SessionId } from "../../domain/Ids.ts"
import type { MessageWithParts } from "../../domain/Message.ts"

/** Dies with InvalidInput: `what` is not a valid input, for `reason`. */
export const die = (what: string, reason: string) => Effect.die(new InvalidInput({ what, reason }))

/** A message row refused for its session_id: NULL (NOT NULL) or not a session's (a foreign key). */
export const isMissingSession = (error: SqlError) => {
  if (error.reason._tag !== "ConstraintError") return false
  const cause = error.reason.cause
  const message = cause instanceof Error ? cause.message : String(cause)
  return /session_id|foreign key/i.test(message)
}

/** Dies with InvalidInput unless the message and its parts name `sessionId` and the message, each part once. */
export const checkMessage = (sessionId: SessionId, message: MessageWithParts) => {
  if (message.info.sessionID !== sessionId) {
    return die("message", `info.sessionID ${message.info.sessionID} is not the session ${sessionId}`)
  }
  const seen = new Set<string>()
  for (const part of message.parts) {
    if (part.sessionID !== sessionId || part.messageID !== message.info.id) {
      return die("message", `part ${part.id} names another message or session`)
    }
    if (seen.has(part.id)) return die("message", `part id ${part.id} appears twice`)
    seen.add(part.id)
  }
  return Effect.void
}
