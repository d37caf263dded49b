/**
 * Reads back, through a store, everything the ledger says was acknowledged
 * and compares it with the content regenerated from the seed.
 *
 * A session's info must read back as last acknowledged: as created, with the
 * acknowledged updates' `time.updated` and title applied.
 *
 * - `lost`: an acknowledged record (a session or a message) that does not read
 *   back, or cannot be read at all.
 * - `mismatched`: a record that reads back different from what was
 *   acknowledged, in the wrong order, or that should not be there (a message
 *   never acknowledged, a deleted session that still reads).
 */
import type { SessionStoreShape } from "@session-store/core/SessionStore"
import { Effect } from "effect"
import { isDeepStrictEqual } from "node:util"
import { type Content, messageIdOf } from "./content.ts"
import type { Ledger } from "./ledger.ts"

export interface Verification {
  readonly sessions: number
  /** Of those, sessions whose info was updated since it was created (checked as last updated). */
  readonly updatedSessions: number
  readonly messages: number
  readonly lost: number
  readonly mismatched: number
  /** The first few problems, for a human to start from. */
  readonly problems: ReadonlyArray<string>
}

const MAX_PROBLEMS = 20

export const verify = Effect.fnUntraced(function*(store: SessionStoreShape, ledger: Ledger, content: Content) {
  let lost = 0
  let mismatched = 0
  let messages = 0
  let updatedSessions = 0
  const problems: Array<string> = []
  const note = (problem: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(problem)
  }

  for (const [sessionId, expected] of ledger.sessions) {
    messages += expected.messageCount
    const info = yield* Effect.result(store.getSession(sessionId))
    if (info._tag === "Failure") {
      lost += 1 + expected.messageCount
      note(`${sessionId}: session does not read back (${info.failure.message})`)
      continue
    }
    const edit = { updated: expected.updated, title: expected.title }
    if (edit.updated !== expected.created || edit.title !== 0) updatedSessions++
    if (!isDeepStrictEqual(info.success, content.sessionInfo(expected.session, expected.created, edit))) {
      mismatched++
      note(`${sessionId}: session info differs from what was last acknowledged (title revision ${edit.title}, updated ${edit.updated})`)
    }
    const read = yield* Effect.result(store.getMessages(sessionId))
    if (read._tag === "Failure") {
      lost += expected.messageCount
      note(`${sessionId}: messages do not read back (${read.failure.message})`)
      continue
    }
    const actual = new Map(read.success.map((m, position) => [m.info.id as string, { m, position }]))
    let previous = -1
    let outOfOrder = false
    for (const ref of expected.messages()) {
      const messageId = messageIdOf(ref.session, ref.index)
      const found = actual.get(messageId)
      if (found === undefined) {
        lost++
        note(`${sessionId}/${messageId}: message lost`)
        continue
      }
      actual.delete(messageId)
      if (found.position < previous) outOfOrder = true
      previous = found.position
      if (!isDeepStrictEqual(found.m, content.message(ref))) {
        mismatched++
        note(`${sessionId}/${messageId}: message differs from revision ${ref.revision} as written`)
      }
    }
    if (outOfOrder) {
      mismatched++
      note(`${sessionId}: messages read back in a different order`)
    }
    for (const messageId of actual.keys()) {
      mismatched++
      note(`${sessionId}/${messageId}: message present but never acknowledged`)
    }
  }

  for (const sessionId of ledger.deleted) {
    const info = yield* Effect.result(store.getSession(sessionId))
    if (info._tag === "Success") {
      mismatched++
      note(`${sessionId}: deleted session still reads back`)
    }
  }

  return { sessions: ledger.sessions.size, updatedSessions, messages, lost, mismatched, problems } satisfies Verification
})
