import { DatabaseSync } from "node:sqlite"
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, FileSystem } from "effect"
import { Command } from "effect/cli"
import { TestConsole } from "effect/testing"
import { invocationDirectory, parseByteSize } from "../src/command/arguments.ts"
import { command, runCli, version, withoutLeadingSeparator } from "../src/main.ts"

/** Runs the command line with `TestConsole` as the console: what it prints is kept, not written. */
const run = (args: ReadonlyArray<string>) =>
  Command.runWith(command, { version })(args).pipe(Effect.provide(NodeServices.layer))

/** What the command printed on stdout (`Console.log`), one call a line. */
const stdout = Effect.map(TestConsole.logLines, (lines) => lines.map(String).join("\n"))

/** What the command printed on stdout and stderr (`Console.log` and `Console.error`). */
const printed = Effect.map(
  Effect.all([TestConsole.logLines, TestConsole.errorLines]),
  ([log, error]) => [...log, ...error].map(String).join("\n")
)

/** The parse errors a command line fails with, as `tag: message` lines, after checking the user sees them. */
const parseErrors = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(run(args))
    expect(error._tag).toBe("ShowHelp")
    const errors = error._tag === "ShowHelp" ? error.errors : []
    expect(errors.length).toBeGreaterThan(0)
    const text = yield* printed
    for (const e of errors) expect(text).toContain(e.message)
    return errors.map((e) => `${e._tag}: ${e.message}`)
  }).pipe(Effect.provide(TestConsole.layer))

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
    }).pipe(Effect.scoped, Effect.provide([NodeServices.layer, TestConsole.layer])))

  it.live("runs a small soak end to end on the SQLite store (--data keeps its opencode.db) and writes its report", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const out = yield* fs.makeTempDirectoryScoped()
      const database = `${out}/opencode.db`
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
        "--json",
        "--quiet"
      ])
      const summary = JSON.parse(yield* fs.readFileString(`${out}/summary.json`))
      // --json prints the summary (and where the files are) on stdout, and nothing on stderr.
      expect(yield* TestConsole.errorLines).toEqual([])
      expect(JSON.parse(yield* stdout)).toMatchObject({ ...summary, files: { json: `${out}/summary.json` } })
      expect(summary).toMatchObject({ seed: 9, sessions: 8, operations: 600, budget: 16_000_000, passed: true })
      expect(summary.runs.store).toMatchObject({ operations: 600, lost: 0, mismatched: 0, failed: 0 })
      expect(yield* fs.exists(`${out}/report.html`)).toBe(true)
      // What the store wrote is in opencode's tables of the file.
      const db = new DatabaseSync(database, { readOnly: true })
      const [row] = db.prepare("SELECT count(*) AS n FROM message").all() as Array<{ n: number }>
      db.close()
      expect(row!.n).toBeGreaterThan(0)
    }).pipe(Effect.scoped, Effect.provide([NodeServices.layer, TestConsole.layer])), 60_000)

  // Issue 12: the rough edges a new user hits.
  const cli = (args: ReadonlyArray<string>) => runCli(args).pipe(Effect.provide(NodeServices.layer))

  it("drops the -- a package manager puts before the user's arguments (pnpm start -- --json)", () => {
    expect(withoutLeadingSeparator(["soak", "--", "--json"])).toStrictEqual(["soak", "--json"])
    expect(withoutLeadingSeparator(["--", "inspect", "dir"])).toStrictEqual(["inspect", "dir"])
    expect(withoutLeadingSeparator(["inspect", "dir", "--", "-x"])).toStrictEqual(["inspect", "dir", "--", "-x"])
  })

  it.live("accepts pnpm start -- --version and -- --help", () =>
    Effect.gen(function*() {
      yield* cli(["soak", "--", "--help"])
      expect(yield* printed).toContain("session-store soak [flags]")
      yield* cli(["--", "--version"])
      expect(yield* printed).toContain(version)
    }).pipe(Effect.provide(TestConsole.layer)))

  it.live("a usage error prints the error and a one-line hint, not the whole help", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(cli(["soak", "--operatons", "5"]))
      expect(error._tag).toBe("ShowHelp")
      const text = yield* printed
      expect(text).toContain("Unrecognized flag: --operatons")
      expect(text).toContain(`Run "session-store soak --help" for usage.`)
      expect(text).not.toContain("USAGE")
      expect(text).not.toContain("--fsync")
      expect(text.split("\n").length).toBeLessThan(10)
    }).pipe(Effect.provide(TestConsole.layer)))

  it("resolves paths from where the command was run (INIT_CWD under a package manager), else the cwd", () => {
    expect(invocationDirectory({ INIT_CWD: "/home/me/repo", npm_lifecycle_event: "start" }, "/home/me/repo/packages/cli"))
      .toBe("/home/me/repo")
    expect(invocationDirectory({}, "/somewhere")).toBe("/somewhere")
    // An INIT_CWD left in the environment outside a script does not count.
    expect(invocationDirectory({ INIT_CWD: "/stale" }, "/somewhere")).toBe("/somewhere")
  })

  it.live("--out and --data given relative land under INIT_CWD, not packages/cli", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const home = yield* fs.makeTempDirectoryScoped()
      const saved = { INIT_CWD: process.env.INIT_CWD, npm_lifecycle_event: process.env.npm_lifecycle_event }
      process.env.INIT_CWD = home
      process.env.npm_lifecycle_event = "start"
      yield* cli(["soak", "--", "--operations", "60", "--sessions", "3", "--samples", "2", "--out", "report", "--data", "data.db", "--json", "--quiet"])
        .pipe(Effect.ensuring(Effect.sync(() => Object.assign(process.env, saved))))
      for (const [key, value] of Object.entries(saved)) if (value === undefined) delete process.env[key]
      expect(yield* fs.exists(`${home}/report/summary.json`)).toBe(true)
      expect(yield* fs.exists(`${home}/data.db`)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide([NodeServices.layer, TestConsole.layer])), 60_000)
})
