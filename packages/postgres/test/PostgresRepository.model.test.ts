/** The store's model-based property (core's Reliability.model.ts), unchanged, on the PostgreSQL repository. */
import { describe, inject, it } from "@effect/vitest"
import { Layer } from "effect"
import * as fc from "fast-check"
import { envInt, runParameters } from "../../session-store/test/Reliability.support.ts"
import { newTally, property, report } from "../../session-store/test/Reliability.model.ts"
import { freshRepository } from "./support.ts"

const PG_RUNS = envInt("SESSION_STORE_MODEL_PG_RUNS", 15)

describe.skipIf(!inject("postgresAvailable"))("Reliability: model-based, PostgreSQL", () => {
  it(`PostgreSQL repository: ${PG_RUNS} random sequences agree with the model after every step`, async () => {
    const tally = newTally()
    await fc.assert(property(tally, () => freshRepository().pipe(Layer.orDie), false), runParameters(PG_RUNS))
    report("PostgreSQL repository", tally)
  }, 600_000)
})
