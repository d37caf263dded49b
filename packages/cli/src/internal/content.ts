/**
 * Deterministic opencode-shaped records: session infos and messages (info +
 * parts, user and assistant, text and tool parts with tool output). Every
 * record is a pure function of the seed and a small reference, so the soak can
 * regenerate exactly what it wrote instead of keeping a second copy in memory
 * (which would distort the heap figures it measures).
 */
import { makeRng, type Rng, streamKey } from "./random.ts"

/**
 * What identifies one written version of a message. The soak keeps these, a
 * few numbers per message, as its model of acknowledged writes.
 */
export interface MessageRef {
  readonly session: number
  readonly index: number
  readonly role: "user" | "assistant"
  readonly created: number
  /** Index of the user message an assistant message answers (unused for users). */
  readonly parent: number
  /** Assistant messages stream: revision r carries parts 0..r; the last revision is complete. */
  readonly revision: number
}

/** The wire shape written to a store (plain JSON, as opencode sends it). */
export interface WireMessage {
  readonly info: Record<string, unknown> & { readonly id: string; readonly sessionID: string; readonly role: string }
  readonly parts: ReadonlyArray<Record<string, unknown>>
}

/** Session info as written. */
export type WireSession = Record<string, unknown> & {
  readonly id: string
  readonly title: string
  readonly time: { readonly created: number; readonly updated: number }
}

/**
 * What `updateSession` calls have changed in a session's info since it was
 * created, which is all the soak keeps to regenerate it.
 */
export interface SessionEdit {
  /** `time.updated`. */
  readonly updated: number
  /** Revision of the title: 0 is the one it was created with, 1, 2, … the renames (see `Content.title`). */
  readonly title: number
}

const pad = (n: number, width: number) => n.toString().padStart(width, "0")

/** `ses_000042`: sortable, and valid for the store's id rules. */
export const sessionIdOf = (session: number): string => `ses_${pad(session, 6)}`

/** `msg_000042_00017`. */
export const messageIdOf = (session: number, index: number): string => `msg_${pad(session, 6)}_${pad(index, 5)}`

const WORDS = [
  "const", "let", "return", "await", "async", "function", "import", "export", "from", "type", "interface",
  "Effect", "Layer", "Schema", "session", "message", "store", "cache", "error", "value", "result", "option",
  "the", "a", "of", "to", "in", "and", "is", "for", "this", "that", "with", "when", "not", "we", "it",
  "file", "test", "build", "update", "read", "write", "path", "src/index.ts", "packages/core", "npm", "pnpm",
  "fix", "bug", "change", "refactor", "check", "run", "passes", "fails", "line", "column", "expected",
  "received", "undefined", "null", "true", "false", "0", "1", "42", "200", "{", "}", "(", ")", "=>", "=",
  "+", "-", "*", "//", "TODO", "Promise", "Map", "Set", "Array", "string", "number", "boolean"
] as const

const TOOLS = ["bash", "read", "edit", "grep", "glob", "write", "list", "webfetch"] as const

// Words joined by one generator call each; `Array.join` yields a flat string,
// so the heap holds what a real payload of this length holds.
const text = (rng: Rng, length: number, lineEvery = 0): string => {
  const words: Array<string> = []
  let size = 0
  let sinceBreak = 0
  while (size < length) {
    const word = rng.pick(WORDS)
    const separator = lineEvery > 0 && ++sinceBreak >= lineEvery ? "\n" : " "
    if (separator === "\n") sinceBreak = 0
    words.push(word, separator)
    size += word.length + 1
  }
  return words.join("").slice(0, length)
}

const sizeOf = (rng: Rng, median: number, sigma: number, max: number) =>
  Math.max(1, Math.min(max, Math.round(rng.logNormal(median, sigma))))

/** Largest tool output, in characters (tool outputs are capped in opencode too). */
export const MAX_TOOL_OUTPUT = 50_000

// Sub-stream tags, so the streams of one message never overlap.
const SHAPE = 0x7fff_ffff
const INFO = 0x7fff_fffe
const TITLE = 0x7fff_fffd

/**
 * The content generator for one seed.
 *
 * @example
 * ```ts
 * const content = makeContent(42)
 * const first = content.message({ session: 1, index: 0, role: "user", created: 0, parent: 0, revision: 0 })
 * ```
 */
export interface Content {
  /** The info a session is created with, or, given `edit`, the info it has after those updates. */
  readonly sessionInfo: (session: number, created: number, edit?: SessionEdit) => WireSession
  /** Revision `revision` of a session's title (0: as created). */
  readonly title: (session: number, revision: number) => string
  /** How many revisions an assistant message streams through (its last one is complete). */
  readonly revisions: (session: number, index: number) => number
  readonly message: (ref: MessageRef) => WireMessage
}

