/**
 * The handlers through the whole HTTP pipeline (routing, auth, the request
 * guard, encoding), in process on the store's test layer: statuses, bodies
 * and the events each write publishes.
 */
import { SessionRepository } from "@session-store/core/SessionRepository"
import { RepositoryError } from "@session-store/core/Errors"
import { SessionStore, testOptions } from "@session-store/core/SessionStore"
import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
import { afterEach, describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Logger, Option, Redacted } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { layerRoutes, serveDefaults, type ServeOptions } from "../../src/serve/server.ts"

const noAuth = { username: "opencode", password: Option.none() }

const disposers: Array<() => Promise<void>> = []
afterEach(async () => {
  await Promise.all(disposers.splice(0).map((dispose) => dispose()))
})

/** The app as a fetch-like function, on a given store layer. */
const app = (
  store: Layer.Layer<SessionStore> = SessionStore.layerTest,
  options: Partial<ServeOptions> = {}
) => {
  const { handler, dispose } = HttpRouter.toWebHandler(
    layerRoutes({ ...serveDefaults, directory: "/repo", auth: noAuth, ...options }).pipe(
      Layer.provide([store, HttpServer.layerServices])
    ),
    { disableLogger: true }
  )
  disposers.push(dispose)
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { "content-type": "application/json", ...headers } }
    if (body !== undefined) init.body = typeof body === "string" ? body : JSON.stringify(body)
    const response = await handler(new Request(`http://localhost${path}`, init))
    const text = await response.text()
    let json: any = undefined
    try {
      json = text === "" ? undefined : JSON.parse(text)
    } catch {
      json = text
    }
    return { status: response.status, json, headers: response.headers }
  }
}

/** Reads the first `count` events of an event stream response. */
const readEvents = async (response: Response, count: number) => {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  const events: Array<any> = []
  let buffer = ""
  while (events.length < count) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += value
    const frames = buffer.split("\n\n")
    buffer = frames.pop() ?? ""
    for (const frame of frames) events.push(JSON.parse(frame.replace(/^data: /, "")))
  }
  await reader.cancel()
  return events
}

