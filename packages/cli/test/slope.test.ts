import { describe, expect, it } from "@effect/vitest"
import { fitLine, perHundredThousand, secondHalf } from "../src/internal/slope.ts"

describe("slope", () => {
  it("fits the least-squares line through known points", () => {
    // Exactly on y = 3 + 2x.
    expect(fitLine([0, 1, 2, 3].map((x) => ({ x, y: 3 + 2 * x })))).toStrictEqual({
      slope: 2,
      intercept: 3,
      standardError: 0
    })
    // Scattered: x = 1..4, y = 1, 3, 2, 5 gives slope 1.1, intercept 0 by hand
    // (mean x 2.5, mean y 2.75, Sxy 5.5, Sxx 5); residuals -0.1, 0.8, -1.3,
    // 0.6 square to 2.7, so the standard error is sqrt(2.7 / 2 / 5).
    const fit = fitLine([{ x: 1, y: 1 }, { x: 2, y: 3 }, { x: 3, y: 2 }, { x: 4, y: 5 }])!
    expect(fit.slope).toBeCloseTo(1.1, 12)
    expect(fit.intercept).toBeCloseTo(0, 12)
    expect(fit.standardError).toBeCloseTo(Math.sqrt(0.27), 12)
    // Two points fit exactly and say nothing of the scatter.
    expect(fitLine([{ x: 0, y: 1 }, { x: 2, y: 5 }])).toStrictEqual({ slope: 2, intercept: 1, standardError: undefined })
  })

  it("is undefined without two distinct x", () => {
    expect(fitLine([])).toBeUndefined()
    expect(fitLine([{ x: 5, y: 1 }])).toBeUndefined()
    expect(fitLine([{ x: 5, y: 1 }, { x: 5, y: 9 }])).toBeUndefined()
  })

  it("keeps its digits at heap scale: 34 bytes per operation over 100 MB is 3.4 MB per 100k operations", () => {
    // Samples like a long soak's: every 8,000 operations, heap ~120 MB.
    const points = Array.from({ length: 51 }, (_, i) => ({ x: i * 8_000, y: 120e6 + 34 * i * 8_000 }))
    const fit = fitLine(secondHalf(points))!
    expect(perHundredThousand(fit.slope)).toBeCloseTo(3.4, 9)
    expect(fit.intercept).toBeCloseTo(120e6, 3)
    // A flat heap, however high, has no slope.
    expect(fitLine(points.map((p) => ({ x: p.x, y: 250e6 })))!.slope).toBe(0)
  })

  it("takes the later half of the samples, the middle one included when their count is odd", () => {
    expect(secondHalf([0, 1, 2, 3, 4])).toStrictEqual([2, 3, 4])
    expect(secondHalf([0, 1, 2, 3])).toStrictEqual([2, 3])
    expect(secondHalf([7])).toStrictEqual([7])
    expect(secondHalf([])).toStrictEqual([])
  })

  it("tells a saw-tooth under a budget from growth by the slope's standard error", () => {
    // Resident bytes cycling 0..16 MB every 5 samples, flat on average, over 26 samples.
    const sawTooth = Array.from({ length: 26 }, (_, i) => ({ x: 40_000 + i * 1_600, y: ((i % 5) / 4) * 16e6 }))
    const flat = fitLine(sawTooth)!
    expect(Math.abs(flat.slope)).toBeLessThan(2 * flat.standardError!)
    // The same with 200 bytes per operation of real growth on top.
    const growing = fitLine(sawTooth.map((p) => ({ x: p.x, y: p.y + 200 * p.x })))!
    expect(growing.slope).toBeGreaterThan(2 * growing.standardError!)
  })

  it("ignores the warm-up: a heap that rises then stays flat has no slope in its second half", () => {
    const heap = (operation: number) => 50e6 + Math.min(operation, 30_000) * 1_000
    const samples = Array.from({ length: 51 }, (_, i) => ({ x: i * 1_600, y: heap(i * 1_600) }))
    expect(fitLine(samples)!.slope).toBeGreaterThan(100)
    expect(fitLine(secondHalf(samples))!.slope).toBe(0)
  })
})
