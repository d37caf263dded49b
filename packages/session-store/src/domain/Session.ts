/**
 * Session info, modelled on opencode's wire format (`Session` in
 * `@opencode-ai/sdk`). Only the fields the store relies on are required; every
 * other field, known or not, is kept through a decode/encode round trip so a
 * newer opencode's data survives this version.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { SessionInfo } from "@session-store/core/Session"
 *
 * const info = Schema.decodeUnknownSync(SessionInfo)({
 *   id: "ses_1", projectID: "p", directory: "/repo", title: "Fix the build", version: "1.0.0",
 *   time: { created: 1700000000000, updated: 1700000000000 },
 *   futureField: { kept: true }
 * })
 * ```
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { SessionId } from "./Ids.ts"

/** Unknown fields of an object, kept as they are. */
export const Rest = Schema.Record(Schema.String, Schema.Unknown)

/**
 * Timestamps of a session, in epoch milliseconds.
 *
 * @example
 * ```ts
 * const time: SessionTime = { created: 1, updated: 2 }
 * ```
 */
export const SessionTime = Schema.StructWithRest(
  Schema.Struct({
    created: Schema.Finite,
    updated: Schema.Finite,
    compacting: Schema.optionalKey(Schema.Finite)
  }),
  [Rest]
)
export type SessionTime = typeof SessionTime.Type

/**
 * The info record of one session.
 *
 * @example
 * ```ts
 * const title = (info: SessionInfo) => info.title
 * ```
 */
export const SessionInfo = Schema.StructWithRest(
  Schema.Struct({
    id: SessionId,
    projectID: Schema.String,
    directory: Schema.String,
    parentID: Schema.optionalKey(SessionId),
    title: Schema.String,
    version: Schema.String,
    time: SessionTime
  }),
  [Rest]
)
export type SessionInfo = typeof SessionInfo.Type

/**
 * What a listing says of a session without loading its messages.
 *
 * @example
 * ```ts
 * const line = (s: SessionSummary) => `${s.id} ${s.title} ${s.messageCount} ${s.bytes}`
 * ```
 */
export interface SessionSummary {
  readonly id: SessionId
  readonly title: string
  readonly updated: number
  readonly messageCount: number
  /** Bytes of the session's stored records (info plus messages). */
  readonly bytes: number
}
