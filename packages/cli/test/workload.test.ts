import { describe, expect, it } from "@effect/vitest"
import { MessageWithParts } from "@session-store/core/Message"
import { SessionInfo } from "@session-store/core/Session"
import { Schema } from "effect"
import { createHash } from "node:crypto"
import { MAX_TOOL_OUTPUT, makeContent, messageIdOf, sessionIdOf } from "../src/internal/content.ts"
import { editSession, type Operation, workload } from "../src/workload.ts"

const fingerprint = (ops: Iterable<Operation>) => {
  const hash = createHash("sha256")
  let count = 0
  for (const op of ops) {
    hash.update(JSON.stringify(op))
    count++
  }
  return { count, digest: hash.digest("hex") }
}

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.floor(q * (sorted.length - 1))]!

// One mid-sized run shared by the distribution checks (generated once: ~0.5 s).
const options = { seed: 11, sessions: 150, operations: 40_000 }
const ops = [...workload(options)]

describe("workload", () => {
  it("is repeatable from a seed, and a different seed gives a different sequence", () => {
    const small = { seed: 3, sessions: 40, operations: 5_000 }
    const first = fingerprint(workload(small))
    expect(first.count).toBe(5_000)
    expect(fingerprint(workload(small))).toStrictEqual(first)
    expect(fingerprint(workload({ ...small, seed: 4 })).digest).not.toBe(first.digest)
  })

  it("emits exactly the operations asked for, creating every session, in virtual time order", () => {
    expect(ops).toHaveLength(options.operations)
    expect(ops.filter((op) => op._tag === "CreateSession")).toHaveLength(options.sessions)
    for (let i = 1; i < ops.length; i++) expect(ops[i]!.at).toBeGreaterThanOrEqual(ops[i - 1]!.at)
  })

  it("writes values the domain schemas accept", () => {
    const decodeMessage = Schema.decodeUnknownSync(MessageWithParts)
    const decodeInfo = Schema.decodeUnknownSync(SessionInfo)
    for (const op of ops) {
      if (op._tag === "CreateSession") expect(decodeInfo(op.info).id).toBe(op.sessionId)
      if (op._tag === "AppendMessage" || op._tag === "PutMessage") {
        expect(decodeMessage(op.message).info.sessionID).toBe(op.sessionId)
      }
    }
  })

  it("names every message after its ref, so the soak's ledger keeps the ref and derives the id", () => {
    for (const op of ops) {
      if (op._tag === "AppendMessage" || op._tag === "PutMessage") {
        expect(op.message.info.id).toBe(messageIdOf(op.ref.session, op.ref.index))
        expect(op.sessionId).toBe(sessionIdOf(op.ref.session))
      }
      if (op._tag === "CreateSession") expect(op.sessionId).toBe(sessionIdOf(op.session))
    }
  })

  it("sends return visits to few sessions (Zipf-like popularity)", () => {
    // Every visit to an existing session starts by reading it.
    const visits = new Map<string, number>()
    for (const op of ops) {
      if (op._tag === "ReadSession") visits.set(op.sessionId, (visits.get(op.sessionId) ?? 0) + 1)
    }
    const counts = [...visits.values()].sort((a, b) => b - a)
    const total = counts.reduce((a, b) => a + b, 0)
    const top10 = counts.slice(0, Math.ceil(counts.length / 10)).reduce((a, b) => a + b, 0)
    // Uniform popularity would give the top tenth about 10%; Zipf(0.9) over
    // 150 sessions about 53%, less here as sessions arrive over the run.
    expect(top10 / total).toBeGreaterThan(0.35)
    // The most visited session alone: uniform would give it 0.7%.
    expect(counts[0]! / total).toBeGreaterThan(0.04)
  })

  it("has heavy-tailed message sizes around a 2 KB median, tool outputs capped at 50 KB", () => {
    // The final revision of each message (the last write of its id).
    const finals = new Map<string, Operation & { _tag: "AppendMessage" | "PutMessage" }>()
    let longestOutput = 0
    for (const op of ops) {
      if (op._tag !== "AppendMessage" && op._tag !== "PutMessage") continue
      finals.set(op.message.info.id, op)
      for (const part of op.message.parts) {
        const output = (part["state"] as { output?: string } | undefined)?.output
        if (output !== undefined) longestOutput = Math.max(longestOutput, output.length)
      }
    }
    const sizes = [...finals.values()].map((op) => Buffer.byteLength(JSON.stringify(op.message))).sort((a, b) => a - b)
    expect(quantile(sizes, 0.5)).toBeGreaterThan(1_000)
    expect(quantile(sizes, 0.5)).toBeLessThan(4_000)
    expect(quantile(sizes, 0.99)).toBeGreaterThan(5 * quantile(sizes, 0.5))
    expect(longestOutput).toBeLessThanOrEqual(MAX_TOOL_OUTPUT)
    expect(longestOutput).toBeGreaterThan(20_000)
  })

  it("grows sessions from about ten messages to hundreds", () => {
    const perSession = new Map<string, number>()
    for (const op of ops) {
      if (op._tag === "AppendMessage") perSession.set(op.sessionId, (perSession.get(op.sessionId) ?? 0) + 1)
    }
    const counts = [...perSession.values()].sort((a, b) => a - b)
    expect(counts[0]).toBeGreaterThanOrEqual(9)
    expect(counts[counts.length - 1]).toBeGreaterThan(250)
  })

  it("updates only the newest message of a session, an assistant message", () => {
    const newest = new Map<string, string>()
    for (const op of ops) {
      if (op._tag === "AppendMessage") newest.set(op.sessionId, op.message.info.id)
      if (op._tag === "PutMessage") {
        expect(op.message.info.role).toBe("assistant")
        expect(op.message.info.id).toBe(newest.get(op.sessionId))
      }
    }
    expect(ops.some((op) => op._tag === "PutMessage")).toBe(true)
  })

  it("has idle gaps longer than opencode's 4 h inactivity limit", () => {
    let longest = 0
    for (let i = 1; i < ops.length; i++) longest = Math.max(longest, ops[i]!.at - ops[i - 1]!.at)
    expect(longest).toBeGreaterThan(4 * 3_600_000)
  })

  it("updates session info now and then: titled after the first turn, renamed at times, time.updated moving", () => {
    const updates = ops.filter((op) => op._tag === "UpdateSession")
    const turns = ops.filter((op) => op._tag === "AppendMessage" && op.message.info.role === "user").length
    // About one turn in four after the first ends with an update; one update in ten of those renames.
    expect(updates.length).toBeGreaterThan(turns / 5)
    expect(updates.length).toBeLessThan(turns / 2)
    const renames = new Map<string, number>()
    const last = new Map<string, number>()
    const created = new Map<string, number>()
    for (const op of ops) {
      if (op._tag === "CreateSession") created.set(op.sessionId, op.at)
      if (op._tag !== "UpdateSession") continue
      if (!renames.has(op.sessionId)) expect(op.rename?.revision).toBe(1)
      if (op.rename !== undefined) {
        expect(op.rename.revision).toBe((renames.get(op.sessionId) ?? 0) + 1)
        renames.set(op.sessionId, op.rename.revision)
      }
      expect(op.at).toBeGreaterThanOrEqual(last.get(op.sessionId) ?? created.get(op.sessionId)!)
      last.set(op.sessionId, op.at)
    }
    // Every session finishes its first turn here, so every one was titled.
    expect(renames.size).toBe(options.sessions)
    expect([...renames.values()].some((revision) => revision > 1)).toBe(true)
    expect(updates.filter((op) => op.rename === undefined).length).toBeGreaterThan(updates.length / 2)
  })

  it("makes session updates from the seed: the same seed gives the same ones, each a valid edit of the info", () => {
    const small = { seed: 3, sessions: 40, operations: 5_000 }
    const updatesOf = (seed: number) => [...workload({ ...small, seed })].filter((op) => op._tag === "UpdateSession")
    const first = updatesOf(3)
    expect(first.length).toBeGreaterThan(40)
    expect(updatesOf(3)).toStrictEqual(first)
    expect(updatesOf(4)).not.toStrictEqual(first)
    // The edit keeps every other field, and the content regenerates what it made.
    const content = makeContent(3)
    const decodeInfo = Schema.decodeUnknownSync(SessionInfo)
    for (const op of first) {
      const before = content.sessionInfo(op.session, 1_000)
      const after = editSession(before, op)
      expect(decodeInfo(after)).toStrictEqual(after)
      const revision = op.rename?.revision ?? 0
      expect(after).toStrictEqual(
        op.rename === undefined
          ? { ...before, time: { created: 1_000, updated: op.at } }
          : content.sessionInfo(op.session, 1_000, { updated: op.at, title: revision })
      )
      if (op.rename !== undefined) expect(op.rename.title).toBe(content.title(op.session, revision))
    }
  })

  it("deletes a few sessions and never touches them again", () => {
    const deleted = new Set<string>()
    for (const op of ops) {
      expect(deleted.has(op.sessionId)).toBe(false)
      if (op._tag === "DeleteSession") deleted.add(op.sessionId)
    }
    expect(deleted.size).toBeGreaterThan(0)
    expect(deleted.size).toBeLessThan(options.sessions / 5)
  })

  it("pages back only with ids of messages already written", () => {
    const written = new Set<string>()
    for (const op of ops) {
      if (op._tag === "AppendMessage") written.add(op.message.info.id)
      if (op._tag === "ReadMessages" && op.before !== undefined) expect(written.has(op.before)).toBe(true)
    }
  })
})
