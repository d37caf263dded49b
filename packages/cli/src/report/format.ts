/**
 * How the soak's figures are written in the table and the HTML page.
 *
 * @example
 * ```ts
 * megabytes(16e6) // "16.0 MB"
 * ```
 *
 * @since 0.1.0
 */
/** A count with thousands separators. */
export const int = (n: number) => Math.round(n).toLocaleString("en-US")
/** Bytes in MB (10^6). */
export const megabytes = (n: number) => `${(n / 1e6).toFixed(1)} MB`
/** A fraction as a percentage with one decimal. */
export const percent = (n: number) => `${(n * 100).toFixed(1)}%`
/** A slope in MB per 100k operations, with its standard error when known; `n/a` when there is none. */
export const perOps = (n: number | null, error: number | null = null) =>
  n === null
    ? "n/a"
    : `${n > 0 ? "+" : ""}${n.toFixed(2)}${error === null ? "" : ` ± ${error.toFixed(2)}`} MB/100k ops`
