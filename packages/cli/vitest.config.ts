import { defineProject } from "vitest/config"

// Inside the workspace, `@session-store/core` resolves to its TypeScript sources (the
// `@session-store/source` export condition): tests never need a build. Installed
// consumers get dist/ (see packages/cli/tarball/tarball.test.ts).
const conditions = ["@session-store/source", "node", "development|production"]

export default defineProject({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    name: "cli",
    include: ["test/**/*.test.ts"]
  }
})
