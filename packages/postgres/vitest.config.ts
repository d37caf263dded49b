import { defineProject } from "vitest/config"

// Inside the workspace, `@session-store/core` resolves to its TypeScript sources (the
// `@session-store/source` export condition), never to a dist/ another project may be building.
const conditions = ["@session-store/source", "node", "development|production"]

export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    name: "postgres",
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/globalSetup.ts"],
    testTimeout: 60_000,
    // After the other projects, one file at a time: the two-node specs time how soon a node sees
    // another's write, and they load the CPU (child processes, 2,000-append races) enough to slow
    // the other projects' timed specs when run beside them.
    fileParallelism: false,
    sequence: { groupOrder: 1 }
  }
})
