import { Effect } from "effect"
import { MessageNotFound, SessionAlreadyExists, SessionNotFound } from "../domain/Errors.ts"
import type { MessageId, SessionId } from "../domain/Ids.ts"
import type { MessageWithParts } from "../domain/Message.ts"
import type { SessionInfo, SessionSummary } from "../domain/Session.ts"
import type { SessionRepositoryShape, StoredMessage } from "./port.ts"
import { type EncodedRecord, encodeRecord } from "../domain/records.ts"

interface StoredSession {
  info: EncodedRecord
  // A Map keeps first-insertion order and keeps a key's place when it is set again,
  // which is exactly the repository's message order.
  readonly messages: Map<MessageId, EncodedRecord>
}

const toStored = (record: EncodedRecord): StoredMessage => {
  const message = JSON.parse(record.json) as MessageWithParts
  return { id: message.info.id, message, bytes: record.bytes }
}

const messageBytes = (session: StoredSession): number => {
  let total = 0
  for (const record of session.messages.values()) total += record.bytes
  return total
}

/**
 * An in-memory repository. Records are kept as JSON text, so what a caller
 * holds is never what is stored, as with a real storage.
 */
export const makeMemoryRepository = (): SessionRepositoryShape => {
  const sessions = new Map<SessionId, StoredSession>()

  const find = (sessionId: SessionId) =>
    Effect.suspend(() => {
      const session = sessions.get(sessionId)
      return session === undefined ? Effect.fail(new SessionNotFound({ sessionId })) : Effect.succeed(session)
    })

  const olderThan = (session: StoredSession, sessionId: SessionId, before: MessageId | undefined) => {
    const records = [...session.messages.entries()]
    if (before === undefined) return Effect.succeed(records)
    const index = records.findIndex(([id]) => id === before)
    return index === -1
      ? Effect.fail(new MessageNotFound({ sessionId, messageId: before }))
      : Effect.succeed(records.slice(0, index))
  }

  return {
    createSession: (info: SessionInfo) =>
      Effect.suspend(() => {
        if (sessions.has(info.id)) return Effect.fail(new SessionAlreadyExists({ sessionId: info.id }))
        const record = encodeRecord(info)
        sessions.set(info.id, { info: record, messages: new Map() })
        return Effect.succeed({ bytes: record.bytes })
      }),
    updateSession: (info: SessionInfo) =>
      Effect.map(find(info.id), (session) => {
        session.info = encodeRecord(info)
        return { bytes: session.info.bytes }
      }),
    loadSession: (sessionId, { newest }) =>
      Effect.map(find(sessionId), (session) => {
        const records = [...session.messages.values()]
        const window = newest <= 0 ? [] : records.slice(-newest)
        return {
          info: JSON.parse(session.info.json) as SessionInfo,
          infoBytes: session.info.bytes,
          messages: window.map(toStored),
          messageCount: records.length,
          totalBytes: session.info.bytes + messageBytes(session)
        }
      }),
    putMessage: (sessionId, message) =>
      Effect.map(find(sessionId), (session) => {
        const record = encodeRecord(message)
        const appended = !session.messages.has(message.info.id)
        session.messages.set(message.info.id, record)
        return { bytes: record.bytes, appended }
      }),
    getMessage: (sessionId, messageId) =>
      Effect.flatMap(find(sessionId), (session) => {
        const record = session.messages.get(messageId)
        return record === undefined
          ? Effect.fail(new MessageNotFound({ sessionId, messageId }))
          : Effect.succeed(toStored(record))
      }),
    pageMessages: (sessionId, { before, limit }) =>
      find(sessionId).pipe(
        Effect.flatMap((session) => olderThan(session, sessionId, before)),
        Effect.map((records) => (limit <= 0 ? [] : records.slice(-limit).map(([, record]) => toStored(record))))
      ),
    removeMessage: (sessionId, messageId) =>
      Effect.flatMap(find(sessionId), (session) =>
        session.messages.delete(messageId)
          ? Effect.void
          : Effect.fail(new MessageNotFound({ sessionId, messageId }))),
    removeSession: (sessionId) =>
      Effect.suspend(() =>
        sessions.delete(sessionId) ? Effect.void : Effect.fail(new SessionNotFound({ sessionId }))
      ),
    listSessions: () =>
      Effect.sync(() => {
        const summaries: Array<SessionSummary> = []
        for (const [id, session] of sessions) {
          const info = JSON.parse(session.info.json) as SessionInfo
          summaries.push({
            id,
            title: info.title,
            updated: info.time.updated,
            messageCount: session.messages.size,
            bytes: session.info.bytes + messageBytes(session)
          })
        }
        return summaries.sort((a, b) => b.updated - a.updated)
      })
  }
}
