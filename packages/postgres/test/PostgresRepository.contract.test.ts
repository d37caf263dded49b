import { describe, inject } from "@effect/vitest"
import { Layer } from "effect"
import { repositoryContract } from "../../session-store/test/SessionRepository.contract.ts"
import { freshRepository } from "./support.ts"

describe.skipIf(!inject("postgresAvailable"))("PostgreSQL", () => {
  repositoryContract("PostgreSQL (@effect/sql-pg, opencode's tables in a schema of its own)", freshRepository().pipe(Layer.orDie))
})
