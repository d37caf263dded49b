import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    name: "session-store",
    include: ["test/**/*.test.ts"]
  }
})
