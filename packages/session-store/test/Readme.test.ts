// Every ```ts snippet of README.md, verbatim (issue 12): the spec runs here as
// a test, the opencode wiring and the facade run as programs in a fresh
// directory, from the sources, and the metrics wiring is loaded. packages/cli/tarball/tarball.test.ts runs the
// same two programs against the packed, npm-installed packages.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { opencodeJson, readmeSnippets, runProgram, snippet } from "./fixtures/readmeSnippets.ts"

// Inside the package, so `@session-store/core` resolves to itself (and to src/ with the source condition).
const scratch = fileURLToPath(new URL("./.scratch/readme/", import.meta.url))
mkdirSync(scratch, { recursive: true })
const write = (name: string, code: string) => {
  const file = join(scratch, name)
  writeFileSync(file, code)
  return file
}

// The spec snippet registers its `it.effect` here, while this file is collected.
await import(pathToFileURL(write("spec.ts", snippet("Using it in opencode", 1))).href)
// The metrics wiring only builds layers; its OTLP exporter is the stand-in of vitest.config.ts.
const metrics = await import(pathToFileURL(write("metrics.ts", snippet("Memory: budget, pressure, events and metrics"))).href)

const cwd = mkdtempSync(join(tmpdir(), "session-store-readme-"))
afterAll(() => rmSync(cwd, { recursive: true, force: true }))
const fromSource = ["--conditions=@session-store/source"]

describe("README snippets", () => {
  // The serve snippet needs a running server: packages/cli/test/serve/e2e.test.ts runs it against one;
  // packages/postgres/test/Readme.test.ts loads the PostgreSQL one.
  it("are the four this file runs (the opencode wiring, its spec, the facade, the metrics wiring) and the serve client", () => {
    expect(readmeSnippets().map((s) => s.heading)).toStrictEqual([
      "Using it in opencode",
      "Using it in opencode",
      "The compatibility facade",
      "Memory: budget, pressure, events and metrics",
      "PostgreSQL: several machines",
      "`session-store serve --database <path>`"
    ])
  })

  it("the metrics wiring loads", () => {
    expect(metrics).toBeDefined()
  })

  it("the opencode snippet stores, reads back, and stops on SIGTERM", async () => {
    writeFileSync(join(cwd, "opencode.json"), JSON.stringify(opencodeJson))
    const file = write("opencode.ts", snippet("Using it in opencode"))
    for (const round of ["first run", "second run, the session is already stored"]) {
      const run = await runProgram({ node: process.execPath, file, cwd, args: fromSource, untilStdout: "Fix the build" })
      expect({ round, ...run }).toMatchObject({ round, code: 0, stdout: "Fix the build\n", stderr: "" })
    }
  }, 60_000)

  it("the facade snippet stores, reads back and exits by itself", async () => {
    const file = write("facade.ts", snippet("The compatibility facade"))
    const run = await runProgram({ node: process.execPath, file, cwd, args: fromSource })
    expect(run).toMatchObject({ code: 0, stdout: "Fix the build\nundefined\n", stderr: "" })
  }, 60_000)
})
