import { NodeServices } from "@effect/platform-node"
import { Effect, FileSystem, Layer } from "effect"
import { SessionRepository } from "../src/repository/SessionRepository.ts"
import { repositoryContract } from "./SessionRepository.contract.ts"

/** A SQLite repository on a fresh file in a temporary directory, removed when the test ends. */
const onTempFile = (options: { readonly synchronous?: "FULL" | "NORMAL" } = {}) =>
  Layer.unwrap(Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const directory = yield* fs.makeTempDirectoryScoped({ prefix: "session-store-sqlite-" })
    return SessionRepository.layerSqlite({ filename: `${directory}/opencode.db`, ...options })
  })).pipe(Layer.provide(NodeServices.layer))

repositoryContract("SQLite (node:sqlite, opencode's tables)", onTempFile())
repositoryContract("SQLite, synchronous NORMAL", onTempFile({ synchronous: "NORMAL" }))
