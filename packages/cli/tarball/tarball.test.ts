// Installable like any npm package (issue 12): pack both packages (their
// prepack builds dist/), install the tarballs with npm into a fresh project
// outside the workspace, and run there, on Node 24 and from dist/, the
// README's opencode and facade snippets verbatim and the `session-store` bin.
// One pack and one install, shared by every assertion below.
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { delimiter, dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { opencodeJson, runProgram, snippet } from "../../session-store/test/fixtures/readmeSnippets.ts"

const run = promisify(execFile)
const packages = fileURLToPath(new URL("../../", import.meta.url))
const root = mkdtempSync(join(tmpdir(), "session-store-tarball-"))
const packs = join(root, "packs")
const app = join(root, "app")
// The pinned Node 24 runs the test; `#!/usr/bin/env node` scripts (npx, npm, the bin) find it first too.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}`, NODE_OPTIONS: "" }

beforeAll(async () => {
  mkdirSync(packs)
  mkdirSync(app)
  // The cli first: its prepack builds the core's dist/ too, which the cli's build compiles against.
  for (const name of ["cli", "session-store"]) {
    await run("npx", ["-y", "pnpm@10.34.9", "pack", "--pack-destination", packs], {
      cwd: join(packages, name),
      env,
      maxBuffer: 16 * 1024 * 1024
    })
  }
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }, null, 2))
  const tarballs = readdirSync(packs).sort().map((file) => join(packs, file))
  await run("npm", ["install", "--no-audit", "--no-fund", ...tarballs], { cwd: app, env, maxBuffer: 16 * 1024 * 1024 })
  writeFileSync(join(app, "opencode.json"), JSON.stringify(opencodeJson))
}, 420_000)

afterAll(() => rmSync(root, { recursive: true, force: true }))

describe("the packed packages, installed with npm outside the workspace", () => {
  it("ship dist/ (JS, declarations, source maps) and point exports, types and bin at it", () => {
    const installed = (name: string) => join(app, "node_modules", "@session-store", name)
    const core = JSON.parse(readFileSync(join(installed("core"), "package.json"), "utf8"))
    expect(core.exports["."]).toMatchObject({ types: "./dist/index.d.ts", import: "./dist/index.js" })
    expect(core.engines.node).toBe(">=22.19")
    const files = readdirSync(join(installed("core"), "dist"))
    expect(files).toEqual(expect.arrayContaining(["index.js", "index.d.ts", "index.js.map", "index.d.ts.map"]))
    const cli = JSON.parse(readFileSync(join(installed("cli"), "package.json"), "utf8"))
    expect(cli.bin).toStrictEqual({ "session-store": "./dist/bin.js" })
    expect(cli.dependencies["@session-store/core"]).toBe("0.1.0")
  })

  it("run the README's opencode snippet: it stores, reads back and stops on SIGTERM", async () => {
    const file = join(app, "opencode.ts")
    writeFileSync(file, snippet("Using it in opencode"))
    const result = await runProgram({ node: process.execPath, file, cwd: app, untilStdout: "Fix the build" })
    expect(result).toMatchObject({ code: 0, stdout: "Fix the build\n", stderr: "" })
  }, 60_000)

  it("run the README's facade snippet: it stores, reads back and exits by itself", async () => {
    const file = join(app, "facade.ts")
    writeFileSync(file, snippet("The compatibility facade"))
    const result = await runProgram({ node: process.execPath, file, cwd: app })
    expect(result).toMatchObject({ code: 0, stdout: "Fix the build\nundefined\n", stderr: "" })
  }, 60_000)

  it("install the session-store command: npx session-store inspect lists what the snippets stored", async () => {
    const bin = join(app, "node_modules", ".bin", "session-store")
    const version = await run(bin, ["--version"], { cwd: app, env })
    expect(version.stdout).toContain("0.1.0")
    const listing = await run("npx", ["--no-install", "session-store", "inspect", ".opencode/opencode.db"], { cwd: app, env })
    expect(listing.stdout).toMatch(/^ses_01J9\s+Fix the build\s+0/m)
    expect(listing.stdout).toContain(`1 sessions, 0 messages`)
  }, 60_000)
})
