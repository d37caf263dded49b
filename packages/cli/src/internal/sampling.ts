/**
 * Seeded draws the workload is made of: Zipf ranks and weighted indices.
 *
 * @example
 * ```ts
 * import { zipfRank, zipfTable } from "./sampling.ts"
 *
 * const rank = zipfRank(makeRng(1), zipfTable(100, 0.9), 100)
 * ```
 *
 * @since 0.1.0
 */
import type { Rng } from "./random.ts"

/**
 * Cumulative Zipf weights by rank (`1 / (rank + 1)^s`), so a rank draw is
 * one binary search.
 *
 * @example
 * ```ts
 * const table = zipfTable(1_000, 0.9)
 * zipfRank(rng, table, 1_000) // 0 is the likeliest
 * ```
 */
export const zipfTable = (size: number, s: number): Float64Array => {
  const table = new Float64Array(Math.max(1, size))
  let total = 0
  for (let rank = 0; rank < table.length; rank++) {
    total += 1 / Math.pow(rank + 1, s)
    table[rank] = total
  }
  return table
}

/**
 * Draws a rank in `[0, n)` from the first `n` entries of a {@link zipfTable}.
 *
 * @example
 * ```ts
 * const rank = zipfRank(rng, zipfTable(100, 0.9), 100)
 * ```
 */
export const zipfRank = (rng: Rng, table: Float64Array, n: number): number => {
  const target = rng.next() * table[n - 1]!
  let low = 0
  let high = n - 1
  while (low < high) {
    const mid = (low + high) >>> 1
    if (table[mid]! > target) high = mid
    else low = mid + 1
  }
  return low
}

/**
 * Weights over indices 1..`size` in a Fenwick tree: set one in O(log n),
 * draw an index in proportion to them in O(log n).
 *
 * @example
 * ```ts
 * const weights = makeWeights(10)
 * weights.set(3, 2)
 * weights.draw(rng) // 3
 * ```
 */
export const makeWeights = (size: number) => {
  const tree = new Float64Array(size + 1)
  const weights = new Float64Array(size + 1)
  let total = 0
  let top = 1
  while (top * 2 <= size) top *= 2
  return {
    get total() {
      return total
    },
    set: (index: number, weight: number) => {
      const delta = weight - weights[index]!
      weights[index] = weight
      total += delta
      for (let i = index; i <= size; i += i & -i) tree[i]! += delta
    },
    draw: (rng: Rng): number => {
      let target = rng.next() * total
      let position = 0
      for (let step = top; step > 0; step >>= 1) {
        const next = position + step
        if (next <= size && tree[next]! <= target) {
          position = next
          target -= tree[next]!
        }
      }
      return Math.min(size, position + 1)
    }
  }
}
