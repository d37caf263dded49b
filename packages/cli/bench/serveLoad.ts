/**
 * A bounded load run of `session-store serve`, on 127.0.0.1 only:
 *
 * 1. starts `serve` as its own process, its storage on tmpfs (`/dev/shm`,
 *    `--storage` to choose: on a disk every write waits for fsync, and the
 *    figures are the disk's), with a small store budget
 *    (`--budget`, default 2 MB) and a capped V8 heap (`--max-old-space-size`,
 *    default 128 MB), on a fresh storage directory;
 * 2. seeds it through the API (`--sessions` sessions of `--messages` ~1 KB
 *    messages each);
 * 3. connects 10 event-stream clients that never read a byte (each one
 *    reconnects when the server drops it, as the SDK would);
 * 4. runs autocannon for `--duration` seconds and at most `--max-requests`
 *    requests over `--connections` connections: 70% `GET /session/{id}`,
 *    15% `GET /session/{id}/message?limit=20`, 10% `PATCH /session/{id}`
 *    (an event to every client), 5% noReply prompts (a stored message and
 *    three events), sessions picked at random (`--route get|messages|patch|prompt`
 *    for one of them alone);
 * 5. prints throughput, latency p50/p99, the server's heap before and after
 *    (and the highest seen, sampled every second from `/stats`), the store's
 *    resident bytes against its budget and how many event clients were dropped,
 *    and writes them to `.serve-load/result.json`.
 *
 * Not part of the test suite: `pnpm --filter @session-store/cli serve:load`.
 *
 * @example
 * ```sh
 * pnpm --filter @session-store/cli serve:load -- --duration 20 --connections 10
 * ```
 *
 * @since 0.1.0
 */
import autocannon from "autocannon"
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { connect, type Socket } from "node:net"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { spawnServe } from "../src/serve/spawn.ts"

