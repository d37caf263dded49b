import { fileURLToPath } from "node:url"
import { defineProject } from "vitest/config"

// Inside the workspace, `@session-store/core` resolves to its TypeScript sources (the
// `@session-store/source` export condition): tests never need a build. Installed
// consumers get dist/ (see packages/cli/tarball/tarball.test.ts).
const conditions = ["@session-store/source", "node", "development|production"]

export default defineProject({
  resolve: {
    conditions,
    // Only for Readme.test.ts, which runs the README's metrics wiring verbatim (see the fixture).
    alias: {
      "@opentelemetry/exporter-metrics-otlp-http": fileURLToPath(new URL("test/fixtures/otlpMetricExporter.ts", import.meta.url))
    }
  },
  ssr: { resolve: { conditions } },
  test: {
    name: "session-store",
    include: ["test/**/*.test.ts"],
    // Real files and SQLite on a 2-core machine running test files in parallel:
    // a property spec that takes 2 s alone can take over 5 s (the default) under load.
    testTimeout: 30_000
  }
})
