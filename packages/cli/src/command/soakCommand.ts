/**
 * `session-store soak`: the flags, and the one place where the store under
 * test is wired ({@link soakStoreLayer} decides which `SessionStore` layer
 * the soak measures and how it is configured).
 *
 * @example
 * ```ts
 * Command.make("session-store").pipe(Command.withSubcommands([soakCommand]))
 * ```
 *
 * @since 0.1.0
 */
import { SessionStore } from "@session-store/core/SessionStore"
import { ConfigProvider, Console, Effect, FileSystem, Layer, Option, Path } from "effect"
import { CliError, Command, Flag } from "effect/cli"
import { layerBaseline, layerOpencodeToday } from "../baseline.ts"
import { writeReport } from "../report/files.ts"
import { summarize } from "../report/summary.ts"
import { renderTable } from "../report/table.ts"
import { soak } from "../soak.ts"
import { byteSize, parseByteSize, positive, resolvePath } from "./arguments.ts"

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
 * "opencode today" for the soak: the Maps plus opencode's SQLite writes, in
 * a fresh temporary `opencode.db`, removed afterwards; with `fsync`, at the
 * store's `synchronous = FULL`, so both pay the same durability.
 *
 * @example
 * ```ts
 * soak(options, { baseline: layerBaseline, today: soakTodayLayer({ fsync: true }), store })
 * ```
 */
export const soakTodayLayer = (settings: { readonly fsync: boolean }) =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-today-" })
    return layerOpencodeToday(path.join(directory, "opencode.db"), { synchronous: settings.fsync ? "FULL" : "NORMAL" })
  }))

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

/**
 * The `soak` subcommand.
 *
 * @example
 * ```ts
 * Command.runWith(soakCommand, { version: "0.1.0" })(["--operations", "1000"])
 * ```
 */
export const soakCommand = Command.make(
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
    budget: byteSize("budget").pipe(
      Flag.withDescription(
        `The store's byte budget (memory.maxBytes): 64MB, 256MiB, 1GB or a number of bytes (default ${soakDefaults.budget})`
      ),
      Flag.withDefault(parseByteSize(soakDefaults.budget))
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
      today: soakTodayLayer({ fsync: flags.fsync }),
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
