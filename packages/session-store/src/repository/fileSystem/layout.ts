import { createHash } from "node:crypto"
import type { Path } from "effect/Path"

/**
 * Where the file-system repository keeps things under its directory:
 *
 * ```
 * <directory>/               0700
 *   format.json              0600  {"format":"session-store/file-system","version":1}
 *   sessions/                0700
 *     <name>/                0700  name = sessionDirectoryName(session id)
 *       info.json            0600  the SessionInfo, replaced atomically
 *       messages.jsonl       0600  append-only log of message records
 *       summary.json         0600  cached counts for listings (a cache, checked before use)
 *   tmp/                     0700  temporary files, staged sessions, removed sessions;
 *                                  emptied when the repository opens
 * ```
 */
export const FORMAT = { format: "session-store/file-system", version: 1 } as const

/** True when `text` is the format marker this version writes and reads. */
export const isFormatMarker = (text: string): boolean => {
  try {
    const value = JSON.parse(text) as { format?: unknown; version?: unknown }
    return value.format === FORMAT.format && value.version === FORMAT.version
  } catch {
    return false
  }
}

export const DIRECTORY_MODE = 0o700
export const FILE_MODE = 0o600

export const FORMAT_FILE = "format.json"
export const SESSIONS = "sessions"
export const TMP = "tmp"
export const INFO_FILE = "info.json"
export const LOG_FILE = "messages.jsonl"
export const SUMMARY_FILE = "summary.json"

// Longest name we produce: well under NAME_MAX (255 bytes) on every common file system.
const MAX_NAME = 200

/**
 * The directory name of a session. Ids are already validated (no separators,
 * no control characters, not `.`/`..`), but they are not file-name safe on
 * every file system: a case-insensitive one (macOS, Windows) would merge
 * `ses_A` and `ses_a`, a normalizing one would merge two spellings of `é`, and
 * 128 non-ASCII characters exceed NAME_MAX. So the name is an injective
 * encoding that survives case folding: lowercase letters, digits, `_` and `-`
 * (and `.` after the first character) stand for themselves, an uppercase
 * letter is `^` plus its lowercase, anything else is `%XX` per UTF-8 byte (hex
 * digits always uppercase). A name that would be too long is `=` plus the
 * SHA-256 of the id. Names starting with `.` never occur, so they are free for
 * the file system's own clutter (`.DS_Store`).
 *
 * The id itself is stored in `info.json`; the name is never decoded.
 */
export const sessionDirectoryName = (id: string): string => {
  let name = ""
  const bytes = Buffer.from(id, "utf8")
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || b === 0x2d || (b === 0x2e && i > 0)) {
      name += String.fromCharCode(b)
    } else if (b >= 0x41 && b <= 0x5a) {
      name += "^" + String.fromCharCode(b + 0x20)
    } else {
      name += "%" + b.toString(16).toUpperCase().padStart(2, "0")
    }
  }
  return name.length <= MAX_NAME ? name : "=" + createHash("sha256").update(id, "utf8").digest("hex")
}

/** The paths of one session's files. */
export interface SessionPaths {
  readonly directory: string
  readonly info: string
  readonly log: string
  readonly summary: string
}

/** The paths the repository uses under `root`. */
export interface Layout {
  readonly root: string
  readonly formatFile: string
  readonly sessions: string
  readonly tmp: string
  readonly session: (id: string) => SessionPaths
  readonly sessionAt: (directoryName: string) => SessionPaths
  /** A fresh, unique path under `tmp/`. */
  readonly temporary: (label: string) => string
}

export const makeLayout = (path: Path, root: string): Layout => {
  const resolved = path.resolve(root)
  const sessions = path.join(resolved, SESSIONS)
  const tmp = path.join(resolved, TMP)
  const sessionAt = (name: string): SessionPaths => {
    const directory = path.join(sessions, name)
    return {
      directory,
      info: path.join(directory, INFO_FILE),
      log: path.join(directory, LOG_FILE),
      summary: path.join(directory, SUMMARY_FILE)
    }
  }
  let counter = 0
  return {
    root: resolved,
    formatFile: path.join(resolved, FORMAT_FILE),
    sessions,
    tmp,
    session: (id) => sessionAt(sessionDirectoryName(id)),
    sessionAt,
    temporary: (label) =>
      path.join(tmp, `${label}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`)
  }
}
