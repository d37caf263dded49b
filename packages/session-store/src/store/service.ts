import { Duration, Effect, Result, Schedule, Schema, Stream } from "effect"
import { CorruptRecord, InvalidInput } from "../domain/Errors.ts"
import { decodeMessageId, decodeSessionId, type SessionId } from "../domain/Ids.ts"
import { MemoryMonitor } from "../monitor/MemoryMonitor.ts"
import { MessageWithParts } from "../domain/Message.ts"
import { SessionInfo } from "../domain/Session.ts"
import { SessionRepository, type StoredMessage } from "../repository/SessionRepository.ts"
import type { MessagePage, SessionStoreShape } from "./model.ts"
import type { StoreOptions } from "../config/StoreConfig.ts"
import { eventCapacity } from "./StoreEvents.ts"
import { makeEventHub } from "./eventHub.ts"
import { makeSessionLocks, makeWriteGate } from "./locks.ts"
import { messageBytesOver } from "./messageSize.ts"
import { registerMetrics } from "./metrics.ts"
import { makePressure } from "./pressure.ts"
import type { Slot } from "./ledger.ts"
import { makeResidentSet } from "./residentSet.ts"
import {
  indexInWindow,
  pageFromWindow,
  withAppended,
  withInfo,
  withRemoved,
  withReplaced
} from "./snapshot.ts"

const oneLine = (error: Schema.SchemaError): string => error.message.replaceAll("\n", " ")

const decodeInfo = Schema.decodeUnknownEffect(SessionInfo)
// A Result, not an Effect: a message is decoded on every write, and the checks after it are plain code.
const decodeMessage = Schema.decodeUnknownResult(MessageWithParts)

const sessionInput = (input: unknown) =>
  Effect.mapError(decodeInfo(input), (error) => new InvalidInput({ what: "session", reason: oneLine(error) }))

const messageInput = (
  sessionId: SessionId,
  input: unknown,
  maxMessageBytes: number
): Effect.Effect<MessageWithParts, InvalidInput> => {
  const decoded = decodeMessage(input)
  if (Result.isFailure(decoded)) {
    return Effect.fail(new InvalidInput({ what: "message", reason: oneLine(decoded.failure) }))
  }
  const message = decoded.success
  if (message.info.sessionID !== sessionId) {
    return Effect.fail(
      new InvalidInput({
        what: "message",
        reason: `message ${message.info.id} belongs to session ${message.info.sessionID}, not ${sessionId}`
      })
    )
  }
  // Measured here, before anything is written, with the repositories' own
  // measure, but encoded only when a cheap bound cannot clear it (see
  // `messageBytesOver`): the repository encodes it again when it writes.
  const bytes = messageBytesOver(message, maxMessageBytes)
  return bytes === undefined ? Effect.succeed(message) : Effect.fail(
    new InvalidInput({
      what: "message",
      reason: `message ${message.info.id} is ${bytes} bytes, ` +
        `over the limit of ${maxMessageBytes} bytes (memory.maxMessageBytes)`
    })
  )
}

const pageInput = Effect.fnUntraced(function*(page: MessagePage | undefined) {
  const limit = page?.limit
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 0)) {
    return yield* new InvalidInput({ what: "page", reason: `limit must be a non-negative integer, got ${limit}` })
  }
  const before = page?.before === undefined ? undefined : yield* decodeMessageId(page.before)
  return { limit, before }
})

/**
 * The messages of `stored`, decoded now if storage kept their text (a loaded
 * window is decoded as it is read): CorruptRecord, naming the message, when
 * one does not decode. Any other throw is a defect.
 */
const messagesOf = (stored: ReadonlyArray<StoredMessage>): Effect.Effect<Array<MessageWithParts>, CorruptRecord> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(stored.map((s) => s.message))
    } catch (error) {
      if (error instanceof CorruptRecord) return Effect.fail(error)
      throw error
    }
  })

/**
 * Builds the store on the repository and the `MemoryMonitor` in context.
 * Background work (the sweep, the pressure fiber), the event hub and the
 * metric series live in the surrounding scope: closing it stops the fibers
 * and unregisters the metrics, waits for the writes in flight, then ends the
 * event streams. (The per-session locks hold nothing once no one holds them.)
 */
