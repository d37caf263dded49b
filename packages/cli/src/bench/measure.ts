/** The bench's machinery: one group of tasks measured with tinybench, and what every row's result feeds. */
import { Bench } from "tinybench"

// Where every task's reads go: printed with the report.
export const sink = { total: 0 }

export const log = (enabled: boolean, line: string) => {
  if (enabled) process.stderr.write(`${line}\n`)
}

export interface Task {
  readonly name: string
  /** Operations per call of `fn`. */
  readonly batch: number
  readonly fn: () => unknown
  readonly beforeEach?: () => unknown
}

export interface Sample {
  readonly group: string
  readonly name: string
  readonly ns: number
  /** For sweeps: the longest stretch one sweep held the thread, median over the samples. */
  readonly holdNs?: number
  /** For sweeps: the longest stretch of any sample. */
  readonly worstHoldNs?: number
}

/** Runs the tasks of one group once; `limits` override the default sampling. */
export const measure = async (
  group: string,
  time: number,
  tasks: ReadonlyArray<Task>,
  progress: boolean,
  limits: { readonly iterations?: number; readonly time?: number } = {}
): Promise<Array<Sample>> => {
  const bench = new Bench({
    time: limits.time ?? time,
    iterations: limits.iterations ?? 16,
    warmupTime: Math.min(100, time / 5),
    warmupIterations: Math.min(limits.iterations ?? 16, 4),
    throws: true
  })
  for (const task of tasks) {
    bench.add(task.name, task.fn as () => void, task.beforeEach === undefined ? {} : { beforeEach: task.beforeEach as () => void })
  }
  await bench.run()
  return bench.tasks.map((task, i): Sample => {
    const result = task.result
    if (result.state !== "completed") throw new Error(`${group} / ${task.name}: ${result.state}`)
    const ns = (result.latency.mean * 1e6) / tasks[i]!.batch
    logSample(progress, { group, name: task.name, ns })
    return { group, name: task.name, ns }
  })
}

/** The progress line of one finished task. */
export const logSample = (progress: boolean, sample: Sample) =>
  log(progress, `${sample.group.padEnd(36)} ${sample.name.padEnd(38)} ${formatNs(sample.ns).padStart(11)}/op`)

export const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

export const find = (samples: ReadonlyArray<Sample>, group: string, name: string) =>
  samples.find((m) => m.group === group && m.name === name)?.ns

export const formatNs = (ns: number) =>
  ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : ns >= 1e3 ? `${(ns / 1e3).toFixed(2)} µs` : `${ns.toFixed(1)} ns`
