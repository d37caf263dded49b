/** The bench rows of the sweep: 100,000 resident sessions, a sweep that evicts a given share of them. */
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore } from "@session-store/core/SessionStore"
import { Clock, Context, Effect, Exit, Layer, Scope } from "effect"
import { makeVirtualClock } from "../internal/virtualClock.ts"
import { logSample, median, type Sample, sink } from "./measure.ts"
import { shuffled } from "./resident.ts"
import { sessionInfo, storeLayer } from "./storage.ts"

const INACTIVE_MS = 60_000
/** Sweeps run and thrown away first, so the figures are of warm code. */
const WARMUP = 4
const SAMPLES = 12

/** The process's CPU time, every thread, in nanoseconds: microsecond-precise, unlike `process.threadCpuUsage`. */
const processCpuNs = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) * 1e3
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Waits until the process is idle: after a full collection of a heap of
 * 100,000 sessions, V8 goes on sweeping and releasing its pages for a while
 * (measured: a sweep started 20 ms after `gc()` took 3–4× as long, in
 * stretches of 5–20 ms, as one started a second later). A sweep in
 * production runs on a timer, not on the heels of a forced full collection.
 */
const quiesce = async () => {
  for (let waited = 0; waited < 3_000; waited += 50) {
    const before = processCpuNs()
    await sleep(50)
    // Under 1 ms of CPU in 50 ms: nothing of ours is running.
    if (processCpuNs() - before < 1e6) return
  }
}

/**
 * Runs `run` and measures the work it did and the longest stretch between
 * two turns of the event loop meanwhile, each stretch counted as the lesser
 * of its wall time and the process's CPU time: time the process spent
 * descheduled (other processes on the machine) does not count against it,
 * nor does a helper thread (GC, compiler) running beside the main thread.
 *
 * Not the main thread's own CPU clock: `process.threadCpuUsage` reads
 * `getrusage(RUSAGE_THREAD)`, which for a running thread advances only at
 * the scheduler's tick (measured here: in steps of 1.7–4 ms), so any stretch
 * that spans a tick read as a hold of several milliseconds, whatever it did.
 */
const heldWhile = async (run: () => Promise<void>): Promise<{ readonly ns: number; readonly holdNs: number }> => {
  let lastWall = 0
  let lastCpu = 0
  let busy = 0
  let longest = 0
  let done = false
  const stretch = () => {
    const wall = performance.now()
    const cpu = processCpuNs()
    const held = Math.min((wall - lastWall) * 1e6, cpu - lastCpu)
    busy += held
    longest = Math.max(longest, held)
    lastWall = wall
    lastCpu = cpu
  }
  const probe = () => {
    stretch()
    if (!done) setImmediate(probe)
  }
  setImmediate(probe)
  lastWall = performance.now()
  lastCpu = processCpuNs()
  await run()
  stretch()
  done = true
  return { ns: busy, holdNs: longest }
}

/**
 * For each fraction, `SAMPLES` sweeps (after `WARMUP` more), each evicting
 * exactly that share of `n` resident sessions: the median work, and the
 * longest hold of the thread (the median over the sweeps of each one's
 * longest stretch, and the worst of them).
 */
export const sweeps = async (n: number, fractions: ReadonlyArray<number>, progress: boolean): Promise<Array<Sample>> => {
  const clock = makeVirtualClock(Date.now())
  const scope = Effect.runSync(Scope.make())
  try {
    const layer = storeLayer(SessionRepository.layerMemory, {
      maxSessions: n,
      inactiveTtlMs: INACTIVE_MS,
      // The scheduled sweep never fires on its own here: each sample runs one.
      cleanupIntervalMs: 30 * 86_400_000,
      sessionTtlMs: 30 * 86_400_000
    })
    const store = Context.get(
      await Effect.runPromise(Layer.buildWithScope(layer, scope).pipe(Effect.provideService(Clock.Clock, clock.clock))),
      SessionStore
    )
    const now = clock.now()
    await Effect.runPromise(
      Effect.forEach(Array.from({ length: n }, (_, i) => i + 1), (i) => store.createSession(sessionInfo(i, now)), { discard: true })
    )
    const ids = shuffled(n, 3)
    const out: Array<Sample> = []
    for (const fraction of fractions) {
      const evict = Math.round(n * fraction)
      const use = async (id: string) => {
        if (store.getSessionIfResident(id) === undefined) sink.total += (await Effect.runPromise(store.getSession(id))).title.length
      }
      // Untimed: every session used now (the rest first, while still active
      // from the last sample), the rest again half an inactivity period
      // later, then the clock moves past the first `evict` ones' limit.
      const setup = async () => {
        const t = clock.now()
        for (let i = evict; i < n; i++) await use(ids[i]!)
        for (let i = 0; i < evict; i++) await use(ids[i]!)
        clock.set(t + INACTIVE_MS / 2)
        for (let i = evict; i < n; i++) await use(ids[i]!)
        clock.set(t + INACTIVE_MS + 1)
        // The setup's garbage is collected before the sweep, not during it.
        ;(globalThis as { gc?: () => void }).gc?.()
        await quiesce()
      }
      const works: Array<number> = []
      const holds: Array<number> = []
      for (let sample = 0; sample < WARMUP + SAMPLES; sample++) {
        await setup()
        const measured = await heldWhile(async () => {
          const report = await Effect.runPromise(store.sweep)
          if (report.inactive + report.expired !== evict || report.residentSessions !== n - evict) {
            throw new Error(`bench: the sweep evicted ${report.inactive + report.expired}, expected ${evict}`)
          }
        })
        if (sample < WARMUP) continue
        works.push(measured.ns)
        holds.push(measured.holdNs)
      }
      const result: Sample = {
        group: `sweep, ${n.toLocaleString("en-US")} resident`,
        name: `evicting ${evict.toLocaleString("en-US")} (${(fraction * 100).toFixed(0)} %)`,
        ns: median(works),
        holdNs: median(holds),
        worstHoldNs: Math.max(...holds)
      }
      logSample(progress, result)
      out.push(result)
    }
    return out
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
