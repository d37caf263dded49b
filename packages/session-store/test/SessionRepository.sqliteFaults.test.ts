/**
 * Bad input and real faults on the SQLite repository and store, each a typed
 * error that names where, nothing acknowledged lost, and service back once
 * the fault is gone:
 *
 * - a corrupt file (random bytes): RepositoryError `Corrupt` naming the file; the file is left as it was;
 * - a hand-edited row (bad JSON in `message.data`): CorruptRecord naming the table and the id; other sessions work;
 * - a hand-edited part of a loaded session: the session opens; the reads that return that message fail;
 * - a database locked by another process (`BEGIN EXCLUSIVE` held by a child): `Busy` after the busy
 *   timeout, then the write works once the lock is released;
 * - a read-only file: root ignores the 0444 mode, so two ways that do hold as root: SQLite's own read-only
 *   open (`readOnly: true`), and `chattr +i` (the immutable attribute, when chattr is there and allowed);
 * - a read-only file system and a full disk: a small tmpfs of a private mount namespace
 *   (`unshare --mount`, as Reliability.faults.test.ts does), in a child (fixtures/sqliteFaultChild.ts).
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { DatabaseSync } from "node:sqlite"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import { MemoryMonitor } from "../src/monitor/MemoryMonitor.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { SessionStore, testOptions } from "../src/store/SessionStore.ts"
import { message, messageId, sessionInfo } from "./SessionStore.support.ts"

const CHILD = fileURLToPath(new URL("./fixtures/sqliteFaultChild.ts", import.meta.url))

const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), "session-store-sqlite-faults-"))

const storeOn = (filename: string, options: { readonly busyTimeoutMs?: number; readonly readOnly?: boolean } = {}) =>
  Effect.map(
    Layer.build(
      SessionStore.layerWith(testOptions).pipe(
        Layer.provide(Layer.mergeAll(
          SessionRepository.layerSqlite({ filename, changePollIntervalMs: 0, ...options }),
          MemoryMonitor.layerTest()
        ))
      )
    ),
    (context) => Context.get(context, SessionStore)
  )

const failure = (exit: Exit.Exit<unknown, unknown>) => {
  assert.isTrue(Exit.isFailure(exit), "expected a failure")
  if (!Exit.isFailure(exit)) throw new Error("unreachable")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  assert.isDefined(reason, `a typed failure, got ${String(exit.cause)}`)
  return (reason as { error: any }).error
}

const listing = (directory: string) =>
  fs.readdirSync(directory).sort().map((name) => {
    const stat = fs.statSync(path.join(directory, name))
    return `${name} ${stat.size} ${stat.mtimeMs}`
  })

describe("SQLite: bad input and real faults", () => {
  it("a corrupt file: RepositoryError Corrupt naming the file, and the file left exactly as it was", async () => {
    const directory = tempDir()
    try {
      const filename = path.join(directory, "opencode.db")
      const bytes = Buffer.alloc(64 * 1024)
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24
      fs.writeFileSync(filename, bytes)
      const before = listing(directory)
      const exit = await Effect.runPromiseExit(Effect.scoped(storeOn(filename)))
      const error = failure(exit)
      assert.strictEqual(error._tag, "RepositoryError")
      assert.strictEqual(error.reason, "Corrupt")
      assert.include(error.message, filename)
      assert.deepStrictEqual(listing(directory), before, "nothing deleted, nothing created")
      assert.isTrue(fs.readFileSync(filename).equals(bytes))
    } finally {
      fs.rmSync(directory, { recursive: true, force: true })
    }
  })

  it("a hand-edited row (bad JSON in message.data): CorruptRecord naming the table and the id; other sessions keep working", async () => {
    const directory = tempDir()
    try {
      const filename = path.join(directory, "opencode.db")
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        for (const s of ["ses_a", "ses_b"]) {
          yield* store.createSession(sessionInfo(s))
          yield* store.appendMessage(s, message(s, `${messageId(1)}_${s}`))
        }
      })))
      const db = new DatabaseSync(filename)
      db.prepare("UPDATE message SET data = '{\"role\": \"user\", \"time\": {' WHERE id = ?").run(`${messageId(1)}_ses_a`)
      db.close()
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        const error = failure(yield* Effect.exit(store.getMessages("ses_a")))
        assert.strictEqual(error._tag, "CorruptRecord")
        assert.strictEqual(error.file, `message ${messageId(1)}_ses_a`)
        assert.include(error.message, `message ${messageId(1)}_ses_a`)
        // The other session reads and writes as before.
        assert.strictEqual((yield* store.getMessages("ses_b")).length, 1)
        yield* store.appendMessage("ses_b", message("ses_b", `${messageId(2)}_ses_b`))
        assert.strictEqual((yield* store.getMessages("ses_b")).length, 2)
      })))
    } finally {
      fs.rmSync(directory, { recursive: true, force: true })
    }
  })

  it("a hand-edited part in a loaded window: the session opens, and only the reads that return that message fail, with CorruptRecord", async () => {
    const directory = tempDir()
    try {
      const filename = path.join(directory, "opencode.db")
      const ids = [1, 2, 3].map(messageId)
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        yield* store.createSession(sessionInfo("ses_a"))
        for (const id of ids) yield* store.appendMessage("ses_a", message("ses_a", id))
      })))
      const db = new DatabaseSync(filename)
      db.prepare("UPDATE part SET data = 'not json' WHERE message_id = ?").run(ids[1]!)
      const before = db.prepare("SELECT id, data FROM part ORDER BY id").all()
      db.close()
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        // The load reads the whole window; the corrupt message is found when it is read, not before.
        assert.strictEqual((yield* store.getSession("ses_a")).id, "ses_a")
        assert.deepStrictEqual<unknown>(yield* store.getMessages("ses_a", { limit: 1 }), [message("ses_a", ids[2]!)])
        assert.deepStrictEqual<unknown>(yield* store.getMessage("ses_a", ids[0]!), message("ses_a", ids[0]!))
        const reads: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
          store.getMessages("ses_a"),
          store.getMessage("ses_a", ids[1]!)
        ]
        for (const read of reads) {
          const error = failure(yield* Effect.exit(read))
          assert.strictEqual(error._tag, "CorruptRecord")
          assert.strictEqual(error.file, `message ${ids[1]}`)
        }
        // Still resident, and still corrupt on a second read: nothing was dropped or patched over.
        assert.strictEqual(failure(yield* Effect.exit(store.getMessages("ses_a")))._tag, "CorruptRecord")
        assert.strictEqual((yield* store.stats).loads, 1)
      })))
      const after = new DatabaseSync(filename)
      assert.deepStrictEqual(after.prepare("SELECT id, data FROM part ORDER BY id").all(), before, "nothing rewritten")
      after.close()
    } finally {
      fs.rmSync(directory, { recursive: true, force: true })
    }
  })

  it("a database locked by another process (BEGIN EXCLUSIVE): Busy after the busy timeout, then the write works once released", async () => {
    const directory = tempDir()
    try {
      const filename = path.join(directory, "opencode.db")
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename, { busyTimeoutMs: 300 })
        yield* store.createSession(sessionInfo("ses_a"))
        yield* store.appendMessage("ses_a", message("ses_a", messageId(1)))

        const holder = spawn(process.execPath, [
          "-e",
          `const { DatabaseSync } = require("node:sqlite");
           const db = new DatabaseSync(process.argv[1]);
           db.exec("BEGIN EXCLUSIVE"); db.exec("INSERT INTO session_store_change (session_id, writer, time_created) VALUES ('x', 'holder', 0)");
           process.stdout.write("locked\\n");
           process.stdin.once("data", () => { db.exec("COMMIT"); db.close(); process.exit(0) })`,
          filename
        ], { stdio: ["pipe", "pipe", "inherit"] })
        yield* Effect.promise(() => new Promise<void>((resolve) => holder.stdout!.once("data", () => resolve())))

        const started = Date.now()
        const error = failure(yield* Effect.exit(store.appendMessage("ses_a", message("ses_a", messageId(2)))))
        const waited = Date.now() - started
        assert.strictEqual(error._tag, "RepositoryError")
        assert.strictEqual(error.reason, "Busy")
        assert.isTrue(error.isRetryable)
        assert.isAtLeast(waited, 250, "it waited for the busy timeout")
        // Reads are served meanwhile (WAL: the lock holds writers off, not readers).
        assert.strictEqual((yield* store.getMessages("ses_a")).length, 1)

        holder.stdin!.write("release\n")
        yield* Effect.promise(() => new Promise<void>((resolve) => holder.once("exit", () => resolve())))
        yield* store.appendMessage("ses_a", message("ses_a", messageId(2)))
        assert.strictEqual((yield* store.getMessages("ses_a")).length, 2)
      })))
    } finally {
      fs.rmSync(directory, { recursive: true, force: true })
    }
  }, 30_000)

  it("a read-only file, opened read-only by SQLite: reads work, every write fails with ReadOnly", async () => {
    const directory = tempDir()
    try {
      const filename = path.join(directory, "opencode.db")
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        yield* store.createSession(sessionInfo("ses_a"))
        yield* store.appendMessage("ses_a", message("ses_a", messageId(1)))
      })))
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename, { readOnly: true })
        assert.strictEqual((yield* store.getMessages("ses_a")).length, 1)
        const writes: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
          store.appendMessage("ses_a", message("ses_a", messageId(2))),
          store.createSession(sessionInfo("ses_b")),
          store.removeSession("ses_a")
        ]
        for (const write of writes) {
          const error = failure(yield* Effect.exit(write))
          assert.strictEqual(error._tag, "RepositoryError")
          assert.strictEqual(error.reason, "ReadOnly", error.message)
        }
        assert.strictEqual((yield* store.getMessages("ses_a")).length, 1, "nothing changed")
      })))
    } finally {
      fs.rmSync(directory, { recursive: true, force: true })
    }
  })

  const chattr = process.platform === "linux" && spawnSync("chattr", ["--help"]).error === undefined
  it.skipIf(!chattr)("a read-only file (chattr +i, which holds as root): SQLite opens it read-only, writes fail with ReadOnly, none lands, works once writable", async () => {
    const directory = tempDir()
    const filename = path.join(directory, "opencode.db")
    try {
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        yield* store.createSession(sessionInfo("ses_a"))
        yield* store.appendMessage("ses_a", message("ses_a", messageId(1)))
      })))
      const set = spawnSync("chattr", ["+i", filename])
      if (set.status !== 0) return console.warn(`chattr +i refused here (${String(set.stderr)}): skipped`)
      const exit = await Effect.runPromiseExit(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        return yield* store.appendMessage("ses_a", message("ses_a", messageId(2)))
      })))
      const error = failure(exit)
      assert.strictEqual(error._tag, "RepositoryError")
      assert.strictEqual(error.reason, "ReadOnly", error.message)
      console.log(`chattr +i: ${error.message}`)
      spawnSync("chattr", ["-i", filename])
      await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
        const store = yield* storeOn(filename)
        assert.strictEqual((yield* store.getMessages("ses_a")).length, 1)
        yield* store.appendMessage("ses_a", message("ses_a", messageId(2)))
      })))
    } finally {
      spawnSync("chattr", ["-i", filename])
      fs.rmSync(directory, { recursive: true, force: true })
    }
  })

  /** The unshare flags that let this process mount a tmpfs of its own, or undefined. */
  const namespaceFlags = ((): ReadonlyArray<string> | undefined => {
    if (process.platform !== "linux") return undefined
    const candidates = [["--user", "--map-root-user", "--mount"], ...(process.getuid?.() === 0 ? [["--mount"]] : [])]
    for (const flags of candidates) {
      const probe = tempDir()
      try {
        const result = spawnSync("unshare", [...flags, "sh", "-c", "mount -t tmpfs -o size=64k tmpfs \"$0\"", probe], {
          stdio: "ignore",
          timeout: 10_000
        })
        if (result.status === 0) return flags
      } catch {
        // unshare missing
      } finally {
        fs.rmSync(probe, { recursive: true, force: true })
      }
    }
    return undefined
  })()
  if (namespaceFlags === undefined) console.warn("sqliteFaults: mount not permitted here: the full-disk and read-only file system specs are skipped")

  const onTmpfs = (mode: "full" | "rofs") =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const mountPoint = tempDir()
      const child = spawn("unshare", [
        ...namespaceFlags!,
        "sh",
        "-c",
        "mount -t tmpfs -o size=1m tmpfs \"$0\" && exec \"$1\" \"$2\" \"$0\" \"$3\"",
        mountPoint,
        process.execPath,
        CHILD,
        mode
      ], { stdio: ["ignore", "pipe", "pipe"], timeout: 60_000, killSignal: "SIGKILL" })
      let out = ""
      let err = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk))
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk))
      child.on("exit", (code) => {
        fs.rmSync(mountPoint, { recursive: true, force: true })
        if (code !== 0) return reject(new Error(`fault child exited with ${code}:\n${err}`))
        resolve(JSON.parse(out))
      })
    })

  it.skipIf(namespaceFlags === undefined)("a full disk (a 1 MiB tmpfs filled up): StorageFull, nothing acknowledged lost, reads keep being served", async () => {
    const report = await onTmpfs("full")
    console.log(`full disk: ${JSON.stringify(report)}`)
    assert.match(String(report["failure"]), /StorageFull/)
  }, 90_000)

  it.skipIf(namespaceFlags === undefined)("a read-only file system (a tmpfs remounted ro): a typed error naming the file; remounted rw, everything is there", async () => {
    const report = await onTmpfs("rofs")
    console.log(`read-only file system: ${JSON.stringify(report)}`)
  }, 90_000)
})
