/**
 * A seeded, repeatable opencode-like workload: the operations an opencode
 * server sends to its session store over days of use, compressed into one
 * sequence.
 *
 * The shape, and why:
 * - **Many sessions, few hot at a time.** A visit picks its session by a
 *   Zipf-distributed rank (s = 0.9) over the sessions ordered by last use (an
 *   LRU stack, the classic model of temporal locality), then moves it to the
 *   front. Recently used sessions are the likeliest, so a handful are hot at any
 *   moment and the hot set drifts as new sessions appear.
 * - **Visits.** A *turn* opens the session (read it, read its newest page),
 *   appends the user's prompt, then one or more assistant messages, each
 *   appended and then updated (put) as opencode streams it, one part at a time.
 *   A *browse* reads a session and pages back through older messages. A few
 *   visits run interleaved, as concurrent clients do.
 * - **Sizes.** Messages follow opencode's wire shape (info + parts: text, tool
 *   calls with their output, step markers); sizes are log-normal, median about
 *   2 KB, tool outputs capped at 50 KB. Sessions grow from tens of messages
 *   (a new session starts with a long agentic turn) to a few thousand.
 * - **Time.** Every operation carries a virtual timestamp `at`. Within a visit
 *   operations are about a second apart; between visits the server is idle for
 *   seconds, minutes or hours (a heavy-tailed mixture). The soak runs in a
 *   minute of real time, so it feeds `at` to the store through a virtual clock:
 *   time-based expiry (inactivity, TTL) sees the hours pass, while the
 *   sequence stays the same on every run.
 * - **Session updates.** opencode titles a session after its first exchange
 *   and bumps `time.updated` on activity; users rename now and then. So the
 *   first turn ends with an update that sets a title, and about one later
 *   turn in four ends with one that moves `time.updated` (one in ten of those
 *   also renames). Each is an edit of the stored info through `updateSession`.
 * - **Deletes.** Now and then a cold session (low in the LRU stack) is deleted
 *   and never touched again.
 *
 * @example
 * ```ts
 * import { workload } from "./workload.ts"
 *
 * for (const op of workload({ seed: 1, sessions: 100, operations: 10_000 })) {
 *   if (op._tag === "AppendMessage") console.log(op.sessionId, op.message.info.id)
 * }
 * ```
 *
 * @since 0.1.0
 */
import {
  makeContent,
  type MessageRef,
  messageIdOf,
  sessionIdOf,
  type WireMessage,
  type WireSession
} from "./internal/content.ts"
import { makeRng, type Rng, streamKey } from "./internal/random.ts"
import { makeWeights, zipfRank, zipfTable } from "./internal/sampling.ts"

export { type MessageRef, messageIdOf, sessionIdOf, type WireMessage, type WireSession }

/**
 * One operation of the workload, told apart by `_tag`. `at` is virtual time
 * (epoch milliseconds).
 *
 * @example
 * ```ts
 * const writes = (op: Operation) => op._tag === "AppendMessage" || op._tag === "PutMessage"
 * ```
 */
export type Operation =
  | {
    readonly _tag: "CreateSession"
    readonly at: number
    readonly sessionId: string
    readonly session: number
    readonly info: WireSession
  }
  | {
    readonly _tag: "AppendMessage"
    readonly at: number
    readonly sessionId: string
    readonly ref: MessageRef
    readonly message: WireMessage
  }
  | {
    readonly _tag: "PutMessage"
    readonly at: number
    readonly sessionId: string
    readonly ref: MessageRef
    readonly message: WireMessage
  }
  | {
    readonly _tag: "UpdateSession"
    readonly at: number
    readonly sessionId: string
    readonly session: number
    /** The new title and its revision (1, 2, …), or absent when only `time.updated` moves (to `at`). */
    readonly rename: { readonly revision: number; readonly title: string } | undefined
  }
  | { readonly _tag: "ReadSession"; readonly at: number; readonly sessionId: string }
  | {
    readonly _tag: "ReadMessages"
    readonly at: number
    readonly sessionId: string
    readonly limit: number
    /** Only messages older than this one; absent for the newest page. */
    readonly before: string | undefined
  }
  | { readonly _tag: "DeleteSession"; readonly at: number; readonly sessionId: string }

/**
 * The tags of {@link Operation}, in a fixed order for tables.
 *
 * @example
 * ```ts
 * const counts = Object.fromEntries(OperationTags.map((tag) => [tag, 0]))
 * ```
 */
export const OperationTags = [
  "CreateSession",
  "AppendMessage",
  "PutMessage",
  "UpdateSession",
  "ReadSession",
  "ReadMessages",
  "DeleteSession"
] as const satisfies ReadonlyArray<Operation["_tag"]>

