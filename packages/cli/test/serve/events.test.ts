/**
 * The event stream's bound: a client that stops reading is dropped once its
 * backlog is full (by count or by bytes), its response fiber interrupted and
 * its backlog freed; a client that reads keeps everything, in order.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Stream } from "effect"
import { TestClock } from "effect/testing"
import { frame, layer, ServerEvents } from "../../src/serve/events.ts"

const decoder = new TextDecoder()
const parse = (bytes: Uint8Array) => JSON.parse(decoder.decode(bytes).replace(/^data: /, ""))

const settings = { backlog: 8, backlogBytes: 64 * 1024, heartbeatMs: 3_600_000, maxClients: 2 }

describe("ServerEvents", () => {
  it("encodes an event as one SSE frame, as opencode sends it", () => {
    expect(decoder.decode(frame({ type: "session.updated", properties: { info: { id: "ses_1" } } }))).toBe(
      "data: {\"type\":\"session.updated\",\"properties\":{\"info\":{\"id\":\"ses_1\"}}}\n\n"
    )
  })

  it.effect("drops a client that stops reading once its backlog is full, and frees it", () =>
    Effect.gen(function*() {
      const events = yield* ServerEvents
      // Stands for the fiber writing the client's response, stuck waiting for a socket that never drains.
      const writer = yield* Effect.forkChild(Effect.never)
      yield* events.connect(writer)
      // server.connected plus 7 events fill the backlog of 8: still connected
      for (let i = 0; i < 7; i++) yield* events.publish({ type: "message.updated", properties: { i } })
      expect((yield* events.stats)).toMatchObject({ clients: 1, dropped: 0, backlogEvents: 8 })
      expect(writer.pollUnsafe()).toBeUndefined()
      // one more than the bound: dropped
      yield* events.publish({ type: "message.updated", properties: { i: 7 } })
      const exit = yield* Fiber.await(writer)
      expect(Exit.hasInterrupts(exit)).toBe(true)
      expect(yield* events.stats).toMatchObject({ clients: 0, dropped: 1, backlogEvents: 0, backlogBytes: 0 })
      // later events cost it nothing
      for (let i = 0; i < 100; i++) yield* events.publish({ type: "message.updated", properties: { i } })
      expect(yield* events.stats).toMatchObject({ clients: 0, published: 108, backlogEvents: 0 })
    }).pipe(Effect.provide(layer(settings))))

  it.effect("drops a client whose backlog reaches the byte bound before the count", () =>
    Effect.gen(function*() {
      const events = yield* ServerEvents
      const writer = yield* Effect.forkChild(Effect.never)
      yield* events.connect(writer)
      const big = "x".repeat(20 * 1024)
      for (let i = 0; i < 3; i++) yield* events.publish({ type: "message.part.updated", properties: { big } })
      expect((yield* events.stats).clients).toBe(1)
      expect((yield* events.stats).backlogBytes).toBeLessThanOrEqual(settings.backlogBytes)
      yield* events.publish({ type: "message.part.updated", properties: { big } })
      expect(Exit.hasInterrupts(yield* Fiber.await(writer))).toBe(true)
      expect(yield* events.stats).toMatchObject({ clients: 0, dropped: 1, backlogBytes: 0 })
    }).pipe(Effect.provide(layer(settings))))

  it.effect("a client that reads gets every event in order and is never dropped", () =>
    Effect.gen(function*() {
      const events = yield* ServerEvents
      const writer = yield* Effect.forkChild(Effect.never)
      const stream = yield* events.connect(writer)
      const reader = yield* Effect.forkChild(Stream.runCollect(Stream.take(stream, 1 + 100)))
      for (let i = 0; i < 100; i++) {
        yield* events.publish({ type: "message.updated", properties: { i } })
        if (i % 4 === 3) yield* Effect.yieldNow
      }
      const received = (yield* Fiber.join(reader)).map(parse)
      expect(received[0]).toEqual({ type: "server.connected", properties: {} })
      expect(received.slice(1).map((e) => e.properties.i)).toEqual(Array.from({ length: 100 }, (_, i) => i))
      expect(writer.pollUnsafe()).toBeUndefined()
      // the stream ended (take), so the client is unregistered
      expect(yield* events.stats).toMatchObject({ clients: 0, dropped: 0, connected: 1 })
      yield* Fiber.interrupt(writer)
    }).pipe(Effect.provide(layer(settings))))

  it.effect("refuses a client over maxClients, and takes one again once a slot is free", () =>
    Effect.gen(function*() {
      const events = yield* ServerEvents
      const first = yield* Effect.forkChild(Effect.never)
      const second = yield* Effect.forkChild(Effect.never)
      yield* events.connect(first)
      yield* events.connect(second)
      const refused = yield* Effect.flip(events.connect(yield* Effect.forkChild(Effect.never)))
      expect(refused).toMatchObject({ name: "TooManyClients", data: { limit: 2 } })
      // the first stops reading and is dropped: its slot is free again
      for (let i = 0; i < 8; i++) yield* events.publish({ type: "message.updated", properties: { i } })
      expect(Exit.hasInterrupts(yield* Fiber.await(first))).toBe(true)
      expect(Exit.hasInterrupts(yield* Fiber.await(second))).toBe(true)
      yield* events.connect(yield* Effect.forkChild(Effect.never))
      expect((yield* events.stats).clients).toBe(1)
    }).pipe(Effect.provide(layer(settings))))

  it.effect("sends server.heartbeat every heartbeatMs, which also fills a silent client's backlog", () =>
    Effect.gen(function*() {
      const events = yield* ServerEvents
      const writer = yield* Effect.forkChild(Effect.never)
      yield* events.connect(writer)
      yield* TestClock.adjust(10_000 * 3)
      expect((yield* events.stats).published).toBe(3)
      yield* TestClock.adjust(10_000 * 10)
      expect(Exit.hasInterrupts(yield* Fiber.await(writer))).toBe(true)
      expect((yield* events.stats).dropped).toBe(1)
    }).pipe(Effect.provide(layer({ ...settings, heartbeatMs: 10_000 }))))
})
