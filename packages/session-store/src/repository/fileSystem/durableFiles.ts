import { Effect, Option } from "effect"
import type * as FileSystem from "effect/FileSystem"
import { isPlatformError, type PlatformError, systemError } from "effect/PlatformError"
import { RepositoryError } from "../../domain/Errors.ts"
import { DIRECTORY_MODE, FILE_MODE } from "./layout.ts"

/**
 * Small file-system building blocks with the durability rules of the
 * repository: temporary file, fsync, rename, fsync of the directory; private
 * modes enforced whatever the umask.
 */

/** True when `error` is a platform error of the given reason (NotFound, AlreadyExists…). */
export const isReason = (error: unknown, tag: string): boolean =>
  isPlatformError(error) && error.reason._tag === tag

/** The errno code under a platform error (ENOSPC, ENOTEMPTY…), if any. */
export const errnoCode = (error: unknown): string | undefined => {
  if (!isPlatformError(error)) return undefined
  const cause = error.reason.cause as { code?: unknown } | undefined
  return typeof cause?.code === "string" ? cause.code : undefined
}

// Node's platform errors name the method and the path but not the errno, so
// "disk full" would read as "Unknown: FileSystem.writeAll (23)". Keep the
// PlatformError (callers can still match on it) with the errno text added.
const describe = (error: PlatformError): PlatformError => {
  const reason = error.reason
  const cause = reason.cause as { code?: unknown; message?: unknown } | undefined
  if (reason._tag === "BadArgument" || reason.description !== undefined || typeof cause?.message !== "string") {
    return error
  }
  return systemError({
    _tag: reason._tag,
    module: reason.module,
    method: reason.method,
    description: cause.message,
    syscall: reason.syscall,
    pathOrDescriptor: reason.pathOrDescriptor,
    cause
  })
}

/** Maps any failure of an operation to a RepositoryError that names it. */
export const repositoryError = (operation: string, sessionId?: string) => (cause: unknown): RepositoryError =>
  new RepositoryError({
    operation,
    ...(sessionId === undefined ? {} : { sessionId }),
    cause: isPlatformError(cause) ? describe(cause) : cause
  })

/** Sets `mode` when the file's permission bits differ (a umask can take bits away at creation). */
export const ensureMode = (fs: FileSystem.FileSystem, path: string, info: FileSystem.File.Info, mode: number) =>
  (info.mode & 0o777) === mode ? Effect.void : fs.chmod(path, mode)

/** Creates a private directory (0700), failing if it exists. */
export const makePrivateDirectory = (fs: FileSystem.FileSystem, path: string) =>
  fs.makeDirectory(path, { mode: DIRECTORY_MODE }).pipe(Effect.andThen(fs.chmod(path, DIRECTORY_MODE)))

/** Creates a private directory unless it exists. */
export const ensurePrivateDirectory = (fs: FileSystem.FileSystem, path: string) =>
  makePrivateDirectory(fs, path).pipe(
    Effect.catchIf((error) => isReason(error, "AlreadyExists"), () => Effect.void)
  )

/**
 * Flushes a directory's entries (a file created or renamed in it) to disk.
 * Opening a directory read-only and fsyncing it is how POSIX does this;
 * Windows cannot open a directory, and has no use for it.
 */
export const syncDirectory = (fs: FileSystem.FileSystem, path: string) =>
  process.platform === "win32"
    ? Effect.void
    : Effect.scoped(Effect.flatMap(fs.open(path, { flag: "r" }), (directory) => directory.sync))

/** A stable identity of a file's current content, as far as appends and renames go. */
export const fingerprint = (info: FileSystem.File.Info): string =>
  `${info.size}:${Option.getOrElse(info.ino, () => "-")}:${
    Option.match(info.mtime, { onNone: () => "-", onSome: (date) => date.getTime() })
  }`

/** The identity of a file (its inode), for telling a rewritten file from an appended one. */
export const fileIdentity = (info: FileSystem.File.Info): string => String(Option.getOrElse(info.ino, () => "-"))

/**
 * Writes a new private file (0600) that must not exist, optionally fsynced.
 * Returns the new file's info.
 */
export const writeNewFile = (
  fs: FileSystem.FileSystem,
  path: string,
  data: Uint8Array,
  fsync: boolean
) =>
  Effect.scoped(Effect.gen(function*() {
    const file = yield* fs.open(path, { flag: "wx", mode: FILE_MODE })
    yield* file.writeAll(data)
    if (fsync) yield* file.sync
    const info = yield* file.stat
    yield* ensureMode(fs, path, info, FILE_MODE)
    return info
  }))

/**
 * Replaces `target` with `data` atomically: written to `temporary` (under the
 * same file system), fsynced, renamed over `target`, then the directory of
 * `target` fsynced so the rename itself survives a crash. A reader sees the
 * old file or the new one, never a mix. Without `fsync` only the rename's
 * atomicity remains (for caches). The temporary file is removed on failure.
 */
export const replaceFile = (
  fs: FileSystem.FileSystem,
  options: {
    readonly temporary: string
    readonly target: string
    readonly targetDirectory: string
    readonly data: Uint8Array
    readonly fsync: boolean
  }
) =>
  Effect.gen(function*() {
    const info = yield* writeNewFile(fs, options.temporary, options.data, options.fsync)
    yield* fs.rename(options.temporary, options.target)
    if (options.fsync) yield* syncDirectory(fs, options.targetDirectory)
    return info
  }).pipe(
    Effect.onError(() => Effect.ignore(fs.remove(options.temporary, { force: true })))
  )

/** Reads `length` bytes of an open file from `position` (fewer at its end). */
export const readRange = (file: FileSystem.File, position: number, length: number) =>
  Effect.gen(function*() {
    const buffer = Buffer.allocUnsafe(length)
    let filled = 0
    while (filled < length) {
      const read = yield* file.read(buffer.subarray(filled), { position: BigInt(position + filled) })
      if (read === 0) break
      filled += read
    }
    return filled === length ? buffer : buffer.subarray(0, filled)
  })

/** Reads a whole open file whose size is `size`. */
export const readWhole = (file: FileSystem.File, size: number) => readRange(file, 0, size)
