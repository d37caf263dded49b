/**
 * The `session-store` command: `soak`, `bench` and `inspect`, built with
 * `effect/cli`. This is also the one place where the store under test is
 * wired: {@link soakStoreLayer} decides which `SessionStore` layer the soak
 * measures and how it is configured.
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
import { SessionStore } from "@session-store/core/SessionStore"
import { ByteSize, ConfigProvider, Console, Effect, FileSystem, Layer, Option, Path } from "effect"
import { Argument, CliError, CliOutput, Command, Flag } from "effect/cli"
import { layerBaseline, layerOpencodeToday } from "./baseline.ts"
import { renderBench, runBench } from "./bench.ts"
import { inspectTarget, renderDatabase } from "./inspect.ts"
import { renderTable, summarize, writeReport } from "./report.ts"
import { makeServeCommand } from "./serve/command.ts"
import { soak } from "./soak.ts"

/**
 * Where relative paths given to the command (`--out`, `--data`, `inspect`'s
 * directory) and the default output folders resolve from: the directory the
 * user ran the command in. Under `pnpm start` / `npm run` the process runs in
 * packages/cli, and the package manager passes that directory as `INIT_CWD`.
 *
 * @example
 * ```ts
 * invocationDirectory({ INIT_CWD: "/home/me/repo", npm_lifecycle_event: "start" }, "/home/me/repo/packages/cli") // "/home/me/repo"
 * ```
 */
export const invocationDirectory = (
  env: Record<string, string | undefined> = process.env,
  cwd: string = process.cwd()
): string =>
  env.npm_lifecycle_event !== undefined && env.INIT_CWD !== undefined && env.INIT_CWD !== "" ? env.INIT_CWD : cwd

const resolvePath = (path: Path.Path, file: string) => path.resolve(invocationDirectory(), file)

/**
 * Defaults of `soak`. How long the default run takes depends on the machine:
 * its single-core speed, its free cores (the GC and the file system's threads
 * run beside the workload) and what else is running; the two runs of 80,000
 * operations each usually take between under a minute and a few minutes.
 *
 * @example
 * ```ts
 * const quick = { ...soakDefaults, operations: 10_000 }
 * ```
 */
export const soakDefaults = {
  seed: 1,
  sessions: 320,
  operations: 80_000,
  budget: "16MB",
  out: ".soak",
  samples: 50
} as const

/**
 * Parses a byte size: `64MB`, `1.5 GB`, `512MiB`, or a bare count of bytes.
 * Units are effect's `ByteSize` units (SI `kB`/`MB`/`GB`, IEC `KiB`/`MiB`/`GiB`).
 *
 * @example
 * ```ts
 * parseByteSize("64MB") // 64_000_000
 * ```
 */
export const parseByteSize = (input: string): number => {
  const bytes = /^\s*\d+\s*$/.test(input) ? BigInt(input.trim()) : ByteSize.toBigInt(ByteSize.fromStringUnsafe(input))
  if (bytes <= 0n || bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${input} is out of range`)
  return Number(bytes)
}

const positive = (name: string) =>
  Flag.Int(name).pipe(Flag.filter((n) => n > 0, (n) => `--${name} must be a positive integer, got ${n}`))

/**
 * The `SessionStore` the soak measures: the embedded default, SQLite in
 * opencode's tables (`SessionStore.layerSqlite`), on `database` (a file
 * `opencode.db` in a fresh temporary directory, removed afterwards, when none
 * is given), configured like production through the `memory` config
 * (defaults, `MEMORY_*` environment variables), with the byte budget from
 * `--budget` taking precedence. Without `--fsync` the connection runs
 * `synchronous = NORMAL` (a commit survives a crash of the process, not a
 * power cut): the soak measures memory and correctness, not the disk's flush
 * latency; with it, `FULL`, as in production.
 *
 * @example
 * ```ts
 * soak(options, { baseline: layerBaseline, store: soakStoreLayer({ database: Option.none(), budget: 64e6, fsync: false }) })
 * ```
 */
/**
 * "opencode today" for the soak: the Maps plus opencode's SQLite writes, in
 * a fresh temporary `opencode.db`, removed afterwards.
 */
export const soakTodayLayer = Layer.unwrap(Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-today-" })
  return layerOpencodeToday(path.join(directory, "opencode.db"))
}))

export const soakStoreLayer = (settings: {
  readonly database: Option.Option<string>
  readonly budget: number
  readonly fsync: boolean
}) =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const filename = Option.isSome(settings.database)
      ? settings.database.value
      : `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-soak-" })}/opencode.db`
    return SessionStore.layerSqlite({ filename, synchronous: settings.fsync ? "FULL" : "NORMAL" }).pipe(
      Layer.provide(
        ConfigProvider.layerAdd(ConfigProvider.fromUnknown({ memory: { maxBytes: settings.budget } }), {
          asPrimary: true
        })
      )
    )
  }))

