/**
 * Messages, modelled on opencode's wire format (`Message` = `UserMessage |
 * AssistantMessage`, and `Part`, in `@opencode-ai/sdk`). A stored message is its
 * info plus its parts, as opencode keeps them together. Fields this version
 * does not know are kept through a decode/encode round trip.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { MessageWithParts } from "@session-store/core/Message"
 *
 * const message = Schema.decodeUnknownSync(MessageWithParts)({
 *   info: { id: "msg_1", sessionID: "ses_1", role: "user", time: { created: 1 } },
 *   parts: [{ id: "prt_1", sessionID: "ses_1", messageID: "msg_1", type: "text", text: "hi" }]
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { MessageId, SessionId } from "./Ids.ts"
import { Rest } from "./Session.ts"

const MessageTime = Schema.StructWithRest(
  Schema.Struct({ created: Schema.Finite, completed: Schema.optionalKey(Schema.Finite) }),
  [Rest]
)

/**
 * A message written by the user.
 *
 * @example
 * ```ts
 * const user: UserMessage = { id: "msg_1", sessionID: "ses_1", role: "user", time: { created: 1 } } as UserMessage
 * ```
 */
export const UserMessage = Schema.StructWithRest(
  Schema.Struct({
    id: MessageId,
    sessionID: SessionId,
    role: Schema.Literal("user"),
    time: MessageTime
  }),
  [Rest]
)
export type UserMessage = typeof UserMessage.Type

/**
 * A message produced by the assistant (model id, cost, tokens and the rest are
 * kept as they come).
 *
 * @example
 * ```ts
 * const isDone = (m: AssistantMessage) => m.time.completed !== undefined
 * ```
 */
export const AssistantMessage = Schema.StructWithRest(
  Schema.Struct({
    id: MessageId,
    sessionID: SessionId,
    role: Schema.Literal("assistant"),
    time: MessageTime
  }),
  [Rest]
)
export type AssistantMessage = typeof AssistantMessage.Type

/**
 * The info of a message, told apart by `role`.
 *
 * @example
 * ```ts
 * const who = (m: MessageInfo) => m.role
 * ```
 */
export const MessageInfo = Schema.Union([UserMessage, AssistantMessage])
export type MessageInfo = typeof MessageInfo.Type

/**
 * One part of a message: text, a tool call with its output, a file, a step…
 * told apart by `type`; the fields of each kind are kept as they come.
 *
 * @example
 * ```ts
 * const text = (p: Part) => (p.type === "text" ? String(p["text"]) : "")
 * ```
 */
export const Part = Schema.StructWithRest(
  Schema.Struct({
    id: Schema.String,
    sessionID: SessionId,
    messageID: MessageId,
    type: Schema.String
  }),
  [Rest]
)
export type Part = typeof Part.Type

/**
 * A message as the store keeps it: its info and its parts.
 *
 * @example
 * ```ts
 * const id = (m: MessageWithParts) => m.info.id
 * ```
 */
export const MessageWithParts = Schema.Struct({
  info: MessageInfo,
  parts: Schema.Array(Part)
})
export type MessageWithParts = typeof MessageWithParts.Type
