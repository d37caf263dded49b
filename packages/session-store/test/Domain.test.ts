import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import { MessageWithParts } from "../src/domain/Message.ts"
import { SessionInfo } from "../src/domain/Session.ts"

describe("domain schemas", () => {
  it("keeps fields this version does not know through a round trip", () => {
    const input = {
      id: "ses_1",
      projectID: "prj",
      directory: "/repo",
      title: "Fix the build",
      version: "1.2.3",
      time: { created: 1, updated: 2, archived: 3 },
      share: { url: "https://example.invalid/s/1" },
      futureField: { nested: [1, 2, 3] }
    }
    const decoded = Schema.decodeUnknownSync(SessionInfo)(input)
    expect(Schema.encodeSync(SessionInfo)(decoded)).toStrictEqual(input)
  })

  it("decodes user and assistant messages with their parts, unknown fields kept", () => {
    const input = {
      info: {
        id: "msg_2",
        sessionID: "ses_1",
        role: "assistant",
        time: { created: 1, completed: 5 },
        modelID: "m",
        providerID: "p",
        cost: 0.01,
        tokens: { input: 1, output: 2, reasoning: 0, cache: { read: 0, write: 0 } }
      },
      parts: [
        { id: "prt_1", sessionID: "ses_1", messageID: "msg_2", type: "tool", tool: "bash", state: { status: "completed", output: "x" } }
      ]
    }
    const decoded = Schema.decodeUnknownSync(MessageWithParts)(input)
    expect(decoded.info.role).toBe("assistant")
    expect(Schema.encodeSync(MessageWithParts)(decoded)).toStrictEqual(input)
  })

  it("rejects a message whose role is unknown or whose id is hostile", () => {
    const base = { sessionID: "ses_1", time: { created: 1 } }
    expect(() => Schema.decodeUnknownSync(MessageWithParts)({ info: { ...base, id: "m", role: "system" }, parts: [] }))
      .toThrow(/role/)
    expect(() => Schema.decodeUnknownSync(MessageWithParts)({ info: { ...base, id: "../m", role: "user" }, parts: [] }))
      .toThrow(/safe identifier|path separator/)
  })
})
