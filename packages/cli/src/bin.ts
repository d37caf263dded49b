#!/usr/bin/env node
/**
 * Entry point of the `session-store` command (see main.ts for the commands
 * and the wiring of the store under test).
 *
 * @example
 * ```sh
 * node --expose-gc src/bin.ts soak --operations 20000
 * ```
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { command, version } from "./main.ts"

command.pipe(Command.run({ version }), Effect.provide(NodeServices.layer), NodeRuntime.runMain)
