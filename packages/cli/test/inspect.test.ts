import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Console, Effect, FileSystem } from "effect"
import { Command } from "effect/cli"
import { inspectTarget } from "../src/inspect.ts"
import { command, version } from "../src/main.ts"

// What `inspect` does with an opencode.db: inspect.sqlite.test.ts.

const silent = new Proxy({} as Console.Console, { get: () => () => {} })

const runCommand = (args: ReadonlyArray<string>) =>
  Command.runWith(command, { version })(args).pipe(Effect.provideService(Console.Console, silent))

describe("inspect", () => {
  it.live("refuses a path that does not exist, without creating it", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const parent = yield* fs.makeTempDirectoryScoped()
      const missing = `${parent}/nothing-here`
      const error = yield* Effect.flip(inspectTarget(missing))
      expect(error.message).toBe(`cannot read ${missing}: it does not exist`)
      expect(yield* fs.exists(missing)).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("says in one line that a directory is not a session-store database, and leaves it alone", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const plain = yield* fs.makeTempDirectoryScoped()
      yield* fs.writeFileString(`${plain}/notes.txt`, "hello")
      const expected = `${plain} is not a session-store database (a directory, not an opencode.db file)`
      for (const verify of [false, true]) {
        const error = yield* Effect.flip(inspectTarget(plain, { verify }))
        expect(error.message).toBe(expected)
        expect(error.message).not.toContain("\n")
        const failed = yield* Effect.flip(runCommand(["inspect", plain, ...(verify ? ["--verify"] : [])]))
        expect(failed.message).toBe(expected)
      }
      expect(yield* fs.readDirectory(plain)).toStrictEqual(["notes.txt"])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))
})
