import { defineConfig } from "vitest/config"

// One Vitest project per package; each package's own vitest.config.ts says what it runs.
// The tarball project (packages/cli/vitest.tarball.config.ts) runs last, on its own.
export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "packages/cli/vitest.tarball.config.ts"]
  }
})
