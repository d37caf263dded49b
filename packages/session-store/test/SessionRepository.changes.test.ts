/**
 * The SQLite repository's `changes`: two repositories on one file (two
 * connections, as two processes have) and a foreign writer (a plain
 * node:sqlite connection, as opencode itself writes). What one writes, the
 * other is told (by session id); its own writes are not reported back to it;
 * a write that leaves no change record is reported as "all". These run on the
 * real clock (the watch polls every 20 ms here) and wait for the report, with
 * a generous timeout that only fires when the report never comes.
 */
import { NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, FileSystem, Layer, Scope, Stream } from "effect"
import { DatabaseSync } from "node:sqlite"
import type { SessionId } from "../src/domain/Ids.ts"
import { SessionRepository, type SessionChanges, type SessionRepositoryShape } from "../src/repository/SessionRepository.ts"
import { makeSessionInfo, userMessage } from "./fixtures/messages.ts"

const sid = (id: string) => id as SessionId

const open = (filename: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(SessionRepository.layerSqlite({ filename, changePollIntervalMs: 20 }))
    return Context.get(context, SessionRepository)
  })

/** Starts listening (subscribed before this returns) and yields the first report matching `predicate`. */
const nextChange = (repo: SessionRepositoryShape, predicate: (change: SessionChanges) => boolean = () => true) =>
  Effect.gen(function*() {
    // Subscribed when this returns: nothing the caller writes next is missed.
    const changes = yield* repo.changes!
    return yield* changes.pipe(
      Stream.filter(predicate),
      Stream.take(1),
      Stream.runCollect,
      Effect.timeout("5 seconds"),
      Effect.forkChild
    )
  })

describe("SessionRepository.changes on SQLite", () => {
  it.live("each repository learns which sessions the other wrote, never its own writes", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-changes-" })}/opencode.db`
      const a = yield* open(filename)
      const b = yield* open(filename)
      expect(a.changes).toBeDefined()

      const seenByA = yield* nextChange(a)
      yield* a.createSession(makeSessionInfo("ses_a")) // a's own write: not reported to a
      yield* b.createSession(makeSessionInfo("ses_b"))
      expect(yield* Fiber.join(seenByA)).toStrictEqual([["ses_b"]])

      const seenByB = yield* nextChange(b)
      yield* a.putMessage(sid("ses_a"), userMessage("ses_a", "m1", 1))
      yield* a.putMessage(sid("ses_a"), userMessage("ses_a", "m2", 1))
      const reported = (yield* Fiber.join(seenByB))[0]
      expect(reported).toStrictEqual(["ses_a"])

      const removal = yield* nextChange(a)
      yield* b.removeSession(sid("ses_b"))
      expect(yield* Fiber.join(removal)).toStrictEqual([["ses_b"]])

      // What b wrote, a reads: the copy a would drop is reloaded from storage.
      expect((yield* a.loadSession(sid("ses_a"), { newest: 10 })).messageCount).toBe(2)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("a write by something that keeps no change record (opencode itself) is reported as \"all\"", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-changes-" })}/opencode.db`
      const a = yield* open(filename)
      yield* a.createSession(makeSessionInfo("ses_1"))
      const seen = yield* nextChange(a)
      const opencode = new DatabaseSync(filename)
      opencode.prepare("UPDATE session SET title = ? WHERE id = ?").run("renamed by opencode", "ses_1")
      opencode.close()
      expect(yield* Fiber.join(seen)).toStrictEqual(["all"])
      expect((yield* a.loadSession(sid("ses_1"), { newest: 0 })).info.title).toBe("renamed by opencode")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("change rows are kept only while another repository watches; a dead watcher's row is cleared", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-changes-" })}/opencode.db`
      const file = new DatabaseSync(filename)
      const changeRows = () =>
        Number((file.prepare("SELECT count(*) AS n FROM session_store_change WHERE session_id <> ''").get() as { n: number }).n)
      const watchers = () => (file.prepare("SELECT pid FROM session_store_watcher ORDER BY pid").all() as Array<{ pid: number }>).map((r) => r.pid)
      // Alone (its own watch is no reader of its rows): its writes leave no change rows.
      const a = yield* open(filename)
      yield* a.createSession(makeSessionInfo("ses_1"))
      yield* a.putMessage(sid("ses_1"), userMessage("ses_1", "m1", 1))
      expect(changeRows()).toBe(0)
      expect(watchers()).toStrictEqual([process.pid])
      // A second watcher: from a's next write on, a keeps its rows, and b hears of them.
      const scope = yield* Scope.make()
      const b = yield* open(filename).pipe(Scope.provide(scope))
      const seenByB = yield* nextChange(b)
      yield* a.putMessage(sid("ses_1"), userMessage("ses_1", "m2", 1))
      expect(yield* Fiber.join(seenByB)).toStrictEqual([["ses_1"]])
      expect(changeRows()).toBe(1)
      // b gone: a stops again.
      yield* Scope.close(scope, Exit.void)
      yield* a.putMessage(sid("ses_1"), userMessage("ses_1", "m3", 1))
      expect(changeRows()).toBe(1)
      // A watcher whose process died (its row left behind, a pid no process has) is cleared by the next
      // one to register, so it does not make every writer keep rows forever.
      file.prepare("INSERT INTO session_store_watcher (writer, pid, time_created) VALUES ('crashed', 2147483646, 0)").run()
      yield* open(filename)
      expect(watchers()).toStrictEqual([process.pid, process.pid])
      file.close()
    }).pipe(Effect.provide(NodeServices.layer)))

  it.live("releasing the layer stops the watch: no fiber or timer is left", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const filename = `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-changes-" })}/opencode.db`
      const scope = yield* Scope.make()
      const repo = yield* open(filename).pipe(Scope.provide(scope))
      const listening = yield* (yield* repo.changes!).pipe(Stream.runCollect, Effect.forkChild)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      yield* Scope.close(scope, Exit.void)
      // The stream ends when the watch's PubSub shuts down with the scope.
      const exit = yield* Fiber.await(listening).pipe(Effect.timeout("5 seconds"))
      expect(Exit.isExit(exit)).toBe(true)
    }).pipe(Effect.provide(NodeServices.layer)))
})
