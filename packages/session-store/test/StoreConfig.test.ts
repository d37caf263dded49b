import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { getHeapStatistics } from "node:v8"
import { defaultPressureCheckIntervalMs } from "../src/monitor/MemoryMonitor.ts"
import { defaultMaxBytes, defaults, fromOptions, provider, StoreConfig, type StoreOptions } from "../src/config/StoreConfig.ts"

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

// Keys whose value is a count, a size or a duration: a positive integer.
const intKeys = [
  "maxSessions",
  "maxMessagesPerSession",
  "sessionTtlMs",
  "inactiveTtlMs",
  "cleanupIntervalMs",
  "maxBytes",
  "maxMessageBytes",
  "pressureCheckIntervalMs",
  "pressureCooldownMs"
] as const
// Keys whose value is a ratio.
const ratioKeys = ["pressureThreshold", "pressureHysteresis", "pressureShedTarget"] as const
const keys: ReadonlyArray<keyof StoreOptions> = [...intKeys, ...ratioKeys]

const envNames: Record<keyof StoreOptions, string> = {
  maxSessions: "MEMORY_MAX_SESSIONS",
  maxMessagesPerSession: "MEMORY_MAX_MESSAGES_PER_SESSION",
  sessionTtlMs: "MEMORY_SESSION_TTL_MS",
  inactiveTtlMs: "MEMORY_INACTIVE_TTL_MS",
  cleanupIntervalMs: "MEMORY_CLEANUP_INTERVAL_MS",
  maxBytes: "MEMORY_MAX_BYTES",
  maxMessageBytes: "MEMORY_MAX_MESSAGE_BYTES",
  pressureThreshold: "MEMORY_PRESSURE_THRESHOLD",
  pressureCheckIntervalMs: "MEMORY_PRESSURE_CHECK_INTERVAL_MS",
  pressureHysteresis: "MEMORY_PRESSURE_HYSTERESIS",
  pressureCooldownMs: "MEMORY_PRESSURE_COOLDOWN_MS",
  pressureShedTarget: "MEMORY_PRESSURE_SHED_TARGET"
}

// A valid value for each key other than its default, as the environment spells it.
const envValues: Record<keyof StoreOptions, string> = {
  ...Object.fromEntries(intKeys.map((key) => [key, "42"])) as Record<(typeof intKeys)[number], string>,
  pressureThreshold: "0.9",
  pressureHysteresis: "0.05",
  pressureShedTarget: "0.25"
}

const read = (p: ConfigProvider.ConfigProvider) => StoreConfig.parse(p)

