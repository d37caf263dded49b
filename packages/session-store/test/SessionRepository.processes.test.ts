/**
 * Two OS processes (and this one) writing to one SQLite database through the
 * SQL repository: SQLite serializes the writers (WAL, busy timeout, BEGIN
 * IMMEDIATE), so every acknowledged write is in the database afterwards, and
 * this process's `changes` reports the session the children wrote.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Fiber, FileSystem, Layer, Stream } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import type { SessionId } from "../src/domain/Ids.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { makeSessionInfo, userMessage } from "./fixtures/messages.ts"

const CHILD = fileURLToPath(new URL("./fixtures/sqlWriterChild.ts", import.meta.url))

/** Runs the writer child to the end; its `ack` lines. */
const runWriter = (filename: string, session: string, prefix: string, count: number) =>
  Effect.callback<Array<string>, Error>((resume) => {
    const child = spawn(process.execPath, [CHILD, filename, session, prefix, String(count)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk))
    child.on("error", (error) => resume(Effect.fail(error)))
    child.on("exit", (code) =>
      resume(
        code === 0
          ? Effect.succeed(out.split("\n").filter((line) => line.startsWith("ack ")))
          : Effect.fail(new Error(`writer ${prefix} exited with ${code}: ${err}`))
      ))
  })

describe("SQL repository: several processes on one SQLite file", () => {
  it.live("two child processes and this one append to and rename one session: every acknowledged write is there", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-processes-" })}/opencode.db`
      const context = yield* Layer.build(SessionRepository.layerSqlite({ filename, changePollIntervalMs: 20 }))
      const repo = Context.get(context, SessionRepository)
      const session = "ses_shared" as SessionId
      yield* repo.createSession(makeSessionInfo(session))

      const reported = yield* (yield* repo.changes!).pipe(
        Stream.filter((change) => change === "all" || change.includes(session)),
        Stream.take(1),
        Stream.runCollect,
        Effect.timeout("20 seconds"),
        Effect.forkChild
      )

      const COUNT = 60
      const [first, second, own] = yield* Effect.all([
        runWriter(filename, session, "c1", COUNT),
        runWriter(filename, session, "c2", COUNT),
        Effect.forEach(Array.from({ length: COUNT }, (_, i) => i + 1), (n) =>
          Effect.as(repo.putMessage(session, userMessage(session, `p_${n}`, n)), `ack p_${n}`))
      ], { concurrency: "unbounded" })

      const acknowledged = [...first, ...second, ...own].filter((line) => !line.startsWith("ack title"))
      expect(acknowledged).toHaveLength(3 * COUNT)
      const loaded = yield* repo.loadSession(session, { newest: 1000 })
      expect(loaded.messageCount).toBe(3 * COUNT)
      expect(new Set(loaded.messages.map((m) => `ack ${m.message.info.id}`))).toStrictEqual(new Set(acknowledged))
      // Each writer's own messages keep the order it wrote them in.
      for (const prefix of ["c1", "c2", "p"]) {
        const order = loaded.messages.map((m) => m.message.info.id).filter((id) => id.startsWith(`${prefix}_`))
        expect(order).toStrictEqual(Array.from({ length: COUNT }, (_, i) => `${prefix}_${i + 1}`))
      }
      expect(["c1 60", "c2 60"]).toContain(loaded.info.title)
      expect((yield* Fiber.join(reported))[0]).toStrictEqual([session])
    }).pipe(Effect.scoped, Effect.provide(NodeServices.layer)), 60_000)
})
