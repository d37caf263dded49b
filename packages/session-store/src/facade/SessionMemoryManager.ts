/**
 * The compatibility facade: the class API of the original memory-management
 * proposal, kept working on top of the real layer. Each `SessionCache` runs
 * `SessionStore` on its own `ManagedRuntime`; methods keep the proposal's
 * names and return Promises. New code should use the `SessionStore` service.
 *
 * Import it as a namespace, as the proposal did:
 *
 * @example
 * ```ts
 * import { SessionMemoryManager } from "@session-store/core"
 *
 * const cache = new SessionMemoryManager.SessionCache(
 *   { maxSessions: 100, maxMessagesPerSession: 1000 },
 *   { database: "/home/me/.local/share/opencode/opencode.db" }
 * )
 * await cache.setSession(info.id, info)
 * const again = await cache.getSession(info.id) // undefined when unknown
 * await cache.destroy()
 * ```
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Cause, Effect, Exit, Layer, ManagedRuntime } from "effect"
import { InvalidInput } from "../domain/Errors.ts"
import type { MessageWithParts } from "../domain/Message.ts"
import type { SessionInfo } from "../domain/Session.ts"
import { SessionRepository } from "../repository/SessionRepository.ts"
import { type MessagePage, SessionStore, type SessionStoreShape, type SweepReport } from "../store/SessionStore.ts"
import { fromOptions, knownKeys, nearestKey, type StoreOptions } from "../config/StoreConfig.ts"
import { MemoryMonitor } from "../monitor/MemoryMonitor.ts"

/**
 * The proposal's config object; a missing key takes its default.
 *
 * @example
 * ```ts
 * const config: SessionCacheConfig = { maxSessions: 50, inactiveTtlMs: 3_600_000 }
 * ```
 */
export type SessionCacheConfig = Partial<StoreOptions>

/**
 * Where the truth lives:
 *
 * - `{ database }`: a SQLite file in opencode's own tables (opencode.db), the
 *   default being `.opencode/opencode.db` under the working directory (its
 *   folder is created when missing);
 * - `"memory"`: a throwaway in-process repository.
 *
 * @example
 * ```ts
 * const storage: SessionCacheStorage = { database: "/home/me/.local/share/opencode/opencode.db" }
 * ```
 */
export type SessionCacheStorage = { readonly database: string } | "memory"

/** The default storage: `.opencode/opencode.db` under the working directory. */
export const defaultStorage: SessionCacheStorage = { database: path.join(".opencode", "opencode.db") }

/**
 * The proposal's statistics shape.
 *
 * @example
 * ```ts
 * const hitRate = (s: SessionCacheStats) => s.sessions.hits / Math.max(1, s.sessions.hits + s.sessions.misses)
 * ```
 */
export interface SessionCacheStats {
  readonly sessions: { readonly hits: number; readonly misses: number; readonly evictions: number; readonly size: number }
  readonly messages: { readonly size: number }
}

const storeLayer = (config: SessionCacheConfig, storage: SessionCacheStorage) => {
  const store = SessionStore.layerWith(config)
  const repository = storage === "memory"
    ? SessionRepository.layerMemory
    : Layer.unwrap(Effect.sync(() => {
      // SQLite creates the file, not its folder.
      fs.mkdirSync(path.dirname(path.resolve(storage.database)), { recursive: true })
      return SessionRepository.layerSqlite({ filename: storage.database })
    }))
  // The live monitor reads the heap at the interval of the same (validated) config.
  const monitor = Layer.unwrap(
    Effect.map(fromOptions(config), (options) => MemoryMonitor.layerLive({ intervalMs: options.pressureCheckIntervalMs }))
  )
  return store.pipe(Layer.provide(Layer.mergeAll(repository, monitor)))
}

// The proposal's callers expect plain Error rejections, so a typed failure is
// rejected as itself (a Schema.TaggedError is an Error) rather than wrapped.
const squash = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

