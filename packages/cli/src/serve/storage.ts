/**
 * The one place where `serve` decides its storage.
 *
 * Today: the embedded file-system store in the directory `--database` names.
 * When the SQLite repository lands, `--database` names opencode's own
 * `opencode.db` and this becomes, in {@link storeLayer}:
 *
 * ```ts
 * SessionStore.layer.pipe(Layer.provide(SessionRepository.layerSqlite({ filename: database })))
 * ```
 *
 * @example
 * ```ts
 * layerServer(options).pipe(Layer.provide(storeLayer("./data")))
 * ```
 *
 * @since 0.1.0
 */
import { SessionStore } from "@session-store/core/SessionStore"

/**
 * The `SessionStore` on `database`, configured from the `memory` config
 * (`MEMORY_*` environment variables and defaults).
 *
 * @example
 * ```ts
 * storeLayer("/var/lib/opencode/sessions")
 * ```
 */
export const storeLayer = (database: string) => SessionStore.layerFileSystem({ directory: database })
