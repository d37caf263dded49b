/**
 * Writes a soak's report.html and summary.json, and says where.
 *
 * @example
 * ```ts
 * import { writeReport } from "./report/files.ts"
 *
 * const publish = (report: SoakReport) =>
 *   Effect.andThen(writeReport(report, ".soak"), (files) => Effect.log(files.html))
 * ```
 *
 * @since 0.1.0
 */
import { Effect, FileSystem, Path } from "effect"
import { createRequire } from "node:module"
import type { SoakReport } from "../soak.ts"
import { renderHtml } from "./html.ts"
import { summarize } from "./summary.ts"

const chartBundle = (): string => {
  // chart.js exports no path to its UMD build; it sits beside the CommonJS entry.
  const main = createRequire(import.meta.url).resolve("chart.js")
  return main.replace(/chart\.cjs$/, "chart.umd.min.js")
}

/**
 * Writes `report.html` and `summary.json` into `directory` (created if
 * missing) and says where.
 *
 * @example
 * ```ts
 * const files = yield* writeReport(report, ".soak")
 * ```
 */
export const writeReport = Effect.fn("Report.write")(function*(report: SoakReport, directory: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  yield* fs.makeDirectory(directory, { recursive: true })
  const chartJs = yield* fs.readFileString(chartBundle())
  const html = path.join(directory, "report.html")
  const json = path.join(directory, "summary.json")
  yield* fs.writeFileString(html, renderHtml(report, chartJs))
  yield* fs.writeFileString(json, `${JSON.stringify(summarize(report), null, 2)}\n`)
  return { html, json }
})