// A misplaced option (`storage: "memory"` inside the config) must not be
// ignored: the data would silently go to `./.opencode/opencode.db`.
const checkArguments = (config: unknown, storage: unknown): void => {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new TypeError(`SessionCache: the config must be an object of memory settings, got ${JSON.stringify(config)}`)
  }
  for (const key of Object.keys(config)) {
    if ((knownKeys as ReadonlyArray<string>).includes(key)) continue
    throw new TypeError(
      key === "storage" || key === "directory" || key === "database"
        ? `SessionCache: unknown config key "${key}"; where the data lives is the second argument: ` +
          `new SessionCache(config, { database }) or new SessionCache(config, "memory")`
        : `SessionCache: unknown config key "${key}"; did you mean "${nearestKey(key)}"?`
    )
  }
  const isDatabase = typeof storage === "object" && storage !== null &&
    typeof (storage as Record<string, unknown>).database === "string" && Object.keys(storage).length === 1
  if (storage !== "memory" && !isDatabase) {
    throw new TypeError(
      typeof storage === "object" && storage !== null && "directory" in storage
        ? `SessionCache: storage { directory } is no longer supported; use { database: string } (an opencode.db) or "memory", got ${JSON.stringify(storage)}`
        : `SessionCache: storage must be { database: string } or "memory", got ${JSON.stringify(storage)}`
    )
  }
}

/**
 * The proposal's `SessionCache`, on the real `SessionStore` layer.
 *
 * @example
 * ```ts
 * const cache = new SessionCache({ maxSessions: 10 }, "memory")
 * await cache.setSession("ses_1", info)
 * await cache.hasSession("ses_1") // true
 * await cache.destroy()
 * ```
 */
export class SessionCache {
  readonly #runtime: ManagedRuntime.ManagedRuntime<SessionStore, unknown>
  /**
   * The built store, kept by the first method that ran on it (until
   * `destroy`): its synchronous hit path serves `getSession`.
   */
  #store: SessionStoreShape | undefined
  #destroyed = false

  /**
   * Starts building the layer at once. An unknown config key or a malformed
   * storage argument throws a `TypeError` here; an invalid value is not
   * accepted silently either: every method rejects with the `ConfigError`
   * that names the key.
   */
  constructor(config: SessionCacheConfig = {}, storage: SessionCacheStorage = defaultStorage) {
    checkArguments(config, storage)
    this.#runtime = ManagedRuntime.make(storeLayer(config, storage))
  }

