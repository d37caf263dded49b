import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Layer } from "effect"
import * as fc from "fast-check"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { newTally, PATH, property, report, RUNS, SQLITE_RUNS } from "./Reliability.model.ts"
import { runParameters } from "./Reliability.support.ts"

describe("Reliability: model-based", () => {
  it(`memory repository: ${RUNS} random sequences agree with the model after every step`, async () => {
    const tally = newTally()
    // Stays on fc.assert: it.effect.prop (@effect/vitest 4.0.5) takes only effect/Arbitrary or Schema inputs and { runs, seed, replay }, not fast-check's seed and SESSION_STORE_MODEL_PATH replay.
    await fc.assert(property(tally, () => SessionRepository.layerMemory, true), runParameters(RUNS))
    report("memory repository", tally)
    if (PATH === undefined && RUNS >= 100) {
      // `stale` needs a second process writing: SessionStore.coherence.test.ts.
      for (const [cause, count] of Object.entries(tally.causes)) {
        if (cause !== "stale") assert.isAbove(count, 0, `eviction cause ${cause} exercised`)
      }
      assert.isAbove(tally.faultsInjected, 0)
      assert.isAbove(tally.interruptedApplied, 0, "some interrupted writes were applied")
      assert.isAbove(tally.interruptedNotApplied, 0, "some interrupted operations were not")
    }
  }, 600_000)

  it(`SQLite repository on temp files: ${SQLITE_RUNS} random sequences agree with the model after every step`, async () => {
    const tally = newTally()
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "session-store-model-"))
    let n = 0
    try {
      // Stays on fc.assert: it.effect.prop (@effect/vitest 4.0.5) takes only effect/Arbitrary or Schema inputs and { runs, seed, replay }, not fast-check's seed and SESSION_STORE_MODEL_PATH replay.
      await fc.assert(
        property(
          tally,
          () =>
            SessionRepository.layerSqlite({ filename: path.join(root, `run-${n++}.db`), synchronous: "NORMAL" }).pipe(
              Layer.orDie
            ),
          false
        ),
        runParameters(SQLITE_RUNS)
      )
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
    report("SQLite repository", tally)
  }, 600_000)
})
