import { Result, Schema, SchemaAST } from "effect"
import * as SchemaJITCompiler from "effect/schema/SchemaJITCompiler"
import { MessageWithParts } from "./Message.ts"
import { SessionInfo } from "./Session.ts"

// Loading a session checks every stored record against the domain schemas. With
// the interpreted schema parser that check cost as much as JSON.parse itself
// (about 4 ms per 2 MB of messages), which doubled a cold load. Effect's JIT
// compiler generates a checker for the very same schema (same checks, same
// verdicts; it falls back to the interpreter where code generation is not
// allowed), bringing the check down to a quarter of the parse. Only the
// type side of our own two schemas is compiled, so nothing else in the process
// changes behaviour.
//
// The domain values need no transformation (their encoded form is the value
// itself), so a type guard is a complete validation and the parsed JSON can
// be used as it is: fields this version does not know stay where they are.
SchemaJITCompiler.enable(SchemaAST.toType(MessageWithParts.ast))
SchemaJITCompiler.enable(SchemaAST.toType(SessionInfo.ast))

const isMessage = Schema.is(MessageWithParts)
const isSessionInfo = Schema.is(SessionInfo)
const explainMessage = Schema.decodeUnknownResult(MessageWithParts)
const explainSessionInfo = Schema.decodeUnknownResult(SessionInfo)

const explain = (result: Result.Result<unknown, Schema.SchemaError>): string =>
  Result.isFailure(result) ? result.failure.message.replaceAll("\n", " ") : "does not match the schema"

/**
 * Why `value` is not a stored message of `sessionId` (of any session when
 * undefined), or `undefined` when it is one.
 */
export const messageProblem = (value: unknown, sessionId: string | undefined): string | undefined => {
  if (!isMessage(value)) return `not a message: ${explain(explainMessage(value))}`
  if (sessionId !== undefined && value.info.sessionID !== sessionId) {
    return `message ${value.info.id} belongs to session ${value.info.sessionID}, not ${sessionId}`
  }
  return undefined
}

/** Why `value` is not the info of session `sessionId`, or `undefined` when it is. */
export const sessionInfoProblem = (value: unknown, sessionId: string | undefined): string | undefined => {
  if (!isSessionInfo(value)) return `not a session info record: ${explain(explainSessionInfo(value))}`
  if (sessionId !== undefined && value.id !== sessionId) {
    return `holds session ${value.id}, not ${sessionId}`
  }
  return undefined
}