describe("StoreConfig", () => {
  it.effect("the proposal's opencode.json section loads verbatim through fromUnknown", () =>
    Effect.gen(function*() {
      const options = yield* read(ConfigProvider.fromUnknown(proposal))
      assert.deepStrictEqual(options, { ...defaults, ...proposal.memory })
    }))

  it.effect("a missing section, an empty section and null values mean the defaults", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* read(ConfigProvider.fromUnknown({})), defaults)
      assert.deepStrictEqual(yield* read(ConfigProvider.fromUnknown({ memory: {} })), defaults)
      assert.deepStrictEqual(yield* read(ConfigProvider.fromUnknown({ memory: { maxSessions: null } })), defaults)
      assert.deepStrictEqual(yield* read(ConfigProvider.fromUnknown({ memory: { pressureThreshold: null } })), defaults)
      assert.deepStrictEqual(yield* read(provider({ file: {}, env: {} })), defaults)
      assert.deepStrictEqual({ ...defaults, ...proposal.memory }, defaults)
    }))

  it("the later keys' defaults: a byte budget of an eighth of the heap limit, 8 MiB messages, pressure at 0.8", () => {
    const heapLimit = getHeapStatistics().heap_size_limit
    assert.strictEqual(defaults.maxBytes, Math.floor(heapLimit / 8))
    assert.strictEqual(defaultMaxBytes(4 * 2 ** 30), 512 * 2 ** 20)
    assert.strictEqual(defaults.maxMessageBytes, 8 * 2 ** 20)
    assert.strictEqual(defaults.pressureThreshold, 0.8)
    assert.strictEqual(defaults.pressureCheckIntervalMs, defaultPressureCheckIntervalMs)
    assert.strictEqual(defaults.pressureHysteresis, 0.1)
    assert.strictEqual(defaults.pressureCooldownMs, 60_000)
    assert.strictEqual(defaults.pressureShedTarget, 0.5)
  })

  it.effect("file values override the defaults key by key, numbers or numeric strings", () =>
    Effect.gen(function*() {
      const options = yield* read(ConfigProvider.fromUnknown({ memory: { maxSessions: 7, inactiveTtlMs: "1000" } }))
      assert.deepStrictEqual(options, { ...defaults, maxSessions: 7, inactiveTtlMs: 1000 })
    }))

  it.effect("environment variables override the file, each under its constant-case name", () =>
    Effect.gen(function*() {
      for (const key of keys) {
        const options = yield* read(provider({ file: proposal, env: { [envNames[key]]: envValues[key] } }))
        assert.deepStrictEqual(options, { ...defaults, ...proposal.memory, [key]: Number(envValues[key]) }, key)
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
      assert.deepStrictEqual(options, { ...defaults, ...proposal.memory })
    }))

  const invalid: ReadonlyArray<readonly [string, unknown, string]> = [
    ["zero", 0, "greater than 0"],
    ["negative", -5, "greater than 0"],
    ["fractional", 1.5, "integer"],
    ["non-numeric", "lots", "not a number"],
    ["empty", "", "not a number"],
    ["boolean", true, "not a number"],
    ["not finite", Infinity, "finite number"],
    ["beyond safe integers", 1e300, "integer"],
    ["an object", { value: 5 }, "positive integer"],
    ["an array", [5], "positive integer"]
  ]

  for (const [label, value, expected] of invalid) {
    it.effect(`a value that is ${label} fails with a ConfigError naming each integer key`, () =>
      Effect.gen(function*() {
        for (const key of intKeys) {
          // Through `provider`, as opencode reads its file (plain fromUnknown would treat "" as unset).
          const error = yield* Effect.flip(read(provider({ file: { memory: { [key]: value } }, env: {} })))
          assert.strictEqual(error._tag, "ConfigError")
          assert.include(error.message, `["memory"]["${key}"]`)
          assert.include(error.message, expected)
        }
      }))
  }

  const invalidRatios: ReadonlyArray<readonly [string, unknown, ReadonlyArray<(typeof ratioKeys)[number]>, string]> = [
    ["zero, for the threshold", 0, ["pressureThreshold"], "greater than 0"],
    ["above 1", 1.5, ratioKeys, "less than"],
    ["1, for a fraction", 1, ["pressureHysteresis", "pressureShedTarget"], "less than 1"],
    ["negative", -0.1, ratioKeys, "greater than"],
    ["non-numeric", "high", ratioKeys, "not a number"],
    ["empty", "", ratioKeys, "not a number"],
    ["not finite", Infinity, ratioKeys, "finite number"],
    ["an object", { value: 0.5 }, ratioKeys, "a number in"]
  ]

  for (const [label, value, ratios, expected] of invalidRatios) {
    it.effect(`a ratio that is ${label} fails with a ConfigError naming the key`, () =>
      Effect.gen(function*() {
        for (const key of ratios) {
          const error = yield* Effect.flip(read(provider({ file: { memory: { [key]: value } }, env: {} })))
          assert.strictEqual(error._tag, "ConfigError")
          assert.include(error.message, `["memory"]["${key}"]`)
          assert.include(error.message, expected)
        }
      }))
  }

  it.effect("ratios take their bounds: a threshold of 1, a hysteresis or target of 0", () =>
    Effect.gen(function*() {
      const options = yield* fromOptions({ pressureThreshold: 1, pressureHysteresis: 0, pressureShedTarget: 0 })
      assert.deepStrictEqual(options, { ...defaults, pressureThreshold: 1, pressureHysteresis: 0, pressureShedTarget: 0 })
    }))

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
      const ratio = yield* Effect.flip(fromOptions({ pressureThreshold: 2 }))
      assert.include(ratio.message, `["memory"]["pressureThreshold"]`)
      const nan = yield* Effect.flip(fromOptions({ cleanupIntervalMs: Number.NaN }))
      assert.include(nan.message, `["memory"]["cleanupIntervalMs"]`)
    }))

  it.effect("Effect's default provider (plain fromEnv) reads the path joined with underscores", () =>
    Effect.gen(function*() {
      const options = yield* read(ConfigProvider.fromEnv({ env: { memory_maxSessions: "12", memory_maxBytes: "4096" } }))
      assert.strictEqual(options.maxSessions, 12)
      assert.strictEqual(options.maxBytes, 4096)
    }))

  // Issue 12: a section that is not an object, or a misspelled key, used to start with the defaults.
  for (const [label, section, expected] of [
    ["a string", "abc", `"memory": expected an object of settings, got "abc"`],
    ["an array", [1], `"memory": expected an object of settings, got an array`],
    ["a number", 5, `"memory": expected an object of settings, got 5`]
  ] as const) {
    it.effect(`a memory section that is ${label} fails with a ConfigError naming the section`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(read(provider({ file: { memory: section }, env: {} })))
        assert.strictEqual(error._tag, "ConfigError")
        assert.include(error.message, expected)
      }))
  }

  it.effect("an unknown key in the memory section fails, suggesting the nearest known key", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(read(provider({ file: { memory: { maxSesions: 50 } }, env: {} })))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, `unknown key "maxSesions"; did you mean "maxSessions"?`)
      const other = yield* Effect.flip(read(provider({ file: { memory: { inactiveTTL: 5 } }, env: {} })))
      assert.include(other.message, `did you mean "inactiveTtlMs"?`)
      const option = yield* Effect.flip(fromOptions({ maxMesagesPerSession: 5 } as Partial<StoreOptions>))
      assert.include(option.message, `unknown key "maxMesagesPerSession"; did you mean "maxMessagesPerSession"?`)
    }))

  it.effect("a bad value from the environment names the variable, not only the path", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(read(provider({ file: { memory: { maxSessions: 5 } }, env: { MEMORY_MAX_SESSIONS: "abc" } })))
      assert.strictEqual(error._tag, "ConfigError")
      assert.include(error.message, `MEMORY_MAX_SESSIONS="abc"`)
      assert.include(error.message, "not a number")
      assert.include(error.message, `["memory"]["maxSessions"]`)
      const ratio = yield* Effect.flip(read(provider({ env: { MEMORY_PRESSURE_THRESHOLD: "2" } })))
      assert.include(ratio.message, `MEMORY_PRESSURE_THRESHOLD="2"`)
      // The same value in the file does not mention the environment.
      const file = yield* Effect.flip(read(provider({ file: { memory: { maxSessions: "abc" } }, env: {} })))
      assert.notInclude(file.message, "MEMORY_MAX_SESSIONS")
      assert.include(file.message, `got "abc": not a number`)
    }))
})
