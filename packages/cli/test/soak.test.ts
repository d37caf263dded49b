import { describe, expect, it } from "@effect/vitest"
import type { MessageWithParts } from "@session-store/core/Message"
import { MemoryMonitor } from "@session-store/core/MemoryMonitor"
import { SessionRepository } from "@session-store/core/SessionRepository"
import { SessionStore, type SessionStoreShape } from "@session-store/core/SessionStore"
import { Effect, Layer } from "effect"
import { layerBaseline } from "../src/baseline.ts"
import { soak, type SoakOptions } from "../src/soak.ts"
import { workload } from "../src/workload.ts"

// A seed whose 3,000 operations span over half a virtual day, with an idle gap
// longer than the 4 h inactivity limit (by seed, a run this short spans from an
// hour to most of a day; the time checks below need the long kind).
const options: SoakOptions = { seed: 9, sessions: 30, operations: 3_000, samples: 5, progress: false }

// The real store on the memory repository, small enough that sessions are
// evicted (and reloaded) all through the run.
const smallStore = SessionStore.layerWith({ maxSessions: 4, maxMessagesPerSession: 20 }).pipe(
  Layer.provide(Layer.mergeAll(SessionRepository.layerMemory, MemoryMonitor.layerTest()))
)

/** A store that misbehaves in one way, on top of `layer`. */
const tamper = <E, R>(
  layer: Layer.Layer<SessionStore, E, R>,
  change: (store: SessionStoreShape) => Partial<SessionStoreShape>
) =>
  Layer.effect(
    SessionStore,
    Effect.gen(function*() {
      const store = yield* SessionStore
      return { ...store, ...change(store) }
    })
  ).pipe(Layer.provide(layer))

const role = (message: unknown) => (message as MessageWithParts).info.role

