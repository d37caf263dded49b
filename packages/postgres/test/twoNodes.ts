/**
 * Two (or more) nodes on one database for the specs: each node is a
 * SessionStore on its own PgClient pool and LISTEN connection
 * (application_name = the node's name, so a spec can find and kill its
 * listener), sharing one schema.
 */
import { Clock, Context, Effect, Layer, Scope } from "effect"
import type { SessionId } from "@session-store/core/Ids"
import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore, type SessionStoreShape } from "@session-store/core/SessionStore"
import type * as PostgresRepository from "../src/PostgresRepository.ts"
import { repositoryOn } from "./support.ts"

export interface Node {
  readonly name: string
  readonly store: SessionStoreShape
  readonly repository: SessionRepository["Service"]
}

/** Builds a node on `schema` in `scope`. */
export const makeNode = (
  schema: string,
  name: string,
  scope: Scope.Scope,
  options: PostgresRepository.PostgresRepositoryOptions = {}
) =>
  Effect.gen(function*() {
    const layer = SessionStore.layerWith({ maxSessions: 100, maxMessagesPerSession: 5_000, maxMessageBytes: 1_000_000 }).pipe(
      Layer.provideMerge(repositoryOn(schema, { ...options, applicationName: name })),
      Layer.provide(MemoryMonitor.layerTest()),
      Layer.orDie
    )
    const context = yield* Layer.buildWithScope(layer, scope)
    return { name, store: Context.get(context, SessionStore), repository: Context.get(context, SessionRepository) }
  })

/** Waits until `read` is true (polling every millisecond), and says how long it took; fails after `timeoutMs`. */
export const until = <E>(read: Effect.Effect<boolean, E>, timeoutMs: number, what: string) =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeNanos
    while (true) {
      if (yield* read) return Number((yield* Clock.currentTimeNanos) - start) / 1e6
      if (Number((yield* Clock.currentTimeNanos) - start) / 1e6 > timeoutMs) {
        return yield* Effect.die(new Error(`${what}: not within ${timeoutMs} ms`))
      }
      yield* Effect.sleep("1 millis")
    }
  })

/** Whether `node` serves `messageId` as the newest message of `sessionId`. */
export const newestIs = (node: Node, sessionId: SessionId, messageId: string) =>
  Effect.map(node.store.getMessages(sessionId, { limit: 1 }), (ms) => ms[0]?.info.id === messageId).pipe(Effect.orDie)

/** Percentiles of a sample, in ms. */
export const summary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! }
}

/** Whether `node` serves `messageId` among the newest 100 messages of `sessionId`. */
export const serves = (node: Node, sessionId: SessionId, messageId: string) =>
  Effect.map(node.store.getMessages(sessionId, { limit: 100 }), (ms) => ms.some((m) => m.info.id === messageId)).pipe(
    Effect.orDie
  )