const soakCommand = Command.make(
  "soak",
  {
    sessions: positive("sessions").pipe(
      Flag.withDescription(`Sessions created over the run (default ${soakDefaults.sessions})`),
      Flag.withDefault(soakDefaults.sessions)
    ),
    operations: positive("operations").pipe(
      Flag.withDescription(`Operations in the workload (default ${soakDefaults.operations})`),
      Flag.withDefault(soakDefaults.operations)
    ),
    budget: Flag.String("budget").pipe(
      Flag.withDescription(
        `The store's byte budget (memory.maxBytes): 64MB, 256MiB, 1GB or a number of bytes (default ${soakDefaults.budget})`
      ),
      Flag.withDefault(soakDefaults.budget),
      Flag.mapTryCatch(
        parseByteSize,
        (error) =>
          `${error instanceof Error ? error.message : String(error)} (expected e.g. 64MB, 256MiB, 1GB or a number of bytes)`
      )
    ),
    seed: Flag.Int("seed").pipe(
      Flag.withDescription(`Seed of the workload: the same seed gives the same operations (default ${soakDefaults.seed})`),
      Flag.withDefault(soakDefaults.seed)
    ),
    samples: positive("samples").pipe(
      Flag.withDescription(`Heap samples per run, each after a full GC (default ${soakDefaults.samples})`),
      Flag.withDefault(soakDefaults.samples)
    ),
    out: Flag.String("out").pipe(
      Flag.withDescription(`Where report.html and summary.json are written (default ${soakDefaults.out})`),
      Flag.withDefault(soakDefaults.out)
    ),
    data: Flag.String("data").pipe(
      Flag.withDescription("Keep the store's SQLite database in this file (default: a temporary one, removed after)"),
      Flag.optional
    ),
    fsync: Flag.Boolean("fsync").pipe(
      Flag.withDescription("synchronous = FULL: every commit on disk before it is acknowledged, as in production (slower)"),
      Flag.withDefault(false)
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print the JSON summary on stdout instead of the table"),
      Flag.withDefault(false)
    ),
    quiet: Flag.Boolean("quiet").pipe(
      Flag.withDescription("Draw no progress lines on stderr"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("Command.soak")(function*(parsed) {
    const path = yield* Path.Path
    const flags = {
      ...parsed,
      out: resolvePath(path, parsed.out),
      data: Option.map(parsed.data, (data) => resolvePath(path, data))
    }
    if (Option.isSome(flags.data)) {
      // The workload creates its sessions from scratch; an earlier run's would collide.
      const fs = yield* FileSystem.FileSystem
      const size = yield* fs.stat(flags.data.value).pipe(Effect.map((info) => Number(info.size)), Effect.orElseSucceed(() => 0))
      if (size > 0) {
        return yield* new CliError.UserError({
          cause: flags.data.value,
          userMessage: `--data ${flags.data.value} is not empty: give a new file`
        })
      }
    }
    const report = yield* soak({
      seed: flags.seed,
      sessions: flags.sessions,
      operations: flags.operations,
      samples: flags.samples,
      budget: flags.budget,
      progress: !flags.quiet
    }, {
      baseline: layerBaseline,
      today: soakTodayLayer,
      store: soakStoreLayer({ database: flags.data, budget: flags.budget, fsync: flags.fsync })
    })
    const files = yield* writeReport(report, flags.out)
    if (flags.json) {
      yield* Console.log(JSON.stringify({ ...summarize(report), files }, null, 2))
    } else {
      yield* Console.log(renderTable(report))
      yield* Console.log(`\nreport: ${files.html}\nsummary: ${files.json}`)
    }
    if (!report.passed) {
      const { baseline, store } = report
      return yield* new CliError.UserError({
        cause: report,
        userMessage: `soak failed: store lost ${store.verification.lost}, mismatched ${store.verification.mismatched}, ${
          store.failed + baseline.failed
        } failed operations`
      })
    }
  })
).pipe(
  Command.withDescription(
    "Run a seeded opencode-like workload against the old unbounded Maps and against SessionStore, " +
      "chart the heap of both, and verify that the store lost nothing. How long the default run takes " +
      "depends on the machine (single-core speed, free cores, other load): under a minute on a fast idle " +
      "machine, a few minutes on a busy 2-core one; --operations scales it"
  ),
  Command.withExamples([
    { command: "session-store soak", description: "The default run (80,000 operations; the time depends on the machine)" },
    { command: "session-store soak --operations 20000 --budget 16MB --seed 7", description: "A quick run" }
  ])
)

const inspectCommand = Command.make(
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

const benchCommand = Command.make(
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
  Command.withSubcommands([soakCommand, benchCommand, inspectCommand, makeServeCommand(parseByteSize)])
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

const subcommands: ReadonlyArray<string> = ["soak", "bench", "inspect"]
