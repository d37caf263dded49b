/**
 * What the subcommands share in reading their arguments: where relative
 * paths resolve from, byte sizes, positive counts.
 *
 * @example
 * ```ts
 * import { parseByteSize, resolvePath } from "./arguments.ts"
 *
 * parseByteSize("64MB") // 64_000_000
 * ```
 *
 * @since 0.1.0
 */
import { ByteSize, Path } from "effect"
import { Flag } from "effect/cli"

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

/**
 * `file` resolved from {@link invocationDirectory}.
 *
 * @example
 * ```ts
 * resolvePath(yield* Path.Path, ".soak") // "<where the user ran the command>/.soak"
 * ```
 */
export const resolvePath = (path: Path.Path, file: string): string => path.resolve(invocationDirectory(), file)

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

/**
 * An integer flag that must be above zero, with an error naming the flag.
 *
 * @example
 * ```ts
 * const runs = positive("runs").pipe(Flag.withDefault(3))
 * ```
 */
export const positive = (name: string) =>
  Flag.Int(name).pipe(Flag.filter((n) => n > 0, (n) => `--${name} must be a positive integer, got ${n}`))

/**
 * A string flag read as a byte size ({@link parseByteSize}), with an error
 * that names what it expected.
 *
 * @example
 * ```ts
 * const budget = byteSize("budget").pipe(Flag.withDefault(16_000_000))
 * ```
 */
export const byteSize = (name: string) =>
  Flag.String(name).pipe(
    Flag.mapTryCatch(
      parseByteSize,
      (error) =>
        `${error instanceof Error ? error.message : String(error)} (expected e.g. 64MB, 256MiB, 1GB or a number of bytes)`
    )
  )
