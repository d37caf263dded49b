import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "postgres",
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 60_000
  }
})
