import { NodeFileSystem, NodeServices } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, FileSystem, Layer } from "effect"
import { systemError } from "effect/PlatformError"
import { spawn } from "node:child_process"
import * as NFS from "node:fs"
import * as NodePath from "node:path"
import { fileURLToPath } from "node:url"
import type { MessageId, SessionId } from "../src/domain/Ids.ts"
import type { MessageWithParts } from "../src/domain/Message.ts"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { listStoredSessions, verifyDirectory } from "../src/repository/fileSystem/StorageInspection.ts"
import { sessionDirectoryName } from "../src/repository/fileSystem/layout.ts"
import { type FileSystemRepositoryOptions, makeFileSystemRepository } from "../src/repository/fileSystem/fileSystemRepository.ts"
import { encodeRecord } from "../src/domain/records.ts"
import { makeSessionInfo, userMessage } from "./fixtures/messages.ts"
import { repositoryContract } from "./SessionRepository.contract.ts"

/** A repository on a fresh temporary directory, removed when the test ends. */
const inTempDirectory = (options?: Omit<FileSystemRepositoryOptions, "directory">) =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = `${yield* fs.makeTempDirectoryScoped({ prefix: "session-store-test-" })}/store`
    return options === undefined
      ? SessionRepository.layerFileSystem({ directory })
      : Layer.effect(SessionRepository, makeFileSystemRepository({ directory, ...options }))
  })).pipe(Layer.provide(NodeServices.layer))

repositoryContract("file system", inTempDirectory())
repositoryContract("file system, compacting at every chance", inTempDirectory({ compactAfterBytes: 0 }))
repositoryContract("file system, no log held open between calls", inTempDirectory({ maxHeldLogs: 0, idleTimeToLive: 0 }))

const sid = (id: string) => id as SessionId
const mid = (id: string) => id as MessageId
const message = (session: string, id: string, body = `body of ${id}`) => userMessage(session, id, 1, body)

/** A fresh temporary directory for one test; the repository lives in `<it>/store`. */
const tempRoot = Effect.gen(function*() {
  const fs = yield* FileSystem.FileSystem
  return yield* fs.makeTempDirectoryScoped({ prefix: "session-store-test-" })
})

/**
 * Runs `body` against a repository opened on `directory`, then closes it:
 * every call is a fresh instance, as after a restart.
 */
const withRepository = <A, E>(
  directory: string,
  body: (repo: SessionRepository["Service"]) => Effect.Effect<A, E>,
  options: Omit<FileSystemRepositoryOptions, "directory"> = {}
) =>
  Effect.scoped(Effect.gen(function*() {
    const repo = yield* makeFileSystemRepository({ directory, ...options })
    return yield* body(repo)
  }))

const paths = (root: string, session: string) => {
  const directory = NodePath.join(root, "store", "sessions", sessionDirectoryName(session))
  return {
    directory,
    info: NodePath.join(directory, "info.json"),
    log: NodePath.join(directory, "messages.jsonl")
  }
}

/** Every file under `root` with its bytes, for "nothing changed" assertions. */
const snapshot = (root: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const entry of NFS.readdirSync(root, { recursive: true, withFileTypes: true })) {
    const full = NodePath.join(entry.parentPath, entry.name)
    out[NodePath.relative(root, full)] = entry.isFile() ? NFS.readFileSync(full).toString("base64") : "dir"
  }
  return out
}

const seed = (repo: SessionRepository["Service"], session: string, count: number) =>
  Effect.gen(function*() {
    yield* repo.createSession(makeSessionInfo(session))
    for (let i = 1; i <= count; i++) yield* repo.putMessage(sid(session), message(session, `m${i}`))
  })

const ids = (messages: ReadonlyArray<{ readonly message: MessageWithParts }>) => messages.map((m) => m.message.info.id)

