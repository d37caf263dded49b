/**
 * Heap in use, after a full garbage collection when `--expose-gc` made one
 * available (the package scripts pass it). Without it the figure includes
 * garbage not yet collected, and the soak report says so.
 */
export const heapInUse = (): number => {
  globalThis.gc?.()
  return process.memoryUsage().heapUsed
}