export const makeContent = (seed: number): Content => {
  const stream = (...parts: ReadonlyArray<number>) => makeRng(streamKey(seed, ...parts))

  const sessionInfo = (session: number, created: number, edit?: SessionEdit): WireSession => {
    const rng = stream(session, INFO)
    const info = {
      id: sessionIdOf(session),
      projectID: `prj_${pad(rng.int(1, 9), 2)}`,
      directory: `/home/dev/project-${rng.int(1, 9)}`,
      title: `${text(rng, rng.int(12, 60))}`,
      version: "0.15.8",
      time: { created, updated: created }
    }
    if (edit === undefined) return info
    return {
      ...info,
      title: edit.title === 0 ? info.title : title(session, edit.title),
      time: { created, updated: edit.updated }
    }
  }

  // Renames draw from their own stream, so the info a session is created with
  // stays what it was before sessions were ever renamed.
  const title = (session: number, revision: number): string => {
    if (revision === 0) return sessionInfo(session, 0).title
    const rng = stream(session, TITLE, revision)
    return text(rng, rng.int(12, 60))
  }

  const revisions = (session: number, index: number): number => {
    const rng = stream(session, index, SHAPE)
    // step-start, 1..n text/tool parts, step-finish
    return 2 + 1 + Math.min(12, Math.floor(rng.exponential(2)))
  }

  const userMessage = (ref: MessageRef): WireMessage => {
    const id = messageIdOf(ref.session, ref.index)
    const sessionID = sessionIdOf(ref.session)
    const rng = stream(ref.session, ref.index, 0)
    return {
      info: {
        id,
        sessionID,
        role: "user",
        time: { created: ref.created },
        agent: "build",
        model: { providerID: "anthropic", modelID: "claude-sonnet-4-5" }
      },
      parts: [{
        id: `prt_${id.slice(4)}_00`,
        sessionID,
        messageID: id,
        type: "text",
        text: text(rng, sizeOf(rng, 350, 1.0, 16_000))
      }]
    }
  }

  const assistantPart = (ref: MessageRef, part: number, last: number): Record<string, unknown> => {
    const id = messageIdOf(ref.session, ref.index)
    const base = { id: `prt_${id.slice(4)}_${pad(part, 2)}`, sessionID: sessionIdOf(ref.session), messageID: id }
    const rng = stream(ref.session, ref.index, part + 1)
    if (part === 0) return { ...base, type: "step-start", snapshot: pad(rng.int(0, 0xffffff), 8) }
    if (part === last) {
      return {
        ...base,
        type: "step-finish",
        reason: "stop",
        cost: rng.int(0, 5000) / 100_000,
        tokens: { input: rng.int(100, 50_000), output: rng.int(10, 4000), reasoning: 0, cache: { read: 0, write: 0 } }
      }
    }
    if (rng.chance(0.35)) {
      return { ...base, type: "text", text: text(rng, sizeOf(rng, 500, 1.0, 8_000)) }
    }
    const start = ref.created + part * 1000
    const tool = rng.pick(TOOLS)
    return {
      ...base,
      type: "tool",
      callID: `toolu_${pad(ref.session, 6)}${pad(ref.index, 5)}${pad(part, 2)}`,
      tool,
      state: {
        status: "completed",
        input: { command: text(rng, rng.int(8, 80)) },
        output: text(rng, sizeOf(rng, 1200, 1.3, MAX_TOOL_OUTPUT), 12),
        title: `${tool} ${text(rng, rng.int(5, 30))}`,
        metadata: { exit: 0, truncated: false },
        time: { start, end: start + rng.int(5, 5000) }
      }
    }
  }

  // Parts already made for messages being streamed: each revision adds one
  // part, so revision r reuses the r parts of revision r - 1 (parts are never
  // mutated, so sharing them is safe). A few messages stream at once.
  const streaming = new Map<string, ReadonlyArray<Record<string, unknown>>>()

  const assistantMessage = (ref: MessageRef): WireMessage => {
    const id = messageIdOf(ref.session, ref.index)
    const last = revisions(ref.session, ref.index) - 1
    const shown = Math.min(ref.revision, last)
    const known = streaming.get(id) ?? []
    const parts = known.slice(0, shown + 1)
    for (let part = parts.length; part <= shown; part++) parts.push(assistantPart(ref, part, last))
    const done = shown === last
    streaming.delete(id)
    if (!done) {
      streaming.set(id, parts)
      if (streaming.size > 16) streaming.delete(streaming.keys().next().value!)
    }
    return {
      info: {
        id,
        sessionID: sessionIdOf(ref.session),
        role: "assistant",
        time: done ? { created: ref.created, completed: ref.created + (last + 1) * 1000 } : { created: ref.created },
        parentID: messageIdOf(ref.session, ref.parent),
        modelID: "claude-sonnet-4-5",
        providerID: "anthropic",
        mode: "build",
        path: { cwd: "/home/dev/project", root: "/home/dev/project" },
        cost: 0,
        tokens: { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } }
      },
      parts
    }
  }

  return {
    sessionInfo,
    title,
    revisions,
    message: (ref) => (ref.role === "user" ? userMessage(ref) : assistantMessage(ref))
  }
}
