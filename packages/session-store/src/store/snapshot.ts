import type { MessageId } from "../domain/Ids.ts"
import type { SessionInfo } from "../domain/Session.ts"
import type { LoadedSession, StoredMessage } from "../repository/port.ts"

/**
 * What memory holds of one session: an immutable value. A write builds a new
 * snapshot and swaps it in; readers holding the old one keep a consistent
 * view, and nothing a caller got back can change under it.
 *
 * The window is always a suffix of the session's message order (the newest
 * messages, oldest first), at most `maxMessagesPerSession` long. It may be
 * shorter than that after a removal; it is never refilled from storage, so a
 * page is served from it only when it covers the page entirely.
 */
export interface ResidentSnapshot {
  readonly info: SessionInfo
  readonly infoBytes: number
  readonly window: ReadonlyArray<StoredMessage>
  /** Messages of the session in storage, inside the window or not. */
  readonly messageCount: number
  /** What this snapshot accounts for in memory: info plus window, as the repository measured them. */
  readonly bytes: number
}

const windowBytes = (window: ReadonlyArray<StoredMessage>): number => {
  let total = 0
  for (const stored of window) total += stored.bytes
  return total
}

export const fromLoaded = (loaded: LoadedSession, maxWindow: number): ResidentSnapshot => {
  // The repository was asked for `maxWindow`; trimming again keeps the bound
  // even against a repository that returns more.
  const window = loaded.messages.length > maxWindow ? loaded.messages.slice(-maxWindow) : loaded.messages
  return {
    info: loaded.info,
    infoBytes: loaded.infoBytes,
    window,
    messageCount: loaded.messageCount,
    bytes: loaded.infoBytes + windowBytes(window)
  }
}

/** Whether the window holds every message of the session. */
export const isComplete = (snapshot: ResidentSnapshot): boolean => snapshot.window.length === snapshot.messageCount

/** Index of the message in the window, -1 when it is not there. Searches from the newest end. */
export const indexInWindow = (snapshot: ResidentSnapshot, messageId: MessageId): number => {
  const window = snapshot.window
  for (let i = window.length - 1; i >= 0; i--) {
    if (window[i]!.id === messageId) return i
  }
  return -1
}

export const withInfo = (snapshot: ResidentSnapshot, info: SessionInfo, infoBytes: number): ResidentSnapshot => ({
  ...snapshot,
  info,
  infoBytes,
  bytes: snapshot.bytes - snapshot.infoBytes + infoBytes
})

/** A message of the window rewritten in place. */
export const withReplaced = (snapshot: ResidentSnapshot, index: number, stored: StoredMessage): ResidentSnapshot => {
  const window = snapshot.window.slice()
  const previous = window[index]!
  window[index] = stored
  return { ...snapshot, window, bytes: snapshot.bytes - previous.bytes + stored.bytes }
}

/** A new message at the end of the session; the oldest leave the window past `maxWindow`. */
export const withAppended = (snapshot: ResidentSnapshot, stored: StoredMessage, maxWindow: number): ResidentSnapshot => {
  const overflow = snapshot.window.length + 1 - maxWindow
  const kept = overflow > 0 ? snapshot.window.slice(overflow) : snapshot.window.slice()
  kept.push(stored)
  let bytes = snapshot.bytes + stored.bytes
  for (let i = 0; i < overflow; i++) bytes -= snapshot.window[i]!.bytes
  return { ...snapshot, window: kept, messageCount: snapshot.messageCount + 1, bytes }
}

/** A message removed from storage: from the window when it is there, from the count in any case. */
export const withRemoved = (snapshot: ResidentSnapshot, index: number): ResidentSnapshot => {
  if (index < 0) return { ...snapshot, messageCount: snapshot.messageCount - 1 }
  const removed = snapshot.window[index]!
  const window = snapshot.window.slice(0, index).concat(snapshot.window.slice(index + 1))
  return { ...snapshot, window, messageCount: snapshot.messageCount - 1, bytes: snapshot.bytes - removed.bytes }
}

/**
 * The page `{ before, limit }` from the window, or `undefined` when the
 * window does not cover it entirely (the caller then pages storage).
 * `limit` undefined means every message before `before`.
 */
export const pageFromWindow = (
  snapshot: ResidentSnapshot,
  before: MessageId | undefined,
  limit: number | undefined
): ReadonlyArray<StoredMessage> | undefined => {
  const window = snapshot.window
  const end = before === undefined ? window.length : indexInWindow(snapshot, before)
  if (end < 0) return undefined
  if (limit !== undefined && limit <= end) return window.slice(end - limit, end)
  // More is asked than the window holds before `end`: only a complete window has it all.
  return isComplete(snapshot) ? window.slice(0, end) : undefined
}
