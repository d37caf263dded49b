/**
 * The one place where `serve` decides its storage.
 *
 * `--database` names opencode's own `opencode.db` (or a new file): the
 * embedded SQLite store, in opencode's tables, so a client pointed at this
 * server reads and writes what opencode itself does.
 *
 * @example
 * ```ts
 * layerServer(options).pipe(Layer.provide(storeLayer("./opencode.db")))
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
 * storeLayer("/home/me/.local/share/opencode/opencode.db")
 * ```
 */
export const storeLayer = (database: string) => SessionStore.layerSqlite({ filename: database })