  #run<A, E>(f: (store: SessionStore["Service"]) => Effect.Effect<A, E>): Promise<A> {
    return this.#runtime.runPromiseExit(SessionStore.use((store) => {
      if (!this.#destroyed) this.#store = store
      return f(store)
    })).then(squash)
  }

  /** Waits until the layer is built; rejects with its error (an invalid config, an unusable database). */
  ready(): Promise<void> {
    return this.#runtime.runPromiseExit(Effect.void).then(squash)
  }

  /**
   * The session's info, or `undefined` when there is no such session. A
   * resident session is answered without a fiber (the store's synchronous
   * hit path, an already resolved promise); anything else runs `getSession`
   * on the runtime.
   */
  getSession(sessionId: string): Promise<SessionInfo | undefined> {
    const info = this.#store?.getSessionIfResident(sessionId)
    if (info !== undefined) return Promise.resolve(info)
    return this.#run((store) =>
      store.getSession(sessionId).pipe(Effect.catchTag("SessionNotFound", () => Effect.succeed(undefined)))
    )
  }

  /** Creates the session, or replaces its info when it exists. `session.id` must be `sessionId`. */
  setSession(sessionId: string, session: SessionInfo): Promise<void> {
    return this.#run((store) => {
      if ((session as { readonly id?: unknown }).id !== sessionId) {
        return Effect.fail(new InvalidInput({ what: "session", reason: `its id is not ${JSON.stringify(sessionId)}` }))
      }
      const replace = store.updateSession(sessionId, () => session)
      // Another writer may create it between our update and our create: then update again.
      return replace.pipe(
        Effect.catchTag("SessionNotFound", () =>
          store.createSession(session).pipe(Effect.catchTag("SessionAlreadyExists", () => replace))),
        Effect.asVoid
      )
    })
  }

  /** Whether the session exists (in memory or in storage). */
  hasSession(sessionId: string): Promise<boolean> {
    return this.getSession(sessionId).then((info) => info !== undefined)
  }

  /** Deletes the session and its messages; `false` when there was no such session. */
  deleteSession(sessionId: string): Promise<boolean> {
    return this.#run((store) =>
      store.removeSession(sessionId).pipe(
        Effect.as(true),
        Effect.catchTag("SessionNotFound", () => Effect.succeed(false))
      )
    )
  }

  /**
   * The session's messages, oldest first: all of them, or the page asked for.
   * `undefined` when there is no such session.
   */
  getMessages(sessionId: string, page?: MessagePage): Promise<ReadonlyArray<MessageWithParts> | undefined> {
    return this.#run((store) =>
      store.getMessages(sessionId, page).pipe(Effect.catchTag("SessionNotFound", () => Effect.succeed(undefined)))
    )
  }

  /**
   * Makes `messages` the session's messages: each is written by id (in place
   * if it exists, at the end if not), and stored messages not in the list are
   * removed. The session must exist.
   */
  setMessages(sessionId: string, messages: ReadonlyArray<MessageWithParts>): Promise<void> {
    return this.#run((store) =>
      Effect.gen(function*() {
        const keep = new Set<string>()
        for (const message of messages) {
          const written = yield* store.putMessage(sessionId, message)
          keep.add(written.info.id)
        }
        const stored = yield* store.getMessages(sessionId)
        for (const message of stored) {
          if (!keep.has(message.info.id)) yield* store.removeMessage(sessionId, message.info.id)
        }
      })
    )
  }

  /** Deletes every message of the session and keeps the session; `false` when there is no such session. */
  deleteMessages(sessionId: string): Promise<boolean> {
    return this.#run((store) =>
      store.getMessages(sessionId).pipe(
        Effect.flatMap((stored) =>
          Effect.forEach(stored, (message) => store.removeMessage(sessionId, message.info.id), { discard: true })
        ),
        Effect.as(true),
        Effect.catchTag("SessionNotFound", () => Effect.succeed(false))
      )
    )
  }

  /** Hits, misses, evictions (all causes) and resident counts. */
  getStats(): Promise<SessionCacheStats> {
    return this.#run((store) =>
      Effect.map(store.stats, (stats) => ({
        sessions: {
          hits: stats.hits,
          misses: stats.misses,
          evictions: Object.values(stats.evictions).reduce((sum, n) => sum + n, 0),
          size: stats.residentSessions
        },
        messages: { size: stats.residentMessages }
      }))
    )
  }

  /** Runs the cleanup now (expired and inactive sessions leave memory) and says what it did. */
  forceCleanup(): Promise<SweepReport> {
    return this.#run((store) => store.sweep)
  }

  /**
   * Whether the store's latest heap reading (V8 heap in use over its limit,
   * from `node:v8`) is at or above `pressureThreshold` (default 0.8): the
   * reading on which the store itself sheds sessions.
   */
  isUnderMemoryPressure(): Promise<boolean> {
    return this.#run((store) => Effect.map(store.memoryPressure, (pressure) => pressure.underPressure))
  }

  /** Resident counts: sessions and messages in memory now. */
  size(): Promise<{ readonly sessions: number; readonly messages: number }> {
    return this.#run((store) =>
      Effect.map(store.stats, (stats) => ({ sessions: stats.residentSessions, messages: stats.residentMessages }))
    )
  }

  /** Drops everything from memory; storage keeps it all. */
  clear(): Promise<void> {
    return this.#run((store) =>
      Effect.flatMap(store.residents, (residents) =>
        Effect.forEach(residents, (resident) => store.invalidate(resident.id), { discard: true }))
    )
  }

  /** Releases the layer: the sweep stops, writes in flight finish, nothing keeps the process alive. */
  destroy(): Promise<void> {
    this.#destroyed = true
    this.#store = undefined
    return this.#runtime.dispose()
  }
}

let globalCache: SessionCache | undefined

/**
 * The process-wide cache, created on first use with `config` and `storage`
 * (later calls return the same instance and ignore their arguments).
 *
 * @example
 * ```ts
 * const cache = getGlobalCache({ maxSessions: 100 })
 * ```
 */
export const getGlobalCache = (config?: SessionCacheConfig, storage?: SessionCacheStorage): SessionCache => {
  globalCache ??= new SessionCache(config, storage)
  return globalCache
}

/**
 * Releases the process-wide cache, if any; the next `getGlobalCache` makes a new one.
 *
 * @example
 * ```ts
 * await destroyGlobalCache()
 * ```
 */
export const destroyGlobalCache = async (): Promise<void> => {
  const cache = globalCache
  globalCache = undefined
  await cache?.destroy()
}