describe("soak", () => {
  it.live("passes against the real store, which evicts and reloads along the way", () =>
    Effect.gen(function*() {
      const report = yield* soak(options, { baseline: layerBaseline, store: smallStore })
      expect(report.passed).toBe(true)
      expect(report.store.failed).toBe(0)
      expect(report.store.verification).toMatchObject({ lost: 0, mismatched: 0 })
      expect(report.store.verification.messages).toBeGreaterThan(500)
      // Every read miss loads; so does a write to a session that was not resident.
      expect(report.store.stats.misses).toBeGreaterThan(0)
      expect(report.store.stats.loads).toBeGreaterThanOrEqual(report.store.stats.misses)
      expect(report.store.stats.evictions.capacity).toBeGreaterThan(0)
      // Time rules and timers follow the workload's virtual time: days pass,
      // idle sessions go inactive, and the store's own sweep runs.
      expect(report.store.virtualDays).toBeGreaterThan(0.3)
      expect(report.store.stats.evictions.inactive).toBeGreaterThan(0)
      expect(report.store.sweeps).toBeGreaterThan(5)
      // Both runs saw the same workload.
      expect(report.store.byTag).toStrictEqual(report.baseline.byTag)
      expect(report.store.verification.messages).toBe(report.baseline.verification.messages)
      expect(report.store.samples.length).toBeGreaterThanOrEqual(5)
      // Session infos were updated (titled, renamed, time.updated moved) and read back as last updated.
      expect(report.store.byTag.UpdateSession).toBeGreaterThan(20)
      expect(report.store.verification.updatedSessions).toBeGreaterThan(20)
      expect(report.store.verification.updatedSessions).toBe(report.baseline.verification.updatedSessions)
    }))

  it.live("counts a session mismatched when the store acknowledges an update it never wrote", () =>
    Effect.gen(function*() {
      // The last update of a session that is never deleted: nothing after it can hide its loss.
      const ops = [...workload(options)]
      const deleted = new Set(ops.flatMap((op) => (op._tag === "DeleteSession" ? [op.sessionId] : [])))
      const target = ops.findLast((op) => op._tag === "UpdateSession" && !deleted.has(op.sessionId))!
      const dropsIt = tamper(smallStore, (store) => ({
        updateSession: (sessionId, edit) =>
          Effect.flatMap(store.getSession(sessionId), (info) =>
            sessionId === target.sessionId && edit(info).time.updated === target.at
              ? Effect.succeed(edit(info))
              : store.updateSession(sessionId, edit))
      }))
      const report = yield* soak(options, { baseline: layerBaseline, store: dropsIt })
      expect(report.passed).toBe(false)
      expect(report.store.verification).toMatchObject({ lost: 0, mismatched: 1 })
      expect(report.store.verification.problems).toStrictEqual([
        expect.stringContaining(`${target.sessionId}: session info differs from what was last acknowledged`)
      ])
      expect(report.baseline.verification.mismatched).toBe(0)
    }))

  it.live("counts a session mismatched when the store applies an update to other info than the stored one", () =>
    Effect.gen(function*() {
      // Each update edits the info as created (a stale copy), so a rename is
      // undone by the next update that only moves time.updated.
      const stale = new Map<string, unknown>()
      const editsStale = tamper(smallStore, (store) => ({
        createSession: (info) =>
          Effect.tap(store.createSession(info), (created) => Effect.sync(() => stale.set(created.id, created))),
        updateSession: (sessionId, edit) =>
          store.updateSession(sessionId, () => edit(stale.get(sessionId) as Parameters<typeof edit>[0]))
      }))
      const report = yield* soak(options, { baseline: layerBaseline, store: editsStale })
      // Every session is renamed by its first update, so exactly those whose
      // last update only moves time.updated end up with the created title.
      const lastUpdate = new Map<string, boolean>()
      for (const op of workload(options)) {
        if (op._tag === "UpdateSession") lastUpdate.set(op.sessionId, op.rename !== undefined)
        if (op._tag === "DeleteSession") lastUpdate.delete(op.sessionId)
      }
      const reverted = [...lastUpdate.values()].filter((renamed) => !renamed).length
      expect(reverted).toBeGreaterThan(0)
      expect(report.passed).toBe(false)
      expect(report.store.verification).toMatchObject({ lost: 0, mismatched: reverted })
      expect(report.store.verification.problems.join("\n")).toContain("session info differs")
    }))

  it.live("counts a message lost when the store acknowledges an append it never wrote", () =>
    Effect.gen(function*() {
      let users = 0
      const dropsOne = tamper(smallStore, (store) => ({
        appendMessage: (sessionId, message) =>
          role(message) === "user" && ++users === 20
            ? Effect.succeed(message as MessageWithParts)
            : store.appendMessage(sessionId, message)
      }))
      const report = yield* soak(options, { baseline: layerBaseline, store: dropsOne })
      expect(report.passed).toBe(false)
      expect(report.store.verification.lost).toBe(1)
      expect(report.store.verification.problems.join("\n")).toContain("message lost")
      expect(report.baseline.verification.lost).toBe(0)
    }))

  it.live("counts a message mismatched when the store keeps something else than what it acknowledged", () =>
    Effect.gen(function*() {
      // Alter a final revision: an earlier one would be replaced by the next put anyway.
      let finals = 0
      const altersOne = tamper(smallStore, (store) => ({
        putMessage: (sessionId, message) => {
          const m = message as MessageWithParts
          if (m.info.time.completed === undefined || ++finals !== 50) return store.putMessage(sessionId, message)
          return store.putMessage(sessionId, { ...m, info: { ...m.info, cost: 999 } })
        }
      }))
      const report = yield* soak(options, { baseline: layerBaseline, store: altersOne })
      expect(report.passed).toBe(false)
      expect(report.store.verification.mismatched).toBeGreaterThanOrEqual(1)
      expect(report.store.verification.lost).toBe(0)
    }))

  it.live("counts a deleted session that still reads back as mismatched", () =>
    Effect.gen(function*() {
      const keeps = tamper(smallStore, () => ({ removeSession: () => Effect.void }))
      const report = yield* soak({ ...options, operations: 8_000, sessions: 60 }, {
        baseline: layerBaseline,
        store: keeps
      })
      expect(report.baseline.byTag.DeleteSession).toBeGreaterThan(0)
      expect(report.passed).toBe(false)
      expect(report.store.verification.mismatched).toBe(report.baseline.byTag.DeleteSession)
      expect(report.store.verification.problems.join("\n")).toContain("deleted session still reads back")
    }), 30_000)

  it.live("counts operations the store rejects", () =>
    Effect.gen(function*() {
      let reads = 0
      const rejects = tamper(smallStore, (store) => ({
        getSession: (sessionId) => store.getSession(++reads === 10 ? "../escape" : sessionId)
      }))
      const report = yield* soak(options, { baseline: layerBaseline, store: rejects })
      expect(report.passed).toBe(false)
      expect(report.store.failed).toBeGreaterThan(0)
      expect(Object.keys(report.store.failures)).toContain("ReadSession: InvalidId")
    }))
})
