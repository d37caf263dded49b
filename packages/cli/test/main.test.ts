import { DatabaseSync } from "node:sqlite"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Console, Effect, FileSystem } from "effect"
import { Command } from "effect/cli"
import { command, parseByteSize, version } from "../src/main.ts"

/** A console that keeps what the command prints, so the tests can read it. */
const capture = () => {
  const lines: Array<string> = []
  const keep = (...args: ReadonlyArray<unknown>) => {
    lines.push(args.map(String).join(" "))
  }
  const console = new Proxy({} as Console.Console, {
    get: (_, name) => (name === "log" || name === "error" || name === "info" || name === "warn" ? keep : () => {})
  })
  return { console, text: () => lines.join("\n") }
}

const run = (args: ReadonlyArray<string>, output = capture()) =>
  Command.runWith(command, { version })(args).pipe(
    Effect.provideService(Console.Console, output.console),
    Effect.provide(NodeServices.layer)
  )

/** The parse errors a command line fails with, as `tag: message` lines, after checking the user sees them. */
const parseErrors = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const output = capture()
    const error = yield* Effect.flip(run(args, output))
    expect(error._tag).toBe("ShowHelp")
    const errors = error._tag === "ShowHelp" ? error.errors : []
    expect(errors.length).toBeGreaterThan(0)
    for (const e of errors) expect(output.text()).toContain(e.message)
    return errors.map((e) => `${e._tag}: ${e.message}`)
  })

describe("parseByteSize", () => {
  it("reads SI and IEC units and bare byte counts", () => {
    expect(parseByteSize("64MB")).toBe(64_000_000)
    expect(parseByteSize("1.5 GB")).toBe(1_500_000_000)
    expect(parseByteSize("512MiB")).toBe(512 * 1024 * 1024)
    expect(parseByteSize("4096")).toBe(4096)
  })

  it("rejects what is not a positive size", () => {
    for (const bad of ["lots", "64mb", "-1MB", "0", "1e6", ""]) expect(() => parseByteSize(bad)).toThrow()
  })
})

describe("session-store command", () => {
  it.live("names the flag and the expected format for a bad --budget", () =>
    Effect.gen(function*() {
      const errors = yield* parseErrors(["soak", "--budget", "lots"])
      expect(errors.join("\n")).toMatch(/--budget.*unsupported syntax "lots".*expected e\.g\. 64MB/)
    }))

  it.live("rejects non-positive counts and non-numbers", () =>
    Effect.gen(function*() {
      expect((yield* parseErrors(["soak", "--operations", "0"])).join("\n")).toContain(
        "--operations must be a positive integer, got 0"
      )
      expect((yield* parseErrors(["soak", "--sessions", "many"])).join("\n")).toContain("many")
    }))

  it.live("rejects unknown flags and subcommands, and a missing directory argument", () =>
    Effect.gen(function*() {
      expect((yield* parseErrors(["soak", "--frobnicate"])).join("\n")).toContain("frobnicate")
      expect((yield* parseErrors(["frobnicate"])).join("\n")).toMatch(/UnknownSubcommand/)
      expect((yield* parseErrors(["inspect"])).join("\n")).toMatch(/MissingArgument/)
    }))

  it.live("refuses to soak into a --data database file that is not empty", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const data = `${yield* fs.makeTempDirectoryScoped()}/opencode.db`
      yield* fs.writeFileString(data, "x")
      const error = yield* Effect.flip(run(["soak", "--operations", "10", "--data", data]))
      expect(error.message).toBe(`--data ${data} is not empty: give a new file`)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)))

  it.live("runs a small soak end to end on the SQLite store (--data keeps its opencode.db) and writes its report", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const out = yield* fs.makeTempDirectoryScoped()
      const database = `${out}/opencode.db`
      const output = capture()
      yield* run([
        "soak",
        "--data",
        database,
        "--operations",
        "600",
        "--sessions",
        "8",
        "--samples",
        "3",
        "--budget",
        "16MB",
        "--seed",
        "9",
        "--out",
        out,
        "--json"
      ], output)
      const summary = JSON.parse(yield* fs.readFileString(`${out}/summary.json`))
      // --json prints the summary (and where the files are) on stdout.
      expect(JSON.parse(output.text())).toMatchObject({ ...summary, files: { json: `${out}/summary.json` } })
      expect(summary).toMatchObject({ seed: 9, sessions: 8, operations: 600, budget: 16_000_000, passed: true })
      expect(summary.runs.store).toMatchObject({ operations: 600, lost: 0, mismatched: 0, failed: 0 })
      expect(yield* fs.exists(`${out}/report.html`)).toBe(true)
      // What the store wrote is in opencode's tables of the file.
      const db = new DatabaseSync(database, { readOnly: true })
      const [row] = db.prepare("SELECT count(*) AS n FROM message").all() as Array<{ n: number }>
      db.close()
      expect(row!.n).toBeGreaterThan(0)
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)
})
