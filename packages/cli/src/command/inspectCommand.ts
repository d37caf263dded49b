/**
 * `session-store inspect <opencode.db> [--verify]`: read-only.
 *
 * @example
 * ```ts
 * Command.runWith(inspectCommand, { version: "0.1.0" })([".opencode/opencode.db", "--verify"])
 * ```
 *
 * @since 0.1.0
 */
import { Console, Effect, Path } from "effect"
import { Argument, CliError, Command, Flag } from "effect/cli"
import { inspectTarget, renderDatabase } from "../inspect.ts"
import { resolvePath } from "./arguments.ts"

export const inspectCommand = Command.make(
  "inspect",
  {
    target: Argument.String("opencode.db").pipe(
      Argument.withDescription("An opencode.db (SQLite)")
    ),
    verify: Flag.Boolean("verify").pipe(
      Flag.withDescription(
        "Check everything (integrity_check and every row decoded); print each problem and exit 1 if any"
      ),
      Flag.withDefault(false)
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print JSON instead of a table"), Flag.withDefault(false))
  },
  Effect.fn("Command.inspect")(function*({ json, target: given, verify }) {
    const target = resolvePath(yield* Path.Path, given)
    const found = yield* inspectTarget(target, { verify })
    yield* Console.log(
      json ? JSON.stringify(found.inspection, null, 2) : renderDatabase(found.inspection)
    )
    const problems = found.inspection.problems?.length ?? 0
    const damaged = found.inspection.sessions.filter((s) => !s.healthy).length
    if (problems === 0 && damaged > 0) {
      return yield* new CliError.UserError({
        cause: found.inspection,
        userMessage: `${damaged} damaged session${damaged === 1 ? "" : "s"} in ${target} (--verify lists every problem)`
      })
    }
    if (problems > 0) {
      return yield* new CliError.UserError({
        cause: found.inspection.problems,
        userMessage: `${problems} problem${problems === 1 ? "" : "s"} found in ${target}`
      })
    }
  })
).pipe(
  Command.withDescription(
    "List the sessions of an opencode.db; with --verify, check every row. Never writes."
  ),
  Command.withExamples([
    { command: "session-store inspect ~/.local/share/opencode/opencode.db", description: "List sessions" },
    { command: "session-store inspect .opencode/opencode.db --verify", description: "Check a database for damage" }
  ])
)