export const makeSessionStore = Effect.fnUntraced(function*(options: StoreOptions) {
  const repository = yield* SessionRepository
  const locks = yield* makeSessionLocks
  // Finalizers run in reverse order of creation.
  const hub = yield* makeEventHub(eventCapacity)
  const gate = yield* makeWriteGate
  yield* Effect.addFinalizer(() => gate.close)
  const monitor = yield* MemoryMonitor
  const resident = yield* makeResidentSet(repository, options, locks, hub)
  const pressure = yield* makePressure(monitor, options, resident)
  yield* registerMetrics(resident.ledger, pressure.state, options.maxBytes)

  /**
   * A write: through the gate (so release waits for it), under the session's
   * lock (so writes to one session never interleave), and uninterruptible
   * once the lock is held (so a write that reached storage always updates
   * memory too; interrupting the caller cannot leave them apart).
   */
  const write = <A, E>(sessionId: SessionId, body: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    gate.run(locks.withLock(sessionId, Effect.uninterruptible(body)))

  /**
   * Writes allocate: `body` runs under the session's lock with its resident
   * slot, if any, and updates the snapshot after storage acknowledged. A
   * session that was not resident is loaded once the write succeeded, so it
   * is resident afterwards and its snapshot is what storage now holds. That
   * load is best effort: the write is acknowledged either way, and a failed
   * write changes nothing in memory.
   */
  const writeResident = <A, E>(id: SessionId, body: (slot: Slot | undefined) => Effect.Effect<A, E>) =>
    write(id, Effect.suspend(() => body(resident.peek(id)))).pipe(
      Effect.tap(() => resident.peek(id) === undefined ? Effect.ignore(resident.acquire(id)) : Effect.void)
    )

  const createSession = Effect.fn("SessionStore.createSession")(function*(input: unknown) {
    const info = yield* sessionInput(input)
    yield* write(
      info.id,
      Effect.flatMap(repository.createSession(info), (written) => resident.created(info, written.bytes))
    )
    return info
  })

  /**
   * A read of a resident session is served by `resident.hit`, synchronously,
   * without decoding the id (a resident id was validated when it was
   * loaded). Any other string is decoded first, so a hostile id still fails
   * with `InvalidId` before it reaches storage.
   */
  const readSlot = (sessionId: string) =>
    Effect.suspend(() => {
      const slot = resident.hit(sessionId)
      return slot !== undefined ? Effect.succeed(slot) : Effect.flatMap(decodeSessionId(sessionId), resident.read)
    })

  /** The hottest path of all: one synchronous check, one value. */
  const getSession = (sessionId: string) =>
    Effect.suspend(() => {
      const info = resident.hitInfo(sessionId)
      return info !== undefined
        ? Effect.succeed(info)
        : Effect.flatMap(decodeSessionId(sessionId), (id) => Effect.map(resident.read(id), (s) => s.snapshot.info))
    })

  const updateSession = Effect.fn("SessionStore.updateSession")(function*(
    sessionId: string,
    edit: (info: SessionInfo) => SessionInfo
  ) {
    const id = yield* decodeSessionId(sessionId)
    return yield* writeResident(
      id,
      Effect.fnUntraced(function*(slot) {
        const current = slot !== undefined
          ? slot.snapshot.info
          : (yield* repository.loadSession(id, { newest: 0 })).info
        const next = yield* sessionInput(edit(current))
        if (next.id !== id) {
          return yield* new InvalidInput({
            what: "session",
            reason: `the edit changed the id from ${id} to ${next.id}`
          })
        }
        const written = yield* repository.updateSession(next)
        if (slot !== undefined) yield* resident.written(slot, withInfo(slot.snapshot, next, written.bytes))
        return next
      })
    )
  })

  const removeSession = Effect.fn("SessionStore.removeSession")(function*(sessionId: string) {
    const id = yield* decodeSessionId(sessionId)
    yield* write(id, Effect.andThen(repository.removeSession(id), resident.evict(id, "removed")))
  })

  // Untraced: a span per call costs more than the rest of the store's share
  // of a write (it captures a stack trace), and messages are written at the
  // rate parts stream in. The session-level writes keep their spans.
  const putMessage = Effect.fnUntraced(function*(sessionId: string, input: unknown) {
    const id = yield* decodeSessionId(sessionId)
    const message = yield* messageInput(id, input, options.maxMessageBytes)
    yield* writeResident(
      id,
      Effect.fnUntraced(function*(slot) {
        if (slot === undefined) {
          // Not resident: storage only; the load after the write reads the new totals from there.
          yield* repository.putMessage(id, message)
          return
        }
        const index = indexInWindow(slot.snapshot, message.info.id)
        const written = yield* repository.putMessage(id, message)
        const stored = { id: message.info.id, message, bytes: written.bytes }
        // In the window: replaced in place. Outside it: new (it goes at the end, so into the window), or
        // an older message rewritten in place (it must not be pulled into the window); storage says which.
        yield* resident.written(
          slot,
          index >= 0
            ? withReplaced(slot.snapshot, index, stored)
            : written.appended
            ? withAppended(slot.snapshot, stored, options.maxMessagesPerSession)
            : undefined
        )
      })
    )
    return message
  })

  const getMessage = Effect.fnUntraced(function*(sessionId: string, messageId: string) {
    const mid = yield* decodeMessageId(messageId)
    const slot = yield* readSlot(sessionId)
    const snapshot = slot.snapshot
    const index = indexInWindow(snapshot, mid)
    const stored = index >= 0 ? snapshot.window[index]! : yield* repository.getMessage(slot.id, mid)
    return (yield* messagesOf([stored]))[0]!
  })

  const getMessages = Effect.fnUntraced(function*(sessionId: string, page?: MessagePage) {
    const { before, limit } = yield* pageInput(page)
    const slot = yield* readSlot(sessionId)
    const snapshot = slot.snapshot
    const fromWindow = pageFromWindow(snapshot, before, limit)
    if (fromWindow !== undefined) return yield* messagesOf(fromWindow)
    // Older than the window: page storage, keep nothing. Without a limit, every
    // message before `before` is asked for; the session has no more than its count.
    const paged = yield* repository.pageMessages(slot.id, { before, limit: limit ?? snapshot.messageCount })
    return yield* messagesOf(paged)
  })

  const removeMessage = Effect.fn("SessionStore.removeMessage")(function*(sessionId: string, messageId: string) {
    const id = yield* decodeSessionId(sessionId)
    const mid = yield* decodeMessageId(messageId)
    yield* write(
      id,
      Effect.gen(function*() {
        yield* repository.removeMessage(id, mid)
        const slot = resident.peek(id)
        if (slot !== undefined) {
          yield* resident.written(slot, withRemoved(slot.snapshot, indexInWindow(slot.snapshot, mid)))
        }
      })
    )
  })

  const invalidate = (sessionId: string): Effect.Effect<void> =>
    decodeSessionId(sessionId).pipe(
      // Under the lock: a load in flight finishes first, then its slot is dropped.
      Effect.flatMap((id) => locks.withLock(id, resident.evict(id, "invalidated"))),
      // An id that cannot be valid cannot be resident.
      Effect.catchTag("InvalidId", () => Effect.void)
    )

  // Writes by other processes (shared SQLite file, PostgreSQL): their sessions
  // leave memory at once, then again under their locks, so a load in flight
  // finishes first and its copy, which may predate the write, goes too.
  const changes = repository.changes
  if (changes !== undefined) {
    // Subscribed before the layer is up, so no change after it is missed.
    const changed = yield* changes
    yield* changed.pipe(
      Stream.runForEach((ids) =>
        Effect.forEach(
          ids === "all" ? resident.staleAll() : ids,
          // At once (no hit serves the stale copy while this process's writes hold the lock), then
          // again under the lock, so a load in flight finishes first and its copy goes too.
          (id) => Effect.andThen(resident.stale(id), locks.withLock(id, resident.evict(id, "stale"))),
          { discard: true }
        )
      ),
      Effect.forkScoped
    )
  }

  // The sweep runs once per interval (not at start), in the layer's scope.
  yield* resident.sweep.pipe(
    Effect.schedule(Schedule.spaced(Duration.millis(options.cleanupIntervalMs))),
    Effect.forkScoped
  )

  return {
    createSession,
    getSession,
    getSessionIfResident: resident.hitInfo,
    updateSession,
    removeSession,
    listSessions: () => repository.listSessions(),
    appendMessage: putMessage,
    putMessage,
    getMessage,
    getMessages,
    removeMessage,
    invalidate,
    sweep: resident.sweep,
    stats: resident.stats,
    residents: resident.residents,
    events: hub.events,
    memoryPressure: Effect.sync(pressure.state)
  } satisfies SessionStoreShape
})