describe("SessionRepository.layerFileSystem", () => {
  it.effect("keeps everything across a restart", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) => seed(repo, "ses_1", 3))
      const loaded = yield* withRepository(directory, (repo) => repo.loadSession(sid("ses_1"), { newest: 10 }))
      expect(ids(loaded.messages)).toStrictEqual(["m1", "m2", "m3"])
      expect(loaded.info).toStrictEqual(makeSessionInfo("ses_1"))
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("returns every acknowledged message after the writer is killed mid-stream (SIGKILL, 4 rounds)", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      const session = "ses_crash"
      const acked = new Map<string, number>()
      let ackedBytes = 0
      for (let round = 0; round < 4; round++) {
        const lines = yield* Effect.promise(() => runAndKill(directory, session, round * 10_000, 80 + round * 60))
        for (const line of lines) {
          const [, id, version, bytes] = line.split(" ")
          acked.set(id!, Math.max(acked.get(id!) ?? 0, Number(version)))
          ackedBytes += Number(bytes)
        }
        const loaded = yield* withRepository(directory, (repo) => repo.loadSession(sid(session), { newest: 100_000 }))
        const versions = new Map<string, number>(loaded.messages.map((m) => [m.message.info.id, versionOf(m.message)]))
        for (const [id, version] of acked) {
          expect(versions.get(id), `message ${id} acknowledged at v${version}`).toBeGreaterThanOrEqual(version)
        }
        expect(yield* verifyDirectory(directory)).toStrictEqual([])
      }
      expect(acked.size).toBeGreaterThan(25)
      // Most writes superseded earlier ones, and compaction kept the log far below what was written.
      expect(NFS.statSync(paths(root, session).log).size).toBeLessThan(ackedBytes / 2)
      // The log is still one a later writer can append to and read back.
      const after = yield* withRepository(directory, (repo) =>
        repo.putMessage(sid(session), message(session, "msg_after")).pipe(
          Effect.andThen(repo.loadSession(sid(session), { newest: 1 }))
        ))
      expect(ids(after.messages)).toStrictEqual(["msg_after"])
    }).pipe(Effect.provide(NodeServices.layer)), 60_000)

  it.effect("ignores a torn last record, keeps its bytes, and appends after it", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) => seed(repo, "ses_1", 2))
      const { log } = paths(root, "ses_1")
      const torn = `{"put":${encodeRecord(message("ses_1", "m3")).json}`.slice(0, 40)
      NFS.appendFileSync(log, torn)
      const before = NFS.readFileSync(log)

      const loaded = yield* withRepository(directory, (repo) => repo.loadSession(sid("ses_1"), { newest: 10 }))
      expect(ids(loaded.messages)).toStrictEqual(["m1", "m2"])
      expect(NFS.readFileSync(log)).toStrictEqual(before)
      expect(yield* verifyDirectory(directory)).toStrictEqual([])

      yield* withRepository(directory, (repo) => repo.putMessage(sid("ses_1"), message("ses_1", "m4")))
      const text = NFS.readFileSync(log, "utf8")
      expect(text.startsWith(before.toString("utf8"))).toBe(true)
      expect(text.endsWith("\n")).toBe(true)
      const reloaded = yield* withRepository(directory, (repo) => repo.loadSession(sid("ses_1"), { newest: 10 }))
      expect(ids(reloaded.messages)).toStrictEqual(["m1", "m2", "m4"])
      expect(yield* verifyDirectory(directory)).toStrictEqual([])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("fails with CorruptRecord on a hand-edited info.json, and leaves the file as it is", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) => seed(repo, "ses_1", 1))
      const { info } = paths(root, "ses_1")
      NFS.writeFileSync(info, `{"id":"ses_1","title":"hand edited",}`)
      const before = NFS.readFileSync(info)
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          const load = yield* Effect.flip(repo.loadSession(sid("ses_1"), { newest: 1 }))
          expect(load).toMatchObject({ _tag: "CorruptRecord", file: info })
          expect(load.message).toContain("not valid JSON")
          const update = yield* Effect.flip(repo.updateSession(makeSessionInfo("ses_1", { title: "overwrite?" })))
          expect(update).toMatchObject({ _tag: "CorruptRecord", file: info })
          expect(yield* Effect.flip(repo.listSessions())).toMatchObject({ _tag: "CorruptRecord", file: info })
        }))
      expect(NFS.readFileSync(info)).toStrictEqual(before)

      NFS.writeFileSync(info, JSON.stringify({ ...makeSessionInfo("ses_1"), time: { created: "yesterday" } }))
      const schema = yield* withRepository(directory, (repo) => Effect.flip(repo.loadSession(sid("ses_1"), { newest: 1 })))
      expect(schema).toMatchObject({ _tag: "CorruptRecord", file: info })
      expect(schema.message).toContain("not a session info record")

      NFS.writeFileSync(info, JSON.stringify(makeSessionInfo("ses_other")))
      const moved = yield* withRepository(directory, (repo) => Effect.flip(repo.loadSession(sid("ses_1"), { newest: 1 })))
      expect(moved).toMatchObject({ _tag: "CorruptRecord", file: info, problem: "holds session ses_other, not ses_1" })
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("fails with CorruptRecord naming the line of a corrupt middle record, and never rewrites the log", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) => seed(repo, "ses_1", 3))
      const { log } = paths(root, "ses_1")
      const lines = NFS.readFileSync(log, "utf8").split("\n")
      lines[1] = lines[1]!.replace(`"role":"user"`, `"role":"robot"`)
      NFS.writeFileSync(log, lines.join("\n"))
      const before = NFS.readFileSync(log)
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          for (
            const operation of [
              repo.loadSession(sid("ses_1"), { newest: 1 }),
              repo.getMessage(sid("ses_1"), mid("m1")),
              repo.pageMessages(sid("ses_1"), { limit: 1 }),
              repo.putMessage(sid("ses_1"), message("ses_1", "m9")),
              repo.removeMessage(sid("ses_1"), mid("m1"))
            ] as const
          ) {
            const error = yield* Effect.flip(operation as Effect.Effect<unknown, { readonly _tag: string }>)
            expect(error).toMatchObject({ _tag: "CorruptRecord", file: log })
            expect((error as { problem?: string }).problem).toMatch(/^line 2: not a message/)
          }
        }), { compactAfterBytes: 0 })
      expect(NFS.readFileSync(log)).toStrictEqual(before)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("refuses to compact a log that no longer decodes", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      const { log } = paths(root, "ses_1")
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 2)
          // Corrupt the first record in place (same size, same file) while the repository holds its index.
          const fd = NFS.openSync(log, "r+")
          NFS.writeSync(fd, "#", 0)
          NFS.closeSync(fd)
          const inode = NFS.statSync(log).ino
          for (let i = 0; i < 20; i++) yield* repo.putMessage(sid("ses_1"), message("ses_1", "m2", `version ${i}`))
          expect(NFS.statSync(log).ino).toBe(inode)
          expect(NFS.readFileSync(log, "utf8").startsWith("#")).toBe(true)
        }), { compactAfterBytes: 0 })
      const error = yield* withRepository(directory, (repo) => Effect.flip(repo.loadSession(sid("ses_1"), { newest: 1 })))
      expect(error).toMatchObject({ _tag: "CorruptRecord", file: log })
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("compacts a log full of superseded versions into an equal, smaller one", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      const { log } = paths(root, "ses_1")
      const big = "x".repeat(2000)
      const expected = yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 3)
          let appended = 0
          let shrank = 0
          let size = NFS.statSync(log).size
          for (let i = 0; i < 40; i++) {
            const version = message("ses_1", "m2", `${big} streaming ${i}`)
            yield* repo.putMessage(sid("ses_1"), version)
            appended += encodeRecord(version).bytes
            const now = NFS.statSync(log).size
            if (now < size) shrank++
            size = now
          }
          // Compacted several times (each time superseded bytes passed 16 KiB), so
          // the log stays far below what was appended.
          expect(shrank).toBeGreaterThanOrEqual(3)
          expect(size).toBeLessThan(24 * 1024)
          expect(appended).toBeGreaterThan(80 * 1024)
          return yield* repo.loadSession(sid("ses_1"), { newest: 10 })
        }), { compactAfterBytes: 16 * 1024 })
      expect(ids(expected.messages)).toStrictEqual(["m1", "m2", "m3"])
      const reopened = yield* withRepository(directory, (repo) => repo.loadSession(sid("ses_1"), { newest: 10 }))
      expect(reopened).toStrictEqual(expected)
      expect(yield* verifyDirectory(directory)).toStrictEqual([])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("reads records that lie far apart in a log, in message order, as a cold load does", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      const warm = yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 3)
          // 40 rewrites of m1 of 5 KB each: its latest record ends up ~200 KB after m2 and m3.
          for (let i = 0; i < 40; i++) yield* repo.putMessage(sid("ses_1"), message("ses_1", "m1", `${"z".repeat(5000)}${i}`))
          const loaded = yield* repo.loadSession(sid("ses_1"), { newest: 3 })
          const paged = yield* repo.pageMessages(sid("ses_1"), { limit: 3 })
          const got = yield* repo.getMessage(sid("ses_1"), mid("m1"))
          expect(paged).toStrictEqual(loaded.messages)
          expect(got).toStrictEqual(loaded.messages[0])
          return loaded
        }))
      expect(ids(warm.messages)).toStrictEqual(["m1", "m2", "m3"])
      expect(String(warm.messages[0]!.message.parts[0]!["text"]).endsWith("39")).toBe(true)
      const cold = yield* withRepository(directory, (repo) => repo.loadSession(sid("ses_1"), { newest: 3 }))
      expect(cold).toStrictEqual(warm)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("never builds a path from a hostile id", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      const hostile = ["../escape", "../../etc", "a/b", "a\\b", "..", ".", "", "x\u0000y", "z".repeat(129)]
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          for (const id of hostile) {
            const s = sid(id)
            const operations: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
              repo.createSession(makeSessionInfo(id)),
              repo.updateSession(makeSessionInfo(id)),
              repo.loadSession(s, { newest: 1 }),
              repo.putMessage(s, message(id, "m1")),
              repo.getMessage(s, mid("m1")),
              repo.pageMessages(s, { limit: 1 }),
              repo.removeMessage(s, mid("m1")),
              repo.removeSession(s)
            ]
            // A contract violation of the caller: a defect, never a retryable RepositoryError.
            for (const operation of operations) {
              const exit = yield* Effect.exit(operation)
              expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
              const defect = Exit.isFailure(exit) ? Cause.squash(exit.cause) : undefined
              expect(defect).toMatchObject({ _tag: expect.stringMatching(/^(InvalidId|InvalidInput)$/) })
            }
          }
          // A message with a hostile id cannot get into a log either.
          yield* repo.createSession(makeSessionInfo("ses_ok"))
          const bad = yield* Effect.exit(repo.putMessage(sid("ses_ok"), message("ses_ok", "../m")))
          expect(Exit.isFailure(bad) && Cause.squash(bad.cause)).toMatchObject({ _tag: "InvalidInput" })
          expect((yield* repo.loadSession(sid("ses_ok"), { newest: 1 })).messageCount).toBe(0)
        }))
      expect(NFS.readdirSync(root)).toStrictEqual(["store"])
      expect(NFS.readdirSync(`${directory}/sessions`)).toStrictEqual([sessionDirectoryName("ses_ok")])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("keeps ids that differ only in case, or are long and non-ASCII, apart", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      const tricky = ["ses_Ab", "ses_aB", "ses_ab", ".hidden", "séance", "se\u0301ance", "é".repeat(128), "%41", "^a", "=x"]
      const names = new Set(tricky.map((id) => sessionDirectoryName(id).toLowerCase().normalize("NFC")))
      expect(names.size).toBe(tricky.length)
      const listed = yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          for (const id of tricky) {
            yield* repo.createSession(makeSessionInfo(id, { title: `title of ${id}` }))
            yield* repo.putMessage(sid(id), message(id, "m1"))
          }
          for (const id of tricky) {
            expect((yield* repo.loadSession(sid(id), { newest: 1 })).info.title).toBe(`title of ${id}`)
          }
          return yield* repo.listSessions()
        }))
      expect(listed.map((s) => s.id).sort()).toStrictEqual([...tricky].sort())
      for (const name of NFS.readdirSync(`${directory}/sessions`)) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(200)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("creates directories 0700 and files 0600", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store/nested`
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 2)
          yield* repo.updateSession(makeSessionInfo("ses_1", { title: "updated" }))
          for (let i = 0; i < 10; i++) yield* repo.putMessage(sid("ses_1"), message("ses_1", "m1", `v${i}`))
          yield* repo.listSessions()
        }), { compactAfterBytes: 0 })
      const entries = NFS.readdirSync(`${root}/store`, { recursive: true, withFileTypes: true })
      expect(entries.filter((e) => e.isFile()).map((e) => e.name).sort()).toStrictEqual([
        "format.json",
        "info.json",
        "messages.jsonl",
        "summary.json"
      ])
      for (const entry of [{ parentPath: root, name: "store", isDirectory: () => true }, ...entries]) {
        const full = NodePath.join(entry.parentPath, entry.name)
        expect((NFS.statSync(full).mode & 0o777).toString(8), full).toBe(entry.isDirectory() ? "700" : "600")
      }
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("removes a session without leaving anything behind", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 3)
          yield* repo.listSessions()
          yield* repo.removeSession(sid("ses_1"))
        }))
      expect(NFS.readdirSync(`${directory}/sessions`)).toStrictEqual([])
      expect(NFS.readdirSync(`${directory}/tmp`)).toStrictEqual([])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("clears what a crash left in tmp/ when it opens, and refuses a foreign format", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) => seed(repo, "ses_1", 1))
      NFS.mkdirSync(`${directory}/tmp/removed-123`)
      NFS.writeFileSync(`${directory}/tmp/removed-123/messages.jsonl`, "half")
      NFS.writeFileSync(`${directory}/tmp/info-456`, "{")
      yield* withRepository(directory, (repo) => repo.listSessions())
      expect(NFS.readdirSync(`${directory}/tmp`)).toStrictEqual([])

      NFS.writeFileSync(`${directory}/format.json`, `{"format":"something-else","version":7}`)
      const error = yield* Effect.flip(withRepository(directory, (repo) => repo.listSessions()))
      expect(error).toMatchObject({ _tag: "RepositoryError", operation: "open" })
      expect(error.message).toContain("format.json")
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("maps disk full to RepositoryError with the platform error, and the log stays valid", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      const diskFull = { on: false }
      const error = yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 2)
          diskFull.on = true
          const error = yield* Effect.flip(repo.putMessage(sid("ses_1"), message("ses_1", "m3")))
          diskFull.on = false
          yield* repo.putMessage(sid("ses_1"), message("ses_1", "m4"))
          expect(ids((yield* repo.loadSession(sid("ses_1"), { newest: 10 })).messages)).toStrictEqual(["m1", "m2", "m4"])
          return error
        })).pipe(Effect.provide(halfWritingFileSystem(diskFull)))
      expect(error).toMatchObject({ _tag: "RepositoryError", operation: "putMessage", sessionId: "ses_1" })
      expect(error.message).toContain("ENOSPC")
      expect((error as { cause: { _tag: string } }).cause._tag).toBe("PlatformError")
      const reopened = yield* withRepository(directory, (repo) => repo.loadSession(sid("ses_1"), { newest: 10 }))
      expect(ids(reopened.messages)).toStrictEqual(["m1", "m2", "m4"])
      expect(yield* verifyDirectory(directory)).toStrictEqual([])
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("lists from summaries that notice when the log changed behind them", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) => seed(repo, "ses_1", 2))
      // Written when the session's state was released (here: when the repository closed).
      const summary = `${paths(root, "ses_1").directory}/summary.json`
      expect(JSON.parse(NFS.readFileSync(summary, "utf8"))).toMatchObject({ messageCount: 2 })
      const first = yield* withRepository(directory, (repo) => repo.listSessions())
      expect(first[0]).toMatchObject({ id: "ses_1", messageCount: 2 })
      const extra = message("ses_1", "m3")
      NFS.appendFileSync(paths(root, "ses_1").log, `{"put":${encodeRecord(extra).json}}\n`)
      const second = yield* withRepository(directory, (repo) => repo.listSessions())
      expect(second[0]).toMatchObject({ id: "ses_1", messageCount: 3, bytes: first[0]!.bytes + encodeRecord(extra).bytes })
      expect(yield* listStoredSessions(directory)).toStrictEqual(second)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("serializes concurrent appends to one session through separate fibers", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* repo.createSession(makeSessionInfo("ses_1"))
          yield* Effect.forEach(
            Array.from({ length: 60 }, (_, i) => message("ses_1", `m${i}`, "y".repeat(i * 50))),
            (m) => repo.putMessage(sid("ses_1"), m),
            { concurrency: "unbounded" }
          )
        }))
      const lines = NFS.readFileSync(paths(root, "ses_1").log, "utf8").split("\n")
      expect(lines).toHaveLength(61)
      expect(lines.at(-1)).toBe("")
      for (const line of lines.slice(0, -1)) expect(() => JSON.parse(line)).not.toThrow()
    }).pipe(Effect.provide(NodeServices.layer)))
})

describe("StorageInspection", () => {
  it.effect("verifies a good directory without a single problem, and writes nothing", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 3)
          yield* seed(repo, "ses_2", 0)
        }))
      const before = snapshot(root)
      expect(yield* verifyDirectory(directory)).toStrictEqual([])
      expect((yield* listStoredSessions(directory)).map((s) => s.id).sort()).toStrictEqual(["ses_1", "ses_2"])
      expect(snapshot(root)).toStrictEqual(before)
    }).pipe(Effect.provide(NodeServices.layer)))

  it.effect("reports every problem of a corrupt directory with its file", () =>
    Effect.gen(function*() {
      const root = yield* tempRoot
      const directory = `${root}/store`
      yield* withRepository(directory, (repo) =>
        Effect.gen(function*() {
          yield* seed(repo, "ses_1", 4)
          yield* seed(repo, "ses_2", 1)
          yield* seed(repo, "ses_3", 1)
        }))
      const one = paths(root, "ses_1")
      const lines = NFS.readFileSync(one.log, "utf8").split("\n")
      lines[0] = "not json"
      lines[2] = JSON.stringify({ put: message("ses_other", "m3") })
      lines[3] = `{"what":"is this"}`
      NFS.writeFileSync(one.log, lines.join("\n"))
      NFS.writeFileSync(paths(root, "ses_2").info, "{")
      NFS.writeFileSync(paths(root, "ses_3").info, JSON.stringify(makeSessionInfo("ses_4")))
      NFS.writeFileSync(`${directory}/sessions/stray-file`, "?")
      NFS.mkdirSync(`${directory}/sessions/empty-dir`)
      const before = snapshot(root)

      const problems = yield* verifyDirectory(directory)
      expect(problems.map((p) => `${NodePath.relative(directory, p.file)}: ${p.problem}`)).toStrictEqual([
        "sessions/empty-dir/info.json: missing: the session directory has no info record",
        expect.stringMatching(/^sessions\/ses_1\/messages.jsonl: line 1: not valid JSON/),
        "sessions/ses_1/messages.jsonl: line 3: message m3 belongs to session ses_other, not ses_1",
        "sessions/ses_1/messages.jsonl: line 4: neither a put nor a remove record",
        expect.stringMatching(/^sessions\/ses_2\/info.json: not valid JSON/),
        "sessions/ses_3/info.json: holds session ses_4, which is not the session of directory ses_3",
        "sessions/stray-file: not a session directory"
      ])
      expect(snapshot(root)).toStrictEqual(before)
    }).pipe(Effect.provide(NodeServices.layer)))
})

/** The version a crash-test message carries in its last part (`v<N>`). */
const versionOf = (message: MessageWithParts): number => Number(String(message.parts.at(-1)?.["text"]).slice(1))

const CHILD = fileURLToPath(new URL("./fixtures/appendingChild.ts", import.meta.url))

/**
 * Starts the appending child, waits for `acks` acknowledgements, kills it with
 * SIGKILL, and returns every `ack` line it printed.
 */
const runAndKill = (directory: string, session: string, first: number, acks: number) =>
  new Promise<Array<string>>((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, directory, session, String(first)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let out = ""
    let err = ""
    let killed = false
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk
      if (!killed && out.split("\n").length > acks) {
        killed = true
        child.kill("SIGKILL")
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk))
    child.on("error", reject)
    child.on("exit", (_code, signal) => {
      if (signal !== "SIGKILL") return reject(new Error(`child exited without being killed: ${err}`))
      resolve(out.split("\n").filter((line) => line.startsWith("ack ")))
    })
  })

/**
 * The real file system, except that while `diskFull.on` a write to a message
 * log writes half its bytes and then fails with ENOSPC, as a full disk does.
 */
const halfWritingFileSystem = (diskFull: { on: boolean }) =>
  Layer.effect(
    FileSystem.FileSystem,
    Effect.map(FileSystem.FileSystem, (real) =>
      FileSystem.FileSystem.of({
        ...real,
        open: (path, options) =>
          Effect.map(real.open(path, options), (file): FileSystem.File =>
            path.endsWith("messages.jsonl")
              ? {
                [FileSystem.FileTypeId]: FileSystem.FileTypeId,
                get stat() {
                  return file.stat
                },
                get sync() {
                  return file.sync
                },
                seek: (offset, from) => file.seek(offset, from),
                read: (buffer, options) => file.read(buffer, options),
                readAlloc: (size, options) => file.readAlloc(size, options),
                truncate: (length) => file.truncate(length),
                write: (buffer) => file.write(buffer),
                writeAll: (buffer) =>
                  diskFull.on
                    ? file.writeAll(buffer.subarray(0, buffer.length >> 1)).pipe(Effect.andThen(Effect.fail(systemError({
                      _tag: "Unknown",
                      module: "FileSystem",
                      method: "writeAll",
                      pathOrDescriptor: path,
                      syscall: "write",
                      cause: Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" })
                    }))))
                    : file.writeAll(buffer)
              }
              : file)
      }))
  ).pipe(Layer.provide(NodeFileSystem.layer))
