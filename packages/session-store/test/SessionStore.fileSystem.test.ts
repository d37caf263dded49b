import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import { SessionStore } from "../src/store/SessionStore.ts"
import { message, messageId, sessionInfo } from "./SessionStore.support.ts"

const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "session-store-fs-"))),
  (directory) => Effect.sync(() => fs.rmSync(directory, { recursive: true, force: true }))
)

const storeOn = (directory: string, memory: Record<string, unknown>) =>
  SessionStore.layerFileSystem({ directory, fsync: false }).pipe(
    Layer.provide(ConfigProvider.layer(ConfigProvider.fromUnknown({ memory })))
  )

/** Builds the layer, runs `f` with the store, releases the layer. */
const withStore = <A, E>(
  directory: string,
  memory: Record<string, unknown>,
  f: (store: SessionStore["Service"]) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(Layer.build(storeOn(directory, memory)), (context) => f(Context.get(context, SessionStore))))

describe("SessionStore.layerFileSystem", () => {
  it.effect("what was written through a small store reads back identical after a restart", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const small = { maxSessions: 2, maxMessagesPerSession: 3 }
      const expected = new Map<string, { title: string; messages: Array<string> }>()

      yield* withStore(directory, small, (store) =>
        Effect.gen(function*() {
          for (let s = 1; s <= 4; s++) {
            const id = `ses_${s}`
            yield* store.createSession(sessionInfo(id))
            yield* store.getSession(id) // resident, so writes update memory too; others get evicted
            const texts: Array<string> = []
            for (let m = 1; m <= 5; m++) {
              texts.push(`${id} message ${m}`)
              yield* store.appendMessage(id, message(id, messageId(m), texts[m - 1]))
            }
            expected.set(id, { title: `title of ${id}`, messages: texts })
          }
          yield* store.putMessage("ses_1", message("ses_1", messageId(1), "rewritten while cold"))
          expected.get("ses_1")!.messages[0] = "rewritten while cold"
          yield* store.updateSession("ses_2", (info) => ({ ...info, title: "renamed" }))
          expected.get("ses_2")!.title = "renamed"
          yield* store.removeMessage("ses_3", messageId(5))
          expected.get("ses_3")!.messages.pop()
          yield* store.removeSession("ses_4")
          expected.delete("ses_4")
          const stats = yield* store.stats
          assert.isAtMost(stats.residentSessions, 2)
          assert.isAbove(stats.evictions.capacity, 0)
        }))

      yield* withStore(directory, small, (store) =>
        Effect.gen(function*() {
          assert.deepStrictEqual((yield* store.listSessions()).map((s) => s.id).sort(), [...expected.keys()].sort())
          for (const [id, want] of expected) {
            assert.strictEqual((yield* store.getSession(id)).title, want.title)
            const texts = (yield* store.getMessages(id)).map((m) => m.parts[0]!["text"])
            assert.deepStrictEqual(texts, want.messages, id)
            assert.deepStrictEqual(
              (yield* store.getMessages(id, { limit: 3 })).map((m) => m.parts[0]!["text"]),
              want.messages.slice(-3)
            )
          }
          const gone = yield* Effect.flip(store.getSession("ses_4"))
          assert.strictEqual(gone._tag, "SessionNotFound")
        }))
    }))

  it.effect("follows the live V8 heap, read every memory.pressureCheckIntervalMs from the same config", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      yield* withStore(directory, { pressureCheckIntervalMs: 2_000, pressureThreshold: 0.99 }, (store) =>
        Effect.gen(function*() {
          const first = yield* store.memoryPressure
          assert.isAbove(first.reading.heapUsed, 0)
          assert.isAbove(first.reading.heapLimit, first.reading.heapUsed)
          assert.strictEqual(first.threshold, 0.99)
          yield* TestClock.adjust(2_000)
          for (let turn = 0; turn < 1_000 && (yield* store.memoryPressure).reading.at < 2_000; turn++) {
            yield* Effect.yieldNow
          }
          assert.strictEqual((yield* store.memoryPressure).reading.at, 2_000)
        }))
    }))

  it.effect("an invalid memory key fails the layer with a ConfigError naming it", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const error = yield* Effect.flip(withStore(directory, { maxSessions: 0 }, () => Effect.void))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, `["memory"]["maxSessions"]`)
    }))

  it.effect("a directory that cannot be opened fails the layer with a RepositoryError", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const file = path.join(directory, "not-a-directory")
      fs.writeFileSync(file, "x")
      const error = yield* Effect.flip(withStore(path.join(file, "sessions"), {}, () => Effect.void))
      assert.strictEqual(error._tag, "RepositoryError")
    }))
})
