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
import { Argument, CliError, Command, Flag } from "effect/cli"
import { layerBaseline, layerOpencodeToday } from "./baseline.ts"
import { renderBench, runBench } from "./bench.ts"
import { inspectDirectory, renderListing } from "./inspect.ts"
import { renderTable, summarize, writeReport } from "./report.ts"
import { soak } from "./soak.ts"

/**
 * Defaults of `soak`, tuned to finish in about a minute on a 2-core machine.
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
 * The `SessionStore` the soak measures: the embedded file-system store in
 * `directory` (a fresh temporary directory, removed afterwards, when none is
 * given), configured like production through the `memory` config (defaults,
 * `MEMORY_*` environment variables), with the byte budget from `--budget`
 * taking precedence. fsync is off unless asked for: the soak measures memory
 * and correctness, not the disk's flush latency.
 *
 * @example
 * ```ts
 * soak(options, { baseline: layerBaseline, store: soakStoreLayer({ directory: Option.none(), budget: 64e6, fsync: false }) })
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
  readonly directory: Option.Option<string>
  readonly budget: number
  readonly fsync: boolean
}) =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = Option.isSome(settings.directory)
      ? settings.directory.value
      : yield* fs.makeTempDirectoryScoped({ prefix: "session-store-soak-" })
    return SessionStore.layerFileSystem({ directory, fsync: settings.fsync }).pipe(
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
    data: Flag.Directory("data").pipe(
      Flag.withDescription("Keep the store's files in this directory (default: a temporary one, removed after)"),
      Flag.optional
    ),
    fsync: Flag.Boolean("fsync").pipe(
      Flag.withDescription("Flush every write to disk before acknowledging it, as in production (much slower)"),
      Flag.withDefault(false)
    ),
    json: Flag.Boolean("json").pipe(
      Flag.withDescription("Print the JSON summary on stdout instead of the table"),
      Flag.withDefault(false)
    )
  },
  Effect.fn("Command.soak")(function*(flags) {
    if (Option.isSome(flags.data)) {
      // The workload creates its sessions from scratch; an earlier run's would collide.
      const fs = yield* FileSystem.FileSystem
      const entries = yield* fs.readDirectory(flags.data.value).pipe(Effect.orElseSucceed(() => []))
      if (entries.length > 0) {
        return yield* new CliError.UserError({
          cause: flags.data.value,
          userMessage: `--data ${flags.data.value} is not empty: give a new or empty directory`
        })
      }
    }
    const report = yield* soak({
      seed: flags.seed,
      sessions: flags.sessions,
      operations: flags.operations,
      samples: flags.samples,
      budget: flags.budget
    }, {
      baseline: layerBaseline,
      today: soakTodayLayer,
      store: soakStoreLayer({ directory: flags.data, budget: flags.budget, fsync: flags.fsync })
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
      "chart the heap of both, and verify that the store lost nothing"
  ),
  Command.withExamples([
    { command: "session-store soak", description: "The default run (about a minute)" },
    { command: "session-store soak --operations 20000 --budget 16MB --seed 7", description: "A quick run" }
  ])
)

const inspectCommand = Command.make(
  "inspect",
  {
    directory: Argument.String("directory").pipe(Argument.withDescription("A session-store storage directory")),
    verify: Flag.Boolean("verify").pipe(
      Flag.withDescription("Check every file; print each problem with its file and exit 1 if any"),
      Flag.withDefault(false)
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print JSON instead of a table"), Flag.withDefault(false))
  },
  Effect.fn("Command.inspect")(function*({ directory, json, verify }) {
    const inspection = yield* inspectDirectory(directory, { verify })
    yield* Console.log(json ? JSON.stringify(inspection, null, 2) : renderListing(inspection))
    const problems = inspection.problems?.length ?? 0
    if (problems > 0) {
      return yield* new CliError.UserError({
        cause: inspection.problems,
        userMessage: `${problems} problem${problems === 1 ? "" : "s"} found in ${directory}`
      })
    }
  })
).pipe(
  Command.withDescription("List the sessions stored in a directory; with --verify, check every file. Never writes."),
  Command.withExamples([
    { command: "session-store inspect ~/.local/share/opencode/sessions", description: "List sessions" },
    { command: "session-store inspect ./data --verify", description: "Check a directory for damage" }
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
    yield* fs.makeDirectory(flags.out, { recursive: true })
    const file = path.join(flags.out, "bench.json")
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
  Command.withSubcommands([soakCommand, benchCommand, inspectCommand])
)

/** The version printed by `--version`. */
export const version = "0.1.0"
