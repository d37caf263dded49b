// The README's PostgreSQL snippet, verbatim: it builds the store's layer on this package.
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { expect, it } from "vitest"
import { Layer } from "effect"
import { snippet } from "../../session-store/test/fixtures/readmeSnippets.ts"

it("the README's PostgreSQL snippet loads and gives the store's layer", async () => {
  // Inside this package, so `@session-store/postgres` and `@session-store/core` resolve from it.
  const scratch = fileURLToPath(new URL("./.scratch/", import.meta.url))
  mkdirSync(scratch, { recursive: true })
  const file = join(scratch, "postgres-snippet.ts")
  writeFileSync(file, snippet("PostgreSQL: several machines"))
  const module = await import(pathToFileURL(file).href)
  expect(Layer.isLayer(module.StoreLive)).toBe(true)
})
