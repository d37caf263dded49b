/**
 * End to end: the published `@opencode-ai/sdk` client (its root export,
 * `createOpencodeClient`) against a real `session-store serve` process on a
 * free loopback port, over its own storage directory. Every call the server
 * supports, its errors (400, 404, 501, 401), and events: a client
 * subscribed to `/event` sees the writes another client makes. Then a client
 * that stops reading its event stream is dropped and the server stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { createOpencodeClient, type Event, type OpencodeClient } from "@opencode-ai/sdk"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { runProgram, snippet } from "../../../session-store/test/fixtures/readmeSnippets.ts"
import { connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type ServeProcess, spawnServe } from "../../src/serve/spawn.ts"

const noAuth = { OPENCODE_SERVER_PASSWORD: undefined, OPENCODE_SERVER_USERNAME: undefined }
const model = { providerID: "anthropic", modelID: "claude-sonnet" }

/** Waits for the first event of a subscription that matches, or fails after `ms`. */
const nextEvent = async (
  stream: AsyncGenerator<Event>,
  match: (event: Event) => boolean,
  ms = 10_000
): Promise<Event> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    // A guard on a real server process over loopback (no TestClock reaches it): fail instead of hanging.
    timer = setTimeout(() => reject(new Error("no such event")), ms)
  })
  // next() by hand: a for-await loop would end the generator when it returns
  const found = (async () => {
    while (true) {
      const next = await stream.next()
      if (next.done === true) throw new Error("event stream ended")
      if (match(next.value)) return next.value
    }
  })()
  return Promise.race([found, timeout]).finally(() => clearTimeout(timer))
}