/**
 * What to generate.
 *
 * @example
 * ```ts
 * const small: WorkloadOptions = { seed: 7, sessions: 50, operations: 2_000 }
 * ```
 */
export interface WorkloadOptions {
  readonly seed: number
  /** Sessions created over the run, evenly paced. */
  readonly sessions: number
  /** Operations emitted in all. */
  readonly operations: number
  /** Zipf exponent of session popularity by recency rank (default 0.9). */
  readonly zipf?: number
  /** Virtual time of the first operation (default 2025-06-01T00:00:00Z). */
  readonly startTime?: number
  /** A session this long is finished: no more turns (default 3,000). */
  readonly maxMessagesPerSession?: number
}

/**
 * The edit an `UpdateSession` operation makes to the stored info, as opencode
 * does it: `time.updated` becomes the operation's time and, on a rename, the
 * title changes; every other field stays as stored.
 *
 * @example
 * ```ts
 * store.updateSession(op.sessionId, (info) => editSession(info, op))
 * ```
 */
export const editSession = <I extends { readonly title: string; readonly time: { readonly updated: number } }>(
  info: I,
  op: Operation & { readonly _tag: "UpdateSession" }
): I => ({
  ...info,
  ...(op.rename === undefined ? {} : { title: op.rename.title }),
  time: { ...info.time, updated: op.at }
})

/** Messages per page when a client opens a session or scrolls back. */
export const PAGE_SIZE = 50

const DEFAULT_START = Date.UTC(2025, 5, 1)

interface SessionState {
  readonly no: number
  count: number
  /** Renames so far (the title's revision). */
  titles: number
  active: boolean
  /** Created, not deleted, not finished: may be visited. */
  live: boolean
}

// Idle time between visits: mostly seconds, often minutes, sometimes hours.
const idleGap = (rng: Rng): number => {
  const u = rng.next()
  if (u < 0.6) return rng.exponential(20_000)
  if (u < 0.95) return rng.exponential(5 * 60_000)
  return rng.exponential(3 * 3_600_000)
}

/**
 * The workload for `options`. Iterating it twice yields the same operations.
 *
 * @example
 * ```ts
 * const ops = [...workload({ seed: 1, sessions: 10, operations: 500 })]
 * ```
 */
export const workload = (options: WorkloadOptions): Iterable<Operation> => ({
  [Symbol.iterator]: () => generate(options)
})

