#!/usr/bin/env node
/**
 * Entry point of the `session-store` command (see main.ts for the commands
 * and the wiring of the store under test).
 *
 * @example
 * ```sh
 * node --expose-gc src/bin.ts soak --operations 20000
 * npx session-store soak --operations 20000   # installed: dist/bin.js
 * ```
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { runCli } from "./main.ts"

// The soak's heap samples are taken after a forced GC. `npx session-store`
// cannot pass --expose-gc to node, so expose it here when it is missing.
if (typeof globalThis.gc !== "function") {
  setFlagsFromString("--expose-gc")
  globalThis.gc = runInNewContext("gc")
}

runCli(process.argv.slice(2)).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