describe("serve, end to end with @opencode-ai/sdk", () => {
  let dir: string
  let server: ServeProcess
  let client: OpencodeClient
  let other: OpencodeClient

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "serve-e2e-"))
    server = await spawnServe({ database: join(dir, "opencode.db"), args: ["--event-backlog", "16"], env: noAuth })
    client = createOpencodeClient({ baseUrl: server.url, directory: "/work/project" })
    other = createOpencodeClient({ baseUrl: server.url })
  }, 60_000)

  it("the README's client snippet runs against it: the session it creates is served", async () => {
    const code = snippet("`session-store serve --database <path>`").replace("http://127.0.0.1:4096", server.url)
    // Inside the package, so `@opencode-ai/sdk` resolves from its devDependencies.
    const file = join(fileURLToPath(new URL("../../", import.meta.url)), ".readme-serve-snippet.ts")
    writeFileSync(file, `${code}\nconsole.log(session!.id)\n`)
    try {
      const run = await runProgram({ node: process.execPath, file, cwd: dir, args: [] })
      expect(run).toMatchObject({ code: 0, stderr: "" })
      const created = await other.session.get({ path: { id: run.stdout.trim() } })
      expect(created.data?.title).toBe("Fix the build")
    } finally {
      rmSync(file, { force: true })
    }
  }, 60_000)

  afterAll(async () => {
    // Ctrl-C: the store is released and the process exits by itself (130, interrupted), not killed
    const code = await server?.stop()
    expect(code).toBe(130)
    rmSync(dir, { recursive: true, force: true })
  }, 30_000)

  it("binds loopback", () => {
    expect(new URL(server.url).hostname).toBe("127.0.0.1")
  })

  it("creates, gets, lists, updates sessions and their children", async () => {
    const created = await client.session.create({ body: { title: "e2e parent" } })
    expect(created.response.status).toBe(200)
    const parent = created.data!
    expect(parent).toMatchObject({ title: "e2e parent", projectID: "global", directory: "/work/project" })
    expect(parent.id).toMatch(/^ses_/)

    const child = (await client.session.create({ body: { parentID: parent.id } })).data!
    expect(child.parentID).toBe(parent.id)
    expect(child.title).toMatch(/^Child session - /)

    expect((await client.session.get({ path: { id: parent.id } })).data).toEqual(parent)
    const listed = (await client.session.list()).data!
    expect(listed.map((s) => s.id)).toEqual(expect.arrayContaining([parent.id, child.id]))
    expect((await client.session.children({ path: { id: parent.id } })).data!.map((s) => s.id)).toEqual([child.id])

    const updated = await client.session.update({ path: { id: parent.id }, body: { title: "renamed" } })
    expect(updated.response.status).toBe(200)
    expect(updated.data!.title).toBe("renamed")
    expect((await other.session.get({ path: { id: parent.id } })).data!.title).toBe("renamed")

    expect((await client.session.status()).data).toEqual({})

    const deleted = await client.session.delete({ path: { id: parent.id } })
    expect(deleted.data).toBe(true)
    expect((await client.session.get({ path: { id: child.id } })).response.status).toBe(404)
  })

  it("stores noReply prompts and reads messages back, paged", async () => {
    const session = (await client.session.create({ body: { title: "chat" } })).data!
    const sent: Array<string> = []
    for (const text of ["one", "two", "three"]) {
      const result = await client.session.prompt({
        path: { id: session.id },
        body: { noReply: true, model, agent: "build", parts: [{ type: "text", text }] }
      })
      expect(result.response.status).toBe(200)
      const message = result.data as unknown as { info: { id: string; role: string }; parts: Array<{ text: string }> }
      expect(message.info.role).toBe("user")
      expect(message.parts[0]!.text).toBe(text)
      sent.push(message.info.id)
    }
    const all = await client.session.messages({ path: { id: session.id } })
    expect(all.data!.map((m) => m.info.id)).toEqual(sent)
    expect(all.data![0]!.parts[0]).toMatchObject({ type: "text", text: "one", sessionID: session.id })
    const last = await client.session.messages({ path: { id: session.id }, query: { limit: 1 } })
    expect(last.data!.map((m) => m.info.id)).toEqual([sent[2]])
    const one = await client.session.message({ path: { id: session.id, messageID: sent[1]! } })
    expect(one.data!.info.id).toBe(sent[1])
    // `before` is opencode's paging cursor; the 1.19 root client has no parameter for it
    const page = await fetch(`${server.url}/session/${session.id}/message?limit=5&before=${sent[2]}`)
    expect(((await page.json()) as Array<any>).map((m) => m.info.id)).toEqual([sent[0], sent[1]])
  })

  it("answers errors with opencode's status codes and bodies", async () => {
    const missing = await client.session.get({ path: { id: "ses_doesnotexist" } })
    expect(missing.response.status).toBe(404)
    expect(missing.error).toEqual({ name: "NotFoundError", data: { message: "Session not found: ses_doesnotexist" } })
    expect((await client.session.update({ path: { id: "ses_nope" }, body: { title: "x" } })).response.status).toBe(404)
    expect((await client.session.delete({ path: { id: "ses_nope" } })).response.status).toBe(404)
    expect((await client.session.messages({ path: { id: "ses_nope" } })).response.status).toBe(404)
    expect((await client.session.children({ path: { id: "ses_nope" } })).response.status).toBe(404)

    const session = (await client.session.create({ body: {} })).data!
    const noMessage = await client.session.message({ path: { id: session.id, messageID: "msg_nope" } })
    expect(noMessage.response.status).toBe(404)
    expect((noMessage.error as any).name).toBe("NotFoundError")

    const badId = await client.session.get({ path: { id: "../../etc/passwd" } })
    expect(badId.response.status).toBe(400)
    expect(badId.error).toMatchObject({ name: "BadRequest", data: { kind: "Params" } })
    const badLimit = await client.session.messages({ path: { id: session.id }, query: { limit: -3 } })
    expect(badLimit.response.status).toBe(400)
    expect(badLimit.error).toMatchObject({ name: "BadRequest", data: { kind: "Query" } })
    const badBody = await client.session.update({ path: { id: session.id }, body: { title: 42 as unknown as string } })
    expect(badBody.response.status).toBe(400)
    expect(badBody.error).toMatchObject({ name: "BadRequest", data: { kind: "Payload" } })
    const malformed = await fetch(`${server.url}/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{\"title\": "
    })
    expect(malformed.status).toBe(400)
    expect(await malformed.json()).toMatchObject({ name: "BadRequest", data: { message: "invalid body: Expected a valid JSON body" } })
    const tooLarge = await fetch(`${server.url}/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "x".repeat(1_100_000) })
    })
    expect(tooLarge.status).toBe(413)

    const prompt = await client.session.prompt({ path: { id: session.id }, body: { model, parts: [{ type: "text", text: "hi" }] } })
    expect(prompt.response.status).toBe(501)
    expect((prompt.error as any).name).toBe("NotImplemented")
    const init = await client.session.init({ path: { id: session.id }, body: { ...model, messageID: "msg_1" } })
    expect(init.response.status).toBe(501)
    expect((init.error as any).data.message).toContain("language model")
    const summarize = await client.session.summarize({ path: { id: session.id }, body: model })
    expect(summarize.response.status).toBe(501)
    expect((await client.session.shell({ path: { id: session.id }, body: { agent: "build", command: "ls" } })).response.status)
      .toBe(501)
    const path = { id: session.id }
    const refused = {
      abort: await client.session.abort({ path }),
      fork: await client.session.fork({ path, body: {} }),
      share: await client.session.share({ path }),
      unshare: await client.session.unshare({ path }),
      revert: await client.session.revert({ path, body: { messageID: "msg_1" } }),
      unrevert: await client.session.unrevert({ path }),
      promptAsync: await client.session.promptAsync({ path, body: { parts: [{ type: "text", text: "hi" }] } }),
      command: await client.session.command({ path, body: { command: "init", arguments: "" } } as any)
    }
    for (const [name, result] of Object.entries(refused)) {
      expect(result.response.status, name).toBe(501)
      expect((result.error as any).name, name).toBe("NotImplemented")
    }
    // nothing was stored by the refused calls
    expect((await client.session.messages({ path: { id: session.id } })).data).toEqual([])
  })

  it("streams another client's writes as events", async () => {
    const controller = new AbortController()
    const subscription = await other.event.subscribe({ signal: controller.signal })
    try {
      const stream = subscription.stream as AsyncGenerator<Event>
      const connected = await nextEvent(stream, () => true)
      expect(connected.type).toBe("server.connected")

      const session = (await client.session.create({ body: { title: "watched" } })).data!
      const created = await nextEvent(stream, (e) => e.type === "session.created")
      expect(created).toMatchObject({ type: "session.created", properties: { info: { id: session.id, title: "watched" } } })
      expect(await nextEvent(stream, (e) => e.type === "session.updated")).toMatchObject({
        properties: { info: { id: session.id } }
      })

      await client.session.update({ path: { id: session.id }, body: { title: "watched, renamed" } })
      expect(await nextEvent(stream, (e) => e.type === "session.updated")).toMatchObject({
        properties: { info: { id: session.id, title: "watched, renamed" } }
      })

      const sent = await client.session.prompt({
        path: { id: session.id },
        body: { noReply: true, model, parts: [{ type: "text", text: "seen?" }] }
      })
      const messageID = (sent.data as any).info.id as string
      expect(await nextEvent(stream, (e) => e.type === "message.updated")).toMatchObject({
        properties: { info: { id: messageID, sessionID: session.id, role: "user" } }
      })
      expect(await nextEvent(stream, (e) => e.type === "message.part.updated")).toMatchObject({
        properties: { part: { messageID, text: "seen?" } }
      })

      await fetch(`${server.url}/session/${session.id}/message/${messageID}`, { method: "DELETE" })
      expect(await nextEvent(stream, (e) => e.type === "message.removed")).toEqual({
        type: "message.removed",
        properties: { sessionID: session.id, messageID }
      })

      await client.session.delete({ path: { id: session.id } })
      expect(await nextEvent(stream, (e) => e.type === "session.deleted")).toMatchObject({
        properties: { info: { id: session.id } }
      })
    } finally {
      controller.abort()
    }
  })

  it("serves stats and Prometheus metrics", async () => {
    const stats = (await (await fetch(`${server.url}/stats`)).json()) as any
    expect(stats.store.loads).toBeGreaterThan(0)
    expect(stats.events.connected).toBeGreaterThan(0)
    const metrics = await (await fetch(`${server.url}/metrics`)).text()
    expect(metrics).toMatch(/^session_store_loads_total \d+$/m)
    expect(metrics).toMatch(/^session_store_resident_bytes \d+/m)
  })

  it("drops an event client that stops reading, and keeps serving", async () => {
    // A raw connection that asks for /event and then never reads a byte.
    const socket = connect(server.port, "127.0.0.1")
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()))
    socket.write(`GET /event HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    socket.pause()
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()))
    const before = ((await (await fetch(`${server.url}/stats`)).json()) as any).events.dropped as number

    // Large events (about 400 KB per create) until the socket buffers and then its backlog are full.
    const title = "y".repeat(200_000)
    let dropped = before
    for (let i = 0; i < 200 && dropped === before; i++) {
      const created = await client.session.create({ body: { title } })
      expect(created.response.status).toBe(200)
      dropped = ((await (await fetch(`${server.url}/stats`)).json()) as any).events.dropped
    }
    expect(dropped).toBe(before + 1)
    // the server closed the connection: reading what was buffered reaches its end
    socket.resume()
    await closed
    // still serving
    expect((await client.session.list({ query: { limit: 1 } } as any)).response.status).toBe(200)
  }, 60_000)
})

describe("serve with OPENCODE_SERVER_PASSWORD, end to end", () => {
  let dir: string
  let server: ServeProcess

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "serve-auth-"))
    server = await spawnServe({
      database: join(dir, "opencode.db"),
      env: { OPENCODE_SERVER_PASSWORD: "correct horse", OPENCODE_SERVER_USERNAME: undefined }
    })
  }, 60_000)

  afterAll(async () => {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  }, 30_000)

  it("refuses a client without the password, and serves one with it", async () => {
    const anonymous = createOpencodeClient({ baseUrl: server.url })
    const refused = await anonymous.session.list()
    expect(refused.response.status).toBe(401)
    expect(refused.response.headers.get("www-authenticate")).toMatch(/^Basic/)
    expect((refused.error as any).name).toBe("Unauthorized")
    expect((await fetch(`${server.url}/event`)).status).toBe(401)
    expect((await fetch(`${server.url}/metrics`)).status).toBe(401)

    const authorization = `Basic ${Buffer.from("opencode:correct horse").toString("base64")}`
    const authed = createOpencodeClient({ baseUrl: server.url, headers: { authorization } })
    const created = await authed.session.create({ body: { title: "private" } })
    expect(created.response.status).toBe(200)
    expect((await authed.session.list()).data!.map((s) => s.title)).toEqual(["private"])
  })
})
