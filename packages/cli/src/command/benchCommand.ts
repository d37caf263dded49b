/**
 * `session-store bench`: runs the benchmarks, prints the table, writes
 * bench.json.
 *
 * @example
 * ```ts
 * Command.runWith(benchCommand, { version: "0.1.0" })(["--quick"])
 * ```
 *
 * @since 0.1.0
 */
import { Console, Effect, FileSystem, Path } from "effect"
import { Command, Flag } from "effect/cli"
import { renderBench, runBench } from "../bench.ts"
import { positive, resolvePath } from "./arguments.ts"

export const benchCommand = Command.make(
  "bench",
  {
    time: positive("time").pipe(
      Flag.withDescription("Time budget per task and run, in milliseconds (default 300)"),
      Flag.withDefault(300)
    ),
    runs: positive("runs").pipe(
      Flag.withDescription("Independent runs; each figure is their median, with the range (default 3)"),
      Flag.withDefault(3)
    ),
    quick: Flag.Boolean("quick").pipe(
      Flag.withDescription("Small sizes and short tasks: a smoke run of every benchmark in a few seconds"),
      Flag.withDefault(false)
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription("Where bench.json is written (default .bench)"),
      Flag.withDefault(".bench")
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print the JSON report on stdout instead of the table"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("Command.bench")(function*(flags) {
    const report = yield* runBench(
      flags.quick
        ? {
          time: Math.min(flags.time, 50),
          runs: 1,
          residentSizes: [100, 1_000],
          coldMessages: [200],
          sweepResident: 1_000,
          durable: false
        }
        : { time: flags.time, runs: flags.runs }
    )
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const out = resolvePath(path, flags.out)
    yield* fs.makeDirectory(out, { recursive: true })
    const file = path.join(out, "bench.json")
    yield* fs.writeFileString(file, `${JSON.stringify(report, null, 2)}\n`)
    yield* Console.log(flags.json ? JSON.stringify({ ...report, file }, null, 2) : `${renderBench(report)}\n\nwritten: ${file}`)
  })
).pipe(
  Command.withDescription(
    "Measure the store's hot paths beside Map, lru-cache, Effect's Cache and a naive LRU, cold loads, appends " +
      "and sweeps, each figure beside its target (figures only: it never fails on a missed target)"
  ),
  Command.withExamples([
    { command: "session-store bench", description: "The full run: 3 runs, several minutes" },
    { command: "session-store bench --quick", description: "A few seconds, small sizes" }
  ])
)
