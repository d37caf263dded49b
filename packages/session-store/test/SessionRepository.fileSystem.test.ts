import { NodeServices } from "@effect/platform-node"
import { Effect, FileSystem, Layer } from "effect"
import { SessionRepository } from "../src/SessionRepository.ts"
import { type FileSystemRepositoryOptions, makeFileSystemRepository } from "../src/internal/fileSystemRepository.ts"
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
