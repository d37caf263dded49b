/**
 * The trend of a soak's samples after warm-up: a least-squares line through
 * the second half of them. A store that holds a bounded working set shows a
 * slope near zero there however long it runs; a leak shows a steady positive
 * one. The first half is left out because it includes the warm-up (the
 * resident set filling up to its budget), which rises by design.
 *
 * @example
 * ```ts
 * const fit = fitLine(secondHalf(samples).map((s) => ({ x: s.operation, y: s.heapUsed })))
 * const mbPer100k = fit === undefined ? null : perHundredThousand(fit.slope)
 * ```
 */

/** One point of a series. */
export interface Point {
  readonly x: number
  readonly y: number
}

/** A fitted line `y = intercept + slope * x`. */
export interface Line {
  readonly slope: number
  readonly intercept: number
  /**
   * The slope's standard error: how far the slope could be from the true one
   * given the scatter around the line (undefined with fewer than three
   * points). A store's resident set saw-tooths under its byte budget, so a
   * slope smaller than about twice this is not growth.
   */
  readonly standardError: number | undefined
}

/**
 * The ordinary least-squares line through `points`, or `undefined` when it
 * is not defined (fewer than two points, or every x the same).
 *
 * @example
 * ```ts
 * fitLine([{ x: 0, y: 1 }, { x: 2, y: 5 }]) // { slope: 2, intercept: 1, standardError: undefined }
 * ```
 */
export const fitLine = (points: ReadonlyArray<Point>): Line | undefined => {
  const n = points.length
  if (n < 2) return undefined
  let meanX = 0
  let meanY = 0
  for (const p of points) {
    meanX += p.x / n
    meanY += p.y / n
  }
  // Centred sums: heap figures are ~1e8 and operations ~1e5, so raw sums of
  // products would lose digits to cancellation.
  let sxx = 0
  let sxy = 0
  for (const p of points) {
    sxx += (p.x - meanX) ** 2
    sxy += (p.x - meanX) * (p.y - meanY)
  }
  if (sxx === 0) return undefined
  const slope = sxy / sxx
  const intercept = meanY - slope * meanX
  if (n < 3) return { slope, intercept, standardError: undefined }
  let residuals = 0
  for (const p of points) residuals += (p.y - intercept - slope * p.x) ** 2
  return { slope, intercept, standardError: Math.sqrt(residuals / (n - 2) / sxx) }
}

/**
 * The later half of `samples`, by position (the middle one included when the
 * count is odd). Samples are taken every so many operations, so this is the
 * second half of the run.
 *
 * @example
 * ```ts
 * secondHalf([0, 1, 2, 3, 4]) // [2, 3, 4]
 * ```
 */
export const secondHalf = <A>(samples: ReadonlyArray<A>): ReadonlyArray<A> =>
  samples.slice(Math.floor(samples.length / 2))

/**
 * A slope in bytes per operation as MB (10^6 bytes) per 100,000 operations,
 * the unit the soak reports.
 *
 * @example
 * ```ts
 * perHundredThousand(34) // 3.4
 * ```
 */
export const perHundredThousand = (bytesPerOperation: number): number => (bytesPerOperation * 100_000) / 1e6
