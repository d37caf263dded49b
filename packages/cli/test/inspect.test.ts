import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { SessionStore } from "@session-store/core/SessionStore"
import { Console, Effect, FileSystem, Path } from "effect"
import { Command } from "effect/cli"
import { inspectDirectory, renderListing } from "../src/inspect.ts"
import { command, version } from "../src/main.ts"
import { runAgainst } from "../src/soak.ts"

/** A storage directory written by the real store: a small soak run, then released. */
const populated = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const directory = yield* fs.makeTempDirectoryScoped()
  const run = yield* runAgainst(
    "store",
    { seed: 4, sessions: 6, operations: 600, samples: 2, progress: false },
    SessionStore.layerFileSystem({ directory, fsync: false })
  )
  return { directory, run }
})

/** Every path under `root` with its size and modification time. */
const snapshot = (root: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const seen: Array<string> = []
    const walk = (dir: string): Effect.Effect<void, unknown> =>
      Effect.gen(function*() {
        for (const name of (yield* fs.readDirectory(dir)).sort()) {
          const full = path.join(dir, name)
          const info = yield* fs.stat(full)
          seen.push(`${full} ${info.type} ${info.size} ${info.mtime._tag === "Some" ? info.mtime.value.getTime() : "-"}`)
          if (info.type === "Directory") yield* walk(full)
        }
      })
    yield* walk(root)
    return seen
  })

const logOf = (directory: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const sessions = `${directory}/sessions`
    const first = (yield* fs.readDirectory(sessions)).sort()[0]!
    return `${sessions}/${first}/messages.jsonl`
  })

const silent = new Proxy({} as Console.Console, { get: () => () => {} })

const runCommand = (args: ReadonlyArray<string>) =>
  Command.runWith(command, { version })(args).pipe(Effect.provideService(Console.Console, silent))

describe("inspect", () => {
  it.live("lists what the store wrote, verifies it clean, and writes nothing", () =>
    Effect.gen(function*() {
      const { directory, run } = yield* populated
      const before = yield* snapshot(directory)
      const inspection = yield* inspectDirectory(directory, { verify: true })
      expect(inspection.problems).toStrictEqual([])
      expect(inspection.sessions).toHaveLength(run.verification.sessions)
      expect(inspection.sessions.reduce((n, s) => n + s.messageCount, 0)).toBe(run.verification.messages)
      expect(inspection.sessions.every((s) => s.bytes > 0)).toBe(true)
      const listing = renderListing(inspection)
      expect(listing).toContain(`${run.verification.sessions} sessions, ${run.verification.messages} messages`)
      expect(listing).toContain("verify: no problems found")
      expect(listing).toMatch(/^id\s+title\s+messages\s+bytes\s+last update$/m)
      yield* runCommand(["inspect", directory, "--verify"])
      expect(yield* snapshot(directory)).toStrictEqual(before)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("reports each problem of a damaged directory with its file, and the command fails", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const { directory } = yield* populated
      const healthy = (yield* inspectDirectory(directory)).sessions.length
      const log = yield* logOf(directory)
      const lines = (yield* fs.readFileString(log)).split("\n")
      yield* fs.writeFileString(log, ["{not json", ...lines.slice(1)].join("\n"))

      const inspection = yield* inspectDirectory(directory, { verify: true })
      expect(inspection.problems).toStrictEqual([{ file: log, problem: expect.stringContaining("line 1") }])
      const listing = renderListing(inspection)
      expect(listing).toContain(`file: ${log}`)
      expect(inspection.damaged).toStrictEqual([
        { directory: expect.any(String), file: log, problem: expect.stringContaining("line 1") }
      ])
      expect(listing).toContain(`DAMAGED  ${inspection.damaged[0]!.directory}: line 1`)

      const error = yield* Effect.flip(runCommand(["inspect", directory, "--verify"]))
      expect(error.message).toBe(`1 problem found in ${directory}`)
      // Without --verify, every healthy session is still listed and the damaged one is marked (issue 12).
      const plain = yield* inspectDirectory(directory)
      expect(plain.sessions).toHaveLength(healthy - 1)
      expect(renderListing(plain)).toContain(`${healthy - 1} sessions`)
      expect(renderListing(plain)).toContain("1 damaged session not listed")
      const failed = yield* Effect.flip(runCommand(["inspect", directory]))
      expect(failed.message).toBe(`1 damaged session in ${directory} (--verify lists every problem)`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 30_000)

  it.live("refuses a directory that does not exist, without creating it", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const parent = yield* fs.makeTempDirectoryScoped()
      const missing = `${parent}/nothing-here`
      const error = yield* Effect.flip(inspectDirectory(missing))
      expect(error.message).toContain(`cannot read ${missing}`)
      expect(yield* fs.exists(missing)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("says in one line that a directory is not a store", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const plain = yield* fs.makeTempDirectoryScoped()
      yield* fs.writeFileString(`${plain}/notes.txt`, "hello")
      for (const args of [[plain], [plain, "--verify"]]) {
        const error = yield* Effect.flip(inspectDirectory(args[0]!, { verify: args.length > 1 }))
        expect(error.message).toBe(`${plain} is not a session-store directory (no sessions/ folder, no format marker)`)
        expect(error.message).not.toContain("\n")
      }
      expect(yield* fs.readDirectory(plain)).toStrictEqual(["notes.txt"])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
