/**
 * Starts `session-store serve` as its own OS process (the same Node that runs
 * the caller) on a free loopback port, and waits until it listens. For the
 * end-to-end spec and the load run, which both talk to a real server.
 *
 * @example
 * ```ts
 * const server = await spawnServe({ database: "/tmp/db" })
 * await fetch(`${server.url}/session`)
 * await server.stop()
 * ```
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

/** A running `serve` process. */
export interface ServeProcess {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  readonly child: ChildProcess
  /** What it wrote on stderr so far. */
  readonly stderr: () => string
  /** Interrupts it (SIGINT, as Ctrl-C) and waits for it to exit; SIGKILL after 10 s. */
  readonly stop: () => Promise<number | null>
}

const bin = fileURLToPath(new URL("../bin.ts", import.meta.url))

// Run from the sources (in the workspace), the child must resolve
// `@session-store/core` to its sources too, as every script here does;
// without the condition it would run whatever dist/ a build left behind.
const sourceConditions = bin.endsWith(".ts") ? ["--conditions=@session-store/source"] : []

/**
 * Spawns `serve --database <database> --port 0` plus `args`.
 *
 * @example
 * ```ts
 * await spawnServe({ database, args: ["--event-backlog", "16"], env: { OPENCODE_SERVER_PASSWORD: "pw" } })
 * ```
 */
export const spawnServe = (options: {
  readonly database: string
  readonly args?: ReadonlyArray<string>
  /** Added to (or, when undefined, removed from) the environment. */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** Node flags, e.g. `--max-old-space-size=64`. */
  readonly execArgv?: ReadonlyArray<string>
  readonly timeoutMs?: number
}): Promise<ServeProcess> =>
  new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env }
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete env[key]
      else env[key] = value
    }
    const child = spawn(
      process.execPath,
      [...sourceConditions, ...(options.execArgv ?? []), bin, "serve", "--database", options.database, "--port", "0", ...(options.args ?? [])],
      { env, stdio: ["ignore", "pipe", "pipe"] }
    )
    let stdout = ""
    let stderr = ""
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill("SIGINT")
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
      const code = await exited
      clearTimeout(timer)
      return code
    }
    const timer = setTimeout(() => {
      void stop()
      reject(new Error(`serve did not start within ${options.timeoutMs ?? 30_000} ms:\n${stdout}\n${stderr}`))
    }, options.timeoutMs ?? 30_000)
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
      const match = /listening on (http:\/\/[^\s]+)/.exec(stdout)
      if (match !== null) {
        clearTimeout(timer)
        const url = match[1]!.replace(/\/$/, "")
        resolve({ url, port: Number(new URL(url).port), child, stderr: () => stderr, stop })
      }
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`serve exited with ${code} before listening:\n${stdout}\n${stderr}`))
    })
  })