describe("serve handlers", () => {
  it("creates, reads, lists, updates and deletes sessions with opencode's shapes", async () => {
    const call = app()
    const created = await call("POST", "/session", {})
    expect(created.status).toBe(200)
    expect(created.json.id).toMatch(/^ses_[0-9a-f]{12}[0-9A-Za-z]{14}$/)
    expect(created.json.title).toMatch(/^New session - \d{4}-\d{2}-\d{2}T/)
    expect(created.json).toMatchObject({ projectID: "global", directory: "/repo", version: "0.1.0" })
    expect(created.json.time.created).toBe(created.json.time.updated)

    const child = await call("POST", "/session", { parentID: created.json.id })
    expect(child.json.title).toMatch(/^Child session - /)
    expect(child.json.parentID).toBe(created.json.id)

    const fromHeader = await call("POST", "/session", { title: "Find me" }, {
      "x-opencode-directory": encodeURIComponent("/other dir")
    })
    expect(fromHeader.json.directory).toBe("/other dir")

    expect((await call("GET", `/session/${created.json.id}`)).json).toEqual(created.json)
    const listed = await call("GET", "/session")
    expect(listed.json.map((s: any) => s.id).sort()).toEqual(
      [created.json.id, child.json.id, fromHeader.json.id].sort()
    )
    expect((await call("GET", "/session?roots=true")).json.map((s: any) => s.id)).not.toContain(child.json.id)
    expect((await call("GET", "/session?search=FIND&limit=5")).json.map((s: any) => s.id)).toEqual([fromHeader.json.id])
    expect((await call("GET", `/session/${created.json.id}/children`)).json.map((s: any) => s.id)).toEqual([
      child.json.id
    ])

    const updated = await call("PATCH", `/session/${created.json.id}`, { title: "renamed", time: { archived: 5 } })
    expect(updated.status).toBe(200)
    expect(updated.json.title).toBe("renamed")
    expect(updated.json.time.archived).toBe(5)
    expect(updated.json.time.updated).toBeGreaterThanOrEqual(created.json.time.updated)

    const removed = await call("DELETE", `/session/${created.json.id}`)
    expect(removed).toMatchObject({ status: 200, json: true })
    expect((await call("GET", `/session/${child.json.id}`)).status).toBe(404)
    expect((await call("GET", "/session")).json.map((s: any) => s.id)).toEqual([fromHeader.json.id])
    expect((await call("GET", "/session/status")).json).toEqual({})
  })

  it("stores a noReply prompt as a user message and pages messages", async () => {
    const call = app()
    const session = (await call("POST", "/session", { title: "chat" })).json
    const ids: Array<string> = []
    for (let i = 0; i < 4; i++) {
      const sent = await call("POST", `/session/${session.id}/message`, {
        noReply: true,
        model: { providerID: "anthropic", modelID: "claude" },
        parts: [{ type: "text", text: `hello ${i}` }]
      })
      expect(sent.status).toBe(200)
      expect(sent.json.info).toMatchObject({ role: "user", sessionID: session.id, agent: "build" })
      expect(sent.json.parts[0]).toMatchObject({ type: "text", text: `hello ${i}`, messageID: sent.json.info.id })
      expect(sent.json.parts[0].id).toMatch(/^prt_/)
      ids.push(sent.json.info.id)
    }
    expect([...ids].sort()).toEqual(ids)
    const all = await call("GET", `/session/${session.id}/message`)
    expect(all.json.map((m: any) => m.info.id)).toEqual(ids)
    const page = await call("GET", `/session/${session.id}/message?limit=2&before=${ids[3]}`)
    expect(page.json.map((m: any) => m.info.id)).toEqual([ids[1], ids[2]])
    const one = await call("GET", `/session/${session.id}/message/${ids[0]}`)
    expect(one.json.parts[0].text).toBe("hello 0")
    expect((await call("DELETE", `/session/${session.id}/message/${ids[0]}`)).json).toBe(true)
    expect((await call("GET", `/session/${session.id}/message/${ids[0]}`)).status).toBe(404)
    // time.updated was bumped by the messages
    expect((await call("GET", `/session/${session.id}`)).json.time.updated).toBeGreaterThanOrEqual(session.time.updated)
  })

  it("answers malformed input with 400 and a BadRequest body naming the part", async () => {
    const call = app()
    const session = (await call("POST", "/session", {})).json
    const cases = [
      [await call("POST", "/session", "{not json"), "Payload"],
      [await call("POST", "/session", { title: 5 }), "Payload"],
      [await call("PATCH", `/session/${session.id}`, "[1,"), "Payload"],
      [await call("GET", "/session/..%2Fetc"), "Params"],
      [await call("GET", `/session/${session.id}/message?limit=-1`), "Query"],
      [await call("GET", `/session/${session.id}/message?limit=abc`), "Query"],
      [await call("GET", `/session/${session.id}/message?before=msg_nope`), "Query"],
      [await call("POST", `/session/${session.id}/message`, { noReply: true, parts: [] }), "Payload"],
      [await call("POST", "/session", { parentID: "ses_missing" }), "Payload"]
    ] as const
    for (const [response, kind] of cases) {
      expect(response.status, JSON.stringify(response.json)).toBe(400)
      expect(response.json.name).toBe("BadRequest")
      expect(response.json.data.kind).toBe(kind)
      expect(response.json.data.message.length).toBeGreaterThan(5)
    }
  })

  it("answers an unknown session or message with 404 NotFoundError", async () => {
    const call = app()
    for (const [method, path] of [
      ["GET", "/session/ses_missing"],
      ["PATCH", "/session/ses_missing"],
      ["DELETE", "/session/ses_missing"],
      ["GET", "/session/ses_missing/children"],
      ["GET", "/session/ses_missing/message"],
      ["GET", "/session/ses_missing/message/msg_1"],
      ["POST", "/session/ses_missing/message"]
    ] as const) {
      const body = method === "PATCH" ? {} : method === "POST" ? { parts: [] } : undefined
      const response = await call(method, path, body)
      expect(response.status, `${method} ${path}`).toBe(404)
      expect(response.json).toEqual({ name: "NotFoundError", data: { message: "Session not found: ses_missing" } })
    }
  })

  it("answers the routes that need a language model with 501 NotImplemented", async () => {
    const call = app()
    const session = (await call("POST", "/session", {})).json
    const prompt = await call("POST", `/session/${session.id}/message`, { parts: [{ type: "text", text: "hi" }] })
    expect(prompt.status).toBe(501)
    expect(prompt.json.name).toBe("NotImplemented")
    expect(prompt.json.data.message).toContain("language model")
    for (const path of ["init", "summarize", "prompt_async", "command", "shell", "fork", "revert", "share"]) {
      const response = await call("POST", `/session/${session.id}/${path}`, {})
      expect(response.status, path).toBe(501)
      expect(response.json.data.route).toBe(`POST /session/{sessionID}/${path}`)
    }
    // nothing was stored by the refused prompt
    expect((await call("GET", `/session/${session.id}/message`)).json).toEqual([])
  })

  it("limits request bodies (413 PayloadTooLarge)", async () => {
    const call = app(SessionStore.layerTest, { maxBodyBytes: 1000 })
    const response = await call("POST", "/session", { title: "x".repeat(2000) })
    expect(response.status).toBe(413)
    expect(response.json).toMatchObject({ name: "PayloadTooLarge", data: { limit: 1000 } })
    expect((await call("POST", "/session", { title: "small" })).status).toBe(200)
  })

  it("requires basic auth when a password is set", async () => {
    const call = app(SessionStore.layerTest, {
      auth: { username: "opencode", password: Option.some(Redacted.make("s3cret")) }
    })
    const denied = await call("GET", "/session")
    expect(denied.status).toBe(401)
    expect(denied.headers.get("www-authenticate")).toMatch(/^Basic/)
    expect(denied.json.name).toBe("Unauthorized")
    const wrong = await call("GET", "/session", undefined, { authorization: `Basic ${btoa("opencode:nope")}` })
    expect(wrong.status).toBe(401)
    // nothing is decoded before the credentials are checked
    expect((await call("POST", "/session", "{bad")).status).toBe(401)
    expect((await call("GET", "/event")).status).toBe(401)
    const ok = await call("GET", "/session", undefined, { authorization: `Basic ${btoa("opencode:s3cret")}` })
    expect(ok).toMatchObject({ status: 200, json: [] })
  })

  it("refuses an event client over the limit with 503 TooManyClients", async () => {
    const call = app(SessionStore.layerTest, { events: { backlog: 16, backlogBytes: 65536, heartbeatMs: 60_000, maxClients: 0 } })
    const refused = await call("GET", "/event")
    expect(refused.status).toBe(503)
    expect(refused.json).toMatchObject({ name: "TooManyClients", data: { limit: 0 } })
  })

  it("serves the store's stats and metrics", async () => {
    const call = app()
    const session = (await call("POST", "/session", {})).json
    await call("GET", `/session/${session.id}`)
    const stats = await call("GET", "/stats")
    expect(stats.status).toBe(200)
    expect(stats.json.store.loads + stats.json.store.hits).toBeGreaterThan(0)
    expect(stats.json.events).toMatchObject({ clients: 0, dropped: 0 })
    const metrics = await call("GET", "/metrics")
    expect(metrics.status).toBe(200)
    expect(metrics.headers.get("content-type")).toContain("text/plain")
    expect(metrics.json).toContain("# TYPE session_store_hits_total counter")
    expect(metrics.json).toContain("session_store_resident_sessions")
  })

  it("publishes each write as opencode's events, after storage acknowledged it", async () => {
    const { handler, dispose } = HttpRouter.toWebHandler(
      layerRoutes({ ...serveDefaults, auth: noAuth }).pipe(
        Layer.provide([SessionStore.layerTest, HttpServer.layerServices])
      ),
      { disableLogger: true }
    )
    disposers.push(dispose)
    const post = (path: string, method: string, body?: unknown) =>
      handler(
        new Request(`http://localhost${path}`, {
          method,
          headers: { "content-type": "application/json" },
          ...(body === undefined ? {} : { body: JSON.stringify(body) })
        })
      ).then((r) => r.json() as Promise<any>)
    const stream = await handler(new Request("http://localhost/event"))
    expect(stream.headers.get("content-type")).toBe("text/event-stream")
    const session = await post("/session", "POST", { title: "a" })
    await post(`/session/${session.id}`, "PATCH", { title: "b" })
    const message = await post(`/session/${session.id}/message`, "POST", {
      noReply: true,
      model: { providerID: "p", modelID: "m" },
      parts: [{ type: "text", text: "hi" }]
    })
    await post(`/session/${session.id}/message/${message.info.id}`, "DELETE")
    await post(`/session/${session.id}`, "DELETE")
    const events = await readEvents(stream, 9)
    expect(events.map((e) => e.type)).toEqual([
      "server.connected",
      "session.created",
      "session.updated",
      "session.updated",
      "message.updated",
      "message.part.updated",
      "session.updated",
      "message.removed",
      "session.deleted"
    ])
    expect(events[1].properties.info.id).toBe(session.id)
    expect(events[3].properties.info.title).toBe("b")
    expect(events[4].properties.info.id).toBe(message.info.id)
    expect(events[7].properties).toEqual({ sessionID: session.id, messageID: message.info.id })
    expect(events[8].properties.info.id).toBe(session.id)
  })
})

