import { DatabaseSync } from "node:sqlite"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { SessionStore } from "@session-store/core/SessionStore"
import { Console, Effect, FileSystem } from "effect"
import { Command } from "effect/cli"
import { inspectDatabase, renderDatabase } from "../src/inspect.ts"
import { command, version } from "../src/main.ts"
import { runAgainst } from "../src/soak.ts"

/** An opencode.db written by the real store (a small soak run), then released. */
const populated = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = yield* fs.makeTempDirectoryScoped()
  const filename = `${directory}/opencode.db`
  const run = yield* runAgainst(
    "store",
    { seed: 4, sessions: 6, operations: 600, samples: 2, progress: false },
    SessionStore.layerSqlite({ filename, synchronous: "NORMAL" })
  )
  return { directory, filename, run }
})

/** Every file of `directory` with its size and modification time. */
const snapshot = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const seen: Array<string> = []
    for (const name of (yield* fs.readDirectory(directory)).sort()) {
      const info = yield* fs.stat(`${directory}/${name}`)
      seen.push(`${name} ${info.size} ${info.mtime._tag === "Some" ? info.mtime.value.getTime() : "-"}`)
    }
    return seen
  })

const silent = new Proxy({} as Console.Console, { get: () => () => {} })
const runCommand = (args: ReadonlyArray<string>) =>
  Command.runWith(command, { version })(args).pipe(Effect.provideService(Console.Console, silent))

describe("inspect on an opencode.db", () => {
  it.live("lists what the store wrote, verifies it clean (integrity_check and every row decoded), and writes nothing", () =>
    Effect.gen(function*() {
      const { directory, filename, run } = yield* populated
      const before = yield* snapshot(directory)
      const inspection = yield* inspectDatabase(filename, { verify: true })
      expect(inspection.problems).toStrictEqual([])
      expect(inspection.sessions.length).toBe(run.verification.sessions)
      expect(inspection.sessions.every((s) => s.healthy)).toBe(true)
      expect(inspection.sessions.reduce((n, s) => n + s.messageCount, 0)).toBe(run.verification.messages)
      const text = renderDatabase(inspection)
      expect(text).toContain("verify: integrity_check ok, every row decodes: no problems found")
      yield* runCommand(["inspect", filename, "--verify"])
      // The database file is exactly as it was. A read-only connection to a WAL database needs SQLite's
      // shared-memory index, so SQLite may leave its (empty) -wal and -shm side files; nothing else appears.
      const after = yield* snapshot(directory)
      expect(after.filter((line) => line.startsWith("opencode.db "))).toStrictEqual(before)
      expect(after.filter((line) => !line.startsWith("opencode.db ")).map((line) => line.split(" ").slice(0, 2).join(" ")))
        .toSatisfy((extra: Array<string>) => extra.every((l) => l === "opencode.db-wal 0" || l.startsWith("opencode.db-shm ")))
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("names the table and the id of a hand-edited row, marks its session, and the command fails", () =>
    Effect.gen(function*() {
      const { filename } = yield* populated
      const db = new DatabaseSync(filename)
      const { id, session_id } = db.prepare("SELECT id, session_id FROM message ORDER BY id LIMIT 1").get() as {
        id: string
        session_id: string
      }
      db.prepare("UPDATE message SET data = '{\"role\": \"user\", truncated' WHERE id = ?").run(id)
      db.close()
      const inspection = yield* inspectDatabase(filename, { verify: true })
      expect(inspection.problems).toHaveLength(1)
      expect(inspection.problems![0]).toMatchObject({ table: "message", id, sessionId: session_id })
      expect(inspection.sessions.filter((s) => !s.healthy).map((s) => s.id)).toStrictEqual([session_id])
      expect(inspection.sessions.filter((s) => s.healthy).length).toBe(inspection.sessions.length - 1)
      expect(renderDatabase(inspection)).toContain(`problem: message ${id}: data:`)
      const error = yield* Effect.flip(runCommand(["inspect", filename, "--verify"]))
      expect(error.message).toBe(`1 problem found in ${filename}`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)

  it.live("says in one line that a file that is not SQLite is not a session-store database, and leaves it alone", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const directory = yield* fs.makeTempDirectoryScoped()
      const file = `${directory}/notes.txt`
      yield* fs.writeFileString(file, "these are my notes, not a database\n".repeat(100))
      const error = yield* Effect.flip(runCommand(["inspect", file, "--verify"]))
      expect(error.message).toMatch(new RegExp(`^${file} is not a session-store database \\(.*\\)$`))
      expect(error.message.includes("\n")).toBe(false)
      expect(yield* fs.readFileString(file)).toBe("these are my notes, not a database\n".repeat(100))
      expect(yield* fs.readDirectory(directory)).toStrictEqual(["notes.txt"])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
