/**
 * The repository port: where sessions and messages are stored for real. The
 * store treats it as the truth; every write goes here before it is
 * acknowledged. Two layers ship: {@link SessionRepository.layerMemory} for
 * tests and {@link SessionRepository.layerFileSystem}, the embedded default.
 *
 * Message order is the order in which ids were first written; writing a
 * message whose id exists replaces it in place.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { SessionRepository } from "@session-store/core/SessionRepository"
 *
 * const program = Effect.gen(function*() {
 *   const repo = yield* SessionRepository
 *   const loaded = yield* repo.loadSession(sessionId, { newest: 100 })
 *   return loaded.messageCount
 * }).pipe(Effect.provide(SessionRepository.layerMemory))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Layer } from "effect"
import type * as FileSystem from "effect/FileSystem"
import type * as Path from "effect/Path"
import type { RepositoryError } from "../domain/Errors.ts"
import { makeFileSystemRepository } from "./fileSystem/fileSystemRepository.ts"
import { makeMemoryRepository } from "./memory.ts"

import type { SessionRepositoryShape } from "./port.ts"

export type { LoadedSession, PageRequest, SessionRepositoryShape, StoredMessage, Written } from "./port.ts"

/**
 * The repository service.
 *
 * @example
 * ```ts
 * const program = Effect.gen(function*() {
 *   const repo = yield* SessionRepository
 *   return yield* repo.listSessions()
 * })
 * ```
 */
export class SessionRepository extends Context.Service<SessionRepository, SessionRepositoryShape>()(
  "@session-store/core/SessionRepository"
) {
  /**
   * An in-memory repository for tests: each build starts empty. Records are
   * kept encoded, so callers can never mutate what was stored.
   *
   * @example
   * ```ts
   * program.pipe(Effect.provide(SessionRepository.layerMemory))
   * ```
   */
  static readonly layerMemory: Layer.Layer<SessionRepository> = Layer.sync(SessionRepository, makeMemoryRepository)

  /**
   * The embedded, durable repository: everything under `directory`, one
   * directory per session (mode 0700, files 0600), the session info replaced
   * atomically and the messages in an append-only log. With `fsync` (the
   * default) every write is on disk before it is acknowledged; a crash at any
   * moment loses nothing acknowledged, and a record torn by a crash is ignored
   * on the next load. A record that does not decode fails with CorruptRecord
   * naming its file and line, and is never deleted or rewritten. One process
   * owns a directory at a time. Opening the directory fails with
   * RepositoryError when it cannot be created or read.
   *
   * @example
   * ```ts
   * import { NodeServices } from "@effect/platform-node"
   *
   * const RepositoryLive = SessionRepository.layerFileSystem({ directory: "/var/lib/opencode/sessions" }).pipe(
   *   Layer.provide(NodeServices.layer)
   * )
   * ```
   */
  static layerFileSystem(options: {
    readonly directory: string
    readonly fsync?: boolean | undefined
  }): Layer.Layer<SessionRepository, RepositoryError, FileSystem.FileSystem | Path.Path> {
    return Layer.effect(SessionRepository, makeFileSystemRepository(options))
  }
}
