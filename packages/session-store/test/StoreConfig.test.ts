import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { defaults, fromOptions, provider, StoreConfig, type StoreOptions } from "../src/StoreConfig.ts"

// The `memory` section of opencode.json as the original proposal wrote it.
const proposal = {
  memory: {
    maxSessions: 100,
    maxMessagesPerSession: 1000,
    sessionTtlMs: 86400000,
    inactiveTtlMs: 14400000,
    cleanupIntervalMs: 300000
  }
}

const keys: ReadonlyArray<keyof StoreOptions> = [
  "maxSessions",
  "maxMessagesPerSession",
  "sessionTtlMs",
  "inactiveTtlMs",
  "cleanupIntervalMs"
]

const envNames: Record<keyof StoreOptions, string> = {
  maxSessions: "MEMORY_MAX_SESSIONS",
  maxMessagesPerSession: "MEMORY_MAX_MESSAGES_PER_SESSION",
  sessionTtlMs: "MEMORY_SESSION_TTL_MS",
  inactiveTtlMs: "MEMORY_INACTIVE_TTL_MS",
  cleanupIntervalMs: "MEMORY_CLEANUP_INTERVAL_MS"
}

const read = (p: ConfigProvider.ConfigProvider) => StoreConfig.parse(p)

describe("StoreConfig", () => {
  it.effect("the proposal's opencode.json section loads verbatim through fromUnknown", () =>
    Effect.gen(function*() {
      const options = yield* read(ConfigProvider.fromUnknown(proposal))
      assert.deepStrictEqual(options, proposal.memory)
    }))

  it.effect("a missing section, an empty section and null values mean the defaults", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* read(ConfigProvider.fromUnknown({})), defaults)
      assert.deepStrictEqual(yield* read(ConfigProvider.fromUnknown({ memory: {} })), defaults)
      assert.deepStrictEqual(yield* read(ConfigProvider.fromUnknown({ memory: { maxSessions: null } })), defaults)
      assert.deepStrictEqual(yield* read(provider({ file: {}, env: {} })), defaults)
      assert.deepStrictEqual(defaults, proposal.memory)
    }))

  it.effect("file values override the defaults key by key, numbers or numeric strings", () =>
    Effect.gen(function*() {
      const options = yield* read(ConfigProvider.fromUnknown({ memory: { maxSessions: 7, inactiveTtlMs: "1000" } }))
      assert.deepStrictEqual(options, { ...defaults, maxSessions: 7, inactiveTtlMs: 1000 })
    }))

  it.effect("environment variables override the file, each under its constant-case name", () =>
    Effect.gen(function*() {
      for (const key of keys) {
        const options = yield* read(provider({ file: proposal, env: { [envNames[key]]: "42" } }))
        assert.deepStrictEqual(options, { ...proposal.memory, [key]: 42 }, key)
      }
      // Keys the environment does not set still come from the file.
      const mixed = yield* read(
        provider({ file: { memory: { maxSessions: 5, cleanupIntervalMs: 60000 } }, env: { MEMORY_MAX_SESSIONS: "9" } })
      )
      assert.deepStrictEqual(mixed, { ...defaults, maxSessions: 9, cleanupIntervalMs: 60000 })
    }))

  it.effect("unrelated environment variables are ignored", () =>
    Effect.gen(function*() {
      const options = yield* read(provider({ file: proposal, env: { MEMORY: "lots", HOME: "/root", memory_x: "1" } }))
      assert.deepStrictEqual(options, proposal.memory)
    }))

  const invalid: ReadonlyArray<readonly [string, unknown, string]> = [
    ["zero", 0, "greater than 0"],
    ["negative", -5, "greater than 0"],
    ["fractional", 1.5, "integer"],
    ["non-numeric", "lots", "finite number"],
    ["empty", "", "finite number"],
    ["boolean", true, "finite number"],
    ["not finite", Infinity, "finite number"],
    ["beyond safe integers", 1e300, "integer"],
    ["an object", { value: 5 }, "positive integer"],
    ["an array", [5], "positive integer"]
  ]

  for (const [label, value, expected] of invalid) {
    it.effect(`a value that is ${label} fails with a ConfigError naming each key`, () =>
      Effect.gen(function*() {
        for (const key of keys) {
          // Through `provider`, as opencode reads its file (plain fromUnknown would treat "" as unset).
          const error = yield* Effect.flip(read(provider({ file: { memory: { [key]: value } }, env: {} })))
          assert.strictEqual(error._tag, "ConfigError")
          assert.include(error.message, `["memory"]["${key}"]`)
          assert.include(error.message, expected)
        }
      }))
  }

  it.effect("an invalid environment variable fails even when the file is valid", () =>
    Effect.gen(function*() {
      for (const bad of ["0", "-1", "2.5", "ten", ""]) {
        const error = yield* Effect.flip(read(provider({ file: proposal, env: { MEMORY_SESSION_TTL_MS: bad } })))
        assert.include(error.message, `["memory"]["sessionTtlMs"]`, bad)
      }
    }))

  it.effect("explicit options are validated like a file, with the same errors", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* fromOptions(), defaults)
      assert.deepStrictEqual(yield* fromOptions({ maxSessions: 3 }), { ...defaults, maxSessions: 3 })
      const error = yield* Effect.flip(fromOptions({ maxMessagesPerSession: -1 }))
      assert.include(error.message, `["memory"]["maxMessagesPerSession"]`)
      const nan = yield* Effect.flip(fromOptions({ cleanupIntervalMs: Number.NaN }))
      assert.include(nan.message, `["memory"]["cleanupIntervalMs"]`)
    }))

  it.effect("Effect's default provider (plain fromEnv) reads the path joined with underscores", () =>
    Effect.gen(function*() {
      const options = yield* read(ConfigProvider.fromEnv({ env: { memory_maxSessions: "12" } }))
      assert.strictEqual(options.maxSessions, 12)
    }))
})