describe("serve on failing storage", () => {
  /** The memory repository, with writes failing while `broken.on` is set. */
  const broken = { on: false }
  const failing = Layer.effect(
    SessionRepository,
    Effect.gen(function*() {
      const repository = yield* SessionRepository
      const fail = (operation: string) => Effect.fail(new RepositoryError({ operation, cause: new Error("EIO: disk gone") }))
      return SessionRepository.of({
        ...repository,
        createSession: (info) => broken.on ? fail("createSession") : repository.createSession(info),
        updateSession: (info) => broken.on ? fail("updateSession") : repository.updateSession(info),
        putMessage: (id, message) => broken.on ? fail("putMessage") : repository.putMessage(id, message)
      })
    })
  ).pipe(Layer.provide(SessionRepository.layerMemory))
  const store = SessionStore.layerWith(testOptions).pipe(
    Layer.orDie,
    Layer.provide([failing, MemoryMonitor.layerTest()]),
    // The server logs each storage failure it answers with a 500: expected here, kept off the output.
    Layer.merge(Logger.layer([]))
  )

  it("answers 500 StorageError and leaves nothing written", async () => {
    const call = app(store)
    const session = (await call("POST", "/session", { title: "kept" })).json
    broken.on = true
    try {
      const create = await call("POST", "/session", { title: "lost" })
      expect(create.status).toBe(500)
      expect(create.json.name).toBe("StorageError")
      expect(create.json.data.message).toContain("EIO")
      const update = await call("PATCH", `/session/${session.id}`, { title: "changed" })
      expect(update.status).toBe(500)
      const message = await call("POST", `/session/${session.id}/message`, {
        noReply: true,
        model: { providerID: "p", modelID: "m" },
        parts: [{ type: "text", text: "hi" }]
      })
      expect(message.status).toBe(500)
    } finally {
      broken.on = false
    }
    const listed = await call("GET", "/session")
    expect(listed.json.map((s: any) => s.title)).toEqual(["kept"])
    expect((await call("GET", `/session/${session.id}`)).json).toEqual(session)
    expect((await call("GET", `/session/${session.id}/message`)).json).toEqual([])
  })
})
