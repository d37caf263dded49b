/**
 * Shutdown: a child process builds the live layer the way opencode does
 * (`SessionStore.layerSqlite` on an opencode.db, the `memory` section of an opencode.json
 * plus `MEMORY_*` environment variables), works with twelve writers, and
 * releases the layer while they are still writing. Right after the release
 * nothing but stdio may keep its event loop alive (the sweep and the heap check
 * run every hour there, so a timer left behind would show, and would keep it
 * alive for an hour); it must then exit by itself, and everything it
 * acknowledged must be on disk: the parent reopens the database and finds,
 * for every writer, exactly the state after its acknowledged writes, or that
 * plus the one write that was in flight when the layer was released.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionStore } from "../src/store/SessionStore.ts"
import { inspectDatabase } from "../src/repository/sql/SqlInspection.ts"
import { apply, type Stored, workloadMessage, writerOps } from "./fixtures/shutdownWorkload.ts"

const CHILD = fileURLToPath(new URL("./fixtures/shutdownChild.ts", import.meta.url))
/** A hang guard for a broken build (Node kills the child), not a measurement: the verdict comes from what the child reports. */
const HANG_GUARD_MS = 120_000

const opencodeJson = {
  memory: {
    maxSessions: 100, // overridden by MEMORY_MAX_SESSIONS below
    maxMessagesPerSession: 3,
    sessionTtlMs: 86_400_000,
    inactiveTtlMs: 14_400_000,
    cleanupIntervalMs: 3_600_000,
    pressureCheckIntervalMs: 3_600_000,
    maxBytes: 20_000
  }
}

interface ChildRun {
  readonly acks: Map<number, number>
  /** What kept the child's event loop alive right after it released the layer, or undefined if it never did. */
  readonly aliveAfterRelease: ReadonlyArray<string> | undefined
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
}

/** Runs the child and resolves when it exits. */
const runChild = (directory: string, configFile: string) =>
  new Promise<ChildRun>((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, directory, configFile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, MEMORY_MAX_SESSIONS: "6" },
      timeout: HANG_GUARD_MS,
      killSignal: "SIGKILL"
    })
    const acks = new Map<number, number>()
    let buffer = ""
    let stderr = ""
    let aliveAfterRelease: ReadonlyArray<string> | undefined
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffer += chunk
      const lines = buffer.split("\n")
      buffer = lines.pop()!
      for (const line of lines) {
        if (line.startsWith("released ")) {
          aliveAfterRelease = JSON.parse(line.slice("released ".length)) as Array<string>
          continue
        }
        const [, w, index] = line.split(" ")
        const writer = Number(w)
        const at = Number(index)
        // Each writer acknowledges its writes in order.
        if ((acks.get(writer) ?? -1) >= at) reject(new Error(`writer ${writer} acknowledged ${at} out of order`))
        acks.set(writer, at)
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("exit", (code, signal) => resolve({ acks, aliveAfterRelease, code, signal, stderr }))
  })

/** What storage must hold for writer `w` after its write at `lastAck`, and with the next write applied too. */
const expectations = (w: number, lastAck: number): { acknowledged: Stored; withInFlight: Stored } => {
  const acknowledged: Stored = new Map()
  let index = 0
  const ops = writerOps(w)
  for (; index <= lastAck; index++) apply(acknowledged, ops.next().value!)
  const withInFlight: Stored = new Map([...acknowledged].map(([id, s]) => [id, { title: s.title, messages: new Map(s.messages) }]))
  for (let op = ops.next().value!; ; op = ops.next().value!) {
    if (op.kind === "read") continue
    apply(withInFlight, op)
    break
  }
  return { acknowledged, withInFlight }
}

const plainStored = (stored: Stored) =>
  Object.fromEntries([...stored].sort(([a], [b]) => (a < b ? -1 : 1)).map(([id, s]) => [id, { title: s.title, messages: [...s.messages] }]))

describe("Reliability: shutdown", () => {
  it("a child that builds the live layer, works and releases it while busy exits by itself, and everything it acknowledged is on disk", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "session-store-shutdown-"))
    try {
      const directory = path.join(root, "store")
      const configFile = path.join(root, "opencode.json")
      fs.writeFileSync(configFile, JSON.stringify(opencodeJson))
      const run = await runChild(directory, configFile)
      assert.isDefined(run.aliveAfterRelease, `the child released the layer:\n${run.stderr}`)
      assert.deepStrictEqual(run.aliveAfterRelease, [], "nothing but stdio keeps the child alive once the layer is released")
      assert.strictEqual(run.signal, null, "the child exited by itself")
      assert.strictEqual(run.code, 0, run.stderr)
      const acknowledged = [...run.acks.values()].reduce((n, last) => n + last + 1, 0)
      assert.isAtLeast(acknowledged, 2_500)

      // Reopen the database, as the next opencode process would.
      const stored = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(SessionStore.layerSqlite({ filename: path.join(directory, "opencode.db") }).pipe(
          Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(opencodeJson)))
        ))
        const store = Context.get(context, SessionStore)
        const out: Stored = new Map()
        for (const summary of yield* store.listSessions()) {
          const messages = yield* store.getMessages(summary.id)
          out.set(summary.id, {
            title: (yield* store.getSession(summary.id)).title,
            messages: new Map(messages.map((m: MessageWithParts) => {
              const version = Number(String(m.parts[0]!["text"]).split(" ")[0]!.slice(1))
              // Stored whole: the message is exactly the one written at that version.
              assert.deepStrictEqual(m, workloadMessage(summary.id, m.info.id, version) as unknown as MessageWithParts)
              return [m.info.id as string, version]
            }))
          })
        }
        return out
      })))

      let inFlightApplied = 0
      for (let w = 0; w < 12; w++) {
        const mine: Stored = new Map([...stored].filter(([id]) => id.startsWith(`ses_w${w}_`)))
        const lastAck = run.acks.get(w)
        if (lastAck === undefined) {
          assert.strictEqual(mine.size, 0, `writer ${w} acknowledged nothing`)
          continue
        }
        const { acknowledged: expected, withInFlight } = expectations(w, lastAck)
        const actual = JSON.stringify(plainStored(mine))
        if (actual === JSON.stringify(plainStored(expected))) continue
        assert.strictEqual(
          actual,
          JSON.stringify(plainStored(withInFlight)),
          `writer ${w}: storage holds exactly what was acknowledged (up to write ${lastAck}), or that and the write in flight`
        )
        inFlightApplied++
      }
      // The acknowledged writes included every kind, session removals too.
      const kinds = new Map<string, number>()
      for (const [w, lastAck] of run.acks) {
        let index = 0
        for (const op of writerOps(w)) {
          if (index++ > lastAck) break
          if (op.kind !== "read") kinds.set(op.kind, (kinds.get(op.kind) ?? 0) + 1)
        }
      }
      for (const kind of ["create", "put", "removeMessage", "update", "removeSession"]) {
        assert.isAbove(kinds.get(kind) ?? 0, 0, `${kind} acknowledged`)
      }
      console.log(
        `shutdown: ${acknowledged} writes acknowledged by 12 writers (${JSON.stringify(Object.fromEntries(kinds))}), all on disk; ` +
          `${inFlightApplied} writers' in-flight write landed too; ${stored.size} sessions stored`
      )
      const inspection = await Effect.runPromise(inspectDatabase(path.join(directory, "opencode.db"), { verify: true }))
      assert.deepStrictEqual(inspection.problems, [])
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  }, 180_000)
})