const argv = process.argv.slice(2)
const { values } = parseArgs({
  // pnpm passes the `--` of `pnpm serve:load -- --duration 20` through
  args: argv[0] === "--" ? argv.slice(1) : argv,
  options: {
    duration: { type: "string", default: "15" },
    connections: { type: "string", default: "10" },
    "max-requests": { type: "string", default: "300000" },
    sessions: { type: "string", default: "200" },
    messages: { type: "string", default: "5" },
    budget: { type: "string", default: "2MB" },
    heap: { type: "string", default: "128" },
    "sse-clients": { type: "string", default: "10" },
    // one route alone instead of the mix: get, messages, patch or prompt
    route: { type: "string", default: "mix" },
    out: { type: "string", default: ".serve-load" },
    // tmpfs by default: the run measures the server and the store, not the disk's fsync
    storage: { type: "string", default: existsSync("/dev/shm") ? "/dev/shm" : tmpdir() }
  }
})
const int = (name: keyof typeof values) => {
  const n = Number(values[name])
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`)
  return n
}
const duration = Math.min(int("duration"), 120) // bounded whatever is asked
const connections = int("connections")
const maxRequests = Math.min(int("max-requests"), 2_000_000)
const sessionCount = int("sessions")
const messagesPerSession = int("messages")
const sseClients = int("sse-clients")
const route = String(values.route)
if (!["mix", "get", "messages", "patch", "prompt"].includes(route)) {
  throw new Error("--route must be mix, get, messages, patch or prompt")
}

const dir = mkdtempSync(join(String(values.storage), "serve-load-"))
const server = await spawnServe({
  database: join(dir, "db"),
  args: ["--budget", String(values.budget)],
  execArgv: [`--max-old-space-size=${int("heap")}`],
  env: { OPENCODE_SERVER_PASSWORD: undefined }
})
if (new URL(server.url).hostname !== "127.0.0.1") throw new Error(`refusing to load ${server.url}: loopback only`)
console.log(`serve at ${server.url} on ${dir} (budget ${values.budget}, heap cap ${values.heap} MB)`)

const json = async (path: string, init?: RequestInit) => {
  const response = await fetch(`${server.url}${path}`, init)
  if (!response.ok) throw new Error(`${init?.method ?? "GET"} ${path}: ${response.status} ${await response.text()}`)
  return response.json() as Promise<any>
}
const post = (path: string, body: unknown, method = "POST") =>
  json(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

const model = { providerID: "anthropic", modelID: "claude-sonnet" }
const text = (i: number) => `message ${i} `.padEnd(1000, "lorem ipsum dolor sit amet ")

// Seed, a few sessions at a time.
const ids: Array<string> = []
const seedStarted = Date.now()
for (let start = 0; start < sessionCount; start += 8) {
  await Promise.all(Array.from({ length: Math.min(8, sessionCount - start) }, async (_, k) => {
    const session = await post("/session", { title: `load ${start + k}` })
    ids.push(session.id)
    for (let m = 0; m < messagesPerSession; m++) {
      await post(`/session/${session.id}/message`, { noReply: true, model, parts: [{ type: "text", text: text(m) }] })
    }
  }))
}
console.log(`seeded ${ids.length} sessions x ${messagesPerSession} messages in ${Date.now() - seedStarted} ms`)

// Event-stream clients that never read; each reconnects when dropped.
let stopping = false
let reconnects = 0
const sockets = new Set<Socket>()
const silentClient = () => {
  const socket = connect(server.port, "127.0.0.1")
  sockets.add(socket)
  socket.on("connect", () => {
    socket.write("GET /event HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    socket.pause()
  })
  socket.on("error", () => {})
  socket.on("close", () => {
    sockets.delete(socket)
    if (!stopping) {
      reconnects++
      silentClient()
    }
  })
}
for (let i = 0; i < sseClients; i++) silentClient()
await new Promise((resolve) => setTimeout(resolve, 500))

const loadBefore = loadavg()[0]!
const before = await json("/stats")
let peakHeap = before.process.heapUsed
let peakRss = before.process.rss
const sampler = setInterval(() => {
  json("/stats").then((s) => {
    peakHeap = Math.max(peakHeap, s.process.heapUsed)
    peakRss = Math.max(peakRss, s.process.rss)
  }, () => {})
}, 1000)

const pick = () => ids[Math.floor(Math.random() * ids.length)]!
let sequence = 0
const result = await autocannon({
  url: server.url,
  connections,
  duration,
  maxOverallRequests: maxRequests,
  timeout: 10,
  requests: [{
    setupRequest: (request) => {
      const id = pick()
      const roll = route === "mix"
        ? Math.random()
        : { get: 0, messages: 0.8, patch: 0.9, prompt: 0.99 }[route as "get" | "messages" | "patch" | "prompt"]
      if (roll < 0.70) return { ...request, method: "GET", path: `/session/${id}` }
      if (roll < 0.85) return { ...request, method: "GET", path: `/session/${id}/message?limit=20` }
      const headers = { "content-type": "application/json" }
      if (roll < 0.95) {
        return { ...request, method: "PATCH", path: `/session/${id}`, headers, body: JSON.stringify({ title: `t${sequence++}` }) }
      }
      return {
        ...request,
        method: "POST",
        path: `/session/${id}/message`,
        headers,
        body: JSON.stringify({ noReply: true, model, parts: [{ type: "text", text: text(sequence++) }] })
      }
    }
  }]
})
clearInterval(sampler)
const after = await json("/stats")
stopping = true
for (const socket of sockets) socket.destroy()
const exitCode = await server.stop()
rmSync(dir, { recursive: true, force: true })

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`
const summary = {
  at: new Date().toISOString(),
  node: process.version,
  // the machine's 1-minute load average: other work on the same cores skews every figure
  loadAverage: { before: loadBefore, after: loadavg()[0]! },
  settings: {
    duration,
    connections,
    maxRequests,
    sessions: ids.length,
    messagesPerSession,
    budget: values.budget,
    heapCapMb: int("heap"),
    sseClients,
    route,
    storage: String(values.storage)
  },
  requests: result.requests.total,
  requestsPerSecond: result.requests.average,
  latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  errors: result.errors,
  timeouts: result.timeouts,
  non2xx: result.non2xx,
  statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
  heapUsed: { before: before.process.heapUsed, after: after.process.heapUsed, peak: peakHeap },
  rss: { before: before.process.rss, after: after.process.rss, peak: peakRss },
  store: {
    residentSessions: after.store.residentSessions,
    residentBytes: after.store.residentBytes,
    evictions: after.store.evictions,
    hitRate: after.store.hitRate
  },
  events: { ...after.events, publishedDuringRun: after.events.published - before.events.published, reconnects },
  serverExit: exitCode
}
mkdirSync(String(values.out), { recursive: true })
writeFileSync(join(String(values.out), "result.json"), `${JSON.stringify(summary, null, 2)}\n`)
console.log([
  `${route}: ${summary.requests} requests in ${duration} s over ${connections} connections: ${summary.requestsPerSecond.toFixed(0)} req/s`,
  `latency p50 ${summary.latencyMs.p50} ms, p90 ${summary.latencyMs.p90} ms, p99 ${summary.latencyMs.p99} ms, max ${summary.latencyMs.max} ms`,
  `errors ${summary.errors}, timeouts ${summary.timeouts}, non-2xx ${summary.non2xx} ${JSON.stringify(summary.statusCodes)}`,
  `server heap ${mb(summary.heapUsed.before)} before, ${mb(summary.heapUsed.after)} after, ${mb(summary.heapUsed.peak)} peak (cap ${summary.settings.heapCapMb} MB); rss peak ${mb(summary.rss.peak)}`,
  `store ${summary.store.residentSessions} resident, ${mb(summary.store.residentBytes)} of ${values.budget}; evictions ${JSON.stringify(summary.store.evictions)}`,
  `events: ${summary.events.publishedDuringRun} published during the run (${summary.events.published} in all), ${summary.events.dropped} silent clients dropped (${reconnects} reconnects), ${summary.events.clients} connected at the end holding ${mb(summary.events.backlogBytes)} of backlog`,
  `machine load average ${summary.loadAverage.before.toFixed(1)} before, ${summary.loadAverage.after.toFixed(1)} after`,
  `written: ${join(String(values.out), "result.json")}`
].join("\n"))
if (exitCode !== 130 && exitCode !== 0) process.exitCode = 1
