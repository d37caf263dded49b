import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "session-store",
    include: ["test/**/*.test.ts"],
    // Real files and SQLite on a 2-core machine running test files in parallel:
    // a property spec that takes 2 s alone can take over 5 s (the default) under load.
    testTimeout: 30_000
  }
})
