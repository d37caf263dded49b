/**
 * A repository wrapper for the specs: it counts every call and can fail,
 * hold or slow down any call of any repository (memory or SQLite),
 * steered through one service, {@link RepositoryControls}. The unwrapped
 * repository is provided as {@link Storage}, to read what really is stored.
 *
 * The wrapper fails *before* touching storage, as a refused write or an
 * unreachable disk does: a failed call never changed anything, so a store
 * that reports the error must also show nothing changed.
 */
import { Context, Effect, type Latch, Layer } from "effect"
import { RepositoryError } from "../../src/domain/Errors.ts"
import { SessionRepository, type SessionRepositoryShape } from "../../src/repository/SessionRepository.ts"

export type Operation = keyof SessionRepositoryShape

export const writeOperations: ReadonlySet<Operation> = new Set([
  "createSession",
  "updateSession",
  "putMessage",
  "removeMessage",
  "removeSession"
])

const operations: ReadonlyArray<Operation> = [
  "createSession",
  "updateSession",
  "loadSession",
  "putMessage",
  "getMessage",
  "pageMessages",
  "removeMessage",
  "removeSession",
  "listSessions"
]

/** What a spec steers and sees of the repository under the store. All fields may be changed at any time. */
export interface Controls {
  /** Calls per operation, failed ones included. */
  readonly calls: Record<Operation, number>
  /** Calls that reached the wrapper, by kind. */
  reads: number
  writes: number
  /** Operations that fail at once with a RepositoryError (no yield, no hold). */
  readonly failing: Set<Operation>
  /** Fail every Nth write (counted over all writes); 0 = never. */
  failEveryNthWrite: number
  /** Fail every Nth read; 0 = never. */
  failEveryNthRead: number
  /** Fail the call after this many more calls (0: the next one); -1 = off. One shot. */
  failAfter: number
  /** Failures injected so far. */
  injected: number
  /** Every call yields this many times first, so fibers interleave and interruption can land inside an operation. */
  yieldsFirst: number
  /** While set, every call waits for this latch before touching storage. */
  hold: Latch.Latch | undefined
  /** Operations that wait until their latch opens (after `hold`), before touching storage. */
  readonly held: Partial<Record<Operation, Latch.Latch>>
  /** When set, `held` holds only calls for these sessions. */
  heldSessions: ReadonlySet<string> | undefined
  /** Calls waiting on `hold` or `held` right now. */
  blocked: number
}

export class RepositoryControls extends Context.Service<RepositoryControls, Controls>()("test/RepositoryControls") {}

/** The repository the wrapper wraps: reading it never goes through the controls, nor counts. */
export class Storage extends Context.Service<Storage, SessionRepositoryShape>()("test/Storage") {}

export const injectedError = (operation: string, sessionId: string | undefined) =>
  new RepositoryError({
    operation,
    ...(sessionId === undefined ? {} : { sessionId }),
    cause: new Error("injected failure")
  })

const makeControls = (): Controls => ({
  calls: Object.fromEntries(operations.map((op) => [op, 0])) as Record<Operation, number>,
  reads: 0,
  writes: 0,
  failing: new Set(),
  failEveryNthWrite: 0,
  failEveryNthRead: 0,
  failAfter: -1,
  injected: 0,
  yieldsFirst: 0,
  hold: undefined,
  held: {},
  heldSessions: undefined,
  blocked: 0
})

const sessionIdOf = (first: unknown): string | undefined =>
  typeof first === "string"
    ? first
    : typeof first === "object" && first !== null && typeof (first as { id?: unknown }).id === "string"
    ? (first as { id: string }).id
    : undefined

/** Wraps `inner` so that every call goes through `controls`. */
const instrument = (inner: SessionRepositoryShape, controls: Controls): SessionRepositoryShape => {
  const wait = (latch: Latch.Latch) =>
    Effect.suspend(() => {
      controls.blocked++
      return Effect.ensuring(latch.await, Effect.sync(() => controls.blocked--))
    })
  const wrap = <Args extends Array<any>, A, E>(op: Operation, f: (...args: Args) => Effect.Effect<A, E>) =>
  (...args: Args): Effect.Effect<A, E | RepositoryError> =>
    Effect.suspend((): Effect.Effect<A, E | RepositoryError> => {
      controls.calls[op]++
      const write = writeOperations.has(op)
      const n = write ? ++controls.writes : ++controls.reads
      const sessionId = sessionIdOf(args[0])
      if (controls.failing.has(op)) {
        controls.injected++
        return Effect.fail(injectedError(op, sessionId))
      }
      const every = write ? controls.failEveryNthWrite : controls.failEveryNthRead
      let fail = every > 0 && n % every === 0
      if (controls.failAfter === 0) {
        fail = true
        controls.failAfter = -1
      } else if (controls.failAfter > 0) {
        controls.failAfter--
      }
      const yields = controls.yieldsFirst
      const hold = controls.hold
      const held = sessionId === undefined || controls.heldSessions === undefined ||
          controls.heldSessions.has(sessionId)
        ? controls.held[op]
        : undefined
      const before = Effect.gen(function*() {
        for (let i = 0; i < yields; i++) yield* Effect.yieldNow
        if (hold !== undefined) yield* wait(hold)
        if (held !== undefined) yield* wait(held)
      })
      if (fail) {
        controls.injected++
        return Effect.andThen(before, Effect.fail(injectedError(op, sessionId)))
      }
      return Effect.andThen(before, Effect.suspend(() => f(...args)))
    })
  return {
    createSession: wrap("createSession", inner.createSession),
    updateSession: wrap("updateSession", inner.updateSession),
    loadSession: wrap("loadSession", inner.loadSession),
    putMessage: wrap("putMessage", inner.putMessage),
    getMessage: wrap("getMessage", inner.getMessage),
    pageMessages: wrap("pageMessages", inner.pageMessages),
    removeMessage: wrap("removeMessage", inner.removeMessage),
    removeSession: wrap("removeSession", inner.removeSession),
    listSessions: wrap("listSessions", inner.listSessions)
  } as SessionRepositoryShape
}

/**
 * The repository of `inner`, instrumented: provides the wrapped
 * `SessionRepository`, its `RepositoryControls`, and the unwrapped `Storage`.
 */
export const instrumentedRepository = <E, R>(
  inner: Layer.Layer<SessionRepository, E, R>
): Layer.Layer<SessionRepository | RepositoryControls | Storage, E, R> =>
  Layer.effectContext(Effect.gen(function*() {
    const repository = yield* SessionRepository
    const controls = makeControls()
    return Context.make(SessionRepository, instrument(repository, controls)).pipe(
      Context.add(RepositoryControls, controls),
      Context.add(Storage, repository)
    )
  })).pipe(Layer.provide(inner))