function* generate(options: WorkloadOptions): Generator<Operation, void, undefined> {
  const { operations, seed } = options
  const totalSessions = Math.max(1, options.sessions)
  const maxMessages = options.maxMessagesPerSession ?? 3_000
  const rng = makeRng(streamKey(seed, 0x5eed))
  const content = makeContent(seed)
  const zipf = options.zipf ?? 0.9
  const ranks = zipfTable(totalSessions, zipf)
  // Popularity: each session gets a Zipf weight by a random rank, fixed at
  // creation, so a few sessions take most of the traffic over their lifetime.
  const popularity = makeWeights(totalSessions)
  const rankOf = Array.from({ length: totalSessions }, (_, i) => i + 1)
  for (let i = rankOf.length - 1; i > 0; i--) {
    const j = rng.int(0, i)
    ;[rankOf[i], rankOf[j]] = [rankOf[j]!, rankOf[i]!]
  }

  const sessions: Array<SessionState> = []
  // Live, unfinished sessions, most recently visited first.
  const stack: Array<number> = []
  const visits: Array<Iterator<Operation, void, undefined>> = []
  let now = options.startTime ?? DEFAULT_START
  let emitted = 0
  let deleted = 0

  const retire = (no: number) => {
    sessions[no - 1]!.live = false
    const at = stack.indexOf(no)
    if (at >= 0) stack.splice(at, 1)
    popularity.set(no, 0)
  }

  const touch = (no: number) => {
    const at = stack.indexOf(no)
    if (at > 0) {
      stack.splice(at, 1)
      stack.unshift(no)
    }
  }

  function* turn(state: SessionState, first: boolean): Generator<Operation, void, undefined> {
    const sessionId = sessionIdOf(state.no)
    if (!first) {
      yield { _tag: "ReadSession", at: now, sessionId }
      yield { _tag: "ReadMessages", at: now, sessionId, limit: PAGE_SIZE, before: undefined }
    }
    const parent = state.count++
    const user: MessageRef = { session: state.no, index: parent, role: "user", created: now, parent, revision: 0 }
    yield { _tag: "AppendMessage", at: now, sessionId, ref: user, message: content.message(user) }
    const steps = first ? rng.int(8, 30) : 1 + Math.min(30, Math.floor(rng.exponential(2.5)))
    for (let step = 0; step < steps && state.count < maxMessages; step++) {
      const index = state.count++
      const last = content.revisions(state.no, index) - 1
      const created = now
      for (let revision = 0; revision <= last; revision++) {
        const ref: MessageRef = { session: state.no, index, role: "assistant", created, parent, revision }
        yield {
          _tag: revision === 0 ? "AppendMessage" : "PutMessage",
          at: now,
          sessionId,
          ref,
          message: content.message(ref)
        }
      }
    }
    if (first || rng.chance(0.25)) {
      const renamed = first || rng.chance(0.1) ? ++state.titles : undefined
      yield {
        _tag: "UpdateSession",
        at: now,
        sessionId,
        session: state.no,
        rename: renamed === undefined ? undefined : { revision: renamed, title: content.title(state.no, renamed) }
      }
    }
    if (state.count >= maxMessages) retire(state.no)
  }

  function* browse(state: SessionState): Generator<Operation, void, undefined> {
    const sessionId = sessionIdOf(state.no)
    yield { _tag: "ReadSession", at: now, sessionId }
    yield { _tag: "ReadMessages", at: now, sessionId, limit: PAGE_SIZE, before: undefined }
    const pages = rng.int(0, 3)
    for (let page = 1; page <= pages; page++) {
      const oldest = state.count - page * PAGE_SIZE
      if (oldest <= 0) break
      yield { _tag: "ReadMessages", at: now, sessionId, limit: PAGE_SIZE, before: messageIdOf(state.no, oldest) }
    }
  }

  const track = (
    state: SessionState,
    visit: Generator<Operation, void, undefined>
  ): Iterator<Operation, void, undefined> => {
    state.active = true
    return {
      next: () => {
        const result = visit.next()
        if (result.done === true) state.active = false
        return result
      }
    }
  }

  const startVisit = (): Iterator<Operation, void, undefined> | undefined => {
    const behind = sessions.length < Math.ceil((totalSessions * (emitted + 1)) / operations)
    if (behind || stack.length === 0) {
      if (sessions.length >= totalSessions && stack.length === 0) return undefined
      if (sessions.length < totalSessions) {
        const state: SessionState = { no: sessions.length + 1, count: 0, titles: 0, active: false, live: true }
        sessions.push(state)
        stack.unshift(state.no)
        popularity.set(state.no, 1 / Math.pow(rankOf[state.no - 1]!, zipf))
        const sessionId = sessionIdOf(state.no)
        return track(
          state,
          (function*() {
            const info = content.sessionInfo(state.no, now)
            yield { _tag: "CreateSession", at: now, sessionId, session: state.no, info } satisfies Operation
            yield* turn(state, true)
          })()
        )
      }
    }
    // About one session in twelve is deleted, paced with creation.
    if (stack.length > 20 && deleted < Math.floor(sessions.length / 12) && rng.chance(0.5)) {
      const cold = Math.floor(stack.length / 2) + rng.int(0, Math.floor(stack.length / 2) - 1)
      const no = stack[cold]!
      const state = sessions[no - 1]!
      if (!state.active) {
        retire(no)
        deleted++
        const sessionId = sessionIdOf(no)
        return track(state, (function*() {
          yield { _tag: "DeleteSession", at: now, sessionId } satisfies Operation
        })())
      }
    }
    // Some visits return to recent work (Zipf over the LRU stack), most
    // follow lifetime popularity.
    for (let attempt = 0; attempt < 5; attempt++) {
      const no = rng.chance(0.3) ? stack[zipfRank(rng, ranks, stack.length)]! : popularity.draw(rng)
      const state = sessions[no - 1]
      if (state === undefined || state.active || !state.live) continue
      touch(no)
      return track(state, rng.chance(0.3) ? browse(state) : turn(state, false))
    }
    return undefined
  }

  while (emitted < operations) {
    if (visits.length === 0) {
      now += Math.round(idleGap(rng))
      const visit = startVisit()
      if (visit === undefined) return
      visits.push(visit)
    } else if (visits.length < 4 && rng.chance(0.01)) {
      const visit = startVisit()
      if (visit !== undefined) visits.push(visit)
    }
    const which = rng.int(0, visits.length - 1)
    const result = visits[which]!.next()
    if (result.done === true) {
      visits.splice(which, 1)
      continue
    }
    now += Math.round(rng.exponential(800))
    emitted++
    yield result.value
  }
}
