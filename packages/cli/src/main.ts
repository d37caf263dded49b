/**
 * The `session-store` command, built with `effect/cli`: the root with its
 * subcommands (each in `command/`, `serve` in `serve/`), how usage errors are
 * presented, and the entry bin.ts calls.
 *
 * @example
 * ```ts
 * import { NodeRuntime, NodeServices } from "@effect/platform-node"
 * import { Command } from "effect/cli"
 * import { command } from "./main.ts"
 *
 * command.pipe(Command.run({ version: "0.1.0" }), Effect.provide(NodeServices.layer), NodeRuntime.runMain)
 * ```
 *
 * @since 0.1.0
 */
import { Console, Effect } from "effect"
import { CliOutput, Command } from "effect/cli"
import { benchCommand } from "./command/benchCommand.ts"
import { inspectCommand } from "./command/inspectCommand.ts"
import { soakCommand } from "./command/soakCommand.ts"
import { serveCommand } from "./serve/command.ts"

/**
 * The root command.
 *
 * @example
 * ```ts
 * Command.runWith(command, { version: "0.1.0" })(["soak", "--operations", "1000"])
 * ```
 */
export const command = Command.make("session-store").pipe(
  Command.withDescription("A bounded, persistent-backed session store for opencode: soak, bench and inspect it"),
  Command.withSubcommands([soakCommand, benchCommand, inspectCommand, serveCommand])
)

/** The version printed by `--version`. */
export const version = "0.1.0"

/**
 * Usage errors print the error and a one-line hint, not the whole help (which
 * `--help` prints). Help and `--version` are presented as effect's CLI does.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(CliOutput.layerPresenter(presenter)))
 * ```
 */
export const presenter: CliOutput.Presenter = {
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.gen(function*() {
        const formatter = yield* CliOutput.Formatter
        yield* Console.error(formatter.formatErrors(event.errors))
        yield* Console.error(`Run "${event.commandPath.join(" ")} --help" for usage.`)
      })
      : CliOutput.defaultPresenter.present(event)
}

/**
 * Runs the command on `args` (the arguments after the script), as bin.ts
 * does: a leading `--` (as in `pnpm start -- --json`, the npm habit) is
 * dropped, and usage errors print through {@link presenter}.
 *
 * @example
 * ```ts
 * runCli(["--", "soak", "--json"]) // same as runCli(["soak", "--json"])
 * ```
 */
export const runCli = (args: ReadonlyArray<string>) =>
  Command.runWith(command, { version })(withoutLeadingSeparator(args)).pipe(
    Effect.provide(CliOutput.layerPresenter(presenter))
  )

/**
 * `args` without the `--` a package manager's habit puts before the user's
 * arguments: first, or right after the subcommand (`pnpm start -- --json`
 * runs `bin.ts soak -- --json`). A `--` anywhere else keeps its meaning (what
 * follows is positional), and so does a second `--`.
 *
 * @example
 * ```ts
 * withoutLeadingSeparator(["soak", "--", "--json"]) // ["soak", "--json"]
 * ```
 */
export const withoutLeadingSeparator = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (args[0] === "--") return args.slice(1)
  if (args[1] === "--" && subcommands.includes(args[0] ?? "")) return [args[0]!, ...args.slice(2)]
  return args
}

const subcommands: ReadonlyArray<string> = ["soak", "bench", "inspect", "serve"]
